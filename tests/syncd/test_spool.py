"""The spool's seen-set and quarantine."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syncd import spool as spool_module
from syncd.spool import NotRegularFile, Spool, content_name, escaped, open_regular, safe_name

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def test_the_seen_set_survives_reopening_and_is_pruned_after_expiry(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    t = int(NOW.timestamp())
    spool.remember("a" * 32, "140212", expires=t - 3600, now=NOW)
    spool.remember("b" * 32, "140212", expires=t + 3600, now=NOW)
    spool.close()
    spool = Spool(tmp_path)
    assert spool.seen("a" * 32) and spool.seen("b" * 32)
    assert spool.prune(NOW, keep_seconds=300) == 1
    assert not spool.seen("a" * 32) and spool.seen("b" * 32)
    spool.close()


def test_quarantine_keeps_the_bytes_under_their_hash_with_a_reason(tmp_path: Path) -> None:
    source = tmp_path / "carried.xbb"
    source.write_bytes(b"XINBAOB\x00 not really")
    spool = Spool(tmp_path / "home")
    kept = spool.quarantine(source, "bad-magic", "不是信报数据包", NOW)
    assert kept.name == content_name(source.read_bytes())
    assert kept.read_bytes() == source.read_bytes()
    note = json.loads(kept.with_suffix(".json").read_text("utf-8"))
    assert note["reason"] == "bad-magic" and note["source"] == str(source)
    assert spool.quarantined() == [note]
    assert not list(kept.parent.glob(".*"))  # no temporary file left behind
    spool.close()


# -- hostile files and names (open_regular, safe_name, quarantine notes) ------------------------


def test_open_regular_opens_a_regular_file_blocking_as_usual(tmp_path: Path) -> None:
    path = tmp_path / "a.xbb"
    path.write_bytes(b"XINBAO")
    with open_regular(path) as fh:
        assert fh.read() == b"XINBAO"
        assert not fcntl.fcntl(fh.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK
        assert not os.get_inheritable(fh.fileno())  # O_CLOEXEC


@pytest.mark.parametrize("kind", ["fifo", "symlink", "directory", "device", "socket"])
def test_open_regular_refuses_what_is_not_a_regular_file_without_blocking(
    tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "x.xbb"
    target = tmp_path / "target.xbb"
    target.write_bytes(b"XINBAO")
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink":
        os.symlink(target, path)  # even to a regular file: a link may lead anywhere
    elif kind == "directory":
        path.mkdir()
    elif kind == "device":
        path = Path("/dev/zero")
    else:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()
    done: list[BaseException] = []
    worker = threading.Thread(target=lambda: done.append(_refusal(path)), daemon=True)
    worker.start()
    worker.join(10)  # bounded: a blocking open fails the test, never hangs it
    if worker.is_alive():  # let a reader blocked in open() go
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        raise AssertionError("open_regular blocked")
    [refused] = done
    assert isinstance(refused, NotRegularFile) and isinstance(refused, OSError)
    assert refused.kind == kind
    assert refused.errno == {"symlink": errno.ELOOP, "directory": errno.EISDIR}.get(
        kind, errno.EINVAL
    )


def _refusal(path: Path) -> BaseException:
    try:
        open_regular(path).close()
    except BaseException as exc:
        return exc
    raise AssertionError(f"{path} was opened")


def test_open_regular_refuses_a_fifo_swapped_in_after_the_lstat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fstat of the descriptor decides: O_NONBLOCK makes the open of the FIFO return."""
    path = tmp_path / "x.xbb"
    os.mkfifo(path)
    regular = os.stat_result((stat.S_IFREG | 0o644, 0, 0, 1, 0, 0, 6, 0, 0, 0))
    with monkeypatch.context() as patch, pytest.raises(NotRegularFile) as refused:
        patch.setattr(spool_module.os, "lstat", lambda p: regular)  # as if swapped since
        open_regular(path)
    assert refused.value.kind == "fifo"


def test_open_regular_passes_on_the_systems_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_regular(tmp_path / "gone.xbb")


def test_safe_names_are_short_printable_and_never_the_hostile_name_with_a_suffix() -> None:
    assert safe_name("140200-abc.xbb") == "140200-abc.xbb"
    assert safe_name("大同市报送.xbb") == "大同市报送.xbb"
    hostile = [
        "n" * 251 + ".xbb",
        os.fsdecode(b"bad\xff\xfe.xbb"),
        "line\nbreak.xbb",
        "\x1b[31mred.xbb",
        "rlo\u202egpj.xbb",
        ".hidden.xbb",
        "no-suffix",
    ]
    names = [safe_name(name) for name in hostile]
    for name, safe in zip(hostile, names, strict=True):
        raw = safe.encode("utf-8")  # valid UTF-8: no surrogate escapes
        assert len(raw) <= 64 + 17 + 4 and safe.isprintable() and safe.endswith(".xbb")
        assert not safe.startswith(".") and safe != name
    assert len(set(names)) == len(names)
    assert safe_name("n" * 251 + ".xbb") != safe_name("n" * 250 + "m.xbb")  # the hash decides
    assert escaped(os.fsdecode(b"bad\xff\n.xbb")) == "bad\\xff\\x0a.xbb"


def test_quarantine_of_a_file_with_a_255_byte_name(tmp_path: Path) -> None:
    """The temporary copy was named ``.{name}.part``: ENAMETOOLONG on every pass."""
    source = tmp_path / ("n" * 251 + ".xbb")
    source.write_bytes(b"XINBAO not really")
    spool = Spool(tmp_path / "home")
    kept = spool.quarantine(source, "bad-magic", "不是信报数据包", NOW)
    assert kept.name == content_name(source.read_bytes())
    [note] = spool.quarantined()
    assert note["source"] == str(source)
    assert not list(kept.parent.glob(".*"))
    spool.close()


def test_quarantine_of_what_cannot_be_copied_writes_the_note_alone(tmp_path: Path) -> None:
    fifo = tmp_path / os.fsdecode(b"x\xff.xbb")
    os.mkfifo(fifo)
    spool = Spool(tmp_path / "home")
    note_path = spool.quarantine(fifo, "bad-magic", "不是信报数据包", NOW)  # never blocks
    assert note_path.suffix == ".json"
    [note] = spool.quarantined()
    assert note["source"].endswith("x\\xff.xbb") and note["copy"].startswith("not copied")
    gone = spool.quarantine(tmp_path / "gone.xbb", "truncated", "不完整", NOW)
    assert json.loads(gone.read_text("utf-8"))["copy"] == "not copied: No such file or directory"
    spool.close()


def test_a_staged_snapshot_keeps_the_bytes_and_names_the_original_in_a_note(
    tmp_path: Path,
) -> None:
    source = tmp_path / os.fsdecode(b"dropped\xff.xbb")
    source.write_bytes(b"XINBAO" + bytes(100))
    spool = Spool(tmp_path / "home")
    with spool.staging() as stage:
        copy = spool.stage(source, stage, limit=1000)
        assert copy.name == content_name(source.read_bytes())
        source.write_bytes(b"changed")  # the snapshot is what gets verified
        assert copy.read_bytes() == b"XINBAO" + bytes(100)
        assert spool.stage(tmp_path / os.fsdecode(b"dropped\xff.xbb"), stage, 3).stat().st_size == 4
        spool.quarantine(copy, "bad-magic", "不是信报数据包", NOW)
    assert not stage.exists()
    [note] = spool.quarantined()
    assert note["source"] == escaped(str(source))
    spool.close()
