"""What a desk sees: inbox and outbox pages, full-text search, one item in full."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from schema import editorial, similar, state, verify
from schema import item as items
from schema.clock import from_text, to_text
from schema.editorial import Finding
from schema.instruction import Feedback, Instruction, feedback_on, instructions_on
from schema.outbox import held_back
from schema.record import AuditEntry, Edge, Held, Item
from schema.search import match_query
from schema.store import Store
from schema.verify import Verification

PAGE = 50

_COLUMNS = (
    "e.id AS edge_id, e.item_id, e.from_unit, e.to_unit, e.state, e.updated_at, e.note, "
    "e.placement, e.delivered_at, i.title, i.category, i.urgency, i.classification, i.origin, "
    "i.created_at, i.signer, i.revision, "
    "COALESCE(NULLIF(u.short, ''), u.name, e.{peer}) AS peer_name"
)


def inbox(
    store: Store, me: str, *, search: str = "", limit: int = PAGE, before: int | None = None
) -> list[dict[str, Any]]:
    """Items received by ``me``, newest first; ``before`` pages by ``edge_id``."""
    return _page(store, "to_unit", "from_unit", me, search, limit, before)


def outbox(
    store: Store, me: str, *, search: str = "", limit: int = PAGE, before: int | None = None
) -> list[dict[str, Any]]:
    """Items sent (or awaiting sign-off) by ``me``, newest first."""
    return _page(store, "from_unit", "to_unit", me, search, limit, before)


def search(store: Store, text: str, *, limit: int = PAGE) -> list[dict[str, Any]]:
    """Items held at this node whose title or body contains ``text``, newest first."""
    query = match_query(text)
    if query is None:
        return []
    return store.query(
        "SELECT i.id AS item_id, i.title, i.category, i.urgency, i.classification, i.origin, "
        "i.created_at FROM item_fts f JOIN item i ON i.seq = f.rowid "
        "WHERE item_fts MATCH ? ORDER BY f.rowid DESC LIMIT ?",
        (query, limit),
    )


def _page(
    store: Store,
    mine: str,
    peer: str,
    me: str,
    text: str,
    limit: int,
    before: int | None,
) -> list[dict[str, Any]]:
    columns = _COLUMNS.format(peer=peer)
    if not text.strip():
        after = "" if before is None else " AND e.id < ?"
        return store.query(
            f"SELECT {columns} FROM edge e JOIN item i ON i.id = e.item_id "
            f"LEFT JOIN unit u ON u.id = e.{peer} WHERE e.{mine} = ?{after} "
            "ORDER BY e.id DESC LIMIT ?",
            (me, *([] if before is None else [before]), limit),
        )
    query = match_query(text)
    if query is None:
        return []
    # Start from the index, newest match first, and stop at the page size: the cost follows
    # the matches read, not the size of the box (an IN (subquery) plan probes every edge).
    # Items and their edges are created together, so item order is the box's order. A page
    # cursor (an edge id) becomes a bound on the index's rowid, which FTS5 applies itself;
    # the edge id still separates edges of one item sent to several units.
    bound, params = "", [me, query]
    if before is not None:
        row = store.one(
            "SELECT i.seq FROM edge e JOIN item i ON i.id = e.item_id WHERE e.id = ?", (before,)
        )
        if row is None:
            return []
        bound = " AND f.rowid <= ? AND +e.id < ?"  # + keeps the join on the item_id index
        params += [row["seq"], before]
    # +e.{mine}: the edge is found by its item (one probe a hit); with the plain column the
    # planner may take the box's index instead and read the whole inbox for every hit
    return store.query(
        f"SELECT {columns} FROM item_fts f JOIN item i ON i.seq = f.rowid "
        f"JOIN edge e ON e.item_id = i.id AND +e.{mine} = ? "
        f"LEFT JOIN unit u ON u.id = e.{peer} WHERE item_fts MATCH ?{bound} "
        "ORDER BY f.rowid DESC LIMIT ?",
        (*params, limit),
    )


@dataclass(frozen=True)
class ItemView:
    """Everything a desk sees of one item: content, edges, revisions, provenance, audit."""

    item: Item
    edges: list[Edge]
    revisions: list[dict[str, Any]]
    derived: list[str]  # items of this node made from this one (forwards, merges)
    audit: list[AuditEntry]
    held: list[Held]  # links this item's record waits for (above their classification ceiling)
    editorial: list[Finding]  # advice on the text (schema/editorial.py)
    near: list[tuple[str, float]]  # items of other units here that look like the same event
    instructions: list[Instruction]  # leaders' instructions on it (or on what it became)
    feedback: list[Feedback]  # what became of it further up, passed down the chain
    verifications: list[Verification]  # 核实: questions asked of its source, and answers


def show(store: Store, item_id: str) -> ItemView:
    """The full view of one item held at this node."""
    item = items.get(store, item_id)
    edges = [
        state.edge_from_row(r)
        for r in store.query("SELECT * FROM edge WHERE item_id = ? ORDER BY id", (item_id,))
    ]
    derived = [
        r["item_id"]
        for r in store.query("SELECT item_id FROM source WHERE source_id = ?", (item_id,))
    ]
    return ItemView(
        item=item,
        edges=edges,
        revisions=items.revisions(store, item_id),
        derived=derived,
        audit=state.audit_log(store, item_id),
        held=held_back(store, item_id),
        editorial=editorial.check(item.draft),
        near=near_duplicates(store, item),
        instructions=instructions_on(store, item_id),
        feedback=feedback_on(store, item_id),
        verifications=verify.on_item(store, item_id),
    )


# a window this small is scored exactly, text by text; a larger one through the sketches
EXACT_WINDOW = 300
# a sketch estimate this far under the threshold is still scored exactly (estimates err by
# about 0.05 with 64 bins: a near duplicate is not missed for an unlucky estimate)
MARGIN = 0.1


def near_duplicates(store: Store, item: Item) -> list[tuple[str, float]]:
    """Items held here from other units, written within the window of ``item``, that look
    like reports of the same event (schema/similar.py), best first.

    A large window is not re-read text by text on every look: each item's sketch is kept
    (``item_sketch``, made the first time the item is in a window looked at), the window's
    sketches are compared, and only the items whose estimate comes near the threshold are
    scored exactly — the same list, at a cost that follows the window's size in sketches."""
    rules = similar.default_rules()
    doc = similar.Doc.of_item(item)
    span = timedelta(days=rules.window_days)
    rows = store.db.execute(
        "SELECT i.seq, i.id, i.origin, i.created_at, s.sketch FROM item i "
        "LEFT JOIN item_sketch s ON s.seq = i.seq "
        "WHERE i.created_at BETWEEN ? AND ? AND i.origin != ?",
        [to_text(item.created_at - span), to_text(item.created_at + span), item.origin],
    ).fetchall()
    if len(rows) <= EXACT_WINDOW:
        around = _window(store, item.created_at, rules.window_days)
        return similar.near_among(doc, around, rules)
    missing = [r[0] for r in rows if r[4] is None]
    made = _sketches(store, missing, rules) if missing else {}
    floor = rules.threshold - MARGIN
    kept = [r[4] if r[4] is not None else made[r[0]] for r in rows]
    guesses = similar.estimates(similar.sketch(doc, rules), kept)
    close = [r[1] for r, guess in zip(rows, guesses, strict=True) if guess >= floor]
    if not close:
        return []
    marks = ",".join("?" * len(close))
    found = store.db.execute(
        f"SELECT id, origin, title, body, created_at FROM item WHERE id IN ({marks})", close
    ).fetchall()
    others = [similar.Doc(r[0], r[1], r[2], r[3], from_text(r[4])) for r in found]
    return similar.near_among(doc, others, rules)


def _sketches(store: Store, seqs: list[int], rules: similar.SimilarRules) -> dict[int, bytes]:
    """Make and keep the sketches of the items ``seqs`` (read in one query)."""
    made: dict[int, bytes] = {}
    for start in range(0, len(seqs), 500):
        part = seqs[start : start + 500]
        marks = ",".join("?" * len(part))
        rows = store.db.execute(
            f"SELECT seq, id, origin, title, body, created_at FROM item WHERE seq IN ({marks})",
            part,
        ).fetchall()
        for r in rows:
            made[r[0]] = similar.sketch(similar.Doc(r[1], r[2], r[3], r[4], from_text(r[5])), rules)
    with store.write() as db:
        db.conn.executemany(
            "INSERT OR REPLACE INTO item_sketch(seq, sketch) VALUES (?, ?)", list(made.items())
        )
    return made


def duplicate_groups(store: Store, me: str, now: datetime) -> list[list[str]]:
    """Groups of received items of the last window that look like one event (to merge)."""
    rules = similar.default_rules()
    recent = [d for d in _window(store, now, rules.window_days) if d.unit != me]
    return similar.groups(similar.pairs(recent, None, rules))


def _window(store: Store, around: datetime, days: float) -> list[similar.Doc]:
    """The docs of the items written within ``days`` of ``around``, read in one query."""
    span = timedelta(days=days)
    rows = store.db.execute(
        "SELECT id, origin, title, body, created_at FROM item "
        "WHERE created_at BETWEEN ? AND ? ORDER BY seq",
        [to_text(around - span), to_text(around + span)],
    ).fetchall()
    return [similar.Doc(r[0], r[1], r[2], r[3], from_text(r[4])) for r in rows]
