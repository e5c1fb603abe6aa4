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

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schema import lead as leads
from schema import outbox
from schema.attachment import Attachments
from schema.error import XinbaoError
from schema.network import find_unit
from schema.node import NodeHome
from schema.record import QueuedRecord
from syncd import config as syncconfig
from syncd.bundle import BundleError, Header, read_header, verify_outer
from syncd.certificate import cert_identity, chain_from_pem
from syncd.enrolment import ISSUED_DIR, encryption_keys, load_chain
from syncd.error import TrustError
from syncd.keys import KEY_DIR, copy_durably
from syncd.receive import RECEIPT_KIND, ImportReport, Receiver
from syncd.revocation import revoked_in
from syncd.spool import SUFFIX
from syncd.transfer import Group, grouped, seal_queued

log = logging.getLogger("xinbao.syncd")
MAX_RECORDS_PER_PASS = 10_000


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
        self._drops: dict[Path, _Dropped] = {}
        self._held: dict[tuple[str, str], str] | None = None
        self._warned: set[tuple[str, ...]] = set()
        self._stamp = _stamp(home)

    def close(self) -> None:
        """Close the store and the spool."""
        self.receiver.close()

    def reload(self) -> None:
        """Re-read the links and the subtree (after ``link add`` or an enrolment)."""
        self.settings = syncconfig.load(self.home.path)
        self.receiver.routes = type(self.receiver.routes).load(self.home)
        self._public = {}

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
        return sum(self._seal(group, batch, now) for group, batch in grouped(pending).items())

    def _seal(self, group: Group, batch: list[QueuedRecord], now: datetime) -> bool:
        recipients, _, priority = group
        public = self._keys_for(recipients)
        routes = self.receiver.routes
        if any(routes.next_hop(r) is None for r in recipients):
            # a certificate learned in this very pass brings its route with it
            routes = self.receiver.routes = type(routes).load(self.home)
        waiting = tuple(r for r in recipients if r not in public or routes.next_hop(r) is None)
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
        path, header = seal_queued(self.outgoing.folder, self.me, group, batch, *args)
        hops = routes.hops(recipients)
        self.outgoing.add(path, header, sorted(hops), now.timestamp())
        carried = [
            {"id": q.record.id, "kind": q.record.kind}
            for q in batch
            if q.record.kind != RECEIPT_KIND
        ]
        if carried:  # receipts are never receipted
            resend_at = now.timestamp() + self.settings.intervals.resend_after
            self.outgoing.track(path, header, carried, resend_at)
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
        return self._public

    def resend(self, now: datetime) -> int:
        """Queue again the hops of bundles still waiting for end-to-end receipts."""
        every = self.settings.intervals.resend_after
        count = 0
        for path, waiting in self.outgoing.resend_due(now.timestamp(), every):
            with open(path, "rb") as fh:
                header = read_header(fh)
            hops = self.receiver.routes.hops(tuple(waiting))
            self.outgoing.add(path, header, sorted(hops), now.timestamp())
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
        held: dict[tuple[str, str], str] = {}
        for link in self.settings.links.values():
            for record_id in self.outgoing.blocked_records(link.peer, link.ceiling.rank):
                held[(record_id, link.peer)] = link.ceiling.value
        if held == self._held:
            return False
        outbox.set_held(self.store, held, now)
        self._held = held
        return True

    # -- receiving ----------------------------------------------------------------------------

    def check_upload(self, path: Path, now: datetime) -> Header:
        """What a relay checks of an uploaded file before keeping it: a whole bundle signed
        by an enrolled, unrevoked node. Raises :class:`BundleError`."""
        with open(path, "rb") as fh:
            return verify_outer(fh, self.receiver.root, now, None, revoked_in(self.spool))

    def accept(
        self, paths: list[Path], now: datetime, hold: frozenset[str] = frozenset()
    ) -> ImportReport:
        """Apply and relay bundle files that arrived, most urgent first (``hold``: see
        :meth:`Receiver.receive`)."""
        ranked: list[tuple[int, Path]] = []
        for path in paths:
            try:
                with open(path, "rb") as fh:
                    ranked.append((-read_header(fh).priority, path))
            except (BundleError, OSError):
                ranked.append((0, path))  # the receiver quarantines it with its reason
        ranked.sort(key=lambda pair: pair[0])
        if not ranked:
            return ImportReport()
        return self.receiver.receive([p for _, p in ranked], now, hold=hold)

    def accept_incoming(self, now: datetime) -> ImportReport | None:
        """Apply what waits in ``spool/in`` (uploads and pulls) and delete it."""
        files = sorted(p for p in self.incoming.glob(f"*{SUFFIX}") if p.is_file())
        if not files:
            return None
        report = self.accept(files, now)
        for path in files:
            path.unlink(missing_ok=True)
        _log_report(report)
        return report

    def sweep(self, now: datetime) -> int:
        """Delete interrupted uploads nobody resumed (and temporary files a crash left) after
        ``limits.partial_ttl``; how many."""
        cutoff = now.timestamp() - self.settings.limits.partial_ttl
        gone = 0
        # resumable parts, and the temporary files of uploads and pulls cut off by a crash
        leftovers = [
            *(self.incoming / "partial").glob("*.part"),
            *self.incoming.glob(".upload-*.part"),
            *self.incoming.glob(".pull-*.part"),
        ]
        for path in leftovers:
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    gone += 1
            except OSError:
                continue
        if gone:
            log.info("deleted %d interrupted uploads nobody resumed", gone)
        return gone

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
        """
        closed = closed or {}
        clock = now.timestamp()
        intervals = self.settings.intervals
        ready: list[Path] = []
        stale: list[Path] = []
        present: set[Path] = set()
        for folder in self.settings.drop:
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob(f"*{SUFFIX}")):
                try:
                    info = path.stat()
                except OSError:
                    continue
                present.add(path)
                seen = self._drops.get(path)
                if seen is None or seen.size != info.st_size:
                    # a file being written keeps its modification time recent
                    since = clock if seen else min(clock, info.st_mtime)
                    self._drops[path] = seen = _Dropped(info.st_size, since)
                if seen.held:  # tried and found incomplete at this size
                    if clock - seen.since >= intervals.abandon:
                        stale.append(path)
                elif closed.get(path) == info.st_size or clock - seen.since >= intervals.stable:
                    ready.append(path)
        for gone in set(self._drops) - present:
            del self._drops[gone]
        if not ready and not stale:
            return None
        report = self.accept(ready, now, hold=frozenset({"truncated"}))
        report.merge(self.accept(stale, now))
        refused = {name for name, _ in report.quarantined}
        held = set(report.held)
        for path in ready + stale:
            if path.name in held:
                self._drops[path].held = True
                continue
            self._drops.pop(path, None)
            target = path.parent / ("quarantine" if path.name in refused else "done")
            target.mkdir(exist_ok=True)
            os.replace(path, target / path.name)
        _log_report(report)
        return report

    def drops_waiting(self) -> bool:
        """Whether a dropped file is waiting to become stable (a scan is due soon)."""
        return any(not seen.held for seen in self._drops.values())

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
            "links": links,
            "awaiting_receipts": self.outgoing.waiting_receipts(),
            "quarantined": len(self.spool.quarantined()),
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
    """A file seen in a drop folder: its size, since when, and whether it proved incomplete."""

    size: int
    since: float
    held: bool = False


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
