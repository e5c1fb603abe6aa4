"""Benchmark: ``xinbao show`` at scale (issue 19) — ``view.show`` of items of a large store,
the near-duplicate check (the ±14-day window compared through the kept sketches) included,
against the target (≤ 100 ms at 1M items), and the same check scoring every text of the
window (what ``show`` did before) for scale.

    .venv/bin/python -m tests.bench.bench_show [--items N] [--path FILE]

The store is bench_store's (built when FILE is missing; rows written in bulk, so the first
look at a window makes its sketches — timed apart as the one-off it is after an upgrade).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from schema import item as items
from schema import similar, view
from schema.store import Store
from tests.bench.bench_store import build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--path", type=Path)
    parser.add_argument("--looks", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = args.path or Path(folder) / "store.db"
        if not path.exists():
            print(f"building a store of {args.items:,} items at {path} …", flush=True)
            build(path, args.items, 7)
        store = Store.open(path)
        total = store.one("SELECT COUNT(*) AS n FROM item")
        ids = [
            r["id"]
            for r in store.query(
                "SELECT id FROM item WHERE seq % ? = 0 LIMIT ?",
                (max(1, (total["n"] if total else 1) // args.looks), args.looks),
            )
        ]
        rules = similar.default_rules()
        first, steady, exact = [], [], []
        for item_id in ids:
            start = time.perf_counter()
            view.show(store, item_id)
            first.append(time.perf_counter() - start)
            start = time.perf_counter()
            view.show(store, item_id)
            steady.append(time.perf_counter() - start)
        for item_id in ids[:5]:
            item = items.get(store, item_id)
            start = time.perf_counter()
            around = view._window(store, item.created_at, rules.window_days)
            similar.near_among(similar.Doc.of_item(item), around, rules)
            exact.append(time.perf_counter() - start)
        store.close()

    def ms(values: list[float]) -> str:
        return f"median {statistics.median(values) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"

    n = total["n"] if total else 0
    verdict = "PASS" if statistics.median(steady) <= 0.1 else "MISS"
    print(f"show at {n:,} items, {len(ids)} items looked at")
    print(f"  show (sketches kept): {ms(steady)}  (≤ 100 ms: {verdict})")
    print(f"  first look at a window (its sketches made): {ms(first)}")
    print(f"  the near-duplicate check scoring every text: {ms(exact)}")


if __name__ == "__main__":
    main()
