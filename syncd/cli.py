"""``xinbao-syncd``: the node and its links (DESIGN.md §4). Parses arguments, calls the library."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from schema.commandline import (
    Parser,
    global_options,
    run,
)
from syncd import service

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
    add.add_argument("name", help="用户名（SSH 登录人员，或本机操作系统账户）")
    add.add_argument(
        "--role",
        action="append",
        required=True,
        help="角色：信息员 编辑 审核人 签发人 管理员（可重复）",
    )
    add.add_argument("--key", default="", help="此人的 SSH 公钥（如 'ssh-ed25519 AAAA… 注释'）")
    add.add_argument(
        "--full-name", default="", help="姓名：刊物等文件的“签发”处印此名，而非账户名（如 王五）"
    )
    user_cmds.add_parser("list", parents=[sub_opts], help="列出用户及其登录密钥")
    gone = user_cmds.add_parser("remove", parents=[sub_opts], help="删除用户及其全部登录密钥")
    gone.add_argument("name")
    key = user_cmds.add_parser("key", parents=[sub_opts], help="增删某人的 SSH 登录密钥")
    key_cmds = key.add_subparsers(dest="key_command", required=True, metavar="命令")
    key_add = key_cmds.add_parser("add", parents=[sub_opts], help="为用户增加一把登录密钥")
    key_add.add_argument("name")
    key_add.add_argument("key", help="SSH 公钥（如 'ssh-ed25519 AAAA… 注释'）")
    key_remove = key_cmds.add_parser("remove", parents=[sub_opts], help="删除用户的登录密钥")
    key_remove.add_argument("name")
    key_remove.add_argument("fingerprint", nargs="?", default="", help="只删这一把（SHA256:…）")
    key_cmds.add_parser("list", parents=[sub_opts], help="列出登记的登录密钥")

    enroll = commands.add_parser("enroll", parents=[sub_opts], help="入网：申请、签发、安装证书")
    enroll_cmds = enroll.add_subparsers(dest="enroll_command", required=True, metavar="命令")
    enroll_cmds.add_parser("request", parents=[sub_opts], help="输出本节点的入网申请（> REQ）")
    issue = enroll_cmds.add_parser("issue", parents=[sub_opts], help="为直属下级签发证书（> CERT）")
    issue.add_argument("request", type=Path, help="下级的入网申请文件")
    install = enroll_cmds.add_parser("install", parents=[sub_opts], help="安装上级签发的证书")
    install.add_argument("certificate", type=Path, help="上级签发的证书文件")

    keys = commands.add_parser("keys", parents=[sub_opts], help="本节点的密钥")
    key_acts = keys.add_subparsers(dest="keys_command", required=True, metavar="命令")
    key_acts.add_parser(
        "hybrid", parents=[sub_opts], help="生成抗量子密钥（早期节点；之后重新申请证书）"
    )

    backup = commands.add_parser(
        "backup", parents=[sub_opts], help="备份本节点，或检查备份（backup verify DIR）"
    )
    backup.add_argument(
        "action", nargs="?", choices=["verify"], help="verify：检查备份而不恢复（省略则备份）"
    )
    backup.add_argument("dir", type=Path, metavar="DIR", help="备份目录（或其中一份）")
    backup.add_argument("--keep", type=int, default=7, help="保留最近几份（默认 7）")
    restore = commands.add_parser(
        "restore",
        parents=[sub_opts],
        help="从备份恢复到新的节点目录（--home），并请求相邻节点重新同步",
    )
    restore.add_argument("dir", type=Path, help="备份目录（或其中一份）")
    restore.add_argument(
        "--no-resync",
        action="store_true",
        help="不请求相邻节点重新同步（仅用于恢复演练，切勿在此副本上启动守护进程）",
    )

    sync = commands.add_parser(
        "resync", parents=[sub_opts], help="恢复后的重新同步：查看进度，或不再等待某个相邻节点"
    )
    sync.add_argument(
        "--forget", metavar="PEER", help="不再等待该相邻节点答复（如已撤销），其余照常"
    )

    revoke = commands.add_parser("revoke", parents=[sub_opts], help="吊销本节点为下级签发的证书")
    revoke.add_argument("node", help="下级节点代码")
    revoke.add_argument("--reason", required=True, help="吊销原因")
    export = commands.add_parser(
        "export", parents=[sub_opts], help="导出发给某节点的数据包（离线传递）"
    )
    export.add_argument("--peer", required=True, help="对方节点代码")
    export.add_argument("dir", type=Path, help="写入数据包的目录（如 U 盘）")
    imp = commands.add_parser("import", parents=[sub_opts], help="导入目录中的数据包")
    imp.add_argument("dir", type=Path, help="数据包所在目录")

    link = commands.add_parser("link", parents=[sub_opts], help="与相邻节点的链路")
    link_cmds = link.add_subparsers(dest="link_command", required=True, metavar="命令")
    link_add = link_cmds.add_parser("add", parents=[sub_opts], help="添加或修改链路")
    link_add.add_argument("peer", help="相邻节点代码（上级或直属下级）")
    where = link_add.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="对方的 HTTP 地址，如 http://10.0.0.2:8470")
    where.add_argument("--folder", type=Path, help="离线传递目录（写入发给对方的数据包）")
    link_add.add_argument("--ceiling", default="机密", help="本链路可传送的最高密级（默认 机密）")
    link_add.add_argument(
        "--hybrid", action="store_true", help="经本链路的数据包一律以抗量子密钥封装"
    )
    link_cmds.add_parser("list", parents=[sub_opts], help="列出链路")
    link_rm = link_cmds.add_parser("remove", parents=[sub_opts], help="删除链路")
    link_rm.add_argument("peer", help="相邻节点代码")

    run_cmd = commands.add_parser("run", parents=[sub_opts], help="运行同步守护进程（前台）")
    run_cmd.add_argument("--listen", help="监听地址 HOST:PORT（覆盖 syncd.toml）")
    commands.add_parser("once", parents=[sub_opts], help="收发一轮后退出")
    commands.add_parser("status", parents=[sub_opts], help="链路、队列、最近联系、隔离区")
    service.add_commands(commands, [sub_opts])  # service install / uninstall (syncd/service.py)
    return parser


def handle(argv: Sequence[str] | None) -> int:
    """Parse ``argv`` and run the command (:mod:`syncd.commands`, imported only now)."""
    args = build_parser().parse_args(argv)
    from syncd.commands import execute

    return execute(args)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``xinbao-syncd``."""
    sys.exit(run(PROG, handle, argv))


if __name__ == "__main__":
    main()
