"""Scoring (考核计分): a pure rules engine over plain event lists.

An office's rules (考核计分办法) are data: a TOML file per office, three shipped in
``fixtures/scoring`` (:func:`shipped_rule_sets`), read by :meth:`ScoringRules.load` into a typed,
validated structure. Nothing here touches the store: the caller turns what happened (an
adoption, an instruction, a missed topic request, …) into :class:`Event` values, and

* :func:`ledger` turns events into ledger rows (:class:`Entry`), one per (event, unit), each
  with exact points (:class:`~fractions.Fraction`) and a Chinese explanation;
* :func:`totals` sums the rows of a period per unit and applies the monthly base points, the
  annual cap, the "missed requests zero the year" rule and the monthly quotas.

Decisions where the rules leave room (also in the docstrings below):

* Points are exact fractions: 10 points split three ways is 10/3 to each unit and the three
  rows sum to exactly 10. Rounding happens only when shown (:func:`format_points`: two
  decimals, halves away from zero).
* The ledger is append-only and causal: events are processed in order of (``at``, ``id``) and a
  row depends only on earlier events, so the ledger of a prefix of the events is a prefix of the
  ledger. A reversal (``undo``) never edits a row: it appends correcting rows, dated at the undo.
* "Only the highest" (``publications_add_up = false``) groups adoptions by (item, level, credited
  unit): each adopting tier is its own office with its own publications, so a provincial and a
  central adoption of one item both count, but 每日要情 and 专报 of the province count once.
  The first adoption of a group is credited in full; a later higher one is credited the
  difference; a later lower one scores 0. "Highest" compares the unit's final points (after the
  forward multiplier and the joint share). Undoing a member recomputes the group and appends
  the difference.
* "Instructions at one level count once" (``instructions_same_level_once``) groups instructions
  the same way, by (item, level, credited unit).
* A joint report (``joint``) credits the event's ``unit`` (the lead) and every unit in ``joint``.
  With ``joint_split_equally`` each gets an equal share; without it the lead scores in full and
  the others get a 0-point row (合报信息由牵头单位计分). Joint applies to credit only (adoption,
  instruction, answered request) and, for quotas, to submissions.
* An instruction scores its level's points, or the points of the publication the instructed
  item appeared in when the rules list that (level, publication): a city leader's instruction
  on a 专报 item may be worth more than one on a 每日要情 item.
* 瞒报 (``emergency_concealed``) is its own penalty; rules that list only ``emergency_missed``
  score it as a 漏报 and say so.
* The forward multiplier applies to adoptions only, for the level the item was adopted at
  (``forwarded=True``) or the level given (``forwarded=Level.CENTRAL``). The rule files carry
  multipliers for province and central only; forwarded adoptions at other levels score their
  plain points (多乘 1, "按相应分值计分").
* An event the rules give no points for (a city adoption under provincial rules, a county
  instruction where none is listed) yields a 0-point row saying so, rather than an error: the
  store reports what happened, the office's rules decide what it is worth.
* The annual cap and "≥ N missed requests zero the year" decide the *annual* score, so they
  change the score only for a calendar-year period; in a month or quarter :class:`Total` only
  flags that the year's score will be zero. The cap applies to points plus base points; the
  zero rule overrides the cap.
* Quotas are per month: a quarter's shortfall is the sum of each month's shortfall (a good month
  does not make up a bad one). A joint submission counts for every unit of it.
* Counts (submissions, missed requests) ignore events reversed by an undo at or before the end
  of the period, so a bulletin re-run later for a closed period gives the same counts.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType
from typing import Any, Self

from schema.clock import CHINA
from schema.datafile import fixtures_dir
from schema.error import ValidationError, reason
from schema.vocabulary import Level, Vocabulary

# -- vocabulary ----------------------------------------------------------------------------------


class UnitType(Vocabulary):
    """The kind of unit a quota (报送任务) is set for."""

    COUNTY = "县（区）"
    DEPARTMENT = "部门"
    RESIDENT = "驻地单位"
    TOWNSHIP = "乡镇"

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {
            "县": "县（区）",
            "区": "县（区）",
            "县区": "县（区）",
            "委办局": "部门",
            "乡": "乡镇",
            "镇": "乡镇",
            "街道": "乡镇",
        }


class EventKind(StrEnum):
    """What happened; the values are the words the store and the rule files use."""

    SUBMITTED = "submitted"
    ADOPTED = "adopted"
    INSTRUCTION = "instruction"
    REQUEST_ANSWERED_ADOPTED = "request_answered_adopted"
    REQUEST_MISSED = "request_missed"
    REQUEST_LATE = "request_late"
    FALSE_ITEM = "false_item"
    EMERGENCY_LATE = "emergency_late"
    EMERGENCY_MISSED = "emergency_missed"
    EMERGENCY_CONCEALED = "emergency_concealed"
    UNDO = "undo"

    @classmethod
    def parse(cls, value: object, field: str = "kind") -> EventKind:
        """The kind named by ``value`` (its English word)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            for member in cls:
                if value.strip().lower() == member.value:
                    return member
        allowed = "、".join(m.value for m in cls)
        raise ValidationError(field, f"“{value}”不是有效的事件类型，可选：{allowed}")

    @property
    def label(self) -> str:
        """The Chinese name used in explanations."""
        return _KIND_LABELS[self]


_KIND_LABELS = {
    EventKind.SUBMITTED: "报送信息",
    EventKind.ADOPTED: "信息被采用",
    EventKind.INSTRUCTION: "领导批示",
    EventKind.REQUEST_ANSWERED_ADOPTED: "约稿信息被采用",
    EventKind.REQUEST_MISSED: "漏报约稿",
    EventKind.REQUEST_LATE: "迟报约稿",
    EventKind.FALSE_ITEM: "报送虚假信息",
    EventKind.EMERGENCY_LATE: "紧急信息迟报",
    EventKind.EMERGENCY_MISSED: "紧急信息漏报",
    EventKind.EMERGENCY_CONCEALED: "紧急信息瞒报",
    EventKind.UNDO: "撤销",
}

# Rule-file event names of the [[request]] and [[penalty]] tables, and the kinds they score.
_REQUEST_EVENTS = {
    "answered_adopted": EventKind.REQUEST_ANSWERED_ADOPTED,
    "missed": EventKind.REQUEST_MISSED,
    "late": EventKind.REQUEST_LATE,
}
_PENALTY_EVENTS = {
    "false_item": EventKind.FALSE_ITEM,
    "emergency_late": EventKind.EMERGENCY_LATE,
    "emergency_missed": EventKind.EMERGENCY_MISSED,
    "emergency_concealed": EventKind.EMERGENCY_CONCEALED,
}
_CREDITS = {EventKind.REQUEST_ANSWERED_ADOPTED}  # the one request event that must not be negative
_JOINT_KINDS = {
    EventKind.SUBMITTED,
    EventKind.ADOPTED,
    EventKind.INSTRUCTION,
    EventKind.REQUEST_ANSWERED_ADOPTED,
}
_ADOPTION_LEVELS = (Level.CITY, Level.PROVINCE, Level.CENTRAL)
_FORWARD_LEVELS = {Level.PROVINCE: "province", Level.CENTRAL: "central"}


def format_points(value: Fraction) -> str:
    """Points as shown to people: an integer as is, else two decimals (halves away from zero)."""
    if value.denominator == 1:
        return str(value.numerator)
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    text = str(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    return text.rstrip("0").rstrip(".")


# -- rules ---------------------------------------------------------------------------------------

_TOP_KEYS = {"office", "description", "switches", "adoption", "instruction", "request", "bulletin"}
# the [bulletin] table: how this office's 通报 is issued (all optional text)
BULLETIN_KEYS = {
    "number_prefix": "发文字号的机关代字，如 同政办函",
    "main_to": "主送机关，如 各县（区）人民政府办公室，市直各部门",
    "cc": "抄送，如 市委办公室",
    "issuer": "印发机关（默认为使用本办法的单位）",
    "scope": "标题中的范围，如 全市（关于2026年11月份全市政务信息工作情况的通报）",
    "asks": "下一步要求，每条一段（列表）",
    "read_by": "送阅领导，如 市委、市政府主要领导（通报签发后送阅）",
    "supervise_days": "督办整改的答复期限（天，整数）",
}
_TOP_KEYS |= {"penalty", "quota"}
_SWITCH_KEYS = (
    "publications_add_up",
    "instructions_same_level_once",
    "joint_split_equally",
    "forward_multiplier_province",
    "forward_multiplier_central",
    "monthly_base",
    "annual_cap",
    "missed_requests_annual_zero",
)


@dataclass(frozen=True)
class Switches:
    """The ``[switches]`` table: where offices differ beyond the point tables."""

    publications_add_up: bool
    instructions_same_level_once: bool
    joint_split_equally: bool
    forward_multiplier_province: Fraction
    forward_multiplier_central: Fraction
    monthly_base: Fraction
    annual_cap: Fraction  # 0: no cap
    missed_requests_annual_zero: int  # 0: off

    def forward_multiplier(self, level: Level) -> Fraction | None:
        """The multiplier for an item forwarded and adopted at ``level``; None if none is set."""
        if level is Level.PROVINCE:
            return self.forward_multiplier_province
        if level is Level.CENTRAL:
            return self.forward_multiplier_central
        return None


@dataclass(frozen=True)
class ScoringRules:
    """One office's scoring rules (考核计分办法), typed and validated."""

    office: str
    description: str
    switches: Switches
    adoption: Mapping[tuple[Level, str], Fraction]  # (level, publication) → points
    instruction: Mapping[Level, Fraction]
    # (level, publication) → points for an instruction on an item that appeared in it (rows of
    # [[instruction]] naming a publication); the level's own row for every other publication
    instruction_in: Mapping[tuple[Level, str], Fraction]
    fixed: Mapping[EventKind, Fraction]  # the [[request]] and [[penalty]] tables by event kind
    quota: Mapping[UnitType, int]  # items required per month
    source: str = ""
    # how the office issues its 通报: number_prefix, main_to, cc, issuer, asks (see
    # BULLETIN_KEYS); absent keys leave those parts out
    bulletin: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def load(cls, path: Path) -> ScoringRules:
        """Read and validate a rule file; a bad value raises :class:`ValidationError` naming it."""
        try:
            data = tomllib.loads(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ValidationError("", f"无法读取计分办法 {path}：{reason(exc)}") from exc
        try:
            return cls.parse(data, source=str(path))
        except ValidationError as exc:
            raise ValidationError(exc.field, f"{exc.reason}（计分办法 {path.name}）") from exc

    @classmethod
    def parse(cls, data: Mapping[str, Any], source: str = "") -> ScoringRules:
        """Validate a mapping with the keys of ``fixtures/scoring/*.toml``."""
        _no_unknown(data, _TOP_KEYS, "")
        office = data.get("office")
        if not isinstance(office, str) or not office.strip():
            raise ValidationError("office", "应为使用本办法的单位名称（文字）")
        description = data.get("description", "")
        if not isinstance(description, str):
            raise ValidationError("description", f"应为文字，实际为 {_type(description)}")
        return cls(
            office=office.strip(),
            description=description,
            switches=_switches(data.get("switches")),
            adoption=MappingProxyType(_adoptions(data)),
            instruction=MappingProxyType(_instructions(data)[0]),
            instruction_in=MappingProxyType(_instructions(data)[1]),
            fixed=MappingProxyType(
                _events(data, "request", _REQUEST_EVENTS)
                | _events(data, "penalty", _PENALTY_EVENTS)
            ),
            quota=MappingProxyType(_quotas(data)),
            source=source,
            bulletin=MappingProxyType(_bulletin(data.get("bulletin", {}))),
        )


def _bulletin(value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError("bulletin", "应为表（[bulletin]）")
    _no_unknown(value, set(BULLETIN_KEYS), "bulletin.")
    out: dict[str, Any] = {}
    for key, v in value.items():
        if key == "asks":
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise ValidationError("bulletin.asks", "应为文字列表")
            out[key] = tuple(x.strip() for x in v if x.strip())
        elif key == "supervise_days":
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 365:
                raise ValidationError("bulletin.supervise_days", "应为 1 到 365 的整数")
            out[key] = v
        elif not isinstance(v, str):
            raise ValidationError(f"bulletin.{key}", f"应为文字，实际为 {_type(v)}")
        else:
            out[key] = v.strip()
    return out


def shipped_rule_sets() -> dict[str, Path]:
    """The shipped rule files in ``fixtures/scoring`` (installed with the package data, see
    :func:`schema.datafile.fixtures_dir`), by file stem."""
    root = fixtures_dir() / "scoring"
    return {p.stem: p for p in sorted(root.glob("*.toml"))}


def _switches(value: object) -> Switches:
    if not isinstance(value, Mapping):
        raise ValidationError("switches", "缺少 [switches] 表")
    _no_unknown(value, set(_SWITCH_KEYS), "switches.")
    missing = [k for k in _SWITCH_KEYS if k not in value]
    if missing:
        raise ValidationError(f"switches.{missing[0]}", "缺少此项")

    def flag(key: str) -> bool:
        v = value[key]
        if not isinstance(v, bool):
            raise ValidationError(f"switches.{key}", f"应为 true 或 false，实际为 {_type(v)}")
        return v

    return Switches(
        publications_add_up=flag("publications_add_up"),
        instructions_same_level_once=flag("instructions_same_level_once"),
        joint_split_equally=flag("joint_split_equally"),
        forward_multiplier_province=_number(
            value["forward_multiplier_province"], "switches.forward_multiplier_province", ">0"
        ),
        forward_multiplier_central=_number(
            value["forward_multiplier_central"], "switches.forward_multiplier_central", ">0"
        ),
        monthly_base=_number(value["monthly_base"], "switches.monthly_base", ">=0"),
        annual_cap=_number(value["annual_cap"], "switches.annual_cap", ">=0"),
        missed_requests_annual_zero=_count(
            value["missed_requests_annual_zero"], "switches.missed_requests_annual_zero"
        ),
    )


def _rows(
    data: Mapping[str, Any], table: str, keys: set[str], optional: frozenset[str] = frozenset()
) -> list[tuple[str, Mapping[str, Any]]]:
    """The ``[[table]]`` rows with their key prefix (``adoption[2].``); every key required
    but the ``optional`` ones."""
    rows = data.get(table, [])
    if not isinstance(rows, list):
        raise ValidationError(table, f"应写作 [[{table}]] 表的列表")
    out: list[tuple[str, Mapping[str, Any]]] = []
    for n, row in enumerate(rows, 1):
        prefix = f"{table}[{n}]."
        if not isinstance(row, Mapping):
            raise ValidationError(f"{table}[{n}]", "应为表")
        _no_unknown(row, keys | optional, prefix)
        for key in sorted(keys):
            if key not in row:
                raise ValidationError(prefix + key, "缺少此项")
        out.append((prefix, row))
    return out


def _adoptions(data: Mapping[str, Any]) -> dict[tuple[Level, str], Fraction]:
    out: dict[tuple[Level, str], Fraction] = {}
    for prefix, row in _rows(data, "adoption", {"level", "publication", "points"}):
        level = Level.parse(row["level"], prefix + "level")
        if level not in _ADOPTION_LEVELS:
            allowed = "、".join(m.name.lower() for m in _ADOPTION_LEVELS)
            raise ValidationError(prefix + "level", f"采用计分的层级应为 {allowed}")
        publication = row["publication"]
        if not isinstance(publication, str) or not publication.strip():
            raise ValidationError(prefix + "publication", "应为刊物名称（文字）")
        key = (level, publication.strip())
        if key in out:
            raise ValidationError(prefix + "publication", f"{level}《{key[1]}》重复规定")
        out[key] = _number(row["points"], prefix + "points", ">=0")
    return out


def _instructions(
    data: Mapping[str, Any],
) -> tuple[dict[Level, Fraction], dict[tuple[Level, str], Fraction]]:
    """The [[instruction]] rows: by level, and by (level, publication) for the rows that name
    the publication the instructed item appeared in."""
    plain: dict[Level, Fraction] = {}
    named: dict[tuple[Level, str], Fraction] = {}
    rows = data.get("instruction", [])
    for n, row in enumerate(rows if isinstance(rows, list) else [], 1):
        if isinstance(row, Mapping) and "publication" in row:
            publication = row["publication"]
            if not isinstance(publication, str) or not publication.strip():
                raise ValidationError(f"instruction[{n}].publication", "应为刊物名称（文字）")
    for prefix, row in _rows(data, "instruction", {"level", "points"}, frozenset({"publication"})):
        level = Level.parse(row["level"], prefix + "level")
        points = _number(row["points"], prefix + "points", ">=0")
        if "publication" in row:
            key = (level, row["publication"].strip())
            if key in named:
                raise ValidationError(prefix + "publication", f"{level}《{key[1]}》批示重复规定")
            named[key] = points
            continue
        if level in plain:
            raise ValidationError(prefix + "level", f"{level}批示重复规定")
        plain[level] = points
    return plain, named


def _events(
    data: Mapping[str, Any], table: str, names: Mapping[str, EventKind]
) -> dict[EventKind, Fraction]:
    out: dict[EventKind, Fraction] = {}
    for prefix, row in _rows(data, table, {"event", "points"}):
        name = row["event"]
        if name not in names:
            allowed = "、".join(names)
            raise ValidationError(prefix + "event", f"“{name}”不是有效值，可选：{allowed}")
        kind = names[name]
        if kind in out:
            raise ValidationError(prefix + "event", f"{name} 重复规定")
        out[kind] = _number(row["points"], prefix + "points", ">=0" if kind in _CREDITS else "<=0")
    return out


def _quotas(data: Mapping[str, Any]) -> dict[UnitType, int]:
    out: dict[UnitType, int] = {}
    for prefix, row in _rows(data, "quota", {"unit_type", "per_month"}):
        unit_type = UnitType.parse(row["unit_type"], prefix + "unit_type")
        if unit_type in out:
            raise ValidationError(prefix + "unit_type", f"{unit_type}的报送任务重复规定")
        out[unit_type] = _count(row["per_month"], prefix + "per_month")
    return out


def _number(value: object, key: str, sign: str) -> Fraction:
    """An int or float from TOML as an exact fraction (0.1 is 1/10, not the binary float)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(key, f"应为数字，实际为 {_type(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(key, f"应为有限的数字，实际为 {value}")
    number = Fraction(repr(value)) if isinstance(value, float) else Fraction(value)
    wanted = {">0": "大于 0 的数", ">=0": "不小于 0 的数", "<=0": "不大于 0 的数（扣分写负数）"}
    ok = {">0": number > 0, ">=0": number >= 0, "<=0": number <= 0}
    if not ok[sign]:
        raise ValidationError(key, f"应为{wanted[sign]}，实际为 {value}")
    return number


def _count(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(key, f"应为不小于 0 的整数，实际为 {value!r}")
    return value


def _no_unknown(data: Mapping[str, Any], keys: set[str], prefix: str) -> None:
    unknown = sorted(set(data) - keys)
    if unknown:
        allowed = "、".join(sorted(keys))
        raise ValidationError(prefix + unknown[0], f"未知字段（可用字段：{allowed}）")


def _type(value: object) -> str:
    return type(value).__name__


# -- events and the ledger -----------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """Something that happened and may score, as the caller reads it from the store.

    ``unit`` is the credited or penalised unit (for a joint report, the lead unit). ``item``
    groups events of one information item ("only the highest", "instructions once"); when it is
    empty the event is a group of its own. ``level`` is required for an adoption or an
    instruction, ``publication`` for an adoption (for an instruction it names the publication
    the item appeared in, when known: rules may score that). ``joint`` lists the units of a
    joint report (合报; the lead may be listed too). ``forwarded`` marks an adoption of an
    item forwarded by an intermediate office: ``True`` for the multiplier of ``level``, or the
    level whose multiplier applies. An ``undo`` names the event it reverses in ``reverses``;
    its other fields are ignored. Strings are accepted for ``kind``, ``level`` and
    ``forwarded``.
    """

    id: str
    unit: str
    kind: EventKind
    at: datetime
    item: str = ""
    level: Level | None = None
    publication: str = ""
    joint: tuple[str, ...] = ()
    forwarded: bool | Level = False
    reverses: str = ""

    def __post_init__(self) -> None:
        kind = EventKind.parse(self.kind, "kind")
        set_ = object.__setattr__
        set_(self, "kind", kind)
        if not isinstance(self.id, str) or not self.id.strip():
            raise ValidationError("id", "事件应有编号")
        where = f"事件 {self.id}"
        if not isinstance(self.at, datetime) or self.at.tzinfo is None:
            raise ValidationError("at", f"{where}：时间应带时区，如 2026-11-21T15:00:00+08:00")
        if self.level is not None:
            set_(self, "level", Level.parse(self.level, "level"))
        if not isinstance(self.forwarded, bool):
            set_(self, "forwarded", Level.parse(self.forwarded, "forwarded"))
        set_(self, "joint", tuple(self.joint))
        if kind is EventKind.UNDO:
            if not self.reverses:
                raise ValidationError("reverses", f"{where}：撤销事件应指明撤销哪个事件")
            return
        if self.reverses:
            raise ValidationError("reverses", f"{where}：只有撤销（undo）事件可指明 reverses")
        if not self.unit:
            raise ValidationError("unit", f"{where}：应指明计分单位")
        if kind in (EventKind.ADOPTED, EventKind.INSTRUCTION) and self.level is None:
            raise ValidationError("level", f"{where}：{kind.label}应指明层级")
        if kind is EventKind.ADOPTED and not self.publication:
            raise ValidationError("publication", f"{where}：信息被采用应指明刊物")
        if self.forwarded is not False and kind is not EventKind.ADOPTED:
            raise ValidationError("forwarded", f"{where}：只有信息被采用可标注经转报")
        if self.joint and kind not in _JOINT_KINDS:
            raise ValidationError("joint", f"{where}：{kind.label}不能按合报计")

    @property
    def units(self) -> tuple[str, ...]:
        """The lead unit, then the other units of a joint report, each once."""
        return tuple(dict.fromkeys((self.unit, *self.joint)))


@dataclass(frozen=True)
class Entry:
    """One ledger row: the points ``event`` gives or takes from ``unit``, and why.

    Rows of an undo carry ``kind`` UNDO, the reversed event in ``reverses`` and its item, level
    and publication.
    """

    event: str
    unit: str
    at: datetime
    kind: EventKind
    points: Fraction
    explanation: str
    item: str = ""
    level: Level | None = None
    publication: str = ""
    reverses: str = ""


@dataclass
class _Credit:
    """What an active event contributes: its group and its points per unit."""

    event: Event
    group: tuple[str, ...]
    best_of: bool  # the group counts its highest member, not the sum
    values: dict[str, Fraction]
    texts: dict[str, str]


@dataclass
class _Ledger:
    rules: ScoringRules
    active: dict[str, _Credit] = field(default_factory=dict)
    groups: dict[tuple[str, ...], list[str]] = field(default_factory=dict)
    kinds: dict[str, EventKind] = field(default_factory=dict)  # every event seen
    undone: set[str] = field(default_factory=set)

    def apply(self, event: Event) -> list[Entry]:
        if event.id in self.kinds:
            raise ValidationError("id", f"事件编号 {event.id} 重复")
        self.kinds[event.id] = event.kind
        if event.kind is EventKind.UNDO:
            return self._undo(event)
        if event.kind is EventKind.SUBMITTED:
            return []  # scores nothing itself; counted for quotas by totals()
        credit = self._credit(event)
        before = self._group_totals(credit.group)
        self.active[event.id] = credit
        self.groups.setdefault(credit.group, []).append(event.id)
        after = self._group_totals(credit.group)
        rows = []
        for unit in credit.values:
            delta = after.get(unit, Fraction(0)) - before.get(unit, Fraction(0))
            text = credit.texts[unit]
            if credit.best_of and credit.values[unit] and delta != credit.values[unit]:
                text += self._best_of_note(event, before.get(unit, Fraction(0)), delta)
            rows.append(_entry(event, unit, event.at, event.kind, delta, text))
        return rows

    def _undo(self, undo: Event) -> list[Entry]:
        target = undo.reverses
        if target not in self.kinds or target == undo.id:
            raise ValidationError("reverses", f"撤销事件 {undo.id}：此前没有事件 {target}")
        if self.kinds[target] is EventKind.UNDO:
            raise ValidationError("reverses", f"撤销事件 {undo.id}：不能撤销撤销事件 {target}")
        if target in self.undone:
            raise ValidationError("reverses", f"撤销事件 {undo.id}：事件 {target} 已撤销")
        self.undone.add(target)
        credit = self.active.get(target)
        if credit is None:  # a submission: nothing in the ledger to correct
            return []
        before = self._group_totals(credit.group)
        self.groups[credit.group].remove(target)
        del self.active[target]
        after = self._group_totals(credit.group)
        rows = []
        for unit in credit.values:
            delta = after.get(unit, Fraction(0)) - before.get(unit, Fraction(0))
            text = f"撤销{target}：{credit.texts[unit]}"
            if credit.best_of and delta != -credit.values[unit]:
                text += f"；同一信息同级现按 {format_points(after.get(unit, Fraction(0)))}分 计"
            origin = credit.event
            rows.append(_entry(origin, unit, undo.at, EventKind.UNDO, delta, text, undo.id))
        return rows

    def _group_totals(self, group: tuple[str, ...]) -> dict[str, Fraction]:
        members = [self.active[i] for i in self.groups.get(group, [])]
        out: dict[str, Fraction] = {}
        for credit in members:
            for unit, value in credit.values.items():
                if credit.best_of:
                    out[unit] = max(out.get(unit, value), value)
                else:
                    out[unit] = out.get(unit, Fraction(0)) + value
        return out

    def _best_of_note(self, event: Event, before: Fraction, delta: Fraction) -> str:
        what = "同一信息同级只计最高分" if event.kind is EventKind.ADOPTED else "同级批示只计一次"
        if delta == 0:
            return f"；{what}（已按 {format_points(before)}分 计），本条不计分"
        return f"；{what}，原按 {format_points(before)}分 计，补计 {format_points(delta)}分"

    def _credit(self, event: Event) -> _Credit:
        rules, switches = self.rules, self.rules.switches
        kind, level = event.kind, event.level
        best_of = False
        group: tuple[str, ...] = ("event", event.id)
        if kind is EventKind.ADOPTED:
            assert level is not None  # checked by Event
            what = f"{level}《{event.publication}》采用"
            points = rules.adoption.get((level, event.publication))
            if not switches.publications_add_up:
                best_of, group = True, ("adoption", event.item or event.id, level.name)
        elif kind is EventKind.INSTRUCTION:
            assert level is not None
            what = f"{level}领导批示"
            points = rules.instruction.get(level)
            if (level, event.publication) in rules.instruction_in:
                what = f"{level}领导在《{event.publication}》上批示"
                points = rules.instruction_in[(level, event.publication)]
            if switches.instructions_same_level_once:
                best_of, group = True, ("instruction", event.item or event.id, level.name)
        else:
            what = kind.label
            points = rules.fixed.get(kind)
            if kind is EventKind.EMERGENCY_CONCEALED and points is None:
                points = rules.fixed.get(EventKind.EMERGENCY_MISSED)  # rules that never split them
                if points is not None:
                    what += "（本办法未单列瞒报，按漏报计）"
        units = event.units
        if points is None:
            zero = dict.fromkeys(units, Fraction(0))
            text = f"{what}：本办法未设分值，不计分"
            return _Credit(event, group, best_of, zero, dict.fromkeys(units, text))
        value, text = points, f"{what} {format_points(points)}分"
        if event.forwarded is not False:
            at = level if event.forwarded is True else event.forwarded
            assert isinstance(at, Level)
            multiplier = switches.forward_multiplier(at)
            if multiplier is not None and multiplier != 1:
                value *= multiplier
                text += f" ×{format_points(multiplier)}（经转报）"
            else:
                text += "（经转报）"
        values: dict[str, Fraction] = {}
        texts: dict[str, str] = {}
        if len(units) > 1 and switches.joint_split_equally:
            share = value / len(units)
            text += f" ÷{len(units)}（合报平均分配）"
            for unit in units:
                values[unit], texts[unit] = share, _result(text, share, points)
        else:
            for unit in units:
                if unit == event.unit:
                    values[unit], texts[unit] = value, _result(text, value, points)
                else:
                    values[unit] = Fraction(0)
                    texts[unit] = f"{what}：合报信息由牵头单位 {event.unit} 计分，本单位不计分"
        return _Credit(event, group, best_of, values, texts)


def _result(text: str, value: Fraction, points: Fraction) -> str:
    if value == points:
        return text
    space = "" if text.endswith("）") else " "  # no gap after a full-width parenthesis
    return f"{text}{space}= {format_points(value)}分"


def _entry(
    event: Event,
    unit: str,
    at: datetime,
    kind: EventKind,
    points: Fraction,
    text: str,
    undo: str = "",
) -> Entry:
    return Entry(
        event=undo or event.id,
        unit=unit,
        at=at,
        kind=kind,
        points=points,
        explanation=text,
        item=event.item,
        level=event.level,
        publication=event.publication,
        reverses=event.id if undo else "",
    )


def ledger(events: Iterable[Event], rules: ScoringRules) -> list[Entry]:
    """The ledger rows of ``events`` under ``rules``, in order of (``at``, ``id``).

    One row per (event, unit) the event credits or penalises; a submission has none (it only
    counts for quotas). An undo appends rows that correct what the reversed event changed.
    Raises :class:`ValidationError` for a repeated event id or an undo of an unknown, earlier
    undone or undo event.
    """
    book = _Ledger(rules)
    rows: list[Entry] = []
    for event in sorted(events, key=lambda e: (e.at, e.id)):
        rows.extend(book.apply(event))
    return rows


# -- periods and totals --------------------------------------------------------------------------

_YEAR = re.compile(r"^(\d{4})$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-?[Qq]([1-4])$")


@dataclass(frozen=True)
class Period:
    """Whole calendar months in China Standard Time, ``start`` inclusive, ``end`` exclusive."""

    start: datetime
    end: datetime

    @classmethod
    def parse(cls, text: str) -> Self:
        """A month (``2026-11``), a quarter (``2026-Q4``) or a year (``2026``)."""
        key = text.strip() if isinstance(text, str) else ""
        if m := _YEAR.match(key):
            year, first, months = int(m[1]), 1, 12
        elif (m := _MONTH.match(key)) and 1 <= int(m[2]) <= 12:
            year, first, months = int(m[1]), int(m[2]), 1
        elif m := _QUARTER.match(key):
            year, first, months = int(m[1]), 3 * int(m[2]) - 2, 3
        else:
            raise ValidationError("period", f"“{text}”不是有效的期间，例如 2026-11、2026-Q4、2026")
        return cls(_month(year, first), _month(year, first + months))

    def __post_init__(self) -> None:
        for at in (self.start, self.end):
            if not isinstance(at, datetime) or at.tzinfo is None:
                raise ValidationError("period", "期间的起止时间应带时区")
            local = at.astimezone(CHINA)
            if local.day != 1 or local.time() != datetime.min.time():
                raise ValidationError("period", f"期间应按整月计，{local:%Y-%m-%d %H:%M} 不是月初")
        if self.end <= self.start:
            raise ValidationError("period", "期间的结束应晚于开始")

    @property
    def label(self) -> str:
        """The period as a document names it: 2026年11月, 2026年第四季度, 2026年度."""
        first = self.start.astimezone(CHINA)
        count = _index(self.end) - _index(self.start)
        if count == 12 and first.month == 1:
            return f"{first.year}年度"
        if count == 3 and first.month % 3 == 1:
            return f"{first.year}年第{'一二三四'[first.month // 3]}季度"
        if count == 1:
            return f"{first.year}年{first.month}月"
        last = _month(first.year, first.month + count - 1)
        return f"{first.year}年{first.month}月至{last.year}年{last.month}月"

    @property
    def months(self) -> list[datetime]:
        """The first instant of every month in the period."""
        first = self.start.astimezone(CHINA)
        count = _index(self.end) - _index(self.start)
        return [_month(first.year, first.month + n) for n in range(count)]

    @property
    def is_year(self) -> bool:
        """Whether this is one calendar year (the annual rules then decide the score)."""
        local = self.start.astimezone(CHINA)
        return local.month == 1 and len(self.months) == 12

    @property
    def year(self) -> int:
        """The calendar year of the last month of the period."""
        return self.months[-1].year


def _month(year: int, month: int) -> datetime:
    """The first instant of ``month`` (may run past 12) of ``year``, China time."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=CHINA)


def _index(at: datetime) -> int:
    local = at.astimezone(CHINA)
    return local.year * 12 + local.month


@dataclass(frozen=True)
class Total:
    """One unit's result for a period.

    ``points`` sums the ledger rows dated in the period; ``base`` is the monthly base points of
    its months; ``score`` is their sum, for a calendar year capped at the annual cap and zeroed
    when ``annual_zero``. ``missed_requests`` counts missed topic requests from 1 January to the
    end of the period; ``annual_zero`` says they reached the rules' threshold. ``submitted``,
    ``required`` and ``shortfall`` compare submissions with the quota month by month.
    """

    unit: str
    unit_type: UnitType | None
    points: Fraction
    base: Fraction
    score: Fraction
    capped: bool
    missed_requests: int
    annual_zero: bool
    submitted: int
    required: int
    shortfall: int
    months_short: int
    explanation: str


def totals(
    entries: Iterable[Entry],
    events: Iterable[Event],
    rules: ScoringRules,
    period_start: datetime,
    period_end: datetime,
    unit_types: Mapping[str, str],
) -> dict[str, Total]:
    """Per unit, sorted by id: its :class:`Total` for the whole months [start, end).

    The units are those of ``unit_types`` (every unit the office scores: it gets its base points
    and quota even with no events; ``""`` for a unit without a quota type) and any unit with a
    ledger row or a submission or missed request in the period.
    """
    period = Period(period_start, period_end)
    switches = rules.switches
    types = {
        unit: UnitType.parse(value, f"unit_types[{unit}]") if value else None
        for unit, value in unit_types.items()
    }
    events = list(events)
    reversed_ = {e.reverses for e in events if e.kind is EventKind.UNDO and e.at < period.end}
    year_start = _month(period.year, 1)

    points: dict[str, Fraction] = {}
    for entry in entries:
        if period.start <= entry.at < period.end:
            points[entry.unit] = points.get(entry.unit, Fraction(0)) + entry.points
    submitted: dict[str, dict[int, int]] = {}
    missed: dict[str, int] = {}
    for e in events:
        if e.id in reversed_ or e.at >= period.end:
            continue
        if e.kind is EventKind.SUBMITTED and e.at >= period.start:
            for unit in e.units:
                month = _index(e.at)
                by_month = submitted.setdefault(unit, {})
                by_month[month] = by_month.get(month, 0) + 1
        elif e.kind is EventKind.REQUEST_MISSED and e.at >= year_start:
            missed[e.unit] = missed.get(e.unit, 0) + 1

    months = period.months
    out: dict[str, Total] = {}
    for unit in sorted(set(types) | set(points) | set(submitted)):
        unit_type = types.get(unit)
        own = points.get(unit, Fraction(0))
        base = switches.monthly_base * len(months)
        score = own + base
        capped = period.is_year and 0 < switches.annual_cap < score
        if capped:
            score = switches.annual_cap
        count = missed.get(unit, 0)
        threshold = switches.missed_requests_annual_zero
        annual_zero = 0 < threshold <= count
        if annual_zero and period.is_year:
            score = Fraction(0)
        per_month = rules.quota.get(unit_type, 0) if unit_type is not None else 0
        by_month = submitted.get(unit, {})
        gaps = [max(0, per_month - by_month.get(_index(m), 0)) for m in months]
        total = Total(
            unit=unit,
            unit_type=unit_type,
            points=own,
            base=base,
            score=score,
            capped=capped,
            missed_requests=count,
            annual_zero=annual_zero,
            submitted=sum(by_month.values()),
            required=per_month * len(months),
            shortfall=sum(gaps),
            months_short=sum(1 for g in gaps if g),
            explanation="",
        )
        out[unit] = _explained(total, rules, period)
    return out


def _explained(total: Total, rules: ScoringRules, period: Period) -> Total:
    switches, f = rules.switches, format_points
    parts = [f"积分 {f(total.points)}"]
    if switches.monthly_base:
        months = len(period.months)
        parts[0] += (
            f" + 基础分 {f(switches.monthly_base)}分×{months}个月"
            f" = {f(total.points + total.base)}分"
        )
    if total.capped:
        parts.append(f"超过全年上限 {f(switches.annual_cap)}分，按 {f(switches.annual_cap)}分 计")
    if total.annual_zero:
        n, limit = total.missed_requests, switches.missed_requests_annual_zero
        if period.is_year:
            parts.append(f"全年漏报约稿 {n} 次（{limit} 次及以上），年度考核计零分")
        else:
            parts.append(f"本年已漏报约稿 {n} 次（{limit} 次及以上），年度考核将计零分")
    if total.required:
        line = f"报送信息 {total.submitted} 条，任务 {total.required} 条"
        if total.shortfall:
            line += f"，{total.months_short} 个月未完成，共缺 {total.shortfall} 条"
        parts.append(line)
    parts[0] = f"得分 {f(total.score)}：" + parts[0]
    return replace(total, explanation="；".join(parts))
