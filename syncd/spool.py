"""The spool: durable bundle files named by content hash, the seen-set, and quarantine.

Layout under ``home/spool``: ``quarantine/HASH.xbb`` with ``HASH.json`` (the machine-readable
reason), and ``state.db`` holding the seen-set of bundle ids (pruned after expiry). Every file
is written temp → fsync → rename → fsync dir, so a crash never leaves a half-written file under
its final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from syncd.keys import write_durably

SUFFIX = ".xbb"


def content_name(data: bytes) -> str:
    """The file name of a bundle: the SHA-256 of its bytes."""
    return hashlib.sha256(data).hexdigest() + SUFFIX


class Spool:
    """A node's spool folder and its seen-set."""

    def __init__(self, home: Path) -> None:
        self.root = home / "spool"
        self.root.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.root / "state.db", timeout=10, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")
        # losing the last ids on power loss only means opening those bundles again
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, sender TEXT NOT NULL, "
            "expires INTEGER NOT NULL, at INTEGER NOT NULL)"
        )

    def seen(self, bundle_id: str) -> bool:
        """Whether a bundle with this id was applied here before."""
        row = self.db.execute("SELECT 1 FROM seen WHERE id = ?", (bundle_id,)).fetchone()
        return row is not None

    def remember(self, bundle_id: str, sender: str, expires: int, now: datetime) -> None:
        """Add a bundle id to the seen-set."""
        self.db.execute(
            "INSERT OR IGNORE INTO seen(id, sender, expires, at) VALUES (?, ?, ?, ?)",
            (bundle_id, sender, expires, int(now.timestamp())),
        )

    def remember_many(self, headers: Iterable[Any], now: datetime) -> None:
        """Add bundle ids (headers with ``id``, ``sender``, ``expires``) in one transaction."""
        at = int(now.timestamp())
        with self.db:
            self.db.executemany(
                "INSERT OR IGNORE INTO seen(id, sender, expires, at) VALUES (?, ?, ?, ?)",
                [(h.id, h.sender, h.expires, at) for h in headers],
            )

    def prune(self, now: datetime, keep_seconds: int) -> int:
        """Forget ids of bundles expired longer than ``keep_seconds`` (they are refused anyway)."""
        cursor = self.db.execute(
            "DELETE FROM seen WHERE expires < ?", (int(now.timestamp()) - keep_seconds,)
        )
        return cursor.rowcount

    def quarantine(self, source: Path, reason: str, message: str, now: datetime) -> Path:
        """Keep a copy of a refused bundle file with a machine-readable reason beside it."""
        folder = self.root / "quarantine"
        folder.mkdir(exist_ok=True)
        digest = hashlib.sha256()
        tmp = folder / f".{source.name}.part"
        with open(source, "rb") as src, open(tmp, "wb") as dst:
            while block := src.read(1 << 20):
                digest.update(block)
                dst.write(block)
            dst.flush()
            os.fsync(dst.fileno())
        path = folder / (digest.hexdigest() + SUFFIX)
        os.replace(tmp, path)
        note = {"reason": reason, "message": message, "source": str(source), "at": now.isoformat()}
        write_durably(path.with_suffix(".json"), json.dumps(note, ensure_ascii=False).encode())
        return path

    def quarantined(self) -> list[dict[str, str]]:
        """The reasons of every quarantined bundle."""
        folder = self.root / "quarantine"
        if not folder.is_dir():
            return []
        return [json.loads(p.read_text("utf-8")) for p in sorted(folder.glob("*.json"))]

    def close(self) -> None:
        """Close the seen-set database."""
        self.db.close()
