"""What lands in a drop folder cannot stop the node (syncd/engine.py scan_drops,
syncd/spool.py open_regular and safe names, syncd/watch.py).

From an outside attack report: a 255-byte file name made every pass fail on ENAMETOOLONG, a
FIFO named ``x.xbb`` blocked the worker thread in open() for good (HTTP uploads hung behind
it, SIGTERM no longer stopped the daemon), and a file that vanished mid-pass failed the pass.
Each case here asserts that the hostile entry is quarantined or ignored with a reason, that
nothing is applied from it, that the pass does not raise, and that a good bundle dropped
afterwards is imported. The engine runs on a worker thread of its own, as in the daemon, and
every call to it is bounded: a pass that blocks fails the test instead of hanging it.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import stat
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from schema.node import NodeHome
from schema.store import Store
from syncd import enrolment
from syncd import spool as spool_module
from syncd.bundle import new_header, seal
from syncd.engine import Engine
from syncd.keys import load_keys
from syncd.receive import ImportReport
from syncd.spool import SAFE_NAME_BYTES, SUFFIX
from syncd.watch import DropWatcher
from tests.bench.bench_bundle import NOW, network, small_records
from tests.cli_helpers import run
from tests.syncd.daemons import CHAIN, ROUTINE, Daemon, enrol_tree, inbox, ok, submit, until

T = TypeVar("T")
CALL_SECONDS = 20.0  # the longest one engine call may take before the test calls it blocked
LONG_NAME = "n" * (255 - len(SUFFIX)) + SUFFIX  # NAME_MAX bytes: nothing can be appended


class Worker:
    """An engine on a thread of its own (as the daemon runs it), every call bounded."""

    def __init__(self, home: NodeHome, unblock: list[Path]) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine")
        self.unblock = unblock
        self.engine: Engine = self.call(Engine, home)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        future = self.pool.submit(fn, *args)
        try:
            return future.result(timeout=CALL_SECONDS)
        except TimeoutError:
            _release_fifos(self.unblock)  # so the stuck thread returns and pytest can exit
            future.result(timeout=5)
            raise AssertionError(f"{fn.__name__} blocked for {CALL_SECONDS:.0f} s") from None

    def scan(self, seconds: float = 0.0) -> ImportReport | None:
        """One drop-folder pass, ``seconds`` after the tests' clock."""
        return self.call(self.engine.scan_drops, NOW + timedelta(seconds=seconds), None)

    def close(self) -> None:
        try:
            self.call(self.engine.close)
        finally:
            self.pool.shutdown(wait=True)


def _release_fifos(folders: list[Path]) -> None:
    """Open every FIFO in ``folders`` for writing (without blocking) and close it again: a
    reader blocked in open() returns."""
    for folder in folders:
        for path in folder.rglob("*"):
            try:
                if stat.S_ISFIFO(path.lstat().st_mode):
                    os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                continue


@dataclass
class Setup:
    home: NodeHome
    drop: Path
    outside: Path  # a folder outside the drop folder
    bundles: list[bytes]  # from the city for the province, each with one item
    worker: Worker

    def put(self, name: str | bytes, data: bytes) -> Path:
        """A regular file in the drop folder, last written 10 s before the tests' clock (so
        the first pass finds it stable). ``name`` as bytes for names that are no UTF-8."""
        raw = os.fsencode(self.drop) + b"/" + (name if isinstance(name, bytes) else name.encode())
        fd = os.open(raw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        _age(raw)
        return Path(os.fsdecode(raw))

    def good_one_is_imported(self, index: int, seconds: float = 100.0) -> None:
        """A good bundle dropped afterwards is imported by the next pass."""
        name = f"after-{index}.xbb"
        self.put(name, self.bundles[index])
        report = self.worker.scan(seconds)
        assert report is not None and report.applied == [name], report
        assert (self.drop / "done" / name).exists()

    def notes(self) -> list[dict[str, Any]]:
        return self.worker.call(self.worker.engine.spool.quarantined)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    """The province's home with a drop folder; eight bundles from the city for it."""
    province, city = network(tmp_path)
    keys, chain = load_keys(city.path, None), enrolment.load_chain(city) or []
    public = enrolment.encryption_keys(city)
    bundles = []
    for i in range(8):
        path = tmp_path / f"b{i}.xbb"
        records = small_records(i, keys)
        with open(path, "wb") as out:
            seal(new_header("140200", ["140000"], NOW), records, keys, chain, public, out)
        bundles.append(path.read_bytes())
        path.unlink()
    (province.path / "syncd.toml").write_text(
        "[intervals]\nstable = 1.0\nabandon = 60.0\n", "utf-8"
    )
    drop, outside = province.path / "drop", tmp_path / "outside"
    drop.mkdir()
    outside.mkdir()
    worker = Worker(province, [drop, province.path / "spool" / "in"])
    try:
        yield Setup(province, drop, outside, bundles, worker)
    finally:
        worker.close()


def _age(path: Path | bytes, seconds: float = 10.0) -> None:
    then = NOW.timestamp() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def _items(home: NodeHome) -> int:
    store = Store.open(home.store_path)
    try:
        return int(store.query("SELECT count(*) AS n FROM item")[0]["n"])
    finally:
        store.close()


def _names(folder: Path) -> list[bytes]:
    return sorted(os.listdir(os.fsencode(folder))) if folder.is_dir() else []


def _safe(raw: bytes) -> bool:
    """A name the spool may write: UTF-8, printable, short, not hidden, a bundle's suffix."""
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return (
        len(raw) <= SAFE_NAME_BYTES + 17 + len(SUFFIX)
        and name.isprintable()
        and not name.startswith(".")
        and name.endswith(SUFFIX)
    )


def _no_leftovers(home: NodeHome) -> None:
    """No temporary file in the spool's quarantine, no staging folder left behind."""
    quarantine = home.path / "spool" / "quarantine"
    assert not [n for n in _names(quarantine) if n.startswith(b".")]
    assert _names(home.path / "spool" / "stage") == []


# -- entries that are not regular files ---------------------------------------------------------


def test_a_fifo_named_like_a_bundle_is_moved_aside_unopened(setup: Setup) -> None:
    fifo = setup.drop / "x.xbb"
    os.mkfifo(fifo)
    _age(fifo)  # old enough to count as stable: the old scan opened it on the first pass
    setup.put("good.xbb", setup.bundles[0])
    report = setup.worker.scan()  # before the fix: blocked here, in open(), for good
    assert report is not None and report.applied == ["good.xbb"]
    assert report.quarantined == [("x.xbb", "not-a-file")]
    assert not fifo.exists() and stat.S_ISFIFO(
        (setup.drop / "quarantine" / "x.xbb").lstat().st_mode
    )
    [note] = setup.notes()
    assert note["reason"] == "not-a-file" and note["kind"] == "fifo"
    assert note["source"] == str(fifo) and "命名管道" in note["message"]
    assert setup.worker.scan(2) is None  # moved aside once; nothing left to do
    assert _items(setup.home) == 1
    setup.good_one_is_imported(1)
    _no_leftovers(setup.home)


def test_symlinks_are_never_followed_to_a_device_or_out_of_the_folder(setup: Setup) -> None:
    """A link to /dev/zero would never end; a link to a file outside would import what the
    drop folder's writer could not have placed there (here: a valid bundle)."""
    secret = setup.outside / "secret.xbb"
    secret.write_bytes(setup.bundles[0])
    os.symlink("/dev/zero", setup.drop / "zero.xbb")
    os.symlink(secret, setup.drop / "outside.xbb")
    for name in ("zero.xbb", "outside.xbb"):
        _age(setup.drop / name)
    report = setup.worker.scan()
    assert report is not None and not report.applied
    assert sorted(report.quarantined) == [("outside.xbb", "not-a-file"), ("zero.xbb", "not-a-file")]
    for name in ("zero.xbb", "outside.xbb"):
        assert (setup.drop / "quarantine" / name).is_symlink()
    assert {n["kind"] for n in setup.notes()} == {"symlink"}
    assert _items(setup.home) == 0  # nothing applied from the file outside
    assert secret.read_bytes() == setup.bundles[0]  # and it was neither moved nor changed
    setup.good_one_is_imported(1)


def test_a_directory_named_like_a_bundle_is_moved_aside(setup: Setup) -> None:
    folder = setup.drop / "a.xbb"
    folder.mkdir()
    (folder / "inside.xbb").write_bytes(setup.bundles[0])
    _age(folder)
    report = setup.worker.scan()
    assert report is not None and report.quarantined == [("a.xbb", "not-a-file")]
    assert (setup.drop / "quarantine" / "a.xbb" / "inside.xbb").exists()
    assert [n["kind"] for n in setup.notes()] == ["directory"]
    assert _items(setup.home) == 0
    setup.good_one_is_imported(1)


def test_an_entry_that_cannot_be_moved_aside_is_noted_and_logged_once(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    """``quarantine`` planted as a symlink out of the folder: nothing is moved through it."""
    os.symlink(setup.outside, setup.drop / "quarantine")
    os.mkfifo(setup.drop / "x.xbb")
    _age(setup.drop / "x.xbb")
    with caplog.at_level(logging.WARNING, logger="xinbao.syncd"):
        report = setup.worker.scan()
        assert report is not None and report.quarantined == [("x.xbb", "not-a-file")]
        assert setup.worker.scan(1) is None and setup.worker.scan(2) is None
    assert list(setup.outside.iterdir()) == []
    assert stat.S_ISFIFO((setup.drop / "x.xbb").lstat().st_mode)  # left where it was
    assert len([r for r in caplog.records if "x.xbb" in r.getMessage()]) == 1
    [note] = setup.notes()
    assert note["moved_to"].startswith("not moved")
    setup.good_one_is_imported(1)


# -- names ---------------------------------------------------------------------------------------


def test_a_255_byte_name_is_quarantined_or_imported_under_a_safe_name(setup: Setup) -> None:
    """Before the fix the spool's ``.{name}.part`` overflowed NAME_MAX and every pass failed."""
    forged = setup.put(LONG_NAME, b"XINBAO" + bytes(200))
    valid_name = "v" * (255 - len(SUFFIX)) + SUFFIX
    setup.put(valid_name, setup.bundles[0])  # the content decides, not the name
    report = setup.worker.scan()
    assert report is not None
    assert report.quarantined == [(LONG_NAME, "bad-magic")] and report.applied == [valid_name]
    for folder in ("quarantine", "done"):
        [moved] = _names(setup.drop / folder)
        assert _safe(moved) and len(moved) < 255
    assert not forged.exists()
    [note] = setup.notes()
    assert note["reason"] == "bad-magic" and note["source"] == str(forged)
    assert all(
        _safe(n) or n.endswith(b".json") for n in _names(setup.home.path / "spool" / "quarantine")
    )
    assert _items(setup.home) == 1
    setup.good_one_is_imported(1)
    _no_leftovers(setup.home)


def test_names_with_undecodable_bytes_or_control_characters(setup: Setup) -> None:
    setup.put(b"bad\xff\xfe.xbb", b"XINBAO" + bytes(200))
    setup.put("ctl\n\x1b[31m\u202e.xbb", setup.bundles[0])  # a line break, ANSI colour, RLO
    hidden = setup.put(".partial.xbb", setup.bundles[2])  # a writer's temporary file
    report = setup.worker.scan()
    assert report is not None
    # reported (and logged) escaped: one line, no terminal escapes
    assert report.quarantined == [("bad\\xff\\xfe.xbb", "bad-magic")]
    assert report.applied == ["ctl\\x0a\\x1b[31m\\u202e.xbb"]
    for folder in ("quarantine", "done"):
        [moved] = _names(setup.drop / folder)
        assert _safe(moved), moved
    [note] = setup.notes()
    assert note["source"].endswith("bad\\xff\\xfe.xbb")
    assert hidden.exists()  # hidden files are left to their writers
    assert _items(setup.home) == 1
    setup.good_one_is_imported(1)


def test_done_never_silently_overwrites_a_different_file(setup: Setup) -> None:
    setup.put("a.xbb", setup.bundles[0])
    setup.put("forged.xbb", b"XINBAO" + bytes(100))
    setup.worker.scan()
    setup.put("a.xbb", setup.bundles[1])  # another bundle carried in under the same name
    setup.put("forged.xbb", b"XINBAO" + bytes(300))
    report = setup.worker.scan(5)
    assert report is not None and report.applied == ["a.xbb"]
    done = setup.drop / "done"
    assert (done / "a.xbb").read_bytes() == setup.bundles[0]
    assert sorted(p.read_bytes() for p in done.iterdir()) == sorted(setup.bundles[:2])
    assert len(list((setup.drop / "quarantine").iterdir())) == 2
    assert _items(setup.home) == 2


def test_a_planted_done_symlink_sends_nothing_out_of_the_folder(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    os.symlink(setup.outside, setup.drop / "done")
    setup.put("good.xbb", setup.bundles[0])
    with caplog.at_level(logging.WARNING, logger="xinbao.syncd"):
        report = setup.worker.scan()
        assert report is not None and report.applied == ["good.xbb"]
        # not moved, and not taken again on every pass (each would acknowledge it again)
        assert setup.worker.scan(2) is None and setup.worker.scan(4) is None
    assert list(setup.outside.iterdir()) == [] and (setup.drop / "good.xbb").exists()
    assert len([r for r in caplog.records if "good.xbb" in r.getMessage()]) == 1
    assert _items(setup.home) == 1


# -- files that change under the pass ------------------------------------------------------------


def test_a_file_deleted_between_listing_and_opening_is_forgotten(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = setup.worker.engine.spool
    stage = spool.stage

    def racing(source: Path, into: Path, limit: int) -> Path:
        if source.name == "gone.xbb":
            source.unlink()  # the courier pulls the stick out, or deletes the file
        return stage(source, into, limit)

    monkeypatch.setattr(spool, "stage", racing)
    setup.put("gone.xbb", setup.bundles[0])
    setup.put("good.xbb", setup.bundles[1])
    report = setup.worker.scan()
    assert report is not None and report.applied == ["good.xbb"] and not report.quarantined
    assert setup.worker.scan(2) is None
    assert _items(setup.home) == 1
    setup.good_one_is_imported(2)


def test_a_file_deleted_after_it_was_applied_is_forgotten(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = setup.worker.engine.receiver
    receive = receiver.receive

    def racing(*args: Any, **kwargs: Any) -> ImportReport:
        report = receive(*args, **kwargs)
        (setup.drop / "gone.xbb").unlink(missing_ok=True)
        return report

    monkeypatch.setattr(receiver, "receive", racing)
    setup.put("gone.xbb", setup.bundles[0])
    report = setup.worker.scan()
    assert report is not None and report.applied == ["gone.xbb"]  # from its snapshot
    monkeypatch.undo()
    assert setup.worker.scan(2) is None
    assert _items(setup.home) == 1
    setup.good_one_is_imported(1)


def test_a_file_that_cannot_be_read_is_logged_once_and_tried_again_once_changed(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Tests run as root, so chmod 000 would not stop a read: the opener is made to fail the
    way an unreadable file or a failing medium does."""
    real = spool_module.open_regular
    failing = {
        "locked.xbb": PermissionError(errno.EACCES, "Permission denied"),
        "eio.xbb": OSError(errno.EIO, "Input/output error"),
    }

    def opener(path: Path) -> Any:
        if path.name in failing:
            raise failing[path.name]
        return real(path)

    monkeypatch.setattr(spool_module, "open_regular", opener)
    locked = setup.put("locked.xbb", setup.bundles[0])
    setup.put("eio.xbb", setup.bundles[1])
    setup.put("good.xbb", setup.bundles[2])
    with caplog.at_level(logging.WARNING, logger="xinbao.syncd"):
        report = setup.worker.scan()
        assert report is not None and report.applied == ["good.xbb"] and not report.quarantined
        assert setup.worker.scan(2) is None and setup.worker.scan(4) is None
    for name in failing:
        assert (setup.drop / name).exists()
        assert len([r for r in caplog.records if name in r.getMessage()]) == 1
    # the permissions are fixed (its ctime changes): tried again, once stable
    monkeypatch.setattr(spool_module, "open_regular", real)
    os.chmod(locked, 0o600)
    assert setup.worker.scan(6) is None
    report = setup.worker.scan(8)
    assert report is not None and report.applied == ["locked.xbb"]
    assert _items(setup.home) == 2
    setup.good_one_is_imported(3)


def test_a_truncated_copy_of_a_bundle_seen_before_is_held_until_it_is_whole(
    setup: Setup,
) -> None:
    """From the report: a half-copied file of a bundle already applied was acknowledged as a
    duplicate from its header alone and moved to done/, and the rest of the copy then landed
    in quarantine as bad-magic. The receiver verifies a duplicate whole (syncd/receive.py);
    the drop scan holds the file while it is truncated and tries it again when it grows."""
    data = setup.bundles[0]
    setup.put("first.xbb", data)
    report = setup.worker.scan()
    assert report is not None and report.applied == ["first.xbb"]
    again = setup.put("again.xbb", data[: len(data) // 2])
    report = setup.worker.scan(2)
    assert report is not None and report.held == ["again.xbb"] and not report.duplicate
    assert again.exists() and not (setup.drop / "quarantine").exists()
    assert setup.worker.scan(3) is None  # not read again while it does not change
    with open(again, "ab") as out:  # the copy goes on
        out.write(data[len(data) // 2 :])
    assert setup.worker.scan(4) is None  # grew: stable again first
    report = setup.worker.scan(6)
    assert report is not None and report.duplicate == ["again.xbb"] and not report.quarantined
    assert (setup.drop / "done" / "again.xbb").read_bytes() == data
    assert not (setup.drop / "quarantine").exists()
    assert _items(setup.home) == 1


def test_a_file_larger_than_any_bundle_is_quarantined_without_being_copied(
    setup: Setup,
) -> None:
    engine = setup.worker.engine
    limit = max(len(b) for b in setup.bundles) + 100
    engine.receiver.limits = replace(engine.receiver.limits, max_bundle_bytes=limit)
    setup.put("huge.xbb", b"XINBAO" + bytes(3 * (1 << 20)))
    report = setup.worker.scan()
    assert report is not None and report.quarantined == [("huge.xbb", "too-large")]
    kept = [p for p in (setup.home.path / "spool" / "quarantine").iterdir() if p.suffix == SUFFIX]
    assert [p.stat().st_size for p in kept] == [1 << 20]  # the first MiB, to tell what it was
    setup.good_one_is_imported(1)


# -- spool/in and the watcher -----------------------------------------------------------------


def test_spool_in_takes_only_regular_files(setup: Setup) -> None:
    incoming = setup.home.path / "spool" / "in"
    os.mkfifo(incoming / "x.xbb")
    os.symlink("/dev/zero", incoming / "zero.xbb")
    (incoming / "140200-upload.xbb").write_bytes(setup.bundles[0])
    report = setup.worker.call(setup.worker.engine.accept_incoming, NOW)
    assert report is not None and report.applied == ["140200-upload.xbb"]
    assert sorted(report.quarantined) == [("x.xbb", "not-a-file"), ("zero.xbb", "not-a-file")]
    assert _names(incoming) == [b"partial"] or _names(incoming) == []
    entries = setup.home.path / "spool" / "quarantine" / "entries"
    assert sorted(_names(entries)) == [b"x.xbb", b"zero.xbb"]
    assert setup.worker.call(setup.worker.engine.accept_incoming, NOW) is None
    setup.good_one_is_imported(1)


def test_the_watcher_reports_no_size_for_what_is_not_a_regular_file(tmp_path: Path) -> None:
    woken: list[int] = []
    watcher = DropWatcher(lambda: woken.append(1))
    os.mkfifo(tmp_path / "x.xbb")
    os.symlink("/dev/zero", tmp_path / "zero.xbb")
    (tmp_path / "good.xbb").write_bytes(b"x" * 10)
    for name in ("x.xbb", "zero.xbb", "good.xbb", "gone.xbb"):
        watcher.saw(tmp_path / name, closed=True)
    assert watcher.take_closed() == {tmp_path / "good.xbb": 10} and len(woken) == 4


# -- a real daemon -------------------------------------------------------------------------------


def _city_config(home: Path, drop: Path) -> None:
    (home / "syncd.toml").write_text(
        f'drop = ["{drop}"]\n[intervals]\nsend = 0.2\nfetch = 0.3\nretry_min = 0.2\n'
        "retry_max = 1.0\nresend_after = 30.0\ndrop_poll = 0.3\nstable = 0.5\n",
        "utf-8",
    )


def test_a_real_daemon_with_a_fifo_and_a_255_byte_name_in_its_drop_folder_goes_on(
    tmp_path: Path,
) -> None:
    """The FIFO and the long name are there when the daemon starts: a bundle carried in
    afterwards is still imported, an HTTP upload is still answered, SIGTERM still stops it."""
    homes = enrol_tree(tmp_path, CHAIN[:3])
    city, county = homes["140200"], homes["140212"]
    up, drop = tmp_path / "stick", tmp_path / "city-drop"
    up.mkdir()
    drop.mkdir()
    _city_config(city, drop)
    ok(run("xinbao-syncd", "link", "add", "140200", "--folder", str(up), home=county))
    routine = ROUTINE.format(title="供暖巡查", classification="内部")
    item = submit(county, routine, tmp_path, "item.toml")
    ok(run("xinbao-syncd", "once", home=county))
    [carried] = list(up.glob("*.xbb"))

    os.mkfifo(drop / "x.xbb")
    (drop / LONG_NAME).write_bytes(b"XINBAO" + bytes(200))
    daemon = Daemon(city)
    try:
        # carried in as couriers' tools do: under a hidden name, then renamed
        shutil.copyfile(carried, drop / ".carrying.part")
        os.replace(drop / ".carrying.part", drop / carried.name)
        until(lambda: item in inbox(city), "the carried bundle is imported")
        assert stat.S_ISFIFO((drop / "quarantine" / "x.xbb").lstat().st_mode)
        assert not (drop / LONG_NAME).exists() and (drop / "done" / carried.name).exists()
        started = time.monotonic()
        with httpx.Client(timeout=10.0) as client:
            answer = client.post(
                daemon.url + "/v1/bundles",
                content=b"XINBAO" + bytes(100),
                headers={"X-Xinbao-Node": "140212", "Content-Type": "application/octet-stream"},
            )
            assert 400 <= answer.status_code < 500, answer.text  # refused, but answered
            assert client.get(daemon.url + "/v1/health").status_code == 200
        assert time.monotonic() - started < 10.0
    finally:
        started = time.monotonic()
        code = daemon.stop(signal.SIGTERM)
        stopped_in = time.monotonic() - started
        _release_fifos([drop])
    assert code == 0, (city / "daemon.log").read_text()
    assert stopped_in < 10.0, f"SIGTERM took {stopped_in:.1f} s"
    log = (city / "daemon.log").read_text()
    assert "pass failed" not in log and "Traceback" not in log
