"""The node store: one SQLite file (WAL, busy timeout, foreign keys), migrated on open.

Consoles and the daemon open the same file from separate processes; every write goes through
:meth:`Store.write`, which takes the write lock up front (``BEGIN IMMEDIATE``) so that two
writers queue on the busy timeout instead of failing on a lock upgrade.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from schema.error import StoreError
from schema.vocabulary import Urgency

# sqlite-utils imports numpy when it is installed, only to map numpy's scalar types to column
# types, which this store never writes. numpy is here for the arrays of a long item's sketch
# and search tokens (schema/similar.py, schema/search.py), loaded where those are made; every
# desk command and daemon would otherwise pay its start-up (~100 ms) on opening the store.
_HIDE_NUMPY = "numpy" not in sys.modules
if _HIDE_NUMPY:
    sys.modules["numpy"] = None  # type: ignore[assignment]  # "import numpy" fails for now
try:
    from sqlite_utils import Database
    from sqlite_utils.migrations import Migrations
finally:
    if _HIDE_NUMPY:
        del sys.modules["numpy"]

BUSY_TIMEOUT_S = 10.0
COMMIT_SUFFIX = "-commit"  # beside the store: opened for writing and closed after each commit


def commit_marker(store: Path) -> Path:
    """The file a store's every commit opens for writing and closes (``Store.write``), so a
    process watching the store's folder for files closed after writing (inotify's
    ``IN_CLOSE_WRITE``) — the sync daemon — learns of a commit by another connection from one
    event, rather than from every page written to the WAL (hundreds per commit, each an event
    it would have to read)."""
    return store.with_name(store.name + COMMIT_SUFFIX)


migrations = Migrations("xinbao.schema")


@migrations()
def m001_core(db: Database) -> None:
    """Units, items with revisions and provenance, edges, audit log, record queues, FTS."""
    db.executescript(
        """
        CREATE TABLE unit (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            short TEXT NOT NULL DEFAULT '',
            tier TEXT NOT NULL,
            parent TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE item (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            origin TEXT NOT NULL,
            revision INTEGER NOT NULL,
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            category TEXT NOT NULL,
            urgency TEXT NOT NULL,
            classification TEXT NOT NULL,
            author TEXT NOT NULL,
            phone TEXT NOT NULL DEFAULT '',
            request TEXT NOT NULL DEFAULT '',
            incident TEXT,
            signer TEXT NOT NULL DEFAULT '',
            signed_at TEXT,
            derivation TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE revision (
            item_id TEXT NOT NULL REFERENCES item(id),
            revision INTEGER NOT NULL,
            content TEXT NOT NULL,
            editor TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (item_id, revision)
        );
        CREATE TABLE source (
            item_id TEXT NOT NULL REFERENCES item(id),
            source_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            PRIMARY KEY (item_id, source_id)
        );
        CREATE INDEX source_by_source ON source(source_id);
        CREATE TABLE edge (
            id INTEGER PRIMARY KEY,
            item_id TEXT NOT NULL REFERENCES item(id),
            from_unit TEXT NOT NULL,
            to_unit TEXT NOT NULL,
            state TEXT NOT NULL,
            version INTEGER NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            placement TEXT NOT NULL DEFAULT '',
            updated_at TEXT NOT NULL,
            UNIQUE (item_id, from_unit, to_unit)
        );
        CREATE INDEX edge_inbox ON edge(to_unit, id);
        CREATE INDEX edge_outbox ON edge(from_unit, id);
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            edge_id INTEGER NOT NULL REFERENCES edge(id),
            actor TEXT NOT NULL,
            at TEXT NOT NULL,
            from_state TEXT,
            to_state TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            origin TEXT NOT NULL DEFAULT 'local'
        );
        CREATE INDEX audit_by_edge ON audit(edge_id, id);
        CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY,
            record_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            version INTEGER NOT NULL,
            origin TEXT NOT NULL,
            recipients TEXT NOT NULL,
            priority INTEGER NOT NULL,
            classification TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at TEXT NOT NULL,
            shipped_at TEXT
        );
        CREATE INDEX outbox_pending ON outbox(shipped_at, priority DESC, seq);
        CREATE TABLE applied (
            record_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            version INTEGER NOT NULL,
            applied_at TEXT NOT NULL
        );
        CREATE TABLE counter (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        );
        -- Contentless: the token text is derived from item rows (schema/search.py), so the
        -- index keeps no second copy of it; a revision deletes the old tokens explicitly.
        CREATE VIRTUAL TABLE item_fts USING fts5(
            title, body, content = '', tokenize = 'unicode61', prefix = '1'
        );
        """
    )


@migrations()
def m002_delivery(db: Database) -> None:
    """When an outgoing edge's record reached its recipient (end-to-end receipt); the
    attachments an item refers to (JSON list of {name, sha256, size})."""
    db.execute("ALTER TABLE edge ADD COLUMN delivered_at TEXT")
    db.execute("ALTER TABLE item ADD COLUMN attachments TEXT")


@migrations()
def m003_held(db: Database) -> None:
    """Queued records the daemon holds back: sealed, but above the classification ceiling of
    the link they must take (one row per record and neighbour; the daemon rewrites them)."""
    db.executescript(
        """
        CREATE TABLE held (
            record_id TEXT NOT NULL, peer TEXT NOT NULL, ceiling TEXT NOT NULL,
            since TEXT NOT NULL, PRIMARY KEY (record_id, peer)
        );
        """
    )


@migrations()
def m004_requests(db: Database) -> None:
    """Topic requests and reporting priorities (issued here or received), their targets with
    what each did, and scheduled follow-ups."""
    db.executescript(
        """
        CREATE TABLE request (
            id TEXT PRIMARY KEY, issuer TEXT NOT NULL, number TEXT NOT NULL,
            year INTEGER NOT NULL, state TEXT NOT NULL, body TEXT NOT NULL,
            classification TEXT NOT NULL, created_at TEXT NOT NULL, author TEXT NOT NULL,
            signer TEXT NOT NULL DEFAULT '', signed_at TEXT, follows TEXT NOT NULL DEFAULT '',
            units TEXT NOT NULL DEFAULT '[]', received_at TEXT
        );
        CREATE INDEX request_issuer ON request(issuer, year);
        CREATE TABLE request_target (
            request_id TEXT NOT NULL, unit TEXT NOT NULL, read_at TEXT, answered_at TEXT,
            zero_report INTEGER NOT NULL DEFAULT 0, replies TEXT NOT NULL DEFAULT '[]',
            note TEXT NOT NULL DEFAULT '', version INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (request_id, unit)
        );
        CREATE TABLE request_followup (
            request_id TEXT NOT NULL, step INTEGER NOT NULL, label TEXT NOT NULL,
            due TEXT NOT NULL, made TEXT NOT NULL DEFAULT '', PRIMARY KEY (request_id, step)
        );
        """
    )


@migrations()
def m005_incident_marks(db: Database) -> None:
    """迟报/漏报/瞒报/误报 recorded against units (automatically or by an upper desk)."""
    db.executescript(
        """
        CREATE TABLE incident_mark (
            id INTEGER PRIMARY KEY, unit TEXT NOT NULL, kind TEXT NOT NULL,
            item_id TEXT NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '',
            actor TEXT NOT NULL, at TEXT NOT NULL, auto INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX incident_mark_at ON incident_mark(at);
        """
    )


@migrations()
def m006_publications(db: Database) -> None:
    """Publications of this office beyond the shipped ones, issues (this node's, and those
    received from others with their entries as printed) and the items placed in them."""
    db.executescript(
        """
        CREATE TABLE publication (name TEXT PRIMARY KEY, copies INTEGER NOT NULL);
        CREATE TABLE issue (
            id TEXT PRIMARY KEY, publication TEXT NOT NULL, year INTEGER NOT NULL,
            number INTEGER NOT NULL, cumulative INTEGER NOT NULL, publisher TEXT NOT NULL,
            state TEXT NOT NULL, date TEXT NOT NULL, editor TEXT NOT NULL,
            signer TEXT NOT NULL DEFAULT '', signed_at TEXT, copies_from INTEGER NOT NULL,
            copies_to INTEGER NOT NULL, created_at TEXT NOT NULL, entries TEXT
        );
        CREATE INDEX issue_publication ON issue(publication, publisher, year, number);
        CREATE TABLE issue_item (
            issue_id TEXT NOT NULL, item_id TEXT NOT NULL, position INTEGER NOT NULL,
            PRIMARY KEY (issue_id, item_id)
        );
        CREATE INDEX issue_item_item ON issue_item(item_id);
        """
    )


@migrations()
def m007_instructions(db: Database) -> None:
    """Leader instructions (written here or received down the chain) and what became of this
    node's items further up (feedback passed down)."""
    db.executescript(
        """
        CREATE TABLE instruction (
            id TEXT PRIMARY KEY, issuer TEXT NOT NULL, subject TEXT NOT NULL,
            items TEXT NOT NULL, leader TEXT NOT NULL, level TEXT NOT NULL, text TEXT NOT NULL,
            at TEXT NOT NULL, feedback INTEGER NOT NULL DEFAULT 0, deadline TEXT,
            assigned TEXT NOT NULL DEFAULT '[]', request_id TEXT NOT NULL DEFAULT '',
            recorded_by TEXT NOT NULL DEFAULT '', received_at TEXT
        );
        CREATE TABLE feedback (
            id INTEGER PRIMARY KEY, item_id TEXT NOT NULL, via TEXT NOT NULL,
            by_unit TEXT NOT NULL, state TEXT NOT NULL, note TEXT NOT NULL DEFAULT '',
            placement TEXT NOT NULL DEFAULT '', at TEXT NOT NULL,
            UNIQUE (item_id, via, by_unit, state, at)
        );
        CREATE INDEX feedback_item ON feedback(item_id);
        """
    )


@migrations()
def m008_score_events(db: Database) -> None:
    """Scoring events as read from the store, kept append-only (an undo event reverses one
    that no longer holds) so a closed period's bulletin reads the same later."""
    db.executescript(
        """
        CREATE TABLE score_event (
            id TEXT PRIMARY KEY, kind TEXT NOT NULL, unit TEXT NOT NULL, at TEXT NOT NULL,
            item TEXT NOT NULL DEFAULT '', level TEXT NOT NULL DEFAULT '',
            publication TEXT NOT NULL DEFAULT '', joint TEXT NOT NULL DEFAULT '[]',
            forwarded TEXT NOT NULL DEFAULT '0', reverses TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX score_event_at ON score_event(at);
        """
    )


@migrations()
def m009_item_themes(db: Database) -> None:
    """The reporting-priority themes an item is tagged with (JSON list)."""
    db.execute("ALTER TABLE item ADD COLUMN themes TEXT")


@migrations()
def m010_item_created_index(db: Database) -> None:
    """Items by creation time: the emergency board and the near-duplicate window read only
    recent items."""
    db.execute("CREATE INDEX IF NOT EXISTS item_created ON item(created_at)")


@migrations()
def m011_leads(db: Database) -> None:
    """Leads: feed entries kept at this node only (never sent), and each feed's fetch state."""
    db.executescript(
        """
        CREATE TABLE lead (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            guid TEXT NOT NULL,
            link TEXT NOT NULL DEFAULT '',
            title TEXT NOT NULL,
            summary TEXT NOT NULL DEFAULT '',
            published TEXT,
            fetched_at TEXT NOT NULL,
            matched TEXT NOT NULL DEFAULT '[]',
            state TEXT NOT NULL DEFAULT '新',
            item_id TEXT NOT NULL DEFAULT '',
            UNIQUE (source, guid)
        );
        CREATE INDEX lead_link ON lead(link);
        CREATE INDEX lead_fetched ON lead(fetched_at);
        CREATE TABLE feed_state (
            source TEXT PRIMARY KEY,
            etag TEXT NOT NULL DEFAULT '',
            last_modified TEXT NOT NULL DEFAULT '',
            last_ok TEXT,
            last_error TEXT NOT NULL DEFAULT '',
            failures INTEGER NOT NULL DEFAULT 0,
            next_at TEXT,
            refused INTEGER NOT NULL DEFAULT 0
        );
        """
    )


@migrations()
def m012_proofs(db: Database) -> None:
    """The signed form of each item revision received, so a forward or merge can cite it."""
    db.execute(
        "CREATE TABLE proof (record_id TEXT PRIMARY KEY, version INTEGER NOT NULL, "
        "proof TEXT NOT NULL)"
    )


@migrations()
def m013_audit_key(db: Database) -> None:
    """The key a person signed in with over SSH, on every audit row they made."""
    db.execute("ALTER TABLE audit ADD COLUMN key TEXT NOT NULL DEFAULT ''")


def _urgency_rank(column: str) -> str:
    """SQL ranking an urgency word as :class:`Urgency` does (特急 highest)."""
    ranks = " ".join(f"WHEN '{u.value}' THEN {u.rank}" for u in Urgency)
    return f"CASE {column} {ranks} ELSE 0 END"


@migrations()
def m014_edge_urgency(db: Database) -> None:
    """Each edge carries its item's urgency rank, kept by triggers, so the inbox's default
    order (most urgent first, then newest) is read straight from an index at any size."""
    rank = _urgency_rank("urgency")
    db.executescript(
        f"""
        ALTER TABLE edge ADD COLUMN urgent INTEGER NOT NULL DEFAULT 0;
        UPDATE edge SET urgent = (SELECT {rank} FROM item WHERE item.id = edge.item_id);
        CREATE INDEX edge_inbox_urgent ON edge(to_unit, urgent, id);
        CREATE INDEX edge_outbox_urgent ON edge(from_unit, urgent, id);
        CREATE TRIGGER edge_urgent AFTER INSERT ON edge BEGIN
            UPDATE edge SET urgent = (SELECT {rank} FROM item WHERE item.id = NEW.item_id)
            WHERE id = NEW.id;
        END;
        CREATE TRIGGER item_urgent AFTER UPDATE OF urgency ON item BEGIN
            UPDATE edge SET urgent = (SELECT {_urgency_rank("NEW.urgency")})
            WHERE item_id = NEW.id;
        END;
        """
    )


@migrations()
def m015_verification(db: Database) -> None:
    """核实: questions a receiving office asked an item's source, and the answers
    (schema/verify.py), held at both ends."""
    db.executescript(
        """
        CREATE TABLE verification (
            id TEXT PRIMARY KEY, item_id TEXT NOT NULL, asker TEXT NOT NULL,
            source TEXT NOT NULL, question TEXT NOT NULL, deadline TEXT NOT NULL,
            asked_by TEXT NOT NULL, asked_at TEXT NOT NULL,
            answer TEXT NOT NULL DEFAULT '', answered_by TEXT NOT NULL DEFAULT '',
            answered_at TEXT
        );
        CREATE INDEX verification_item ON verification(item_id);
        CREATE INDEX verification_open ON verification(source, answered_at);
        """
    )


@migrations()
def m016_roster(db: Database) -> None:
    """通讯录: each unit's people (its own, and those of the units below that sent theirs)
    and which version of its roster is held (schema/roster.py); this office's sections (科室)
    and their monthly tasks (schema/people.py); who an own publication's issues go to."""
    db.executescript(
        """
        CREATE TABLE roster (
            unit TEXT NOT NULL, position INTEGER NOT NULL, role TEXT NOT NULL,
            name TEXT NOT NULL, post TEXT NOT NULL DEFAULT '',
            office_phone TEXT NOT NULL DEFAULT '', mobile TEXT NOT NULL DEFAULT '',
            section TEXT NOT NULL DEFAULT '', per_month INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (unit, position)
        );
        CREATE TABLE section (name TEXT PRIMARY KEY, per_month INTEGER NOT NULL DEFAULT 0);
        ALTER TABLE item ADD COLUMN section TEXT NOT NULL DEFAULT '';
        ALTER TABLE publication ADD COLUMN distribute TEXT NOT NULL DEFAULT '';
        CREATE TABLE roster_version (
            unit TEXT PRIMARY KEY, version INTEGER NOT NULL, updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL, name TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX audit_origin ON audit(origin, at);
        """
    )


@migrations()
def m017_phone_reports(db: Database) -> None:
    """First reports by telephone taken at the receiving desk, with the deadlines they answer
    to and the written 首报 that followed (schema/emergency.py)."""
    db.executescript(
        """
        CREATE TABLE phone_report (
            id INTEGER PRIMARY KEY, unit TEXT NOT NULL, caller TEXT NOT NULL,
            called_at TEXT NOT NULL, severity TEXT NOT NULL, occurred_at TEXT NOT NULL,
            place TEXT NOT NULL DEFAULT '', summary TEXT NOT NULL, taken_by TEXT NOT NULL,
            taken_at TEXT NOT NULL, phone_deadline TEXT, written_deadline TEXT,
            item_id TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX phone_report_called ON phone_report(called_at);
        CREATE INDEX phone_report_unit ON phone_report(unit, item_id);
        """
    )


@migrations()
def m018_bulletin_issue(db: Database) -> None:
    """通报 signed off here or received from above (schema/supervise.py), and the 约谈 of
    units' leaders recorded against the 督办 they follow."""
    db.executescript(
        """
        CREATE TABLE bulletin_issue (
            id TEXT PRIMARY KEY, issuer TEXT NOT NULL, number TEXT NOT NULL DEFAULT '',
            period TEXT NOT NULL, rules TEXT NOT NULL DEFAULT '', title TEXT NOT NULL,
            text TEXT NOT NULL, read_by TEXT NOT NULL DEFAULT '', signed_by TEXT NOT NULL,
            at TEXT NOT NULL, units TEXT NOT NULL DEFAULT '[]', received_at TEXT
        );
        CREATE TABLE interview (
            id INTEGER PRIMARY KEY, unit TEXT NOT NULL, request_id TEXT NOT NULL DEFAULT '',
            note TEXT NOT NULL, actor TEXT NOT NULL, at TEXT NOT NULL
        );
        """
    )


@migrations()
def m019_item_sketch(db: Database) -> None:
    """Each item's near-duplicate sketch (schema/similar.py), made the first time the item is
    in a window looked at; dropped with a new revision (its text changed)."""
    db.executescript(
        """
        CREATE TABLE item_sketch (seq INTEGER PRIMARY KEY, sketch BLOB NOT NULL);
        CREATE TRIGGER item_sketch_stale AFTER UPDATE OF title, body ON item BEGIN
            DELETE FROM item_sketch WHERE seq = NEW.seq;
        END;
        """
    )


@migrations()
def m020_outbox_address(db: Database) -> None:
    """The addressees a queued record is signed for, where they are groups (``all:county:
    140000``) rather than its recipients one by one; empty: its recipients."""
    db.execute("ALTER TABLE outbox ADD COLUMN address TEXT NOT NULL DEFAULT '[]'")


@migrations()
def m021_resync(db: Database) -> None:
    """Resync after a restore (schema/resync.py): the signed records received here, kept for
    the retention window so their maker can have them back; the neighbours a restored node
    asked and what they answered; when bundles handed again had first arrived; records
    waiting for what they refer to."""
    db.executescript(
        """
        CREATE TABLE kept (
            record_id TEXT PRIMARY KEY, version INTEGER NOT NULL, origin TEXT NOT NULL,
            kind TEXT NOT NULL, received_at TEXT NOT NULL, proof TEXT NOT NULL,
            classification INTEGER NOT NULL DEFAULT 1
        );
        CREATE INDEX kept_origin ON kept(origin, received_at);
        CREATE INDEX kept_received ON kept(received_at);
        CREATE TABLE resync (
            peer TEXT PRIMARY KEY, request_id TEXT NOT NULL, since TEXT NOT NULL,
            asked_at TEXT NOT NULL, answered_at TEXT, records INTEGER NOT NULL DEFAULT 0,
            bundles INTEGER NOT NULL DEFAULT 0, forgotten INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE arrival (
            bundle_id TEXT PRIMARY KEY, peer TEXT NOT NULL, at TEXT NOT NULL,
            noted_at TEXT NOT NULL, arrived INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE parked (
            record_id TEXT NOT NULL, own INTEGER NOT NULL, version INTEGER NOT NULL,
            record TEXT NOT NULL, addressees TEXT NOT NULL, received_at TEXT NOT NULL,
            parked_at TEXT NOT NULL, PRIMARY KEY (record_id, own)
        );
        """
    )


@migrations()
def m022_sketch_hash(db: Database) -> None:
    """Sketches are hashed another way (schema/similar.py: arrays of SplitMix64 keys, not a
    CRC-32 a shingle): those made before compare with nothing now; each is made again the
    first time its item is in a window looked at."""
    db.execute("DELETE FROM item_sketch")


class Store:
    """An open node store; use :meth:`open` to get one and :meth:`write` for every write."""

    def __init__(self, db: Database, path: Path | None) -> None:
        self.db = db
        self.path = path
        self._marker = commit_marker(path) if path is not None else None
        # the fingerprint of the SSH key of the person at this desk (``xinbao ssh``), kept
        # on every audit row this connection writes; empty for a local account or the daemon
        self.actor_key = ""
        # item_fts rows are written at the commit of the transaction that made them: FTS5
        # keeps inserts pending in memory, but any later statement that opens a savepoint (a
        # trigger, a foreign key, SAVEPOINT) flushes them — a segment per item, at ~100 µs
        # an item, where a batch of received items would otherwise be one segment
        self._writing = False  # in a transaction this store's write() began
        self._index: dict[int, tuple[str, str]] = {}  # seq → (title, body) tokens to insert
        self._index_undo: list[tuple[int, tuple[str, str] | None]] = []  # for savepoints
        self._savepoints = 0  # open savepoints (a search inside one does not write them)

    @classmethod
    def open(cls, path: Path | str) -> Store:
        """Open (creating if needed) the store at ``path`` and apply pending migrations."""
        target = Path(path)
        try:
            conn = sqlite3.connect(
                target, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            store = cls._setup(conn, target)
            store.db.enable_wal()
            return store
        except sqlite3.Error as exc:
            raise StoreError(f"无法打开数据库 {target}：{exc}") from exc

    @classmethod
    def memory(cls) -> Store:
        """A throw-away in-memory store (tests)."""
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        return cls._setup(conn, None)

    @classmethod
    def _setup(cls, conn: sqlite3.Connection, path: Path | None) -> Store:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        db = Database(conn)
        migrations.apply(db)
        return cls(db, path)

    @contextmanager
    def write(self) -> Iterator[Database]:
        """A write transaction. Rolls back on any error.

        A nested call joins the transaction it is in (an error inside it undoes the whole
        transaction once it propagates); use :meth:`savepoint` where a failure must undo
        only part of one.
        """
        conn = self.db.conn
        if conn.in_transaction:
            yield self.db
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"数据库忙或不可写：{exc}") from exc
        self._writing = True
        try:
            yield self.db
            if not conn.in_transaction:  # SQLite rolled it all back (disk full, a trigger…)
                raise StoreError("写入数据库失败：事务已被数据库回滚")
            self._flush_index()
        except sqlite3.Error as exc:
            self._end_write()
            raise StoreError(f"写入数据库失败：{exc}") from exc
        except BaseException:
            self._end_write()
            raise
        self._writing = False
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"写入数据库失败：{exc}") from exc
        self._announce()

    def _announce(self) -> None:
        """Open the commit marker for writing and close it (:func:`commit_marker`). It is made
        with the store's own owner and permissions (as SQLite makes its WAL), so every account
        that may write the store may open it; where it cannot be, a watcher learns of the
        commit at its next look instead. Never through a link, never waiting on a FIFO."""
        if self._marker is None or self.path is None:
            return
        flags = os.O_WRONLY | os.O_CLOEXEC | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
        with contextlib.suppress(OSError):
            try:
                fd = os.open(self._marker, flags)
            except FileNotFoundError:
                store = os.stat(self.path)
                mode = store.st_mode & 0o666
                fd = os.open(self._marker, flags | os.O_CREAT | os.O_EXCL, mode)
                with contextlib.suppress(OSError):
                    os.fchmod(fd, mode)  # not narrowed by this process's umask
                    if os.geteuid() == 0:  # root (sudo) must not leave it root's alone
                        os.fchown(fd, store.st_uid, store.st_gid)
            os.close(fd)

    def _end_write(self) -> None:
        """Roll back the transaction write() began, with the index rows it had pending."""
        self._writing = False
        self._index.clear()
        self._index_undo.clear()
        if self.db.conn.in_transaction:
            self.db.conn.execute("ROLLBACK")

    def index(self, seq: int, title: str, body: str) -> None:
        """Index item ``seq``'s tokens (``schema/search.py``) in item_fts: at the commit of
        this write(), with every other item it indexes (at once outside one)."""
        if not self._writing:
            self.db.execute(
                "INSERT INTO item_fts(rowid, title, body) VALUES (?, ?, ?)", [seq, title, body]
            )
            return
        self._index_undo.append((seq, self._index.get(seq)))
        self._index[seq] = (title, body)

    def unindex(self, seq: int, title: str, body: str) -> None:
        """Take item ``seq``'s tokens, as indexed (``title``, ``body``), out of item_fts."""
        if seq in self._index:  # not written yet: it is never written
            self._index_undo.append((seq, self._index.pop(seq)))
            return
        self.db.execute(
            "INSERT INTO item_fts(item_fts, rowid, title, body) VALUES ('delete', ?, ?, ?)",
            [seq, title, body],
        )

    def _flush_index(self) -> None:
        if self._index:
            self.db.conn.executemany(
                "INSERT INTO item_fts(rowid, title, body) VALUES (?, ?, ?)",
                [(seq, title, body) for seq, (title, body) in self._index.items()],
            )
        self._index.clear()
        self._index_undo.clear()

    @contextmanager
    def savepoint(self) -> Iterator[Database]:
        """Inside :meth:`write`: a part that is undone alone if it raises."""
        conn = self.db.conn
        if not conn.in_transaction:
            raise StoreError("savepoint outside a write transaction")
        conn.execute("SAVEPOINT part")
        mark = len(self._index_undo)
        self._savepoints += 1
        try:
            yield self.db
        except BaseException:
            while len(self._index_undo) > mark:  # what it indexed is undone with it
                seq, before = self._index_undo.pop()
                if before is None:
                    self._index.pop(seq, None)
                else:
                    self._index[seq] = before
            if conn.in_transaction:
                conn.execute("ROLLBACK TO SAVEPOINT part")
                conn.execute("RELEASE SAVEPOINT part")
            raise
        finally:
            self._savepoints -= 1
        conn.execute("RELEASE SAVEPOINT part")

    def query(
        self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()
    ) -> list[dict[str, Any]]:
        """Rows of a read query as dicts."""
        try:
            if self._index and not self._savepoints and "item_fts" in sql:
                self._flush_index()  # a search inside the transaction sees what it wrote
            # plain execute: sqlite-utils' query() wraps every read in a savepoint, and a
            # savepoint makes FTS5 flush its pending index data (a segment per item written)
            cursor = self.db.conn.execute(sql, params)
            names = [d[0] for d in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor]
        except sqlite3.Error as exc:
            raise StoreError(f"查询失败：{exc}") from exc

    def one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> dict[str, Any] | None:
        """The first row of a read query, or None."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def next_number(self, name: str) -> int:
        """Increment and return the counter ``name`` (call inside :meth:`write`)."""
        self.db.execute(
            "INSERT INTO counter(name, value) VALUES (?, 1) "
            "ON CONFLICT(name) DO UPDATE SET value = value + 1",
            [name],
        )
        row = self.db.execute("SELECT value FROM counter WHERE name = ?", [name]).fetchone()
        return int(row[0])

    def above_seen(self, family: str, year: int, number: int) -> int:
        """``number`` (the next of a family of ids this node numbers by counting its rows:
        YG requests, PS instructions, HS questions, TB bulletins), raised above the highest
        its neighbours said they have seen from it after a restore (``seen:FAMILY:YEAR``,
        schema/resync.py), so no id is made twice; the floor then moves to the number used
        (call inside :meth:`write`, with the row it numbers)."""
        name = f"seen:{family}:{year}"
        row = self.db.execute("SELECT value FROM counter WHERE name = ?", [name]).fetchone()
        if row is None:
            return number
        # the number used is the new floor: a gap below it is never counted into again
        used = max(number, int(row[0]) + 1)
        self.db.execute("UPDATE counter SET value = ? WHERE name = ?", [used, name])
        return used

    def close(self) -> None:
        """Close the connection."""
        self.db.close()
