"""Receiving in batches (syncd/receive.py): a refused bundle is undone alone, the rest commit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schema.node import NodeHome
from schema.store import Store
from syncd import enrolment, receive
from syncd.bundle import new_header, seal
from syncd.keys import load_keys
from syncd.receive import Receiver
from tests.bench.bench_bundle import NOW, network, small_records


@pytest.fixture
def homes(tmp_path: Path) -> tuple[Path, Path, Path]:
    province, city = network(tmp_path)
    keys, chain = load_keys(city.path, None), enrolment.load_chain(city) or []
    public = enrolment.encryption_keys(city)
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(7):
        with open(folder / f"{i}.xbb", "wb") as out:
            header = new_header("140200", ["140000"], NOW)
            seal(header, small_records(i, keys), keys, chain, public, out)
    return province.path, city.path, folder


def _items(home: Path) -> list[str]:
    store = Store.open(home / "store.db")
    try:
        return [r["id"] for r in store.query("SELECT id FROM item ORDER BY id")]
    finally:
        store.close()


def _receipts(home: Path) -> list[list[str]]:
    store = Store.open(home / "store.db")
    try:
        rows = store.query("SELECT payload FROM outbox WHERE kind = 'receipt' ORDER BY seq")
    finally:
        store.close()
    return [json.loads(r["payload"])["bundles"] for r in rows]


@pytest.mark.parametrize("batch", [1, 2, 3, 1024])
def test_refused_bundles_are_quarantined_alone_whatever_the_batch(
    homes: tuple[Path, Path, Path], batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(receive, "BATCH", batch)
    province, _, folder = homes
    files = sorted(folder.iterdir())
    for bad in (files[1], files[4], files[5]):
        data = bytearray(bad.read_bytes())
        data[-3] ^= 1  # the signature
        bad.write_bytes(bytes(data))
    # the same good bundle twice in one run: applied once, then a duplicate
    (folder / "7.xbb").write_bytes(files[2].read_bytes())
    files = sorted(folder.iterdir())
    with Receiver(NodeHome(province)) as receiver:
        report = receiver.receive(files, NOW)
    assert sorted(report.applied) == ["0.xbb", "2.xbb", "3.xbb", "6.xbb"]
    assert report.duplicate == ["7.xbb"]
    assert sorted(report.quarantined) == [
        ("1.xbb", "signature"),
        ("4.xbb", "signature"),
        ("5.xbb", "signature"),
    ]
    assert report.records == 4
    assert _items(province) == [f"140200-2026-{i:06d}" for i in (0, 2, 3, 6)]
    # end-to-end receipts: one record per sender and batch, listing every applied bundle
    receipts = _receipts(province)
    # (the duplicate is acknowledged again when it falls in a later batch)
    listed = [b for r in receipts for b in r]
    assert len(set(listed)) == 4
    if batch == 1024:  # a refusal ends a batch at it: at most one record per stretch
        assert len(receipts) <= 1 + len(report.quarantined) < len(listed)
    # the seen-set holds exactly the applied ones: a second run applies nothing
    with Receiver(NodeHome(province)) as receiver:
        again = receiver.receive(files, NOW)
    assert sorted(again.duplicate) == ["0.xbb", "2.xbb", "3.xbb", "6.xbb", "7.xbb"]
    assert again.applied == []


def test_progress_is_reported_per_batch(
    homes: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(receive, "BATCH", 3)
    province, _, folder = homes
    seen: list[tuple[int, int]] = []
    with Receiver(NodeHome(province)) as receiver:
        receiver.receive(sorted(folder.iterdir()), NOW, lambda d, t: seen.append((d, t)))
    assert seen == [(3, 7), (6, 7), (7, 7)]
