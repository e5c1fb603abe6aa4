"""One item as lines of text: what ``xinbao show`` prints and the console's item view shows."""

from __future__ import annotations

import difflib
import itertools
from typing import Any

from console import requests_text
from schema import emergency, outbox, state, view
from schema.attachment import Attachments
from schema.network import find_unit
from schema.store import Store
from schema.verify import Verification


def item_lines(
    store: Store, shown: view.ItemView, attachments: Attachments, me: str = ""
) -> list[str]:
    """What a desk reads of one item, line by line: markings first (GB/T 9704 §7.2), then the
    text, attachments, provenance, edges, instructions, feedback, hints and the audit log."""
    out: list[str] = []
    item = shown.item
    draft = item.draft
    # Markings first, at the top, as on paper (GB/T 9704 §7.2): classification, then urgency.
    out.append(f"{draft.classification}　{draft.urgency}")
    out.append(draft.title)
    origin = find_unit(store, item.origin)
    out.append(f"编号 {item.id}　第{item.revision}稿　{draft.category}")
    out.append(
        f"来源 {origin.name if origin else item.origin}　执笔 {draft.author} {draft.phone}".rstrip()
    )
    if item.signer:
        out.append(f"签发 {item.signer}　{requests_text.when(item.signed_at)}")
    if draft.request:
        out.append(f"约稿 {draft.request}")
    if draft.themes:
        out.append("报送要点 " + "；".join(draft.themes))
    if draft.section:
        out.append(f"科室 {draft.section}")
    if draft.incident:
        inc = draft.incident
        out.append(f"事件 {inc.type or '突发事件'}　{inc.severity}　{inc.report}")
        out.append(f"　　 发生 {requests_text.when(inc.occurred_at)}　地点 {inc.place}")
    out.append("")
    out.append(draft.body)
    out.append("")
    for a in draft.attachments:
        where = attachments.path(a.sha256) if attachments.has(a.sha256) else "（尚未收到）"
        out.append(f"附件 {a.name}（{size(a.size)}）　{where}")
    if item.sources:
        out.append("来源信息：" + "、".join(item.sources))
    if shown.derived:
        out.append("已用于：" + "、".join(shown.derived))
    for edge in shown.edges:
        note = f"（{edge.note}）" if edge.note else ""
        route = f"{label(store, edge.from_unit)} → {label(store, edge.to_unit)}"
        arrived = f"　送达 {requests_text.when(edge.delivered_at)}" if edge.delivered_at else ""
        status = state.shown(edge.state, edge.delivered_at) if edge.from_unit == me else edge.state
        out.append(f"流转 {route}：{status}{note}{arrived}")
    if draft.incident:
        reports = emergency.thread(store, item.id)
        if len(reports) > 1:
            out.append("本事件报告：" + "　".join(f"{report(r)} {r.id}" for r in reports))
    for made in shown.instructions:
        due = (
            f"，{requests_text.when(made.deadline)}前反馈"
            if made.feedback and made.deadline
            else ""
        )
        out.append(
            f"批示 {made.leader}（{made.level}，{requests_text.when(made.at)}）：{made.text}{due}"
        )
    for fb in shown.feedback:
        where = f"（{fb.placement}）" if fb.placement else ""
        out.append(
            f"上级处理 {label(store, fb.by_unit)} {fb.state}{where}"
            f"　经 {fb.via}　{requests_text.when(fb.at)}"
        )
    out += verification_lines(store, shown.verifications)
    out += revision_lines(shown.revisions)
    for hint in shown.editorial:
        out.append(f"提示 {hint.message}")
    for other, score in shown.near[:5]:
        out.append(f"疑似重复 {other}（相似度 {score:.2f}）：可用 xinbao merge 综合")
    for held in shown.held:
        since = requests_text.when(held.since)
        if held.ceiling == outbox.HYBRID_WAIT:
            out.append(
                f"受阻 按加密策略本信息须用抗量子密钥加密，{label(store, held.peer)}的证书尚无"
                f"抗量子公钥，暂不能发出（自 {since}），待其更新证书后自动发出"
            )
            continue
        out.append(
            f"受阻 发往{label(store, held.peer)}的链路密级上限为{held.ceiling}，"
            f"本信息暂不能发出（自 {since}），等待合适链路"
        )
    out.append("记录：")
    for a in shown.audit:
        before = a.from_state.value if a.from_state else "—"
        where = "" if a.origin == "local" else f"（{label(store, a.origin)}）"
        line = f"  {requests_text.when(a.at)}  {a.actor}{where}  {before} → {a.to_state}  {a.note}"
        out.append(line.rstrip())
    return out


def verification_lines(store: Store, asked: list[Verification]) -> list[str]:
    """核实: each question asked of the item's source and its answer, in the order asked."""
    out: list[str] = []
    for v in asked:
        out.append(
            f"核实 {v.id} {label(store, v.asker)} {v.asked_by}（{requests_text.when(v.asked_at)}）"
            f"：{v.question}"
        )
        if v.answered_at is None:
            out.append(f"　　待{label(store, v.source)}答复，时限 {requests_text.when(v.deadline)}")
        else:
            out.append(
                f"　　{label(store, v.source)} {v.answered_by} 答复"
                f"（{requests_text.when(v.answered_at)}）：{v.answer}"
            )
    return out


FIELD_NAMES = {
    "title": "标题",
    "body": "正文",
    "category": "类别",
    "urgency": "紧急程度",
    "classification": "密级",
    "author": "执笔",
    "phone": "电话",
    "themes": "报送要点",
    "incident": "事件",
}


def revision_lines(revisions: list[dict[str, Any]]) -> list[str]:
    """What each later revision changed from the one before: the fields, and for the text
    the words deleted (－) and added (＋), as an editor marks up a draft."""
    out: list[str] = []
    for before, after in itertools.pairwise(revisions):
        old, new = before["content"], after["content"]
        changed = [k for k in FIELD_NAMES if old.get(k) != new.get(k)]
        head = f"第{after['revision']}稿　{after['editor']}　{after['at']}"
        out.append(
            head
            + ("　改动：" + "、".join(FIELD_NAMES[k] for k in changed) if changed else "　未改动")
        )
        for key in ("title", "body"):
            if key in changed:
                out += [
                    f"　　{FIELD_NAMES[key]}{d}"
                    for d in differences(str(old.get(key, "")), str(new.get(key, "")))
                ]
    return out


def differences(old: str, new: str, context: int = 6, limit: int = 8) -> list[str]:
    """Character-level changes between two texts (Chinese has no spaces to diff words by),
    each with a little context: ``…上下文［－旧］［＋新］上下文…``."""
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    found: list[str] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        before = old[max(0, i1 - context) : i1].replace("\n", " ")
        after = old[i2 : i2 + context].replace("\n", " ")
        gone = f"［－{old[i1:i2]}］" if i2 > i1 else ""
        came = f"［＋{new[j1:j2]}］" if j2 > j1 else ""
        found.append(f"：…{before}{gone}{came}{after}…")
        if len(found) == limit:
            found.append("：……（其余改动从略）")
            break
    return found


def report(item: Any) -> str:
    return str(item.draft.incident.report) if item.draft.incident else ""


def size(value: int) -> str:
    """A file size as desks read it."""
    amount = float(value)
    for unit in ("字节", "KB", "MB"):
        if amount < 1024:
            return f"{int(amount)} {unit}" if unit == "字节" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GB"


def label(store: Store, unit_id: str) -> str:
    """A unit's short name if known here, else its code."""
    unit = find_unit(store, unit_id)
    return unit.label if unit else unit_id
