"""Benchmark: checking one new item for near-duplicates against a large desk (run by hand).

    .venv/bin/python tests/bench/bench_similar.py [--items 100000] [--queries 50] [--window DAYS]

1. Precision and recall on the labelled pairs of ``fixtures/items.toml`` (as
   ``python -m schema.similar`` prints them).
2. Build a :class:`schema.similar.Index` of N synthetic items (default 100,000) from ~60 units
   over one year. Texts recombine the sentences and titles of the fixture items with every
   number redrawn, so the wording is the fixtures' own: each shingle is shared by hundreds or
   thousands of items — harder for the index than a real desk, whose vocabulary is wider.
   The 95 fixture items are added too, keeping their times, so their duplicates are there to
   be found.
3. Time ``Index.near`` for new items (fixture items not in the store, and fresh synthetic
   ones): p50 / p95 / max against the target of 100 ms, how many items were scored exactly,
   and, for a few of them, that the answer equals scoring every held item (the index is exact).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import re
import resource
import statistics
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta

from schema.clock import CHINA
from schema.fixture import SampleItem, load_items
from schema.similar import Doc, Index, SimilarRules, comparable, main, similarity

TARGET_MS = 100.0
START = datetime(2026, 1, 1, 8, 0, tzinfo=CHINA)
DIGITS = re.compile(r"\d+")


def sentences(samples: list[SampleItem]) -> list[str]:
    out: list[str] = []
    for s in samples:
        out.extend(p.strip() for p in re.findall(r"[^。！？；]+[。！？；]", s.draft.body))
    return [p for p in out if len(p) >= 8]


def redraw(text: str, rng: random.Random) -> str:
    """``text`` with every number replaced by a random one of the same length."""

    def one(m: re.Match[str]) -> str:
        n = len(m.group(0))
        return str(rng.randrange(10 ** (n - 1) if n > 1 else 0, 10**n))

    return DIGITS.sub(one, text)


def synthetic(n: int, samples: list[SampleItem], units: list[str], rng: random.Random) -> list[Doc]:
    pool = sentences(samples)
    titles = [s.draft.title for s in samples]
    docs: list[Doc] = []
    for i in range(n):
        body = "".join(redraw(rng.choice(pool), rng) for _ in range(rng.randint(3, 6)))
        at = START + timedelta(seconds=rng.randrange(365 * 86400))
        docs.append(
            Doc(f"syn-{i:06d}", rng.choice(units), redraw(rng.choice(titles), rng), body, at)
        )
    return docs


def brute_force(held: list[Doc], doc: Doc, rules: SimilarRules) -> list[tuple[str, float]]:
    hits = [(h.id, similarity(doc, h, rules)) for h in held if comparable(doc, h, rules)]
    hits = [(i, s) for i, s in hits if s >= rules.threshold - 1e-9]
    return sorted(hits, key=lambda hit: (-hit[1], hit[0]))


def run(args: argparse.Namespace) -> int:
    rules = SimilarRules.load()
    if args.window is not None:
        rules = replace(rules, window_days=args.window)
    rng = random.Random(args.seed)
    samples = load_items()
    units = sorted({s.unit for s in samples})
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpu, "
        f"load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(
        f"rules: n={rules.ngram} figure_weight={rules.figure_weight:g} "
        f"threshold={rules.threshold:g} window_days={rules.window_days:g}"
    )
    # New items to check: fixture items left out of the store, and fresh synthetic ones.
    # The last member of each labelled group is checked as new; the others are held.
    left_out = set({s.dup_group: s.key for s in samples if s.dup_group}.values())
    fixture_docs = [Doc.of_sample(s) for s in samples]
    held_fixture = [d for d in fixture_docs if d.id not in left_out]
    queries = [d for d in fixture_docs if d.id in left_out]
    fresh = synthetic(args.items + args.queries, samples, units, rng)
    held = fresh[: args.items] + held_fixture
    queries += fresh[args.items :][: max(0, args.queries - len(queries))]

    gc.collect()
    t0 = time.perf_counter()
    index = Index(rules)
    for doc in held:
        index.add(doc)
    build_s = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"index: {len(index):,} items in {build_s:.1f} s "
        f"({build_s / len(index) * 1e6:.0f} µs per add); peak RSS {rss:,.0f} MiB"
    )

    times: list[float] = []
    found: dict[str, list[tuple[str, float]]] = {}
    for doc in queries:
        t0 = time.perf_counter()
        found[doc.id] = index.near(doc)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    print(
        f"near(): {len(times)} checks against {len(index):,} items: "
        f"p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, max {times[-1]:.1f} ms "
        f"(target ≤ {TARGET_MS:.0f} ms) — {'ok' if p95 <= TARGET_MS else 'OVER TARGET'}"
    )
    titles = {s.key: s.draft.title for s in samples}
    for key in sorted(left_out):
        hits = ", ".join(f"{i} {s:.3f}" for i, s in found[key][:3]) or "—"
        print(f"  {key} {titles[key][:20]}: {hits}")
    checked = queries[: args.exact]
    ok = all(found[d.id] == brute_force(held, d, rules) for d in checked)
    print(f"exact: near() equals scoring all {len(held):,} items for {len(checked)} checks: {ok}")
    return 0 if ok else 1


def cli(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Benchmark of near-duplicate checks.")
    p.add_argument("--items", type=int, default=100_000, help="synthetic items held (100,000)")
    p.add_argument("--queries", type=int, default=50, help="items checked (50)")
    p.add_argument("--exact", type=int, default=5, help="checks compared with brute force (5)")
    p.add_argument("--window", type=float, help="window_days instead of the rules' (0 = off)")
    p.add_argument("--seed", type=int, default=20261121)
    args = p.parse_args(argv)
    print("== precision and recall on fixtures/items.toml")
    main([])
    print("== index")
    return run(args)


if __name__ == "__main__":
    raise SystemExit(cli())
