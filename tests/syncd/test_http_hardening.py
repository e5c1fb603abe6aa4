"""The daemon's HTTP endpoint under attack (syncd/http.py, syncd/daemon.py): a real
``xinbao-syncd run`` on 127.0.0.1, enrolled node homes, raw sockets where the attack is below
what httpx would send. Each refusal is checked for its status and reason, for nothing kept,
and for a good upload still taken afterwards; no daemon log may hold a traceback. Every loop
and wait is bounded."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from starlette.requests import Request

from schema.node import NodeConfig, NodeHome
from schema.vocabulary import Tier
from syncd import daemon as syncdaemon
from syncd import enrolment, http
from syncd.bundle import new_header, read_header, seal
from syncd.config import HttpLimits
from syncd.engine import Engine
from syncd.home import init_node
from syncd.keys import NodeKeys, load_keys
from tests.bench.bench_bundle import NOW, network, small_records
from tests.syncd.daemons import Daemon, until

MIB = 1 << 20
PROVINCE, CITY, SIBLING, COUNTY = "140000", "140200", "140300", "140211"
GRACE = 2.0  # limits.timeout of the daemons here: body grace and idle limit
HEADERS_WITHIN = 1.5  # limits.header_timeout of the daemons here
SETTINGS = {
    "resume_above": 65536,
    "max_upload_bytes": 16 * MIB,
    "timeout": GRACE,
    "min_body_rate": 65536,
    "header_timeout": HEADERS_WITHIN,
    "max_partial_bytes_per_peer": 8 * MIB,
    "max_partial_uploads_per_peer": 3,
}


@dataclass
class Net:
    """A province with two child cities (one the peer, one a third party) and a county under
    the first city (enrolled in the deployment, but no neighbour of the province)."""

    root: Path
    homes: dict[str, NodeHome]

    def keys(self, node: str) -> NodeKeys:
        return load_keys(self.homes[node].path, None)

    def bundle(self, sender: str, to: str, name: str, attachment: int = 0) -> Path:
        """A sealed bundle file (with ``attachment`` random bytes if not 0)."""
        home = self.homes[sender]
        chain = enrolment.load_chain(home) or []
        public = enrolment.encryption_keys(home)
        extra: list[tuple[str, Path]] = []
        if attachment:
            blob = self.root / f"{name}.bin"
            blob.write_bytes(os.urandom(attachment))
            extra.append((hashlib.sha256(blob.read_bytes()).hexdigest(), blob))
        path = self.root / f"{name}.xbb"
        with open(path, "wb") as out:
            header = new_header(sender, [to], datetime.now(UTC))
            keys = self.keys(sender)
            records = small_records(1, keys if sender == CITY else None)  # the city's item
            seal(header, records, keys, chain, public, out, None, extra)
        return path


def _enrol(parent: NodeHome, home: NodeHome, config: NodeConfig) -> None:
    init_node(home, config, "b", NOW)
    _, pem = enrolment.issue_for(parent, enrolment.request(home), NOW)
    enrolment.install(home, pem, NOW)


@pytest.fixture
def net(tmp_path: Path) -> Net:
    province, city = network(tmp_path)
    sibling, county = NodeHome(tmp_path / SIBLING), NodeHome(tmp_path / COUNTY)
    _enrol(province, sibling, NodeConfig(SIBLING, "另一市", Tier.CITY, PROVINCE))
    _enrol(city, county, NodeConfig(COUNTY, "县", Tier.COUNTY, CITY))
    homes = {PROVINCE: province, CITY: city, SIBLING: sibling, COUNTY: county}
    return Net(tmp_path, homes)


@contextlib.contextmanager
def daemon(home: NodeHome, **limits: int | float) -> Iterator[Daemon]:
    """A real daemon for ``home`` with the test limits (and ``limits`` over them); on the way
    out, its log must hold no traceback."""
    settings = {**SETTINGS, **limits}
    lines = "".join(f"{key} = {value!r}\n" for key, value in settings.items())
    (home.path / "syncd.toml").write_text(f"[intervals]\nsend = 0.2\n[limits]\n{lines}", "utf-8")
    running = Daemon(home.path)
    try:
        yield running
    finally:
        running.stop()
    log = (home.path / "daemon.log").read_text("utf-8")
    assert "Traceback" not in log, log
    assert "Exception in ASGI application" not in log, log


def kept(home: NodeHome) -> list[str]:
    """Every file in the node's upload area (``spool/in`` and its partial uploads)."""
    incoming = home.path / "spool" / "in"
    return sorted(str(p.relative_to(incoming)) for p in incoming.rglob("*") if p.is_file())


def logged(home: NodeHome) -> str:
    return (home.path / "daemon.log").read_text("utf-8")


def key_of(bundle: Path) -> str:
    with open(bundle, "rb") as fh:
        return read_header(fh).id


# -- raw HTTP/1.1 on a socket --------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1"
    return await asyncio.open_connection(parts.hostname, parts.port)


async def answer(reader: asyncio.StreamReader, within: float = 10.0) -> Answer:
    async def read() -> Answer:
        top = await reader.readuntil(b"\r\n\r\n")
        status_line, *lines = top.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return Answer(int(status_line.split()[1]), headers, body)

    return await asyncio.wait_for(read(), within)


async def closed(reader: asyncio.StreamReader, within: float = 5.0) -> bool:
    """Whether the node closes the connection within ``within`` seconds."""
    try:
        return await asyncio.wait_for(reader.read(), within) == b""
    except (ConnectionError, OSError):
        return True
    except TimeoutError:
        return False


async def finish(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()


async def exchange(url: str, request: bytes, within: float = 10.0) -> Answer:
    reader, writer = await connect(url)
    try:
        writer.write(request)
        await writer.drain()
        return await answer(reader, within)
    finally:
        await finish(writer)


def post(net: Net, node: str, url: str, bundle: Path) -> httpx.Response:
    """A correctly signed ``POST /v1/bundles`` of ``bundle`` by ``node``."""
    data = bundle.read_bytes()
    headers = http.signed_headers(
        net.keys(node), node, "POST", "/v1/bundles", http.length_fields(len(data))
    )
    return httpx.post(url + "/v1/bundles", content=data, headers=headers, timeout=10)


def push(net: Net, node: str, url: str, bundle: Path) -> str:
    """The daemon's own client (resumable above 64 KiB, like the daemons here)."""

    async def go() -> str:
        async with httpx.AsyncClient(timeout=10) as client:
            return await http.push(client, url, node, net.keys(node), bundle, 65536)

    return asyncio.run(go())


def patch_headers(net: Net, node: str, key: str, offset: int, total: int) -> dict[str, str]:
    where = f"/v1/uploads/{key}"
    return {
        **http.signed_headers(
            net.keys(node), node, "PATCH", where, http.upload_fields(offset, total)
        ),
        "Upload-Offset": str(offset),
        "Upload-Length": str(total),
    }


async def broken_patch(
    net: Net, node: str, url: str, key: str, data: bytes, total: int, send: int
) -> None:
    """A signed PATCH from offset 0 announcing ``total`` bytes, cut after ``send`` of them."""
    _reader, writer = await connect(url)
    try:
        headers = {**patch_headers(net, node, key, 0, total), "Content-Length": str(total)}
        writer.write(head("PATCH", f"/v1/uploads/{key}", headers) + data[:send])
        await writer.drain()
        await asyncio.sleep(0.3)  # the bytes reach the node before the break
    finally:
        await finish(writer)


def held(net: Net, node: str, url: str, key: str) -> int:
    """What the node holds of ``node``'s upload ``key`` (HEAD), 0 for nothing."""
    where = f"/v1/uploads/{key}"
    headers = http.signed_headers(net.keys(node), node, "HEAD", where)
    response = httpx.head(url + where, headers=headers, timeout=10)
    assert response.status_code in (200, 404)
    return int(response.headers.get("upload-offset", "0"))


# -- 1. uploads are bound to an authenticated neighbour ------------------------------------------


def test_a_third_party_cannot_touch_a_peers_partial_upload(net: Net) -> None:
    province = net.homes[PROVINCE]
    big = net.bundle(CITY, PROVINCE, "big", attachment=3 * MIB)
    key, data = key_of(big), big.read_bytes()
    with daemon(province) as node:
        asyncio.run(broken_patch(net, CITY, node.url, key, data, len(data), MIB))
        until(lambda: held(net, CITY, node.url, key) == MIB, "the city's first MiB is kept")
        part = province.path / "spool" / "in" / "partial" / f"{CITY}.{key}.part"
        before = hashlib.sha256(part.read_bytes()).hexdigest()
        where = f"/v1/uploads/{key}"

        # a third party claiming to be the city: unsigned, or signed with its own key
        forged = {**patch_headers(net, SIBLING, key, MIB, len(data)), "X-Xinbao-Node": CITY}
        for headers in (
            {"X-Xinbao-Node": CITY, "Upload-Offset": str(MIB), "Upload-Length": str(len(data))},
            forged,
        ):
            refused = httpx.patch(node.url + where, content=b"x" * 100, headers=headers)
            assert refused.status_code == 401 and refused.json()["reason"] == "unauthorized"
        head_only = httpx.head(node.url + where, headers={"X-Xinbao-Node": CITY})
        assert head_only.status_code == 401 and "upload-offset" not in head_only.headers

        # a neighbour in its own name sees (and appends to) only its own uploads
        assert held(net, SIBLING, node.url, key) == 0
        own = patch_headers(net, SIBLING, key, MIB, len(data))
        wrong = httpx.patch(node.url + where, content=b"x" * 100, headers=own)
        assert wrong.status_code == 409 and wrong.headers["upload-offset"] == "0"
        junk = httpx.patch(
            node.url + where, content=b"x" * 100, headers=patch_headers(net, SIBLING, key, 0, 100)
        )
        assert junk.status_code == 422  # not a bundle: refused, its part deleted

        # enrolled in the deployment but no neighbour of the province
        county = patch_headers(net, COUNTY, key, 0, len(data))
        stranger = httpx.patch(node.url + where, content=b"x" * 100, headers=county)
        assert stranger.status_code == 403 and stranger.json()["reason"] == "unknown-node"

        assert kept(province) == [f"partial/{CITY}.{key}.part"]
        assert hashlib.sha256(part.read_bytes()).hexdigest() == before
        # the real sender resumes from where it was and the node takes the bundle
        assert push(net, CITY, node.url, big) == key
        assert "Traceback" not in logged(province)


def test_unsigned_stale_or_wrongly_signed_uploads_keep_nothing(net: Net) -> None:
    province = net.homes[PROVINCE]
    small = net.bundle(CITY, PROVINCE, "small")
    data = small.read_bytes()
    with daemon(province) as node:
        url = node.url + "/v1/bundles"
        length = http.length_fields(len(data))
        good = http.signed_headers(net.keys(CITY), CITY, "POST", "/v1/bundles", length)
        cases = {
            "unauthorized": [
                {"X-Xinbao-Node": CITY},  # the old protocol: a name, no proof
                {**good, "X-Xinbao-Signature": "00" * 64},
                # signed for another length: the body may not be swapped for a longer one
                http.signed_headers(
                    net.keys(CITY), CITY, "POST", "/v1/bundles", http.length_fields(len(data) + 1)
                ),
                {
                    **http.signed_headers(
                        net.keys(SIBLING), SIBLING, "POST", "/v1/bundles", length
                    ),
                    "X-Xinbao-Node": CITY,
                },
            ],
            "stale": [{**good, "X-Xinbao-Time": str(int(time.time()) - 3600)}],
            "unknown-node": [
                http.signed_headers(net.keys(COUNTY), COUNTY, "POST", "/v1/bundles", length)
            ],
        }
        for reason, attempts in cases.items():
            for headers in attempts:
                refused = httpx.post(url, content=data, headers=headers, timeout=10)
                assert refused.json()["reason"] == reason, headers
                assert refused.status_code == (403 if reason == "unknown-node" else 401)
                assert refused.headers["connection"] == "close"
                assert "message" in refused.json()
        assert kept(province) == []
        taken = post(net, CITY, node.url, small)
        assert taken.status_code == 200 and taken.json() == {"id": key_of(small)}


def test_the_parent_may_upload_to_its_child_but_not_pull_from_it(net: Net) -> None:
    city = net.homes[CITY]
    down = net.bundle(PROVINCE, CITY, "down")
    with daemon(city) as node:
        where = f"/v1/pull/{PROVINCE}"
        listing = httpx.get(
            node.url + where,
            headers=http.signed_headers(net.keys(PROVINCE), PROVINCE, "GET", where),
        )
        assert listing.status_code == 403 and listing.json()["reason"] == "unknown-node"
        assert push(net, PROVINCE, node.url, down) == key_of(down)


# -- 2. replays ------------------------------------------------------------------------------------


def test_a_replayed_pull_request_is_refused(net: Net) -> None:
    with daemon(net.homes[PROVINCE]) as node:
        where = f"/v1/pull/{CITY}"
        headers = http.signed_headers(net.keys(CITY), CITY, "GET", where)
        first = httpx.get(node.url + where, headers=headers)
        assert first.status_code == 200 and first.json() == []
        again = httpx.get(node.url + where, headers=headers)
        assert again.status_code == 401 and again.json()["reason"] == "replay"
        # the acknowledgement too
        ack, body = f"{where}/ack", json.dumps({"names": []}).encode()
        signed = http.signed_headers(net.keys(CITY), CITY, "POST", ack, http.body_fields(body))
        assert httpx.post(node.url + ack, content=body, headers=signed).status_code == 200
        replayed = httpx.post(node.url + ack, content=body, headers=signed)
        assert replayed.status_code == 401 and replayed.json()["reason"] == "replay"
        # a child pulls only for itself; unsigned pulls are refused
        other = f"/v1/pull/{SIBLING}"
        spoofed = http.signed_headers(net.keys(CITY), CITY, "GET", other)
        assert httpx.get(node.url + other, headers=spoofed).status_code == 401
        assert httpx.get(node.url + where, headers={"X-Xinbao-Node": CITY}).status_code == 401

        # fresh requests go on working: the daemon's own client
        async def pull() -> list[Path]:
            async with httpx.AsyncClient(timeout=10) as client:
                return await http.pull(client, node.url, CITY, net.keys(CITY), net.root)

        assert asyncio.run(pull()) == []


def test_a_replayed_upload_request_is_refused(net: Net) -> None:
    province = net.homes[PROVINCE]
    small, other = net.bundle(CITY, PROVINCE, "small"), net.bundle(CITY, PROVINCE, "other")
    with daemon(province) as node:
        data = small.read_bytes()
        headers = http.signed_headers(
            net.keys(CITY), CITY, "POST", "/v1/bundles", http.length_fields(len(data))
        )
        url = node.url + "/v1/bundles"
        assert httpx.post(url, content=data, headers=headers).status_code == 200
        until(lambda: kept(province) == [], "the engine takes the upload in")
        # the same request again, and its headers with another body of the same length
        swapped = other.read_bytes()[: len(data)].ljust(len(data), b"\0")
        for body in (data, swapped):
            replay = httpx.post(url, content=body, headers=headers)
            assert replay.status_code == 401 and replay.json()["reason"] == "replay"
        where = f"/v1/uploads/{key_of(small)}"
        probe = http.signed_headers(net.keys(CITY), CITY, "HEAD", where)
        assert httpx.head(node.url + where, headers=probe).status_code == 404
        assert httpx.head(node.url + where, headers=probe).status_code == 401
        assert kept(province) == []
        assert post(net, CITY, node.url, other).status_code == 200


def test_a_neighbour_with_too_many_live_nonces_is_asked_to_wait(net: Net) -> None:
    with daemon(net.homes[PROVINCE], max_nonces_per_peer=3) as node:

        def pull(node_id: str) -> httpx.Response:
            where = f"/v1/pull/{node_id}"
            headers = http.signed_headers(net.keys(node_id), node_id, "GET", where)
            return httpx.get(node.url + where, headers=headers)

        assert [pull(CITY).status_code for _ in range(3)] == [200, 200, 200]
        full = pull(CITY)
        assert full.status_code == 429 and full.json()["reason"] == "rate-limited"
        assert pull(SIBLING).status_code == 200  # per neighbour


# -- 3. hostile bodies -----------------------------------------------------------------------------


def test_a_deeply_nested_acknowledgement_is_a_400_not_a_crash(net: Net) -> None:
    province = net.homes[PROVINCE]
    ack = f"/v1/pull/{CITY}/ack"
    with daemon(province) as node:
        for body in (
            b"[" * 200_000,
            b'{"names": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            b'{"names": "x"}',
            b'{"names": [1e999999]}',
        ):
            headers = http.signed_headers(net.keys(CITY), CITY, "POST", ack, http.body_fields(body))
            refused = httpx.post(node.url + ack, content=body, headers=headers)
            assert refused.status_code == 400 and refused.json()["reason"] == "bad-request"
        # larger than any acknowledgement: refused from its Content-Length
        big = b" " * (http.MAX_ACK_BYTES + 1)
        headers = http.signed_headers(net.keys(CITY), CITY, "POST", ack, http.body_fields(big))
        request = head("POST", ack, {**headers, "Content-Length": str(len(big))})
        too_large = asyncio.run(exchange(node.url, request))
        assert too_large.status == 413 and too_large.json()["reason"] == "too-large"
        assert "RecursionError" not in logged(province)
        small = net.bundle(CITY, PROVINCE, "small")
        assert post(net, CITY, node.url, small).status_code == 200


def test_a_client_that_drops_mid_upload_leaves_nothing(net: Net) -> None:
    province = net.homes[PROVINCE]
    big = net.bundle(CITY, PROVINCE, "big", attachment=2 * MIB)
    data = big.read_bytes()
    with daemon(province, resume_above=64 * MIB) as node:

        async def drop() -> None:
            _reader, writer = await connect(node.url)
            headers = {
                **http.signed_headers(
                    net.keys(CITY), CITY, "POST", "/v1/bundles", http.length_fields(len(data))
                ),
                "Content-Length": str(len(data)),
            }
            writer.write(head("POST", "/v1/bundles", headers) + data[:MIB])
            await writer.drain()
            await asyncio.sleep(0.3)
            await finish(writer)

        asyncio.run(drop())
        until(lambda: "upload broken off" in logged(province), "one line in the log")
        until(lambda: kept(province) == [], "the temporary file is removed")
        assert post(net, CITY, node.url, big).status_code == 200


def test_a_huge_content_length_is_refused_at_once(net: Net) -> None:
    province = net.homes[PROVINCE]
    with daemon(province) as node:
        huge = str(10**13)
        for method, path, extra in (
            ("POST", "/v1/bundles", {}),
            ("PATCH", "/v1/uploads/abc", {"Upload-Offset": "0", "Upload-Length": huge}),
            ("PATCH", "/v1/uploads/abc", {"Upload-Offset": "0", "Upload-Length": "100"}),
            ("POST", f"/v1/pull/{CITY}/ack", {}),
        ):

            async def ask(
                method: str = method, path: str = path, extra: dict[str, str] = extra
            ) -> tuple[Answer, bool, float]:
                start = time.monotonic()
                reader, writer = await connect(node.url)
                try:
                    writer.write(head(method, path, {**extra, "Content-Length": huge}))
                    await writer.drain()
                    got = await answer(reader, 5)
                    return got, await closed(reader), time.monotonic() - start
                finally:
                    await finish(writer)

            got, shut, took = asyncio.run(ask())
            assert got.status == 413 and got.json()["reason"] == "too-large", (method, path)
            assert shut and took < 2.0
        assert kept(province) == []
        assert post(net, CITY, node.url, net.bundle(CITY, PROVINCE, "small")).status_code == 200


def test_slow_and_chunked_bodies_are_cut_off_in_bounded_time(net: Net) -> None:
    province = net.homes[PROVINCE]
    with daemon(province) as node:
        length = MIB

        def signed_post() -> dict[str, str]:
            fields = http.length_fields(length)
            headers = http.signed_headers(net.keys(CITY), CITY, "POST", "/v1/bundles", fields)
            return {**headers, "Content-Length": str(length)}

        async def stall() -> tuple[Answer, float]:
            start = time.monotonic()
            reader, writer = await connect(node.url)
            try:
                writer.write(head("POST", "/v1/bundles", signed_post()) + b"x" * 10)
                await writer.drain()
                return await answer(reader, 4 * GRACE), time.monotonic() - start
            finally:
                await finish(writer)

        async def trickle() -> tuple[Answer, float]:
            # never idle for the grace, but far below the floor rate
            start = time.monotonic()
            reader, writer = await connect(node.url)
            try:
                writer.write(head("POST", "/v1/bundles", signed_post()))
                reply = asyncio.ensure_future(answer(reader, 4 * GRACE))
                for _ in range(40):  # at most 10 s
                    if reply.done():
                        break
                    with contextlib.suppress(ConnectionError, OSError):
                        writer.write(b"x")
                        await writer.drain()
                    await asyncio.sleep(0.25)
                return await reply, time.monotonic() - start
            finally:
                await finish(writer)

        async def chunked() -> tuple[Answer, bool, float]:
            # the zero-length-chunk flood: refused from the headers, nothing of it is parsed
            start = time.monotonic()
            reader, writer = await connect(node.url)
            try:
                headers = {**signed_post(), "Transfer-Encoding": "chunked"}
                writer.write(head("POST", "/v1/bundles", headers))
                await writer.drain()
                got = await answer(reader, 5)
                shut = await closed(reader)
                return got, shut, time.monotonic() - start
            finally:
                await finish(writer)

        for attempt in (stall, trickle):
            got, took = asyncio.run(attempt())
            assert got.status == 408 and got.json()["reason"] == "too-slow", attempt.__name__
            assert took < GRACE + 2.0, (attempt.__name__, took)
        got, shut, took = asyncio.run(chunked())
        assert got.status == 411 and got.json()["reason"] == "length-required"
        assert shut and took < 2.0
        until(lambda: kept(province) == [], "no temporary file left")
        assert post(net, CITY, node.url, net.bundle(CITY, PROVINCE, "small")).status_code == 200


def chunks_start(data: bytes) -> int:
    """Where the chunk section of a bundle file begins (the documented layout: magic, version,
    header size and header, then the wrapped keys, each with its recipient id; from version 3
    each key also has a leaf index and a suite, and the proof's hashes follow)."""
    (version,) = struct.unpack_from(">H", data, 8)
    tree = version >= 3
    (size,) = struct.unpack_from(">I", data, 10)
    pos = 14 + size + (4 if tree else 0)  # version 3: the keys section's u32 length
    (count,) = struct.unpack_from(">H", data, pos)
    pos += 2
    for _ in range(count):
        pos += 2 if tree else 0
        pos += 1 + data[pos] + (1 if tree else 0)
        (length,) = struct.unpack_from(">H", data, pos)
        pos += 2 + length
    if tree:
        (hashes,) = struct.unpack_from(">H", data, pos)
        pos += 2 + 32 * hashes
    return pos


def test_a_bundle_of_empty_chunk_frames_is_refused_without_walking_them(net: Net) -> None:
    province = net.homes[PROVINCE]
    base = net.bundle(CITY, PROVINCE, "base").read_bytes()
    at = chunks_start(base)
    data = base[:at] + b"\0\0\0\0" * (3 * MIB) + base[at:]  # 12 MiB of empty frames
    bad = net.root / "frames.xbb"
    bad.write_bytes(data)
    with daemon(province, max_partial_bytes_per_peer=64 * MIB) as node:
        start = time.monotonic()
        refused = post(net, CITY, node.url, bad)
        took = time.monotonic() - start
        assert refused.status_code == 422 and refused.json()["reason"] == "chunk-invalid"
        assert took < 3.0, took  # walking 3 Mi frames one by one takes several seconds
        until(lambda: kept(province) == [], "nothing kept")
        assert post(net, CITY, node.url, net.bundle(CITY, PROVINCE, "small")).status_code == 200


def test_empty_body_pieces_are_capped() -> None:
    """A server below uvicorn might hand over empty pieces without end: still cut off."""

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"type": "http.request", "body": b"", "more_body": True}

    async def read() -> None:
        request = Request({"type": "http", "method": "POST", "headers": []}, receive)
        limits = HttpLimits(timeout=GRACE, min_body_rate=65536)
        async for _ in http._body(request, 100, limits):
            pass

    with pytest.raises(http._Cut) as cut:
        asyncio.run(asyncio.wait_for(read(), 5))
    assert cut.value.refusal.status == 408


def test_a_request_line_and_headers_must_come_in_time(net: Net) -> None:
    with daemon(net.homes[PROVINCE]) as node:

        async def dribble() -> tuple[bool, float]:
            start = time.monotonic()
            reader, writer = await connect(node.url)
            try:
                writer.write(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                for _ in range(40):  # at most 12 s
                    with contextlib.suppress(ConnectionError, OSError):
                        writer.write(b"X-Slow: 1\r\n")
                        await writer.drain()
                    if await closed(reader, 0.3):
                        return True, time.monotonic() - start
                return False, time.monotonic() - start
            finally:
                await finish(writer)

        shut, took = asyncio.run(dribble())
        assert shut and took < HEADERS_WITHIN + 2.0
        # headers that grow past max_header_bytes without ending: refused, nothing more held
        unfinished = head("GET", "/v1/health", {"X-Big": "x" * 40_000})[:-4]
        assert asyncio.run(exchange(node.url, unfinished)).status == 400
        assert httpx.get(node.url + "/v1/health").json()["ok"] is True


# -- quotas ---------------------------------------------------------------------------------------


def test_a_peers_partial_uploads_are_held_within_its_quota(net: Net) -> None:
    province = net.homes[PROVINCE]
    chunk = os.urandom(MIB)
    with daemon(province) as node:
        url = node.url

        def start(node_id: str, key: str, total: int) -> None:
            asyncio.run(broken_patch(net, node_id, url, key, chunk, total, MIB))
            until(lambda: held(net, node_id, url, key) == MIB, f"{key} is kept")

        start(CITY, "k1", 6 * MIB)
        start(CITY, "k2", 6 * MIB)  # 1 + 6 of 8 MiB

        def attempt(key: str, total: int) -> httpx.Response:
            headers = patch_headers(net, CITY, key, 0, total)
            return httpx.patch(url + f"/v1/uploads/{key}", content=b"x" * 1000, headers=headers)

        over = attempt("k3", 7 * MIB)  # 1 + 1 + 7 > 8: the others must finish first
        assert over.status_code == 429 and over.json()["reason"] == "quota"
        never = attempt("k3", 9 * MIB)  # more than the whole quota
        assert never.status_code == 413 and never.json()["reason"] == "too-large"
        start(CITY, "k3", 2 * MIB)  # 1 + 1 + 2 fits, the third part
        many = attempt("k4", 1000)
        assert many.status_code == 429 and many.json()["reason"] == "too-many-uploads"
        start(SIBLING, "k4", 6 * MIB)  # another neighbour has its own quota

        parts = sorted(
            f"partial/{n}.{k}.part"
            for n, k in [(CITY, "k1"), (CITY, "k2"), (CITY, "k3"), (SIBLING, "k4")]
        )
        assert kept(province) == parts
        # a small bundle still fits beside them
        assert post(net, CITY, url, net.bundle(CITY, PROVINCE, "small")).status_code == 200


# -- 3 and 5, in process: no traceback for a bug; uploads never wait for the engine -------------


@contextlib.asynccontextmanager
async def serving(engine: Engine, run: Callable[..., Awaitable[Any]]) -> AsyncIterator[str]:
    """``http.make_app`` served by uvicorn on 127.0.0.1 in this event loop, with ``run`` for
    the engine's thread and a pool of its own for the checks."""
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=2)

    async def check(fn: Callable[..., Any], *args: Any) -> Any:
        return await loop.run_in_executor(pool, fn, *args)

    app = http.make_app(run, check, engine, lambda: None, frozenset)
    sock = syncdaemon._bind("127.0.0.1", 0, 16)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.01)
        host, port = sock.getsockname()[:2]
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        pool.shutdown(wait=True)
        sock.close()


def test_uploads_are_checked_while_the_engine_thread_is_busy(net: Net) -> None:
    province = net.homes[PROVINCE]
    (province.path / "syncd.toml").write_text(
        "[limits]\n" + "".join(f"{k} = {v!r}\n" for k, v in SETTINGS.items()), "utf-8"
    )
    small, big = net.bundle(CITY, PROVINCE, "small"), net.bundle(CITY, PROVINCE, "big", MIB)
    engine = Engine(province)
    try:

        async def blocked(fn: Callable[..., Any], *args: Any) -> Any:
            await asyncio.Event().wait()  # the engine's thread is stuck in a drop folder

        async def main() -> tuple[int, str]:
            async with serving(engine, blocked) as url:
                sent = await asyncio.to_thread(post, net, CITY, url, small)
                resumed = await asyncio.to_thread(push, net, CITY, url, big)
                return sent.status_code, resumed

        status, resumed = asyncio.run(asyncio.wait_for(main(), 30))
        assert status == 200 and resumed == key_of(big)
        # kept as SENDER-ID-TOKEN.xbb (two copies of one bundle may differ in their keys)
        incoming = sorted(p.name.rsplit("-", 1)[0] for p in engine.incoming.glob("*.xbb"))
        assert incoming == sorted(f"{CITY}-{key_of(b)}" for b in (small, big))
    finally:
        engine.close()


def test_a_bug_in_a_handler_is_a_logged_500_without_traceback(
    net: Net, caplog: pytest.LogCaptureFixture
) -> None:
    engine = Engine(net.homes[PROVINCE])
    try:

        async def broken(fn: Callable[..., Any], *args: Any) -> Any:
            raise RuntimeError("the store is gone")

        async def main() -> httpx.Response:
            async with serving(engine, broken) as url:
                where = f"/v1/pull/{CITY}"
                headers = http.signed_headers(net.keys(CITY), CITY, "GET", where)
                async with httpx.AsyncClient(timeout=10) as client:
                    return await client.get(url + where, headers=headers)

        with caplog.at_level(logging.INFO):
            answer_ = asyncio.run(asyncio.wait_for(main(), 30))
        assert answer_.status_code == 500
        assert answer_.json() == {"reason": "internal", "message": "节点内部错误，请稍后再试"}
        failed = [r for r in caplog.records if "handler failed" in r.getMessage()]
        assert len(failed) == 1 and "RuntimeError" in failed[0].getMessage()
        assert not [r for r in caplog.records if r.exc_info and r.levelno >= logging.INFO]
        assert not [r for r in caplog.records if "Exception in ASGI" in r.getMessage()]
    finally:
        engine.close()
