"""Emergencies (突发事件): report deadlines, what is due or overdue at a desk, report threads,
and the marks an upper desk records against a unit (迟报/漏报/瞒报/误报).

Deadlines are data (``schema/data/emergency.toml``): per rule set, lines of (severities,
receiving tier, channel, minutes after the event). Where several apply, the earliest counts.
A first report that reaches a tier after its written deadline is marked 迟报 automatically
when it is applied (:func:`on_arrival`); the others are recorded by a desk (:func:`mark`).
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from schema import item as items
from schema.clock import from_text, to_text
from schema.datafile import data_text
from schema.error import NotFound, ValidationError
from schema.limit import check_text
from schema.network import find_unit, tier_of
from schema.record import Incident, Item
from schema.store import Store
from schema.vocabulary import EdgeState, Severity, Tier, Vocabulary

FIRST = "首报"
LATE_BY = {"arrival": "送达", "signoff": "签发"}
LINK_WINDOW = timedelta(hours=2)  # a written 首报 follows the phone report of an event this near
FINAL = "终报"
UNSENT = (EdgeState.DRAFT, EdgeState.AWAITING_SIGNOFF, EdgeState.RETURNED)


class Channel(Vocabulary):
    """How a report reaches the next tier."""

    PHONE = "电话"
    WRITTEN = "书面"


class MarkKind(Vocabulary):
    """What an upper desk records against a unit's emergency reporting."""

    LATE = "迟报"
    MISSED = "漏报"
    CONCEALED = "瞒报"
    FALSE = "误报"


@dataclass(frozen=True)
class DeadlineLine:
    rule: str
    severities: frozenset[Severity]  # empty: every severity
    tier: Tier | None  # None: any receiving tier
    channel: Channel
    minutes: int

    def applies(self, severity: Severity, tier: Tier, channel: Channel) -> bool:
        return (
            channel is self.channel
            and (not self.severities or severity in self.severities)
            and (self.tier is None or self.tier is tier)
        )


@dataclass(frozen=True)
class EmergencyRules:
    """The deadline lines of the active rule sets."""

    lines: tuple[DeadlineLine, ...]
    warn: timedelta
    watch: timedelta  # how long an unsent 首报 stays on the board after it was made
    descriptions: dict[str, str]
    # which time counts for a written report's lateness: "arrival" (when it reached this
    # node) or "signoff" (when the sender signed it off: an air-gapped report travels later)
    late_by: str = "arrival"

    @classmethod
    def load(cls, path: Path | None = None, active: Iterable[str] | None = None) -> EmergencyRules:
        """The rules in ``path`` (default: the shipped ones), with ``active`` rule sets (default:
        the file's ``active``)."""
        text, _ = data_text("emergency.toml", path)
        data = tomllib.loads(text)
        sets = data.get("rules", {})
        chosen = list(active if active is not None else data.get("active", []))
        lines: list[DeadlineLine] = []
        for name in chosen:
            if name not in sets:
                raise ValidationError("active", f"没有名为“{name}”的时限规定")
            for n, raw in enumerate(sets[name].get("deadline", []), 1):
                where = f"rules.{name}.deadline[{n}]"
                minutes = raw.get("minutes")
                if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes <= 0:
                    raise ValidationError(f"{where}.minutes", "应为大于 0 的分钟数")
                lines.append(
                    DeadlineLine(
                        rule=name,
                        severities=frozenset(
                            Severity.parse(s, f"{where}.severity") for s in raw.get("severity", [])
                        ),
                        tier=Tier.parse(raw["tier"], f"{where}.tier") if raw.get("tier") else None,
                        channel=Channel.parse(raw.get("channel", "书面"), f"{where}.channel"),
                        minutes=minutes,
                    )
                )
        late_by = str(data.get("late_by", "arrival"))
        if late_by not in LATE_BY:
            raise ValidationError("late_by", "应为 " + "、".join(LATE_BY) + " 之一")
        return cls(
            lines=tuple(lines),
            warn=timedelta(minutes=int(data.get("warn_minutes", 30))),
            watch=timedelta(days=int(data.get("watch_days", 7))),
            descriptions={k: str(v.get("description", "")) for k, v in sets.items()},
            late_by=late_by,
        )

    def limit(self, severity: Severity, tier: Tier, channel: Channel) -> DeadlineLine | None:
        """The line that sets the deadline (the shortest that applies), if any."""
        found = [line for line in self.lines if line.applies(severity, tier, channel)]
        return min(found, key=lambda line: line.minutes) if found else None

    def deadline(self, incident: Incident, tier: Tier, channel: Channel) -> datetime | None:
        """When a first report of ``incident`` must have reached ``tier`` by ``channel``."""
        line = self.limit(incident.severity, tier, channel)
        return None if line is None else incident.occurred_at + timedelta(minutes=line.minutes)


@functools.cache
def shipped_rules() -> EmergencyRules:
    """The shipped rules with their default active sets (read once)."""
    return EmergencyRules.load()


@dataclass(frozen=True)
class Due:
    """A first report this desk still owes a tier (or owed it and sent late)."""

    item_id: str
    title: str
    severity: Severity
    occurred_at: datetime
    to_unit: str
    channel: Channel
    deadline: datetime
    status: str  # 超时 overdue / 即将超时 due soon / 待报 not yet due
    why: str  # 本单位首报 (own report) or 须续报上级 (a received report to pass up)


@dataclass(frozen=True)
class Mark:
    id: int
    unit: str
    kind: MarkKind
    item_id: str
    note: str
    actor: str
    at: datetime
    auto: bool


# -- deadlines at a desk ----------------------------------------------------------------------


def due(store: Store, me: str, parent: str, now: datetime, rules: EmergencyRules) -> list[Due]:
    """First reports this node still owes, most pressing first: its own 首报 not yet sent to
    a recipient, and received 首报 it has not yet passed up to ``parent`` (a city owes the
    province what a county reported)."""
    found: list[Due] = []
    # only reports made within the watch span: an item is made after its event, so anything
    # older is long past every deadline (a 漏报 to mark, not a countdown) — and a store of
    # years is not read item by item on every look at the board
    since = to_text(now - rules.watch)
    rows = store.query(
        "SELECT e.item_id, e.to_unit, e.state FROM item i JOIN edge e ON e.item_id = i.id "
        "WHERE i.created_at >= ? AND i.incident IS NOT NULL AND e.from_unit = ?",
        (since, me),
    )
    for row in rows:
        if EdgeState(row["state"]) not in UNSENT:
            continue
        item = items.get(store, row["item_id"])
        found += _owed(store, item, row["to_unit"], now, rules, "本单位首报")
    if parent:
        received = store.query(
            "SELECT DISTINCT e.item_id FROM item i JOIN edge e ON e.item_id = i.id "
            "WHERE i.created_at >= ? AND i.incident IS NOT NULL AND e.to_unit = ?",
            (since, me),
        )
        for row in received:
            item = items.get(store, row["item_id"])
            if not _passed_up(store, item, me, parent):
                found += _owed(store, item, parent, now, rules, "须报上级")
    for report in phone_reports(store, now - rules.watch):
        if report.item_id or report.written_deadline is None:
            continue
        deadline = report.written_deadline
        status = (
            "超时" if now > deadline else "即将超时" if now >= deadline - rules.warn else "待报"
        )
        found.append(
            Due(
                "",
                f"{report.summary}（{report.caller}电话报告）",
                report.severity,
                report.occurred_at,
                report.unit,
                Channel.WRITTEN,
                deadline,
                status,
                "电话已报，待书面首报",
            )
        )
    found.sort(key=lambda d: (d.deadline, d.item_id))
    return found


def _owed(
    store: Store, item: Item, to: str, now: datetime, rules: EmergencyRules, why: str
) -> list[Due]:
    incident = item.draft.incident
    tier = tier_of(store, to)
    if incident is None or incident.report != FIRST or tier is None:
        return []
    out = []
    for channel in Channel:
        deadline = rules.deadline(incident, tier, channel)
        if deadline is None:
            continue
        status = _status(deadline, now, rules)
        out.append(
            Due(
                item.id,
                item.draft.title,
                incident.severity,
                incident.occurred_at,
                to,
                channel,
                deadline,
                status,
                why,
            )
        )
    return out


def _status(deadline: datetime, now: datetime, rules: EmergencyRules) -> str:
    if now > deadline:
        return "超时"
    return "即将超时" if now >= deadline - rules.warn else "待报"


def _passed_up(store: Store, item: Item, me: str, parent: str) -> bool:
    """Whether ``parent`` has the report: it was sent there too (skip-level), or an item of
    this node made from it (forward, merge) has been sent there."""
    direct = store.one("SELECT 1 FROM edge WHERE item_id = ? AND to_unit = ?", (item.id, parent))
    if direct:
        return True
    sent = [s.value for s in EdgeState if s not in UNSENT]
    marks = ",".join("?" * len(sent))
    # CROSS JOIN keeps the sources first: left to itself SQLite walked every edge this node
    # ever sent (edge_outbox) for each report — 2 ms each, seconds on the board
    row = store.one(
        "SELECT 1 FROM source s CROSS JOIN edge e ON e.item_id = s.item_id "
        f"WHERE s.source_id = ? AND e.from_unit = ? AND e.to_unit = ? AND e.state IN ({marks})",
        (item.id, me, parent, *sent),
    )
    return row is not None


def on_arrival(
    store: Store, item: Item, from_unit: str, me: str, at: datetime, rules: EmergencyRules
) -> Mark | None:
    """A report was received: if it is a 首报 past its written deadline for this tier, mark
    the sending unit 迟报 (once per item and unit). The time that counts is the arrival or
    the sender's sign-off (``late_by``: an air-gapped report may be carried hours after it
    was signed); the note gives both. A phone report of the same event from the same unit
    is linked to it."""
    incident = item.draft.incident
    tier = tier_of(store, me)
    if incident is None or incident.report != FIRST or tier is None:
        return None
    _link_phone(store, item, from_unit)
    deadline = rules.deadline(incident, tier, Channel.WRITTEN)
    if deadline is None:
        return None
    signed = item.signed_at or at
    counted = signed if rules.late_by == "signoff" else at
    if counted <= deadline:
        return None
    if store.one(
        "SELECT 1 FROM incident_mark WHERE item_id = ? AND unit = ? AND kind = ?",
        (item.id, from_unit, MarkKind.LATE.value),
    ):
        return None

    def late(when: datetime) -> str:
        minutes = int((when - deadline).total_seconds() // 60)
        return f"迟 {minutes} 分钟" if minutes > 0 else "未迟"

    note = f"书面报告应于 {to_text(deadline)} 前送达，迟 {late(counted).removeprefix('迟 ')}"
    if signed != at:
        note = (
            f"书面报告应于 {to_text(deadline)} 前送达：签发于 {to_text(signed)}（{late(signed)}），"
            f"送达于 {to_text(at)}（{late(at)}），按{LATE_BY[rules.late_by]}时间计"
        )
    return mark(store, from_unit, MarkKind.LATE, item.id, note, "系统", at, auto=True)


# -- phone reports ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PhoneReport:
    """A first report by telephone, taken at the receiving desk: who called from which
    unit, when, about what; it meets (or misses) the phone deadline of this tier, and a
    written 首报 must follow by the written one (linked when it arrives)."""

    id: int
    unit: str
    caller: str
    called_at: datetime
    severity: Severity
    occurred_at: datetime
    place: str
    summary: str
    taken_by: str
    taken_at: datetime
    phone_deadline: datetime | None
    written_deadline: datetime | None
    item_id: str = ""  # the written 首报 that followed, once it arrived

    @property
    def late_minutes(self) -> int:
        """How late the call was (0: in time, or no phone deadline applies)."""
        if self.phone_deadline is None or self.called_at <= self.phone_deadline:
            return 0
        return int((self.called_at - self.phone_deadline).total_seconds() // 60)


def record_phone(
    store: Store,
    me: str,
    unit: str,
    *,
    caller: str,
    called_at: datetime,
    severity: Severity,
    occurred_at: datetime,
    place: str,
    summary: str,
    actor: str,
    at: datetime,
    rules: EmergencyRules,
) -> PhoneReport:
    """Take a phone report from ``unit``: kept with the deadlines it answers to; a call past
    the phone deadline marks the unit 迟报 (电话)."""
    if not _met(store, unit):
        raise NotFound(f"本节点不知道单位 {unit}")
    for field, value, limit in (
        ("caller", caller, "author"),
        ("summary", summary, "note"),
        ("place", place, "incident.place"),
    ):
        if field != "place" and not value.strip():
            raise ValidationError(field, "来电人和报告内容须写明")
        try:
            check_text(limit, value)
        except ValidationError as exc:
            raise ValidationError(field, exc.reason) from exc
    if called_at > at + timedelta(minutes=5):
        raise ValidationError("called_at", "来电时间不能晚于现在")
    if occurred_at > called_at:
        raise ValidationError("occurred_at", "事发时间不能晚于来电时间")
    tier = tier_of(store, me)
    incident = Incident(severity=severity, occurred_at=occurred_at, place=place.strip())
    phone = rules.deadline(incident, tier, Channel.PHONE) if tier else None
    written = rules.deadline(incident, tier, Channel.WRITTEN) if tier else None
    with store.write() as db:
        cursor = db.execute(
            "INSERT INTO phone_report(unit, caller, called_at, severity, occurred_at, place, "
            "summary, taken_by, taken_at, phone_deadline, written_deadline) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                unit,
                caller.strip(),
                to_text(called_at),
                severity.value,
                to_text(occurred_at),
                place.strip(),
                summary.strip(),
                actor,
                to_text(at),
                to_text(phone) if phone else None,
                to_text(written) if written else None,
            ],
        )
        made = phone_report(store, int(cursor.lastrowid or 0))
        if made.late_minutes and made.phone_deadline is not None:
            note = (
                f"电话报告应于 {to_text(made.phone_deadline)} 前，{made.caller} "
                f"{to_text(called_at)} 来电，迟 {made.late_minutes} 分钟"
            )
            mark(store, unit, MarkKind.LATE, "", note, "系统", at, auto=True)
    return made


def _phone_from(row: dict[str, Any]) -> PhoneReport:
    def when(key: str) -> datetime | None:
        value = row[key]
        return from_text(str(value)) if value else None

    return PhoneReport(
        id=int(row["id"]),
        unit=str(row["unit"]),
        caller=str(row["caller"]),
        called_at=from_text(str(row["called_at"])),
        severity=Severity(str(row["severity"])),
        occurred_at=from_text(str(row["occurred_at"])),
        place=str(row["place"]),
        summary=str(row["summary"]),
        taken_by=str(row["taken_by"]),
        taken_at=from_text(str(row["taken_at"])),
        phone_deadline=when("phone_deadline"),
        written_deadline=when("written_deadline"),
        item_id=str(row["item_id"]),
    )


def phone_report(store: Store, report_id: int) -> PhoneReport:
    row = store.one("SELECT * FROM phone_report WHERE id = ?", (report_id,))
    if row is None:
        raise NotFound(f"没有编号为 {report_id} 的电话报告")
    return _phone_from(row)


def phone_reports(store: Store, since: datetime | None = None) -> list[PhoneReport]:
    """Phone reports taken here (since ``since``), newest call first."""
    rows = store.query(
        "SELECT * FROM phone_report WHERE called_at >= ? ORDER BY called_at DESC, id DESC",
        (to_text(since) if since else "",),
    )
    return [_phone_from(r) for r in rows]


def link_phone(store: Store, report_id: int, item_id: str) -> PhoneReport:
    """Link a phone report to the written 首报 that followed it (by hand)."""
    report = phone_report(store, report_id)
    item = items.find(store, item_id)
    if item is None or item.draft.incident is None or item.draft.incident.report != FIRST:
        raise ValidationError("item", f"{item_id} 不是本节点收到的突发事件首报")
    if item.origin != report.unit and not store.one(
        "SELECT 1 FROM edge WHERE item_id = ? AND from_unit = ?", (item_id, report.unit)
    ):
        raise ValidationError("item", f"{item_id} 不是 {report.unit} 报来的")
    with store.write() as db:
        db.execute("UPDATE phone_report SET item_id = ? WHERE id = ?", [item_id, report_id])
    return phone_report(store, report_id)


def _link_phone(store: Store, item: Item, from_unit: str) -> None:
    """The written 首报 from ``from_unit`` follows its phone report of the same event: the
    open report whose event time is nearest (within :data:`LINK_WINDOW`)."""
    incident = item.draft.incident
    assert incident is not None
    if store.one("SELECT 1 FROM phone_report WHERE item_id = ?", (item.id,)):
        return
    rows = store.query("SELECT * FROM phone_report WHERE unit = ? AND item_id = ''", (from_unit,))
    near = [
        r
        for r in map(_phone_from, rows)
        if abs(r.occurred_at - incident.occurred_at) <= LINK_WINDOW
    ]
    if near:
        best = min(near, key=lambda r: abs(r.occurred_at - incident.occurred_at))
        with store.write() as db:
            db.execute("UPDATE phone_report SET item_id = ? WHERE id = ?", [item.id, best.id])


# -- marks ------------------------------------------------------------------------------------


def mark(
    store: Store,
    unit: str,
    kind: MarkKind,
    item_id: str,
    note: str,
    actor: str,
    at: datetime,
    *,
    auto: bool = False,
) -> Mark:
    """Record 迟报/漏报/瞒报/误报 against ``unit`` (a note is required unless automatic)."""
    if not auto and not _met(store, unit):
        raise NotFound(f"本节点不知道单位 {unit}")
    if item_id and items.find(store, item_id) is None:
        raise NotFound(f"没有信息 {item_id}")
    if not auto and not note.strip():
        raise ValidationError("note", f"记录{kind}须写明情况")
    with store.write() as db:
        cursor = db.execute(
            "INSERT INTO incident_mark(unit, kind, item_id, note, actor, at, auto) "
            "VALUES (?,?,?,?,?,?,?)",
            [unit, kind.value, item_id, note.strip(), actor, to_text(at), int(auto)],
        )
        mark_id = int(cursor.lastrowid or 0)
    return Mark(mark_id, unit, kind, item_id, note.strip(), actor, at, auto)


def _met(store: Store, unit: str) -> bool:
    """Whether this node knows ``unit``: named in its units, or it sent us an item."""
    if find_unit(store, unit) is not None:
        return True
    return store.one("SELECT 1 FROM edge WHERE from_unit = ? LIMIT 1", (unit,)) is not None


def marks(store: Store, start: datetime | None = None, end: datetime | None = None) -> list[Mark]:
    """Marks recorded at this node, oldest first, within [start, end) when given."""
    rows = store.query("SELECT * FROM incident_mark ORDER BY at, id")
    out = [
        Mark(
            r["id"],
            r["unit"],
            MarkKind(r["kind"]),
            r["item_id"],
            r["note"],
            r["actor"],
            from_text(r["at"]),
            bool(r["auto"]),
        )
        for r in rows
    ]
    return [m for m in out if (start is None or m.at >= start) and (end is None or m.at < end)]


# -- threads -----------------------------------------------------------------------------------


def recent(store: Store, now: datetime, rules: EmergencyRules) -> list[list[Item]]:
    """The incidents reported within the watch span, newest event first, each as its thread
    of reports held here (首报, 续报 …, 终报) — the emergency board's second half."""
    rows = store.query(
        "SELECT id FROM item WHERE created_at >= ? AND incident IS NOT NULL",
        (to_text(now - rules.watch),),
    )
    threads: dict[str, list[Item]] = {}
    for row in rows:
        item = items.get(store, row["id"])
        incident = item.draft.incident
        assert incident is not None
        first = item.id if incident.report == FIRST or not incident.thread else incident.thread
        threads.setdefault(first, []).append(item)
    found = [
        sorted(reports, key=lambda i: (report_order(_report(i)), i.created_at))
        for reports in threads.values()
    ]
    return sorted(found, key=lambda t: _occurred(t[0]), reverse=True)


def _occurred(item: Item) -> datetime:
    return item.draft.incident.occurred_at if item.draft.incident else item.created_at


def thread(store: Store, item_id: str) -> list[Item]:
    """The reports on one incident held here, 首报 first, then 续报一, 续报二 … 终报."""
    item = items.get(store, item_id)
    incident = item.draft.incident
    if incident is None:
        raise ValidationError("incident", f"信息 {item_id} 不是突发事件")
    first = item_id if incident.report == FIRST or not incident.thread else incident.thread
    rows = store.query(
        "SELECT id FROM item WHERE id = ? OR json_extract(incident, '$.thread') = ?",
        (first, first),
    )
    found = [items.get(store, r["id"]) for r in rows]
    return sorted(found, key=lambda i: (report_order(_report(i)), i.created_at))


def _report(item: Item) -> str:
    return item.draft.incident.report if item.draft.incident else ""


_NUMERALS = "一二三四五六七八九十"


def report_order(report: str) -> int:
    """首报 0, 续报一 1, 续报二 2 … 终报 last."""
    if report == FIRST:
        return 0
    if report == FINAL:
        return 1000
    tail = report.removeprefix("续报")
    if tail and all(ch in _NUMERALS for ch in tail):
        if len(tail) == 1:
            return _NUMERALS.index(tail) + 1
        tens = _NUMERALS.index(tail[0]) + 1 if tail[0] != "十" else 1
        ones = _NUMERALS.index(tail[-1]) + 1 if tail[-1] != "十" else 0
        return tens * 10 + ones
    return 500


def check_thread(store: Store, incident: Incident) -> None:
    """A 续报 or 终报 names the 首报 it follows, and this node holds that 首报."""
    if incident.report == FIRST:
        return
    if not incident.thread:
        raise ValidationError("incident.thread", f"{incident.report}须填写首报的信息编号")
    first = items.find(store, incident.thread)
    if first is None or first.draft.incident is None:
        raise ValidationError("incident.thread", f"找不到首报 {incident.thread}")
