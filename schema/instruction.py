"""Leader instructions (批示) and adoption feedback down the provenance chain.

An instruction is recorded where the leader wrote it, on an item or on an issue (then on every
item in it). It travels down to every unit in each item's provenance chain — the office that
sent the item, and the units whose items it was made from, all the way down — so the county
whose item the city forwarded learns of the province's instruction. When feedback is asked
for, a tracking request (kind 批示) goes to the assigned units, answered like a topic request.

Feedback: a decision on an edge (adopted, placed, issued, instructed …) travels back to the
sender as a ``decision`` record (schema/inbound.py); here the sender passes it on, as a
``feedback`` record, to the units whose items its own item was made from, and they to theirs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from schema import authority, outbox
from schema import item as items
from schema.clock import CHINA, from_text, to_text
from schema.error import NotFound, ValidationError
from schema.record import Record
from schema.store import Store
from schema.vocabulary import Classification, EdgeState, Level

INSTRUCTION_KIND = "instruction"
FEEDBACK_KIND = "feedback"


@dataclass(frozen=True)
class Instruction:
    id: str
    issuer: str
    subject: str  # the item or issue it was written on, at the issuer
    items: tuple[str, ...]  # every item it concerns, with their sources down the chain
    leader: str
    level: Level
    text: str
    at: datetime
    feedback: bool
    deadline: datetime | None
    assigned: tuple[str, ...]
    request_id: str  # the tracking request for feedback (at the issuer), or ""


@dataclass(frozen=True)
class Feedback:
    """What became of an item further up: ``by_unit`` decided ``state`` on ``via``."""

    item_id: str
    via: str
    by_unit: str
    state: EdgeState
    note: str
    placement: str
    at: datetime


# -- the provenance chain ------------------------------------------------------------------------


def chain(store: Store, item_ids: Iterable[str]) -> list[str]:
    """``item_ids`` and every item they were made from, all the way down (as known here)."""
    found: list[str] = []
    todo = list(item_ids)
    while todo and len(found) < 10_000:
        current = todo.pop(0)
        if current in found:
            continue
        found.append(current)
        rows = store.query(
            "SELECT source_id FROM source WHERE item_id = ? ORDER BY position", (current,)
        )
        todo.extend(r["source_id"] for r in rows)
    return found


def origin_of(item_id: str) -> str:
    """The unit an item id names: ``{node}-{year}-{number}``."""
    return item_id.rsplit("-", 2)[0]


def below(store: Store, me: str, item_ids: Iterable[str]) -> list[str]:
    """Units other than ``me`` in the provenance chains of ``item_ids``: the senders of the
    items received here and the origins of every source."""
    units: list[str] = []
    for item_id in chain(store, item_ids):
        senders = store.query(
            "SELECT from_unit FROM edge WHERE item_id = ? AND to_unit = ?", (item_id, me)
        )
        for unit in [origin_of(item_id), *(r["from_unit"] for r in senders)]:
            if unit != me and unit not in units:
                units.append(unit)
    return units


# -- instructions at the issuer -------------------------------------------------------------------


def record(
    store: Store,
    me: str,
    actor: str,
    subject: str,
    item_ids: Sequence[str],
    leader: str,
    level: Level,
    text: str,
    at: datetime,
    *,
    deadline: datetime | None = None,
    feedback: bool = False,
    assigned: Sequence[str] = (),
    request_id: str = "",
    classification: Classification = Classification.INTERNAL,
    priority: int = 0,
) -> Instruction:
    """Store an instruction written here and queue it down every chain."""
    if not leader.strip() or not text.strip():
        raise ValidationError("leader" if not leader.strip() else "text", "批示须写明领导和内容")
    if feedback and deadline is None:
        raise ValidationError("deadline", "要求反馈的批示须写明反馈时限")
    year = at.astimezone(CHINA).year
    with store.write() as db:
        seq = (
            db.execute("SELECT COUNT(*) FROM instruction WHERE issuer = ?", [me]).fetchone()[0] + 1
        )
        seq = store.above_seen("PS", year, seq)
        made = Instruction(
            id=f"{me}-PS-{year}-{seq:04d}",
            issuer=me,
            subject=subject,
            items=tuple(chain(store, item_ids)),
            leader=leader.strip(),
            level=level,
            text=text.strip(),
            at=at,
            feedback=feedback,
            deadline=deadline,
            assigned=tuple(assigned),
            request_id=request_id,
        )
        _insert(db.conn, made, recorded_by=actor)
        units = below(store, me, item_ids)
        units += [u for u in assigned if u not in units and u != me]
        if units:
            outbox.enqueue(
                store,
                _record(made, me, made.id, units, units),
                tuple(units),
                priority=priority,
                classification=classification,
                at=at,
            )
    return made


def _record(
    made: Instruction,
    sender: str,
    record_id: str,
    units: Sequence[str],
    to: Sequence[str],
    cites: Sequence[dict[str, Any]] = (),
) -> Record:
    payload = _payload(made, units, to)
    if cites:  # a relay carries the issuer's signed instruction (schema/authority.py)
        payload["cites"] = list(cites)
    return Record(id=record_id, kind=INSTRUCTION_KIND, version=1, origin=sender, payload=payload)


def _payload(made: Instruction, units: Sequence[str], to: Sequence[str]) -> dict[str, Any]:
    return dict(
        {
            "id": made.id,
            "issuer": made.issuer,
            "subject": made.subject,
            "items": list(made.items),
            "leader": made.leader,
            "level": made.level.value,
            "text": made.text,
            "at": to_text(made.at),
            "feedback": made.feedback,
            "deadline": to_text(made.deadline) if made.deadline else "",
            "assigned": list(made.assigned),
            "request_id": made.request_id,
            "units": list(units),  # told already: a relay down the chain skips them
            "to": list(to),  # this record's recipients
        }
    )


def _insert(conn: Any, made: Instruction, *, recorded_by: str = "", received: str = "") -> bool:
    cursor = conn.execute(
        "INSERT OR IGNORE INTO instruction(id, issuer, subject, items, leader, level, text, at, "
        "feedback, deadline, assigned, request_id, recorded_by, received_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            made.id,
            made.issuer,
            made.subject,
            json.dumps(list(made.items)),
            made.leader,
            made.level.value,
            made.text,
            to_text(made.at),
            int(made.feedback),
            to_text(made.deadline) if made.deadline else None,
            json.dumps(list(made.assigned)),
            made.request_id,
            recorded_by,
            received or None,
        ],
    )
    return bool(cursor.rowcount)


def insert_row(store: Store, made: Instruction) -> bool:
    """Keep an instruction of this node's own as it was made (a restore: schema/resync.py);
    whether it was new here."""
    with store.write() as db:
        return _insert(db.conn, made)


def apply_instruction(store: Store, rec: Record, me: str, at: datetime) -> None:
    """Keep an instruction from above and pass it further down the chains of the items it
    concerns that were made here from lower units' items (called by ``schema.inbound``)."""
    p = rec.payload
    _addressed(p, me, rec.id)
    made = Instruction(
        id=str(p["id"]),
        issuer=str(p["issuer"]),
        subject=str(p["subject"]),
        items=tuple(p["items"]),
        leader=str(p["leader"]),
        level=Level.parse(p["level"], "level"),
        text=str(p["text"]),
        at=from_text(p["at"]),
        feedback=bool(p.get("feedback")),
        deadline=from_text(p["deadline"]) if p.get("deadline") else None,
        assigned=tuple(p.get("assigned", [])),
        request_id=str(p.get("request_id", "")),
    )
    held = [i for i in made.items if items.find(store, i) is not None]
    # the items here that this chain was made from are concerned too (a township's item the
    # county forwarded, which the province never saw)
    made = replace(made, items=tuple(dict.fromkeys([*made.items, *chain(store, held)])))
    with store.write() as db:
        if not _insert(db.conn, made, received=to_text(at)):
            return  # it came down another chain already
        told = set(p.get("units", [])) | {made.issuer, me}
        further = [u for u in below(store, me, held) if u not in told]
        if further:
            # the issuer's own signed record travels with the relay: this node's word that
            # the issuer said it is not enough below (schema/authority.py)
            cites = p.get("cites") if rec.origin != made.issuer else None
            original = cites or [rec.proof or authority.citable(rec, (me,))]
            outbox.enqueue(
                store,
                _record(made, me, f"{made.id}@{me}", [*sorted(told), *further], further, original),
                tuple(further),
                priority=0,
                classification=Classification.INTERNAL,
                at=at,
            )


def instructions_on(store: Store, item_id: str) -> list[Instruction]:
    """Instructions held here that concern ``item_id``."""
    rows = store.query(
        "SELECT * FROM instruction WHERE EXISTS "
        "(SELECT 1 FROM json_each(instruction.items) WHERE value = ?) ORDER BY at",
        (item_id,),
    )
    return [_from_row(r) for r in rows]


def all_instructions(store: Store) -> list[Instruction]:
    return [_from_row(r) for r in store.query("SELECT * FROM instruction ORDER BY at, id")]


def get(store: Store, instruction_id: str) -> Instruction:
    row = store.one("SELECT * FROM instruction WHERE id = ?", (instruction_id,))
    if row is None:
        raise NotFound(f"没有批示 {instruction_id}")
    return _from_row(row)


def _from_row(row: dict[str, Any]) -> Instruction:
    return Instruction(
        id=row["id"],
        issuer=row["issuer"],
        subject=row["subject"],
        items=tuple(json.loads(row["items"])),
        leader=row["leader"],
        level=Level(row["level"]),
        text=row["text"],
        at=from_text(row["at"]),
        feedback=bool(row["feedback"]),
        deadline=from_text(row["deadline"]) if row["deadline"] else None,
        assigned=tuple(json.loads(row["assigned"])),
        request_id=row["request_id"],
    )


# -- feedback down the chain ---------------------------------------------------------------------


def pass_down(
    store: Store,
    me: str,
    via: str,
    by_unit: str,
    state: EdgeState,
    note: str,
    placement: str,
    at: datetime,
    tag: str,
    told: Sequence[str] = (),
    held: Sequence[str] | None = None,
    cite: dict[str, Any] | None = None,
) -> int:
    """A decision ``by_unit`` took on ``via`` (an item of this node, or made from one of its
    items): tell the units down the chain of ``held`` (default: ``via``) not ``told`` yet;
    how many units. ``cite`` is ``by_unit``'s signed decision, which goes along."""
    start = [via] if held is None else list(held)
    sources = [i for i in chain(store, start) if i != via]
    skip = {*told, by_unit, me}
    units = [u for u in below(store, me, start) if u not in skip]
    if not sources or not units:
        return 0
    payload = {
        "items": sources,
        "via": via,
        "by": by_unit,
        "state": state.value,
        "note": note,
        "placement": placement,
        "at": to_text(at),
        "to": units,
        "told": sorted({*told, *units, me}),
        "cites": [cite] if cite else [],
    }
    outbox.enqueue(
        store,
        Record(f"fb:{via}:{by_unit}:{tag}@{me}", FEEDBACK_KIND, 1, me, payload),
        tuple(units),
        priority=0,
        classification=Classification.INTERNAL,
        at=at,
    )
    return len(units)


def apply_feedback(store: Store, rec: Record, me: str, at: datetime) -> None:
    """Keep what became of this node's items further up, and pass it on to the units further
    down that were not told."""
    p = rec.payload
    _addressed(p, me, rec.id)
    state = EdgeState.parse(p["state"], "state")
    when = from_text(p["at"])
    held = [i for i in p.get("items", []) if items.find(store, i) is not None]
    with store.write() as db:
        for item_id in held:
            db.execute(
                "INSERT OR IGNORE INTO feedback(item_id, via, by_unit, state, note, placement, "
                "at) VALUES (?,?,?,?,?,?,?)",
                [
                    item_id,
                    p["via"],
                    p["by"],
                    state.value,
                    p.get("note", ""),
                    p.get("placement", ""),
                    to_text(when),
                ],
            )
        own = [i for i in held if items.get(store, i).origin == me]
        if own:
            tag = rec.id.rsplit("@", 1)[0].rsplit(":", 1)[-1]
            pass_down(
                store,
                me,
                str(p["via"]),
                str(p["by"]),
                state,
                str(p.get("note", "")),
                str(p.get("placement", "")),
                when,
                tag,
                told=[*p.get("told", []), rec.origin],
                held=own,
                cite=next(iter(authority.cites_of(p)), None),
            )


def _addressed(payload: dict[str, Any], me: str, record_id: str) -> None:
    if me not in payload.get("to", []):
        raise ValidationError("to", f"记录 {record_id} 不是发给本单位（{me}）的")


def feedback_on(store: Store, item_id: str) -> list[Feedback]:
    rows = store.query("SELECT * FROM feedback WHERE item_id = ? ORDER BY at, id", (item_id,))
    return [
        Feedback(
            r["item_id"],
            r["via"],
            r["by_unit"],
            EdgeState(r["state"]),
            r["note"],
            r["placement"],
            from_text(r["at"]),
        )
        for r in rows
    ]
