"""The inbox as the console reads it: the ids of every row up front (cheap integers), the
columns only for the rows on screen, a page at a time, cached. A store with 100,000 items
opens at once; a filter is another id list from the full-text index.

No Textual here: the widget (console/inbox.py) asks for rows by position.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from schema.clock import from_text
from schema.search import match_query
from schema.store import Store

PAGE = 64
FILTER_LIMIT = 10_000  # hits a filter shows, newest first


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
    """Rows of the edges addressed to ``me``, newest first, optionally filtered."""

    def __init__(self, store: Store, me: str) -> None:
        self.store = store
        self.me = me
        self.filter = ""
        self.ids: list[int] = []
        self._cache: dict[int, Row] = {}
        self._version = -1
        self.reload()

    def __len__(self) -> int:
        return len(self.ids)

    def reload(self) -> None:
        """Read the id list again (after a filter change or another process's commit)."""
        query = match_query(self.filter) if self.filter.strip() else None
        if self.filter.strip() and query is None:
            self.ids = []
        elif query is None:
            self.ids = [
                r[0]
                for r in self.store.db.execute(
                    "SELECT id FROM edge WHERE to_unit = ? ORDER BY id DESC", [self.me]
                ).fetchall()
            ]
        else:
            self.ids = [
                r[0]
                # CROSS JOIN keeps the index outermost (SQLite otherwise scans it once per
                # edge: 0.4 s for 4,000 hits in 10,000 items); newest hits first, and at most
                # FILTER_LIMIT of them so a term found in half a million items still answers
                # at once
                for r in self.store.db.execute(
                    "SELECT e.id FROM item_fts f CROSS JOIN item i ON i.seq = f.rowid "
                    "CROSS JOIN edge e ON e.item_id = i.id WHERE item_fts MATCH ? "
                    "AND e.to_unit = ? ORDER BY f.rowid DESC, e.id DESC LIMIT ?",
                    [query, self.me, FILTER_LIMIT],
                ).fetchall()
            ]
        self._cache.clear()
        self._version = self.data_version()

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
        rows = self.store.db.execute(
            "SELECT e.id, e.item_id, e.from_unit, e.state, e.updated_at, i.title, i.urgency, "
            "i.classification, i.category, NULL, COALESCE(NULLIF(u.short, ''), u.name, "
            "e.from_unit) AS peer, (SELECT MIN(a.at) FROM audit a WHERE a.edge_id = e.id) AS got "
            f"FROM edge e JOIN item i ON i.id = e.item_id LEFT JOIN unit u ON u.id = e.from_unit "
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
                state=r[3],
                received=from_text(r[11] or r[4]),
            )
