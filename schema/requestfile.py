"""A topic request (约稿通知) or reporting priorities (报送要点) as a document to print: Markdown,
or .docx on the GB/T 9704 page (:mod:`schema.document`) — markings top left, the issuing unit
in red over the red line with the request's number, the title, 主送 (its targets), the guidance,
the deadline and scoring terms, the contact, 落款 and 成文日期, and the 版记."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from schema.clock import CHINA
from schema.issuefile import marks
from schema.network import find_unit
from schema.request import PRIORITIES, Request
from schema.store import Store

# how 主送 names every unit of a tier (a selector such as all:county:140200)
GROUPS = {
    "province": "各省（区、市）",
    "city": "各市",
    "county": "各县（区）",
    "township": "各乡镇（街道）",
    "department": "各部门",
    "correspondent": "各信息直报点",
}


def _name(store: Store, unit: str) -> str:
    found = find_unit(store, unit)
    return found.name if found else unit


def _targets(store: Store, request: Request) -> str:
    """The targets as 主送 names them: a unit's name, or the group a selector means."""
    names = []
    for target in request.draft.targets:
        if target.startswith("all:"):  # all:county:140200 — every unit of a tier below one
            tier = target.split(":")[1]
            names.append(GROUPS.get(tier, "各单位"))
        else:
            names.append(_name(store, target))
    return "，".join(dict.fromkeys(names))


def markings(request: Request) -> list[str]:
    """密级 and 紧急程度, top left in that order (no 份号: a request is not numbered copies)."""
    return marks(request.classification, request.draft.urgency)


def title(request: Request) -> str:
    topic = request.draft.topic
    if request.draft.kind == PRIORITIES:
        return topic if "要点" in topic else f"关于{topic}的报送要点"
    return f"关于报送{topic}有关情况的约稿通知"


def _when(at: datetime) -> str:
    local = at.astimezone(CHINA)
    return f"{local.year}年{local.month}月{local.day}日{local.hour}时" + (
        f"{local.minute}分" if local.minute else ""
    )


def _day(at: datetime) -> str:
    local = at.astimezone(CHINA)
    return f"{local.year}年{local.month}月{local.day}日"


def body(request: Request) -> list[str]:
    """The paragraphs under 主送: the guidance, then the deadline, scoring and contact."""
    d = request.draft
    out = [p.strip() for p in d.guidance.splitlines() if p.strip()]
    out.append(f"请于{_when(d.deadline)}前报送。无相关情况的，请作零报告。")
    if d.points:
        where = f"被《{d.publication}》采用的" if d.publication else "被采用的"
        out.append(f"{where}，每条计{d.points}分。")
    if d.penalty:
        out.append(f"逾期未报的，扣{d.penalty}分。")
    if d.contact:
        out.append(f"联系人：{d.contact}")
    return out


def to_markdown(store: Store, request: Request) -> str:
    out = [*(f"{m}  " for m in markings(request)), ""] if markings(request) else []
    issuer = _name(store, request.issuer)
    out += [f"**{issuer}**", "", request.number, "", f"# {title(request)}", ""]
    out += [f"{_targets(store, request)}：", ""]
    out += [*(f"{p}\n" for p in body(request))]
    out += [issuer, "", _day(request.signed_at or request.created_at), ""]
    return "\n".join(out)


def to_docx(store: Store, request: Request, path: Path) -> Path:
    """The request on the GB/T 9704 page (atomically); the path written."""
    issuer = _name(store, request.issuer)
    dated = _day(request.signed_at or request.created_at)
    from schema.document import Paper  # python-docx loads only for a .docx

    paper = Paper()
    paper.markings(markings(request))
    paper.masthead(issuer)
    paper.blank()
    paper.body(request.number, indent=False, centred=True)
    paper.red_line()
    paper.blank()
    paper.title(title(request))
    paper.blank()
    paper.body(f"{_targets(store, request)}：", indent=False)
    for text in body(request):
        paper.body(text)
    paper.blank()
    paper.right(issuer)
    paper.right(dated)
    paper.blank()
    paper.colophon([(issuer, f"{dated}印发")])
    return paper.save(path)
