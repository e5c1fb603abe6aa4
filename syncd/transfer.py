"""Manual air-gap transfer: export queued records as bundle files, import carried-in bundles."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from schema import outbox
from schema.attachment import Attachments, referenced
from schema.node import NodeHome
from schema.record import QueuedRecord
from schema.store import Store
from syncd.bundle import new_header, seal
from syncd.enrolment import encryption_keys, load_chain
from syncd.error import TrustError
from syncd.keys import load_keys, passphrase_from_env
from syncd.receive import ImportReport, Progress, Receiver
from syncd.spool import SUFFIX


def record_dict(queued: QueuedRecord) -> dict[str, Any]:
    """A queued record as it travels inside a bundle."""
    r = queued.record
    return {
        "id": r.id,
        "kind": r.kind,
        "version": r.version,
        "origin": r.origin,
        "payload": r.payload,
    }


def export(home: NodeHome, peer: str, folder: Path, now: datetime) -> list[Path]:
    """Seal every record queued for ``peer`` into bundle files in ``folder`` (atomically)."""
    config = home.load()
    chain = load_chain(home)
    if chain is None:
        raise TrustError("本节点尚未入网（没有证书），不能导出数据包")
    keys = load_keys(home.path, passphrase_from_env())
    public = encryption_keys(home)
    store = Store.open(home.store_path)
    written: list[Path] = []
    try:
        groups: dict[tuple[str, ...], list[QueuedRecord]] = {}
        for queued in outbox.pending(store, limit=1_000_000):
            if peer in queued.recipients:
                groups.setdefault(queued.recipients, []).append(queued)
        folder.mkdir(parents=True, exist_ok=True)
        held = Attachments(home.attachments_path)
        for recipients, batch in groups.items():
            header = new_header(config.id, recipients, now, priority=max(q.priority for q in batch))
            files = attachments_of(batch, held)
            written.append(
                write_sealed(
                    folder,
                    lambda out, h=header, b=batch, f=files: seal(
                        h, (record_dict(q) for q in b), keys, chain, public, out, None, f
                    ),
                )
            )
            outbox.mark_shipped(store, [q.seq for q in batch], now)
    finally:
        store.close()
    return written


def attachments_of(batch: list[QueuedRecord], held: Attachments) -> list[tuple[str, Path]]:
    """The files of every attachment the records refer to and this node holds, once each."""
    hashes = dict.fromkeys(h for q in batch for h in referenced(q.record.payload))
    return [(h, held.path(h)) for h in hashes if held.has(h)]


class _HashingFile:
    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.fh.write(data)


def write_sealed(folder: Path, write: Callable[[Any], None]) -> Path:
    tmp = folder / f".{secrets.token_hex(8)}.part"
    try:
        with open(tmp, "wb") as fh:
            sink = _HashingFile(fh)
            write(sink)
            fh.flush()
            os.fsync(fh.fileno())
        final = folder / (sink.digest.hexdigest() + SUFFIX)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return final


def import_folder(
    home: NodeHome, folder: Path, now: datetime, progress: Progress | None = None
) -> ImportReport:
    """Verify and apply every bundle file in ``folder``; refused ones go to quarantine."""
    files = sorted(p for p in folder.glob(f"*{SUFFIX}") if p.is_file())
    with Receiver(home) as receiver:
        return receiver.receive(files, now, progress)
