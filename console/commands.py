"""The desk's commands behind ``xinbao`` (console/cli.py parses; this runs them): loaded only
once the arguments are parsed, so ``xinbao --help`` and a usage error start in a blink."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from console import itemtext, remote, requests_text, rostertext
from console.cli import PROG, build_parser
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
    resolve_home,
)
from schema.desk import Desk
from schema.error import PermissionDenied, ValidationError
from schema.itemfile import read_document, read_item_file, time_field
from schema.node import NodeHome, names_at
from schema.scoring import ScoringRules, shipped_rule_sets
from schema.store import Store
from schema.vocabulary import Level, Severity


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


def execute(parser: Parser, args: Any) -> int:
    """Run the command ``args`` names (parsed by ``parser``, for its usage errors)."""
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
            asker = itemtext.label(desk.store, done.asker)
            _say(args, f"已答复核实要求 {done.id}，排队报送{asker}")
            return done
        case "verify":
            deadline = time_field(args.deadline, "deadline") if args.deadline else None
            asked = ops.ask_to_verify(desk, args.id, args.question, deadline)
            source = itemtext.label(desk.store, asked.source)
            _say(args, f"已要求{source}核实 {asked.item_id}（{asked.id}），答复前不能刊用")
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
