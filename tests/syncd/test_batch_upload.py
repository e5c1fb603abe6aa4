"""Several bundles in one upload (``POST /v1/batch``, syncd/http.py ``take_batch``; the
daemon's push sends small bundles together): each bundle judged on its own, the good ones kept
with one fsync, a body that is not a batch refused whole with nothing kept; and a relay keeps
what it passes on by a hard link (syncd/outgoing.py ``Outgoing.keep``).

Real daemons on 127.0.0.1 (the hardening tests' network and helpers); every wait bounded."""

# ruff: noqa: F811  (``net``, the hardening tests' fixture, is imported and then requested)

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import struct
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from schema.node import NodeHome
from syncd import enrolment, http
from syncd.bundle import new_header, read_header, seal
from syncd.outgoing import Outgoing
from syncd.spool import MAX_BATCH_FRAMES, Spool
from tests.bench.bench_bundle import small_records
from tests.cli_helpers import run
from tests.syncd.daemons import until
from tests.syncd.test_http_hardening import (  # noqa: F401  (net is a fixture)
    CITY,
    PROVINCE,
    Net,
    daemon,
    kept,
    logged,
    net,
    post,
)


def bundles(net: Net, first: int, count: int) -> list[Path]:
    """``count`` bundles from the city to the province, an item each (ids from ``first``)."""
    home = net.homes[CITY]
    keys, chain = net.keys(CITY), enrolment.load_chain(home) or []
    public = enrolment.encryption_keys(home)
    out = []
    for i in range(first, first + count):
        path = net.root / f"b{i}.xbb"
        with open(path, "wb") as fh:
            header = new_header(CITY, [PROVINCE], datetime.now(UTC))
            seal(header, small_records(i, keys), keys, chain, public, fh)
        out.append(path)
    return out


def items_at(home: NodeHome) -> int:
    db = sqlite3.connect(f"{home.store_path.as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        return int(db.execute("SELECT COUNT(*) FROM item").fetchone()[0])
    finally:
        db.close()


def push_batch(net: Net, url: str, paths: list[Path]) -> list[tuple[str, str]]:
    async def go() -> list[tuple[str, str]]:
        async with httpx.AsyncClient(timeout=10) as client:
            return await http.push_batch(client, url, CITY, net.keys(CITY), paths)

    return asyncio.run(go())


def raw_batch(net: Net, url: str, body: bytes) -> httpx.Response:
    headers = http.signed_headers(
        net.keys(CITY), CITY, "POST", http.BATCH_PATH, http.length_fields(len(body))
    )
    return httpx.post(url + http.BATCH_PATH, content=body, headers=headers, timeout=10)


def frame(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def test_a_batch_is_judged_bundle_by_bundle_and_the_good_ones_applied(net: Net) -> None:
    province = net.homes[PROVINCE]
    good = bundles(net, 1, 3)
    tampered = net.root / "tampered.xbb"
    data = bytearray(good[0].read_bytes())
    data[-100] ^= 1  # in the certificate chain or the signature
    tampered.write_bytes(bytes(data))
    foreign = net.root / "not-a-bundle.xbb"
    foreign.write_bytes(b"XINBAOB\x00" + os.urandom(200))
    with daemon(province) as node:
        outcomes = push_batch(net, node.url, [good[0], tampered, good[1], foreign, good[2]])
        assert [status for status, _ in outcomes] == [
            "taken",
            outcomes[1][0],
            "taken",
            outcomes[3][0],
            "taken",
        ]
        assert outcomes[1][0] not in ("taken", "")  # refused, for what the bit broke
        assert outcomes[3][0] not in ("taken", "")
        until(lambda: items_at(province) == 3, "the three good items applied")
        until(lambda: kept(province) == [], "the batch file gone once received")
        assert "batch taken: 3 bundles, 2 refused" in logged(province)
        # sent again, the same bundles are acknowledged, not applied twice
        assert [s for s, _ in push_batch(net, node.url, good)] == ["taken"] * 3
        until(lambda: kept(province) == [], "the second batch received")
        assert items_at(province) == 3


def test_a_body_that_is_not_a_batch_is_refused_whole_and_nothing_kept(net: Net) -> None:
    province = net.homes[PROVINCE]
    (one,) = bundles(net, 10, 1)
    whole = one.read_bytes()
    bodies = {
        "empty frame": b"\0\0\0\0",
        "frame cut short": struct.pack(">I", 1000) + b"x" * 10,
        "a length cut short": frame(whole) + b"\0\0",
        "too many frames": frame(b"x") * (MAX_BATCH_FRAMES + 1),
        "a frame past the bundle limit": struct.pack(">I", 0xFFFF_FFFF) + b"x" * 16,
    }
    with daemon(province) as node:
        for name, body in bodies.items():
            answer = raw_batch(net, node.url, body)
            assert answer.status_code == 400, (name, answer.text)
            assert answer.json()["reason"] == "batch-invalid", name
        # well framed, nothing in it a bundle: each refused, nothing kept
        answer = raw_batch(net, node.url, frame(b"x" * 64) + frame(os.urandom(300)))
        assert answer.status_code == 200
        assert answer.json()["taken"] == [] and len(answer.json()["refused"]) == 2
        # unsigned: refused before a byte is kept
        plain = httpx.post(node.url + http.BATCH_PATH, content=frame(whole), timeout=10)
        assert plain.status_code == 401
        assert kept(province) == []
        assert post(net, CITY, node.url, one).status_code == 200  # still serving
        until(lambda: items_at(province) == 1, "the good upload applied")


def test_the_daemon_pushes_what_waits_in_batches(net: Net, tmp_path: Path) -> None:
    """The city's daemon, with 40 bundles waiting for the province, sends them in one
    request (well under BATCH_BUNDLES), and every item arrives."""
    province, city = net.homes[PROVINCE], net.homes[CITY]
    waiting = bundles(net, 20, 40)
    spool = Spool(city.path)
    outgoing = Outgoing(spool)
    try:
        for path in waiting:
            kept_path = outgoing.keep(path)
            with open(kept_path, "rb") as fh:
                header = read_header(fh)
            outgoing.add(kept_path, header, [PROVINCE], datetime.now(UTC).timestamp())
        outgoing.settle()
    finally:
        spool.close()
    with daemon(province) as node:
        link = run("xinbao-syncd", "link", "add", PROVINCE, "--url", node.url, home=city.path)
        assert link.code == 0, link.err
        once = run("xinbao-syncd", "once", home=city.path)
        assert once.code == 0, once.err
        until(lambda: items_at(province) == 40, "all 40 items at the province")
        # the 40, and what the city had queued itself (a certificate record on its way up)
        taken = re.findall(r"batch taken: (\d+) bundles, 0 refused", logged(province))
        assert len(taken) == 1 and int(taken[0]) >= 40, logged(province)
        assert "upload taken" not in logged(province)  # none went one by one


def test_a_relay_keeps_a_whole_bundle_by_a_hard_link(net: Net) -> None:
    city = net.homes[CITY]
    (made,) = bundles(net, 90, 1)
    spool = Spool(city.path)
    try:
        outgoing = Outgoing(spool)
        # a file of the spool's own (an upload in spool/in) is linked …
        source = spool.root / "in" / made.name
        source.parent.mkdir(exist_ok=True)
        os.replace(made, source)
        kept_path = outgoing.keep(source)
        assert kept_path.parent == outgoing.folder
        assert kept_path.stat().st_ino == source.stat().st_ino  # the same bytes, not a copy
        assert kept_path.read_bytes() == source.read_bytes()
        # a narrowed copy (another front) is a file of its own
        other = outgoing.keep(source, b"head", 0)
        assert other.stat().st_ino != source.stat().st_ino
        # … one in an operator's folder (xinbao-syncd import) is copied: it could change
        (outside,) = bundles(net, 91, 1)
        copied = outgoing.keep(outside)
        assert copied.stat().st_ino != outside.stat().st_ino
        assert copied.read_bytes() == outside.read_bytes()
        outgoing.settle()
    finally:
        spool.close()


def test_a_relay_s_linked_copies_are_synced_together_at_settle(
    net: Net, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19: the bytes of files kept by a link are synced when the batch settles — one
    journal commit for the batch, not one a bundle — and every one of them before the
    caller may let its source go."""
    city = net.homes[CITY]
    made = bundles(net, 92, 3)
    spool = Spool(city.path)
    synced: list[int] = []
    fsync = os.fsync

    def noting(fd: int) -> None:
        synced.append(os.fstat(fd).st_ino)
        fsync(fd)

    monkeypatch.setattr(os, "fsync", noting)
    try:
        outgoing = Outgoing(spool)
        (spool.root / "in").mkdir(exist_ok=True)
        kept = []
        for one in made:
            source = spool.root / "in" / one.name
            os.replace(one, source)
            kept.append(outgoing.keep(source).stat().st_ino)
        assert not set(kept) & set(synced)  # not one by one
        outgoing.settle()
        assert set(kept) <= set(synced)  # all, at the settle
    finally:
        spool.close()
