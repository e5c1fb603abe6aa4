"""Benchmark: leads at a busy desk (run by hand, prints its figures).

    .venv/bin/python tests/bench/bench_leads.py [--days 14] [--per-day 600] [--reads 20]

A desk reading a dozen sources keeps some hundreds of new leads a day. The store is filled
with ``days`` × ``per-day`` leads (texts recombined from the fixture items' sentences, numbers
redrawn), then:

1. one feed read as the daemon hands it over (``lead.add``): 50 entries, 45 already held and 5
   new ones compared with every lead of the near-duplicate window — p50 / max;
2. the 线索 tab's read (``lead.ranked`` default, as the console does on each store change);
3. ``xinbao leads --match`` over everything held.
Target: each under 100 ms at the defaults (a read of the tab should not be felt).
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from schema import lead as leads
from schema.clock import CHINA
from schema.fixture import load_items
from schema.lead import Entry
from schema.store import Store

TARGET_MS = 100.0
NOW = datetime(2026, 12, 6, 9, 0, tzinfo=CHINA)
DIGITS = re.compile(r"\d+")
SOURCES = [f"来源{n}" for n in range(12)]
WORDS = ["欠薪", "煤改电", "放管服", "安全生产", "大气污染"]


def sentences() -> list[str]:
    found = []
    for item in load_items():
        found += [s for s in re.split(r"(?<=[。；])", item.draft.body) if len(s) > 8]
    return found


def make(rng: random.Random, pool: list[str], n: int, at: datetime) -> Entry:
    text = "".join(rng.sample(pool, 3))
    text = DIGITS.sub(lambda _: str(rng.randint(1, 9999)), text)
    source = rng.choice(SOURCES)
    return Entry(source, f"g{n}", f"https://news.example.cn/{n}.html", text[:40], text, at)


def timed(fn: object, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--per-day", type=int, default=600)
    parser.add_argument("--reads", type=int, default=20)
    args = parser.parse_args()
    rng = random.Random(7)
    pool = sentences()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "store.db")
        total = args.days * args.per_day
        start = time.perf_counter()
        n = 0
        for day in range(args.days, 0, -1):
            at = NOW - timedelta(days=day)
            batch = [make(rng, pool, n + i, at) for i in range(args.per_day)]
            n += args.per_day
            rows = [
                (e.source, e.guid, e.link, e.title, e.summary, at.isoformat(), at.isoformat(), "[]")
                for e in batch
            ]
            with store.write() as db:
                db.conn.executemany(
                    "INSERT INTO lead(source, guid, link, title, summary, published, fetched_at, "
                    "matched) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
        print(f"filled {total} leads in {time.perf_counter() - start:.1f} s")
        held = [
            Entry(r["source"], r["guid"], r["link"], r["title"], r["summary"], NOW)
            for r in store.query("SELECT * FROM lead ORDER BY id DESC LIMIT 45")
        ]
        reads = []
        for _ in range(args.reads):
            fresh = [make(rng, pool, n + i, NOW) for i in range(5)]
            n += 5
            batch = held + fresh
            reads += timed(lambda b=batch: leads.add(store, b, WORDS, NOW), 1)
        window = store.one(
            "SELECT count(*) AS n FROM lead WHERE fetched_at >= ?",
            ((NOW - leads.LeadRules.load().window).isoformat(),),
        )
        print(
            f"feed read (45 held + 5 new, window {window['n'] if window else '?'} leads): "
            f"p50 {statistics.median(reads):.1f} ms  max {max(reads):.1f} ms  "
            f"target {TARGET_MS:.0f} ms"
        )
        tab = timed(lambda: leads.ranked(store, NOW), 10)
        print(f"线索 tab read (ranked, default): p50 {statistics.median(tab):.1f} ms")
        match = timed(lambda: leads.ranked(store, NOW, match="供暖"), 10)
        print(f"leads --match over all {n}: p50 {statistics.median(match):.1f} ms")
        store.close()


if __name__ == "__main__":
    main()
