"""The per-edge state machine: every legal transition, and the audit log written with each.

An edge is (item, from unit, to unit). Its sender and its receiver each hold a copy. The
receiver decides (adopt, return, …) through :func:`move`, which checks the table below; the
decision then travels back down as a record and the sender's copy follows it with
:func:`mirror`, which takes the receiver's word for the state but still logs the step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schema.clock import from_text, to_text
from schema.error import NotFound, TransitionError
from schema.record import AuditEntry, Edge
from schema.store import Store
from schema.vocabulary import EdgeState as S

# What may follow each state at the desk that owns the decision. None is "no edge yet".
TRANSITIONS: dict[S | None, frozenset[S]] = {
    None: frozenset({S.DRAFT, S.AWAITING_SIGNOFF, S.RECEIVED}),
    S.DRAFT: frozenset({S.AWAITING_SIGNOFF}),
    S.AWAITING_SIGNOFF: frozenset({S.DRAFT, S.SENT}),
    S.SENT: frozenset({S.RECEIVED}),
    S.RECEIVED: frozenset({S.RETURNED, S.REJECTED, S.RESERVED, S.MERGED, S.ADOPTED, S.FORWARDED}),
    S.RESERVED: frozenset({S.RETURNED, S.REJECTED, S.MERGED, S.ADOPTED, S.FORWARDED}),
    # ↺: the sender revises and resubmits; the receiver sees the new revision arrive.
    S.RETURNED: frozenset({S.DRAFT, S.AWAITING_SIGNOFF, S.RECEIVED}),
    S.REJECTED: frozenset(),
    S.MERGED: frozenset({S.CLOSED}),
    S.ADOPTED: frozenset({S.PLACED, S.FORWARDED, S.INSTRUCTED, S.RESERVED, S.CLOSED}),
    S.PLACED: frozenset({S.ISSUED, S.ADOPTED}),
    S.ISSUED: frozenset({S.FORWARDED, S.INSTRUCTED, S.CLOSED}),
    S.FORWARDED: frozenset({S.INSTRUCTED, S.CLOSED}),
    S.INSTRUCTED: frozenset({S.FEEDBACK, S.CLOSED}),
    S.FEEDBACK: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
}


# Shown, never stored: a sent edge its recipient has not yet confirmed (no end-to-end receipt),
# so a desk with no link never reads 已报送 for an item still sitting in its own outbox.
PENDING = "待发送"


def shown(state: str, delivered: object) -> str:
    """The state a desk sees on an edge it sent: 待发送 until the recipient has it."""
    return PENDING if state == S.SENT and not delivered else state


def check(current: S | None, target: S) -> None:
    """Raise :class:`TransitionError` unless ``current → target`` is legal."""
    if target in TRANSITIONS[current]:
        return
    if current is None:
        raise TransitionError(f"新建的流转不能处于“{target}”状态")
    allowed = "、".join(s.value for s in TRANSITIONS[current]) or "无（已是终态）"
    raise TransitionError(f"当前状态为“{current}”，不能改为“{target}”（可改为：{allowed}）")


def edge_from_row(row: dict[str, Any]) -> Edge:
    """An :class:`Edge` from its ``edge`` table row."""
    return Edge(
        id=row["id"],
        item_id=row["item_id"],
        from_unit=row["from_unit"],
        to_unit=row["to_unit"],
        state=S(row["state"]),
        version=row["version"],
        updated_at=from_text(row["updated_at"]),
        note=row["note"],
        placement=row["placement"],
        delivered_at=from_text(row["delivered_at"]) if row.get("delivered_at") else None,
    )


def mark_delivered(store: Store, item_id: str, from_unit: str, to_unit: str, at: datetime) -> bool:
    """Record the recipient's end-to-end receipt on an outgoing edge (the first one counts)."""
    with store.write() as db:
        cursor = db.execute(
            "UPDATE edge SET delivered_at = ? WHERE item_id = ? AND from_unit = ? "
            "AND to_unit = ? AND delivered_at IS NULL",
            [to_text(at), item_id, from_unit, to_unit],
        )
    return cursor.rowcount > 0


def find_edge(store: Store, item_id: str, from_unit: str, to_unit: str) -> Edge | None:
    """The edge (item, from, to) at this node, if held."""
    row = store.one(
        "SELECT * FROM edge WHERE item_id = ? AND from_unit = ? AND to_unit = ?",
        (item_id, from_unit, to_unit),
    )
    return edge_from_row(row) if row else None


def find_edge_to(store: Store, item_id: str, me: str) -> Edge | None:
    """The edge by which ``me`` received ``item_id``, if it did."""
    row = store.one(
        "SELECT * FROM edge WHERE item_id = ? AND to_unit = ? ORDER BY id LIMIT 1", (item_id, me)
    )
    return edge_from_row(row) if row else None


def get_edge(store: Store, edge_id: int) -> Edge:
    """The edge with this row id."""
    row = store.one("SELECT * FROM edge WHERE id = ?", (edge_id,))
    if row is None:
        raise NotFound(f"流转记录 {edge_id} 不存在")
    return edge_from_row(row)


def create(
    store: Store,
    item_id: str,
    from_unit: str,
    to_unit: str,
    state: S,
    *,
    actor: str,
    at: datetime,
    note: str = "",
    origin: str = "local",
) -> Edge:
    """Create an edge in its first state and log it."""
    check(None, state)
    return _insert(store, item_id, from_unit, to_unit, state, 1, actor, at, note, origin, "")


def _insert(
    store: Store,
    item_id: str,
    from_unit: str,
    to_unit: str,
    state: S,
    version: int,
    actor: str,
    at: datetime,
    note: str,
    origin: str,
    placement: str,
) -> Edge:
    with store.write() as db:
        cursor = db.execute(
            "INSERT INTO edge(item_id, from_unit, to_unit, state, version, note, updated_at, "
            "placement) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [item_id, from_unit, to_unit, state.value, version, note, to_text(at), placement],
        )
        edge_id = int(cursor.lastrowid or 0)
        _log(store, edge_id, actor, at, None, state, note, origin)
    return get_edge(store, edge_id)


def move(
    store: Store,
    edge: Edge,
    target: S,
    *,
    actor: str,
    at: datetime,
    note: str = "",
    placement: str | None = None,
    origin: str = "local",
) -> Edge:
    """Move ``edge`` to ``target`` if legal, bumping its version, and log it.

    ``origin`` names the unit whose action caused the move when it was not this desk's own
    (a resubmitted revision arriving from the sender).
    """
    with store.write():
        current = get_edge(store, edge.id)  # the stored state, not a caller's stale copy
        check(current.state, target)
        return _set(store, current, target, current.version + 1, actor, at, note, origin, placement)


def mirror(
    store: Store,
    edge: Edge,
    target: S,
    *,
    actor: str,
    at: datetime,
    note: str,
    origin: str,
    placement: str | None = None,
) -> Edge:
    """Follow the deciding node's state for ``edge`` and log it.

    Ordering of decisions is the caller's concern (records are applied by version); each copy
    of an edge counts its own versions.
    """
    with store.write():
        current = get_edge(store, edge.id)
        return _set(store, current, target, current.version + 1, actor, at, note, origin, placement)


def _set(
    store: Store,
    edge: Edge,
    target: S,
    version: int,
    actor: str,
    at: datetime,
    note: str,
    origin: str,
    placement: str | None,
) -> Edge:
    store.db.execute(
        "UPDATE edge SET state = ?, version = ?, note = ?, updated_at = ?, "
        "placement = COALESCE(?, placement) WHERE id = ?",
        [target.value, version, note, to_text(at), placement, edge.id],
    )
    _log(store, edge.id, actor, at, edge.state, target, note, origin)
    return get_edge(store, edge.id)


def _log(
    store: Store,
    edge_id: int,
    actor: str,
    at: datetime,
    before: S | None,
    after: S,
    note: str,
    origin: str,
) -> None:
    store.db.execute(
        "INSERT INTO audit(edge_id, actor, at, from_state, to_state, note, origin, key) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            edge_id,
            actor,
            to_text(at),
            before.value if before else None,
            after.value,
            note,
            origin,
            store.actor_key if origin == "local" else "",
        ],
    )


def audit_log(store: Store, item_id: str) -> list[AuditEntry]:
    """Every logged transition of every edge of ``item_id``, oldest first."""
    rows = store.query(
        "SELECT a.*, e.item_id, e.from_unit, e.to_unit FROM audit a "
        "JOIN edge e ON e.id = a.edge_id WHERE e.item_id = ? ORDER BY a.id",
        (item_id,),
    )
    return [
        AuditEntry(
            id=r["id"],
            item_id=r["item_id"],
            from_unit=r["from_unit"],
            to_unit=r["to_unit"],
            actor=r["actor"],
            at=from_text(r["at"]),
            from_state=S(r["from_state"]) if r["from_state"] else None,
            to_state=S(r["to_state"]),
            note=r["note"],
            origin=r["origin"],
            key=r["key"],
        )
        for r in rows
    ]


def restore(
    store: Store,
    item_id: str,
    from_unit: str,
    to_unit: str,
    target: S,
    version: int,
    *,
    actor: str,
    at: datetime,
    note: str,
    origin: str,
    placement: str | None = None,
) -> Edge:
    """Put an edge back as this node last had it, after a restore from a backup (its own
    decision or sign-off, as the neighbour that holds the signed record says): the state and
    the version exactly, with no transition check — the transitions happened before the disk
    was lost. Creates the edge where it is missing."""
    with store.write():
        edge = find_edge(store, item_id, from_unit, to_unit)
        if edge is None:
            return _insert(
                store,
                item_id,
                from_unit,
                to_unit,
                target,
                version,
                actor,
                at,
                note,
                origin,
                placement or "",
            )
        return _set(store, edge, target, version, actor, at, note, origin, placement)
