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

from watchdog.events import FileClosedEvent, FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from syncd.spool import SUFFIX

log = logging.getLogger("xinbao.syncd")


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

    def __init__(self, wake: Callable[[], None]) -> None:
        self.wake = wake
        self._lock = threading.Lock()
        self._closed: dict[Path, int] = {}
        self._observer: Any = None
        self.watching: tuple[Path, ...] = ()

    def watch(self, folders: Iterable[Path]) -> None:
        """(Re)start watching exactly ``folders`` (those that exist); polling covers the rest."""
        wanted = tuple(f for f in folders if f.is_dir())
        if wanted == self.watching:
            return
        self.stop()
        if not wanted:
            return
        observer = Observer()
        try:
            for folder in wanted:
                observer.schedule(_Handler(self), str(folder), recursive=False)
            observer.start()
        except OSError as exc:  # e.g. inotify watch limit: polling still imports
            log.warning("cannot watch drop folders (%s); polling only", exc)
            return
        self._observer = observer
        self.watching = wanted
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
        if self._observer is not None:
            # watchdog's inotify emitter logs a spurious ERROR when stopped while idle
            quiet = logging.getLogger("watchdog.observers.inotify")
            level = quiet.level
            quiet.setLevel(logging.CRITICAL)
            try:
                self._observer.stop()
                self._observer.join(timeout=5)
            finally:
                quiet.setLevel(level)
            self._observer = None
        self.watching = ()
