"""Resumable uploads (syncd/http.py): a broken upload of a large bundle goes on from where it
stopped, against a real daemon on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from schema.node import NodeHome
from schema.store import Store
from syncd import enrolment, http
from syncd.bundle import new_header, read_header, seal
from syncd.engine import Engine
from syncd.keys import NodeKeys, load_keys
from tests.bench.bench_bundle import network, small_records
from tests.syncd.daemons import Daemon, until

MIB = 1 << 20
CITY = "140200"


@pytest.fixture
def province(tmp_path: Path) -> Iterator[tuple[Daemon, Path, NodeKeys]]:
    """The province's daemon (resumable above 64 KiB), a 6 MiB bundle from the city and the
    city's keys (every upload request is signed by the neighbour that makes it)."""
    province, city = network(tmp_path)
    (province.path / "syncd.toml").write_text(
        "[intervals]\nsend = 0.2\n[limits]\nresume_above = 65536\nmax_upload_bytes = 16777216\n",
        "utf-8",
    )
    attachment = tmp_path / "photo.bin"
    attachment.write_bytes(os.urandom(6 * MIB))
    digest = hashlib.sha256(attachment.read_bytes()).hexdigest()
    keys, chain = load_keys(city.path, None), enrolment.load_chain(city) or []
    bundle = tmp_path / "big.xbb"
    with open(bundle, "wb") as out:
        header = new_header("140200", ["140000"], datetime.now(UTC))
        public = enrolment.encryption_keys(city)
        seal(header, small_records(1, keys), keys, chain, public, out, None, [(digest, attachment)])
    daemon = Daemon(province.path)
    try:
        yield daemon, bundle, keys
    finally:
        daemon.stop()


def _items(home: Path) -> int:
    store = Store.open(home / "store.db")
    try:
        return int(store.query("SELECT count(*) AS n FROM item")[0]["n"])
    finally:
        store.close()


async def _broken_upload(url: str, path: Path, keys: NodeKeys, stop_after: int) -> None:
    """Start a resumable upload and break the connection after ``stop_after`` bytes."""

    async def pieces() -> AsyncIterator[bytes]:
        with open(path, "rb") as fh:
            yield fh.read(stop_after)
        await asyncio.sleep(0.3)  # let the bytes reach the node before the break
        raise ConnectionResetError("cable pulled")

    with open(path, "rb") as fh:
        key = read_header(fh).id
    total = path.stat().st_size
    where = f"/v1/uploads/{key}"
    headers = {
        **http.signed_headers(keys, CITY, "PATCH", where, http.upload_fields(0, total)),
        "Upload-Offset": "0",
        "Upload-Length": str(total),
        "Content-Length": str(total),
    }
    async with httpx.AsyncClient(timeout=10) as client:
        with pytest.raises((httpx.HTTPError, ConnectionResetError)):
            await client.patch(url + where, content=pieces(), headers=headers)


async def _offset(url: str, key: str, keys: NodeKeys) -> int:
    where = f"/v1/uploads/{key}"
    async with httpx.AsyncClient(timeout=10) as client:
        headers = http.signed_headers(keys, CITY, "HEAD", where)
        answer = await client.head(url + where, headers=headers)
    return int(answer.headers.get("upload-offset", "0")) if answer.status_code == 200 else 0


def test_a_broken_upload_resumes_from_what_the_node_holds(
    province: tuple[Daemon, Path, NodeKeys], monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon, bundle, keys = province
    with open(bundle, "rb") as fh:
        key = read_header(fh).id
    asyncio.run(_broken_upload(daemon.url, bundle, keys, 2 * MIB))
    held = until(
        lambda: asyncio.run(_offset(daemon.url, key, keys)), "the node keeps the first part"
    )
    assert held == 2 * MIB
    assert _items(daemon.home) == 0  # nothing applied from a part

    starts: list[int] = []
    pieces = http._pieces

    def counted(path: Path, start: int = 0) -> AsyncIterator[bytes]:
        starts.append(start)
        return pieces(path, start)

    monkeypatch.setattr(http, "_pieces", counted)

    async def resume() -> str:
        async with httpx.AsyncClient(timeout=10) as client:
            return await http.push(client, daemon.url, CITY, keys, bundle, resume_above=65536)

    assert asyncio.run(resume()) == key
    assert starts == [2 * MIB]  # only the rest was sent
    until(lambda: _items(daemon.home) == 1, "the bundle is applied once whole")
    assert not list((daemon.home / "spool" / "in" / "partial").iterdir())


def test_an_upload_from_the_wrong_offset_or_too_large_is_refused(
    province: tuple[Daemon, Path, NodeKeys],
) -> None:
    daemon, bundle, keys = province
    total = bundle.stat().st_size

    async def attempt(offset: int, length: int) -> httpx.Response:
        where = "/v1/uploads/abc"
        headers = {
            **http.signed_headers(keys, CITY, "PATCH", where, http.upload_fields(offset, length)),
            "Upload-Offset": str(offset),
            "Upload-Length": str(length),
        }
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.patch(daemon.url + where, content=b"x", headers=headers)

    wrong = asyncio.run(attempt(5, total))
    assert wrong.status_code == 409 and wrong.headers["upload-offset"] == "0"
    huge = asyncio.run(attempt(0, 32 * MIB))
    assert huge.status_code == 413 and huge.json()["reason"] == "too-large"


def test_interrupted_uploads_nobody_resumes_are_deleted(tmp_path: Path) -> None:
    province, _ = network(tmp_path)
    engine = Engine(NodeHome(province.path))
    try:
        partial = engine.incoming / "partial"
        partial.mkdir(exist_ok=True)
        old, fresh = partial / "140200-old.part", partial / "140200-new.part"
        old.write_bytes(b"x")
        fresh.write_bytes(b"y")
        day_ago = (datetime.now(UTC) - timedelta(days=2)).timestamp()
        os.utime(old, (day_ago, day_ago))
        assert engine.sweep(datetime.now(UTC)) == 1
        assert not old.exists() and fresh.exists()
    finally:
        engine.close()
