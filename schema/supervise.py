"""A 通报 signed off and sent to those it names; 督办 of the units that fell short; 约谈.

「通报结果直接送…主要负责人阅知」「采取约谈主要负责人、文件通报等形式」: a bulletin is not only
exported. Signed off (:func:`issue`), it is numbered (its 发文字号), kept here, and travels as a
``bulletin`` record to every unit below that it names — ranked, short of its quota or silent —
with the 送阅 list of leaders the office's rules give (``[bulletin] read_by``), so each unit's
desk reads it. Every unit short of its quota is sent a 督办 notice (a request of kind 督办,
tracked like a topic request and answered in words: 整改 steps, by ``supervise_days``). A 约谈
of a unit's leaders is recorded here (:func:`interview`) against the 督办 it follows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from schema import bulletin, outbox
from schema import request as requests
from schema.clock import CHINA, from_text, to_text
from schema.error import NotFound, ValidationError
from schema.limit import check_text
from schema.network import find_unit
from schema.record import Record
from schema.store import Store
from schema.vocabulary import Classification, Urgency

KIND = "bulletin"
SUPERVISE_DAYS = 7  # unless the rules' [bulletin] supervise_days says otherwise


@dataclass(frozen=True)
class Issued:
    """A bulletin signed off here, or received from the office above."""

    id: str
    issuer: str
    number: str
    period: str
    title: str
    text: str
    read_by: str
    signed_by: str
    at: datetime
    units: tuple[str, ...]
    received_at: datetime | None = None  # None: this office's own


def _from_row(row: dict[str, Any]) -> Issued:
    return Issued(
        id=row["id"],
        issuer=row["issuer"],
        number=row["number"],
        period=row["period"],
        title=row["title"],
        text=row["text"],
        read_by=row["read_by"],
        signed_by=row["signed_by"],
        at=from_text(row["at"]),
        units=tuple(json.loads(row["units"])),
        received_at=from_text(row["received_at"]) if row["received_at"] else None,
    )


def issued(store: Store) -> list[Issued]:
    """Bulletins held here (this office's and those received), newest first."""
    rows = store.query("SELECT * FROM bulletin_issue ORDER BY at DESC, id DESC")
    return [_from_row(r) for r in rows]


def get(store: Store, bulletin_id: str) -> Issued:
    row = store.one("SELECT * FROM bulletin_issue WHERE id = ?", (bulletin_id,))
    if row is None:
        raise NotFound(f"没有编号为 {bulletin_id} 的通报")
    return _from_row(row)


def named_units(made: bulletin.Bulletin, me: str) -> tuple[str, ...]:
    """The units a bulletin names: every unit of its ranking (each unit below the office is
    ranked, silent ones included)."""
    return tuple(u for u in dict.fromkeys(r.unit for r in made.rows) if u != me)


def issue(
    store: Store,
    me: str,
    made: bulletin.Bulletin,
    actor: str,
    at: datetime,
    *,
    priority: int,
) -> tuple[Issued, list[requests.Request]]:
    """Sign off ``made``: number it, keep it, send it to every unit it names, and send each
    unit short of its quota a 督办 notice; the bulletin and the notices."""
    if store.one(
        "SELECT 1 FROM bulletin_issue WHERE issuer = ? AND period = ? AND rules = ?",
        (me, made.period, made.rules),
    ):
        raise ValidationError("period", f"{made.period_label}的通报已经签发")
    year = at.astimezone(CHINA).year
    number = bulletin.document_number(store, made, year)
    units = named_units(made, me)
    with store.write() as db:
        seq = db.execute(
            "SELECT COUNT(*) FROM bulletin_issue WHERE issuer = ? AND id LIKE ?",
            [me, f"{me}-TB-{year}-%"],
        ).fetchone()[0]
        seq = store.above_seen("TB", year, seq + 1) - 1
        done = Issued(
            id=f"{me}-TB-{year}-{seq + 1:04d}",
            issuer=me,
            number=number,
            period=made.period,
            title=bulletin.title(made),
            text=bulletin.to_markdown(made),
            read_by=str(made.how.get("read_by", "")),
            signed_by=actor,
            at=at,
            units=units,
        )
        _insert(db, done, made.rules)
        if units:
            outbox.enqueue(
                store,
                _record(done),
                units,
                priority=priority,
                classification=Classification.INTERNAL,
                at=at,
            )
        notices = [  # a 督办 goes to a unit this node can address (its unit table knows it)
            _supervise(store, me, made, row, actor, at, priority)
            for row in made.rows
            if row.total.shortfall and row.unit in units and find_unit(store, row.unit)
        ]
    return done, notices


def _supervise(
    store: Store,
    me: str,
    made: bulletin.Bulletin,
    row: bulletin.Row,
    actor: str,
    at: datetime,
    priority: int,
) -> requests.Request:
    days = int(made.how.get("supervise_days", SUPERVISE_DAYS))
    total = row.total
    draft = requests.RequestDraft(
        kind=requests.SUPERVISED,
        topic=f"{made.period_label}政务信息报送任务督办",
        guidance=(
            f"{row.label}{made.period_label}应报送信息{total.required}条，实报{total.submitted}条，"
            f"差{total.shortfall}条。请对照通报查找原因，于时限前报送整改措施"
            "（分管领导、信息员、报送计划），并在下月补齐。"
        ),
        targets=(row.unit,),
        deadline=at + timedelta(days=days),
        urgency=Urgency.URGENT,
        classification=Classification.INTERNAL,
    )
    rules = requests.RequestRules.load()
    composed = requests.compose(store, me, actor, draft, at, rules)
    return requests.signoff(store, me, actor, composed.id, at, priority)


def _insert(db: Any, done: Issued, rules: str) -> None:
    db.execute(
        "INSERT OR IGNORE INTO bulletin_issue(id, issuer, number, period, rules, title, text, "
        "read_by, signed_by, at, units, received_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            done.id,
            done.issuer,
            done.number,
            done.period,
            rules,
            done.title,
            done.text,
            done.read_by,
            done.signed_by,
            to_text(done.at),
            json.dumps(list(done.units), ensure_ascii=False),
            to_text(done.received_at) if done.received_at else None,
        ],
    )


def _record(done: Issued) -> Record:
    return Record(
        id=done.id,
        kind=KIND,
        version=1,
        origin=done.issuer,
        payload={
            "id": done.id,
            "issuer": done.issuer,
            "number": done.number,
            "period": done.period,
            "title": done.title,
            "text": done.text,
            "read_by": done.read_by,
            "signed_by": done.signed_by,
            "at": to_text(done.at),
            "units": list(done.units),
        },
    )


def keep_own(store: Store, record: Record, me: str) -> None:
    """A bulletin this node signed off, as its record says (a restore: schema/resync.py;
    the scoring rules it was made under are not in the record: kept empty)."""
    units = record.payload.get("units")
    if not isinstance(units, list) or not all(isinstance(u, str) for u in units):
        raise ValidationError("units", "通报记录格式不符")
    _keep(store, record, tuple(units), None)


def apply_bulletin(store: Store, record: Record, me: str, at: datetime) -> None:
    """A bulletin from the office above that names this unit: kept to be read."""
    units = record.payload.get("units")
    if not isinstance(units, list) or me not in units:
        raise ValidationError("units", f"通报 {record.id} 没有点到本单位（{me}）")
    _keep(store, record, (me,), at)


def _keep(store: Store, record: Record, units: tuple[str, ...], at: datetime | None) -> None:
    p = record.payload
    texts = {}
    for key, field in (
        ("number", "title"),
        ("period", "title"),
        ("title", "title"),
        ("text", "guidance"),
        ("read_by", "title"),
        ("signed_by", "author"),
    ):
        value = p.get(key, "")
        if not isinstance(value, str):
            raise ValidationError(key, "通报记录格式不符")
        check_text(field, value)
        texts[key] = value
    try:
        signed = from_text(str(p.get("at", "")))
    except ValueError as exc:
        raise ValidationError("at", "通报记录的时间无效") from exc
    with store.write() as db:
        _insert(
            db,
            Issued(
                id=record.id,
                issuer=record.origin,
                number=texts["number"],
                period=texts["period"],
                title=texts["title"],
                text=texts["text"],
                read_by=texts["read_by"],
                signed_by=texts["signed_by"],
                at=signed,
                units=units,
                received_at=at,
            ),
            "",
        )


# -- 约谈 ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interview:
    id: int
    unit: str
    request_id: str
    note: str
    actor: str
    at: datetime


def interview(
    store: Store, unit: str, request_id: str, note: str, actor: str, at: datetime
) -> Interview:
    """Record a 约谈 of ``unit``'s leaders (after the 督办 ``request_id``, when given)."""
    if not note.strip():
        raise ValidationError("note", "约谈须写明约谈对象和情况")
    check_text("note", note)
    if request_id:
        request = requests.get(store, request_id)
        if unit not in request.draft.targets:
            raise ValidationError("request", f"{request_id} 不是发给 {unit} 的督办")
    with store.write() as db:
        cursor = db.execute(
            "INSERT INTO interview(unit, request_id, note, actor, at) VALUES (?,?,?,?,?)",
            [unit, request_id, note.strip(), actor, to_text(at)],
        )
        made = int(cursor.lastrowid or 0)
    return Interview(made, unit, request_id, note.strip(), actor, at)


def interviews(store: Store, unit: str = "") -> list[Interview]:
    rows = store.query(
        "SELECT * FROM interview WHERE ? = '' OR unit = ? ORDER BY at, id", (unit, unit)
    )
    return [
        Interview(r["id"], r["unit"], r["request_id"], r["note"], r["actor"], from_text(r["at"]))
        for r in rows
    ]
