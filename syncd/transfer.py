"""Manual air-gap transfer: export queued records as bundle files, import carried-in bundles."""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from cryptography import x509

from schema import outbox
from schema.attachment import Attachments, referenced
from schema.node import NodeHome
from schema.record import QueuedRecord
from schema.store import Store
from syncd import config as syncconfig
from syncd.bundle import Header, HybridRequired, WrapPolicy, new_header, seal
from syncd.enrolment import encryption_keys, hybrid_keys, load_chain
from syncd.error import TrustError
from syncd.keys import NodeKeys, fsync_dir, load_keys, passphrase_from_env
from syncd.outgoing import Outgoing
from syncd.proof import sign
from syncd.receive import ImportReport, Progress, Receiver
from syncd.spool import SUFFIX, Spool


def record_dict(queued: QueuedRecord, keys: NodeKeys) -> dict[str, Any]:
    """A queued record as it travels inside a bundle: signed by this node, its maker, for
    the recipients it is queued for, or the groups it is addressed to (``syncd/proof.py``)."""
    r = queued.record
    plain = {"id": r.id, "kind": r.kind, "version": r.version, "origin": r.origin}
    return sign({**plain, "payload": r.payload}, queued.to or queued.recipients, keys)


Group = tuple[tuple[str, ...], int, int]  # recipients, classification rank, priority


def grouped(pending: Iterable[QueuedRecord]) -> dict[Group, list[QueuedRecord]]:
    """Queued records by the bundle they go in: one per recipient set, classification and
    priority, so a 特急 record never waits behind routine ones and a 秘密 record never holds
    back 内部 ones on a link whose ceiling is lower."""
    groups: dict[Group, list[QueuedRecord]] = {}
    for queued in pending:
        key = (queued.recipients, queued.classification.rank, queued.priority)
        groups.setdefault(key, []).append(queued)
    return groups


def seal_queued(
    folder: Path,
    sender: str,
    group: Group,
    batch: list[QueuedRecord],
    keys: NodeKeys,
    chain: list[x509.Certificate],
    public: dict[str, bytes],
    held: Attachments,
    now: datetime,
    hybrid: dict[str, bytes] | None = None,
    require_hybrid: bool = False,
) -> tuple[Path, Header]:
    """Seal one group of queued records, with the attachments they refer to, into a bundle
    file in ``folder`` (atomically, named by content); the key wrapped hybrid for the
    recipients in ``hybrid`` (for all of them with ``require_hybrid``, ``bundle.seal``)."""
    recipients, rank, priority = group
    header = new_header(sender, recipients, now, priority=priority, classification=rank)
    files = attachments_of(batch, held)
    records = (record_dict(q, keys) for q in batch)
    path = write_sealed(
        folder,
        lambda out: seal(
            header,
            records,
            keys,
            chain,
            public,
            out,
            None,
            files,
            hybrid_keys=hybrid,
            require_hybrid=require_hybrid,
        ),
    )
    return path, header


def export(home: NodeHome, peer: str, folder: Path, now: datetime) -> list[Path]:
    """Seal every record queued for ``peer`` into bundle files in ``folder`` (atomically)."""
    config = home.load()
    chain = load_chain(home)
    if chain is None:
        raise TrustError("本节点尚未入网（没有证书），不能导出数据包")
    keys = load_keys(home.path, passphrase_from_env())
    public, hybrid = encryption_keys(home), hybrid_keys(home)
    policy = WrapPolicy.load()
    held = Attachments(home.attachments_path)
    store = Store.open(home.store_path)
    spool = Spool(home.path)
    outgoing = Outgoing(spool)
    written: list[Path] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # one file per recipient set (fewer files to carry), marked with its highest
        # classification and priority
        by_recipients: dict[tuple[str, ...], list[QueuedRecord]] = {}
        for queued in outbox.pending(store, limit=1_000_000):
            if peer in queued.recipients:
                by_recipients.setdefault(queued.recipients, []).append(queued)
        for recipients, batch in by_recipients.items():
            rank = max(q.classification.rank for q in batch)
            group = (recipients, rank, max(q.priority for q in batch))
            link = syncconfig.load(home.path).links.get(peer)
            must = policy.requires_hybrid(rank) or (link is not None and link.hybrid)
            args = (keys, chain, public, held, now, hybrid, must)
            try:
                written.append(seal_queued(folder, config.id, group, batch, *args)[0])
            except HybridRequired:
                continue  # they wait, as the daemon's would (docs/pq.md)
            # kept for the peer's resync, should it be restored from a backup (syncd/resync.py)
            outgoing.retain(written[-1], peer, now.timestamp())
            outbox.mark_shipped(store, [q.seq for q in batch], now)
    finally:
        store.close()
        spool.close()
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

    def fileno(self) -> int:
        """The file's: a large seal hands it to write-back as it grows (``bundle.Flusher``)."""
        return self.fh.fileno()


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
    fsync_dir(folder)
    return final


def import_folder(
    home: NodeHome, folder: Path, now: datetime, progress: Progress | None = None
) -> ImportReport:
    """Verify and apply every bundle file in ``folder``; refused ones go to quarantine."""
    # regular files only, judged without following links or opening anything (a FIFO would
    # block); the receiver opens each with open_regular, so a swap in between is refused too
    files = sorted(p for p in folder.glob(f"*{SUFFIX}") if _regular(p))
    with Receiver(home) as receiver:
        return receiver.receive(files, now, progress)


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False
