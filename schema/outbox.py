"""The outgoing-record queue: what the daemon will seal and ship, highest priority first.

Sign-off queues an item record upward; triage decisions queue a decision record back down to
the sender. Records are written in the same transaction as the change that caused them.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from schema.clock import from_text, to_text
from schema.record import Held, QueuedRecord, Record
from schema.store import Store
from schema.vocabulary import Classification


def enqueue(
    store: Store,
    record: Record,
    recipients: tuple[str, ...],
    *,
    priority: int,
    classification: Classification,
    at: datetime,
    to: tuple[str, ...] = (),
) -> int:
    """Queue ``record`` for ``recipients``; returns its queue sequence number. ``to``: the
    addressees it is signed for when they are groups covering ``recipients`` (a request to
    ``all:county:140000``), so its bytes do not grow with the recipients."""
    with store.write() as db:
        cursor = db.execute(
            "INSERT INTO outbox(record_id, kind, version, origin, recipients, priority, "
            "classification, payload, created_at, address) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                record.id,
                record.kind,
                record.version,
                record.origin,
                json.dumps(list(recipients)),
                priority,
                classification.value,
                json.dumps(record.payload, ensure_ascii=False),
                to_text(at),
                json.dumps(list(to)),
            ],
        )
        return int(cursor.lastrowid or 0)


def pending(store: Store, limit: int = 1000) -> list[QueuedRecord]:
    """Records not yet shipped, highest priority first, then oldest first."""
    rows = store.query(
        "SELECT * FROM outbox WHERE shipped_at IS NULL ORDER BY priority DESC, seq LIMIT ?",
        (limit,),
    )
    return [_from_row(r) for r in rows]


def split(
    store: Store, queued: list[QueuedRecord], later: tuple[str, ...], at: datetime
) -> list[QueuedRecord]:
    """Queue ``queued`` again for the recipients in ``later`` only; the records as they now
    stand for the other recipients (the caller ships those)."""
    now_for: list[QueuedRecord] = []
    with store.write():
        for q in queued:
            keep = tuple(r for r in q.recipients if r in later)
            if keep:
                enqueue(
                    store,
                    q.record,
                    keep,
                    priority=q.priority,
                    classification=q.classification,
                    at=q.created_at,
                    to=q.to,
                )
            rest = tuple(r for r in q.recipients if r not in later)
            now_for.append(dataclasses.replace(q, recipients=rest))
    return now_for


def mark_shipped(store: Store, seqs: list[int], at: datetime) -> None:
    """Mark queued records as handed to the transport."""
    with store.write() as db:
        db.conn.executemany(
            "UPDATE outbox SET shipped_at = ? WHERE seq = ?", [(to_text(at), s) for s in seqs]
        )


def _from_row(row: dict[str, Any]) -> QueuedRecord:
    return QueuedRecord(
        seq=row["seq"],
        record=Record(
            id=row["record_id"],
            kind=row["kind"],
            version=row["version"],
            origin=row["origin"],
            payload=json.loads(row["payload"]),
        ),
        recipients=tuple(json.loads(row["recipients"])),
        priority=row["priority"],
        classification=Classification(row["classification"]),
        created_at=from_text(row["created_at"]),
        shipped_at=from_text(row["shipped_at"]) if row["shipped_at"] else None,
        to=tuple(json.loads(row["address"])),
    )


HYBRID_WAIT = "抗量子"  # a held row's "ceiling" when policy waits for the recipient's hybrid key


def set_held(store: Store, held: dict[tuple[str, str], str], at: datetime) -> None:
    """Replace what the daemon holds back: (record id, neighbour) → the link's ceiling. Rows
    still held keep their ``since``."""
    with store.write() as db:
        rows = db.execute("SELECT record_id, peer FROM held").fetchall()
        gone = [tuple(r) for r in rows if tuple(r) not in held]
        db.conn.executemany("DELETE FROM held WHERE record_id = ? AND peer = ?", gone)
        db.conn.executemany(
            "INSERT INTO held(record_id, peer, ceiling, since) VALUES (?,?,?,?) "
            "ON CONFLICT(record_id, peer) DO UPDATE SET ceiling = excluded.ceiling",
            [(rid, peer, ceiling, to_text(at)) for (rid, peer), ceiling in held.items()],
        )


def held_back(store: Store, record_id: str) -> list[Held]:
    """Why ``record_id`` has not left this node yet, per neighbour (empty: not held)."""
    rows = store.query(
        "SELECT peer, ceiling, since FROM held WHERE record_id = ? ORDER BY peer", (record_id,)
    )
    return [Held(r["peer"], r["ceiling"], from_text(r["since"])) for r in rows]
