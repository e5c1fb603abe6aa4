"""Applying records received from other nodes: idempotent, keyed by record id and version.

Transport is at-least-once; this makes it exactly-once. A record whose (id, version) was
already applied — or is older than what is held — changes nothing and is reported as such.
Everything a record changes is written in one transaction with its applied-marker. Before
anything, the record is checked against the authority table (``schema/authority.py``): who
made it, for whom, and what it cites. The signed form of an item revision is kept
(``proof``), so a forward or merge made here can cite it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from schema import authority, emergency, network, resync, roster, state, supervise, verify
from schema import instruction as instructions
from schema import item as items
from schema import publication as pubs
from schema import request as requests
from schema.clock import Clock, from_text, system_clock, to_text
from schema.error import NotFound, ValidationError
from schema.itemfile import parse_item
from schema.record import Record
from schema.store import Store
from schema.vocabulary import EdgeState

S = EdgeState
# States only the sending desk sets; a receiver's decision never names them.
SENDER_STATES = frozenset({S.DRAFT, S.AWAITING_SIGNOFF, S.SENT})


class Outcome(StrEnum):
    """What :func:`apply` did with a record."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"  # this (id, version) was applied before
    STALE = "stale"  # a newer version of this record is already applied
    WAITING = "waiting"  # after a restore: kept until what it refers to is back


@dataclass(frozen=True)
class ApplyResult:
    """The outcome of applying one record."""

    record_id: str
    version: int
    outcome: Outcome


def apply(
    store: Store,
    record: Record,
    me: str,
    clock: Clock = system_clock,
    to: Sequence[str] | None = None,
    classification: int = 1,
) -> ApplyResult:
    """Apply a record received by node ``me`` exactly once.

    ``record.origin`` is its maker and ``to`` its addressees, as the daemon verified them
    against the maker's signature (default: ``me`` alone, for records delivered in process);
    ``classification`` the rank of the bundle it came in (kept with it for its maker).
    Raises :class:`~schema.authority.AuthorityError` for a record that may not apply here.
    """
    handler = _HANDLERS.get(record.kind)
    if handler is None:
        raise ValidationError("kind", f"未知的记录类型“{record.kind}”")
    addressees = tuple(to) if to is not None else (me,)
    if me not in addressees and network.covered(store, me, addressees):
        addressees = (*addressees, me)  # a group this unit belongs to (all:county:…)
    authority.check(record, me, addressees)
    with store.write() as db:
        row = db.execute("SELECT version FROM applied WHERE record_id = ?", [record.id]).fetchone()
        if row is not None and row[0] >= record.version:
            outcome = Outcome.DUPLICATE if row[0] == record.version else Outcome.STALE
            return ApplyResult(record.id, record.version, outcome)
        at = clock()
        try:
            with store.savepoint():
                handler(store, record, me, at)
        except NotFound:
            # after a restore, what it refers to may not be back yet: it waits for it
            if not resync.running(store):
                raise
            when = system_clock()
            if not resync.park(store, record, addressees, False, to_text(at), when, classification):
                raise
            return ApplyResult(record.id, record.version, Outcome.WAITING)
        if record.kind == authority.ITEM:
            keep_proof(store, record.proof or authority.citable(record, addressees))
        resync.keep(store, record, at, classification)
        db.execute(
            "INSERT INTO applied(record_id, kind, version, applied_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(record_id) DO UPDATE SET version = excluded.version, "
            "applied_at = excluded.applied_at",
            [record.id, record.kind, record.version, to_text(at)],
        )
    return ApplyResult(record.id, record.version, Outcome.APPLIED)


def keep_proof(store: Store, proof: dict[str, Any]) -> None:
    """Keep the signed form of a received record (the latest version of each), to be cited."""
    with store.write() as db:
        db.execute(
            "INSERT INTO proof(record_id, version, proof) VALUES (?, ?, ?) "
            "ON CONFLICT(record_id) DO UPDATE SET version = excluded.version, "
            "proof = excluded.proof WHERE excluded.version >= proof.version",
            [str(proof["id"]), int(proof["version"]), json.dumps(proof, ensure_ascii=False)],
        )


def proofs(store: Store, record_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The signed forms kept here of ``record_ids`` (those held; in the order asked)."""
    found: list[dict[str, Any]] = []
    for record_id in dict.fromkeys(record_ids):
        row = store.one("SELECT proof FROM proof WHERE record_id = ?", (record_id,))
        if row is not None:
            found.append(json.loads(row["proof"]))
    return found


def _apply_item(store: Store, record: Record, me: str, at: datetime) -> None:
    payload = record.payload
    data = payload.get("item")
    if not isinstance(data, dict):
        raise ValidationError("item", "记录缺少信息内容")
    # who may send which edge is the authority table's (schema/authority.py), checked first
    edges = [tuple(e) for e in payload.get("edges", []) if len(e) == 2 and e[1] == me]
    if not edges:
        raise ValidationError("edges", f"记录 {record.id} 不是报送给本节点（{me}）的")
    draft = parse_item(data["content"])
    revision = int(data["revision"])
    held = items.find(store, data["id"])
    if held is None:  # parse_item above held it to the input limits
        items.store_new(
            store,
            data["id"],
            data["origin"],
            draft,
            editor=data.get("signer") or data["origin"],
            at=at,
            revision=revision,
            created_at=from_text(data["created_at"]),
            sources=tuple(data.get("sources", [])),
            derivation=data.get("derivation", ""),
            signer=data.get("signer", ""),
            signed_at=from_text(data["signed_at"]) if data.get("signed_at") else None,
        )
    elif revision > held.revision:
        items.revise(
            store,
            held,
            draft,
            editor=data.get("signer") or data["origin"],
            at=at,
            revision=revision,
        )
        items.set_signed(store, held.id, data.get("signer", ""), from_text(data["signed_at"]))
    actor = data.get("signer") or record.origin
    for from_unit, to_unit in edges:
        edge = state.find_edge(store, data["id"], from_unit, to_unit)
        if edge is None:
            state.create(
                store,
                data["id"],
                from_unit,
                to_unit,
                S.RECEIVED,
                actor=actor,
                at=at,
                note=f"第{revision}稿",
                origin=from_unit,
            )
            if draft.incident is not None:  # a first report past its deadline: 迟报
                arrived = items.get(store, data["id"])
                emergency.on_arrival(store, arrived, from_unit, me, at, emergency.shipped_rules())
        elif edge.state is S.RETURNED:
            state.move(
                store,
                edge,
                S.RECEIVED,
                actor=actor,
                at=at,
                note=f"修改后重报（第{revision}稿）",
                origin=from_unit,
            )


def _apply_decision(store: Store, record: Record, me: str, at: datetime) -> None:
    p = record.payload
    if p.get("from") != me:
        raise ValidationError("from", f"决定记录 {record.id} 不是给本节点（{me}）的")
    decided = EdgeState.parse(p.get("state"), "state")
    if decided in SENDER_STATES:
        raise ValidationError("state", f"收件单位不能把流转改为“{decided}”")
    edge = state.find_edge(store, p["item_id"], p["from"], p["to"])
    if edge is None:
        raise NotFound(f"本节点没有报送过信息 {p['item_id']}，无法记录上级的处理结果")
    state.mirror(
        store,
        edge,
        decided,
        actor=str(p.get("actor", "")),
        at=from_text(p["at"]),
        note=str(p.get("note", "")),
        origin=p["to"],
        placement=p.get("placement") or None,
    )
    # the units whose items this one was made from hear of it too (adoption feedback)
    instructions.pass_down(
        store,
        me,
        p["item_id"],
        p["to"],
        decided,
        str(p.get("note", "")),
        str(p.get("placement") or ""),
        from_text(p["at"]),
        str(record.version),
        cite=record.proof or authority.citable(record, (me,)),
    )


_HANDLERS = {
    "item": _apply_item,
    "decision": _apply_decision,
    requests.REQUEST_KIND: requests.apply_request,
    requests.STATUS_KIND: requests.apply_status,
    pubs.ISSUE_KIND: pubs.apply_issue,
    instructions.INSTRUCTION_KIND: instructions.apply_instruction,
    instructions.FEEDBACK_KIND: instructions.apply_feedback,
    verify.ASK_KIND: verify.apply_ask,
    verify.ANSWER_KIND: verify.apply_answer,
    roster.KIND: roster.apply_roster,
    supervise.KIND: supervise.apply_bulletin,
}
