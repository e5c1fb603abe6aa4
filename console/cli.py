"""``xinbao``: the desk from the command line (DESIGN.md §4). Parses arguments, calls schema."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from console import itemtext, remote, requests_text, rostertext
from console.text import fit
from schema import (
    bulletin,
    editorial,
    emergency,
    issuefile,
    people,
    requestfile,
    roster,
    scoring,
    state,
    supervise,
    view,
)
from schema import desk as ops
from schema import lead as leads
from schema import publication as pubs
from schema import request as requests
from schema.attachment import Attachments
from schema.clock import CHINA
from schema.commandline import (
    EXIT_USAGE,
    Parser,
    current_user,
    emit_json,
    global_options,
    resolve_home,
    run,
)
from schema.desk import Desk
from schema.error import PermissionDenied, ValidationError
from schema.itemfile import read_document, read_item_file, time_field
from schema.node import NodeHome, names_at
from schema.scoring import ScoringRules, shipped_rule_sets
from schema.store import Store
from schema.vocabulary import Level, Severity

PROG = "xinbao"


def build_parser() -> Parser:
    """The argument parser of ``xinbao``."""
    opts = global_options(top=False)
    parser = Parser(
        prog=PROG, description="信报工作台（命令行）", parents=[global_options(top=True)]
    )
    # who acts over SSH: written into each key's forced command by ``xinbao-syncd user``,
    # honoured by ``ssh`` alone; everywhere else the actor is the OS account running this
    parser.add_argument("--as", dest="as_user", metavar="NAME", help="SSH 登录人员（仅 ssh）")
    parser.add_argument("--key", default="", metavar="指纹", help="登录密钥指纹（仅 ssh）")
    cmds = parser.add_subparsers(dest="command", required=True, metavar="命令")

    p = cmds.add_parser("submit", parents=[opts], help="从 TOML/JSON 文件提交一条信息，待签发")
    p.add_argument("file", type=Path, help="信息文件")
    p = cmds.add_parser("edit", parents=[opts], help="修改本单位未报送或被退回的信息（新稿）")
    p.add_argument("id")
    p.add_argument("file", type=Path, help="修改后的信息文件")
    p = cmds.add_parser("signoff", parents=[opts], help="签发信息或约稿，排队发出")
    p.add_argument("id")

    p = cmds.add_parser(
        "request",
        parents=[opts],
        help="从文件起草约稿或报送要点，待签发；request export ID 导出约稿通知",
        usage="xinbao request FILE | xinbao request export ID [--format {md,docx}] [--out F]",
    )
    p.add_argument("file", help="约稿文件；或 export（导出约稿通知）")
    p.add_argument("id", nargs="?", help="导出的约稿编号（export 时）")
    p.add_argument("--format", choices=["md", "docx"], default="md", help="导出格式")
    p.add_argument("--out", type=Path, help="输出文件（md 缺省输出到屏幕）")
    p = cmds.add_parser("requests", parents=[opts], help="列出约稿与报送要点（收到的和发出的）")
    p.add_argument("--due", action="store_true", help="只列出到期待发的跟踪约稿")
    p = cmds.add_parser("zero-report", parents=[opts], help="对约稿作零报告")
    p.add_argument("id")
    p.add_argument("--note", default="", help="说明")
    p = cmds.add_parser("follow-up", parents=[opts], help="起草到期的跟踪约稿（待签发）")
    p.add_argument("id")

    p = cmds.add_parser("issue", parents=[opts], help="刊物期次：编辑、排序、签发、导出")
    acts = p.add_subparsers(dest="action", required=True, metavar="操作")
    q = acts.add_parser("list", parents=[opts], help="列出刊物与各期")
    q = acts.add_parser("add", parents=[opts], help="把已采用的信息编入一期（如 每日要情/3）")
    q.add_argument("ref", help="刊物/期号；只写刊物名为正在编辑的一期")
    q.add_argument("ids", nargs="+", metavar="ID")
    q = acts.add_parser("remove", parents=[opts], help="把信息撤出正在编辑的一期")
    q.add_argument("ref")
    q.add_argument("id")
    q = acts.add_parser("order", parents=[opts], help="调整顺序：所列信息依次排在最前")
    q.add_argument("ref")
    q.add_argument("ids", nargs="+", metavar="ID")
    q = acts.add_parser("show", parents=[opts], help="查看一期")
    q.add_argument("ref")
    q = acts.add_parser(
        "signoff", parents=[opts], help="签发一期（已印发），并报上级、告知来源单位"
    )
    q.add_argument("ref")
    q = acts.add_parser("export", parents=[opts], help="导出一期为 Markdown 或 Word（.docx）")
    q.add_argument("ref")
    q.add_argument("--format", choices=["md", "docx", "xlsx"], default="md")
    q.add_argument("--out", type=Path, help="输出文件（md 缺省输出到屏幕）")
    q.add_argument("--copy", type=int, help="份号（缺省为本期第一份）")
    p = cmds.add_parser("publication", parents=[opts], help="增加本单位的刊物（如 特刊）")
    p.add_argument("name")
    p.add_argument("--copies", type=int, default=30, help="每期印数")
    p.add_argument(
        "--to",
        default="上级",
        help="印发后发往（逗号分隔）：上级、下级、同级、所辖县（所辖各县）或单位代码",
    )

    p = cmds.add_parser("list", parents=[opts], help="列出收件或发件")
    box = p.add_mutually_exclusive_group()
    box.add_argument("--inbox", action="store_true", help="收件（默认）")
    box.add_argument("--outbox", action="store_true", help="发件")
    box.add_argument(
        "--overdue", action="store_true", help="突发事件报告时限：超时、即将超时和待报的首报"
    )
    p.add_argument("--search", default="", metavar="TEXT", help="全文检索（一个字以上）")
    p.add_argument("--limit", type=int, default=view.PAGE, help="最多列出几条")
    p = cmds.add_parser("instruct", parents=[opts], help="登记领导批示（信息或刊物期次）")
    p.add_argument("subject", metavar="ID", help="信息编号或刊物期次（如 专报/3）")
    p.add_argument("--leader", required=True, help="批示领导，如 省长王某某")
    p.add_argument("--level", required=True, help="中央、省级、市级或县级")
    p.add_argument("--text", required=True, help="批示内容")
    p.add_argument("--feedback", action="store_true", help="要求反馈")
    p.add_argument("--deadline", default="", help="反馈时限，如 2026-12-05T18:00:00+08:00")
    p.add_argument("--assign", nargs="*", default=[], metavar="UNIT", help="责任单位")
    p = cmds.add_parser("feedback", parents=[opts], help="对批示反馈落实情况")
    p.add_argument("id", help="批示反馈的编号（见 xinbao requests）")
    p.add_argument("--text", required=True)
    p = cmds.add_parser(
        "bulletin", parents=[opts], help="生成通报：得分排名、采用、批示、任务完成等"
    )
    p.add_argument("--period", required=True, help="月（2026-11）、季（2026-Q4）或年（2026）")
    p.add_argument(
        "--format",
        choices=["md", "docx", "xlsx"],
        default="md",
        help="格式：md、docx（通报）或 xlsx（表格）",
    )
    p.add_argument("--out", type=Path, help="输出文件（md 缺省输出到屏幕）")
    p.add_argument(
        "--rules", default="", help="计分办法：datong-city、shanxi-province、county-office 或文件"
    )
    p.add_argument(
        "--signoff",
        action="store_true",
        help="签发：编号后发往通报点到的各单位，并向未完成任务的单位发出督办",
    )
    p.add_argument(
        "--by",
        choices=["unit", "person", "section"],
        default="unit",
        help="按单位（缺省）、按执笔人（先进个人）或按本单位科室排名",
    )
    p = cmds.add_parser("bulletins", parents=[opts], help="已签发和收到的通报")
    p.add_argument("action", nargs="?", choices=["show"], help="show：查看一份通报")
    p.add_argument("id", nargs="?", help="通报编号")
    p = cmds.add_parser("interview", parents=[opts], help="记录约谈（督办后约谈单位负责人）")
    p.add_argument("unit", nargs="?", help="被约谈单位代码（缺省列出已记录的约谈）")
    p.add_argument("--note", default="", help="约谈对象和情况")
    p.add_argument("--request", default="", help="所依据的督办编号")
    p = cmds.add_parser("section", parents=[opts], help="本单位的科室及每月报送任务")
    p.add_argument("action", nargs="?", choices=["add", "remove"], help="add 增加、remove 删除")
    p.add_argument("name", nargs="?", help="科室名称")
    p.add_argument("--per-month", type=int, default=0, help="每月报送任务（条）")
    p = cmds.add_parser("similar", parents=[opts], help="列出近期收到的疑似重复信息（可合并）")
    p = cmds.add_parser("mark", parents=[opts], help="对某单位记录迟报、漏报、瞒报或误报")
    p.add_argument("unit", help="单位代码")
    p.add_argument("--kind", required=True, help="迟报、漏报、瞒报或误报")
    p.add_argument("--item", default="", help="相关信息编号")
    p.add_argument("--note", required=True, help="情况说明")
    p = cmds.add_parser(
        "roster", parents=[opts], help="通讯录：本单位及下级单位的信息员、分管领导和电话"
    )
    p.add_argument("action", nargs="?", choices=["set"], help="set：以文件更新本单位通讯录")
    p.add_argument("file", nargs="?", type=Path, help="通讯录文件（[[person]]）")
    p = cmds.add_parser("phone", parents=[opts], help="电话报告：登记、关联书面首报、列出")
    p.add_argument("action", nargs="?", choices=["add", "link"], help="add 登记、link 关联")
    p.add_argument("target", nargs="?", help="add：来电单位代码；link：电话报告编号")
    p.add_argument("item", nargs="?", help="link：书面首报的信息编号")
    p.add_argument("--caller", default="", help="来电人")
    p.add_argument("--summary", default="", help="报告内容")
    p.add_argument("--severity", default="", help="事件级别：一般、较大、重大、特别重大")
    p.add_argument("--occurred", default="", help="事发时间，如 2026-11-21T14:35:00+08:00")
    p.add_argument("--called", default="", help="来电时间（缺省为现在）")
    p.add_argument("--place", default="", help="事发地点")
    p = cmds.add_parser("show", parents=[opts], help="查看一条信息（或约稿）的全部内容与流转")
    p.add_argument("id")

    p = cmds.add_parser("adopt", parents=[opts], help="采用收到的信息")
    p.add_argument("id")
    p.add_argument("--issue", default="", help="拟用刊物期次，如 每日要情/1")
    p = cmds.add_parser("return", parents=[opts], help="退回修改（须写明理由）")
    p.add_argument("id")
    p.add_argument("--reason", required=True)
    p = cmds.add_parser(
        "verify", parents=[opts], help="要求来源单位核实收到的信息，或答复上级的核实要求"
    )
    p.add_argument("id")
    ask = p.add_mutually_exclusive_group(required=True)
    ask.add_argument("--question", help="要核实的内容（收件单位提出）")
    ask.add_argument("--answer", help="核实结果（来源单位答复）")
    p.add_argument(
        "--deadline", default="", help="答复时限，如 2026-11-21T18:00:00+08:00（缺省 24 小时内）"
    )
    p = cmds.add_parser("reserve", parents=[opts], help="存稿备用")
    p.add_argument("id")
    p = cmds.add_parser("reject", parents=[opts], help="退稿")
    p.add_argument("id")
    p.add_argument("--reason", default="")
    p = cmds.add_parser("forward", parents=[opts], help="转报上级（生成本单位新信息，待签发）")
    p.add_argument("id")
    p.add_argument("--title", default="", help="转报标题（默认沿用原标题）")
    p = cmds.add_parser("merge", parents=[opts], help="将多条信息综合为一条（待签发）")
    p.add_argument("ids", nargs="+", metavar="ID")
    p.add_argument("--title", required=True)
    p.add_argument("--body", default="", help="综合后的正文（默认为各条正文依次相接）")

    p = cmds.add_parser("leads", parents=[opts], help="列出信息线索（订阅的媒体与政府网站）")
    p.add_argument("--match", default="", metavar="TEXT", help="只列出含此文字的线索")
    p.add_argument("--all", action="store_true", help="也列出已忽略和已成稿的线索")
    p.add_argument("--limit", type=int, default=50, help="最多列出几条")
    p = cmds.add_parser("lead", parents=[opts], help="处理一条线索：保留、忽略或写成信息")
    p.add_argument(
        "action",
        choices=["keep", "dismiss", "draft", "show"],
        metavar="操作",
        help="keep 保留、dismiss 忽略、draft 写成信息（待签发）、show 查看",
    )
    p.add_argument("id", type=int, metavar="ID", help="线索编号（见 xinbao leads）")

    cmds.add_parser("console", parents=[opts], help="文字界面工作台")
    cmds.add_parser(
        "ssh",
        parents=[opts],
        help="SSH 密钥的强制命令：无命令时打开工作台，否则执行 SSH_ORIGINAL_COMMAND 中的一条命令",
    )
    p = cmds.add_parser(
        "demo", parents=[opts], help="演示：在本机运行一个多层级报送网络并打开工作台"
    )
    p.add_argument("--keep", action="store_true", help="保留演示网络的目录")
    p.add_argument("--desk", default="140200", help="在哪个节点打开工作台（默认大同市 140200）")
    p.add_argument("--no-console", action="store_true", help="不打开工作台，列出收件后结束")
    return parser


def open_desk(home: NodeHome, person: str | None = None) -> Desk:
    """The desk of ``person`` (over SSH) or of the OS account running this, at ``home``."""
    config = home.load()
    user = person or current_user()
    roles = config.roles_of(user)
    if not roles:
        raise PermissionDenied(
            f"用户 {user} 不是节点 {config.id} 的用户"
            f"（请管理员运行 xinbao-syncd user add {user} --role 信息员）"
        )
    return Desk(Store.open(home.store_path), config.unit, user, roles)


def handle(argv: Sequence[str] | None) -> int:
    """Parse ``argv`` and run the command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "ssh":
        return _over_ssh(args)
    if args.as_user or args.key:
        parser.error("--as 与 --key 只用于 SSH 密钥的强制命令（xinbao --as NAME ssh）")
    if args.command == "demo":
        from console.demo import run_demo

        return run_demo(keep=args.keep, desk=args.desk, console=not args.no_console)
    home = resolve_home(args.home)
    desk = open_desk(home)
    if args.command == "console":
        from console.app import run_console  # Textual loads only for the console

        try:
            run_console(desk, home.attachments_path, home.status_path)
        finally:
            desk.store.close()
        return 0
    try:
        result = _dispatch(desk, args, Attachments(home.attachments_path))
    finally:
        desk.store.close()
    if args.json:
        emit_json(result)
    return 0


def _over_ssh(args: Any) -> int:
    """``xinbao --as NAME ssh``: what a person's key may do (console/remote.py)."""
    home = resolve_home(args.home)
    if not args.as_user:
        raise PermissionDenied("ssh 须由登录密钥的强制命令调用（--as 指明登录人员）")
    if not remote.owner_ok(home.path):
        raise PermissionDenied("只有节点的服务账户可以代登录人员操作")
    try:
        words = remote.requested(dict(os.environ))
        inner = build_parser().parse_args(words) if words else None
        if inner is not None:
            remote.confine(inner)
    except remote.Refused as exc:
        print(f"{PROG}: 拒绝：{exc}", file=sys.stderr)
        return EXIT_USAGE
    desk = open_desk(home, args.as_user)
    desk.store.actor_key = args.key
    if inner is None or inner.command == "console":
        from console.app import run_console

        exports = home.path / "exports" / args.as_user  # the only place its exports may go
        try:
            run_console(desk, home.attachments_path, home.status_path, exports)
        finally:
            desk.store.close()
        return 0
    try:
        with remote.private_folder() as folder:
            result = _remote(desk, inner, Path(folder))
    except remote.Refused as exc:
        print(f"{PROG}: 拒绝：{exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        desk.store.close()
    if inner.json:
        emit_json(result)
    return 0


def _remote(desk: Desk, args: Any, folder: Path) -> Any:
    """One desk command for a person over SSH: files from standard input, never a path of
    the node; no attachment files (they would be the node's own files)."""
    exporting = args.command == "request" and args.file == "export"  # a word, not a file
    if getattr(args, "file", None) is not None and not exporting:
        args.file = remote.stdin_file(folder, "标准输入")
    to_stdout = getattr(args, "out", None) is not None
    if to_stdout:
        args.out = folder / f"导出.{args.format}"  # md, docx or xlsx
    quiet = {**vars(args), "json": args.json or to_stdout}
    result = _dispatch(desk, argparse.Namespace(**quiet), None)
    if to_stdout:
        sys.stdout.buffer.write(args.out.read_bytes())
        sys.stdout.flush()
    return result


def _dispatch(desk: Desk, args: Any, attachments: Attachments | None) -> Any:
    me = desk.node.id
    match args.command:
        case "submit":
            item = ops.submit(desk, read_item_file(args.file, attachments))
            _say(args, f"已提交 {item.id}「{item.title}」，待签发")
            _advise(args, item.draft)
            return item
        case "edit":
            item = ops.edit(desk, args.id, read_item_file(args.file, attachments))
            _say(args, f"已修改 {item.id}，现为第{item.revision}稿")
            _advise(args, item.draft)
            return item
        case "signoff" if requests.find(desk.store, args.id):
            request = ops.signoff_request(desk, args.id)
            _say(args, f"已签发 {request.number}「{request.draft.topic}」，排队下发")
            return request
        case "signoff":
            item = ops.signoff(desk, args.id)
            _say(args, f"已签发 {item.id}「{item.title}」，排队报送")
            return item
        case "issue":
            return _issue(desk, args)
        case "leads":
            states = leads.STATES if args.all else (leads.NEW, leads.KEPT)
            found = leads.ranked(desk.store, desk.clock(), args.match, states, limit=args.limit)
            if not args.json:
                _print_leads(found, leads.feed_states(desk.store))
            return found
        case "lead":
            return _lead(desk, args)
        case "publication":
            to = tuple(w for w in args.to.replace("，", ",").split(",") if w.strip())
            pubs.add_publication(desk.store, args.name, args.copies, to)
            _say(args, f"已增加刊物“{args.name.strip()}”，每期印数 {args.copies}")
            return pubs.publications(desk.store)
        case "list" if args.overdue:
            now = desk.clock()
            owed = emergency.due(desk.store, me, desk.node.parent, now, emergency.shipped_rules())
            if not args.json:
                _print_due(desk.store, owed, now)
            return owed
        case "instruct":
            deadline = time_field(args.deadline, "deadline") if args.deadline else None
            made = ops.instruct(
                desk,
                args.subject,
                args.leader,
                Level.parse(args.level, "level"),
                args.text,
                feedback=args.feedback,
                deadline=deadline,
                assigned=args.assign,
            )
            _say(args, f"已登记批示 {made.id}，传达至相关单位")
            return made
        case "verify" if args.answer is not None:
            done = ops.answer_verification(desk, args.id, args.answer)
            _say(args, f"已答复核实要求 {done.id}，排队报送{done.asker}")
            return done
        case "verify":
            deadline = time_field(args.deadline, "deadline") if args.deadline else None
            asked = ops.ask_to_verify(desk, args.id, args.question, deadline)
            _say(args, f"已要求 {asked.source} 核实 {asked.item_id}（{asked.id}），答复前不能刊用")
            return asked
        case "feedback":
            request = ops.answer_request(desk, args.id, args.text)
            _say(args, f"已反馈“{request.draft.topic}”")
            return request
        case "bulletin" if args.by != "unit":
            if args.format != "md":
                raise ValidationError("format", "按执笔人或科室排名只能输出 Markdown")
            rules = _scoring_rules(args.rules)
            writers, parts = people.tables(desk.store, me, args.period, desk.clock(), rules)
            rows = writers if args.by == "person" else parts
            what = "执笔人" if args.by == "person" else "科室"
            label = scoring.Period.parse(args.period).label
            heading = f"{itemtext.label(desk.store, me)}政务信息工作{what}排名（{label}）"
            text = people.to_markdown(rows, heading, sections=args.by == "section")
            if args.out is not None:
                args.out.write_text(text, "utf-8")
                _say(args, f"已生成 {args.out}")
            elif not args.json:
                print(text, end="")
            return rows
        case "section":
            if args.action and not args.name:
                raise ValidationError("name", "请给出科室名称")
            if args.action == "add":
                people.add_section(desk.store, args.name, args.per_month)
                _say(args, f"已设置科室“{args.name.strip()}”，每月任务 {args.per_month} 条")
            elif args.action == "remove":
                people.remove_section(desk.store, args.name)
                _say(args, f"已删除科室“{args.name.strip()}”")
            kept = people.sections(desk.store)
            if not args.json and not args.action:
                lines = [f"{name}　每月任务 {n} 条" for name, n in kept.items()]
                print("\n".join(lines) or "（本单位尚未设置科室：xinbao section add 名称）")
            return kept
        case "bulletin" if args.signoff:
            made = bulletin.compute(
                desk.store, me, args.period, desk.clock(), _scoring_rules(args.rules)
            )
            done, notices = ops.signoff_bulletin(desk, made)
            sent = f"已签发通报 {done.number or done.id}「{done.title}」"
            sent += f"，发往 {len(done.units)} 个单位"
            _say(args, sent + (f"；向 {len(notices)} 个单位发出督办" if notices else ""))
            return {"bulletin": done, "supervise": notices}
        case "bulletins" if args.action == "show":
            if not args.id:
                raise ValidationError("", "请给出通报编号：xinbao bulletins show ID")
            shown = supervise.get(desk.store, args.id)
            if not args.json:
                head = f"{shown.number}　{itemtext.label(desk.store, shown.issuer)}"
                read = f"\n送阅：{shown.read_by}" if shown.read_by else ""
                print(f"{head}　签发 {shown.signed_by}{read}\n\n{shown.text}", end="")
            return shown
        case "bulletins":
            found = supervise.issued(desk.store)
            if not args.json:
                lines = [
                    f"{b.id}　{b.number or '—'}　"
                    + ("收到" if b.received_at else "签发")
                    + f"　{requests_text.when(b.at)}　{b.title}"
                    for b in found
                ]
                print("\n".join(lines) or "（没有已签发或收到的通报）")
            return found
        case "interview" if args.unit:
            made = ops.record_interview(desk, args.unit, args.note, args.request)
            _say(args, f"已记录对{itemtext.label(desk.store, made.unit)}的约谈")
            return made
        case "interview":
            found = supervise.interviews(desk.store)
            if not args.json:
                lines = [
                    f"{requests_text.when(i.at)}　{itemtext.label(desk.store, i.unit)}　"
                    f"{i.note}　{i.actor}" + (f"　督办 {i.request_id}" if i.request_id else "")
                    for i in found
                ]
                print("\n".join(lines) or "（没有约谈记录）")
            return found
        case "bulletin":
            made = bulletin.compute(
                desk.store, me, args.period, desk.clock(), _scoring_rules(args.rules)
            )
            if args.format == "xlsx":
                if args.out is None:
                    raise ValidationError("out", "导出表格须用 --out 指定文件")
                bulletin.to_xlsx(made, args.out)
                _say(args, f"已生成 {args.out}")
            elif args.format == "docx":
                if args.out is None:
                    raise ValidationError("out", "导出 Word 须用 --out 指定文件")
                now = desk.clock()
                number = bulletin.document_number(desk.store, made, now.year)
                bulletin.to_docx(made, args.out, number=number, issued=now.date())
                _say(args, f"已生成 {args.out}")
            elif args.out is not None:
                args.out.write_text(bulletin.to_markdown(made), "utf-8")
                _say(args, f"已生成 {args.out}")
            elif not args.json:
                print(bulletin.to_markdown(made))
            return made
        case "similar":
            found = view.duplicate_groups(desk.store, me, desk.clock())
            if not args.json:
                if not found:
                    print("（近期没有疑似重复的信息）")
                for group in found:
                    print("疑似同一事件：" + "、".join(group))
                    print(f"　合并：xinbao merge {' '.join(group)} --title …")
            return found
        case "roster" if args.action == "set":
            if args.file is None:
                raise ValidationError("", "请给出通讯录文件：xinbao roster set FILE")
            version = ops.set_roster(desk, roster.read_file(args.file))
            _say(args, f"已更新本单位通讯录（第{version}版），排队报送上级")
            return roster.people_of(desk.store, me)
        case "roster":
            book = roster.book(desk.store, me)
            if not args.json:
                print("\n".join(rostertext.book_lines(book)))
            return book
        case "phone" if args.action == "add":
            if not args.target:
                raise ValidationError("", "请给出来电单位：xinbao phone add 单位代码 --caller …")
            for key in ("caller", "summary", "severity", "occurred"):
                if not getattr(args, key).strip():
                    raise ValidationError(key, f"登记电话报告须写明 --{key}")
            report = ops.take_phone_report(
                desk,
                args.target,
                caller=args.caller,
                summary=args.summary,
                severity=Severity.parse(args.severity, "severity"),
                occurred_at=time_field(args.occurred, "occurred"),
                called_at=time_field(args.called, "called") if args.called else None,
                place=args.place,
            )
            late = f"，迟 {report.late_minutes} 分钟（已记迟报）" if report.late_minutes else ""
            follow = requests_text.when(report.written_deadline)
            _say(args, f"已登记电话报告 {report.id}{late}；书面首报应于 {follow} 前送达")
            return report
        case "phone" if args.action == "link":
            if not (args.target or "").isdigit() or not args.item:
                raise ValidationError("", "用法：xinbao phone link 电话报告编号 信息编号")
            report = ops.link_phone_report(desk, int(args.target), args.item)
            _say(args, f"电话报告 {report.id} 已关联书面首报 {report.item_id}")
            return report
        case "phone":
            found = emergency.phone_reports(desk.store)
            if not args.json:
                print("\n".join(phone_line(desk.store, r) for r in found) or "（没有电话报告）")
            return found
        case "mark":
            kind = emergency.MarkKind.parse(args.kind, "kind")
            done = ops.mark_unit(desk, args.unit, kind, args.item, args.note)
            _say(args, f"已对{itemtext.label(desk.store, args.unit)}记录{kind}")
            return done
        case "list":
            fetch = view.outbox if args.outbox else view.inbox
            rows = fetch(desk.store, me, search=args.search, limit=args.limit)
            if not args.json:
                _print_rows(rows, "发往" if args.outbox else "来自")
            return rows
        case "show" if requests.find(desk.store, args.id):
            request = ops.open_request(desk, args.id)
            if not args.json:
                requests_text.print_request(desk.store, request, me, desk.clock())
                return request
            return {
                "request": request,
                "matrix": requests.matrix(desk.store, args.id, desk.clock()),
            }
        case "request" if args.file == "export":
            if not args.id:
                raise ValidationError("", "请给出要导出的约稿编号：xinbao request export ID")
            request = requests.get(desk.store, args.id)
            if args.format == "docx":
                if args.out is None:
                    raise ValidationError("out", "导出 Word 须用 --out 指定文件")
                requestfile.to_docx(desk.store, request, args.out)
                _say(args, f"已导出 {args.out}")
            elif args.out is not None:
                args.out.write_text(requestfile.to_markdown(desk.store, request), "utf-8")
                _say(args, f"已导出 {args.out}")
            elif not args.json:
                print(requestfile.to_markdown(desk.store, request))
            return request
        case "request":
            if args.id:
                raise ValidationError("", f"多余的参数 {args.id}（起草约稿只需一个文件）")
            request = ops.compose_request(desk, requests.read_request_file(Path(args.file)))
            _say(args, f"已起草 {request.id} {request.number}「{request.draft.topic}」，待签发")
            return request
        case "requests":
            now = desk.clock()
            if args.due:
                due = requests.follow_ups_due(desk.store, me, now.astimezone(CHINA).date())
                if not args.json:
                    requests_text.print_due(due)
                return due
            rows = requests.listing(desk.store, me, now)
            if not args.json:
                requests_text.print_listing(desk.store, rows, now)
            return rows
        case "zero-report":
            request = ops.zero_report(desk, args.id, args.note)
            _say(args, f"已对 {request.number}「{request.draft.topic}」作零报告")
            return request
        case "follow-up":
            request = ops.follow_up_request(desk, args.id)
            _say(
                args,
                f"已起草跟踪约稿 {request.id} {request.number}「{request.draft.topic}」，待签发",
            )
            return request
        case "show":
            shown = view.show(desk.store, args.id)
            if not args.json:
                print("\n".join(itemtext.item_lines(desk.store, shown, attachments, desk.node.id)))
            return shown
        case "adopt":
            edge = ops.adopt(desk, args.id, args.issue)
            _say(args, f"已采用 {args.id}" + (f"，拟用于{args.issue}" if args.issue else ""))
            return edge
        case "return":
            edge = ops.return_item(desk, args.id, args.reason)
            _say(args, f"已退回 {args.id}：{args.reason}")
            return edge
        case "reserve":
            edge = ops.reserve(desk, args.id)
            _say(args, f"已存稿备用 {args.id}")
            return edge
        case "reject":
            edge = ops.reject(desk, args.id, args.reason)
            _say(args, f"已退稿 {args.id}")
            return edge
        case "forward":
            item = ops.forward(desk, args.id, args.title)
            _say(args, f"已转报为 {item.id}「{item.title}」，待签发")
            return item
        case "merge":
            item = ops.merge(desk, args.ids, args.title, args.body)
            _say(args, f"已合并 {len(args.ids)} 条为 {item.id}「{item.title}」，待签发")
            return item
    raise AssertionError(args.command)


def _scoring_rules(name_or_path: str) -> ScoringRules:
    """``--rules``: a shipped rule set, or an office's file, held to the desk input limits
    (size, nesting, keys) before the scoring loader parses it."""
    path = Path(name_or_path)
    if name_or_path not in shipped_rule_sets() and path.is_file():
        read_document(path, "计分办法", by_name=False)
    return bulletin.load_rules(name_or_path)


def _issue(desk: Desk, args: Any) -> Any:
    today = desk.clock().astimezone(CHINA).date()
    store, me = desk.store, desk.node.id
    match args.action:
        case "list":
            rows = pubs.listing(store)
            if not args.json:
                print("刊物：" + "、".join(pubs.publications(store)))
                for r in rows:
                    made = (
                        r["state"]
                        if r["state"] != "已收到"
                        else f"{itemtext.label(store, r['publisher'])}编发"
                    )
                    print(f"{fit(r['id'], 30)}{fit(made, 14)}{r['items']}条")
            return rows
        case "add":
            issue = ops.place_in_issue(desk, args.ref, args.ids)
            _say(args, f"已编入{issue.title}，共 {len(issue.entries)} 条")
            return issue
        case "remove":
            issue = ops.remove_from_issue(desk, args.ref, args.id)
            _say(args, f"已从{issue.title}撤出 {args.id}")
            return issue
        case "order":
            issue = ops.order_issue(desk, args.ref, args.ids)
            if not args.json:
                _print_issue(store, issue)
            return issue
        case "show":
            issue = pubs.find_issue(store, me, args.ref, today)
            if not args.json:
                _print_issue(store, issue)
            return issue
        case "signoff":
            issue = ops.signoff_issue(desk, args.ref)
            _say(args, f"已签发{issue.title}（已印发），排队报送上级并告知来源单位")
            return issue
        case "export":
            issue = pubs.find_issue(store, me, args.ref, today)
            office = itemtext.label(store, issue.publisher)
            try:
                if args.format == "xlsx":
                    if args.out is None:
                        raise ValidationError("out", "导出表格须用 --out 指定文件")
                    issuefile.to_xlsx(issue, office, args.out)
                    _say(args, f"已导出 {args.out}")
                    return {"out": str(args.out)}
                if args.format == "docx":
                    if args.out is None:
                        raise ValidationError("out", "导出 Word 须用 --out 指定文件")
                    names = names_at(store.path)
                    issuefile.to_docx(issue, office, args.out, args.copy, names)
                    _say(args, f"已导出 {args.out}")
                    return {"out": str(args.out)}
                text = issuefile.to_markdown(issue, office, args.copy, names_at(store.path))
            except ValueError as exc:
                raise ValidationError("copy", str(exc)) from exc
            if args.out is None:
                print(text)
            else:
                args.out.write_text(text, "utf-8")
                _say(args, f"已导出 {args.out}")
            return {"out": str(args.out) if args.out else ""}
    raise AssertionError(args.action)


def _lead(desk: Desk, args: Any) -> Any:
    match args.action:
        case "keep":
            lead = leads.set_state(desk.store, args.id, leads.KEPT)
            _say(args, f"已保留线索 {lead.id}「{lead.title}」")
        case "dismiss":
            lead = leads.set_state(desk.store, args.id, leads.DISMISSED)
            _say(args, f"已忽略线索 {lead.id}「{lead.title}」")
        case "draft":
            item = leads.to_item(desk, args.id)
            _say(args, f"已把线索 {args.id} 写成信息 {item.id}「{item.title}」，待签发")
            _say(args, f"（可用 xinbao edit {item.id} 修改后签发）")
            return item
        case _:
            lead = leads.get(desk.store, args.id)
            if not args.json:
                when = lead.at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
                print(f"线索 {lead.id}　{lead.state}　{lead.source}　{when}")
                print(lead.title)
                if lead.link:
                    print(lead.link)
                if lead.matched:
                    print("命中：" + "、".join(lead.matched))
                if lead.item_id:
                    print(f"已写成信息 {lead.item_id}")
                print()
                print(lead.summary)
    return lead


def _print_leads(found: list[leads.Lead], feeds: list[leads.FeedState]) -> None:
    for feed in feeds:
        if feed.failures:
            print(f"订阅 {feed.source} 读取失败 {feed.failures} 次：{feed.last_error[:50]}")
    if not found:
        print("（没有线索）")
        return
    width = shutil.get_terminal_size((80, 24)).columns
    title_width = max(10, width - 6 - 12 - 12 - 14)
    print(f"{fit('编号', 6)}{fit('时间', 12)}{fit('来源', 12)}{fit('命中', 14)}标题")
    for lead in found:
        when = lead.at.astimezone(CHINA).strftime("%m-%d %H:%M")
        mark = "" if lead.state == leads.NEW else f"［{lead.state}］"
        print(
            f"{fit(str(lead.id), 6)}{fit(when, 12)}{fit(lead.source, 12)}"
            f"{fit('、'.join(lead.matched), 14)}{fit(mark + lead.title, title_width).rstrip()}"
        )


def _print_issue(store: Store, issue: pubs.Issue) -> None:
    print(f"{issue.title}　{issue.state}　{itemtext.label(store, issue.publisher)}　{issue.date}")
    if issue.signer:
        print(f"签发 {issue.signer}")
    for n, e in enumerate(issue.entries, 1):
        print(f"{n:>3}. {fit(e.item_id, 20)}{fit(itemtext.label(store, e.origin), 10)}{e.title}")
    if not issue.entries:
        print("（尚未编入信息）")


def _advise(args: Any, draft: Any) -> None:
    """Editorial advice after a submit or edit (it never blocks)."""
    if not args.json:
        for finding in editorial.check(draft):
            print(f"提示 {finding.message}")


def _say(args: Any, text: str) -> None:
    if not args.json:
        print(text)


def _print_rows(rows: list[dict[str, Any]], direction: str) -> None:
    if not rows:
        print("（没有信息）")
        return
    width = shutil.get_terminal_size((80, 24)).columns
    title_width = max(10, width - 22 - 7 - 10 - 10 - 4)
    print(f"{fit('编号', 22)}{fit('标记', 7)}{fit(direction, 10)}{fit('状态', 10)}标题")
    for r in rows:
        marks = r["urgency"] + ("" if r["classification"] == "公开" else r["classification"][:1])
        sent = direction == "发往"  # our own edges: 待发送 until the recipient has it
        status = state.shown(r["state"], r["delivered_at"]) if sent else r["state"]
        print(
            f"{fit(r['item_id'], 22)}{fit(marks, 7)}{fit(r['peer_name'], 10)}"
            f"{fit(status, 10)}{fit(r['title'], title_width).rstrip()}"
        )


def phone_line(store: Store, r: emergency.PhoneReport) -> str:
    """One phone report: number, caller and unit, when, the event, and what followed."""
    late = f"　迟{r.late_minutes}分钟" if r.late_minutes else ""
    written = f"书面首报 {r.item_id}" if r.item_id else "待书面首报"
    return (
        f"{r.id}　{requests_text.when(r.called_at)}　{itemtext.label(store, r.unit)} {r.caller}"
        f"{late}　{r.severity}　{r.summary}　{written}"
    )


def _print_due(store: Store, owed: list[emergency.Due], now: Any) -> None:
    if not owed:
        print("（没有待报的突发事件首报）")
        return
    print(f"{fit('编号', 20)}{fit('报送对象', 10)}{fit('方式', 6)}{fit('时限', 22)}事件")
    for d in owed:
        left = requests_text.countdown(d.deadline, now)
        limit = f"{requests_text.when(d.deadline)} {d.status}"
        print(
            f"{fit(d.item_id, 20)}{fit(itemtext.label(store, d.to_unit), 10)}{fit(d.channel, 6)}"
            f"{fit(limit, 22)}{d.severity} {d.title}（{left}）"
        )


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``xinbao``."""
    sys.exit(run(PROG, handle, argv))


if __name__ == "__main__":
    main()
