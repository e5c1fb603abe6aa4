"""Outgoing custody: bundle files waiting in ``spool/out`` and, per next hop, their delivery state.

Tables in the spool's ``state.db``:

* ``hop`` — one row per (bundle, neighbour) still to be handed over; deleted when the
  neighbour took custody (an HTTP success after its durable write, a pull acknowledged, or
  the file written to a folder link). Failures back off exponentially with jitter.
* ``sealed`` — bundles this node sealed itself, until every recipient's end-to-end receipt
  came back; a bundle still waiting after ``resend_after`` is handed to its next hops again
  (the recipient acknowledges a duplicate again and never applies it twice).
* ``sent`` — what each neighbour took custody of, kept for the retention window (``[resync]``
  in ``syncd/data/trust.toml``) or until the bundle expires: a neighbour restored from a
  backup asks, and everything it was handed since its backup is handed to it again
  (:meth:`Outgoing.resend_to`; its seen-set keeps it from applying anything twice).
* ``peer`` — last contact and last error per neighbour, for ``status``.

A file in ``spool/out`` is removed once no row refers to it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncd.bundle import TREE_VERSION, Front, Header, narrowed, read_front
from syncd.keys import fsync_dir
from syncd.spool import SUFFIX, Spool, open_regular

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hop (
    bundle_id TEXT NOT NULL, peer TEXT NOT NULL, file TEXT NOT NULL,
    priority INTEGER NOT NULL, classification INTEGER NOT NULL, size INTEGER NOT NULL,
    created REAL NOT NULL, expires INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_try REAL NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (bundle_id, peer));
CREATE INDEX IF NOT EXISTS hop_due ON hop(peer, priority DESC, created);
CREATE TABLE IF NOT EXISTS sealed (
    bundle_id TEXT PRIMARY KEY, file TEXT NOT NULL, recipients TEXT NOT NULL,
    waiting TEXT NOT NULL, records TEXT NOT NULL, created REAL NOT NULL,
    resend_at REAL NOT NULL, expires INTEGER NOT NULL, delivered TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS sent (
    bundle_id TEXT NOT NULL, peer TEXT NOT NULL, file TEXT NOT NULL,
    priority INTEGER NOT NULL, classification INTEGER NOT NULL, size INTEGER NOT NULL,
    created REAL NOT NULL, expires INTEGER NOT NULL, handed REAL NOT NULL,
    PRIMARY KEY (bundle_id, peer));
CREATE INDEX IF NOT EXISTS sent_peer ON sent(peer, handed);
CREATE INDEX IF NOT EXISTS sent_file ON sent(file);
CREATE INDEX IF NOT EXISTS hop_file ON hop(file);
CREATE TABLE IF NOT EXISTS peer (
    peer TEXT PRIMARY KEY, last_contact REAL, last_error TEXT NOT NULL DEFAULT '',
    failures INTEGER NOT NULL DEFAULT 0, next_try REAL NOT NULL DEFAULT 0);
"""


RESEND_AFTER = 2.0  # seconds: bundles handed again for a resync wait this long behind its word


@dataclass(frozen=True)
class Hop:
    """A bundle waiting to be handed to one neighbour."""

    bundle_id: str
    peer: str
    path: Path
    priority: int
    classification: int
    size: int
    created: float
    expires: int
    attempts: int


class Outgoing:
    """The outgoing side of a node's spool (shares the spool's database connection)."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.db = spool.db
        self.folder = spool.root / "out"
        self.folder.mkdir(exist_ok=True)
        self.db.executescript(_SCHEMA)
        self._unsettled = False  # files kept whose folder entry is not synced yet
        self._unsynced: list[Path] = []  # files kept by a link whose bytes are not synced yet

    # -- custody --------------------------------------------------------------------------

    def keep(self, source: Path, head: bytes = b"", skip: int = 0) -> Path:
        """A durable copy of a bundle file in ``spool/out``, named by its content (never by
        the name it arrived under, which another node chose); with ``head``, the copy starts
        with it in place of the first ``skip`` bytes of ``source``.

        A whole file is kept by a hard link where it can be (a relay's custody: one read to
        name it, no second copy of its bytes); its bytes and the folder's entry are made
        durable by :meth:`settle`, for every file kept since: one journal commit for a batch
        of relayed bundles rather than one each (the caller settles before it lets go of the
        source)."""
        tmp = self.folder / f".keep-{secrets.token_hex(8)}.part"
        try:
            with open_regular(source) as src:
                # only a file of this spool's own (an upload, a batch's part, a staged drop)
                # is linked: one in an operator's folder could change after it was checked
                private = source.resolve().is_relative_to(self.spool.root.resolve())
                linked = None if head or not private else self._linked(source, src, tmp)
                if linked is not None:
                    final = self.folder / (linked + SUFFIX)
                    if not final.is_file():
                        self._unsynced.append(final)
                else:
                    digest = hashlib.sha256(head)
                    with open(tmp, "wb") as dst:
                        dst.write(head)
                        src.seek(skip)
                        while block := src.read(1 << 20):
                            digest.update(block)
                            dst.write(block)
                        dst.flush()
                        os.fsync(dst.fileno())
                    final = self.folder / (digest.hexdigest() + SUFFIX)
            if final.is_file():  # the same content, kept before
                return final
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        self._unsettled = True
        return final

    @staticmethod
    def _linked(source: Path, src: Any, tmp: Path) -> str | None:
        """Hard-link ``source`` (open as ``src``) as ``tmp``, its bytes synced: its SHA-256
        (hex); None (nothing made, ``src`` rewound) where a link cannot be made — another
        file system, a name that no longer is the file that was opened."""
        opened = os.fstat(src.fileno())
        digest = hashlib.sha256()
        while block := src.read(1 << 20):
            digest.update(block)
        try:
            named = source.lstat()
            if (named.st_dev, named.st_ino) != (opened.st_dev, opened.st_ino):
                raise OSError("not the file opened")
            os.link(source, tmp, follow_symlinks=False)
        except OSError:
            src.seek(0)
            return None
        return digest.hexdigest()  # its bytes are synced by settle()

    def settle(self) -> None:
        """Make the files kept since the last call durable: the bytes of those kept by a link
        (after the first fsync, which commits the journal with every file's data, the others
        find theirs written), then their entries (one folder sync)."""
        for path in self._unsynced:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue  # collected already: nothing of it to keep
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._unsynced = []
        if self._unsettled:
            fsync_dir(self.folder)
            self._unsettled = False

    def hand(
        self,
        source: Path,
        hops: dict[str, list[str]],
        now: float,
        settle: bool = True,
        front: Front | None = None,
    ) -> None:
        """Hand a bundle to each next hop in ``hops`` (neighbour → the recipients reached
        through it), in custody in ``spool/out``.

        A version 3 bundle is split where the tree splits: each hop gets a copy holding only
        the keys of the recipients below it (``syncd.bundle.narrowed``; the sender's header,
        chunks and signature unchanged), so a notice to every county costs each link its
        own subtree, not the whole list. A copy carrying exactly what ``source`` carries is
        ``source`` itself; older versions go whole. ``settle=False``: the caller calls
        :meth:`settle` (once for a batch) before it lets go of ``source``. ``front``: the
        front of ``source``, where the caller has read it already."""
        if not hops:
            return
        try:
            self._hand(source, hops, now, front)
        finally:
            if settle:
                self.settle()

    def _hand(
        self, source: Path, hops: dict[str, list[str]], now: float, front: Front | None
    ) -> None:
        if front is None:
            with open_regular(source) as fh:
                front = read_front(fh)
        header, present = front.header, set(front.header.recipients)
        whole = front.version < TREE_VERSION or all(set(r) == present for r in hops.values())
        if whole:
            kept = source if source.parent == self.folder else self.keep(source)
            self.add(kept, header, sorted(hops), now)
            return
        for peer, recipients in sorted(hops.items()):
            copy = self.keep(source, narrowed(front, recipients), front.size)
            self.add(copy, header, [peer], now)
            self._collect(copy)  # the hop was already queued (with another copy)
        if source.parent == self.folder:
            self._collect(source)  # kept only while a receipt is awaited for it

    def add(self, path: Path, header: Header, peers: list[str], now: float) -> None:
        """Hand ``path`` (in ``spool/out``) to each of ``peers`` (rows already there stay)."""
        size = path.stat().st_size
        with self.db:
            self.db.executemany(
                "INSERT OR IGNORE INTO hop(bundle_id, peer, file, priority, classification, "
                "size, created, expires) VALUES (?,?,?,?,?,?,?,?)",
                [
                    (
                        header.id,
                        peer,
                        path.name,
                        header.priority,
                        header.classification,
                        size,
                        now,
                        header.expires,
                    )
                    for peer in peers
                ],
            )

    def track(
        self, path: Path, header: Header, records: list[dict[str, str]], resend_at: float
    ) -> None:
        """Remember a bundle this node sealed until its end-to-end receipts are back."""
        with self.db:
            self.db.execute(
                "INSERT OR IGNORE INTO sealed(bundle_id, file, recipients, waiting, records, "
                "created, resend_at, expires) VALUES (?,?,?,?,?,?,?,?)",
                (
                    header.id,
                    path.name,
                    json.dumps(list(header.recipients)),
                    json.dumps(list(header.recipients)),
                    json.dumps(records, ensure_ascii=False),
                    float(header.created),
                    resend_at,
                    header.expires,
                ),
            )

    def due(self, peer: str, now: float, ceiling: int, limit: int = 100) -> list[Hop]:
        """Bundles to try now on the link to ``peer``: 特急 first, then oldest; nothing above
        the link's classification ceiling."""
        rows = self.db.execute(
            "SELECT bundle_id, peer, file, priority, classification, size, created, expires, "
            "attempts FROM hop WHERE peer = ? AND next_try <= ? AND classification <= ? "
            "ORDER BY priority DESC, created LIMIT ?",
            (peer, now, ceiling, limit),
        ).fetchall()
        return [
            Hop(r[0], r[1], self.folder / r[2], r[3], r[4], r[5], r[6], r[7], r[8]) for r in rows
        ]

    def handed(self, hop: Hop, now: float) -> None:
        """The neighbour took custody of the bundle."""
        self.handed_many([hop], now)

    def handed_many(self, hops: list[Hop], now: float) -> None:
        """The neighbour took custody of these bundles (one transaction: a batch upload)."""
        if not hops:
            return
        with self.db:
            self._took([(hop.bundle_id, hop.peer) for hop in hops], now)
            for peer in {hop.peer for hop in hops}:
                self._contact(peer, now, "")
        for hop in hops:
            self._collect(hop.path)

    def _took(self, taken: list[tuple[str, str]], now: float) -> None:
        """(bundle, peer) pairs the peer took custody of (in the caller's transaction): off
        the queue, into ``sent`` for the peer's resync (handed again — a resync, a resend —
        when it was first handed stands)."""
        self.db.executemany(
            "INSERT INTO sent(bundle_id, peer, file, priority, classification, size, created, "
            "expires, handed) SELECT bundle_id, peer, file, priority, classification, size, "
            "created, expires, ? FROM hop WHERE bundle_id = ? AND peer = ? "
            "ON CONFLICT(bundle_id, peer) DO NOTHING",
            [(now, bundle_id, peer) for bundle_id, peer in taken],
        )
        self.db.executemany("DELETE FROM hop WHERE bundle_id = ? AND peer = ?", taken)

    def failed(self, hop: Hop, error: str, now: float, retry_min: float, retry_max: float) -> float:
        """A try failed: back off (exponential, with jitter). When the next try is due."""
        delay = min(retry_max, retry_min * 2 ** min(hop.attempts, 30))
        next_try = now + delay * random.uniform(0.5, 1.0)
        with self.db:
            self.db.execute(
                "UPDATE hop SET attempts = attempts + 1, next_try = ?, last_error = ? "
                "WHERE bundle_id = ? AND peer = ?",
                (next_try, error, hop.bundle_id, hop.peer),
            )
            self.db.execute(
                "INSERT INTO peer(peer, last_error, failures) VALUES (?, ?, 1) "
                "ON CONFLICT(peer) DO UPDATE SET last_error = excluded.last_error, "
                "failures = failures + 1",
                (hop.peer, error),
            )
        return next_try

    def contact(self, peer: str, now: float) -> None:
        """A successful exchange with ``peer`` (a pull, a health check)."""
        with self.db:
            self._contact(peer, now, "")

    def _contact(self, peer: str, now: float, error: str) -> None:
        self.db.execute(
            "INSERT INTO peer(peer, last_contact, last_error, failures) VALUES (?, ?, ?, 0) "
            "ON CONFLICT(peer) DO UPDATE SET last_contact = excluded.last_contact, "
            "last_error = excluded.last_error, failures = 0",
            (peer, now, error),
        )

    # -- end-to-end receipts ----------------------------------------------------------------

    def awaiting(self, bundle_id: str, recipient: str) -> list[dict[str, str]]:
        """The records of a bundle this node sealed whose receipt from ``recipient`` is still
        awaited (empty if none); nothing changes."""
        row = self.db.execute(
            "SELECT waiting, records FROM sealed WHERE bundle_id = ?", (bundle_id,)
        ).fetchone()
        if row is None or recipient not in json.loads(row[0]):
            return []
        return list(json.loads(row[1]))

    def receipt(self, bundle_id: str, recipient: str, at: str) -> list[dict[str, str]]:
        """A recipient's receipt for a bundle this node sealed; the records it carried (empty
        if the bundle is unknown or the recipient had already acknowledged it)."""
        row = self.db.execute(
            "SELECT waiting, records, delivered, file FROM sealed WHERE bundle_id = ?",
            (bundle_id,),
        ).fetchone()
        if row is None:
            return []
        waiting, records = json.loads(row[0]), json.loads(row[1])
        delivered = json.loads(row[2])
        if recipient not in waiting:
            return []
        waiting.remove(recipient)
        delivered[recipient] = at
        with self.db:
            if waiting:
                self.db.execute(
                    "UPDATE sealed SET waiting = ?, delivered = ? WHERE bundle_id = ?",
                    (json.dumps(waiting), json.dumps(delivered), bundle_id),
                )
            else:
                self.db.execute("DELETE FROM sealed WHERE bundle_id = ?", (bundle_id,))
        if not waiting:
            self._collect(self.folder / row[3])
        return list(records)

    def resend_due(self, now: float, every: float) -> list[tuple[Path, list[str]]]:
        """Bundles still waiting for receipts past their resend time: (file, recipients
        waiting). Their resend time moves on by ``every``; expired ones are dropped."""
        rows = self.db.execute(
            "SELECT bundle_id, file, waiting, expires FROM sealed WHERE resend_at <= ?", (now,)
        ).fetchall()
        out: list[tuple[Path, list[str]]] = []
        for bundle_id, file, waiting, expires in rows:
            path = self.folder / file
            if expires < now or not path.is_file():
                with self.db:
                    self.db.execute("DELETE FROM sealed WHERE bundle_id = ?", (bundle_id,))
                self._collect(path)
                continue
            with self.db:
                self.db.execute(
                    "UPDATE sealed SET resend_at = ? WHERE bundle_id = ?", (now + every, bundle_id)
                )
            out.append((path, json.loads(waiting)))
        return out

    def expire(self, now: float) -> int:
        """Drop hops of bundles past their expiry (the receiver would refuse them)."""
        rows = self.db.execute("SELECT DISTINCT file FROM hop WHERE expires < ?", (now,))
        files = [r[0] for r in rows]
        with self.db:
            cursor = self.db.execute("DELETE FROM hop WHERE expires < ?", (now,))
        for file in files:
            self._collect(self.folder / file)
        return cursor.rowcount

    # -- status -----------------------------------------------------------------------------

    def queue(self, peer: str) -> dict[str, Any]:
        """Depth, oldest entry and blocked count of the queue for ``peer``."""
        depth, oldest = self.db.execute(
            "SELECT COUNT(*), MIN(created) FROM hop WHERE peer = ?", (peer,)
        ).fetchone()
        contact = self.db.execute(
            "SELECT last_contact, last_error, failures FROM peer WHERE peer = ?", (peer,)
        ).fetchone()
        return {
            "depth": depth,
            "oldest": oldest,
            "last_contact": contact[0] if contact else None,
            "last_error": contact[1] if contact else "",
            "failures": contact[2] if contact else 0,
        }

    def blocked(self, peer: str, ceiling: int) -> int:
        """Bundles for ``peer`` above the link's ceiling: they wait for a suitable link."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM hop WHERE peer = ? AND classification > ?", (peer, ceiling)
        ).fetchone()
        return int(row[0])

    def blocked_records(self, peer: str, ceiling: int) -> list[str]:
        """Ids of the records this node sealed that wait for ``peer`` above its ceiling."""
        rows = self.db.execute(
            "SELECT s.records FROM hop h JOIN sealed s ON s.bundle_id = h.bundle_id "
            "WHERE h.peer = ? AND h.classification > ?",
            (peer, ceiling),
        ).fetchall()
        return sorted({r["id"] for (records,) in rows for r in json.loads(records)})

    def waiting_receipts(self) -> int:
        """Bundles sealed here still waiting for an end-to-end receipt."""
        return int(self.db.execute("SELECT COUNT(*) FROM sealed").fetchone()[0])

    # -- retention, for a neighbour restored from a backup -------------------------------------

    def retain(self, source: Path, peer: str, now: float) -> None:
        """Keep a bundle handed to ``peer`` outside the hop queue (``export`` to a carried
        folder) for its resync, as a hop taken would be."""
        with open_regular(source) as fh:
            header = read_front(fh).header
        kept = self.keep(source)
        self.settle()
        self.add(kept, header, [peer], now)
        with self.db:
            self._took([(header.id, peer)], now)

    def resend_to(self, peer: str, since: float, now: float) -> list[tuple[str, float]]:
        """Hand ``peer`` again every bundle it took custody of since ``since`` (and has not
        expired): (bundle id, when it was first handed) of each. Rows already waiting for it
        stay as they are. They are pushed a moment from ``now`` (``RESEND_AFTER``), so that
        the word of when each was first handed, sealed in the same pass, goes ahead of them
        (it also goes first in a pull: it is queued above 特急)."""
        rows = self.db.execute(
            "SELECT bundle_id, handed FROM sent WHERE peer = ? AND handed >= ? AND expires >= ? "
            "ORDER BY handed",
            (peer, since, now),
        ).fetchall()
        with self.db:
            self.db.execute(
                "INSERT OR IGNORE INTO hop(bundle_id, peer, file, priority, classification, "
                "size, created, expires, next_try) SELECT bundle_id, peer, file, priority, "
                "classification, size, ?, expires, ? FROM sent "
                "WHERE peer = ? AND handed >= ? AND expires >= ?",
                (now, now + RESEND_AFTER, peer, since, now),
            )
        return [(str(r[0]), float(r[1])) for r in rows]

    def prune_sent(self, now: float, keep: float) -> int:
        """Forget what neighbours took custody of before the window (``keep`` seconds) or
        what has expired; their files go once nothing else holds them."""
        where = "handed < ? OR expires < ?"
        files = [
            r[0]
            for r in self.db.execute(
                f"SELECT DISTINCT file FROM sent WHERE {where}", (now - keep, now)
            )
        ]
        with self.db:
            cursor = self.db.execute(f"DELETE FROM sent WHERE {where}", (now - keep, now))
        for file in files:
            self._collect(self.folder / file)
        return cursor.rowcount

    def retained(self) -> tuple[int, int]:
        """Bundles kept for a neighbour's resync, and their bytes."""
        row = self.db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM sent").fetchone()
        return int(row[0]), int(row[1])

    def _collect(self, path: Path) -> None:
        name = path.name
        used = self.db.execute(
            "SELECT 1 FROM hop WHERE file = ? UNION ALL SELECT 1 FROM sealed WHERE file = ? "
            "UNION ALL SELECT 1 FROM sent WHERE file = ? LIMIT 1",
            (name, name, name),
        ).fetchone()
        if used is None:
            path.unlink(missing_ok=True)
