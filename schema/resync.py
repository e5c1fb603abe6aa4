"""Resync after a restore: what a node made and received after its backup comes back from its
neighbours (issue 21; operator's page: docs/operator.md §9).

A node restored from a backup stands where the backup was taken. What it received after that
its neighbours still hold as bundles they handed it (``syncd/outgoing.py`` keeps them for a
retention window); what it made itself after that, and delivered, they hold as the signed
records they applied — kept here (table ``kept``) for the same window. The restored node asks
each neighbour (a ``resync`` record, from when its backup was taken); each answers with the
node's own records it holds (each a ``returned`` record carrying the signed original, whose
signature the restored node checks is its own) and ``resync-done`` with the highest item and
request numbers it has seen from the node, and hands it again every bundle it handed it since.

Here, with no crypto: keeping received records, what a neighbour answers, putting a node's own
records back (:func:`restore_own`: its items, its decisions on received items, its topic
requests and its answers to them, its publication issues — exactly as they stood, versions
included, so no neighbour sees a decision twice), counters that continue above anything seen,
and records that wait while what they refer to has not come back yet (:func:`park`,
:func:`retry`). Applying stays idempotent throughout: the seen-set and the ``applied`` table
keep anything from happening twice.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from schema import authority, outbox, roster, state, supervise, verify
from schema import instruction as instructions
from schema import item as items
from schema import publication as pubs
from schema import request as requests
from schema.clock import from_text, to_text
from schema.error import NotFound, StoreError, ValidationError, XinbaoError
from schema.itemfile import parse_item
from schema.record import Record
from schema.store import Store
from schema.vocabulary import Classification, EdgeState, Urgency

RESYNC, RETURNED, DONE = authority.RESYNC, authority.RETURNED, authority.RESYNC_DONE
HANDED = authority.RESYNC_HANDED  # when each bundle handed again had first been handed
HANDED_PER_RECORD = 2000  # (bundle id, time) pairs in one record: ~150 kB
MAX_WAITING = 100_000  # records parked at once; past this the oldest stop being retried

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Peer:
    """A neighbour asked to resync, and how far it has answered."""

    peer: str
    since: str
    asked_at: str
    answered_at: str | None
    records: int
    bundles: int
    forgotten: bool = False  # the operator stopped waiting for it


# -- records received: kept for the window ------------------------------------------------------


def keep(store: Store, record: Record, at: datetime, classification: int = 1) -> None:
    """Keep the signed form of a record just applied here (the latest version of each), with
    the classification rank of the bundle it came in (it goes back under the same), so that
    its maker, restored from a backup, can have it back. Records with no signature
    (delivered in process) are not kept: their maker could not check them."""
    proof = record.proof
    if not proof or not isinstance(proof.get("sig"), str):
        return
    # the maker's certificate chain is not kept: the maker, restored, checks its own records
    # against its own chain (what they cite keeps theirs)
    proof = {k: v for k, v in proof.items() if k != "chain"}
    store.db.execute(
        "INSERT INTO kept(record_id, version, origin, kind, received_at, proof, "
        "classification) VALUES (?,?,?,?,?,?,?) ON CONFLICT(record_id) DO UPDATE SET "
        "version = excluded.version, received_at = excluded.received_at, "
        "proof = excluded.proof, classification = excluded.classification "
        "WHERE excluded.version >= kept.version",
        [
            record.id,
            record.version,
            record.origin,
            record.kind,
            to_text(at),
            _dumps(proof),
            classification,
        ],
    )


def prune(store: Store, before: datetime) -> int:
    """Forget kept records received before ``before`` (the end of the retention window)."""
    with store.write() as db:
        cursor = db.execute("DELETE FROM kept WHERE received_at < ?", [to_text(before)])
        db.execute("DELETE FROM arrival WHERE noted_at < ?", [to_text(before)])
    return cursor.rowcount


def held_from(store: Store, origin: str, since: datetime) -> list[dict[str, Any]]:
    """The signed records made by ``origin`` received here since ``since``, oldest first."""
    rows = store.query(
        "SELECT proof, received_at, classification FROM kept WHERE origin = ? "
        "AND received_at >= ? ORDER BY received_at, rowid",
        (origin, to_text(since)),
    )
    return [
        {
            "record": json.loads(r["proof"]),
            "received_at": r["received_at"],
            "classification": int(r["classification"]),
        }
        for r in rows
    ]


# the id families a node numbers by counting its own rows: where a neighbour holds them
FAMILIES = {
    "YG": "SELECT id FROM request WHERE issuer = ?",
    "PS": "SELECT id FROM instruction WHERE issuer = ?",
    "HS": "SELECT id FROM verification WHERE asker = ?",
    "TB": "SELECT id FROM bulletin_issue WHERE issuer = ?",
}


def counters_of(store: Store, origin: str) -> dict[str, dict[str, int]]:
    """The highest numbers of ``origin``'s ids held here, by family and year (``item``: its
    items; ``YG`` topic requests, ``PS`` instructions, ``HS`` 核实 questions, ``TB``
    bulletins): a node restored from a backup numbers on above them."""
    found: dict[str, dict[str, int]] = {"item": {}, **{family: {} for family in FAMILIES}}
    ids = [r["id"] for r in store.query("SELECT id FROM item WHERE origin = ?", (origin,))]
    for row in store.query("SELECT record_id FROM kept WHERE origin = ?", (origin,)):
        ids.append(row["record_id"])
    for record_id in ids:
        _count(found["item"], record_id, f"{origin}-")
        for family in FAMILIES:
            _count(found[family], record_id, f"{origin}-{family}-")
    for family, sql in FAMILIES.items():
        for row in store.query(sql, (origin,)):
            _count(found[family], row["id"], f"{origin}-{family}-")
    return found


def _count(into: dict[str, int], record_id: str, prefix: str) -> None:
    if not record_id.startswith(prefix):
        return
    year, _, number = record_id[len(prefix) :].partition("-")
    if _digits(year) and _digits(number):
        into[year] = max(into.get(year, 0), int(number))


def _digits(text: str) -> bool:
    """ASCII digits only, and not too many: ``"²".isdigit()`` is true, ``int("²")`` fails."""
    return 0 < len(text) <= 9 and text.isascii() and text.isdigit()


def continue_counters(store: Store, counters: Any) -> None:
    """Number on above what a neighbour has seen (``counters`` as :func:`counters_of` gives,
    from another node: anything malformed is ignored)."""
    if not isinstance(counters, dict):
        return
    for family in ("item", *FAMILIES):
        seen = counters.get(family)
        if not isinstance(seen, dict):
            continue
        for year, number in seen.items():
            if _digits(str(year)) and type(number) is int and 0 < number < 10**9:
                _at_least(
                    store, f"item:{year}" if family == "item" else f"seen:{family}:{year}", number
                )


def _at_least(store: Store, name: str, value: int) -> None:
    store.db.execute(
        "INSERT INTO counter(name, value) VALUES (?, ?) "
        "ON CONFLICT(name) DO UPDATE SET value = MAX(value, excluded.value)",
        [name, value],
    )


# -- the restored node: asking ----------------------------------------------------------------


def start(store: Store, me: str, peers: Sequence[str], since: datetime, at: datetime) -> int:
    """Ask each of ``peers`` to resync: a ``resync`` record to each, from ``since`` (when the
    backup was taken). How many were asked."""
    with store.write() as db:
        for peer in peers:
            record = Record(
                id=f"resync:{me}:{secrets.token_hex(8)}",
                kind=RESYNC,
                version=1,
                origin=me,
                payload={"node": me, "since": to_text(since), "asked_at": to_text(at)},
            )
            outbox.enqueue(
                store,
                record,
                (peer,),
                priority=_priority(),
                classification=Classification.PUBLIC,
                at=at,
            )
            db.execute(
                "INSERT INTO resync(peer, request_id, since, asked_at) VALUES (?,?,?,?) "
                "ON CONFLICT(peer) DO UPDATE SET request_id = excluded.request_id, "
                "since = excluded.since, asked_at = excluded.asked_at, answered_at = NULL, "
                "records = 0, bundles = 0, forgotten = 0",
                [peer, record.id, to_text(since), to_text(at)],
            )
    return len(peers)


def peers(store: Store) -> list[Peer]:
    """The neighbours asked to resync and what each has answered."""
    rows = store.query("SELECT * FROM resync ORDER BY peer")
    return [
        Peer(
            r["peer"],
            r["since"],
            r["asked_at"],
            r["answered_at"],
            r["records"],
            r["bundles"],
            bool(r["forgotten"]),
        )
        for r in rows
    ]


def waiting(store: Store) -> int:
    """Records that wait for what they refer to (an item, a request) to come back."""
    return int(store.db.execute("SELECT COUNT(*) FROM parked").fetchone()[0])


def coming(store: Store) -> int:
    """Bundles a neighbour said it hands again that have not come yet."""
    return int(store.db.execute("SELECT COUNT(*) FROM arrival WHERE arrived = 0").fetchone()[0])


def running(store: Store) -> bool:
    """Whether a resync is under way: a neighbour has not answered, a bundle it hands again
    has not come, or records still wait."""
    row = store.db.execute(
        "SELECT EXISTS(SELECT 1 FROM resync WHERE answered_at IS NULL) "
        "OR EXISTS(SELECT 1 FROM arrival WHERE arrived = 0) OR EXISTS(SELECT 1 FROM parked)"
    ).fetchone()
    return bool(row[0])


def summary(store: Store) -> dict[str, Any]:
    """For ``status`` and the console's 网络 tab: whether a resync runs, each neighbour's
    answer, bundles still to come, records waiting; empty if this node was never restored."""
    asked = peers(store)
    if not asked:
        return {}
    return {
        "running": running(store),
        "waiting": waiting(store),
        "coming": coming(store),
        "peers": [
            {
                "peer": p.peer,
                "since": p.since,
                "asked_at": p.asked_at,
                "answered_at": p.answered_at,
                "records": p.records,
                "bundles": p.bundles,
                "forgotten": p.forgotten,
            }
            for p in asked
        ],
    }


def forget(store: Store, peer: str, at: datetime | None = None) -> bool:
    """Stop waiting for ``peer``'s answer and the bundles it said it hands again (a neighbour
    taken out of the network); whether it had been asked. What it sends later is taken as
    anything is from a neighbour, not as part of the resync."""
    from schema.clock import system_clock

    with store.write() as db:
        cursor = db.execute(
            "UPDATE resync SET answered_at = COALESCE(answered_at, ?), forgotten = 1 "
            "WHERE peer = ?",
            [to_text(at or system_clock()), peer],
        )
        db.execute("UPDATE arrival SET arrived = 1 WHERE peer = ?", [peer])
    return cursor.rowcount > 0


def answering(store: Store, peer: str, payload: dict[str, Any]) -> bool:
    """Whether a word from ``peer`` answers the resync this node asked of it and it has not
    finished answering (``for``: the request's id). Anything else — nobody asked, an answer
    to an older request, one after its ``resync-done`` — is ignored."""
    row = store.db.execute(
        "SELECT 1 FROM resync WHERE peer = ? AND request_id = ? AND answered_at IS NULL",
        [peer, str(payload.get("for", ""))],
    ).fetchone()
    return row is not None


def first_arrivals(store: Store, peer: str, payload: dict[str, Any], at: datetime) -> int:
    """Keep when the bundles ``peer`` hands again had first been handed to this node (a
    ``resync-handed`` record's ``bundles``: id → time; anything malformed is skipped, and a
    time is held between the backup and the request: a neighbour cannot date a bundle to a
    moment it could not have come)."""
    bundles = payload.get("bundles")
    row = store.db.execute("SELECT since, asked_at FROM resync WHERE peer = ?", [peer]).fetchone()
    if not isinstance(bundles, dict) or row is None:
        return 0
    low, high = from_text(row[0]), from_text(row[1])
    rows = []
    for bundle_id, when in bundles.items():
        try:
            first = min(max(from_text(str(when)), low), high)
        except (TypeError, ValueError):
            continue
        rows.append((str(bundle_id)[:200], peer, to_text(first), to_text(at)))
    store.db.conn.executemany(
        "INSERT INTO arrival(bundle_id, peer, at, noted_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(bundle_id) DO UPDATE SET at = MIN(at, excluded.at)",
        rows,
    )
    return len(rows)


def arrivals_known(store: Store) -> bool:
    """Whether a bundle handed again is still to come (then each bundle is looked up)."""
    return (
        store.db.execute("SELECT 1 FROM arrival WHERE arrived = 0 LIMIT 1").fetchone() is not None
    )


def first_arrival(store: Store, bundle_id: str, created: datetime) -> datetime | None:
    """When a bundle handed again had first arrived here (None: not one of those), never
    before it was made (``created``, from its signed header); it is marked come."""
    row = store.db.execute("SELECT at FROM arrival WHERE bundle_id = ?", [bundle_id]).fetchone()
    if row is None:
        return None
    store.db.execute("UPDATE arrival SET arrived = 1 WHERE bundle_id = ?", [bundle_id])
    return max(from_text(row[0]), created)


def came(store: Store, bundle_id: str) -> None:
    """A bundle handed again has come (seen before, or only relayed here)."""
    store.db.execute("UPDATE arrival SET arrived = 1 WHERE bundle_id = ?", [bundle_id])


def give_up(store: Store, before: datetime) -> list[str]:
    """Once every neighbour has answered, records still waiting since before ``before``, and
    bundles said to be handed again but not come since then, will not be met: they stop
    being waited for (so a resync ends, and a reference to something unknown is refused again
    as on any node). The records' ids (for the log)."""
    with store.write() as db:
        if db.execute("SELECT 1 FROM resync WHERE answered_at IS NULL").fetchone():
            return []
        rows = db.execute(
            "SELECT record_id FROM parked WHERE parked_at < ?", [to_text(before)]
        ).fetchall()
        db.execute("DELETE FROM parked WHERE parked_at < ?", [to_text(before)])
        db.execute(
            "UPDATE arrival SET arrived = 1 WHERE arrived = 0 AND noted_at < ?", [to_text(before)]
        )
    return [r[0] for r in rows]


def done(store: Store, peer: str, payload: dict[str, Any], at: datetime) -> None:
    """A neighbour's ``resync-done``: it has answered (the records it returned came before;
    the bundles it hands again are counted in ``coming`` until they come)."""
    continue_counters(store, payload.get("counters"))
    records, bundles = payload.get("records"), payload.get("bundles")
    store.db.execute(
        "UPDATE resync SET answered_at = ?, records = ?, bundles = ? WHERE peer = ?",
        [to_text(at), _count_of(records), _count_of(bundles), peer],
    )


def _count_of(value: Any) -> int:
    """A count a neighbour reports, if it is one (0 otherwise)."""
    return value if type(value) is int and 0 <= value < 2**31 else 0


# -- a neighbour: answering ---------------------------------------------------------------------


def answer(
    store: Store,
    me: str,
    node: str,
    request_id: str,
    since: datetime,
    handed: Sequence[tuple[str, datetime]],
    at: datetime,
) -> int:
    """Answer ``node``'s resync: when each bundle handed to it again (``handed``) had first
    been handed (``resync-handed``, ahead of them: their records apply as of then, so an
    emergency that came in time is not counted late now); each of its own records held here
    since ``since`` as a ``returned`` record; then ``resync-done`` with its counters. How
    many records were returned."""
    held = held_from(store, node, since)
    bundles = len(handed)
    with store.write() as db:
        # an answer to an earlier request of the node not shipped yet is replaced: the node
        # waits only for this one, and the queue holds at most one answer a node
        db.execute(
            "DELETE FROM outbox WHERE shipped_at IS NULL AND kind IN (?, ?, ?) AND recipients = ?",
            [HANDED, RETURNED, DONE, json.dumps([node])],
        )
        for start in range(0, len(handed), HANDED_PER_RECORD):
            part = handed[start : start + HANDED_PER_RECORD]
            _send(
                store,
                me,
                node,
                HANDED,
                {"for": request_id, "bundles": {b: to_text(when) for b, when in part}},
                Classification.PUBLIC,
                at,
            )
        for entry in held:
            _send(
                store,
                me,
                node,
                RETURNED,
                {
                    "for": request_id,
                    "record": entry["record"],
                    "received_at": entry["received_at"],
                },
                _of_rank(entry["classification"]),
                at,
            )
        _send(
            store,
            me,
            node,
            DONE,
            {
                "for": request_id,
                "node": node,
                "counters": counters_of(store, node),
                "records": len(held),
                "bundles": bundles,
            },
            Classification.PUBLIC,
            at,
        )
    return len(held)


def _of_rank(rank: int) -> Classification:
    """The classification of a rank (as bundle headers carry it); 内部 if out of range."""
    members = list(Classification)
    return members[rank] if 0 <= rank < len(members) else Classification.INTERNAL


def _send(
    store: Store,
    me: str,
    node: str,
    kind: str,
    payload: dict[str, Any],
    classification: Classification,
    at: datetime,
) -> None:
    record = Record(
        id=f"{kind}:{me}:{secrets.token_hex(8)}", kind=kind, version=1, origin=me, payload=payload
    )
    # what is returned goes first; the word that it is done last, after the bundles handed
    # again (they keep their own priorities), so "done" is seldom said before they arrive
    priority = _priority(Urgency.ROUTINE if kind == DONE else Urgency.FLASH)
    if kind == HANDED:  # ahead of the bundles it speaks of, whatever their priority
        priority += 1
    outbox.enqueue(store, record, (node,), priority=priority, classification=classification, at=at)


def once(store: Store, record: Record, at: datetime) -> bool:
    """Mark a resync record handled; False if it was handled before (a bundle sent again)."""
    row = store.db.execute("SELECT 1 FROM applied WHERE record_id = ?", [record.id]).fetchone()
    if row is not None:
        return False
    store.db.execute(
        "INSERT INTO applied(record_id, kind, version, applied_at) VALUES (?,?,?,?)",
        [record.id, record.kind, record.version, to_text(at)],
    )
    return True


# -- the restored node: putting its own records back ------------------------------------------


def restore_own(store: Store, record: Record, me: str, at: datetime, received_at: str) -> bool:
    """Put back a record this node made itself (its signature checked by the daemon), as it
    stood when the neighbour got it; False if nothing was missing. Raises ``NotFound`` when it
    refers to something not back yet (the caller parks it), ``ValidationError`` for a kind
    this node does not put back."""
    if record.origin != me:
        raise ValidationError(
            "origin", f"记录 {record.id} 不是本节点编发的，不能作为本节点记录恢复"
        )
    restorer = _RESTORERS.get(record.kind)
    if restorer is None:
        return False  # a receipt, a roster … : nothing of it is state this node keeps
    mark = f"own:{record.id}"
    row = store.db.execute("SELECT version FROM applied WHERE record_id = ?", [mark]).fetchone()
    if row is not None and row[0] >= record.version:
        return False
    with store.savepoint():
        changed = restorer(store, record, me, at, received_at)
        store.db.execute(
            "INSERT INTO applied(record_id, kind, version, applied_at) VALUES (?,?,?,?) "
            "ON CONFLICT(record_id) DO UPDATE SET version = excluded.version",
            [mark, record.kind, record.version, to_text(at)],
        )
    return changed


def _own_item(store: Store, record: Record, me: str, at: datetime, received_at: str) -> bool:
    data = record.payload.get("item")
    if not isinstance(data, dict) or data.get("id") != record.id or data.get("origin") != me:
        raise ValidationError("item", f"记录 {record.id} 不是本节点的信息")
    draft = parse_item(data["content"])
    revision = int(data["revision"])
    signed_at = from_text(data["signed_at"]) if data.get("signed_at") else None
    held = items.find(store, record.id)
    changed = False
    if held is None:
        items.store_new(
            store,
            record.id,
            me,
            draft,
            editor=data.get("signer") or me,
            at=at,
            revision=revision,
            created_at=from_text(data["created_at"]),
            sources=tuple(str(s) for s in data.get("sources", [])),
            derivation=str(data.get("derivation", "")),
            signer=str(data.get("signer", "")),
            signed_at=signed_at,
        )
        changed = True
    elif revision > held.revision:
        items.revise(store, held, draft, editor=data.get("signer") or me, at=at, revision=revision)
        changed = True
    if signed_at is not None:
        items.set_signed(store, record.id, str(data.get("signer", "")), signed_at)
    year, _, number = record.id[len(me) + 1 :].partition("-")
    if year.isdigit() and number.isdigit():
        _at_least(store, f"item:{year}", int(number))
    for pair in record.payload.get("edges", []):
        if not (isinstance(pair, list) and len(pair) == 2 and pair[0] == me):
            continue
        edge = state.find_edge(store, record.id, me, str(pair[1]))
        if edge is None or edge.state in (EdgeState.DRAFT, EdgeState.AWAITING_SIGNOFF):
            state.restore(
                store,
                record.id,
                me,
                str(pair[1]),
                EdgeState.SENT,
                (edge.version + 1) if edge else 3,
                actor=str(data.get("signer") or me),
                at=signed_at or at,
                note="备份恢复后由上级回传",
                origin=me,
            )
            changed = True
        state.mark_delivered(store, record.id, me, str(pair[1]), _time(received_at, at))
    return changed


def _own_decision(store: Store, record: Record, me: str, at: datetime, received_at: str) -> bool:
    p = record.payload
    if p.get("to") != me:
        raise ValidationError("to", f"决定记录 {record.id} 不是本节点作出的")
    decided = EdgeState.parse(p.get("state"), "state")
    edge = state.find_edge(store, str(p["item_id"]), str(p["from"]), me)
    if edge is None:
        raise NotFound(f"信息 {p['item_id']} 尚未重新收到，处理结果待其到达后恢复")
    if edge.version >= record.version:
        return False
    state.restore(
        store,
        edge.item_id,
        edge.from_unit,
        me,
        decided,
        record.version,
        actor=str(p.get("actor", "")),
        at=_time(str(p.get("at", "")), at),
        note=str(p.get("note", "")),
        origin=me,
        placement=p.get("placement") or None,
    )
    return True


def _own_request(store: Store, record: Record, me: str, at: datetime, received_at: str) -> bool:
    return requests.restore_issued(store, me, record)


def _own_status(store: Store, record: Record, me: str, at: datetime, received_at: str) -> bool:
    return requests.restore_status(store, me, record)


def _own_issue(store: Store, record: Record, me: str, at: datetime, received_at: str) -> bool:
    return pubs.restore_issued(store, me, record, at)


def _own_instruction(store: Store, record: Record, me: str, at: datetime, received: str) -> bool:
    p = record.payload
    if p.get("issuer") != me:
        return False  # a relay of another office's instruction: made again when it comes back
    if store.one("SELECT 1 FROM instruction WHERE id = ?", (str(p.get("id")),)):
        return False
    made = instructions.Instruction(
        id=str(p["id"]),
        issuer=me,
        subject=str(p["subject"]),
        items=tuple(str(i) for i in p.get("items", [])),
        leader=str(p["leader"]),
        level=instructions.Level.parse(p["level"], "level"),
        text=str(p["text"]),
        at=from_text(p["at"]),
        feedback=bool(p.get("feedback")),
        deadline=from_text(p["deadline"]) if p.get("deadline") else None,
        assigned=tuple(str(u) for u in p.get("assigned", [])),
        request_id=str(p.get("request_id", "")),
    )
    return instructions.insert_row(store, made)


def _own_question(store: Store, record: Record, me: str, at: datetime, received: str) -> bool:
    p = record.payload
    if p.get("to") != me or store.one("SELECT 1 FROM verification WHERE id = ?", (record.id,)):
        return False
    verify.keep_question(store, record.id, str(p["item_id"]), me, str(p["from"]), p)
    return True


def _own_answer(store: Store, record: Record, me: str, at: datetime, received: str) -> bool:
    p = record.payload
    asked = verify.get(store, str(p.get("id", "")))  # NotFound: the question is not back yet
    if asked.source != me or not asked.open:
        return False
    verify.keep_answer(store, asked.id, p)
    return True


def _own_roster(store: Store, record: Record, me: str, at: datetime, received: str) -> bool:
    row = store.one("SELECT version FROM roster_version WHERE unit = ?", (me,))
    if row is not None and int(row["version"]) >= record.version:
        return False
    roster.apply_roster(store, record, me, at)
    _at_least(store, f"roster/{me}", record.version)
    return True


def _own_bulletin(store: Store, record: Record, me: str, at: datetime, received: str) -> bool:
    if store.one("SELECT 1 FROM bulletin_issue WHERE id = ?", (record.id,)):
        return False
    supervise.keep_own(store, record, me)
    return True


_RESTORERS: dict[str, Callable[[Store, Record, str, datetime, str], bool]] = {
    "item": _own_item,
    "decision": _own_decision,
    requests.REQUEST_KIND: _own_request,
    requests.STATUS_KIND: _own_status,
    pubs.ISSUE_KIND: _own_issue,
    instructions.INSTRUCTION_KIND: _own_instruction,
    verify.ASK_KIND: _own_question,
    verify.ANSWER_KIND: _own_answer,
    roster.KIND: _own_roster,
    supervise.KIND: _own_bulletin,
    # feedback passed down: made again when the decision it passes on comes back
}


# -- records that wait for what they refer to ---------------------------------------------------


def park(
    store: Store,
    record: Record,
    to: Sequence[str],
    own: bool,
    received_at: str,
    at: datetime,
    classification: int = 1,
) -> bool:
    """Keep a record that refers to something not back yet (an own decision on an item the
    county has not sent again; the province's decision on an own item not returned yet), to
    be applied by :func:`retry` as of ``received_at``. Inside the caller's transaction: the
    bundle it came in is acknowledged only with it kept. False (nothing kept) when
    ``MAX_WAITING`` records wait already: it is refused as on any node."""
    full = store.db.execute("SELECT COUNT(*) FROM parked").fetchone()[0] >= MAX_WAITING
    if full:
        return False
    store.db.execute(
        "INSERT INTO parked(record_id, version, own, record, addressees, received_at, "
        "parked_at) VALUES (?,?,?,?,?,?,?) ON CONFLICT(record_id, own) DO UPDATE SET "
        "version = excluded.version, record = excluded.record, "
        "addressees = excluded.addressees WHERE excluded.version >= parked.version",
        [
            record.id,
            record.version,
            int(own),
            _dumps(
                {
                    "id": record.id,
                    "kind": record.kind,
                    "version": record.version,
                    "origin": record.origin,
                    "payload": record.payload,
                    "proof": record.proof,
                    "classification": classification,
                }
            ),
            json.dumps(list(to)),
            received_at,
            to_text(at),
        ],
    )
    return True


Apply = Callable[[Record, tuple[str, ...], datetime, int], bool]
RETRY_SECONDS = 0.25  # one retry's budget: a long waiting list never stalls receiving


def retry(store: Store, me: str, at: datetime, apply: Apply, budget: float = RETRY_SECONDS) -> int:
    """Apply the parked records whose dependencies came back (own ones here, received ones
    through ``apply`` as of when they came, with the classification they came under, which
    says whether it no longer waits); rounds until one changes nothing (bounded, and within
    ``budget`` seconds: the rest are tried next time). A record that fails for any other
    reason is logged and no longer waits: it never holds the others up. How many left the
    waiting list."""
    total = 0
    deadline = time.monotonic() + budget
    if not store.db.execute("SELECT 1 FROM parked LIMIT 1").fetchone():
        return 0
    for _ in range(16):
        rows = store.query(
            "SELECT record_id, own, record, addressees, received_at FROM parked "
            "ORDER BY received_at, rowid LIMIT ?",
            (MAX_WAITING,),
        )
        progress = 0
        for row in rows:
            if time.monotonic() > deadline:
                return total + progress
            try:
                data = json.loads(row["record"])
                record = Record(
                    data["id"],
                    data["kind"],
                    data["version"],
                    data["origin"],
                    data["payload"],
                    proof=data.get("proof"),
                )
                came = _time(row["received_at"], at)
                with store.savepoint():
                    if row["own"]:
                        restore_own(store, record, me, came, row["received_at"])
                    elif not apply(
                        record,
                        tuple(json.loads(row["addressees"])),
                        came,
                        int(data.get("classification", 1)),
                    ):
                        continue  # still waiting (parked again)
            except NotFound:
                continue
            except StoreError:
                raise  # the node's own store failed: nothing is wrong with the record
            except (XinbaoError, LookupError, ValueError, TypeError, sqlite3.Error) as exc:
                log.warning("parked record %s refused: %s", row["record_id"], exc)
            store.db.execute(
                "DELETE FROM parked WHERE record_id = ? AND own = ?", [row["record_id"], row["own"]]
            )
            progress += 1
        total += progress
        if not progress:
            break
    return total


@lru_cache(maxsize=8)
def _priority(urgency: Urgency = Urgency.FLASH) -> int:
    """The queue priority of ``urgency`` (``schema/data/desk.toml``, read once); a resync
    request and the records returned travel as 特急: what a restored node lacks comes first."""
    from schema.desk import DeskRules  # the desk applies records through this module

    return DeskRules.load().priority[urgency]


def _time(text: str, default: datetime) -> datetime:
    try:
        return from_text(text)
    except (TypeError, ValueError):
        return default


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
