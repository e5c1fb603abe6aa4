"""D. Attacks through the city's drop folder, against its real daemon.

Whoever can write to the drop folder (a carried-in stick, a shared mount) tries to stop the
node from importing, or to make it read what it should not: a file name of 255 bytes, a FIFO
named like a bundle, a symlink to the node's own private key, files that vanish while a pass
looks at them. After each, the daemon must still import a good bundle from the county within a
bounded time; at the end it must stop on SIGTERM within a bounded time.

Refusals are recorded as the daemon records them: the entry moved out of the drop folder (to
``quarantine/`` beside it) and a JSON note in ``spool/quarantine`` naming the original file.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.attack.conftest import (
    CITY,
    COUNTY,
    WAIT,
    Net,
    alive,
    inbox_ids,
    item_core,
    log_of,
    os_write_atomically,
    quarantine_notes,
    stop,
)
from tests.syncd.daemons import Daemon, until

STOP_SECONDS = 10.0  # SIGTERM to exit
VANISHING = 12  # files dropped and deleted at once


def drop_folder(daemon: Daemon) -> Path:
    return daemon.home / "drop"


def good_bundle(net: Net, title: str = "新荣区完成供暖设施巡查") -> tuple[bytes, str]:
    item = net.item_id(COUNTY)
    return net.seal(COUNTY, [CITY], [net.signed(item_core(COUNTY, item, [CITY], title))]), item


def still_importing(net: Net, daemon: Daemon, name: str) -> str:
    """A good bundle dropped now is imported (and moved to ``done/``) within the bound."""
    assert alive(daemon), log_of(daemon)[-2000:]
    data, item = good_bundle(net)
    os_write_atomically(drop_folder(daemon), name, data)
    until(lambda: item in inbox_ids(daemon.home), f"the good bundle {name} imported", WAIT)
    assert not (drop_folder(daemon) / name).exists()
    return item


def refused_entry(daemon: Daemon, name: str) -> dict[str, object]:
    """``name`` left the drop folder and a note in the spool names it; the note."""
    drop = drop_folder(daemon)

    def noted() -> dict[str, object] | None:
        if os.path.lexists(drop / name):
            return None
        return quarantine_notes(daemon.home).get(name)

    note = until(noted, f"{name[:40]}… moved out of the drop folder with a note", WAIT)
    assert note.get("reason") and note.get("message"), note
    return note


def test_a_file_name_of_255_bytes_is_refused_and_the_folder_keeps_working(
    net: Net, city_daemon: Daemon
) -> None:
    drop = drop_folder(city_daemon)
    bad = "x" * 251 + ".xbb"  # NAME_MAX: ".{name}.part" beside it would not fit
    assert len(bad.encode()) == 255
    os_write_atomically(drop, bad, b"XINBAOB\x00" + os.urandom(512))
    refused_entry(city_daemon, bad)
    # a good bundle under such a name is imported too
    data, item = good_bundle(net, "超长文件名的数据包")
    long_good = "g" * 251 + ".xbb"
    os_write_atomically(drop, long_good, data)
    until(lambda: item in inbox_ids(city_daemon.home), "the long-named good bundle", WAIT)
    assert not (drop / long_good).exists()
    still_importing(net, city_daemon, "after-long-name.xbb")


def test_a_symlink_to_the_nodes_private_key_is_never_read(net: Net, city_daemon: Daemon) -> None:
    drop = drop_folder(city_daemon)
    key = city_daemon.home / "keys" / "signing.pem"
    secret, mode = key.read_bytes(), key.stat().st_mode
    (drop / "evil.xbb").symlink_to(key)
    note = refused_entry(city_daemon, "evil.xbb")
    assert note["reason"] == "not-a-file", note
    # the key is where it was, as it was, and no copy of it is anywhere in the spool or beside
    # the drop folder
    assert key.read_bytes() == secret and key.stat().st_mode == mode
    copies = [
        p
        for where in (city_daemon.home / "spool", drop)
        for p in where.rglob("*")
        if p.is_file() and not p.is_symlink() and p.stat().st_size == len(secret)
    ]
    assert not [p for p in copies if p.read_bytes() == secret], copies
    still_importing(net, city_daemon, "after-symlink.xbb")


def test_files_that_vanish_mid_pass_do_not_stop_the_import(net: Net, city_daemon: Daemon) -> None:
    drop = drop_folder(city_daemon)
    rng = random.Random(7)
    started = time.monotonic()
    for i in range(VANISHING):  # bounded in count, and each in time
        data, _ = good_bundle(net, f"转瞬即逝的数据包 {i}")
        path = os_write_atomically(drop, f"vanish-{i:02d}.xbb", data)
        time.sleep(rng.uniform(0.0, 0.15))
        path.unlink(missing_ok=True)  # the daemon may have taken it already
    assert time.monotonic() - started < 10
    still_importing(net, city_daemon, "after-vanishing.xbb")


def test_a_fifo_named_like_a_bundle_does_not_block_the_daemon(
    net: Net, city_daemon: Daemon
) -> None:
    drop = drop_folder(city_daemon)
    os.mkfifo(drop / "x.xbb")
    try:
        note = refused_entry(city_daemon, "x.xbb")
        assert note["reason"] == "not-a-file", note
        still_importing(net, city_daemon, "after-fifo.xbb")
    finally:
        for left in (drop / "x.xbb", *(drop / "quarantine").glob("x*")):
            if left.is_fifo():  # never leave a FIFO for a reader to block on
                left.unlink()


def test_the_daemon_stops_on_sigterm_within_a_bounded_time(city_daemon: Daemon) -> None:
    assert alive(city_daemon)
    code, seconds = stop(city_daemon, STOP_SECONDS)
    assert code == 0, f"not a graceful stop (killed after {STOP_SECONDS:.0f} s or failed)"
    assert seconds < STOP_SECONDS


@pytest.fixture(autouse=True)
def _no_tracebacks(city_daemon: Daemon) -> Iterator[None]:
    """While a case runs, the daemon logs one line per problem, never a traceback."""
    start = len(log_of(city_daemon))
    yield
    written = log_of(city_daemon)[start:]
    assert "Traceback" not in written, written[-3000:]
