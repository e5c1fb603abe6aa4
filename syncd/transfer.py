"""Manual air-gap transfer: export queued records as bundle files, import carried-in bundles."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from schema import outbox
from schema.attachment import Attachments, referenced
from schema.error import XinbaoError
from schema.inbound import Outcome, apply
from schema.node import NodeHome
from schema.record import QueuedRecord, Record
from schema.store import Store
from syncd import revocation
from syncd.bundle import BundleError, Limits, new_header, opened_stream, read_header, seal
from syncd.enrolment import CERT_KIND, encryption_keys, learn, load_chain, load_root
from syncd.error import TrustError
from syncd.keys import load_keys, passphrase_from_env
from syncd.revocation import revoked_in
from syncd.spool import SUFFIX, Spool

Progress = Callable[[int, int], None]
# Records the trust layer handles itself; every other kind is applied through schema.
TRUST_KINDS = {revocation.KIND: revocation.accept, CERT_KIND: learn}


@dataclass
class ImportReport:
    """What an import did with each bundle file."""

    applied: list[str] = field(default_factory=list)
    duplicate: list[str] = field(default_factory=list)
    quarantined: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    records: int = 0


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
            files = _attachments_of(batch, held)
            written.append(
                _write_sealed(
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


def _attachments_of(batch: list[QueuedRecord], held: Attachments) -> list[tuple[str, Path]]:
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


def _write_sealed(folder: Path, write: Callable[[Any], None]) -> Path:
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
    config = home.load()
    root = load_root(home)
    if root is None:
        raise TrustError("本节点尚未入网（没有根证书），不能导入数据包")
    keys = load_keys(home.path, passphrase_from_env())
    limits = Limits.load()
    files = sorted(p for p in folder.glob(f"*{SUFFIX}") if p.is_file())
    report = ImportReport()
    spool, store = Spool(home.path), Store.open(home.store_path)
    held = Attachments(home.attachments_path)
    try:
        for done, path in enumerate(files, 1):
            _import_one(home, path, config.id, keys, root, now, limits, spool, store, held, report)
            if progress:
                progress(done, len(files))
        # ids of bundles past their expiry are refused anyway; the seen-set need not keep them
        spool.prune(now, int(limits.clock_skew.total_seconds()))
    finally:
        spool.close()
        store.close()
    return report


def _import_one(
    home: NodeHome,
    path: Path,
    me: str,
    keys: Any,
    root: Any,
    now: datetime,
    limits: Limits,
    spool: Spool,
    store: Store,
    held: Attachments,
    report: ImportReport,
) -> None:
    with open(path, "rb") as fh:
        try:
            header = read_header(fh, limits)
            if spool.seen(header.id):
                report.duplicate.append(path.name)
                return
            fh.seek(0)
            held.root.mkdir(parents=True, exist_ok=True)
            revoked = revoked_in(spool)
            with (
                opened_stream(fh, me, keys, root, now, limits, revoked, held.root) as opened,
                store.write(),
            ):
                # attachments first (a rename each), so every record finds what it refers to;
                # then one transaction: a bundle's records are applied whole or not at all
                for staged in opened.attachments:
                    held.keep(staged.sha256, staged.path)
                for raw in opened.records:
                    trust = TRUST_KINDS.get(str(raw.get("kind")))
                    if trust is not None:
                        trust(home, raw, root, now, store)
                    else:
                        report.records += apply(store, _record(raw), me).outcome is Outcome.APPLIED
        except BundleError as exc:
            _refuse(spool, path, exc.reason, exc.message, now, report)
            return
        except XinbaoError as exc:
            _refuse(spool, path, "apply-failed", exc.message, now, report)
            return
    spool.remember(header.id, header.sender, header.expires, now)
    report.applied.append(path.name)


def _record(raw: dict[str, Any]) -> Record:
    try:
        return Record(
            id=str(raw["id"]),
            kind=str(raw["kind"]),
            version=int(raw["version"]),
            origin=str(raw["origin"]),
            payload=dict(raw["payload"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError("payload-invalid", "数据包记录缺少字段") from exc


def _refuse(
    spool: Spool, path: Path, reason: str, message: str, now: datetime, report: ImportReport
) -> None:
    spool.quarantine(path, reason, message, now)
    report.quarantined.append((path.name, reason))
