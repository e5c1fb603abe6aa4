"""Receiving bundles: verify, keep attachments, apply records, remember — in batches.

Every way a bundle reaches a node (a carried-in folder, an HTTP upload, a watched drop folder)
ends here. Bundles are applied in batches, one store transaction per batch: a refused bundle
rolls its batch back, is quarantined with its reason, and the batch is applied again up to it;
the ids of applied bundles enter the seen-set after the commit (a crash in between only means
a bundle is opened again and its records are found already applied). Bundles for other nodes
are relayed (custody in ``spool/out``); receipts travel back to senders.

Each record is verified against its maker's signature (``syncd/proof.py``) and checked against
the authority table (``schema/authority.py``) before it is applied: a record that fails
refuses its whole bundle, with the reason ``record-signature``, ``record-authority``,
``record-addressee`` or ``record-citation``. A duplicate bundle is acknowledged only once the
whole file has been verified (a half-copied file of a bundle seen before is held as
``truncated``, not acknowledged). A receipt marks its records delivered in the store inside
the batch's transaction; the spool's waiting list follows only after that commit, so a crash
in between leaves the receipt to be applied again, never counted without ``delivered_at``.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from schema import authority, outbox, resync
from schema.attachment import Attachments
from schema.clock import Clock, fixed_clock, from_text, system_clock, to_text
from schema.error import NotFound, StoreError, XinbaoError
from schema.inbound import Outcome, apply
from schema.node import NodeConfig, NodeHome
from schema.record import Record
from schema.state import mark_delivered
from schema.store import Store
from schema.vocabulary import Classification
from syncd import revocation
from syncd.bundle import (
    BundleError,
    Front,
    Header,
    Limits,
    fresh,
    opened_stream,
    read_front,
    verify_outer,
)
from syncd.enrolment import CERT_KIND, learn, load_root
from syncd.error import TrustError
from syncd.keys import NodeKeys, load_keys, passphrase_from_env
from syncd.outgoing import Outgoing
from syncd.proof import MAX_DEPTH, Verifier, nesting, signed_bytes, unsigned
from syncd.resync import Retention
from syncd.revocation import revoked_in
from syncd.route import Routes
from syncd.spool import CHECKED, Spool, escaped, open_regular

Progress = Callable[[int, int], None]
log = logging.getLogger("xinbao.syncd")
# Records the trust layer handles itself; every other kind is applied through schema.
TRUST_KINDS = {revocation.KIND: revocation.accept, CERT_KIND: learn}
RECEIPT_KIND = "receipt"  # end-to-end receipts: handled here, never receipted themselves
RESYNC_KINDS = frozenset({resync.RESYNC, resync.RETURNED, resync.HANDED, resync.DONE})
APPLIED, DUPLICATE, RELAYED = "applied", "duplicate", "relayed"  # ImportReport fields
BATCH = 1024
MALFORMED = (
    ValueError,
    TypeError,
    LookupError,
    OverflowError,
    RecursionError,
    sqlite3.IntegrityError,
)
BATCH_SECONDS = 0.5


def _made(created: int, now: datetime) -> datetime:
    """When a bundle says it was made (its signed header), as a time; ``now`` where the
    number is no time at all (a hostile header must not raise here)."""
    try:
        return datetime.fromtimestamp(created, UTC)
    except (ValueError, OverflowError, OSError, TypeError):
        return now


class _Refused(Exception):
    """A bundle refused inside a batch; the batch is rolled back and applied without it."""

    def __init__(self, path: Path, error: BundleError) -> None:
        super().__init__(error.message)
        self.path = path
        self.error = error


@dataclass
class ImportReport:
    """What happened to each bundle file."""

    applied: list[str] = field(default_factory=list)
    duplicate: list[str] = field(default_factory=list)
    quarantined: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    records: int = 0
    relayed: list[str] = field(default_factory=list)  # only passed on toward others
    held: list[str] = field(default_factory=list)  # incomplete: left in place for later

    def merge(self, other: ImportReport) -> None:
        """Add ``other``'s outcomes to this report."""
        for name in ("applied", "duplicate", "quarantined", "relayed", "held"):
            getattr(self, name).extend(getattr(other, name))
        self.records += other.records


class Receiver:
    """A node's receiving side, open on its store, spool and keys until :meth:`close`."""

    def __init__(self, home: NodeHome) -> None:
        self.home = home
        self.config: NodeConfig = home.load()
        root = load_root(home)
        if root is None:
            raise TrustError("本节点尚未入网（没有根证书），不能接收数据包")
        self.root: x509.Certificate = root
        self.keys: NodeKeys = load_keys(home.path, passphrase_from_env())
        self.limits = Limits.load()
        self.attachments = Attachments(home.attachments_path)
        self.spool = Spool(home.path)
        self.store = Store.open(home.store_path)
        self.outgoing = Outgoing(self.spool)
        self.routes = Routes.load(home)
        self._owed: dict[str, list[tuple[str, int]]] = {}  # sender → (bundle, priority)
        # receipts of this batch, noted in the spool only after the store committed
        self._receipts: list[tuple[str, str, str]] = []  # (bundle, recipient, at)
        self._revoked: frozenset[str] = frozenset()
        self._resyncing = False  # bundles handed again after a restore are known (a batch)
        self._in_resync = False  # a resync runs here (a batch): parked records are retried
        self._answered: set[str] = set()  # neighbours whose resync was answered in this batch
        # a received batch is durable at its commit, before its ids enter the seen-set
        self.store.db.execute("PRAGMA synchronous = FULL")

    def close(self) -> None:
        """Close the store and the seen-set."""
        self.spool.close()
        self.store.close()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def receive(
        self,
        paths: Iterable[Path],
        now: datetime,
        progress: Progress | None = None,
        hold: frozenset[str] = frozenset(),
    ) -> ImportReport:
        """Verify and apply bundle files addressed to this node; refused ones are quarantined,
        except those refused for a reason in ``hold`` (e.g. ``truncated`` for a file still
        being copied), which are left where they are and listed in ``report.held``."""
        files = list(paths)
        report = ImportReport()
        refused: set[Path] = set()
        done = 0
        while done < len(files):
            done += self._batch(files[done:], now, report, refused, hold)
            if progress:
                progress(done, len(files))
        # ids of bundles past their expiry are refused anyway; the seen-set need not keep them
        self.spool.prune(now, int(self.limits.clock_skew.total_seconds()))
        return report

    def _batch(
        self,
        files: list[Path],
        now: datetime,
        report: ImportReport,
        refused: set[Path],
        hold: frozenset[str],
    ) -> int:
        """Apply a batch from the front of ``files`` in one transaction; how many it took.

        A batch ends at BATCH bundles or BATCH_SECONDS, so the store's write lock is never
        held long (a console writing meanwhile waits at most that). A refused bundle rolls the
        batch back; it is quarantined, and the batch is applied again up to it.
        """
        limit = len(files)
        while True:
            taken = 0
            outcomes: list[tuple[Path, Header, str, int]] = []
            fresh: set[str] = set()
            started = time.monotonic()
            try:
                self._owed = {}
                self._receipts = []
                # read once a batch (and again after a revocation notice applied in it)
                self._revoked = revoked_in(self.spool)
                self._resyncing = resync.arrivals_known(self.store)
                self._answered = set()
                self._in_resync = resync.running(self.store)
                with self.store.write():
                    for path in files[:limit]:
                        if taken >= BATCH or time.monotonic() - started > BATCH_SECONDS:
                            break
                        taken += 1
                        if path in refused:
                            continue
                        outcome = self._one(path, now, fresh, report)
                        outcomes.append(outcome)
                        if outcome[2] == APPLIED:
                            fresh.add(outcome[1].id)
                        if self._in_resync and outcome[2] == APPLIED:
                            # after a restore: what waited may go on now (bounded in time)
                            resync.retry(self.store, self.config.id, now, self._apply_parked)
                    self._queue_receipts(now)
            except _Refused as bad:
                refused.add(bad.path)
                if bad.error.reason in hold:
                    report.held.append(bad.path.name)
                else:
                    self._refuse(bad.path, bad.error.reason, bad.error.message, now, report)
                limit = files.index(bad.path) + 1  # those before it were fine: apply them
                continue
            break
        self.outgoing.settle()  # what was relayed is durable before its source may go
        for bundle_id, recipient, at in self._receipts:
            self.outgoing.receipt(bundle_id, recipient, at)
        self._receipts = []
        for path, _, status, count in outcomes:
            getattr(report, status).append(path.name)
            report.records += count
        self.spool.remember_many([h for _, h, status, _ in outcomes if status == APPLIED], now)
        return taken

    def _one(
        self, path: Path, now: datetime, batch_ids: set[str], report: ImportReport
    ) -> tuple[Path, Header, str, int]:
        """Handle one bundle inside the batch's transaction: apply it if it is for this node,
        relay it toward its other recipients. Its header, what happened (APPLIED, DUPLICATE or
        RELAYED) and how many records were new. Raises :class:`_Refused`."""
        me = self.config.id
        # never blocking on a FIFO, never through a link; an OSError (a file that vanished or
        # cannot be read) is not the bundle's fault: it ends the call, and the engine takes
        # the files one by one so the error stays with its file
        with open_regular(path) as fh:
            try:
                # checked already by this process as it took the file in (an upload): a
                # relay or a duplicate need not be checked twice; applying checks everything
                checked = CHECKED.take(os.fstat(fh.fileno()))
                front = read_front(fh, self.limits)
                header = front.header
                # a revocation known now may postdate that check: then check again
                checked = checked and not self._revoked and fresh(header, now, self.limits)
                fh.seek(0)
                revoked = self._revoked
                count = 0
                if me not in header.recipients:
                    if not checked:
                        verify_outer(fh, self.root, now, self.limits, revoked)
                    status = RELAYED
                elif header.id in batch_ids or self.spool.seen(header.id):
                    # acknowledged only as the whole, signed bundle: a half-copied file of a
                    # bundle seen before is held as truncated, never taken for done
                    if not checked:
                        verify_outer(fh, self.root, now, self.limits, revoked)
                    self._acknowledge(header, now)  # its receipt may have been lost: again
                    status = DUPLICATE
                else:
                    count = self._apply(fh, front, now, revoked)
                    status = APPLIED
                if status != APPLIED and self._resyncing:  # a bundle handed again has come
                    resync.came(self.store, header.id)
                self._relay(path, front, now)
            except BundleError as exc:
                raise _Refused(path, exc) from exc
            except StoreError:
                raise  # the node's own store failed: nothing is wrong with the bundle
            except authority.AuthorityError as exc:
                raise _Refused(path, BundleError(exc.code, exc.message)) from exc
            except XinbaoError as exc:
                raise _Refused(path, BundleError("apply-failed", exc.message)) from exc
            except MALFORMED as exc:
                # what a hostile record can make Python or SQLite raise (a number out of
                # range, a wrong type, a key clash) refuses its bundle; it never ends the
                # batch, which would leave the file to fail the same way every pass
                log.warning("bundle %s refused: %s: %s", path.name, type(exc).__name__, exc)
                message = "数据包内容无法处理（格式或取值不符）"
                raise _Refused(path, BundleError("payload-invalid", message)) from exc
        return path, header, status, count

    def _apply(self, fh: Any, front: Front, now: datetime, revoked: frozenset[str]) -> int:
        me, header = self.config.id, front.header
        self.attachments.root.mkdir(parents=True, exist_ok=True)
        staging = self.attachments.root
        count = 0
        wants_receipt = False
        # a bundle handed again after this node's restore: its records apply as of when it
        # first came (an emergency that was in time is not counted late now)
        first = None
        if self._resyncing:
            first = resync.first_arrival(self.store, header.id, _made(header.created, now))
        clock: Clock = system_clock if first is None else fixed_clock(first)
        opened = opened_stream(
            fh, me, self.keys, self.root, now, self.limits, revoked, staging, front
        )
        with opened as op:
            verifier = None
            if op.version >= 2 and op.sender is not None:
                verifier = Verifier(op.sender, op.chain, self.root, now, revoked)
            # the records of a bundle are applied whole or not at all; its attachments are
            # kept (a rename each) only once they all applied
            for raw in op.records:
                if verifier is not None:
                    record, to = verifier.verify(raw)
                else:  # format version 1: the bundle's signature is the records' proof
                    record, to = unsigned(raw, header.sender), header.recipients
                if record.kind == RECEIPT_KIND:
                    authority.check(record, me, to)
                    self._receipt(record, header, now)
                    continue
                if record.kind in RESYNC_KINDS:
                    authority.check(record, me, to)
                    self._resync(record, header, verifier, now)
                    wants_receipt = True
                    continue
                wants_receipt = True
                trust = TRUST_KINDS.get(record.kind)
                if trust is not None:
                    authority.check(record, me, to)
                    trust(self.home, raw, self.root, now, self.store)
                    if record.kind == revocation.KIND:  # counts for the rest of the batch
                        self._revoked = revoked_in(self.spool)
                elif apply(self.store, record, me, clock, to, header.classification).outcome is (
                    Outcome.APPLIED
                ):
                    count += 1
            for staged in op.attachments:
                self.attachments.keep(staged.sha256, staged.path)
        if wants_receipt:
            self._acknowledge(header, now)
        return count

    # -- resync after a restore (schema/resync.py, syncd/resync.py) ----------------------------

    def _resync(
        self, record: Record, header: Header, verifier: Verifier | None, now: datetime
    ) -> None:
        """A resync request from a restored neighbour; or, to this node restored, a record
        returned, when the bundles handed again had first come, or a neighbour's word that it
        is done — each once, and only as the answer to the request this node made of that
        neighbour, while it is answering."""
        if record.origin != header.sender or verifier is None:
            raise BundleError("record-authority", f"记录 {record.id} 须由相邻节点本身签发并发送")
        self._in_resync = True
        if record.kind == resync.RESYNC:
            self._answer_resync(record, now)
            return
        # a record returned is checked first: a forgery is refused, asked for or not
        own = self._own_returned(record) if record.kind == resync.RETURNED else None
        if not resync.answering(self.store, record.origin, record.payload):
            log.warning("resync: %s sent %s not asked for; ignored", record.origin, record.kind)
            return
        if not resync.once(self.store, record, now):
            return
        if own is not None:
            self._restore(own[0], own[1], str(record.payload.get("received_at")), now)
        elif record.kind == resync.HANDED:
            resync.first_arrivals(self.store, record.origin, record.payload, now)
            self._resyncing = True  # the bundles it speaks of may follow in this batch
            bundles = record.payload.get("bundles")
            for bundle_id in bundles if isinstance(bundles, dict) else {}:
                if self.spool.seen(str(bundle_id)):  # came ahead of the word (or before)
                    resync.came(self.store, str(bundle_id))
        else:
            resync.done(self.store, record.origin, record.payload, now)
            log.info("resync: %s has answered", record.origin)

    def _answer_resync(self, record: Record, now: datetime) -> None:
        node = record.origin
        if self.routes.next_hop(node) != node:  # only a parent or a child
            raise BundleError(
                "record-authority", f"{node} 不是本节点的上级或直接下级，不能请求重新同步"
            )
        kept = Retention.load()
        try:
            since = max(
                from_text(str(record.payload.get("since", ""))) - kept.margin, now - kept.keep
            )
        except (ValueError, OverflowError, TypeError) as exc:
            raise BundleError("payload-invalid", "重新同步请求的起始时间无效") from exc
        if node in self._answered:  # one answer a neighbour a batch: a flood costs one
            log.warning("resync for %s: a second request in one batch; not answered", node)
            return
        if not resync.once(self.store, record, now):
            return  # its bundle came again
        self._answered.add(node)
        resent = self.outgoing.resend_to(node, since.timestamp(), now.timestamp())
        handed = [(b, datetime.fromtimestamp(at, UTC)) for b, at in resent]
        records = resync.answer(self.store, self.config.id, node, record.id, since, handed, now)
        log.info(
            "resync for %s from %s: %d bundles handed again, %d of its records returned",
            node,
            to_text(since),
            len(resent),
            records,
        )

    def _own_returned(self, record: Record) -> tuple[Record, tuple[str, ...]]:
        """The record a neighbour returned, checked to be signed by this node's own signing
        key (no certificate needed: the key is this node's own); a forgery is refused."""
        raw = record.payload.get("record")
        if not isinstance(raw, dict) or not nesting(raw, MAX_DEPTH):
            raise BundleError("payload-invalid", f"回传记录 {record.id} 格式不符")
        try:
            shaped = isinstance(raw["id"], str) and type(raw["version"]) is int
            body = signed_bytes(raw)
            signature = bytes.fromhex(str(raw["sig"]))
            own = Record(
                str(raw["id"]),
                str(raw["kind"]),
                int(raw["version"]),
                str(raw["origin"]),
                dict(raw["payload"]),
                proof=raw,
            )
            to = tuple(str(t) for t in raw["to"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError("payload-invalid", f"回传记录 {record.id} 格式不符") from exc
        if not shaped:
            raise BundleError("payload-invalid", f"回传记录 {record.id} 格式不符")
        if own.origin != self.config.id:
            raise BundleError("record-authority", f"回传记录 {own.id} 不是本节点编发的")
        try:
            self.keys.signing.public_key().verify(signature, body)
        except InvalidSignature as exc:
            raise BundleError("record-signature", f"回传记录 {own.id} 不是本节点签发的") from exc
        return own, to

    def _restore(self, own: Record, to: tuple[str, ...], received_at: str, now: datetime) -> None:
        """Put an own record back (its signature checked); one that cannot be is logged and
        skipped, never refusing the bundle: that would lose the others returned with it."""
        me = self.config.id
        try:
            with self.store.savepoint():
                resync.restore_own(self.store, own, me, now, received_at)
        except NotFound:
            if not resync.park(self.store, own, to, True, received_at, now):
                log.warning("returned record %s cannot wait (too many wait)", own.id)
        except StoreError:
            raise
        except (XinbaoError, LookupError, ValueError, TypeError, sqlite3.Error) as exc:
            log.warning("returned record %s not restored: %s", own.id, exc)

    def _apply_parked(
        self, record: Record, to: tuple[str, ...], at: datetime, classification: int
    ) -> bool:
        done = apply(self.store, record, self.config.id, fixed_clock(at), to, classification)
        return done.outcome is not Outcome.WAITING

    def _acknowledge(self, header: Header, now: datetime) -> None:
        """Note an end-to-end receipt owed to ``header``'s sender (queued per batch)."""
        if header.sender != self.config.id:
            self._owed.setdefault(header.sender, []).append((header.id, header.priority))

    def _queue_receipts(self, now: datetime) -> None:
        """Queue one receipt record per sender for the bundles of this batch (in its
        transaction): a thousand bundles from a county cost one record back, not a thousand."""
        me = self.config.id
        for sender, owed in self._owed.items():
            record = Record(
                id=f"receipt:{me}:{secrets.token_hex(8)}",
                kind=RECEIPT_KIND,
                version=1,
                origin=me,
                payload={
                    "bundles": list(dict.fromkeys(b for b, _ in owed)),
                    "by": me,
                    "at": to_text(now),
                },
            )
            outbox.enqueue(
                self.store,
                record,
                (sender,),
                priority=max(p for _, p in owed),
                classification=Classification.PUBLIC,
                at=now,
            )
        self._owed = {}

    def _receipt(self, record: Record, header: Header, now: datetime) -> None:
        """A recipient's receipt for bundles this node sealed: mark what they carried
        delivered (in the store now, in the spool after the batch commits)."""
        payload = record.payload
        by, bundles = payload.get("by"), payload.get("bundles")
        if by != header.sender or record.origin != header.sender:
            raise BundleError("payload-invalid", "回执不是由收件节点本身签发的")
        if not isinstance(bundles, list) or not all(isinstance(b, str) for b in bundles):
            raise BundleError("payload-invalid", "回执记录格式不符")
        try:
            at = from_text(str(payload.get("at")))
        except ValueError:
            at = now
        for bundle_id in bundles:
            for carried in self.outgoing.awaiting(bundle_id, by):
                if carried.get("kind") == "item":
                    mark_delivered(self.store, carried["id"], self.config.id, by, at)
            self._receipts.append((bundle_id, by, to_text(at)))

    def _relay(self, path: Path, front: Front, now: datetime) -> bool:
        """Take custody of a bundle for recipients beyond this node; whether it was relayed."""
        me = self.config.id
        header = front.header
        others = tuple(r for r in header.recipients if r != me)
        if not others:
            return False
        came_from = self.routes.next_hop(header.sender) or ""
        hops = self.routes.hops(others, came_from)
        if not hops:
            if me in header.recipients:
                return False
            raise BundleError("no-route", "本节点无法转发此数据包（收件节点不在下级，也无上级）")
        self.outgoing.hand(path, hops, now.timestamp(), settle=False, front=front)
        return True

    def _refuse(
        self, path: Path, reason: str, message: str, now: datetime, report: ImportReport
    ) -> None:
        self.spool.quarantine(path, reason, message, now)
        report.quarantined.append((escaped(path.name), reason))
