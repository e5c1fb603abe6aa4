"""Bulletins (通报): the scoring events an office reads from its store, kept append-only, and
the period report — ranking, adoptions by level, instructions, quotas, requests, emergencies
and coverage (纵向到底、横向到边: every unit below with nothing submitted is named).

Events come from what the store records (``events_from``):

* ``submitted`` — every item received here, for the sender (quotas);
* ``adopted`` — an item placed in an issue this office signed off, at this office's level,
  for the units the item came from (a forward or merge credits its sources: 合报 when several);
  and an item this office sent up that a higher office published (the decision on its edge
  names the issue), at that office's level, marked forwarded when it was made from lower units'
  items;
* ``instruction`` — every instruction held here, at the leader's level, for the units the
  instructed items came from;
* ``request_late`` / ``request_missed`` — from the completion matrix of this office's topic
  requests (missed once the deadline has passed); ``request_answered_adopted`` — a reply
  that was adopted here;
* ``emergency_late`` / ``emergency_missed`` / ``false_item`` — 迟报 / 漏报 and 瞒报 / 误报 marks.

:func:`sync` keeps them in ``score_event``: new ones are added, and one that no longer holds
(an adoption undone, an item taken out of an issue) gets an ``undo`` event, so the ledger only
grows and a closed period reads the same later.
"""

from __future__ import annotations

import functools
import json
import tomllib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from schema import emergency, instruction
from schema import item as items
from schema import publication as pubs
from schema import request as requests
from schema.clock import from_text, to_text
from schema.datafile import data_text
from schema.error import NotFound
from schema.network import tier_of
from schema.scoring import (
    Event,
    EventKind,
    Level,
    Period,
    ScoringRules,
    Total,
    format_points,
    ledger,
    shipped_rule_sets,
    totals,
)
from schema.store import Store
from schema.vocabulary import EdgeState, Tier

K = EventKind
_LEVEL_OF_TIER = {
    Tier.COUNTY: Level.COUNTY,
    Tier.CITY: Level.CITY,
    Tier.PROVINCE: Level.PROVINCE,
    Tier.CENTRAL: Level.CENTRAL,
}
_MARKS = {
    emergency.MarkKind.LATE: K.EMERGENCY_LATE,
    emergency.MarkKind.MISSED: K.EMERGENCY_MISSED,
    emergency.MarkKind.CONCEALED: K.EMERGENCY_MISSED,
    emergency.MarkKind.FALSE: K.FALSE_ITEM,
}
_QUOTA_TYPE = {Tier.COUNTY: "county", Tier.DEPARTMENT: "department", Tier.TOWNSHIP: "township"}


@functools.cache
def default_rule_set() -> str:
    """The rule set a node scores by unless told (``schema/data/scoring.toml``)."""
    raw, _ = data_text("scoring.toml")
    return str(tomllib.loads(raw)["rules"])


def load_rules(name_or_path: str = "") -> ScoringRules:
    """A shipped rule set by name (datong-city, shanxi-province, county-office) or a file."""
    name = name_or_path or default_rule_set()
    shipped = shipped_rule_sets()
    if name in shipped:
        return ScoringRules.load(shipped[name])
    path = Path(name)
    if not path.is_file():
        raise NotFound(f"没有计分办法“{name}”（可用：{'、'.join(sorted(shipped))}，或文件路径）")
    return ScoringRules.load(path)


# -- events from the store --------------------------------------------------------------------


def credited(store: Store, item_id: str) -> list[str]:
    """The units an item's credit flows to: the origins of the items it was made from, down
    to those made from nothing (its own origin when it was made from nothing)."""
    leaves: list[str] = []
    for current in instruction.chain(store, [item_id]):
        if store.one("SELECT 1 FROM source WHERE item_id = ? LIMIT 1", (current,)) is None:
            unit = instruction.origin_of(current)
            if unit not in leaves:
                leaves.append(unit)
    return leaves or [instruction.origin_of(item_id)]


def _credit(store: Store, me: str, item_id: str) -> tuple[str, tuple[str, ...]]:
    units = [u for u in credited(store, item_id) if u != me] or [instruction.origin_of(item_id)]
    return units[0], tuple(units[1:])


def events_from(store: Store, me: str, now: datetime) -> list[Event]:
    """Every scoring event the store shows now (see the module docstring)."""
    found: list[Event] = []
    my_level = _LEVEL_OF_TIER.get(tier_of(store, me) or Tier.DEPARTMENT)
    # submissions
    for row in store.query(
        "SELECT e.item_id, e.from_unit, MIN(a.at) AS at FROM edge e JOIN audit a "
        "ON a.edge_id = e.id WHERE e.to_unit = ? GROUP BY e.id",
        (me,),
    ):
        found.append(
            Event(
                f"sub:{row['item_id']}>{me}",
                row["from_unit"],
                K.SUBMITTED,
                from_text(row["at"]),
                item=row["item_id"],
            )
        )
    # adoptions in this office's signed-off issues
    if my_level is not None:
        for row in store.query(
            "SELECT x.item_id, i.id, i.publication, i.signed_at FROM issue_item x "
            "JOIN issue i ON i.id = x.issue_id WHERE i.publisher = ? AND i.state = ?",
            (me, pubs.ISSUED),
        ):
            if items.get(store, row["item_id"]).origin == me and not _derived(store, row):
                continue  # this office's own writing is not scored here
            lead, joint = _credit(store, me, row["item_id"])
            found.append(
                Event(
                    f"adopt:{row['item_id']}@{row['id']}",
                    lead,
                    K.ADOPTED,
                    from_text(row["signed_at"]),
                    item=row["item_id"],
                    level=my_level,
                    publication=row["publication"],
                    joint=joint,
                )
            )
    # this office's items published higher up
    for row in store.query(
        "SELECT item_id, to_unit, placement, updated_at FROM edge "
        "WHERE from_unit = ? AND placement != '' AND state IN (?, ?, ?, ?, ?)",
        (me, *(s.value for s in _PUBLISHED)),
    ):
        level = _LEVEL_OF_TIER.get(tier_of(store, row["to_unit"]) or Tier.DEPARTMENT)
        if level is None:
            continue
        lead, joint = _credit(store, me, row["item_id"])
        found.append(
            Event(
                f"adopt:{row['item_id']}@{row['to_unit']}:{row['placement']}",
                lead,
                K.ADOPTED,
                from_text(row["updated_at"]),
                item=row["item_id"],
                level=level,
                publication=row["placement"].split("/")[0],
                joint=joint,
                forwarded=bool(
                    store.one("SELECT 1 FROM source WHERE item_id = ? LIMIT 1", (row["item_id"],))
                ),
            )
        )
    # instructions
    for made in instruction.all_instructions(store):
        subject = made.items[0] if made.items else ""
        if not subject or items.find(store, subject) is None:
            continue
        lead, joint = _credit(store, me, subject)
        found.append(
            Event(
                f"instr:{made.id}",
                lead,
                K.INSTRUCTION,
                made.at,
                item=subject,
                level=made.level,
                joint=joint,
            )
        )
    # topic requests issued here
    for row in store.query(
        "SELECT id FROM request WHERE issuer = ? AND state = ?",
        (me, requests.RequestState.ISSUED.value),
    ):
        request = requests.get(store, row["id"])
        if request.draft.kind != requests.TOPIC:
            continue
        for status in requests.matrix(store, request.id, now):
            key = f"{request.id}:{status.unit}"
            if status.outcome is requests.Outcome.MISSING:
                found.append(
                    Event(f"rq-missed:{key}", status.unit, K.REQUEST_MISSED, request.draft.deadline)
                )
            elif status.outcome is requests.Outcome.LATE and status.answered_at:
                found.append(
                    Event(f"rq-late:{key}", status.unit, K.REQUEST_LATE, status.answered_at)
                )
            for reply in status.replies:
                edge = store.one(
                    "SELECT state, updated_at FROM edge WHERE item_id = ? AND to_unit = ?",
                    (reply, me),
                )
                if edge and EdgeState(edge["state"]) in _ADOPTED:
                    found.append(
                        Event(
                            f"rq-adopted:{key}:{reply}",
                            status.unit,
                            K.REQUEST_ANSWERED_ADOPTED,
                            from_text(edge["updated_at"]),
                            item=reply,
                        )
                    )
    # emergency marks
    for mark in emergency.marks(store):
        found.append(
            Event(f"mark:{mark.id}", mark.unit, _MARKS[mark.kind], mark.at, item=mark.item_id)
        )
    return found


_ADOPTED = frozenset(
    {
        EdgeState.ADOPTED,
        EdgeState.PLACED,
        EdgeState.ISSUED,
        EdgeState.FORWARDED,
        EdgeState.INSTRUCTED,
        EdgeState.FEEDBACK,
        EdgeState.CLOSED,
    }
)
_PUBLISHED = (
    EdgeState.ISSUED,
    EdgeState.INSTRUCTED,
    EdgeState.FEEDBACK,
    EdgeState.CLOSED,
    EdgeState.FORWARDED,
)


def _derived(store: Store, row: dict[str, Any]) -> bool:
    return store.one("SELECT 1 FROM source WHERE item_id = ?", (row["item_id"],)) is not None


# -- the kept events ------------------------------------------------------------------------------


def sync(store: Store, me: str, now: datetime) -> list[Event]:
    """Add new events to ``score_event`` and an ``undo`` for every kept one that no longer
    holds; every kept event, in order."""
    current = {e.id: e for e in events_from(store, me, now)}
    with store.write() as db:
        kept = {r[0]: r[1] for r in db.execute("SELECT id, kind FROM score_event").fetchall()}
        undone = {r[0] for r in db.execute("SELECT reverses FROM score_event WHERE reverses != ''")}
        rows = [_row(e) for e in current.values() if e.id not in kept]
        for event_id, kind in kept.items():
            if kind == K.UNDO.value or event_id in current or event_id in undone:
                continue
            undo = Event(f"undo:{event_id}", "", K.UNDO, now, reverses=event_id)
            rows.append(_row(undo))
        db.conn.executemany(
            "INSERT INTO score_event(id, kind, unit, at, item, level, publication, joint, "
            "forwarded, reverses) VALUES (?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
    return kept_events(store)


def kept_events(store: Store) -> list[Event]:
    return [
        Event(
            r["id"],
            r["unit"],
            EventKind(r["kind"]),
            from_text(r["at"]),
            item=r["item"],
            level=Level(r["level"]) if r["level"] else None,
            publication=r["publication"],
            joint=tuple(json.loads(r["joint"])),
            forwarded=Level(r["forwarded"])
            if r["forwarded"] not in ("", "0", "1")
            else r["forwarded"] == "1",
            reverses=r["reverses"],
        )
        for r in store.query("SELECT * FROM score_event ORDER BY at, id")
    ]


def _row(e: Event) -> tuple[Any, ...]:
    forwarded = e.forwarded.value if isinstance(e.forwarded, Level) else str(int(e.forwarded))
    return (
        e.id,
        e.kind.value,
        e.unit,
        to_text(e.at),
        e.item,
        e.level.value if e.level else "",
        e.publication,
        json.dumps(list(e.joint)),
        forwarded,
        e.reverses,
    )


# -- the bulletin ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    unit: str
    label: str
    total: Total
    adopted: dict[str, int]  # level → adoptions in the period
    instructions: int
    late_requests: int
    missed_requests: int
    emergencies: dict[str, int]  # 迟报/漏报/瞒报/误报 → count in the period


@dataclass(frozen=True)
class Bulletin:
    office: str
    period: str
    rules: str
    rows: tuple[Row, ...]  # ranked by score
    silent: tuple[str, ...]  # units below with nothing submitted in the period


def compute(
    store: Store, me: str, period_text: str, now: datetime, rules: ScoringRules
) -> Bulletin:
    """The bulletin of ``period_text`` (2026-11, 2026-Q4, 2026) by ``rules``."""
    period = Period.parse(period_text)
    events = sync(store, me, now)
    entries = ledger(events, rules)
    below = _units_below(store, me)
    kinds = {r["id"]: r["kind"] for r in store.query("SELECT id, kind FROM unit")}
    types = {
        u: "resident" if kinds.get(u) == "驻地单位" else _QUOTA_TYPE.get(t, "")
        for u, t in below.items()
    }
    result = totals(entries, events, rules, period.start, period.end, types)
    inside = [e for e in entries if period.start <= e.at < period.end]
    live = _live(events)
    marks = [m for m in emergency.marks(store, period.start, period.end)]
    rows = []
    for unit, total in result.items():
        adopted = Counter(
            e.level.value
            for e in inside
            if e.unit == unit and e.kind is K.ADOPTED and e.level and e.event in live
        )
        instructed = sum(
            1 for e in inside if e.unit == unit and e.kind is K.INSTRUCTION and e.event in live
        )
        late = sum(1 for e in inside if e.unit == unit and e.kind is K.REQUEST_LATE)
        missed = sum(1 for e in inside if e.unit == unit and e.kind is K.REQUEST_MISSED)
        rows.append(
            Row(
                unit,
                _label(store, unit),
                total,
                dict(adopted),
                instructed,
                late,
                missed,
                dict(Counter(m.kind.value for m in marks if m.unit == unit)),
            )
        )
    rows.sort(key=lambda r: (-r.total.score, r.unit))
    submitted = {
        e.unit
        for e in events
        if e.kind is K.SUBMITTED and period.start <= e.at < period.end and e.id in live
    }
    silent = tuple(f"{_label(store, u)}（{u}）" for u in below if u not in submitted)
    return Bulletin(_label(store, me), period_text, rules.office, tuple(rows), silent)


def _live(events: list[Event]) -> set[str]:
    undone = {e.reverses for e in events if e.kind is K.UNDO}
    return {e.id for e in events if e.id not in undone}


def _units_below(store: Store, me: str) -> dict[str, Tier]:
    """Every unit known here below this office (townships, departments, …), with its tier."""
    rows = store.query("SELECT id, tier, parent FROM unit")
    parent = {r["id"]: r["parent"] for r in rows}
    tiers = {r["id"]: Tier(r["tier"]) for r in rows}
    out = {}
    for unit in parent:
        up, depth = parent.get(unit, ""), 0
        while up and depth < 16:
            if up == me:
                out[unit] = tiers[unit]
                break
            up, depth = parent.get(up, ""), depth + 1
    return dict(sorted(out.items()))


def _label(store: Store, unit: str) -> str:
    row = store.one("SELECT name, short FROM unit WHERE id = ?", (unit,))
    return (row["short"] or row["name"]) if row else unit


LEVELS = [Level.CENTRAL, Level.PROVINCE, Level.CITY, Level.COUNTY]


def to_markdown(b: Bulletin) -> str:
    """The bulletin as Markdown, with a bar per unit for the ranking."""
    top = max((r.total.score for r in b.rows), default=0) or 1
    out = [f"# {b.office}政务信息工作通报（{b.period}）", "", f"计分办法：{b.rules}", ""]
    out += ["## 得分排名", ""]
    out += ["| 名次 | 单位 | 得分 | |", "|---:|---|---:|---|"]
    for n, r in enumerate(b.rows, 1):
        bar = "█" * max(0, round(20 * r.total.score / top))
        out.append(f"| {n} | {r.label} | {format_points(r.total.score)} | {bar} |")
    out += ["", "## 采用与批示", ""]
    out += ["| 单位 | " + " | ".join(f"{lv.value}采用" for lv in LEVELS) + " | 批示 |"]
    out += ["|---|" + "---:|" * (len(LEVELS) + 1)]
    for r in b.rows:
        counts = " | ".join(str(r.adopted.get(lv.value, 0)) for lv in LEVELS)
        out.append(f"| {r.label} | {counts} | {r.instructions} |")
    short = [r for r in b.rows if r.total.shortfall]
    out += ["", "## 报送任务未完成", ""]
    out += [
        f"- {r.label}：应报 {r.total.required} 条，实报 {r.total.submitted} 条，"
        f"差 {r.total.shortfall} 条"
        for r in short
    ] or ["（无）"]
    asked = [r for r in b.rows if r.late_requests or r.missed_requests]
    out += ["", "## 约稿逾期与未报", ""]
    out += [
        f"- {r.label}：逾期 {r.late_requests} 次，未报 {r.missed_requests} 次"
        + ("（全年考核计零分）" if r.total.annual_zero else "")
        for r in asked
    ] or ["（无）"]
    flagged = [r for r in b.rows if r.emergencies]
    out += ["", "## 突发事件信息迟报、漏报、瞒报、误报", ""]
    out += [
        f"- {r.label}：" + "，".join(f"{k} {v} 次" for k, v in sorted(r.emergencies.items()))
        for r in flagged
    ] or ["（无）"]
    out += ["", "## 本期未报送信息的单位（纵向到底、横向到边）", ""]
    out += ["、".join(b.silent) if b.silent else "（无）", ""]
    return "\n".join(out)


def to_docx(b: Bulletin, path: Path) -> Path:
    """The bulletin as a .docx file (atomically)."""
    from docx import Document

    doc = Document()
    doc.add_heading(f"{b.office}政务信息工作通报（{b.period}）", level=1)
    doc.add_paragraph(f"计分办法：{b.rules}")
    doc.add_heading("得分排名", level=2)
    table = doc.add_table(rows=1, cols=3)
    for cell, text in zip(table.rows[0].cells, ("名次", "单位", "得分"), strict=True):
        cell.text = text
    for n, r in enumerate(b.rows, 1):
        cells = table.add_row().cells
        cells[0].text, cells[1].text, cells[2].text = str(n), r.label, format_points(r.total.score)
    for line in to_markdown(b).split("## 采用与批示", 1)[1].splitlines()[1:]:
        if line.startswith("## "):
            doc.add_heading(line[3:], level=2)
        elif line.strip() and not line.startswith("|---"):
            doc.add_paragraph(line.strip("|- ").replace(" | ", "　"))
    tmp = path.with_name(f".{path.name}.part")
    doc.save(str(tmp))
    tmp.replace(path)
    return path
