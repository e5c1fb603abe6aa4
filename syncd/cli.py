"""``xinbao-syncd``: the node and its links (DESIGN.md §4). Parses arguments, calls the library."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schema.clock import CHINA
from schema.commandline import (
    Parser,
    current_user,
    emit_json,
    global_options,
    resolve_home,
    run,
)
from schema.error import ValidationError, reason
from schema.itemfile import UNIT_ID
from schema.node import FULL_NAME_MAX, NodeConfig, NodeHome
from schema.vocabulary import Classification, Role, Tier
from syncd import access, enrolment, revocation, service, transfer
from syncd import config as syncconfig
from syncd.access import AccessError
from syncd.error import TrustError
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
    link_cmds.add_parser("list", parents=[sub_opts], help="列出链路")
    link_rm = link_cmds.add_parser("remove", parents=[sub_opts], help="删除链路")
    link_rm.add_argument("peer", help="相邻节点代码")

    run_cmd = commands.add_parser("run", parents=[sub_opts], help="运行同步守护进程（前台）")
    run_cmd.add_argument("--listen", help="监听地址 HOST:PORT（覆盖 syncd.toml）")
    commands.add_parser("once", parents=[sub_opts], help="收发一轮后退出")
    commands.add_parser("status", parents=[sub_opts], help="链路、队列、最近联系、隔离区")
    service.add_commands(commands, [sub_opts])  # service install / uninstall (syncd/service.py)
    return parser


def _links(home: NodeHome, args: Any) -> int:
    if args.link_command == "add":
        if not UNIT_ID.match(args.peer):
            raise ValidationError("peer", f"“{args.peer}”不是有效的单位代码")
        link = syncconfig.Link(
            peer=args.peer,
            url=args.url,
            folder=args.folder.expanduser().resolve() if args.folder else None,
            ceiling=Classification.parse(args.ceiling, "--ceiling"),
        )
        syncconfig.save_link(home.path, link)
        if not args.json:
            print(f"已设置链路 {link.peer}：{link.url or link.folder}（最高密级 {link.ceiling}）")
    elif args.link_command == "remove":
        syncconfig.remove_link(home.path, args.peer)
        if not args.json:
            print(f"已删除链路 {args.peer}")
    links = syncconfig.load(home.path).links
    if args.json:
        emit_json(
            [
                {"peer": k.peer, "url": k.url, "folder": k.folder, "ceiling": k.ceiling}
                for k in links.values()
            ]
        )
    elif args.link_command == "list":
        if not links:
            print("（没有链路）")
        for k in links.values():
            print(f"{k.peer}\t{k.url or k.folder}\t最高密级 {k.ceiling}")
    return 0


def _status(home: NodeHome, args: Any) -> int:
    from syncd.engine import Engine

    engine = Engine(home)
    try:
        status = engine.status()
    finally:
        engine.close()
    if args.json:
        emit_json(status)
    else:
        _print_status(status)
    return 0


def _print_status(status: dict[str, Any]) -> None:
    print(
        f"节点 {status['node']}　待回执数据包 {status['awaiting_receipts']}　隔离区 "
        f"{status['quarantined']}"
    )
    states = {"ok": "正常", "waiting": "未联系", "failing": "故障"}
    for link in status["links"]:
        oldest = f"　最早 {_when(link['oldest'])}" if link["depth"] else ""
        blocked = f"　受密级限制 {link['blocked']}" if link["blocked"] else ""
        print(
            f"{link['peer']} {link['name']}　{states[link['state']]}　队列 {link['depth']}"
            f"{oldest}{blocked}　最近联系 {_when(link['last_contact'])}　{link['where']}"
        )
        if link["last_error"]:
            print(f"　　最近错误：{link['last_error'][:60]}")
    feed_states = {"ok": "正常", "waiting": "未读取", "failing": "故障"}
    for feed in status.get("feeds", []):
        print(
            f"订阅 {feed['name']}　{feed_states[feed['state']]}　线索 {feed['leads']}"
            f"　最近读取 {_when(feed['last_ok'])}　下次 {_when(feed['next_at'])}　{feed['where']}"
        )
        if feed["last_error"]:
            print(f"　　最近问题：{feed['last_error'][:60]}")


def _when(stamp: float | None) -> str:
    return datetime.fromtimestamp(stamp, CHINA).strftime("%m-%d %H:%M") if stamp else "—"


def handle(argv: Sequence[str] | None) -> int:
    """Parse ``argv`` and run the command."""
    args = build_parser().parse_args(argv)
    if args.command == "service":  # resolves its own home: the service account's by default
        return service.command(args)
    home = resolve_home(args.home)
    if args.command == "link":
        return _links(home, args)
    if args.command == "status":
        return _status(home, args)
    if args.command == "run":
        from syncd import daemon

        _log_to_stderr()
        listen = syncconfig.parse_listen(args.listen) if args.listen else None
        daemon.run(home, listen)
        return 0
    if args.command == "once":
        from syncd import daemon

        _log_to_stderr()
        status = daemon.once(home)
        if args.json:
            emit_json(status)
        else:
            _print_status(status)
        return 0
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
        return _user(home, args)
    if args.command == "enroll":
        return _enroll(home, args)
    if args.command == "revoke":
        record = revocation.revoke(home, args.node, args.reason, datetime.now(UTC))
        if args.json:
            emit_json(record.payload["notice"])
        else:
            print(f"已吊销 {args.node} 的证书，吊销通知已排队发往各下级节点")
        return 0
    if args.command == "export":
        paths = transfer.export(home, args.peer, args.dir, datetime.now(UTC))
        if args.json:
            emit_json([p.name for p in paths])
        else:
            print(f"已导出 {len(paths)} 个数据包到 {args.dir}")
        return 0
    if args.command == "import":
        if not args.dir.is_dir():
            raise ValidationError("DIR", f"目录 {args.dir} 不存在")
        report = transfer.import_folder(home, args.dir, datetime.now(UTC), _progress)
        if args.json:
            emit_json(report)
        else:
            print(
                f"已应用 {len(report.applied)} 个数据包（{report.records} 条记录），"
                f"重复 {len(report.duplicate)} 个，隔离 {len(report.quarantined)} 个"
            )
            for name, why in report.quarantined:
                print(f"  隔离 {name}：{why}")
        return 0
    raise AssertionError(args.command)


def _user(home: NodeHome, args: Any) -> int:
    """``user add|list|remove`` and ``user key add|remove``: who may act at this desk, and
    with which SSH keys (syncd/access.py)."""
    config = home.load()
    if args.user_command == "add":
        access.check_name(args.name)
        roles = tuple(dict.fromkeys(Role.parse(r, "--role") for r in args.role))
        if args.key:
            access.parse_key(args.key, args.name)  # a bad key changes nothing
        config = config.with_user(args.name, roles)
        full = args.full_name.strip()
        if full:
            if len(full) > FULL_NAME_MAX or any(ord(ch) < 32 for ch in full):
                raise AccessError(f"姓名应为 1 至 {FULL_NAME_MAX} 个字，且不含控制字符")
            config = config.with_name(args.name, full)
        home.save(config)
        if not args.json:
            called = f"（{config.shown(args.name)}）" if args.name in config.names else ""
            print(f"用户 {args.name}{called}：{'、'.join(r.value for r in roles)}")
        if args.key:
            _key_added(home, args, access.add_key(args.name, args.key, home.path))
    elif args.user_command == "remove":
        if args.name not in config.users:
            raise AccessError(f"{args.name} 不是本节点的用户")
        config = config.without_user(args.name)
        home.save(config)
        gone = access.remove_keys(args.name)
        if not args.json:
            print(f"已删除用户 {args.name}（及其 {len(gone)} 把登录密钥）")
    elif args.user_command == "key" and args.key_command == "add":
        if args.name not in config.users:
            raise AccessError(
                f"{args.name} 不是本节点的用户（先运行 user add {args.name} --role …）"
            )
        _key_added(home, args, access.add_key(args.name, args.key, home.path))
    elif args.user_command == "key" and args.key_command == "list":
        held = access.staff_keys()
        if args.json:
            emit_json(
                [{"name": k.name, "type": k.type, "fingerprint": k.fingerprint} for k in held]
            )
        for key in [] if args.json else held:
            print(f"{key.name}\t{key.type}\t{key.fingerprint}")
        return 0
    elif args.user_command == "key":
        gone = access.remove_keys(args.name, args.fingerprint)
        if not gone:
            raise AccessError(f"{args.name} 没有{'这把' if args.fingerprint else ''}登录密钥")
        if not args.json:
            print(f"已删除 {args.name} 的 {len(gone)} 把登录密钥")
    keys: dict[str, list[str]] = {}
    for held in access.staff_keys():
        keys.setdefault(held.name, []).append(held.fingerprint)
    if args.json:  # as before keys existed: name → roles (``user key list`` has the keys)
        emit_json(config.users)
    elif args.user_command == "list":
        for name, roles in sorted(config.users.items()):
            held = "、".join(keys.get(name, [])) or "（无登录密钥）"
            called = f"\t{config.names[name]}" if name in config.names else ""
            print(f"{name}\t{'、'.join(r.value for r in roles)}\t{held}{called}")
    return 0


def _key_added(home: NodeHome, args: Any, key: access.StaffKey) -> None:
    if not args.json:
        print(f"已登记 {key.name} 的登录密钥 {key.fingerprint}（{access.keys_file()}）")


def _enroll(home: NodeHome, args: Any) -> int:
    now = datetime.now(UTC)
    if args.enroll_command == "request":
        sys.stdout.write(enrolment.request(home).decode("ascii"))
        return 0
    if args.enroll_command == "issue":
        child, pem = enrolment.issue_for(home, _read(args.request), now)
        sys.stdout.write(pem.decode("ascii"))
        print(f"已为 {child.id} {child.name}（{child.tier}）签发证书", file=sys.stderr)
        return 0
    root, print_ = enrolment.install(home, _read(args.certificate), now)
    if args.json:
        emit_json({"root": root.id, "root_fingerprint": print_})
    else:
        print(f"证书已安装。根节点 {root.id} {root.name}，根证书指纹（请与上级电话核对）：")
        print(" ".join(print_[i : i + 4] for i in range(0, 64, 4)))
    return 0


def _progress(done: int, total: int) -> None:
    if total >= 20 and sys.stderr.isatty():
        width = 30
        filled = width * done // total
        end = "\n" if done == total else ""
        print(
            f"\r导入 [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
            end=end,
            file=sys.stderr,
            flush=True,
        )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TrustError(f"无法读取文件 {path}：{reason(exc)}") from exc


def _log_to_stderr() -> None:
    """Structured log lines on stderr (systemd's journal adds the time)."""
    logging.basicConfig(
        level=os.environ.get("XINBAO_LOG", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``xinbao-syncd``."""
    sys.exit(run(PROG, handle, argv))


if __name__ == "__main__":
    main()
