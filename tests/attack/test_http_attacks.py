"""C. Attacks on the city's HTTP endpoint, against its real daemon on 127.0.0.1.

The attackers: the sibling county 140211 (enrolled, holding its own keys), a node of another
deployment, and anyone on the network who can open a socket (no keys at all). The victim's
real neighbour, the county 140212, uploads as ``syncd.http.push`` does. Requests are signed
with the product's own signer (``syncd.http.signed_headers`` and its field helpers), so these
cases test the endpoint's checks, not a second implementation of the signing.

Each case asserts the refusal (a 4xx, in time), that nothing of the attack was applied, and that
the daemon still serves and still takes a good upload from the county afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import struct
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from syncd import http
from syncd.bundle import read_header
from tests.attack.conftest import (
    CITY,
    COUNTY,
    SIBLING,
    WAIT,
    Net,
    alive,
    auth,
    healthy,
    inbox_ids,
    item_core,
    parse_layout,
    push,
    raw_http,
    request_head,
    signature_message,
)
from tests.syncd.daemons import Daemon, until

MIB = 1 << 20
# 16 MiB of zero-length frames must be refused within this (a good 16 MiB upload takes well
# under a second here); the relay check walks 4 Mi frames one by one (6 s under load) and
# then takes custody (200) of a bundle nobody can open
ZERO_SECONDS = 5.0
PULL = f"/v1/pull/{COUNTY}"


def bundle_file(
    net: Net, folder: Path, title: str, padding: int = 0, sender: str = COUNTY
) -> tuple[Path, str]:
    """A bundle from ``sender`` to the city with one item (and ``padding`` random bytes as an
    attachment, to make it large); its file and the item's id."""
    item = net.item_id(sender)
    attachments = []
    if padding:
        blob = folder / f"{item}.bin"
        blob.write_bytes(os.urandom(padding))
        attachments.append((hashlib.sha256(blob.read_bytes()).hexdigest(), blob))
    record = net.signed(item_core(sender, item, [CITY], title))
    path = folder / f"{item}.xbb"
    path.write_bytes(net.seal(sender, [CITY], [record], attachments=attachments))
    return path, item


def bundle_id(path: Path) -> str:
    with open(path, "rb") as fh:
        return read_header(fh).id


def reason_of(body: bytes) -> str:
    """The reason code of a refusal's JSON body ("" if there is none)."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    return str(data.get("reason", "")) if isinstance(data, dict) else ""


def applied(daemon: Daemon, item: str) -> bool:
    return item in inbox_ids(daemon.home)


@dataclass
class Ledger:
    """What the module's cases sent: items that must be applied (good uploads after each
    attack) and items that must never be (those inside refused or broken-off uploads). The
    last test checks both at once, so no case waits for the daemon's pass on its own."""

    good: set[str] = field(default_factory=set)
    bad: set[str] = field(default_factory=set)


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return Ledger()


def still_serving(net: Net, daemon: Daemon, folder: Path, ledger: Ledger) -> None:
    """The daemon answers and takes custody of a good upload from the county (applied: see
    the last test)."""
    assert alive(daemon) and healthy(daemon.url), "the daemon no longer serves"
    path, item = bundle_file(net, folder, "新荣区完成供暖设施巡查")
    assert push(net, COUNTY, daemon.url, path) == bundle_id(path)
    ledger.good.add(item)


# ---------------------------------------------------------------------------------------------
# A third party and a peer's resumable upload


async def _broken_patch(net: Net, url: str, path: Path, stop_after: int) -> None:
    """The county starts a resumable upload of ``path`` and the cable is pulled after
    ``stop_after`` bytes."""
    total = path.stat().st_size
    key = bundle_id(path)
    where = f"/v1/uploads/{key}"

    async def pieces() -> AsyncIterator[bytes]:
        with open(path, "rb") as fh:
            yield fh.read(stop_after)
        await asyncio.sleep(0.3)  # let the bytes reach the node before the break
        raise ConnectionResetError("cable pulled")

    headers = {
        **auth(net, COUNTY, "PATCH", where, http.upload_fields(0, total)),
        "Upload-Offset": "0",
        "Upload-Length": str(total),
        "Content-Length": str(total),
    }
    async with httpx.AsyncClient(timeout=10) as client:
        with pytest.raises((httpx.HTTPError, ConnectionResetError)):
            await client.patch(url + where, content=pieces(), headers=headers)


def _held(net: Net, url: str, key: str) -> int:
    """What the city holds of the county's resumable upload ``key`` (0 for nothing)."""
    where = f"/v1/uploads/{key}"
    with httpx.Client(timeout=5) as client:
        answer = client.head(url + where, headers=auth(net, COUNTY, "HEAD", where))
    if answer.status_code == 404:
        return 0
    assert answer.status_code == 200, answer.status_code
    return int(answer.headers["upload-offset"])


HIJACKS = ("unsigned", "signed-by-sibling-as-county", "sibling-in-its-own-name")


@pytest.mark.parametrize("how", HIJACKS)
def test_a_third_party_cannot_append_to_a_peers_partial_upload(
    net: Net, city_daemon: Daemon, ledger: Ledger, tmp_path: Path, how: str
) -> None:
    url = city_daemon.url
    path, item = bundle_file(net, tmp_path, "新荣区冬季供暖专题调研", padding=MIB)
    total = path.stat().st_size
    key = bundle_id(path)
    half = 256 * 1024
    asyncio.run(_broken_patch(net, url, path, half))
    until(lambda: _held(net, url, key) == half, "the city keeps the first part", WAIT)

    where = f"/v1/uploads/{key}"
    junk = b"\x00" * 4096
    plain = {"Upload-Length": str(total), "Content-Length": str(len(junk))}
    if how == "unsigned":
        headers = {"X-Xinbao-Node": COUNTY, "Upload-Offset": str(half), **plain}
    elif how == "signed-by-sibling-as-county":
        fields = http.upload_fields(half, total)
        headers = {
            **auth(net, SIBLING, "PATCH", where, fields, as_node=COUNTY),
            "Upload-Offset": str(half),
            **plain,
        }
    else:  # honestly as itself, from the start: it may only fill its own slot
        fields = http.upload_fields(0, total)
        headers = {**auth(net, SIBLING, "PATCH", where, fields), "Upload-Offset": "0", **plain}
    with httpx.Client(timeout=10) as client:
        answer = client.patch(url + where, content=junk, headers=headers)
    if how != "sibling-in-its-own-name":
        assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
        assert reason_of(answer.content), answer.text
    assert answer.status_code < 500, (answer.status_code, answer.text)

    # the county's part is untouched, and its resume completes
    assert _held(net, url, key) == half
    assert push(net, COUNTY, url, path, resume_above=64 * 1024) == key
    ledger.good.add(item)


# ---------------------------------------------------------------------------------------------
# Unsigned and wrongly signed uploads

UNSIGNED = (
    "no-headers",
    "node-header-only",
    "signed-by-sibling-as-county",
    "signed-by-foreign-county",
    "signed-for-another-length",
)


@pytest.mark.parametrize("how", UNSIGNED)
def test_an_upload_not_signed_by_the_neighbour_is_refused(
    net: Net, city_daemon: Daemon, ledger: Ledger, tmp_path: Path, how: str
) -> None:
    path, item = bundle_file(net, tmp_path, "新荣区未签名上传的信息")
    data = path.read_bytes()
    where = "/v1/bundles"
    fields = http.length_fields(len(data))
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))}
    if how == "node-header-only":
        headers["X-Xinbao-Node"] = COUNTY
    elif how == "signed-by-sibling-as-county":
        headers |= auth(net, SIBLING, "POST", where, fields, as_node=COUNTY)
    elif how == "signed-by-foreign-county":
        foreign = net.keys(COUNTY, foreign=True)
        headers |= http.signed_headers(foreign, COUNTY, "POST", where, fields)
    elif how == "signed-for-another-length":
        headers |= auth(net, COUNTY, "POST", where, http.length_fields(len(data) + 1))
    with httpx.Client(timeout=10) as client:
        answer = client.post(city_daemon.url + where, content=data, headers=headers)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
    assert reason_of(answer.content), answer.text

    ledger.bad.add(item)
    still_serving(net, city_daemon, tmp_path, ledger)


# ---------------------------------------------------------------------------------------------
# Replayed pull requests, and a hostile acknowledgement


def test_a_replayed_signed_pull_request_is_refused(
    net: Net, city_daemon: Daemon, ledger: Ledger, tmp_path: Path
) -> None:
    headers = auth(net, COUNTY, "GET", PULL)
    first = httpx.get(city_daemon.url + PULL, headers=headers, timeout=5)
    assert first.status_code == 200, first.text
    replayed = httpx.get(city_daemon.url + PULL, headers=headers, timeout=5)
    assert 400 <= replayed.status_code < 500, (replayed.status_code, replayed.text)
    assert reason_of(replayed.content), replayed.text
    # the county's own next request, freshly signed, is served
    again = httpx.get(city_daemon.url + PULL, headers=auth(net, COUNTY, "GET", PULL), timeout=5)
    assert again.status_code == 200, again.text
    still_serving(net, city_daemon, tmp_path, ledger)


@pytest.mark.parametrize("shape", ["arrays", "objects"])
def test_a_deeply_nested_pull_acknowledgement_is_a_4xx_not_a_500(
    net: Net, city_daemon: Daemon, ledger: Ledger, tmp_path: Path, shape: str
) -> None:
    depth = 200_000
    if shape == "arrays":
        body = b'{"names":' + b"[" * depth + b"]" * depth + b"}"
    else:
        body = b'{"a":' * depth + b"1" + b"}" * depth
    where = f"{PULL}/ack"
    headers = {
        **auth(net, COUNTY, "POST", where, http.body_fields(body)),
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
    }
    answer = httpx.post(city_daemon.url + where, content=body, headers=headers, timeout=10)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:200])
    assert reason_of(answer.content), answer.text[:200]
    still_serving(net, city_daemon, tmp_path, ledger)


# ---------------------------------------------------------------------------------------------
# Bodies that break off, claim too much, or never end


def _incoming_leftovers(daemon: Daemon) -> list[Path]:
    incoming = daemon.home / "spool" / "in"
    return [p for p in incoming.glob(".upload-*") if p.is_file()]


def test_a_client_that_disconnects_mid_upload_leaves_nothing_behind(
    net: Net, city_daemon: Daemon, ledger: Ledger, tmp_path: Path
) -> None:
    path, item = bundle_file(net, tmp_path, "新荣区中途断开的上传", padding=MIB)
    data = path.read_bytes()
    where = "/v1/bundles"
    headers = {
        **auth(net, COUNTY, "POST", where, http.length_fields(len(data))),
        "Content-Length": str(len(data)),
    }
    host, port = city_daemon.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:  # half, then hang up
        sock.sendall(request_head("POST", where, headers) + data[: len(data) // 2])
        time.sleep(0.3)
    until(lambda: not _incoming_leftovers(city_daemon), "the broken upload's file removed", WAIT)
    assert not applied(city_daemon, item)
    # the same bundle, sent whole afterwards, is taken and applied: nothing of it was kept
    assert push(net, COUNTY, city_daemon.url, path) == bundle_id(path)
    ledger.good.add(item)
    still_serving(net, city_daemon, tmp_path, ledger)


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_claimed_length_of_ten_terabytes_is_refused_at_once(
    net: Net, city_daemon: Daemon, ledger: Ledger, tmp_path: Path, method: str
) -> None:
    huge = 10**13
    if method == "POST":
        where = "/v1/bundles"
        headers = {**auth(net, COUNTY, "POST", where, http.length_fields(huge))}
    else:
        where = f"/v1/uploads/{'ab' * 16}"
        headers = {
            **auth(net, COUNTY, "PATCH", where, http.upload_fields(0, huge)),
            "Upload-Offset": "0",
            "Upload-Length": str(huge),
        }
    headers["Content-Length"] = str(huge)
    # only the head and a first kilobyte are sent: the answer must not wait for the rest
    answer = raw_http(city_daemon.url, request_head(method, where, headers), [bytes(1024)], 5.0)
    assert answer.status == 413, answer
    assert reason_of(answer.body) == "too-large", answer
    assert answer.seconds < 5.0
    still_serving(net, city_daemon, tmp_path, ledger)


def _zero_frames(net: Net, count: int) -> tuple[bytes, str]:
    """A bundle from the county, validly signed by it, whose chunk section starts with
    ``count`` zero-length frames that are not marked last (the format's chunks are fixed-size:
    only the last may be short); and the item inside."""
    item = net.item_id(COUNTY)
    record = net.signed(item_core(COUNTY, item, [CITY], "零长度数据块"))
    base = net.seal(COUNTY, [CITY], [record])
    lay = parse_layout(base)

    def part(span: tuple[int, int]) -> bytes:
        return base[span[0] : span[1]]

    chunks = b"\x00\x00\x00\x00" * count + part(lay.chunks)
    chain = part(lay.chain)
    message = signature_message(lay.version, part(lay.header), part(lay.keys), chunks, chain)
    signature = net.keys(COUNTY).signing.sign(message)
    trailer = struct.pack(">I", len(chain)) + chain + signature
    return base[: lay.chunks[0]] + chunks + trailer, item


def test_many_zero_length_chunks_in_an_upload_are_refused_in_bounded_time(
    net: Net, city_daemon: Daemon, ledger: Ledger, tmp_path: Path
) -> None:
    data, item = _zero_frames(net, 4 * MIB)  # 16 MiB of 4-byte frames
    ledger.bad.add(item)
    where = "/v1/bundles"
    headers = {
        **auth(net, COUNTY, "POST", where, http.length_fields(len(data))),
        "Content-Length": str(len(data)),
    }
    pieces = (data[i : i + MIB] for i in range(0, len(data), MIB))
    # waited for up to three times the bound, so a failure says what came and when
    head = request_head("POST", where, headers)
    answer = raw_http(city_daemon.url, head, pieces, 3 * ZERO_SECONDS)
    assert 400 <= answer.status < 500, f"{answer.status} {answer.body[:200]!r}"
    assert answer.seconds < ZERO_SECONDS, f"refused after {answer.seconds:.1f} s"
    assert reason_of(answer.body), answer
    still_serving(net, city_daemon, tmp_path, ledger)


def test_a_chunked_body_of_endless_tiny_chunks_is_refused_in_bounded_time(
    net: Net, city_daemon: Daemon, ledger: Ledger, tmp_path: Path
) -> None:
    where = "/v1/bundles"
    headers = {
        **auth(net, COUNTY, "POST", where, http.length_fields(0)),
        "Transfer-Encoding": "chunked",
    }

    def tiny() -> Iterator[bytes]:
        started = time.monotonic()
        while time.monotonic() - started < 6.0:  # bounded: at most 6 s of sending
            yield b"1\r\n\x00\r\n" * 4096

    answer = raw_http(city_daemon.url, request_head("POST", where, headers), tiny(), 8.0)
    assert 400 <= answer.status < 500, answer
    assert reason_of(answer.body), answer
    still_serving(net, city_daemon, tmp_path, ledger)


def test_zz_every_good_upload_was_applied_and_nothing_of_the_attacks(
    net: Net, city_daemon: Daemon, ledger: Ledger, tmp_path: Path
) -> None:
    """After all the cases above: each good upload that followed an attack was applied, and
    no item inside a refused or broken-off upload ever was."""
    if not ledger.good:  # run alone (-k): one good upload of its own to check
        still_serving(net, city_daemon, tmp_path, ledger)
    until(lambda: ledger.good <= inbox_ids(city_daemon.home), "the good uploads applied", WAIT)
    held = inbox_ids(city_daemon.home)
    assert not ledger.bad & held, f"applied from refused uploads: {sorted(ledger.bad & held)}"
    assert alive(city_daemon)
