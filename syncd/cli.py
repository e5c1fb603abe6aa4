"""``xinbao-syncd``: the node and its links (DESIGN.md §4). Parses arguments, calls the library."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from schema.commandline import (
    Parser,
    current_user,
    emit_json,
    global_options,
    resolve_home,
    run,
)
from schema.error import ValidationError
from schema.itemfile import UNIT_ID
from schema.node import NodeConfig
from schema.vocabulary import Role, Tier
from syncd.home import init_node

PROG = "xinbao-syncd"


def build_parser() -> Parser:
    """The argument parser of ``xinbao-syncd``."""
    sub_opts = global_options(top=False)
    parser = Parser(
        prog=PROG, description="信报节点：节点目录、用户与链路", parents=[global_options(top=True)]
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="命令")

    init = commands.add_parser("init", parents=[sub_opts], help="新建节点目录")
    init.add_argument("--id", required=True, help="单位代码，如 140200 或 140200-fgw")
    init.add_argument("--name", required=True, help="单位名称")
    init.add_argument(
        "--tier",
        required=True,
        help="层级：central province city county township department correspondent（或中文）",
    )
    init.add_argument("--parent", default="", help="上级单位代码")

    user = commands.add_parser("user", parents=[sub_opts], help="本节点的用户与角色")
    user_cmds = user.add_subparsers(dest="user_command", required=True, metavar="命令")
    add = user_cmds.add_parser("add", parents=[sub_opts], help="添加用户或设置其角色")
    add.add_argument("name", help="操作系统用户名")
    add.add_argument(
        "--role",
        action="append",
        required=True,
        help="角色：信息员 编辑 审核人 签发人 管理员（可重复）",
    )
    user_cmds.add_parser("list", parents=[sub_opts], help="列出用户")
    return parser


def handle(argv: Sequence[str] | None) -> int:
    """Parse ``argv`` and run the command."""
    args = build_parser().parse_args(argv)
    home = resolve_home(args.home)
    if args.command == "init":
        node_id = args.id.strip()
        if not UNIT_ID.match(node_id):
            raise ValidationError(
                "--id", f"“{node_id}”不是有效的单位代码（如 140200 或 140200-fgw）"
            )
        if args.parent and not UNIT_ID.match(args.parent):
            raise ValidationError("--parent", f"“{args.parent}”不是有效的单位代码")
        if args.parent == node_id:
            raise ValidationError("--parent", "上级不能是本单位自己")
        config = NodeConfig(
            id=node_id,
            name=args.name.strip(),
            tier=Tier.parse(args.tier, "--tier"),
            parent=args.parent,
        )
        config = init_node(home, config, current_user())
        if args.json:
            emit_json({"home": home.path, "node": config.unit, "users": config.users})
        else:
            print(f"已创建节点 {config.id} {config.name}（{config.tier}）：{home.path}")
        return 0
    if args.command == "user":
        config = home.load()
        if args.user_command == "add":
            roles = tuple(dict.fromkeys(Role.parse(r, "--role") for r in args.role))
            config = config.with_user(args.name, roles)
            home.save(config)
            if not args.json:
                print(f"用户 {args.name}：{'、'.join(r.value for r in roles)}")
        if args.json:
            emit_json(config.users)
        elif args.user_command == "list":
            for name, roles in sorted(config.users.items()):
                print(f"{name}\t{'、'.join(r.value for r in roles)}")
        return 0
    raise AssertionError(args.command)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``xinbao-syncd``."""
    sys.exit(run(PROG, handle, argv))


if __name__ == "__main__":
    main()
