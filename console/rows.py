"""The inbox as the console reads it: the ids of every row up front (cheap integers), the
columns only for the rows on screen, a page at a time, cached. A store with 100,000 items
opens at once; a filter is another id list from the full-text index.

No Textual here: the widget (console/inbox.py) asks for rows by position.
"""

from __future__ import annotations

import bisect
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from schema.clock import from_text
from schema.search import match_query
from schema.state import shown
from schema.store import Store

PAGE = 64
FILTER_LIMIT = 10_000  # hits a filter shows, newest first
FIRST_PAINT = 1_000  # ids read before the first frame; the rest come from a worker
OWED_LIMIT = 500  # owed first reports put first (a board holds a handful)
# the inbox's orders, in the order s cycles; the first is the default: first reports still owed
# (nearest deadline first), then urgency, then newest first. The edge id breaks every tie, so
# equal times come in the same order on every run.
SORTS = ("时限→紧急→时间", "最新", "来源单位", "状态")
DEFAULT, NEWEST = 0, 1
_ORDER = (
    "e.urgent DESC, e.id DESC",  # edge.urgent: the item's urgency rank (schema m014)
    "e.id DESC",
    "e.from_unit, e.id DESC",
    "e.state, e.id DESC",
)


def put_first(ids: list[int], first: list[int], *, all_present: bool) -> list[int]:
    """``ids`` with ``first`` moved to the front in their order: every one of them
    (``all_present``: they are known to belong to the list, though perhaps not read yet, as in
    a first paint) or only those found in ``ids``."""
    if not first:
        return ids
    wanted = set(first)
    rest = [i for i in ids if i not in wanted]
    if not all_present and len(ids) - len(rest) < len(wanted):
        present = wanted.intersection(ids)
        first = [i for i in first if i in present]
    return first + rest


@dataclass(frozen=True)
class Row:
    """One inbox line."""

    edge_id: int
    item_id: str
    title: str
    urgency: str
    classification: str
    category: str
    peer: str
    state: str
    received: datetime


class InboxRows:
    """Rows of the edges addressed to ``me`` (or, :attr:`outgoing`, sent from it), newest
    first, optionally filtered and sorted."""

    def __init__(self, store: Store, me: str) -> None:
        self.store = store
        self.me = me
        self.filter = ""
        self.sort = DEFAULT  # index into SORTS
        self._owed_items: list[str] = []  # items with a first report owed, nearest first
        self._owed: tuple[bool, list[int]] = (False, [])  # the box, and their edges in it
        self.outgoing = False  # 发件: edges from this node (own items, drafts to sign off)
        self.ids: list[int] = []
        self._cache: dict[int, Row] = {}
        self._version = -1
        self._top = 0  # the highest edge id in the list (what is newer comes from take_new)
        self.complete = True
        self.reload(FIRST_PAINT)

    def __len__(self) -> int:
        return len(self.ids)

    def reload(self, limit: int | None = None) -> None:
        """Read the id list again (after a filter change or another process's commit); with
        ``limit``, only the newest ``limit`` (a first paint — :attr:`complete` says whether
        that was all)."""
        version = self.data_version()
        sql, params = self.ids_query(limit)
        if sql and limit is not None:
            sql, params = f"{sql} LIMIT ?", [*params, limit]
        ids = [r[0] for r in self.store.db.execute(sql, params).fetchall()] if sql else []
        arranged = self.arrange(ids)
        self.adopt(arranged if limit is None else arranged[:limit], version)
        # a filtered first paint may miss hits (an item with no edge here): the worker reads all
        self.complete = limit is None or not sql or (len(ids) < limit and not self.filter.strip())

    def ids_query(self, limit: int | None = None) -> tuple[str, list[object]]:
        """The SQL (and its parameters) that lists the ids for the current filter and sort
        (the owed first reports are put first after: :meth:`arrange`)."""
        mine = "from_unit" if self.outgoing else "to_unit"
        order = _ORDER[self.sort]
        if self.outgoing:  # by the unit it went to
            order = order.replace("e.from_unit", "e.to_unit")
        if not self.filter.strip():  # the default and newest orders come from an index
            return f"SELECT e.id FROM edge e WHERE e.{mine} = ? ORDER BY {order}", [self.me]
        query = match_query(self.filter)
        if query is None:
            return "", []
        # the newest FILTER_LIMIT hits straight from the index (FTS5 walks rowids downward and
        # stops), then their edges; joining first made SQLite read and sort every hit (1.2 s
        # for a common term in 1,000,000 items), or scan the index once per edge
        if self.sort == NEWEST:
            order = "h.seq DESC, e.id DESC"
        return (
            "SELECT e.id FROM (SELECT rowid AS seq FROM item_fts WHERE item_fts MATCH ? "
            "ORDER BY rowid DESC LIMIT ?) h CROSS JOIN item i ON i.seq = h.seq "
            # + keeps SQLite on the item_id index: the box's own index, probed per hit, walks
            # the whole box each time (10 s for 4,000 hits in 10,000 items)
            f"CROSS JOIN edge e ON e.item_id = i.id WHERE +e.{mine} = ? ORDER BY {order}",
            # a first paint asks the index for no more hits than it shows: SQLite
            # materialises the subquery, all FILTER_LIMIT of them (20–37 ms at 100,000)
            [query, min(limit or FILTER_LIMIT, FILTER_LIMIT), self.me],
        )

    def arrange(self, ids: list[int], owed: list[int] | None = None) -> list[int]:
        """The default order puts the owed first reports (``owed``, else :attr:`owed`) first;
        safe to call from a worker with a copy of :attr:`owed`."""
        if self.sort != DEFAULT:
            return ids
        owed = self.owed if owed is None else owed
        return put_first(ids, owed, all_present=not self.filter.strip())

    @property
    def owed(self) -> list[int]:
        """The edges of this box whose item's first report is owed, nearest deadline first."""
        if self._owed[0] != self.outgoing:  # the other box: its own edges
            self._owed = (self.outgoing, self._owed_edges(self._owed_items))
        return self._owed[1]

    def set_owed(self, item_ids: list[str]) -> bool:
        """Take the items whose first report is owed, nearest deadline first; whether that
        changed which edges come first."""
        self._owed_items = item_ids[:OWED_LIMIT]
        before = self._owed
        self._owed = (self.outgoing, self._owed_edges(self._owed_items))
        return self._owed != before

    def _owed_edges(self, item_ids: list[str]) -> list[int]:
        if not item_ids:
            return []
        mine = "from_unit" if self.outgoing else "to_unit"
        rank = {item_id: n for n, item_id in enumerate(item_ids)}
        rows = self.store.db.execute(
            f"SELECT id, item_id FROM edge WHERE {mine} = ? AND item_id IN "
            f"({','.join('?' * len(item_ids))})",
            [self.me, *item_ids],
        ).fetchall()
        return [r[0] for r in sorted(rows, key=lambda r: (rank[r[1]], -r[0]))]

    def adopt(self, ids: list[int], version: int, top: int | None = None) -> None:
        """Take an id list read elsewhere (a worker thread) as of ``version``; ``top``: its
        highest edge id, if the worker knows it (reading it here costs a pass over the list)."""
        self.ids = ids
        self._cache.clear()
        self._version = version
        self._top = top if top is not None else max(ids, default=0)
        self.complete = True

    def take_new(self) -> int:
        """Put the edges added since the list was read (another process received records) in
        their places without reading the list again — a full read of a box of 1,000,000 takes
        half a second — and say how many. Only for the whole box in the default or newest order
        (a filter or another order is read again); the full read that follows corrects any
        other change (an urgency revised, a deadline passed)."""
        if self.filter.strip() or self.sort not in (DEFAULT, NEWEST) or not self.complete:
            return 0
        mine = "from_unit" if self.outgoing else "to_unit"
        db = self.store.db
        new = db.execute(
            f"SELECT id, urgent FROM edge WHERE {mine} = ? AND id > ? ORDER BY id",
            [self.me, self._top],
        ).fetchall()
        if not new:
            return 0
        owed = set(self.owed) if self.sort == DEFAULT else set()
        lo = 0
        while lo < len(self.ids) and self.ids[lo] in owed:
            lo += 1  # the owed come first; the rest is ordered by (urgency, id) downward

        def key(edge_id: int) -> tuple[int, int]:
            if self.sort == NEWEST:
                return (0, -edge_id)
            row = db.execute("SELECT urgent FROM edge WHERE id = ?", [edge_id]).fetchone()
            return (-(row[0] if row else 0), -edge_id)

        for edge_id, urgent in new:
            place = (0 if self.sort == NEWEST else -urgent, -edge_id)
            self.ids.insert(bisect.bisect_left(self.ids, place, lo=lo, key=key), edge_id)
        self._top = new[-1][0]
        return len(new)

    def path(self) -> str:
        """The store's file, for a worker's own connection."""
        row = self.store.db.execute("PRAGMA database_list").fetchone()
        return str(row[2])

    def data_version(self) -> int:
        """Changes whenever another connection commits (SQLite's ``PRAGMA data_version``)."""
        try:
            return int(self.store.db.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:
            return self._version

    def changed(self) -> bool:
        """Whether another process has committed since the last :meth:`reload`."""
        return self.data_version() != self._version

    def set_filter(self, text: str) -> None:
        self.filter = text
        self.reload()

    def row(self, index: int) -> Row | None:
        """The row at ``index`` (0 = newest), reading its page if needed."""
        if not 0 <= index < len(self.ids):
            return None
        edge_id = self.ids[index]
        if edge_id not in self._cache:
            start = index - index % PAGE
            self._load(self.ids[start : start + PAGE])
        return self._cache.get(edge_id)

    def index_of(self, edge_id: int) -> int | None:
        """Where a row is now (to keep the cursor on it across a reload)."""
        try:
            return self.ids.index(edge_id)
        except ValueError:
            return None

    def _load(self, ids: list[int]) -> None:
        marks = ",".join("?" * len(ids))
        peer = "e.to_unit" if self.outgoing else "e.from_unit"
        rows = self.store.db.execute(
            "SELECT e.id, e.item_id, e.from_unit, e.state, e.updated_at, i.title, i.urgency, "
            "i.classification, i.category, e.delivered_at, COALESCE(NULLIF(u.short, ''), u.name, "
            f"{peer}) AS peer, (SELECT MIN(a.at) FROM audit a WHERE a.edge_id = e.id) AS got "
            f"FROM edge e JOIN item i ON i.id = e.item_id LEFT JOIN unit u ON u.id = {peer} "
            f"WHERE e.id IN ({marks})",
            ids,
        ).fetchall()
        for r in rows:
            self._cache[r[0]] = Row(
                edge_id=r[0],
                item_id=r[1],
                title=r[5],
                urgency=r[6],
                classification=r[7],
                category=r[8],
                peer=r[10],
                state=shown(r[3], r[9]) if r[2] == self.me else r[3],
                received=from_text(r[11] or r[4]),
            )


def fetch_ids(path: str, sql: str, params: list[object]) -> list[int]:
    """Run an id query on a connection of its own (for a worker thread)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    try:
        return [r[0] for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()
