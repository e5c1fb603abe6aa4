"""Watching the drop folders with watchdog, so a carried-in bundle is imported at once.

The watcher only wakes the daemon and notes files whose writer closed them (inotify's
close-after-write); deciding what to import stays with :meth:`syncd.engine.Engine.scan_drops`,
which also polls every ``intervals.drop_poll`` seconds — the fallback for removable media and
file systems that send no events (FAT on a USB stick, network mounts), and for a watcher that
could not start (inotify limits). A name alone is never trusted either way, and nothing here
opens, follows or even stats through what lands in a drop folder: a closed file's size is taken
with lstat, and only a regular file's counts (a FIFO or a symlink is left to ``scan_drops``,
which moves it aside unopened).
"""

from __future__ import annotations

import logging
import stat
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from schema.store import commit_marker
from syncd.spool import SUFFIX

log = logging.getLogger("xinbao.syncd")
# watchdog's dispatching thread waits this long for an event before looking again (its default,
# 1 s, wakes an idle daemon every second); events and stop() are handed over at once anyway
OBSERVER_TIMEOUT = 60.0
# in a drop folder's parent: the folder itself appearing or going (media mounted, renamed)
FOLDER_EVENTS: list[type[FileSystemEvent]] = [DirCreatedEvent, DirMovedEvent, DirDeletedEvent]
# what is watched (the inotify mask follows): a file made, moved in or closed after writing.
# Not opens, reads or a folder being listed — the daemon's own poll of a drop folder and every
# read of the store would otherwise wake it (an idle daemon, issue 19) — and not writes: each
# page SQLite writes to the WAL is one, hundreds a commit, and a daemon receiving bundles spent
# a fifth of its time reading its own. A commit is seen by the store's commit marker
# (``schema.store.commit_marker``), closed after every commit through ``Store.write``, or by
# its writer's connection closing the database and its WAL.
DROP_EVENTS: list[type[FileSystemEvent]] = [FileCreatedEvent, FileMovedEvent, FileClosedEvent]
STORE_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileMovedEvent,
    FileClosedEvent,
    *FOLDER_EVENTS,  # a drop folder in the home (drop/, usb/) is the store watch's to report
]


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: DropWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        path = Path(str(event.dest_path or event.src_path))
        if not path.name.endswith(SUFFIX) or path.name.startswith("."):
            return
        self.watcher.saw(path, isinstance(event, FileClosedEvent) or bool(event.dest_path))


class DropWatcher:
    """Watches folders in a background thread; ``wake`` is called (from that thread) on every
    bundle file event."""

    def __init__(self, wake: Callable[[], None], covered: Iterable[Path] = ()) -> None:
        self.wake = wake
        # folders watched already by someone who reports a drop folder coming or going in
        # them (the store watch, for the home): not watched a second time
        self.covered = frozenset(covered)
        self._lock = threading.Lock()
        self._closed: dict[Path, int] = {}
        self._observer: Any = None
        self.watching: tuple[Path, ...] = ()
        self._state: tuple[Any, ...] = ()

    def watch(self, folders: Iterable[Path]) -> None:
        """(Re)start watching exactly ``folders`` (those that exist), and the folders they are
        in for one of them made, moved in or out, or deleted — removable media mounted or
        taken away, a folder renamed into place — which wakes the daemon to look again
        (this is called at each look: a folder replaced by another is watched anew). Polling
        covers what cannot be watched."""
        folders = tuple(folders)
        wanted = tuple(f for f in folders if f.is_dir())
        around = {f.parent for f in folders if f.parent not in self.covered}
        parents = tuple(sorted(p for p in around if p.is_dir()))
        state = (tuple((f, _identity(f)) for f in wanted), parents)
        if state == self._state:
            return
        self.stop()
        if not wanted and not parents:
            self._state = state
            return
        observer = Observer(timeout=OBSERVER_TIMEOUT)
        try:
            for folder in wanted:
                observer.schedule(
                    _Handler(self), str(folder), recursive=False, event_filter=DROP_EVENTS
                )
            for parent in parents:
                names = frozenset(f for f in folders if f.parent == parent)
                observer.schedule(
                    _FolderHandler(names, self.wake),
                    str(parent),
                    recursive=False,
                    event_filter=FOLDER_EVENTS,
                )
            observer.start()
        except OSError as exc:  # e.g. inotify watch limit: polling still imports
            log.warning("cannot watch drop folders (%s); polling only", exc)
            if observer.is_alive():
                _stop(observer)
            return
        self._observer = observer
        self.watching, self._state = wanted, state  # a failure is tried again at the next look
        if wanted:
            log.info("watching drop folders: %s", ", ".join(map(str, wanted)))

    def saw(self, path: Path, closed: bool) -> None:
        """A bundle file changed; ``closed`` when its writer finished (or renamed it in)."""
        if closed:
            try:
                info = path.lstat()  # never through a symlink: it may lead anywhere
                size = info.st_size if stat.S_ISREG(info.st_mode) else -1
            except OSError:  # gone already, or unreadable: the poll decides
                size = -1
            if size >= 0:
                with self._lock:
                    self._closed[path] = size
        self.wake()

    def take_closed(self) -> dict[Path, int]:
        """Files whose writer closed them since the last call, with their size then."""
        with self._lock:
            closed, self._closed = self._closed, {}
        return closed

    def stop(self) -> None:
        """Stop the background thread."""
        _stop(self._observer)
        self._observer = None
        self.watching = ()
        self._state = ()


def _identity(folder: Path) -> tuple[int, int]:
    try:
        info = folder.stat()
    except OSError:
        return (0, 0)
    return (info.st_dev, info.st_ino)


class _FolderHandler(FileSystemEventHandler):
    """In a drop folder's parent: the drop folder itself made, moved or deleted."""

    def __init__(self, folders: frozenset[Path], wake: Callable[[], None]) -> None:
        self.folders = folders
        self.wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            return
        for path in (event.src_path, event.dest_path):
            if path and Path(str(path)) in self.folders:
                self.wake()
                return


class _StoreHandler(FileSystemEventHandler):
    def __init__(self, names: frozenset[str], changed: Callable[[str], None]) -> None:
        self.names = names
        self.changed = changed

    def on_any_event(self, event: FileSystemEvent) -> None:
        for path in (event.src_path, event.dest_path):
            name = Path(str(path)).name if path else ""
            if name in self.names or (name and event.is_directory):
                self.changed(name)  # a folder of the home: maybe a drop folder coming or going
                return


class StoreWatcher:
    """Watches the node store's files (its commit marker, the database, its WAL) — and
    ``also`` other files of its folder (syncd.toml) — in a background thread and calls
    ``changed`` with the file's name (from that thread) when one is closed after writing or
    moved in: a commit through ``Store.write`` (it closes the marker after each), or any
    writer's connection ending. It only says "look": the daemon then asks SQLite whether
    someone else committed."""

    def __init__(self, changed: Callable[[str], None], also: Iterable[str] = ()) -> None:
        self.changed = changed
        self.also = tuple(also)
        self._observer: Any = None

    def watch(self, store: Path) -> bool:
        """Start watching ``store``; False when the folder cannot be watched (then poll)."""
        # the marker for every commit through Store.write(); the database and its WAL as
        # well: a connection closing after writing (any other writer — a script, sqlite3 —
        # as it ends) is seen too. A connection that only read closes them as well (a
        # console reads on one of its own each second): one cheap look each, not a pass
        names = frozenset(
            {
                store.name,
                f"{store.name}-wal",
                f"{store.name}-journal",
                commit_marker(store).name,
                *self.also,
            }
        )
        observer = Observer(timeout=OBSERVER_TIMEOUT)
        try:
            observer.schedule(
                _StoreHandler(names, self.changed), str(store.parent), event_filter=STORE_EVENTS
            )
            observer.start()
        except OSError as exc:  # e.g. inotify limits
            log.warning("cannot watch the store (%s); polling it", exc)
            return False
        self._observer = observer
        return True

    def stop(self) -> None:
        _stop(self._observer)
        self._observer = None


def _stop(observer: Any) -> None:
    """Stop a watchdog observer's threads (if there is one)."""
    if observer is None:
        return
    # watchdog's inotify emitter logs a spurious ERROR when stopped while idle
    quiet = logging.getLogger("watchdog.observers.inotify")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        observer.stop()
        observer.join(timeout=5)
    finally:
        quiet.setLevel(level)
