"""Benchmark: sealing and opening bundles (run by hand; prints figures).

    .venv/bin/python tests/bench/bench_bundle.py [--small 10000] [--large-mib 512]

Measures, on this machine:
  * 10,000 bundles of ~4 KiB: sealed, then opened (verified, decrypted) and applied to a store
    (bundles/s); target ≥ 3,000 verified and applied per second;
  * one large payload (512 MiB of attachment-like records): seal and open in MiB/s with peak RSS,
    next to the machine's limit for the same bytes — the slower of raw ChaCha20-Poly1305 over them
    and an fsync'd write of them; targets ≥ 0.5× that limit and peak RSS ≤ 64 MiB.
The NNCP comparison of the issue needs the Debian package ``nncp``; it is not measured here.
"""

from __future__ import annotations

import argparse
import base64
import os
import resource
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from schema.desk import item_record
from schema.inbound import apply
from schema.itemfile import parse_item
from schema.node import NodeConfig, NodeHome
from schema.record import Item, Record
from schema.store import Store
from schema.vocabulary import Tier
from syncd import enrolment
from syncd.bundle import new_header, opened_stream, seal
from syncd.home import init_node
from syncd.keys import load_keys

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
MIB = 1 << 20


def rss_mib() -> float:
    """Peak resident set size of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def network(root: Path) -> tuple[NodeHome, NodeHome]:
    province, city = NodeHome(root / "140000"), NodeHome(root / "140200")
    init_node(province, NodeConfig("140000", "省", Tier.PROVINCE), "b", NOW)
    init_node(city, NodeConfig("140200", "市", Tier.CITY, "140000"), "b", NOW)
    _, pem = enrolment.issue_for(province, enrolment.request(city), NOW)
    enrolment.install(city, pem, NOW)
    return province, city


def small_records(i: int) -> list[dict[str, Any]]:
    """About 4 KiB of item record, with a unique id."""
    body = ("入冬以来，新荣区聚焦困难群众取暖保障，摸清底数、兜牢底线。" * 20)[:1200]
    d = parse_item(
        {
            "title": f"第{i}条 新荣区多措并举保障困难群众温暖过冬",
            "body": body,
            "category": "经验做法",
            "author": "张三",
        }
    )
    item = Item(
        id=f"140200-2026-{i:06d}",
        seq=i,
        origin="140200",
        revision=1,
        draft=d,
        created_at=NOW,
        updated_at=NOW,
        signer="王某",
        signed_at=NOW,
    )
    record = item_record(item, "140200", ("140000",))
    return [
        {
            "id": record.id,
            "kind": record.kind,
            "version": record.version,
            "origin": record.origin,
            "payload": record.payload,
        }
    ]


def bench_small(province: NodeHome, city: NodeHome, count: int, folder: Path) -> None:
    keys, chain = load_keys(city.path, None), enrolment.load_chain(city) or []
    public = enrolment.encryption_keys(city)
    start = time.perf_counter()
    paths = []
    for i in range(count):
        path = folder / f"{i}.xbb"
        with open(path, "wb") as out:
            seal(new_header("140200", ["140000"], NOW), small_records(i), keys, chain, public, out)
        paths.append(path)
    sealed = time.perf_counter() - start
    size = sum(p.stat().st_size for p in paths) / count
    pkeys, root = load_keys(province.path, None), enrolment.load_root(province)
    assert root is not None
    store = Store.open(province.path / "bench.db")
    start = time.perf_counter()
    for path in paths:
        with (
            open(path, "rb") as fh,
            opened_stream(fh, "140000", pkeys, root, NOW) as opened,
            store.write(),
        ):
            for raw in opened.records:
                apply(
                    store,
                    Record(raw["id"], raw["kind"], raw["version"], raw["origin"], raw["payload"]),
                    "140000",
                )
    opened = time.perf_counter() - start
    store.close()
    print(f"small bundles: {count:,} of {size / 1024:.1f} KiB")
    print(f"  seal              {count / sealed:8,.0f} bundles/s")
    verdict = "PASS" if count / opened >= 3000 else "MISS"
    print(f"  open+verify+apply {count / opened:8,.0f} bundles/s   target ≥ 3,000  {verdict}")


def large_records(total: int) -> Iterator[dict[str, Any]]:
    """Attachment-like records: 48 KiB of random bytes each, base64 in JSON."""
    piece = 48 * 1024
    for n in range(total // piece):
        blob = secrets.token_bytes(piece)
        yield {"kind": "attachment-piece", "n": n, "data": base64.b64encode(blob).decode()}


def machine_limit(total: int, folder: Path) -> float:
    """MiB/s of the slower of raw AEAD over ``total`` bytes and an fsync'd write of them."""
    aead = ChaCha20Poly1305(ChaCha20Poly1305.generate_key())
    block = secrets.token_bytes(64 * 1024)
    nonce = bytes(12)
    start = time.perf_counter()
    for _ in range(total // len(block)):
        aead.encrypt(nonce, block, None)
    crypt = total / MIB / (time.perf_counter() - start)
    path = folder / "raw"
    start = time.perf_counter()
    with open(path, "wb") as fh:
        for _ in range(total // len(block)):
            fh.write(block)
        fh.flush()
        os.fsync(fh.fileno())
    write = total / MIB / (time.perf_counter() - start)
    path.unlink()
    print(f"  machine: AEAD {crypt:,.0f} MiB/s, fsync'd write {write:,.0f} MiB/s")
    return min(crypt, write)


def bench_large(province: NodeHome, city: NodeHome, mib: int, folder: Path) -> None:
    total = mib * MIB
    limit = machine_limit(total, folder)
    keys, chain = load_keys(city.path, None), enrolment.load_chain(city) or []
    path = folder / "large.xbb"
    start = time.perf_counter()
    with open(path, "wb") as out:
        seal(
            new_header("140200", ["140000"], NOW),
            large_records(total),
            keys,
            chain,
            enrolment.encryption_keys(city),
            out,
        )
        out.flush()
        os.fsync(out.fileno())
    sealed = total / MIB / (time.perf_counter() - start)
    rss_after_seal = rss_mib()
    pkeys, root = load_keys(province.path, None), enrolment.load_root(province)
    assert root is not None
    start = time.perf_counter()
    count = 0
    with open(path, "rb") as fh, opened_stream(fh, "140000", pkeys, root, NOW) as opened:
        for _ in opened.records:
            count += 1
    opened = total / MIB / (time.perf_counter() - start)
    size = path.stat().st_size / MIB
    print(f"large payload: {mib} MiB in {count:,} records, bundle {size:,.0f} MiB")
    for name, rate in (("seal", sealed), ("open", opened)):
        verdict = "PASS" if rate >= 0.5 * limit else "MISS"
        ratio = rate / limit
        print(f"  {name:4} {rate:8,.1f} MiB/s = {ratio:4.2f}× limit  target ≥ 0.5×  {verdict}")
    peak = max(rss_after_seal, rss_mib())
    print(f"  peak RSS {peak:,.0f} MiB   target ≤ 64 MiB  {'PASS' if peak <= 64 else 'MISS'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large-mib", type=int, default=512)
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpu")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        province, city = network(root)
        print(f"start RSS {rss_mib():,.0f} MiB")
        if args.large_mib:
            bench_large(province, city, args.large_mib, root)
        if args.small:
            (root / "small").mkdir()
            bench_small(province, city, args.small, root / "small")
    return 0


if __name__ == "__main__":
    sys.exit(main())
