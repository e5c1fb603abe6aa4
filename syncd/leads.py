"""The daemon's feed reading: which feed sources of ``syncd.toml`` are due, reading each (a
conditional GET, or the files carried into a folder), parsing, and keeping the entries as leads.

Every source runs as a task of its own, so a feed server that answers slowly holds up no other
source and no bundle. Its state lives in the store (``feed_state``): the validators for the
next conditional GET, when it last read well, the last error, the failures in a row and when
to read it next — a failing source waits its interval, doubling per failure up to
``intervals.feed_backoff_max``, and a restart does not read every source again at once.
Nothing a feed holds can stop the daemon: a bad document or entry is refused with its reason in
the log and in the source's state.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from schema import lead as leads
from schema.clock import CHINA
from schema.error import reason
from syncd.config import Feed, SyncConfig
from syncd.feed import FeedError, Parsed, fetch, parse

if TYPE_CHECKING:
    from syncd.engine import Engine

log = logging.getLogger("xinbao.syncd.feeds")
FEED_SUFFIXES = (".xml", ".rss", ".atom", ".json")  # files read from a feed folder
FOLDER_TAG = "folder:"  # a folder source's fingerprint is kept where a URL's ETag would be
RunInEngine = Callable[..., Awaitable[Any]]


def delay(feed: Feed, failures: int, backoff_max: float) -> timedelta:
    """How long after a read the source is read again: its interval; after ``failures``
    failures in a row, doubled per failure up to ``backoff_max`` (never below the interval)."""
    if failures <= 0:
        return timedelta(seconds=feed.interval)
    seconds = feed.interval * 2 ** min(failures - 1, 32)
    return timedelta(seconds=min(seconds, max(backoff_max, feed.interval)))


def read_folder(folder: Path, fingerprint: str) -> tuple[str, list[Path]] | None:
    """The feed files in ``folder`` and their fingerprint; None when the fingerprint is the
    same as last time (nothing carried in since: the folder's 304)."""
    if not folder.is_dir():
        raise FeedError(f"目录 {folder} 不存在或不可读（介质未插入？）")
    files = sorted(
        path
        for path in folder.iterdir()
        if path.suffix.lower() in FEED_SUFFIXES and path.is_file() and not path.name.startswith(".")
    )
    digest = hashlib.sha256()
    for path in files:
        info = path.stat()
        digest.update(f"{path.name}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    now = FOLDER_TAG + digest.hexdigest()
    return None if now == fingerprint else (now, files)


def parse_file(source: str, path: Path, limit: int) -> Parsed:
    """One carried feed file, refused above ``limit`` bytes before it is read."""
    try:
        if path.stat().st_size > limit:
            raise FeedError(f"文档超过 {limit} 字节，已拒绝")
        body = path.read_bytes()
    except OSError as exc:
        raise FeedError(f"无法读取（{reason(exc)}）") from exc
    content_type = "application/json" if path.suffix.lower() == ".json" else ""
    return parse(source, body, content_type)


class FeedReader:
    """Reads the due feed sources of one daemon; store work goes through ``run_in_engine``."""

    def __init__(self, run_in_engine: RunInEngine, engine: Engine) -> None:
        self.run_in_engine = run_in_engine
        self.engine = engine
        self.running: dict[str, asyncio.Task[None]] = {}

    @property
    def settings(self) -> SyncConfig:
        return self.engine.settings  # re-read: syncd.toml may have been reloaded

    async def start_due(self, client: httpx.AsyncClient, most: float = 1.0) -> float:
        """Start a task for every configured source that is due and not being read now; the
        seconds until the next source falls due (at most ``most``)."""
        if not self.settings.feeds:  # nothing to read: no need to wake the engine's thread
            return most
        now = datetime.now(CHINA)
        states = await self.run_in_engine(self.engine.feed_states)
        wait = most
        for feed in self.settings.feeds:
            if feed.name in self.running:
                continue
            state = states.get(feed.name) or leads.FeedState(feed.name)
            if not state.due(now):
                assert state.next_at is not None
                wait = min(wait, (state.next_at - now).total_seconds())
                continue
            task = asyncio.create_task(self.read(client, feed, state))
            self.running[feed.name] = task
            task.add_done_callback(lambda _, name=feed.name: self.running.pop(name, None))
        return max(wait, 0.01)

    async def read_all_due(self, client: httpx.AsyncClient) -> None:
        """Read every source that is due now and wait for all of them (``once``)."""
        await self.start_due(client)
        await asyncio.gather(*self.running.values())

    async def stop(self) -> None:
        """Cancel the reads in progress (a read is redone from scratch next time)."""
        tasks = list(self.running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def read(self, client: httpx.AsyncClient, feed: Feed, state: leads.FeedState) -> None:
        """Read one source and record how it went; never raises (but on cancellation)."""
        backoff_max = self.settings.intervals.feed_backoff_max
        try:
            await self._read(client, feed, state)
        except FeedError as exc:
            why = str(exc)
        except Exception as exc:  # a bug or a surprise in a feed must not stop the daemon
            log.exception("feed %s: unexpected failure", feed.name)
            why = f"内部错误：{exc.__class__.__name__}"
        else:
            return
        wait = delay(feed, state.failures + 1, backoff_max)
        log.warning(
            "feed %s (%s) refused: %s; next try in %.1f s",
            feed.name,
            feed.where,
            why,
            wait.total_seconds(),
        )
        later = datetime.now(CHINA) + wait
        await self.run_in_engine(leads.note_failure, self.engine.store, feed.name, why, later)

    async def _keep(self, feed: Feed, parsed: list[Parsed], problems: list[str]) -> tuple[int, str]:
        """Keep what was parsed as leads; how many entries were refused, and the problems."""
        entries = [entry for p in parsed for entry in p.entries]
        refused = [r for p in parsed for r in p.refused]
        if entries:
            added: leads.Added = await self.run_in_engine(self.engine.keep_leads, feed, entries)
            refused += added.refused
            log.info(
                "feed %s: %d entries, %d new leads, %d known, %d same story elsewhere",
                feed.name,
                len(entries),
                len(added.kept),
                added.known,
                added.near,
            )
        for name, why in refused:
            log.warning("feed %s: entry %s refused: %s", feed.name, name, why)
        if refused:
            problems = [*problems, f"{len(refused)} 条被拒绝（{refused[0][1]}）"]
        return len(refused), "；".join(problems)

    async def _read(self, client: httpx.AsyncClient, feed: Feed, state: leads.FeedState) -> None:
        limit = self.settings.limits.max_feed_bytes
        parsed: list[Parsed] = []
        problems: list[str] = []
        etag, modified = state.etag, state.last_modified
        if feed.url is not None:
            got = await fetch(client, feed.url, state.etag, state.last_modified, limit)
            etag, modified = got.etag, got.last_modified
            if got.body is not None:
                parsed.append(await asyncio.to_thread(parse, feed.name, got.body, got.content_type))
        else:
            assert feed.folder is not None
            found = await asyncio.to_thread(read_folder, feed.folder, state.etag)
            if found is not None:
                etag, files = found
                for path in files:
                    try:
                        parsed.append(await asyncio.to_thread(parse_file, feed.name, path, limit))
                    except FeedError as exc:  # one bad file: the others are still read
                        log.warning("feed %s: file %s refused: %s", feed.name, path.name, exc)
                        problems.append(f"{path.name}：{exc}")
                if files and not parsed:  # nothing readable was carried in
                    raise FeedError("；".join(problems))
        if parsed or problems:
            count, problem = await self._keep(feed, parsed, problems)
        else:  # not modified: what the last good read found stands
            log.debug("feed %s: not modified", feed.name)
            count, problem = (0, "") if state.failures else (state.refused, state.last_error)
        now = datetime.now(CHINA)
        later = now + delay(feed, 0, 0)
        await self.run_in_engine(
            leads.note_read,
            self.engine.store,
            feed.name,
            now,
            later,
            etag,
            modified,
            count,
            problem,
        )
