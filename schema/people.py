"""People, not only units: each writer's (执笔人) and each section's (科室) record for a period.

「表彰了政务信息工作先进集体和先进个人」「量化分解到办公室每一名文字秘书」「每月对科室报送信息采用
情况排名通报」: an office ranks the people who wrote what it received and its own 文字秘书, and
the sections of its own office, by the same rules it ranks units with.

* A writer is a name of an item's ``author`` (several are split at 、，; and spaces; what is
  in brackets is dropped), counted under the unit the item came from. Where that unit's 通讯录
  (schema/roster.py) names people, a name is matched to it; a name it does not list is still
  credited, flagged as such (``listed``), so nothing is lost to a typing slip.
* Points: every ledger row of the office's bulletin (schema/bulletin.py) that is about an
  item scores for the writers of the item its unit made (for a forward or merge, the source
  items of that unit, down the chain), shared equally among them. Rows about no item (a
  missed topic request, a mark) stay with the unit.
* Counts: items submitted (received here in the period, or this office's own signed off in
  it), adoptions by level and instructions, as in the bulletin; 录用率 from them.
* Tasks: a roster person's ``per_month`` (set by the office for its 文字秘书) gives a writer a
  monthly number; a section's ``per_month`` (``xinbao section``) one for the section.
* A section is named on the item (``section``), else the writer's section in the roster.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

from schema import bulletin, instruction
from schema import item as items
from schema.clock import to_text
from schema.error import NotFound, ValidationError
from schema.limit import check_text
from schema.scoring import Event, EventKind, Period, ScoringRules, ledger
from schema.store import Store

K = EventKind
SPLIT = re.compile(r"[、，,；;\s/]+")
BRACKETS = re.compile(r"[（(][^）)]*[）)]")


@dataclass
class Row:
    """One writer (``name`` under ``unit``) or one section (``name``, ``unit`` this office)."""

    unit: str
    label: str
    name: str
    listed: bool = True  # in the unit's 通讯录 (a section: one the office keeps)
    submitted: int = 0
    adopted: dict[str, int] = field(default_factory=dict)  # level → adoptions
    adopted_items: int = 0
    instructions: int = 0
    points: Fraction = Fraction(0)
    required: int = 0  # the period's task (per_month × months), 0: none set

    @property
    def shortfall(self) -> int:
        return max(0, self.required - self.submitted)

    @property
    def rate_text(self) -> str:
        if not self.submitted:
            return "—"
        return f"{100 * self.adopted_items / self.submitted:.1f}%"


def names(author: str) -> list[str]:
    """The people an ``author`` field names: 张三、李四（区政府办） → [张三, 李四]."""
    return [n for n in SPLIT.split(BRACKETS.sub("", author)) if n]


# -- sections ----------------------------------------------------------------------------------


def add_section(store: Store, name: str, per_month: int = 0) -> None:
    """Add (or change the task of) a section of this office."""
    name = name.strip()
    if not name:
        raise ValidationError("name", "科室名称不能为空")
    check_text("name", name)
    if per_month < 0:
        raise ValidationError("per_month", "每月任务不能为负数")
    with store.write() as db:
        db.execute(
            "INSERT INTO section(name, per_month) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET per_month = excluded.per_month",
            [name, per_month],
        )


def remove_section(store: Store, name: str) -> None:
    with store.write() as db:
        if db.execute("DELETE FROM section WHERE name = ?", [name.strip()]).rowcount == 0:
            raise NotFound(f"没有科室“{name.strip()}”")


def sections(store: Store) -> dict[str, int]:
    """This office's sections and their monthly tasks, by name."""
    return {r["name"]: r["per_month"] for r in store.query("SELECT * FROM section ORDER BY name")}


def check_section(store: Store, name: str) -> None:
    """Refuse an item's ``section`` this office does not keep."""
    if name and name not in sections(store):
        known = "、".join(sections(store)) or "（尚未设置，见 xinbao section add）"
        raise ValidationError("section", f"本单位没有科室“{name}”，可选：{known}")


# -- the tables ----------------------------------------------------------------------------------


def _leaves(store: Store, item_id: str, unit: str) -> list[str]:
    """The items ``unit`` made that ``item_id`` is (or was made from)."""
    mine = [i for i in instruction.chain(store, [item_id]) if instruction.origin_of(i) == unit]
    return mine[:1] if mine and mine[0] == item_id else mine


def _writers(store: Store, item_id: str, unit: str) -> list[str]:
    found: list[str] = []
    for leaf in _leaves(store, item_id, unit):
        held = items.find(store, leaf)
        if held is not None:
            found += [n for n in names(held.draft.author) if n not in found]
    return found


def _section(store: Store, item_id: str, unit: str, roster_sections: dict[str, str]) -> str:
    for leaf in _leaves(store, item_id, unit):
        held = items.find(store, leaf)
        if held is None:
            continue
        if held.draft.section:
            return held.draft.section
        for name in names(held.draft.author):
            if roster_sections.get(name):
                return roster_sections[name]
    return ""


def tables(
    store: Store,
    me: str,
    period_text: str,
    now: datetime,
    rules: ScoringRules,
    events: list[Event] | None = None,
) -> tuple[list[Row], list[Row]]:
    """The writers' and this office's sections' rows for ``period_text``, each ranked by
    points (then submissions, then name); ``events`` as for :func:`bulletin.compute`."""
    period = Period.parse(period_text)
    events = bulletin.sync(store, me, now) if events is None else events
    entries = [e for e in ledger(events, rules) if period.start <= e.at < period.end]
    undone = {e.reverses for e in events if e.kind is K.UNDO}
    live = {e.id for e in events if e.id not in undone}
    label = {r["id"]: r["short"] or r["name"] for r in store.query("SELECT * FROM unit")}
    listed: dict[str, dict[str, int]] = defaultdict(dict)  # unit → name → per_month
    roster_sections: dict[str, str] = {}
    for r in store.query("SELECT unit, name, per_month, section FROM roster"):
        listed[r["unit"]][r["name"]] = r["per_month"]
        if r["unit"] == me and r["section"]:
            roster_sections[r["name"]] = r["section"]
    kept = sections(store)
    people: dict[tuple[str, str], Row] = {}
    parts: dict[str, Row] = {}

    def writer(unit: str, name: str) -> Row:
        key = (unit, name)
        if key not in people:
            known = listed.get(unit, {})
            people[key] = Row(unit, label.get(unit, unit), name, not known or name in known)
            people[key].required = known.get(name, 0) * len(period.months)
        return people[key]

    def section(name: str) -> Row:
        if name not in parts:
            parts[name] = Row(me, label.get(me, me), name, name in kept)
            parts[name].required = kept.get(name, 0) * len(period.months)
        return parts[name]

    def credit(unit: str, item_id: str) -> tuple[list[Row], Row | None]:
        found = [writer(unit, n) for n in _writers(store, item_id, unit)]
        part = _section(store, item_id, me, roster_sections) if unit == me else ""
        return found, (section(part) if part else None)

    adopted: dict[int, set[str]] = defaultdict(set)  # id(row) → items adopted
    for entry in entries:
        if not entry.item:
            continue
        rows, part = credit(entry.unit, entry.item)
        targets = [*rows, *([part] if part else [])]
        for row in rows:
            row.points += entry.points / len(rows)
        if part is not None:
            part.points += entry.points
        if entry.event not in live or entry.kind is K.UNDO:
            continue
        for row in targets:
            if entry.kind is K.ADOPTED and entry.level is not None:
                row.adopted = dict(Counter(row.adopted) + Counter({entry.level.value: 1}))
                adopted[id(row)].add(entry.item)
            elif entry.kind is K.INSTRUCTION:
                row.instructions += 1
    for event in events:
        if event.kind is K.SUBMITTED and event.id in live and period.start <= event.at < period.end:
            for row in credit(event.unit, event.item)[0]:
                row.submitted += 1
    for r in store.query(
        "SELECT id FROM item WHERE origin = ? AND signed_at >= ? AND signed_at < ?",
        (me, to_text(period.start), to_text(period.end)),
    ):
        rows, part = credit(me, r["id"])
        for row in [*rows, *([part] if part else [])]:
            row.submitted += 1
    for unit, known in listed.items():  # a writer with a task shows even with nothing done
        for name, per_month in known.items():
            if per_month:
                writer(unit, name)
    for name in kept:
        section(name)
    for row in [*people.values(), *parts.values()]:
        row.adopted_items = len(adopted[id(row)])

    def rank(rows: list[Row]) -> list[Row]:
        return sorted(rows, key=lambda r: (-r.points, -r.submitted, r.unit, r.name))

    return rank(list(people.values())), rank(list(parts.values()))


def to_markdown(rows: list[Row], heading: str, *, sections: bool = False) -> str:
    """A ranking of writers (or of sections) as Markdown: points, submissions, adoptions by
    level, 录用率, instructions and the task where one is set."""
    from schema.bulletin import LEVELS
    from schema.scoring import format_points

    who = ["科室"] if sections else ["姓名", "单位"]
    head = [*who, "得分", "报送", *(f"{lv.value}采用" for lv in LEVELS), "录用率", "批示", "任务"]
    out = [f"# {heading}", "", "| 名次 | " + " | ".join(head) + " |"]
    out.append("|---:|" + "---|" * len(who) + "---:|" * (len(head) - len(who)))
    for n, r in enumerate(rows, 1):
        name = r.name if r.listed else f"{r.name}（{'未设科室' if sections else '未在通讯录'}）"
        cells = [name] if sections else [name, r.label]
        task = f"{r.required}（差{r.shortfall}）" if r.shortfall else (str(r.required) or "—")
        cells += [
            format_points(r.points),
            str(r.submitted),
            *(str(r.adopted.get(lv.value, 0)) for lv in LEVELS),
            r.rate_text,
            str(r.instructions),
            task if r.required else "—",
        ]
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    if not rows:
        out.append("（本期无）")
    return "\n".join(out) + "\n"
