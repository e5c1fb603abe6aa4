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
  instructed items came from, with the publication the item appeared in where this node
  knows it (:func:`read_in`);
* ``request_late`` / ``request_missed`` — from the completion matrix of this office's topic
  requests (missed once the deadline has passed); ``request_answered_adopted`` — a reply
  that was adopted here;
* ``emergency_late`` / ``emergency_missed`` / ``emergency_concealed`` / ``false_item`` — 迟报 /
  漏报 / 瞒报 / 误报 marks.

:func:`sync` keeps them in ``score_event``: new ones are added, and one that no longer holds
(an adoption undone, an item taken out of an issue) gets an ``undo`` event, so the ledger only
grows and a closed period reads the same later.
"""

from __future__ import annotations

import functools
import json
import tomllib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from schema import emergency, instruction
from schema import item as items
from schema import publication as pubs
from schema import request as requests
from schema.clock import from_text, to_text
from schema.datafile import data_text
from schema.error import NotFound
from schema.network import tier_of, units_below
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
    emergency.MarkKind.CONCEALED: K.EMERGENCY_CONCEALED,
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
                publication=read_in(store, me, made),
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


def read_in(store: Store, me: str, made: instruction.Instruction) -> str:
    """The publication the leader read the instructed item in: the issue it was written on;
    else, at the issuer, the last issue of the issuer's holding the item signed off by the
    time of the instruction (the first after it when none was); else the placement the issuer
    gave this office's item (the decision that came back down); "" when unknown."""
    found = store.one("SELECT publication FROM issue WHERE id = ?", (made.subject,))
    if found is not None:
        return str(found["publication"])
    marks = ",".join("?" * len(made.items))
    rows = store.query(
        f"SELECT i.publication, i.signed_at FROM issue_item x JOIN issue i ON i.id = x.issue_id "
        f"WHERE i.publisher = ? AND i.state = ? AND x.item_id IN ({marks}) ORDER BY i.signed_at",
        (made.issuer, pubs.ISSUED, *made.items),
    )
    if rows:
        before = [r for r in rows if from_text(r["signed_at"]) <= made.at]
        return str((before[-1] if before else rows[0])["publication"])
    placed = store.one(
        f"SELECT placement FROM edge WHERE from_unit = ? AND to_unit = ? AND placement != '' "
        f"AND item_id IN ({marks}) ORDER BY updated_at DESC LIMIT 1",
        (me, made.issuer, *made.items),
    )
    return str(placed["placement"]).split("/")[0] if placed is not None else ""


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
    adopted_items: int = 0  # this unit's items adopted in the period, each once

    @property
    def rate(self) -> Fraction | None:
        """录用率: items adopted in the period ÷ items submitted in it (None: none submitted)."""
        if not self.total.submitted:
            return None
        return Fraction(self.adopted_items, self.total.submitted)

    @property
    def rate_text(self) -> str:
        """录用率 as offices write it: 66.7%; — where nothing was submitted."""
        rate = self.rate
        if rate is None:
            return "—"
        exact = Decimal(rate.numerator * 100) / Decimal(rate.denominator)
        return f"{exact.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


@dataclass(frozen=True)
class Bulletin:
    office: str
    period: str
    rules: str
    rows: tuple[Row, ...]  # ranked by score
    silent: tuple[str, ...]  # units below with nothing submitted in the period
    # how the office issues it: the rules' [bulletin] table (number_prefix, main_to, cc, …)
    how: Mapping[str, Any] = field(default_factory=dict)

    @property
    def period_label(self) -> str:
        """2026年11月, 2026年第四季度, 2026年度."""
        return Period.parse(self.period).label


def compute(
    store: Store,
    me: str,
    period_text: str,
    now: datetime,
    rules: ScoringRules,
    events: list[Event] | None = None,
) -> Bulletin:
    """The bulletin of ``period_text`` (2026-11, 2026-Q4, 2026) by ``rules``; ``events``:
    what :func:`sync` returned just now, when the caller has it (not read twice)."""
    period = Period.parse(period_text)
    events = sync(store, me, now) if events is None else events
    entries = ledger(events, rules)
    below = units_below(store, me)
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
        items_adopted = {
            e.item or e.event
            for e in inside
            if e.unit == unit and e.kind is K.ADOPTED and e.event in live
        }
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
                len(items_adopted),
            )
        )
    rows.sort(key=lambda r: (-r.total.score, r.unit))
    submitted = {
        e.unit
        for e in events
        if e.kind is K.SUBMITTED and period.start <= e.at < period.end and e.id in live
    }
    silent = tuple(f"{_label(store, u)}（{u}）" for u in below if u not in submitted)
    return Bulletin(
        _label(store, me), period_text, rules.office, tuple(rows), silent, dict(rules.bulletin)
    )


def _live(events: list[Event]) -> set[str]:
    undone = {e.reverses for e in events if e.kind is K.UNDO}
    return {e.id for e in events if e.id not in undone}


def _label(store: Store, unit: str) -> str:
    row = store.one("SELECT name, short FROM unit WHERE id = ?", (unit,))
    return (row["short"] or row["name"]) if row else unit


LEVELS = [Level.CENTRAL, Level.PROVINCE, Level.CITY, Level.COUNTY]


def to_markdown(b: Bulletin) -> str:
    """The bulletin as Markdown, with a bar per unit for the ranking."""
    top = max((r.total.score for r in b.rows), default=0) or 1
    out = [f"# {b.office}政务信息工作通报（{b.period_label}）", "", f"计分办法：{b.rules}", ""]
    out += ["## 得分排名", ""]
    out += ["| 名次 | 单位 | 得分 | |", "|---:|---|---:|---|"]
    for n, r in enumerate(b.rows, 1):
        bar = "█" * max(0, round(20 * r.total.score / top))
        out.append(f"| {n} | {r.label} | {format_points(r.total.score)} | {bar} |")
    out += ["", "## 采用与批示", ""]
    head = " | ".join(f"{lv.value}采用" for lv in LEVELS)
    out += [f"| 单位 | {head} | 批示 | 报送 | 录用率 |"]
    out += ["|---|" + "---:|" * (len(LEVELS) + 3)]
    for r in b.rows:
        counts = " | ".join(str(r.adopted.get(lv.value, 0)) for lv in LEVELS)
        out.append(
            f"| {r.label} | {counts} | {r.instructions} | {r.total.submitted} | {r.rate_text} |"
        )
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


def document_number(store: Store, b: Bulletin, year: int) -> str:
    """The bulletin's 发文字号 (同政办函〔2026〕12号): numbered per year in the order periods are
    first issued, the same number every time the same period is exported again; empty where
    the office's rules give no ``number_prefix``."""
    prefix = str(b.how.get("number_prefix", ""))
    if not prefix:
        return ""
    with store.write() as db:
        mine = f"bulletin-of/{b.rules}/{b.period}"
        row = db.execute("SELECT value FROM counter WHERE name = ?", [mine]).fetchone()
        if row is None:
            number = store.next_number(f"bulletin-number/{b.rules}/{year}")
            db.execute("INSERT INTO counter(name, value) VALUES (?, ?)", [mine, number])
        else:
            number = int(row[0])
    return f"{prefix}〔{year}〕{number}号"


def title(b: Bulletin) -> str:
    """关于2026年11月份全市政务信息工作情况的通报."""
    label = b.period_label
    if label.endswith("月"):
        label += "份"
    return f"关于{label}{b.how.get('scope', '')}政务信息工作情况的通报"


ATTACH_ROWS = 12  # tables longer than this go to 附件, after the body


def _tables(b: Bulletin) -> list[tuple[str, list[str], list[list[str]]]]:
    ranking = [
        [
            str(n),
            r.label,
            format_points(r.total.score),
            str(r.total.required),
            str(r.total.submitted),
            str(r.adopted_items),
            r.rate_text,
        ]
        for n, r in enumerate(b.rows, 1)
    ]
    adoption = [
        [r.label, *(str(r.adopted.get(lv.value, 0)) for lv in LEVELS), str(r.instructions)]
        for r in b.rows
    ]
    return [
        ("得分排名表", ["名次", "单位", "得分", "应报", "实报", "采用", "录用率"], ranking),
        ("采用与批示情况表", ["单位", *(f"{lv.value}采用" for lv in LEVELS), "批示"], adoption),
    ]


def _findings(b: Bulletin) -> list[str]:
    """What fell short, one paragraph each (none when all went well)."""
    out = []
    short = [r for r in b.rows if r.total.shortfall]
    if short:
        out.append(
            "报送任务未完成的单位："
            + "；".join(
                f"{r.label}应报{r.total.required}条、实报{r.total.submitted}条" for r in short
            )
            + "。"
        )
    asked = [r for r in b.rows if r.late_requests or r.missed_requests]
    if asked:
        out.append(
            "约稿逾期或未报的单位："
            + "；".join(
                f"{r.label}逾期{r.late_requests}次、未报{r.missed_requests}次"
                + ("（全年考核计零分）" if r.total.annual_zero else "")
                for r in asked
            )
            + "。"
        )
    flagged = [r for r in b.rows if r.emergencies]
    if flagged:
        out.append(
            "突发事件信息迟报、漏报、瞒报、误报的单位："
            + "；".join(
                r.label + "、".join(f"{k}{v}次" for k, v in sorted(r.emergencies.items()))
                for r in flagged
            )
            + "。"
        )
    if b.silent:
        out.append("本期未报送信息的单位：" + "、".join(b.silent) + "。")
    return out


ASKS = (
    "各单位要进一步提高对政务信息工作的认识，紧扣中心工作，提高信息报送的时效性和针对性。",
    "突发事件信息要严格按照时限要求报告，不得迟报、漏报、瞒报、误报。",
)


def to_docx(b: Bulletin, path: Path, *, number: str = "", issued: date | None = None) -> Path:
    """The bulletin as a 通报 on the GB/T 9704 page (atomically): the red 发文机关标志, the
    发文字号 over the red line, the title, 主送, the body (overall figures, the ranking and
    adoption tables — as 附件 when long —, what fell short, what is asked next), 落款 and
    成文日期, and the 版记 (抄送, 印发机关 and 印发日期). ``number``: its 发文字号
    (:func:`document_number`); ``issued``: the 成文日期 (today when absent)."""
    from schema.document import Paper

    issued = issued or date.today()
    when = f"{issued.year}年{issued.month}月{issued.day}日"
    issuer = str(b.how.get("issuer") or b.rules)
    paper = Paper()
    paper.masthead(issuer)
    paper.blank()
    if number:
        paper.body(number, indent=False, centred=True)
    else:
        paper.blank()
    paper.red_line()
    paper.blank()
    paper.title(title(b))
    paper.blank()
    if b.how.get("main_to"):
        paper.body(f"{b.how['main_to']}：", indent=False)
    units = len(b.rows)
    submitted = sum(r.total.submitted for r in b.rows)
    adopted = sum(sum(r.adopted.values()) for r in b.rows)
    instructed = sum(r.instructions for r in b.rows)
    paper.body(
        f"{b.period_label}，各单位围绕中心工作积极报送政务信息。按照{b.rules}政务信息工作"
        "考核计分办法，现将有关情况通报如下："
    )
    paper.heading("一、总体情况")
    paper.body(
        f"纳入考核的{units}个单位共报送信息{submitted}条，被各级采用{adopted}条次，"
        f"获领导批示{instructed}次。"
    )
    tables = _tables(b)
    attached = units > ATTACH_ROWS
    paper.heading("二、得分和采用情况")
    if attached:
        paper.body("各单位得分排名和采用、批示情况见附件1、附件2。")
    else:
        for name, header, rows in tables:
            paper.caption(name)
            paper.table(header, rows)
    paper.heading("三、存在的问题")
    for text in _findings(b) or ["本期各单位均按要求完成报送任务。"]:
        paper.body(text)
    paper.heading("四、下一步要求")
    for n, text in enumerate(b.how.get("asks") or ASKS, 1):
        paper.body(f"（{'一二三四五六七八九十'[n - 1] if n <= 10 else n}）{text}")
    if attached:
        paper.blank()
        paper.body(f"附件：1．{tables[0][0]}", indent=True)
        paper.body(f"　　　2．{tables[1][0]}", indent=True)
    paper.blank()
    paper.right(issuer)
    paper.right(when)
    if attached:
        for n, (name, header, rows) in enumerate(tables, 1):
            paper.page_break()
            paper.heading(f"附件{n}", level=0)
            paper.title(name)
            paper.table(header, rows)
    paper.blank()
    colophon: list[str | tuple[str, str]] = []
    if b.how.get("read_by"):
        colophon.append(f"送：{b.how['read_by']}。")
    if b.how.get("cc"):
        colophon.append(f"抄送：{b.how['cc']}。")
    colophon.append((issuer, f"{when}印发"))
    paper.colophon(colophon)
    return paper.save(path)


def to_xlsx(b: Bulletin, path: Path) -> Path:
    """The bulletin's tables as a spreadsheet (atomically): a sheet each for the ranking and
    the adoptions, a header row, numbers as numbers (points exact to two decimals)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    first = True
    for name, header, rows in _tables(b):
        sheet = book.active if first else book.create_sheet()
        first = False
        sheet.title = name
        sheet.append([f"{title(b)}：{name}"])
        sheet.append(header)
        for cell in sheet[2]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append([_number(v) for v in row])
        if "录用率" in header:  # kept as a fraction, shown as 66.7%
            column = header.index("录用率") + 1
            for cells in sheet.iter_rows(min_row=3, min_col=column, max_col=column):
                cells[0].number_format = "0.0%"
        sheet.column_dimensions["B" if name == "得分排名表" else "A"].width = 24
    tmp = path.with_name(f".{path.name}.part")
    book.save(str(tmp))
    tmp.replace(path)
    return path


def _number(text: str) -> int | float | str:
    """A table cell as a spreadsheet keeps it: counts and points as numbers (a rate as its
    fraction, shown as a percentage by the cell's format)."""
    if text.endswith("%"):
        try:
            return float(text[:-1]) / 100
        except ValueError:
            return text
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text
