"""The daemon: an asyncio loop around the engine, the HTTP endpoint and the links.

Every store and spool operation runs on one worker thread (the :class:`~syncd.engine.Engine`
is not shared between threads); the event loop does network I/O only. What the HTTP endpoint
checks of an upload (neighbours' keys, request signatures, :func:`syncd.bundle.verify_outer` of
a whole uploaded file) runs on a small pool of its own, never on the engine's thread: an upload
is answered while a large bundle is being applied or a drop folder is being read (the revoked
node ids it needs are read on the engine's thread once per pass). SIGTERM/SIGINT stop it
gracefully: the HTTP server stops taking uploads, the current step finishes, systemd is told
STOPPING=1.

uvicorn runs with the ``[limits]`` of ``syncd.toml``: ``header_timeout`` (a client must send
its request line and headers within it: uvicorn's own keep-alive timer stops at the first
byte), ``keep_alive``, ``max_connections``, ``max_header_bytes``, ``backlog``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from schema.node import NodeHome
from syncd import http
from syncd.config import format_listen
from syncd.engine import Engine
from syncd.leads import FeedReader
from syncd.notify import Notifier
from syncd.revocation import revoked_in
from syncd.watch import DropWatcher, StoreWatcher

log = logging.getLogger("xinbao.syncd")
T = TypeVar("T")
RUN_FILE = "syncd.json"  # in home/run: pid and the address the daemon listens on
# an unchanged status is rewritten this long after the last write: a pass is due then, woken
# or not (the console calls a status stale at 30 s)
STATUS_HEARTBEAT = 15.0
TICK_SECONDS = 30.0  # the HTTP server's housekeeping tick (uvicorn's own: 0.1 s)
CONFIG_FILE = "syncd.toml"  # the daemon's settings in the node home (an edit wakes a pass)
# with nothing queued, a pass comes this often: events wake one at once (a desk's commit, an
# upload, a pulled or dropped bundle, an edit of syncd.toml) and work due sooner (a retry, a
# file settling) brings it forward; this pass is the safety net, and the status heartbeat
IDLE_SECONDS = 15.0
POLL_MARGIN = 10.0  # a long poll's client waits this much longer than the parent holds it
KEEPALIVE_SECONDS = 2.0  # a kept-alive connection unused this long is not reused (the server's
# own idle close, limits.keep_alive, is longer: a reused connection is never one being closed)
HELD_SECONDS = 1.0  # an empty answer this quick means the parent holds no long polls
# with feed sources configured, they are checked at least this often (none: the feed loop
# sleeps until a reload of syncd.toml brings one)
FEED_CHECK_SECONDS = 5.0
USER_AGENT = "xinbao-syncd (feed reader)"
CHECK_WORKERS = 4  # upload checks at once (each reads a whole bundle file)
SHUTDOWN_SECONDS = 5  # in-flight requests may finish this long after SIGTERM
# a push sends small bundles together (one request, one fsync at the peer): at most this many
# or this many bytes a request; a bundle larger than BATCH_ONE_MAX goes on its own
BATCH_BUNDLES = 256
BATCH_BYTES = 4 << 20
BATCH_ONE_MAX = 256 << 10
PUSH_LIMIT = 1024  # hops looked at per link per pass


@dataclass(frozen=True)
class _Ready:
    """What a pass's first hand-over to the engine's thread gives back."""

    revoked: frozenset[str]
    drops: Any  # the drop folders' ImportReport, if they were scanned
    settling: bool  # a dropped file waits to keep its size
    due: dict[str, tuple[str, list[Any]]]  # peer → (url, hops to push now)


class Daemon:
    """One node's daemon."""

    def __init__(self, home: NodeHome, listen: tuple[str, int] | None = None) -> None:
        self.home = home
        self.listen_override = listen
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine")
        # the HTTP endpoint's checks: never queued behind the engine's work
        self.checks = ThreadPoolExecutor(max_workers=CHECK_WORKERS, thread_name_prefix="check")
        self.revoked: frozenset[str] = frozenset()
        self.engine: Engine | None = None
        self.stopping = asyncio.Event()
        self.woken = asyncio.Event()
        self.notifier = Notifier.from_env()
        self.server: uvicorn.Server | None = None
        self._queued_event = asyncio.Event()  # set (and replaced) when a pass is done
        # set (and replaced) when syncd.toml was reloaded: what sleeps for want of a feed
        # source or a parent's address wakes then
        self._reloaded = asyncio.Event()
        self._settings: object = None  # the settings the last pass saw
        self._closing = False
        self.next_drop_scan = 0.0
        self._settling = False  # a dropped file waits to keep its size (polled at `stable`)
        self.drop_event = False
        self.watcher: DropWatcher | None = None
        self._store_version: int | None = None
        self._status: dict[str, Any] | None = None  # as last written to the status file
        self._status_at = 0.0
        self._single: set[str] = set()  # peers that take no batches (an earlier release)

    async def run_in_engine(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the engine's thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, fn, *args)

    async def run_in_checks(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the HTTP endpoint's check pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.checks, fn, *args)

    async def _read_revoked(self) -> None:
        """Refresh the revoked node ids the endpoint checks against (the spool's connection
        belongs to the engine's thread)."""
        self.revoked = await self.run_in_engine(revoked_in, self.eng.spool)

    def wake(self) -> None:
        """Do a pass now (an upload arrived, something was queued)."""
        self.woken.set()

    @property
    def eng(self) -> Engine:
        assert self.engine is not None
        return self.engine

    async def start(self) -> None:
        """Open the engine and start listening (if configured)."""
        self.engine = await self.run_in_engine(Engine, self.home)
        await self._read_revoked()
        listen = self.listen_override or self.eng.settings.listen
        address = ""
        if listen is not None:
            settings = self.eng.settings
            limits = settings.limits
            sock = _bind(*listen, limits.backlog)
            host, port = sock.getsockname()[:2]
            app = http.make_app(
                self.run_in_engine,
                self.run_in_checks,
                self.eng,
                self.wake,
                lambda: self.revoked,
                self._queued,
            )
            config = uvicorn.Config(
                app,
                http=_protocol(limits.header_timeout),
                log_level="warning",
                access_log=False,
                lifespan="off",
                ssl_certfile=str(settings.tls_cert) if settings.https else None,
                ssl_keyfile=str(settings.tls_key) if settings.https else None,
                timeout_keep_alive=limits.keep_alive,
                limit_concurrency=limits.max_connections,
                h11_max_incomplete_event_size=limits.max_header_bytes,
                backlog=limits.backlog,
                timeout_graceful_shutdown=SHUTDOWN_SECONDS,
            )
            self.server = QuietServer(config)
            self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
            self._serving = asyncio.create_task(self.server.serve(sockets=[sock]))
            scheme = "https" if settings.https else "http"
            address = f"{scheme}://{format_listen(host, port)}"
            for _ in range(200):  # bounded: uvicorn starts in well under a second
                if self.server.started:
                    break
                await asyncio.sleep(0.01)
        self._write_run_file(address)
        log.info("node %s running%s", self.eng.me, f", listening on {address}" if address else "")

    def _write_run_file(self, address: str) -> None:
        folder = self.home.path / "run"
        folder.mkdir(exist_ok=True)
        data = {"pid": os.getpid(), "listen": address, "node": self.eng.me}
        tmp = folder / f".{RUN_FILE}.part"
        tmp.write_text(json.dumps(data), "utf-8")
        os.replace(tmp, folder / RUN_FILE)

    async def one_pass(self, client: httpx.AsyncClient, pull: bool = False) -> float | None:
        """Seal, send, import: one full pass; with ``pull`` (``xinbao-syncd once``) fetch
        from the parent too (a running daemon's long poll does that on its own). When work
        is next due (``Engine.next_work``).

        The engine's part runs in two hand-overs to its thread, before and after the
        network (an idle daemon's pass wakes that thread twice, not once a step)."""
        now = datetime.now(UTC)
        closed = self._drops_due()
        try:
            ready = await self.run_in_engine(self._prepare, now, closed)
        finally:
            self._note_reload()
        self.revoked = ready.revoked  # a notice may just have been applied
        if closed is not None:
            self._drops_scanned(ready.settling)
        await asyncio.gather(
            *(self._push_link(client, peer, url, hops) for peer, (url, hops) in ready.due.items())
        )
        if pull:
            await self._pull_now(client)
        return await self.run_in_engine(self._finish, datetime.now(UTC))

    def _note_reload(self) -> None:
        """After the engine looked at syncd.toml: wake what sleeps for a reload, if one came
        (a pass that failed after it reloaded counts too)."""
        if self.engine is not None and self.eng.settings is not self._settings:
            self._settings = self.eng.settings
            done, self._reloaded = self._reloaded, asyncio.Event()
            done.set()

    def _prepare(self, now: datetime, closed: dict[Path, int] | None) -> _Ready:
        """On the engine's thread: everything a pass does before the network."""
        eng = self.eng
        eng.maybe_reload()
        eng.accept_incoming(now)
        revoked = revoked_in(eng.spool)
        report, settling = None, False
        if closed is not None:
            report = eng.scan_drops(now, closed)
            settling = eng.drops_waiting()
        eng.resend(now)
        eng.sweep(now)
        eng.pack(now)
        eng.to_folders(now)
        eng.note_held(now)
        moment = now.timestamp()
        due = {
            peer: (link.url, eng.outgoing.due(peer, moment, link.ceiling.rank, PUSH_LIMIT))
            for peer, link in eng.settings.links.items()
            if link.url
        }
        return _Ready(revoked, report, settling, due)

    def _finish(self, now: datetime) -> float | None:
        """On the engine's thread: what arrived during the pass, the status file (written
        when it changed and every ``STATUS_HEARTBEAT`` seconds), when work is next due."""
        eng = self.eng
        eng.accept_incoming(now)
        moment = time.monotonic()
        try:
            status = eng.status()
            if status != self._status or moment - self._status_at >= STATUS_HEARTBEAT:
                self._write_status(status)
                self._status, self._status_at = status, moment
        except (OSError, sqlite3.Error) as exc:
            log.warning("cannot write status: %s", exc)
            self._status_at = moment  # tried again at the next heartbeat, not at once
        return eng.next_work(datetime.now(UTC).timestamp())

    async def _scan_drops(self, now: datetime) -> bool:
        """Between passes: import from the drop folders when the watcher saw something or a
        poll is due; whether a bundle file was met (imported, held, quarantined)."""
        closed = self._drops_due()
        if closed is None:
            return False
        report, settling = await self.run_in_engine(self._scan, now, closed)
        self._drops_scanned(settling)
        return report is not None and any(
            (report.applied, report.duplicate, report.quarantined, report.relayed, report.held)
        )

    def _scan(self, now: datetime, closed: dict[Path, int]) -> tuple[Any, bool]:
        return self.eng.scan_drops(now, closed), self.eng.drops_waiting()

    def _drops_due(self) -> dict[Path, int] | None:
        """The files the watcher saw closed, when the drop folders are to be scanned now
        (something happened in them, or a poll is due); None when not."""
        eng = self.eng
        closed: dict[Path, int] = {}
        if self.watcher is not None:
            self.watcher.watch(eng.settings.drop)  # follows syncd.toml reloads
            closed = self.watcher.take_closed()
        loop_now = asyncio.get_running_loop().time()
        if not closed and not self.drop_event and loop_now < self.next_drop_scan:
            return None
        if not closed and not self.drop_event and not any(map(os.path.isdir, eng.settings.drop)):
            # a poll with no folder there (removable media not mounted): nothing to hand over
            self.next_drop_scan = loop_now + eng.settings.intervals.drop_poll
            return None
        self.drop_event = False
        return closed

    def _drops_scanned(self, settling: bool) -> None:
        intervals = self.eng.settings.intervals
        self._settling = settling
        again = intervals.drop_poll
        if settling:
            again = min(intervals.stable, intervals.drop_poll)
        self.next_drop_scan = asyncio.get_running_loop().time() + again

    async def _watch_store(self) -> None:
        """Wake a pass when another process (a desk signing off) commits to the store, so a
        特急 record does not wait for the ``send`` interval. A commit closes the store's commit
        marker after writing (``schema.store.commit_marker``), which the kernel reports
        (inotify, through watchdog): only then is ``PRAGMA data_version`` — on a connection of
        its own, it changes exactly when someone else commits — read. Where the folder cannot
        be watched, it is read every ``wake_poll``."""
        conn = sqlite3.connect(self.home.store_path, timeout=1.0)
        changed = asyncio.Event()
        loop = asyncio.get_running_loop()

        def seen(name: str) -> None:  # from the watcher's thread
            if any(f.name == name for f in self.eng.settings.drop):  # one came or went
                loop.call_soon_threadsafe(self._dropped)
                return
            loop.call_soon_threadsafe((self.woken if name == CONFIG_FILE else changed).set)

        watcher = StoreWatcher(seen, also=(CONFIG_FILE,))
        watched = watcher.watch(self.home.store_path)
        try:
            while not self.stopping.is_set():
                try:
                    version = int(conn.execute("PRAGMA data_version").fetchone()[0])
                except sqlite3.Error:
                    version = None
                if version is not None and version != self._store_version:
                    if self._store_version is not None:
                        self.woken.set()
                    self._store_version = version
                changed.clear()
                wait = None if watched else self.eng.settings.intervals.wake_poll
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(self.stopping, changed), wait)
        finally:
            watcher.stop()
            conn.close()

    async def _read_feeds(self) -> None:
        """Start reading every feed source that is due, each in a task of its own, until the
        daemon stops; a feed's failure is recorded in its state and never ends this loop."""
        reader = FeedReader(self.run_in_engine, self.eng)
        async with feed_client(self.eng.settings.limits.timeout) as client:
            try:
                while not self.stopping.is_set():
                    reloaded = self._reloaded
                    wait: float | None = FEED_CHECK_SECONDS
                    try:
                        wait = await reader.start_due(client, FEED_CHECK_SECONDS)
                    except Exception:  # e.g. the store busy: try again at the next check
                        log.exception("feed check failed")
                    if not self.eng.settings.feeds:
                        wait = None  # no source: asleep until a reload brings one
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(_first(self.stopping, reloaded), wait)
            finally:
                await reader.stop()

    def _write_status(self, found: dict[str, Any]) -> None:
        status = {**found, "written_at": datetime.now(UTC).timestamp()}
        status["pid"] = os.getpid()
        target = self.home.status_path
        # written beside the run file and moved in: the home, where the store watcher looks
        # for commits, sees one event (the move), not a file's creation, writes and closing
        temp = self.home.path / "run" / f".{target.name}.{os.getpid()}"
        temp.parent.mkdir(exist_ok=True)  # ``once`` runs without start(), which makes it
        temp.write_text(json.dumps(status, ensure_ascii=False), encoding="utf-8")
        os.replace(temp, target)  # a reader never sees half a file

    def _dropped(self) -> None:
        """From the watcher's thread: something happened in a drop folder."""
        self.drop_event = True
        self.woken.set()

    async def _push_link(
        self, client: httpx.AsyncClient, peer: str, url: str, hops: list[Any]
    ) -> None:
        """Hand what waits for ``peer`` over: most urgent first, small bundles together in
        batches (``http.push_batch``), large ones on their own (resumable above
        ``limits.resume_above``). Stops at the first failure of the link."""
        eng = self.eng
        now = datetime.now(UTC).timestamp()
        small_max = min(eng.settings.limits.resume_above, BATCH_ONE_MAX)
        batch: list[Any] = []
        for hop in hops:
            small = hop.size <= small_max and peer not in self._single
            room = len(batch) < BATCH_BUNDLES and sum(h.size for h in batch) + hop.size
            if small and room and room <= BATCH_BYTES:
                batch.append(hop)
                continue
            if batch and not await self._push_batch(client, peer, url, batch, now):
                return
            batch = [hop] if small else []
            if not small and not await self._push_one(client, peer, url, hop, now):
                return
        if batch:
            await self._push_batch(client, peer, url, batch, now)

    async def _push_batch(
        self, client: httpx.AsyncClient, peer: str, url: str, batch: list[Any], now: float
    ) -> bool:
        """Send ``batch`` in one request; whether the link is still up. A peer without
        batches, a batch refused whole (too large for the peer, a file gone meanwhile) is
        sent one by one instead."""
        eng = self.eng
        if len(batch) == 1 or peer in self._single:
            return await self._one_by_one(client, peer, url, batch, now)
        try:
            outcomes = await http.push_batch(
                client, url, eng.me, eng.receiver.keys, [hop.path for hop in batch]
            )
        except http.NoBatch:
            log.info("%s takes no batches: sending one bundle a request", peer)
            self._single.add(peer)
            return await self._push_batch(client, peer, url, batch, now)
        except (http.Refused, FileNotFoundError) as exc:
            log.info("batch of %d for %s not taken whole (%s): one by one", len(batch), peer, exc)
            return await self._one_by_one(client, peer, url, batch, now)
        except (httpx.HTTPError, OSError) as exc:
            log.warning("cannot send %d bundles to %s: %s", len(batch), peer, exc)
            await self._failed(batch, str(exc), now)
            return False
        done = []
        for hop, (status, message) in zip(batch, outcomes, strict=True):
            if status == "taken":
                done.append(hop)
            elif status:
                why = f"{status} {message}"
                log.error("%s refused bundle %s for good: %s", peer, hop.bundle_id, why)
                done.append(hop)
        await self.run_in_engine(eng.outgoing.handed_many, done, datetime.now(UTC).timestamp())
        log.info("handed %d bundles to %s in one request", len(done), peer)
        return True

    async def _one_by_one(
        self, client: httpx.AsyncClient, peer: str, url: str, hops: list[Any], now: float
    ) -> bool:
        for hop in hops:
            if not await self._push_one(client, peer, url, hop, now):
                return False
        return True

    async def _push_one(
        self, client: httpx.AsyncClient, peer: str, url: str, hop: Any, now: float
    ) -> bool:
        """Send one bundle; whether the link is still up."""
        eng = self.eng
        try:
            resume_above = eng.settings.limits.resume_above
            await http.push(client, url, eng.me, eng.receiver.keys, hop.path, resume_above)
        except http.Refused as exc:
            log.error("%s refused bundle %s for good: %s", peer, hop.bundle_id, exc)
            await self.run_in_engine(eng.outgoing.handed, hop, now)
            return True
        except FileNotFoundError:
            # the child pulled it meanwhile and its file was collected: nothing to send,
            # and nothing wrong with the link
            log.info("bundle %s for %s was taken by a pull meanwhile", hop.bundle_id, peer)
            await self.run_in_engine(eng.outgoing.handed, hop, now)  # its row, if any
            return True
        except (httpx.HTTPError, OSError) as exc:
            log.warning("cannot send bundle %s to %s: %s", hop.bundle_id, peer, exc)
            await self._failed([hop], str(exc), now)
            return False  # the link is down: the rest waits for its backoff too
        await self.run_in_engine(eng.outgoing.handed, hop, datetime.now(UTC).timestamp())
        log.info("handed bundle %s to %s", hop.bundle_id, peer)
        return True

    async def _failed(self, hops: list[Any], error: str, now: float) -> None:
        intervals = self.eng.settings.intervals
        backoff = (intervals.retry_min, intervals.retry_max)
        for hop in hops:
            await self.run_in_engine(self.eng.outgoing.failed, hop, error, now, *backoff)

    async def _poll_parent(self) -> None:
        """A child whose parent has an HTTP link pulls in a long poll: the parent holds the
        request until a pass queues something for it (at most ``http.LONG_POLL_SECONDS``), so
        a record comes down at once, and the next poll follows on the same kept-alive
        connection straight away (no idle gap for the server's keep-alive close to race).
        A parent that answers an empty poll at once (a node without long polls) is asked again
        after ``fetch``; a failed poll after a backoff between ``retry_min`` and
        ``retry_max``."""
        loop = asyncio.get_running_loop()
        failures = 0
        timeout = httpx.Timeout(
            max(self.eng.settings.limits.timeout, http.LONG_POLL_SECONDS + POLL_MARGIN)
        )
        keep = httpx.Limits(keepalive_expiry=KEEPALIVE_SECONDS)
        async with httpx.AsyncClient(timeout=timeout, limits=keep) as client:
            while not self.stopping.is_set():
                eng = self.eng
                reloaded = self._reloaded
                intervals = eng.settings.intervals
                parent = eng.receiver.config.parent
                link = eng.settings.links.get(parent) if parent else None
                pause: float | None = None  # no parent's address: asleep until a reload
                if link is not None and link.url:
                    started = loop.time()
                    try:
                        fetched = await http.pull(
                            client,
                            link.url,
                            eng.me,
                            eng.receiver.keys,
                            eng.incoming,
                            wait=http.LONG_POLL_SECONDS,
                        )
                    except (httpx.HTTPError, OSError, ValueError) as exc:
                        failures += 1
                        log.warning("cannot pull from %s: %s", parent, exc)
                        pause = min(
                            intervals.retry_max, intervals.retry_min * 2 ** min(failures, 16)
                        )
                    else:
                        failures = 0
                        now = datetime.now(UTC).timestamp()
                        await self.run_in_engine(eng.outgoing.contact, parent, now)
                        if fetched:
                            log.info("pulled %d bundles from %s", len(fetched), parent)
                            self.woken.set()
                        held = loop.time() - started >= HELD_SECONDS
                        pause = 0.0 if fetched or held else intervals.fetch
                if pause is None:
                    await _first(self.stopping, reloaded)
                elif pause > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stopping.wait(), pause)

    async def _pull_now(self, client: httpx.AsyncClient) -> None:
        """One pull from the parent, not held open (``xinbao-syncd once``)."""
        eng = self.eng
        parent = eng.receiver.config.parent
        link = eng.settings.links.get(parent) if parent else None
        if link is None or not link.url:
            return
        try:
            fetched = await http.pull(client, link.url, eng.me, eng.receiver.keys, eng.incoming)
        except (httpx.HTTPError, OSError, ValueError) as exc:
            log.warning("cannot pull from %s: %s", parent, exc)
            return
        await self.run_in_engine(eng.outgoing.contact, parent, datetime.now(UTC).timestamp())
        if fetched:
            log.info("pulled %d bundles from %s", len(fetched), parent)

    def _queued(self) -> asyncio.Event | None:
        """What a child's long poll waits on: set when the next pass is done (None: the
        daemon is stopping, polls answer at once)."""
        return None if self._closing else self._queued_event

    def _pulse(self) -> None:
        """A pass is done: every long poll looks again at what waits for its child."""
        done, self._queued_event = self._queued_event, asyncio.Event()
        done.set()

    def _next_pass(self, until: float | None) -> float:
        """How long until the next full pass unless something wakes one: ``send`` (or a
        bundle's next retry, if later) while bundles wait for a link or a dropped file
        settles; an interrupted upload's ttl; else ``IDLE_SECONDS`` — a desk's commit, an
        upload, a pulled bundle, a dropped file and an edit of syncd.toml wake a pass at once.
        A drop folder that cannot be watched is polled between (:meth:`_polled_drops`)."""
        intervals = self.eng.settings.intervals
        wait = IDLE_SECONDS if until is None else min(IDLE_SECONDS, max(intervals.send, until))
        # the status heartbeat is due then, whatever woke the passes since (time.monotonic,
        # as the loop's clock)
        heartbeat = self._status_at + STATUS_HEARTBEAT - time.monotonic()
        return max(min(wait, heartbeat), 0.01)

    def _polled_drops(self) -> bool:
        """Whether a drop folder must be polled: one the watcher does not watch (not there
        yet, removable media, a file system without events), or a file still settling."""
        watched = set(self.watcher.watching) if self.watcher is not None else set()
        return self._settling or any(f not in watched for f in self.eng.settings.drop)

    async def serve_forever(self) -> None:
        """The main loop until SIGTERM/SIGINT."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stopping.set)
        await self.start()
        # a drop folder in the home coming or going is reported by the store watch
        self.watcher = DropWatcher(
            lambda: loop.call_soon_threadsafe(self._dropped), covered=(self.home.path,)
        )
        store_watch = asyncio.create_task(self._watch_store())
        poll_task = asyncio.create_task(self._poll_parent())
        feed_task = asyncio.create_task(self._read_feeds())
        self.notifier.ready(f"节点 {self.eng.me} 运行中")
        watchdog = self.notifier.watchdog_interval()
        last_ping = loop.time()
        timeout = httpx.Timeout(self.eng.settings.limits.timeout)
        async with httpx.AsyncClient(timeout=timeout) as client:
            full_at = loop.time()  # when the next full pass is due without a wake
            while not self.stopping.is_set():
                woken = self.woken.is_set()
                self.woken.clear()  # a wake during the pass brings the next one at once
                try:
                    if woken or loop.time() >= full_at:
                        until = await self.one_pass(client)
                        self._pulse()
                        full_at = loop.time() + self._next_pass(until)
                    elif await self._scan_drops(datetime.now(UTC)):
                        self.woken.set()  # a poll of an unwatched drop folder found bundles
                except Exception:  # a bug must not stop the node: log it and go on
                    log.exception("pass failed")
                    full_at = loop.time() + self.eng.settings.intervals.send
                if watchdog and loop.time() - last_ping >= watchdog / 2:
                    self.notifier.watchdog()
                    last_ping = loop.time()
                wait = full_at - loop.time()
                if self._polled_drops():
                    wait = min(wait, self.next_drop_scan - loop.time())
                if watchdog:
                    wait = min(wait, watchdog / 2)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(self.stopping, self.woken), max(wait, 0.01))
        poll_task.cancel()  # a long poll in flight is not waited for
        with contextlib.suppress(asyncio.CancelledError):
            await poll_task
        await store_watch
        await feed_task
        await self.stop()

    async def stop(self) -> None:
        """Stop serving and close the engine."""
        self.notifier.stopping()
        log.info("stopping")
        if self.watcher is not None:
            self.watcher.stop()
        self._closing = True  # long polls held open answer now
        self._queued_event.set()
        if self.server is not None:
            self.server.exit()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._serving, 10)
        if self.engine is not None:
            await self.run_in_engine(self.engine.close)
        self.executor.shutdown(wait=True)
        self.checks.shutdown(wait=True)
        (self.home.path / "run" / RUN_FILE).unlink(missing_ok=True)
        self.home.status_path.unlink(missing_ok=True)  # no status file: not running


class QuietServer(uvicorn.Server):
    """uvicorn's server without its ten-a-second tick: an idle daemon sleeps. The tick only
    refreshes the Date header (now every ``TICK_SECONDS``) and notices ``should_exit``, which
    :meth:`exit` now says at once."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit: asyncio.Event | None = None

    def exit(self) -> None:
        self.should_exit = True
        if self._exit is not None:
            self._exit.set()

    async def main_loop(self) -> None:
        self._exit = asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter = 10  # each tick refreshes the Date header (uvicorn: every tenth)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), TICK_SECONDS)


def feed_client(timeout: float) -> httpx.AsyncClient:
    """The client feeds are read with: unlike a peer's, a feed may redirect."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT},
    )


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


class HeaderDeadline(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for each request's line and headers.
    uvicorn's keep-alive timer stops at the first byte that arrives, so without this a client
    sending a header byte now and then would hold a connection (and a ``max_connections``
    slot) for ever."""

    header_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._header_deadline()

    def _header_deadline(self) -> None:
        # a new request makes a new cycle: the timer then finds another one and does nothing
        self.loop.call_later(self.header_timeout, self._headers_late, self.cycle)

    def _headers_late(self, cycle: object) -> None:
        if self.cycle is cycle and not self.transport.is_closing():
            client = self.client[0] if self.client else "?"
            log.warning("http headers too slow: client=%s (connection closed)", client)
            self.transport.close()


def _protocol(header_timeout: float) -> type[HeaderDeadline]:
    """:class:`HeaderDeadline` with the configured timeout."""
    return type("Protocol", (HeaderDeadline,), {"header_timeout": header_timeout})


def _bind(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only then; without
    # it every response body waited ~40 ms for the peer's delayed ACK (uvicorn writes the
    # headers and the body separately)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def run(home: NodeHome, listen: tuple[str, int] | None) -> None:
    """``xinbao-syncd run``."""
    asyncio.run(Daemon(home, listen).serve_forever())


def once(home: NodeHome) -> dict[str, Any]:
    """``xinbao-syncd once``: one full pass, then exit; the status after it."""

    async def main() -> dict[str, Any]:
        daemon = Daemon(home)
        daemon.engine = await daemon.run_in_engine(Engine, home)
        try:
            timeout = httpx.Timeout(daemon.eng.settings.limits.timeout)
            async with httpx.AsyncClient(timeout=timeout) as client:
                await daemon.one_pass(client, pull=True)
            async with feed_client(daemon.eng.settings.limits.timeout) as client:
                await FeedReader(daemon.run_in_engine, daemon.eng).read_all_due(client)
            return await daemon.run_in_engine(daemon.eng.status)
        finally:
            await daemon.run_in_engine(daemon.eng.close)
            daemon.executor.shutdown(wait=True)
            daemon.checks.shutdown(wait=True)

    return asyncio.run(main())
