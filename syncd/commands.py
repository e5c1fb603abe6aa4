"""The commands behind ``xinbao-syncd`` (syncd/cli.py parses; this runs them): loaded only
once the arguments are parsed, so ``--help`` and a usage error answer at once."""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schema.clock import CHINA, from_text
from schema.commandline import (
    current_user,
    emit_json,
    resolve_home,
)
from schema.error import NotFound, ValidationError, reason
from schema.itemfile import UNIT_ID
from schema.node import FULL_NAME_MAX, NodeConfig, NodeHome
from schema.vocabulary import Classification, Role, Tier
from syncd import access, enrolment, revocation, service, transfer
from syncd import config as syncconfig
from syncd.access import AccessError
from syncd.error import TrustError
from syncd.home import init_node


def _links(home: NodeHome, args: Any) -> int:
    if args.link_command == "add":
        if not UNIT_ID.match(args.peer):
            raise ValidationError("peer", f"“{args.peer}”不是有效的单位代码")
        link = syncconfig.Link(
            peer=args.peer,
            url=args.url,
            folder=args.folder.expanduser().resolve() if args.folder else None,
            ceiling=Classification.parse(args.ceiling, "--ceiling"),
            hybrid=args.hybrid,
        )
        syncconfig.save_link(home.path, link)
        if not args.json:
            pq = "，须抗量子加密" if link.hybrid else ""
            where = link.url or link.folder
            print(f"已设置链路 {link.peer}：{where}（最高密级 {link.ceiling}{pq}）")
    elif args.link_command == "remove":
        syncconfig.remove_link(home.path, args.peer)
        if not args.json:
            print(f"已删除链路 {args.peer}")
    links = syncconfig.load(home.path).links
    if args.json:
        emit_json(
            [
                {
                    "peer": k.peer,
                    "url": k.url,
                    "folder": k.folder,
                    "ceiling": k.ceiling,
                    "hybrid": k.hybrid,
                }
                for k in links.values()
            ]
        )
    elif args.link_command == "list":
        if not links:
            print("（没有链路）")
        for k in links.values():
            pq = "\t须抗量子加密" if k.hybrid else ""
            print(f"{k.peer}\t{k.url or k.folder}\t最高密级 {k.ceiling}{pq}")
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
        f"{status['quarantined']}　抗量子密钥 {'已载入证书' if status.get('hybrid') else '无'}"
    )
    taken = status.get("backup")
    kept = status.get("retained") or {}
    held = (
        f"　为相邻节点重同步保留数据包 {kept['bundles']}（{kept['bytes'] / 2**20:.1f} MB）"
        if kept.get("bundles")
        else ""
    )
    print(f"最近备份 {_when(taken.get('at')) if taken else '（从未）'}{held}")
    if status.get("restored"):
        restored = status["restored"]
        print(f"本节点由备份 {restored.get('snapshot', '')} 恢复")
    if status.get("resync"):
        _print_resync(status["resync"])
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


def _print_resync(sync: dict[str, Any]) -> None:
    answered = [p for p in sync["peers"] if p["answered_at"]]
    state = "进行中" if sync["running"] else "已完成"
    waiting = f"　待补齐记录 {sync['waiting']}" if sync["waiting"] else ""
    if sync.get("coming"):
        waiting += f"　待到达数据包 {sync['coming']}"
    print(f"重新同步 {state}：已答复 {len(answered)}/{len(sync['peers'])}{waiting}")
    for p in sync["peers"]:
        if p.get("forgotten"):
            done = "不再等待（操作员）"
        elif p["answered_at"]:
            done = (
                f"{_text_when(p['answered_at'])} 答复，重发数据包 {p['bundles']}，"
                f"回传本节点记录 {p['records']}"
            )
        else:
            done = f"等待答复（{_text_when(p['asked_at'])} 请求）"
        print(f"　　{p['peer']}　{done}")


def _text_when(text: str) -> str:
    return from_text(text).strftime("%m-%d %H:%M")


def _when(stamp: float | None) -> str:
    return datetime.fromtimestamp(stamp, CHINA).strftime("%m-%d %H:%M") if stamp else "—"


def execute(args: Any) -> int:
    """Run the command ``args`` names (parsed by :func:`syncd.cli.build_parser`)."""
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
    if args.command == "keys":
        return _hybrid_key(home, args)
    if args.command == "resync":
        return _resync(home, args)
    if args.command in ("backup", "restore"):
        return _backup(home, args)
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


def _resync(home: NodeHome, args: Any) -> int:
    """``resync [--forget PEER]`` (schema/resync.py): the progress, or stop waiting for one
    neighbour's answer (one taken out of the network)."""
    from schema import resync
    from schema.store import Store

    store = Store.open(home.store_path)
    try:
        if args.forget and not resync.forget(store, args.forget):
            raise NotFound(f"没有向 {args.forget} 请求过重新同步")
        summary = resync.summary(store)
    finally:
        store.close()
    if args.json:
        emit_json(summary)
    elif not summary:
        print("本节点没有进行中的重新同步（未从备份恢复）")
    else:
        if args.forget:
            print(f"已不再等待 {args.forget} 的答复")
        _print_resync(summary)
    return 0


def _backup(home: NodeHome, args: Any) -> int:
    """``backup DIR``, ``backup verify DIR``, ``restore DIR`` (syncd/backup.py)."""
    from syncd import backup

    if args.command == "restore":
        manifest = backup.restore(args.dir, home, ask=not args.no_resync)
        created, asked = datetime.fromisoformat(manifest["created"]), manifest["resync"]
        if args.json:
            emit_json(manifest)
        else:
            taken = _when(created.timestamp())
            print(f"已恢复节点 {manifest['node']}（备份于 {taken}）到 {home.path}")
            if args.no_resync:
                print("未请求重新同步（恢复演练）：核对后请删除此目录，切勿在其上启动守护进程。")
            else:
                names = "、".join(asked) or "（无相邻节点）"
                print(f"已请求相邻节点重新同步：{names}。启动守护进程后自动补齐备份之后的收发，")
                print("进度见 xinbao-syncd status 或控制台“网络”页。")
        return 0
    if args.action == "verify":
        snapshot, manifest = backup.verify(args.dir)
        if args.json:
            emit_json({"snapshot": str(snapshot), **manifest})
        else:
            print(
                f"备份完好：{snapshot}（节点 {manifest['node']}，{len(manifest['files'])} 个文件，"
                f"附件 {len(manifest['attachments'])} 个）"
            )
        return 0
    taken = backup.take(home, args.dir, datetime.now(UTC), args.keep)
    if args.json:
        emit_json({"snapshot": str(taken.path), "files": taken.files})
    else:
        added = taken.attachments_added
        print(f"已备份到 {taken.path}（{taken.files} 个文件，新增附件 {added} 个）")
    return 0


def _hybrid_key(home: NodeHome, args: Any) -> int:
    """``keys hybrid``: give a node made before hybrid keys its hybrid post-quantum key; its
    next certificate (``enroll request`` → the parent's ``issue`` → ``install``) carries it."""
    from syncd.keys import HybridKey, load_keys, passphrase_from_env, save_hybrid

    config = home.load()
    keys = load_keys(home.path, passphrase_from_env())
    made = keys.hybrid is None
    if made and not config.parent:
        raise TrustError(
            "本节点是根节点：根证书不能更换，不能补发抗量子密钥（新建网络的根节点自带）"
        )
    if made:
        save_hybrid(home.path, HybridKey.generate(), passphrase_from_env())
    if args.json:
        emit_json({"hybrid": True, "made": made})
    elif made:
        print("已生成抗量子密钥（ML-KEM-768 + X25519）。请用 xinbao-syncd enroll request 重新申请")
        print("证书，上级 enroll issue 签发后 enroll install 安装；此前本节点仍按经典密钥收发。")
    else:
        print("本节点已有抗量子密钥；证书未载明时请重新申请证书（enroll request）。")
    return 0


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
