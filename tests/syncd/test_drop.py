"""Drop folders (syncd/engine.py scan_drops, syncd/watch.py): what is imported, and when."""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from schema.node import NodeHome
from schema.store import Store
from syncd import enrolment
from syncd.bundle import new_header, seal
from syncd.engine import Engine
from syncd.keys import load_keys
from syncd.watch import DropWatcher
from tests.bench.bench_bundle import NOW, network, small_records


@pytest.fixture
def nodes(tmp_path: Path) -> tuple[NodeHome, list[bytes]]:
    """The province's home with a drop folder, and three bundles from the city for it."""
    province, city = network(tmp_path)
    keys, chain = load_keys(city.path, None), enrolment.load_chain(city) or []
    public = enrolment.encryption_keys(city)
    bundles = []
    for i in range(3):
        path = tmp_path / f"b{i}.xbb"
        with open(path, "wb") as out:
            seal(
                new_header("140200", ["140000"], NOW),
                small_records(i, keys),
                keys,
                chain,
                public,
                out,
            )
        bundles.append(path.read_bytes())
    (province.path / "syncd.toml").write_text(
        "[intervals]\nstable = 1.0\nabandon = 60.0\n", "utf-8"
    )
    (province.path / "drop").mkdir()
    return province, bundles


def _items(home: NodeHome) -> int:
    store = Store.open(home.store_path)
    try:
        return int(store.query("SELECT count(*) AS n FROM item")[0]["n"])
    finally:
        store.close()


def _age(path: Path, seconds: float) -> None:
    """Last written ``seconds`` before the tests' clock (``NOW``)."""
    then = NOW.timestamp() - seconds
    os.utime(path, (then, then))


def test_a_half_copied_file_waits_in_place_and_is_imported_once_complete(
    nodes: tuple[NodeHome, list[bytes]],
) -> None:
    home, bundles = nodes
    drop = home.path / "drop"
    engine = Engine(home)
    try:
        now = NOW
        part = drop / "a.xbb"
        part.write_bytes(bundles[0][: len(bundles[0]) // 2])
        # just written: not yet stable, not touched
        assert engine.scan_drops(now) is None and part.exists()
        # stable long enough, but incomplete: left where it is, not quarantined
        report = engine.scan_drops(now + timedelta(seconds=2))
        assert report is not None and report.held == ["a.xbb"] and not report.quarantined
        assert part.exists() and not (drop / "quarantine").exists()
        # unchanged and already found incomplete: not read again on every pass
        assert engine.scan_drops(now + timedelta(seconds=3)) is None
        # the copy goes on and finishes: imported, moved to done/
        part.write_bytes(bundles[0])
        assert engine.scan_drops(now + timedelta(seconds=4)) is None  # grew: stable again first
        report = engine.scan_drops(now + timedelta(seconds=6))
        assert report is not None and len(report.applied) == 1
        assert (drop / "done" / "a.xbb").exists() and not part.exists()
        assert _items(home) == 1
    finally:
        engine.close()


def test_an_incomplete_file_left_alone_too_long_is_quarantined(
    nodes: tuple[NodeHome, list[bytes]],
) -> None:
    home, bundles = nodes
    drop = home.path / "drop"
    engine = Engine(home)
    try:
        part = drop / "a.xbb"
        part.write_bytes(bundles[1][:100])
        _age(part, 10)
        report = engine.scan_drops(NOW)
        assert report is not None and report.held == ["a.xbb"]
        report = engine.scan_drops(NOW + timedelta(seconds=61))  # abandon = 60
        assert report is not None and report.quarantined == [("a.xbb", "truncated")]
        assert (drop / "quarantine" / "a.xbb").exists()
        assert _items(home) == 0
    finally:
        engine.close()


def test_a_stable_old_file_is_imported_in_one_pass_and_a_forged_one_never(
    nodes: tuple[NodeHome, list[bytes]],
) -> None:
    """``xinbao-syncd once`` from cron: one scan must import a file that has long been there;
    a file named like a bundle but not one is quarantined whatever its name."""
    home, bundles = nodes
    drop = home.path / "drop"
    (drop / "good.xbb").write_bytes(bundles[2])
    (drop / "forged.xbb").write_bytes(b"XINBAO" + bytes(200))
    (drop / "notes.txt").write_text("不是数据包", "utf-8")
    for path in drop.iterdir():
        _age(path, 10)
    engine = Engine(home)
    try:
        report = engine.scan_drops(NOW)
        assert report is not None and report.applied == ["good.xbb"]
        assert [name for name, _ in report.quarantined] == ["forged.xbb"]
        assert (drop / "notes.txt").exists()  # not a bundle file: not ours to move
    finally:
        engine.close()


def test_a_file_its_writer_closed_is_taken_without_waiting(
    nodes: tuple[NodeHome, list[bytes]],
) -> None:
    home, bundles = nodes
    drop = home.path / "drop"
    woken: list[float] = []
    watcher = DropWatcher(lambda: woken.append(time.monotonic()))
    engine = Engine(home)
    try:
        watcher.watch([drop])
        (drop / "c.xbb").write_bytes(bundles[0])
        deadline = time.monotonic() + 10
        closed: dict[Path, int] = {}
        while not closed and time.monotonic() < deadline:
            time.sleep(0.02)
            closed = watcher.take_closed()
        assert woken and closed == {drop / "c.xbb": len(bundles[0])}
        report = engine.scan_drops(NOW, closed)  # no stable wait: the writer is done
        assert report is not None and report.applied == ["c.xbb"]
    finally:
        watcher.stop()
        engine.close()


def test_the_watcher_wakes_when_a_drop_folder_comes_goes_or_is_replaced(tmp_path: Path) -> None:
    """Removable media: the drop folder is mounted (a folder renamed into place), taken away
    and mounted again. The folder it is in is watched for it, so each wakes the daemon, and
    a folder replaced at the same path is watched anew; a folder someone else watches (the
    home, by the store watch) is not watched twice."""
    media = tmp_path / "media"
    media.mkdir()
    usb = media / "usb"
    woken = threading.Event()
    watcher = DropWatcher(woken.set)

    def mounted(name: str) -> None:
        medium = tmp_path / name
        medium.mkdir()
        medium.rename(usb)

    try:
        watcher.watch([usb])
        assert watcher.watching == ()  # not there yet
        for step in ("mount", "unmount", "mount again"):
            woken.clear()
            if step == "unmount":
                usb.rename(tmp_path / "taken-away")
            else:
                mounted(step.replace(" ", "-"))
            assert woken.wait(5), f"no wake at {step}"
            watcher.watch([usb])  # what the daemon does at each look
            assert watcher.watching == ((usb,) if step != "unmount" else ())
        woken.clear()
        (usb / "a.xbb").write_bytes(b"x")  # the medium mounted again is watched itself
        assert woken.wait(5)
    finally:
        watcher.stop()
    covered = DropWatcher(woken.set, covered=(media,))
    try:
        covered.watch([usb])
        usb.rename(tmp_path / "away")
        woken.clear()
        assert not woken.wait(1)  # the home's own watch reports it, not this one
    finally:
        covered.stop()
