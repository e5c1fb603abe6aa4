"""通讯录 (the roster of the network): each unit's 信息员 and 分管领导, and whom to phone.

「在市直各部门中设立信息员，明确单位分管领导」: every unit keeps its own roster — who holds
which role, their post, office phone and mobile — and sends it up: a ``roster`` record, made
by the unit and addressed to every office above it (routed through the tree), so the duty
officer of any office above knows whom to phone at 3 a.m. about an emergency. The roles a
roster may name are data (``schema/data/roster.toml``), as are the lengths of its fields
(``schema/data/input.toml``).

A roster is replaced whole: each change is a new version of the unit's one record
(``roster:{unit}``), so an older one arriving late changes nothing. A person is named once
here; items name their writers from it (``author``) and credit follows the name.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from schema import outbox
from schema.clock import from_text, to_text
from schema.datafile import data_text
from schema.error import ValidationError
from schema.limit import check_text
from schema.network import depth_below
from schema.record import Record
from schema.store import Store
from schema.vocabulary import Classification

KIND = "roster"
FIELDS = ("role", "name", "post", "office_phone", "mobile", "section")
FIELD_NAMES = {
    "role": "职责",
    "name": "姓名",
    "post": "职务",
    "office_phone": "办公电话",
    "mobile": "手机",
    "section": "科室",
    "per_month": "每月任务",
}
MAX_PER_MONTH = 1000
# a telephone number as desks write it: digits with spaces, dashes, a +86, brackets, 转 (ext.)
PHONE = re.compile(r"^[0-9+\-()（） 转]+$")
MIN_DIGITS = 7


@dataclass(frozen=True)
class Person:
    """One person of a unit's roster."""

    role: str
    name: str
    post: str = ""
    office_phone: str = ""
    mobile: str = ""
    section: str = ""  # the section (科室) of this office the person works in
    per_month: int = 0  # items a month the office asks of them (量化到人), 0: none


@dataclass(frozen=True)
class Entry:
    """One unit in the 通讯录: its people (empty: never sent) and when it was last heard."""

    unit: str
    label: str
    people: tuple[Person, ...]
    updated_at: datetime | None
    last_active: datetime | None
    missing: tuple[str, ...]  # required roles the roster does not name


@dataclass(frozen=True)
class RosterRules:
    """The roles a roster names, and those every unit must name (roster.toml)."""

    roles: tuple[str, ...]
    required: tuple[str, ...]

    @classmethod
    def load(cls, path: Path | None = None) -> RosterRules:
        text, _ = data_text("roster.toml", path)
        data = tomllib.loads(text)
        return cls(tuple(data["roles"]), tuple(data["required"]))


def parse(data: object, rules: RosterRules | None = None) -> tuple[Person, ...]:
    """The people of a roster file's (or record's) ``person`` list, every field checked; a
    problem names its field as ``person[2].mobile``."""
    rules = rules or RosterRules.load()
    if not isinstance(data, Mapping):
        raise ValidationError("", "通讯录应为键值表")
    unknown = sorted(set(data) - {"person"})
    if unknown:
        raise ValidationError(unknown[0], "未知字段（通讯录只有 [[person]]）")
    rows = data.get("person", [])
    if not isinstance(rows, list) or not rows:
        raise ValidationError("person", "通讯录应至少有一人（[[person]]）")
    people = []
    for n, row in enumerate(rows, 1):
        where = f"person[{n}]"
        if not isinstance(row, Mapping):
            raise ValidationError(where, "应为表")
        extra = sorted(set(row) - {*FIELDS, "per_month"})
        if extra:
            raise ValidationError(
                f"{where}.{extra[0]}", "未知字段（可用：" + "、".join(FIELDS) + "）"
            )
        values: dict[str, str] = {}
        for key in FIELDS:
            value = row.get(key, "")
            if not isinstance(value, str):
                raise ValidationError(f"{where}.{key}", "应为文字")
            try:
                check_text(key, value)
            except ValidationError as exc:
                raise ValidationError(f"{where}.{key}", exc.reason) from exc
            values[key] = value.strip()
        for key in ("role", "name"):
            if not values[key]:
                raise ValidationError(f"{where}.{key}", "必须填写")
        if values["role"] not in rules.roles:
            raise ValidationError(f"{where}.role", "应为 " + "、".join(rules.roles) + " 之一")
        for key in ("office_phone", "mobile"):
            number = values[key]
            if number and (
                not PHONE.match(number) or sum(c.isdigit() for c in number) < MIN_DIGITS
            ):
                raise ValidationError(
                    f"{where}.{key}", f"“{number}”不像电话号码（如 0352-1234567、13912345678）"
                )
        if not values["office_phone"] and not values["mobile"]:
            raise ValidationError(f"{where}.mobile", "办公电话和手机至少填写一个")
        per_month = row.get("per_month", 0)
        if (
            not isinstance(per_month, int)
            or isinstance(per_month, bool)
            or not 0 <= per_month <= MAX_PER_MONTH
        ):
            raise ValidationError(f"{where}.per_month", f"应为 0 到 {MAX_PER_MONTH} 的整数")
        people.append(Person(**values, per_month=per_month))
    return tuple(people)


def read_file(path: Path) -> tuple[Person, ...]:
    """A roster file (TOML: ``[[person]]`` tables), checked."""
    from schema.itemfile import load_mapping

    return parse(load_mapping(path, "通讯录文件"))


def ancestors(store: Store, unit: str, parent: str = "") -> list[str]:
    """The offices above ``unit`` as this store knows them, nearest first (``parent``: the
    node's own parent, used when the unit table does not name one)."""
    up: list[str] = []
    current = unit
    for _ in range(32):  # deeper than any administrative tree; guards a corrupt table
        row = store.one("SELECT parent FROM unit WHERE id = ?", (current,))
        nxt = (row["parent"] if row else "") or (parent if current == unit else "")
        if not nxt or nxt in up or nxt == unit:
            break
        up.append(nxt)
        current = nxt
    return up


def publish(
    store: Store,
    unit: str,
    people: Sequence[Person],
    actor: str,
    at: datetime,
    *,
    parent: str = "",
    name: str = "",
) -> int:
    """Replace ``unit``'s roster here and queue it to every office above (``name``: the
    unit's, shown above where the unit table does not know it); its version."""
    with store.write() as db:
        version = store.next_number(f"roster/{unit}")
        _replace(db, unit, people, version, actor, at, name)
        above = ancestors(store, unit, parent)
        if above:
            outbox.enqueue(
                store,
                _record(unit, people, version, actor, at, name),
                tuple(above),
                priority=0,
                classification=Classification.INTERNAL,
                at=at,
            )
    return version


def _record(
    unit: str, people: Sequence[Person], version: int, actor: str, at: datetime, name: str
) -> Record:
    return Record(
        id=f"roster:{unit}",
        kind=KIND,
        version=version,
        origin=unit,
        payload={
            "unit": unit,
            "name": name,
            "person": [asdict(p) for p in people],
            "by": actor,
            "at": to_text(at),
        },
    )


def _replace(
    db: Any,
    unit: str,
    people: Sequence[Person],
    version: int,
    actor: str,
    at: datetime,
    name: str = "",
) -> None:
    db.execute("DELETE FROM roster WHERE unit = ?", [unit])
    for n, p in enumerate(people):
        db.execute(
            "INSERT INTO roster(unit, position, role, name, post, office_phone, mobile, "
            "section, per_month) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [unit, n, p.role, p.name, p.post, p.office_phone, p.mobile, p.section, p.per_month],
        )
    db.execute(
        "INSERT INTO roster_version(unit, version, updated_at, updated_by, name) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT(unit) DO UPDATE SET version = excluded.version, "
        "updated_at = excluded.updated_at, updated_by = excluded.updated_by, "
        "name = excluded.name",
        [unit, version, to_text(at), actor, name],
    )


def apply_roster(store: Store, record: Record, me: str, at: datetime) -> None:
    """A unit below sent its roster (who may send it: ``schema/authority.py``)."""
    p = record.payload
    people = parse({"person": p.get("person")})
    by, name = p.get("by", ""), p.get("name", "")
    if not isinstance(by, str) or not isinstance(name, str):
        raise ValidationError("by", "通讯录记录的填报人和单位名称应为文字")
    check_text("author", by)
    check_text("title", name)
    try:
        when = from_text(str(p.get("at", "")))
    except ValueError as exc:
        raise ValidationError("at", "通讯录记录的时间无效") from exc
    with store.write() as db:
        _replace(db, record.origin, people, record.version, by, when, name.strip())


def people_of(store: Store, unit: str) -> tuple[Person, ...]:
    rows = store.query(
        "SELECT role, name, post, office_phone, mobile, section, per_month FROM roster "
        "WHERE unit = ? ORDER BY position",
        (unit,),
    )
    return tuple(Person(**r) for r in rows)


def book(store: Store, me: str, rules: RosterRules | None = None) -> list[Entry]:
    """The 通讯录 as the desk at ``me`` sees it: this office, then every unit below it (by
    the unit table, nearest tiers first), each with its roster, when it was last updated,
    when it was last heard from (the latest change any record of it made here) and the
    required roles it does not name."""
    rules = rules or RosterRules.load()
    units = store.query("SELECT id, name, short, parent FROM unit")
    parent = {r["id"]: r["parent"] for r in units}
    label = {r["id"]: r["short"] or r["name"] for r in units}

    versions = store.query("SELECT unit, updated_at, name FROM roster_version")
    updated = {r["unit"]: from_text(r["updated_at"]) for r in versions}
    for r in versions:
        label.setdefault(r["unit"], r["name"] or r["unit"])
    # a unit that sent its roster here but is missing from the unit table is listed too
    # (after the known tiers): it addressed this office as one above it
    found = {u: d for u in parent if (d := depth_below(u, me, parent)) is not None}
    found.update({u: 99 for u in updated if u not in parent})
    found[me] = 0
    below = sorted(((d, u) for u, d in found.items()), key=lambda du: (du[0] != 0, du))
    heard: dict[str, datetime] = {}
    for _, unit in below:  # one index seek each (audit_origin): a GROUP BY reads every row
        row = store.one("SELECT MAX(at) AS at FROM audit WHERE origin = ?", (unit,))
        if row is not None and row["at"]:
            heard[unit] = from_text(row["at"])
    out = []
    for _, unit in below:
        people = people_of(store, unit)
        roles = {p.role for p in people}
        seen = [t for t in (heard.get(unit), updated.get(unit)) if t is not None]
        out.append(
            Entry(
                unit=unit,
                label=label.get(unit, unit),
                people=people,
                updated_at=updated.get(unit),
                last_active=max(seen) if seen and unit != me else None,
                missing=tuple(r for r in rules.required if r not in roles),
            )
        )
    return out
