"""The spool: durable bundle files named by content hash, the seen-set, and quarantine.

Layout under ``home/spool``: ``quarantine/HASH.xbb`` with ``HASH.json`` (the machine-readable
reason; what could not be copied, such as a FIFO in a drop folder, has a note ``NOTE.json``
alone, and an entry of ``spool/in`` that is not a regular file is moved into
``quarantine/entries``), ``stage/`` (private snapshots of dropped files for the length of one
pass) and ``state.db`` holding the seen-set of bundle ids (pruned after expiry). Every file
kept is written temp → fsync → rename → fsync dir, so a crash never leaves a half-written file
under its final name.

Files carried in from outside are hostile until proved otherwise, names included: they are
opened with :func:`open_regular` only (never a FIFO, device, socket, directory or symlink), and
every name the spool writes is a content hash, a random token, or :func:`safe_name` of the
original — never the original name with something stuck on it, which can exceed ``NAME_MAX``
(a 255-byte name plus ``.part``) or carry control characters and undecodable bytes into logs
and JSON. The original name is recorded in the note, escaped (:func:`escaped`).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from syncd.keys import fsync_dir, write_durably

SUFFIX = ".xbb"
NOTE_SUFFIX = ".json"
SAFE_NAME_BYTES = 200  # a longer name is shortened: room under NAME_MAX (255) for a suffix
BLOCK = 1 << 20
MAX_NOTE_BYTES = 1 << 16  # a quarantine note is a few hundred bytes; anything larger is not ours
_OPEN_FLAGS = (
    os.O_RDONLY
    | os.O_NONBLOCK  # a FIFO or a device swapped in after the lstat must not block the open
    | os.O_NOFOLLOW  # nor may a symlink lead to /dev/zero or to a file outside the folder
    | os.O_CLOEXEC
    | getattr(os, "O_NOCTTY", 0)  # a terminal device must never become ours
)
_KINDS = (
    (stat.S_ISLNK, "symlink", "符号链接"),
    (stat.S_ISFIFO, "fifo", "命名管道"),
    (stat.S_ISSOCK, "socket", "套接字"),
    (stat.S_ISCHR, "device", "设备文件"),
    (stat.S_ISBLK, "device", "设备文件"),
    (stat.S_ISDIR, "directory", "目录"),
)


BATCH_SUFFIX = ".xbbs"  # several bundles in one file: u32 length · bundle, repeated
FRAME = 4
MAX_BATCH_FRAMES = 1024


def batch_frames(
    fh: BinaryIO, size: int, max_bundle: int, max_frames: int = MAX_BATCH_FRAMES
) -> list[tuple[int, int]]:
    """The (offset, length) of each bundle in a batch file of ``size`` bytes: frames of ``u32
    length · bundle``, one after another to the end. Raises ``ValueError`` naming what is
    wrong: a frame cut short, an empty or oversized one, more than ``max_frames``."""
    frames: list[tuple[int, int]] = []
    at = 0
    while at < size:
        if len(frames) >= max_frames:
            raise ValueError(f"more than {max_frames} bundles in one batch")
        fh.seek(at)
        word = fh.read(FRAME)
        if len(word) != FRAME:
            raise ValueError("a frame's length is cut short")
        length = int.from_bytes(word, "big")
        if length == 0 or length > max_bundle:
            raise ValueError(f"a frame of {length} bytes")
        if at + FRAME + length > size:
            raise ValueError("a frame is cut short")
        frames.append((at + FRAME, length))
        at += FRAME + length
    if not frames:
        raise ValueError("an empty batch")
    return frames


def copy_range(src: BinaryIO, dst: BinaryIO, offset: int, length: int) -> None:
    """``length`` bytes of ``src`` from ``offset`` into ``dst``, in pieces (memory stays flat)."""
    src.seek(offset)
    while length > 0:
        block = src.read(min(BLOCK, length))
        if not block:
            raise OSError("the source ended early")
        dst.write(block)
        length -= len(block)


class Checked:
    """Files this process has checked as a relay checks a bundle (``verify_outer``) as it
    kept them — an upload in ``spool/in``, the parts of a batch — by (device, inode, size,
    mtime): the engine relays them without checking them again. Only an identity noted
    here by this process counts, and each is used once; thread-safe (the HTTP checks run on
    a pool of their own)."""

    LIMIT = 100_000  # forgotten all at once past this: they are then only checked again

    def __init__(self) -> None:
        self._known: set[tuple[int, int, int, int]] = set()
        self._lock = threading.Lock()

    @staticmethod
    def _key(info: os.stat_result) -> tuple[int, int, int, int]:
        return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)

    def add(self, info: os.stat_result) -> None:
        with self._lock:
            if len(self._known) >= self.LIMIT:
                self._known.clear()
            self._known.add(self._key(info))

    def has(self, info: os.stat_result) -> bool:
        with self._lock:
            return self._key(info) in self._known

    def take(self, info: os.stat_result) -> bool:
        """Whether the file was checked here (and forget it)."""
        with self._lock:
            key = self._key(info)
            found = key in self._known
            self._known.discard(key)
            return found


CHECKED = Checked()


def content_name(data: bytes) -> str:
    """The file name of a bundle: the SHA-256 of its bytes."""
    return hashlib.sha256(data).hexdigest() + SUFFIX


def file_kind(mode: int) -> tuple[str, str]:
    """What a file mode is: a stable code (``regular``, ``symlink``, ``fifo``, ``socket``,
    ``device``, ``directory``, ``other``) and its Chinese name for the desk."""
    if stat.S_ISREG(mode):
        return "regular", "普通文件"
    for test, code, label in _KINDS:
        if test(mode):
            return code, label
    return "other", "特殊文件"


class NotRegularFile(OSError):
    """:func:`open_regular` refused a path that is not a regular file; ``kind`` says what it
    is (see :func:`file_kind`). An OSError, so code that confines a failure to one file by
    catching OSError needs nothing more; ``errno`` is ELOOP for a symlink, EISDIR for a
    directory and EINVAL otherwise."""

    def __init__(self, path: Path, mode: int) -> None:
        kind, label = file_kind(mode)
        code = {"symlink": errno.ELOOP, "directory": errno.EISDIR}.get(kind, errno.EINVAL)
        super().__init__(code, f"not a regular file ({kind})", str(path))
        self.kind = kind
        self.label = label


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file, without ever blocking.

    The final path component is lstat'ed first, so a device, FIFO, socket, directory or
    symlink is refused without being opened at all; then it is opened with
    ``O_RDONLY|O_NONBLOCK|O_NOFOLLOW|O_CLOEXEC|O_NOCTTY`` and the descriptor is fstat'ed, which
    is what decides (a FIFO swapped in after the lstat opens at once under ``O_NONBLOCK`` and is
    refused here; a symlink swapped in fails the open with ELOOP). ``O_NONBLOCK`` is then
    cleared and a buffered binary file object returned (the caller closes it).

    Raises :class:`NotRegularFile` (an OSError) for anything that is not a regular file, and
    the OSError of the system for the rest (FileNotFoundError for a file that vanished,
    PermissionError, EIO…). Directories above the final component are followed as usual: they
    are the node's own configuration.
    """
    before = os.lstat(path)
    if not stat.S_ISREG(before.st_mode):
        raise NotRegularFile(path, before.st_mode)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):  # EMLINK: what BSDs say for O_NOFOLLOW
            raise NotRegularFile(path, stat.S_IFLNK) from exc
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(path, info.st_mode)
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        return open(fd, "rb", closefd=True)
    except BaseException:
        os.close(fd)
        raise


def plain_name(name: str) -> bool:
    """Whether a file name may be written as it is: valid UTF-8, at most
    ``SAFE_NAME_BYTES`` bytes, printable (no control, format or separator characters other than
    the ASCII space), not hidden, ending in ``.xbb``."""
    try:
        raw = name.encode("utf-8")  # an undecodable byte (a surrogate escape) fails here
    except UnicodeEncodeError:
        return False
    return (
        len(raw) <= SAFE_NAME_BYTES
        and name.endswith(SUFFIX)
        and not name.startswith(".")
        and "/" not in name
        and name.isprintable()
    )


def safe_name(name: str) -> str:
    """``name`` itself when :func:`plain_name`, else a short printable part of it followed by
    a hash of all its bytes: ``part-0123456789abcdef.xbb`` (at most 64 + 17 + 4 bytes)."""
    if plain_name(name):
        return name
    digest = hashlib.sha256(_raw(name)).hexdigest()[:16]
    stem = name.removesuffix(SUFFIX)
    kept = "".join(c for c in stem if c.isprintable() and c not in "/\\")
    kept = kept.lstrip(".").encode("utf-8")[:64].decode("utf-8", "ignore").strip()
    return f"{kept}-{digest}{SUFFIX}" if kept else f"{digest}{SUFFIX}"


def escaped(text: str) -> str:
    """``text`` (a file name or path, maybe with undecodable bytes) fit for one log line or a
    JSON note: undecodable bytes as ``\\xNN``, non-printable characters as ``\\xNN`` or
    ``\\uNNNN``."""
    shown = _raw(text).decode("utf-8", "backslashreplace")
    if shown.isprintable():
        return shown
    return "".join(
        c if c.isprintable() else (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
        for c in shown
    )


def _raw(text: str) -> bytes:
    try:
        return os.fsencode(text)
    except UnicodeEncodeError:  # a lone surrogate that did not come from the file system
        return text.encode("utf-8", "backslashreplace")


class Spool:
    """A node's spool folder and its seen-set."""

    def __init__(self, home: Path) -> None:
        self.root = home / "spool"
        self.root.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.root / "state.db", timeout=10, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")
        # losing the last ids on power loss only means opening those bundles again
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, sender TEXT NOT NULL, "
            "expires INTEGER NOT NULL, at INTEGER NOT NULL)"
        )
        # staged snapshot → the file it was taken from, so a quarantine note names the original
        self._origins: dict[Path, Path] = {}

    def seen(self, bundle_id: str) -> bool:
        """Whether a bundle with this id was applied here before."""
        row = self.db.execute("SELECT 1 FROM seen WHERE id = ?", (bundle_id,)).fetchone()
        return row is not None

    def remember(self, bundle_id: str, sender: str, expires: int, now: datetime) -> None:
        """Add a bundle id to the seen-set."""
        self.db.execute(
            "INSERT OR IGNORE INTO seen(id, sender, expires, at) VALUES (?, ?, ?, ?)",
            (bundle_id, sender, expires, int(now.timestamp())),
        )

    def remember_many(self, headers: Iterable[Any], now: datetime) -> None:
        """Add bundle ids (headers with ``id``, ``sender``, ``expires``) in one transaction."""
        at = int(now.timestamp())
        with self.db:
            self.db.executemany(
                "INSERT OR IGNORE INTO seen(id, sender, expires, at) VALUES (?, ?, ?, ?)",
                [(h.id, h.sender, h.expires, at) for h in headers],
            )

    def prune(self, now: datetime, keep_seconds: int) -> int:
        """Forget ids of bundles expired longer than ``keep_seconds`` (they are refused anyway)."""
        cursor = self.db.execute(
            "DELETE FROM seen WHERE expires < ?", (int(now.timestamp()) - keep_seconds,)
        )
        return cursor.rowcount

    # -- quarantine -----------------------------------------------------------------------------

    @property
    def quarantine_folder(self) -> Path:
        """``spool/quarantine`` (created)."""
        folder = self.root / "quarantine"
        folder.mkdir(exist_ok=True)
        return folder

    def quarantine(
        self,
        source: Path,
        reason: str,
        message: str,
        now: datetime,
        keep_bytes: int | None = None,
    ) -> Path:
        """Keep a copy of a refused bundle file, named by its hash, with a machine-readable
        reason beside it; the copy's path. At most ``keep_bytes`` bytes are kept when given
        (a file refused as too large need not fill the spool).

        The source is opened with :func:`open_regular`. When it cannot be read (it vanished,
        it is not a regular file, a read fails) only the note is written, saying why, and its
        path is returned: a refusal is recorded whatever the file turned out to be. Failures
        on the spool's side (disk full) raise.
        """
        folder = self.quarantine_folder
        origin = self._origins.get(source, source)
        note: dict[str, Any] = {
            "reason": reason,
            "message": message,
            "source": escaped(str(origin)),
            "at": now.isoformat(),
        }
        try:
            src = open_regular(source)
        except OSError as exc:
            return self.note(note, copy=_why(exc))
        tmp = folder / f".quarantine-{secrets.token_hex(8)}.part"
        try:
            with src:
                digest, size, failed = _copy(src, tmp, keep_bytes)
            if failed is not None:
                return self.note(note, copy=_why(failed))
            if keep_bytes is not None and size >= keep_bytes:
                note["copy"] = f"only the first {size} bytes kept"
            path = folder / (digest + SUFFIX)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        _write_note(path.with_suffix(NOTE_SUFFIX), note)
        return path

    def note(self, note: dict[str, Any], **extra: str) -> Path:
        """Write a quarantine note with no copy beside it (``NOTE.json``, named by the hash of
        its own text); its path."""
        note = {**note, **extra}
        data = _note_bytes(note)
        path = self.quarantine_folder / (hashlib.sha256(data).hexdigest()[:32] + NOTE_SUFFIX)
        write_durably(path, data)
        return path

    def quarantined(self) -> list[dict[str, Any]]:
        """The reasons of every quarantined bundle or entry (notes that cannot be read are
        left out)."""
        folder = self.root / "quarantine"
        try:
            names = sorted(e.name for e in os.scandir(folder) if e.name.endswith(NOTE_SUFFIX))
        except OSError:
            return []
        notes = []
        for name in names:
            try:
                with open_regular(folder / name) as fh:
                    note = json.loads(fh.read(MAX_NOTE_BYTES + 1))
            except (OSError, ValueError):
                continue
            if isinstance(note, dict):
                notes.append(note)
        return notes

    # -- staging -----------------------------------------------------------------------------

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A private folder for :meth:`stage`, removed with its files on leaving (a crash
        leaves it to :meth:`clear_stages`)."""
        parent = self.root / "stage"
        parent.mkdir(exist_ok=True)
        folder = Path(tempfile.mkdtemp(dir=parent))
        try:
            yield folder
        finally:
            for path in [p for p in self._origins if p.parent == folder]:
                del self._origins[path]
            shutil.rmtree(folder, ignore_errors=True)

    def stage(self, source: Path, into: Path, limit: int) -> Path:
        """A private snapshot of the regular file ``source`` in ``into`` (from
        :meth:`staging`), named ``HASH.xbb`` by its content; files with the same bytes share
        one snapshot. At most ``limit + 1`` bytes are copied: enough for the receiver to refuse
        a file that grew past the limit, never enough to fill the disk.

        What is then verified and applied is exactly these bytes, whatever happens to the
        source meanwhile (truncated, replaced, deleted). Raises the OSError of
        :func:`open_regular` or of a read for the source, and any OSError of the spool.
        """
        tmp = into / f".stage-{secrets.token_hex(8)}.part"
        try:
            with open_regular(source) as src:
                digest, _, failed = _copy(src, tmp, limit + 1, durable=False)
            if failed is not None:
                raise failed
            path = into / (digest + SUFFIX)
            if not path.exists():
                os.replace(tmp, path)
                self._origins[path] = source
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def clear_stages(self, before: float) -> int:
        """Remove staging folders last changed before ``before`` (a crash left them); how
        many."""
        gone = 0
        try:
            entries = list(os.scandir(self.root / "stage"))
        except OSError:
            return 0
        for entry in entries:
            with suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode) and info.st_mtime < before:
                    shutil.rmtree(entry.path)
                    gone += 1
        return gone

    def close(self) -> None:
        """Close the seen-set database."""
        self.db.close()


def _copy(
    src: BinaryIO, target: Path, limit: int | None, durable: bool = True
) -> tuple[str, int, OSError | None]:
    """Copy from ``src`` into a new file ``target``, at most ``limit`` bytes: the SHA-256 of
    what was copied, its size, and the OSError of a read that failed (the source's fault, kept
    apart from the spool's own errors, which raise)."""
    digest = hashlib.sha256()
    size = 0
    with open(target, "xb") as dst:
        while limit is None or size < limit:
            want = BLOCK if limit is None else min(BLOCK, limit - size)
            try:
                block = src.read(want)
            except OSError as exc:
                return "", size, exc
            if not block:
                break
            digest.update(block)
            dst.write(block)
            size += len(block)
        if durable:
            dst.flush()
            os.fsync(dst.fileno())
    if durable:
        fsync_dir(target.parent)
    return digest.hexdigest(), size, None


def _why(exc: OSError) -> str:
    """An OSError in words, without the file name (the note names the file, escaped)."""
    if isinstance(exc, NotRegularFile):
        return f"not copied: not a regular file ({exc.kind})"
    return f"not copied: {exc.strerror or type(exc).__name__}"


def _note_bytes(note: dict[str, Any]) -> bytes:
    # backslashreplace: a lone surrogate slipped into a message must not stop the refusal
    return json.dumps(note, ensure_ascii=False).encode("utf-8", "backslashreplace")


def _write_note(path: Path, note: dict[str, Any]) -> None:
    write_durably(path, _note_bytes(note))
