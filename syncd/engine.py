"""A node's sync work as plain synchronous steps; the daemon runs them on one worker thread.

* :meth:`Engine.pack` seals the records queued in the store into bundles (one per recipient
  set, classification and priority, so a 特急 record never waits behind routine ones and a
  秘密 record never holds back 内部 ones), keeps them in ``spool/out`` and queues one hop per
  next neighbour on the tree;
* :meth:`Engine.accept` applies and relays bundle files that arrived (HTTP uploads, pulls,
  drop folders) through :class:`~syncd.receive.Receiver`;
* :meth:`Engine.to_folders` writes waiting bundles to folder links;
* :meth:`Engine.resend` hands bundles with no end-to-end receipt to their next hops again.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import shutil
import stat
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schema import lead as leads
from schema import outbox, resync
from schema.attachment import Attachments
from schema.error import XinbaoError
from schema.network import find_unit
from schema.node import NodeHome
from schema.record import QueuedRecord
from syncd import backup as backups
from syncd import config as syncconfig
from syncd.bundle import BundleError, WrapPolicy, read_header
from syncd.certificate import cert_identity, chain_from_pem
from syncd.enrolment import ISSUED_DIR, encryption_keys, hybrid_keys, load_chain
from syncd.error import TrustError
from syncd.keys import KEY_DIR, copy_durably
from syncd.receive import APPLIED, DUPLICATE, RECEIPT_KIND, ImportReport, Receiver
from syncd.resync import Retention
from syncd.spool import (
    BATCH_SUFFIX,
    CHECKED,
    SUFFIX,
    NotRegularFile,
    batch_frames,
    copy_range,
    escaped,
    file_kind,
    open_regular,
    safe_name,
)
from syncd.transfer import Group, grouped, seal_queued

log = logging.getLogger("xinbao.syncd")
MAX_RECORDS_PER_PASS = 10_000
PRUNE_EVERY = 3600.0  # seconds between prunes of what is kept for neighbours' resyncs
MAX_LOGGED = 10_000  # problems remembered so each is logged once


class Engine:
    """The synchronous core of one node's daemon (not thread-safe: one thread uses it)."""

    def __init__(self, home: NodeHome) -> None:
        self.home = home
        self.settings = syncconfig.load(home.path)
        self.receiver = Receiver(home)
        self.outgoing = self.receiver.outgoing
        self.store = self.receiver.store
        self.spool = self.receiver.spool
        self.me = self.receiver.config.id
        chain = load_chain(home)
        if chain is None:
            raise TrustError("本节点尚未入网（没有证书），不能收发数据包")
        self.chain = chain
        self.incoming = self.spool.root / "in"
        self.incoming.mkdir(exist_ok=True)
        self._public: dict[str, bytes] = {}
        self._hybrid: dict[str, bytes] = {}  # recipients whose certificates carry a hybrid key
        self.policy = WrapPolicy.load()
        self._pq_wait: dict[tuple[str, str], str] = {}  # (record, recipient) → why it waits
        self._drops: dict[Path, _Dropped] = {}
        self._held: dict[tuple[str, str], str] | None = None
        self._warned: set[tuple[str, ...]] = set()
        self._logged: set[tuple[Any, ...]] = set()  # problems with files, logged once each
        self._aside: set[tuple[Path, int, int]] = set()  # entries that could not be moved aside
        self._stamp = _stamp(home)
        self.retention = Retention.load()
        self._prune_at = 0.0  # what is kept for a neighbour's resync is pruned hourly
        self._resyncing = resync.running(self.store)  # checked each sweep only while true

    def close(self) -> None:
        """Close the store and the spool."""
        self.receiver.close()

    def reload(self) -> None:
        """Re-read the links and the subtree (after ``link add`` or an enrolment)."""
        self.settings = syncconfig.load(self.home.path)
        self.receiver.routes = type(self.receiver.routes).load(self.home)
        self._public = {}
        self._hybrid = {}

    def maybe_reload(self) -> None:
        """:meth:`reload` if ``syncd.toml`` or the held certificates changed since."""
        stamp = _stamp(self.home)
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self.reload()
            except XinbaoError as exc:  # keep running on the old settings
                log.error("syncd.toml not reloaded: %s", exc.message)

    # -- sending ----------------------------------------------------------------------------

    def pack(self, now: datetime) -> int:
        """Seal queued records into bundles and queue their hops; how many bundles."""
        pending = outbox.pending(self.store, limit=MAX_RECORDS_PER_PASS)
        self._pq_wait = {}  # rebuilt from what is pending: a withdrawn record is not shown
        return sum(self._seal(group, batch, now) for group, batch in grouped(pending).items())

    def _seal(self, group: Group, batch: list[QueuedRecord], now: datetime) -> bool:
        recipients, rank, priority = group
        public = self._keys_for(recipients)
        routes = self.receiver.routes
        if any(routes.next_hop(r) is None for r in recipients):
            # a certificate learned in this very pass brings its route with it
            routes = self.receiver.routes = type(routes).load(self.home)
        waiting = tuple(r for r in recipients if r not in public or routes.next_hop(r) is None)
        must = self.policy.requires_hybrid(rank)
        # a link that must carry hybrid wraps only: every recipient reached over it needs one
        over = {
            r
            for peer, reached in routes.hops(tuple(r for r in recipients if r in public)).items()
            if (link := self.settings.links.get(peer)) is not None and link.hybrid
            for r in reached
        }
        classic = tuple(
            r for r in recipients if (must or r in over) and r not in self._hybrid and r in public
        )
        for record_id in {q.record.id for q in batch}:  # the desk sees why (schema.outbox)
            for r in recipients:
                if r in classic:
                    self._pq_wait[(record_id, r)] = outbox.HYBRID_WAIT
                else:
                    self._pq_wait.pop((record_id, r), None)
        if classic:
            if classic not in self._warned:
                self._warned.add(classic)
                log.warning(
                    "policy: %d records for %s wait for a hybrid key (their certificates "
                    "carry none)",
                    len(batch),
                    ",".join(classic),
                )
            waiting = tuple(dict.fromkeys(waiting + classic))
        if waiting:
            if waiting not in self._warned:  # once, not every pass
                self._warned.add(waiting)
                log.warning(
                    "no certificate or route for %s yet; %d records wait", waiting, len(batch)
                )
            if len(waiting) == len(recipients):
                return False
            # the others need not wait: the records stay queued for the waiting ones only
            batch = outbox.split(self.store, batch, waiting, now)
            recipients = tuple(r for r in recipients if r not in waiting)
            group = (recipients, group[1], priority)
        held = Attachments(self.home.attachments_path)
        args = (self.receiver.keys, self.chain, public, held, now)
        path, header = seal_queued(
            self.outgoing.folder, self.me, group, batch, *args, self._hybrid, must
        )
        hops = routes.hops(recipients)
        carried = [
            {"id": q.record.id, "kind": q.record.kind}
            for q in batch
            if q.record.kind != RECEIPT_KIND
        ]
        if carried:  # receipts are never receipted
            # awaited before it can leave: a receipt that comes back always finds it (a crash
            # after this only means the bundle is resent after resend_after)
            resend_at = now.timestamp() + self.settings.intervals.resend_after
            self.outgoing.track(path, header, carried, resend_at)
        self.outgoing.hand(path, hops, now.timestamp())
        outbox.mark_shipped(self.store, [q.seq for q in batch], now)
        log.info(
            "sealed bundle %s: %d records for %s via %s (priority %d)",
            header.id,
            len(batch),
            ",".join(recipients),
            ",".join(sorted(hops)) or "-",
            priority,
        )
        return True

    def _keys_for(self, recipients: tuple[str, ...]) -> dict[str, bytes]:
        if any(r not in self._public for r in recipients):
            self._public = encryption_keys(self.home)
            self._hybrid = hybrid_keys(self.home)
        return self._public

    def resend(self, now: datetime) -> int:
        """Queue again the hops of bundles still waiting for end-to-end receipts."""
        every = self.settings.intervals.resend_after
        count = 0
        for path, waiting in self.outgoing.resend_due(now.timestamp(), every):
            with open(path, "rb") as fh:
                header = read_header(fh)
            hops = self.receiver.routes.hops(tuple(r for r in waiting if r in header.recipients))
            self.outgoing.hand(path, hops, now.timestamp())
            count += 1
            log.info("no receipt from %s for bundle %s: sent again", waiting, header.id)
        self.outgoing.expire(now.timestamp())
        return count

    def to_folders(self, now: datetime) -> int:
        """Write waiting bundles to every folder link (atomically); how many files."""
        written = 0
        for link in self.settings.links.values():
            if link.folder is None:
                continue
            for hop in self.outgoing.due(link.peer, now.timestamp(), link.ceiling.rank):
                try:
                    copy_durably(hop.path, link.folder)
                except OSError as exc:
                    self.outgoing.failed(
                        hop,
                        f"folder: {exc}",
                        now.timestamp(),
                        self.settings.intervals.retry_min,
                        self.settings.intervals.retry_max,
                    )
                    log.warning("cannot write to folder link %s: %s", link.folder, exc)
                    break
                self.outgoing.handed(hop, now.timestamp())
                written += 1
        return written

    def note_held(self, now: datetime) -> bool:
        """Tell the desk which records wait above a link's ceiling (``schema.outbox.set_held``),
        when that changed; whether it did."""
        held: dict[tuple[str, str], str] = dict(self._pq_wait)
        for link in self.settings.links.values():
            for record_id in self.outgoing.blocked_records(link.peer, link.ceiling.rank):
                held[(record_id, link.peer)] = link.ceiling.value
        if held == self._held:
            return False
        outbox.set_held(self.store, held, now)
        self._held = held
        return True

    # -- receiving ----------------------------------------------------------------------------

    def accept(
        self, paths: list[Path], now: datetime, hold: frozenset[str] = frozenset()
    ) -> ImportReport:
        """Apply and relay bundle files that arrived, most urgent first (``hold``: see
        :meth:`Receiver.receive`). A path that is not a regular file is left out unopened; a
        file that cannot be read fails alone (see :meth:`_receive`)."""
        return self._receive(paths, now, hold)[0]

    def _receive(
        self, paths: list[Path], now: datetime, hold: frozenset[str]
    ) -> tuple[ImportReport, set[Path]]:
        """:meth:`accept`, and the paths that failed with an OSError (vanished, unreadable,
        not a regular file), which are in no list of the report.

        The receiver takes the files in batches; an OSError from one file would end the whole
        call, so on an OSError the files are received again one by one and the error stays
        with its file (those of batches committed before it come back as duplicates, which
        only acknowledges them again).
        """
        ranked: list[tuple[int, Path]] = []
        failed: set[Path] = set()
        for path in paths:
            try:
                with open_regular(path) as fh:
                    ranked.append((-read_header(fh).priority, path))
            except NotRegularFile as exc:
                self._once(
                    ("not-regular", path),
                    "not a regular file, not opened: %s (%s)",
                    escaped(str(path)),
                    exc.kind,
                )
                failed.add(path)
            except (BundleError, OSError):
                ranked.append((0, path))  # the receiver refuses it with its reason
        ranked.sort(key=lambda pair: pair[0])
        files = [p for _, p in ranked]
        if not files:
            return ImportReport(), failed
        try:
            return self.receiver.receive(files, now, hold=hold), failed
        except OSError as exc:
            log.warning(
                "receiving %d files failed (%s): trying them one by one",
                len(files),
                escaped(str(exc)),
            )
        report = ImportReport()
        for path in files:
            try:
                report.merge(self.receiver.receive([path], now, hold=hold))
            except OSError as exc:
                failed.add(path)
                if not isinstance(exc, FileNotFoundError):  # a file that vanished is forgotten
                    self._once(
                        ("unreadable", path, exc.errno),
                        "cannot receive %s: %s",
                        escaped(str(path)),
                        _why(exc),
                    )
        return report, failed

    def accept_incoming(self, now: datetime) -> ImportReport | None:
        """Apply what waits in ``spool/in`` (uploads and pulls) and delete it.

        Only regular files are taken; anything else there is moved aside into
        ``spool/quarantine/entries`` with a note. A file that fails to be read stays for the
        next pass (logged once); one that vanished is forgotten."""
        files: list[Path] = []
        report = ImportReport()
        for path, info in self._entries(self.incoming):
            if stat.S_ISREG(info.st_mode):
                files.append(path)
            else:
                aside = self.spool.quarantine_folder / "entries"
                self._set_aside(path, info, aside, now, report)
        batches = self._split_batches()
        parts = [part for _, _, batch in batches for part in batch]
        if not files and not parts and not _any(report):
            return None
        received, failed = self._receive(files + parts, now, frozenset())
        report.merge(received)
        done = [p for p in files if p not in failed]
        for path, scratch, batch in batches:
            if not any(part in failed for part in batch):
                done.append(path)  # every bundle of it received: the batch is done
                with contextlib.suppress(OSError):
                    CHECKED.take(path.stat())
            shutil.rmtree(scratch, ignore_errors=True)
        for path in done:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                self._once(("unlink", path), "cannot delete %s: %s", escaped(str(path)), _why(exc))
        _log_report(report)
        return report

    def _split_batches(self) -> list[tuple[Path, Path, list[Path]]]:
        """The batch files an upload left in ``spool/in`` (``syncd/http.py`` ``take_batch``),
        each split into its bundles in a scratch folder: (batch, scratch, bundle files). The
        batch file is the durable copy until all its bundles are received, so the parts are
        not synced; after a crash the batch is split and received again (the seen-set keeps
        anything from being applied twice)."""
        out: list[tuple[Path, Path, list[Path]]] = []
        largest = self.receiver.limits.max_bundle_bytes
        for path in sorted(self.incoming.glob(f"batch-*{BATCH_SUFFIX}")):
            scratch = self.incoming / f".split-{path.stem}"
            try:
                shutil.rmtree(scratch, ignore_errors=True)
                scratch.mkdir()
                parts: list[Path] = []
                with open_regular(path) as fh:
                    info = os.fstat(fh.fileno())
                    checked = CHECKED.has(info)  # each part checked when the batch came in
                    for index, (offset, length) in enumerate(
                        batch_frames(fh, info.st_size, largest)
                    ):
                        part = scratch / f"{index:05d}{SUFFIX}"
                        with open(part, "wb") as out_fh:
                            copy_range(fh, out_fh, offset, length)
                        if checked:
                            CHECKED.add(os.stat(part))
                        parts.append(part)
            except (OSError, ValueError) as exc:  # ours, checked when taken: not expected
                self._once(("batch", path), "cannot split batch %s: %s", escaped(str(path)), exc)
                shutil.rmtree(scratch, ignore_errors=True)
                continue
            out.append((path, scratch, parts))
        return out

    def sweep(self, now: datetime) -> int:
        """Delete interrupted uploads nobody resumed (and temporary files a crash left) after
        ``limits.partial_ttl``; how many."""
        cutoff = now.timestamp() - self.settings.limits.partial_ttl
        gone = 0
        for path in self._leftovers():
            try:
                info = path.lstat()  # a symlink's own age; never followed
                if stat.S_ISDIR(info.st_mode) or info.st_mtime >= cutoff:
                    continue
                path.unlink()
                gone += 1
            except OSError:
                continue  # vanished or not ours to delete: the others still go
        gone += self.spool.clear_stages(cutoff)
        if gone:
            log.info("deleted %d interrupted uploads nobody resumed", gone)
        if now.timestamp() >= self._prune_at:
            self._prune_at = now.timestamp() + PRUNE_EVERY
            keep = self.retention.keep
            bundles = self.outgoing.prune_sent(now.timestamp(), keep.total_seconds())
            records = resync.prune(self.store, now - keep)
            if bundles or records:
                log.info("retention: forgot %d bundles and %d records", bundles, records)
        if self._resyncing:  # after a restore: what waits too long stops waiting
            given_up = resync.give_up(self.store, now - self.retention.wait)
            if given_up:
                log.warning("resync: %d records gave up waiting: %s", len(given_up), given_up[:20])
            self._resyncing = resync.running(self.store)
        return gone

    def _leftovers(self) -> list[Path]:
        """Resumable parts, and the temporary files of uploads and pulls cut off by a crash."""
        return [
            *(self.incoming / "partial").glob("*.part"),
            *self.incoming.glob(".upload-*.part"),
            *self.incoming.glob(".batch-*.part*"),
            *self.incoming.glob(".pull-*.part"),
        ]

    def scan_drops(
        self, now: datetime, closed: dict[Path, int] | None = None
    ) -> ImportReport | None:
        """Import bundle files that are complete in the drop folders, then move each to
        ``done/`` or ``quarantine/`` beside them.

        A file is tried once its size has stayed the same for ``intervals.stable`` seconds, or
        at once when the folder watcher saw its writer close it at its present size
        (``closed``: path → size then). It is taken only for what it proves to be when opened,
        never for its name. A file that proves incomplete (a copy still running or broken off)
        is left in place and tried again when its size changes; unchanged for
        ``intervals.abandon`` seconds, it is quarantined.

        Whatever lands in a drop folder is hostile until proved otherwise. Entries are
        lstat'ed and only regular files are opened (with :func:`open_regular`): a symlink,
        FIFO, socket, device or directory named ``*.xbb`` is moved unopened to ``quarantine/``
        with a note in the spool (or, when it cannot be moved, ignored and logged once). What
        is verified and applied is a private snapshot (:meth:`Spool.stage`), so a file changed
        or deleted meanwhile cannot confuse the receiver, and the receiver never sees a name
        from outside. Every failure stays with its entry: a file that vanished is forgotten,
        one that cannot be read or moved is logged once and left until it changes, and the
        pass goes on with the others; one file never makes this raise. Files go to ``done/``
        and ``quarantine/`` under :func:`safe_name`, never over a different file there.
        """
        closed = closed or {}
        clock = now.timestamp()
        intervals = self.settings.intervals
        report = ImportReport()
        ready: list[Path] = []
        stale: list[Path] = []
        present: set[Path] = set()
        for folder in self.settings.drop:
            for path, info in self._entries(folder):
                present.add(path)
                if not stat.S_ISREG(info.st_mode):
                    self._drops.pop(path, None)
                    self._set_aside(path, info, folder / "quarantine", now, report)
                    continue
                seen = self._drops.get(path)
                if seen is None or seen.size != info.st_size:
                    # a file being written keeps its modification time recent
                    since = clock if seen else min(clock, info.st_mtime)
                    self._drops[path] = seen = _Dropped(info.st_size, since, _mark(info))
                elif seen.stuck:
                    if seen.mark != _mark(info):  # touched, replaced, permissions changed
                        seen.stuck, seen.mark, seen.since = False, _mark(info), clock
                    continue
                if seen.held:  # tried and found incomplete at this size
                    if clock - seen.since >= intervals.abandon:
                        stale.append(path)
                elif closed.get(path) == info.st_size or clock - seen.since >= intervals.stable:
                    ready.append(path)
        for gone in set(self._drops) - present:
            del self._drops[gone]
        for gone in {key for key in self._aside if key[0] not in present}:
            self._aside.discard(gone)
        if ready or stale:
            with self.spool.staging() as stage:
                self._import_drops(ready, frozenset({"truncated"}), stage, now, report)
                self._import_drops(stale, frozenset(), stage, now, report)
        if not _any(report):
            return None
        _log_report(report)
        return report

    def _import_drops(
        self,
        paths: list[Path],
        hold: frozenset[str],
        stage: Path,
        now: datetime,
        report: ImportReport,
    ) -> None:
        """Snapshot, receive and move aside dropped files; outcomes added to ``report`` under
        each file's (escaped) name."""
        limit = self.receiver.limits.max_bundle_bytes
        copies: dict[Path, list[Path]] = {}  # snapshot → the dropped files with its bytes
        for path in paths:
            if self._drops[path].size > limit:  # never copied: it cannot become a bundle
                self._refuse_drop(path, "too-large", "数据包超过大小限制", now, report)
                continue
            try:
                copy = self.spool.stage(path, stage, limit)
            except (FileNotFoundError, NotRegularFile):
                # vanished, or replaced by something else since listed: the next pass sees
                # what is there now
                self._drops.pop(path, None)
                continue
            except OSError as exc:
                self._stuck(path, "cannot read dropped file %s: %s", exc)
                continue
            copies.setdefault(copy, []).append(path)
        if not copies:
            return
        received, failed = self._receive(list(copies), now, hold)
        held = set(received.held)
        refused = dict(received.quarantined)
        outcome = {
            name: status
            for status in ("applied", "duplicate", "relayed")
            for name in getattr(received, status)
        }
        report.records += received.records
        for copy, dropped in copies.items():
            for copies_before, path in enumerate(dropped):
                name = escaped(path.name)
                if copy in failed:  # the snapshot is ours: this is the spool failing
                    self._stuck(path, "cannot receive dropped file %s: %s", None)
                elif copy.name in held:
                    self._drops[path].held = True
                    report.held.append(name)
                elif copy.name in refused:
                    report.quarantined.append((name, refused[copy.name]))
                    self._move(path, "quarantine", copy.stem)
                elif copy.name in outcome:
                    # byte-identical copies are one bundle, taken once: the others are its
                    # duplicates, as they would be had they come one pass apart
                    status = outcome[copy.name]
                    if copies_before and status == APPLIED:
                        status = DUPLICATE
                    getattr(report, status).append(name)
                    self._move(path, "done", copy.stem)
                else:
                    self._stuck(path, "no outcome for dropped file %s: %s", None)

    def _refuse_drop(
        self, path: Path, reason: str, message: str, now: datetime, report: ImportReport
    ) -> None:
        """Quarantine a dropped file without offering it to the receiver (only its first MiB
        is kept: enough to tell what it was)."""
        try:
            kept = self.spool.quarantine(path, reason, message, now, keep_bytes=1 << 20)
        except OSError as exc:  # the spool's side: try again once the file changes
            self._stuck(path, "cannot quarantine dropped file %s: %s", exc)
            return
        report.quarantined.append((escaped(path.name), reason))
        self._move(path, "quarantine", kept.stem)

    def _entries(self, folder: Path) -> list[tuple[Path, os.stat_result]]:
        """The ``*.xbb`` entries of ``folder`` (hidden ones excepted: temporary files of
        writers) with their lstat, sorted by name; never raises. Listed by name only: nothing
        is opened or followed."""
        try:
            with os.scandir(folder) as listing:
                names = sorted(e.name for e in listing if e.name.endswith(SUFFIX))
            names = [n for n in names if not n.startswith(".")]
        except FileNotFoundError:
            return []
        except OSError as exc:
            self._once(
                ("list", folder, exc.errno), "cannot list %s: %s", escaped(str(folder)), _why(exc)
            )
            return []
        entries = []
        for name in names:
            path = folder / name
            try:
                entries.append((path, path.lstat()))
            except FileNotFoundError:
                continue  # gone since listed
            except OSError as exc:
                self._once(
                    ("lstat", path, exc.errno),
                    "cannot look at %s: %s",
                    escaped(str(path)),
                    _why(exc),
                )
        return entries

    def _set_aside(
        self,
        path: Path,
        info: os.stat_result,
        folder: Path,
        now: datetime,
        report: ImportReport,
    ) -> None:
        """Move an entry that is not a regular file (never opened) into ``folder`` under a safe
        name, with a note in the spool's quarantine; if it cannot be moved, note and log it
        once and leave it."""
        key = (path, info.st_ino, info.st_mode)
        if key in self._aside:
            return
        kind, label = file_kind(info.st_mode)
        moved = _move_into(path, folder, secrets.token_hex(6))
        if isinstance(moved, FileNotFoundError):
            return  # gone already: nothing to set aside
        note = {
            "reason": "not-a-file",
            "message": f"{label}不是数据包文件，未打开",
            "source": escaped(str(path)),
            "kind": kind,
            "at": now.isoformat(),
        }
        if isinstance(moved, OSError):
            self._aside.add(key)  # noted and logged once; it stays until it changes
            log.warning(
                "%s is a %s, not a bundle file: left in place (%s)",
                escaped(str(path)),
                kind,
                _why(moved),
            )
            note["moved_to"] = f"not moved: {_why(moved)}"
        else:
            log.warning(
                "%s is a %s, not a bundle file: moved to %s",
                escaped(str(path)),
                kind,
                escaped(str(moved)),
            )
            note["moved_to"] = escaped(str(moved))
        try:
            self.spool.note(note)
        except OSError as exc:
            log.error("cannot write quarantine note for %s: %s", escaped(str(path)), _why(exc))
        report.quarantined.append((escaped(path.name), "not-a-file"))

    def _move(self, path: Path, folder: str, distinct: str) -> None:
        """Move a dropped file to ``folder`` beside it (``done``, ``quarantine``) once handled;
        if that fails, leave it and do not take it again until it changes."""
        moved = _move_into(path, path.parent / folder, distinct)
        if isinstance(moved, FileNotFoundError):
            self._drops.pop(path, None)
        elif isinstance(moved, OSError):
            self._stuck(path, f"cannot move dropped file %s to {folder}/: %s", moved)
        else:
            self._drops.pop(path, None)

    def _stuck(self, path: Path, message: str, exc: OSError | None) -> None:
        """A dropped file that cannot be taken or moved at its present state: logged once,
        left alone until it changes (so it is neither read nor acknowledged every pass)."""
        seen = self._drops.get(path)
        if seen is not None:
            seen.stuck = True
        why = "see above" if exc is None else _why(exc)
        self._once(("stuck", path, seen.mark if seen else None), message, escaped(str(path)), why)

    def _once(self, key: tuple[Any, ...], message: str, *args: Any) -> None:
        """Log a warning once per ``key`` (a broken file is met on every pass)."""
        if key in self._logged:
            return
        if len(self._logged) >= MAX_LOGGED:  # a flood of broken files must not grow memory
            self._logged.clear()
        self._logged.add(key)
        log.warning(message, *args)

    def next_work(self, now: float) -> float | None:
        """Seconds until a pass has work of its own (0: now): a dropped file settling, or the
        earliest retry of a bundle for a link this node pushes to (HTTP or a folder; a pull
        child's queue waits for its pull; a bundle above a link's ceiling waits for another
        link), or an interrupted upload to delete. None: nothing is waiting."""
        if self.drops_waiting():
            return 0.0
        soonest: float | None = None
        ttl = self.settings.limits.partial_ttl
        for path in self._leftovers():  # an interrupted upload goes once its ttl is over
            with contextlib.suppress(OSError):
                at = max(0.0, path.lstat().st_mtime + ttl - now)
                soonest = at if soonest is None else min(soonest, at)
        for peer, link in self.settings.links.items():
            if not (link.url or link.folder):
                continue
            row = self.outgoing.db.execute(
                "SELECT MIN(next_try) FROM hop WHERE peer = ? AND classification <= ?",
                (peer, link.ceiling.rank),
            ).fetchone()
            if row and row[0] is not None:
                at = max(0.0, float(row[0]) - now)
                soonest = at if soonest is None else min(soonest, at)
        return soonest

    def drops_waiting(self) -> bool:
        """Whether a dropped file is waiting to become stable (a scan is due soon)."""
        return any(not (seen.held or seen.stuck) for seen in self._drops.values())

    # -- pull mode (the parent's side) ----------------------------------------------------------

    def signing_key_of(self, node: str) -> bytes | None:
        """The Ed25519 public key of a direct child, from the certificate issued to it."""
        path = self.home.path / KEY_DIR / ISSUED_DIR / f"{node}.pem"
        if not path.is_file():
            return None
        return cert_identity(chain_from_pem(path.read_bytes())[0]).signing_public

    def _pull_ceiling(self, peer: str) -> int:
        link = self.settings.links.get(peer)
        return link.ceiling.rank if link else 3

    def waiting_for(self, peer: str) -> list[dict[str, Any]]:
        """Bundles a child may pull now, most urgent first."""
        hops = self.outgoing.due(peer, float("inf"), self._pull_ceiling(peer), limit=1000)
        return [
            {"name": h.path.name, "id": h.bundle_id, "size": h.size, "priority": h.priority}
            for h in hops
        ]

    def waiting_file(self, peer: str, name: str) -> Path | None:
        """The file of a bundle waiting for ``peer``, if it is one."""
        for hop in self.outgoing.due(peer, float("inf"), self._pull_ceiling(peer), limit=1000):
            if hop.path.name == name:
                return hop.path
        return None

    def pulled(self, peer: str, names: list[str]) -> int:
        """The child took custody of these bundles."""
        wanted = set(names)
        done = 0
        now = datetime.now(UTC).timestamp()
        for hop in self.outgoing.due(peer, float("inf"), self._pull_ceiling(peer), limit=1000):
            if hop.path.name in wanted:
                self.outgoing.handed(hop, now)
                done += 1
        return done

    # -- leads ---------------------------------------------------------------------------------

    def feed_states(self, count_leads: bool = False) -> dict[str, leads.FeedState]:
        """How each configured feed source fares, by name (a source removed from syncd.toml
        is forgotten: the desk is not told of its old failures)."""
        names = [feed.name for feed in self.settings.feeds]
        states = leads.feed_states(self.store, count_leads)
        if any(state.source not in names for state in states):
            leads.forget_feeds(self.store, names)
        return {state.source: state for state in states if state.source in names}

    def keep_leads(self, feed: syncconfig.Feed, entries: list[leads.Entry]) -> leads.Added:
        """Keep a source's entries as leads, matched against its keywords and the themes of
        the reporting priorities held here."""
        words = leads.keywords(self.store, feed.keywords)
        return leads.add(self.store, entries, words, datetime.now(UTC))

    # -- status -------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Links, queues, last contact, blocked bundles, quarantine."""
        links = []
        peers = set(self.settings.links) | set(self.receiver.routes.children())
        if self.receiver.config.parent:
            peers.add(self.receiver.config.parent)
        for peer in sorted(peers):
            link = self.settings.links.get(peer)
            queue = self.outgoing.queue(peer)
            ceiling = link.ceiling.rank if link else 3
            if link is None:
                kind, where = "pull", "（由对方拉取）"
            elif link.url:
                kind, where = "http", link.url
            else:
                kind, where = "folder", str(link.folder)
            state = "ok" if queue["last_contact"] and not queue["failures"] else "waiting"
            if queue["failures"]:
                state = "failing"
            unit = find_unit(self.store, peer)
            links.append(
                {
                    "peer": peer,
                    "name": unit.label if unit else "",
                    "kind": kind,
                    "where": where,
                    "ceiling": str(link.ceiling) if link else "",
                    "state": state,
                    **queue,
                    "blocked": self.outgoing.blocked(peer, ceiling),
                }
            )
        return {
            "node": self.me,
            # this node's certificate carries its hybrid post-quantum key (syncd/keys.py)
            "hybrid": bool(cert_identity(self.chain[0]).hybrid_public),
            "links": links,
            "awaiting_receipts": self.outgoing.waiting_receipts(),
            "quarantined": len(self.spool.quarantined()),
            **backups.last(self.home),  # the last backup; a restore (syncd/backup.py)
            "resync": resync.summary(self.store),  # after a restore (schema/resync.py)
            "retained": dict(zip(("bundles", "bytes"), self.outgoing.retained(), strict=True)),
            "feeds": self._feed_status(),
        }

    def _feed_status(self) -> list[dict[str, Any]]:
        states = self.feed_states(count_leads=True)
        rows = []
        for feed in self.settings.feeds:
            state = states.get(feed.name) or leads.FeedState(feed.name)
            rows.append(
                {
                    "name": feed.name,
                    "kind": "http" if feed.url is not None else "folder",
                    "where": feed.where,
                    "state": "failing"
                    if state.failures
                    else ("ok" if state.last_ok else "waiting"),
                    "last_ok": state.last_ok.timestamp() if state.last_ok else None,
                    "last_error": state.last_error,
                    "failures": state.failures,
                    "next_at": state.next_at.timestamp() if state.next_at else None,
                    "refused": state.refused,
                    "leads": state.leads,
                }
            )
        return rows


@dataclass
class _Dropped:
    """A file seen in a drop folder: its size, since when, its :func:`_mark` then, whether it
    proved incomplete (``held``), and whether it could not be read or moved (``stuck``: left
    alone until its mark changes)."""

    size: int
    since: float
    mark: tuple[int, ...]
    held: bool = False
    stuck: bool = False


def _mark(info: os.stat_result) -> tuple[int, ...]:
    """What changes when a file is replaced, written or has its permissions changed."""
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_mode)


def _why(exc: OSError) -> str:
    """An OSError in words for one log line (its file name is logged apart, escaped)."""
    return exc.strerror or escaped(str(exc)) or type(exc).__name__


def _any(report: ImportReport) -> bool:
    return bool(
        report.applied or report.duplicate or report.quarantined or report.relayed or report.held
    )


def _move_into(path: Path, folder: Path, distinct: str) -> Path | OSError:
    """Move ``path`` into ``folder`` (made if missing) under :func:`safe_name` of its name,
    with ``-distinct`` added when that name is taken there (so a different file is never
    overwritten; ``distinct`` is the content hash, and the same bytes twice under one name may
    replace each other): the new path, or the OSError that stopped it.

    ``folder`` must be a real directory: a symlink planted under that name in a drop folder
    must not send files elsewhere."""
    try:
        with suppress(FileExistsError):
            folder.mkdir()
        if not stat.S_ISDIR(folder.lstat().st_mode):
            return NotADirectoryError(errno.ENOTDIR, "not a directory", str(folder))
        name = safe_name(path.name)
        target = folder / name
        if os.path.lexists(target):
            target = folder / f"{name.removesuffix(SUFFIX)}-{distinct[:16]}{SUFFIX}"
        os.replace(path, target)
    except OSError as exc:
        return exc
    return target


def _stamp(home: NodeHome) -> tuple[float, ...]:
    paths = [
        syncconfig.config_path(home.path),
        home.path / KEY_DIR / ISSUED_DIR,
        home.path / KEY_DIR / "known",
    ]
    return tuple(p.stat().st_mtime if p.exists() else 0.0 for p in paths)


def _log_report(report: ImportReport) -> None:
    if report.held:
        log.info("incomplete, left for later: %s", report.held)
    if report.applied or report.relayed or report.duplicate or report.quarantined:
        log.info(
            "received: %d applied (%d records), %d relayed, %d duplicate, %d quarantined %s",
            len(report.applied),
            report.records,
            len(report.relayed),
            len(report.duplicate),
            len(report.quarantined),
            [reason for _, reason in report.quarantined],
        )
