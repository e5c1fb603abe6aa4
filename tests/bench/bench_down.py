"""Benchmark: down without waiting (issue 19) — a request from the province reaching a county
two hops below when both children are in pull mode (they cannot take connections: each holds a
long poll open to its parent, ``GET /v1/pull/{me}?wait=S``).

    .venv/bin/python -m tests.bench.bench_down [--rounds 10]

Three real daemons (``xinbao-syncd run``) on 127.0.0.1 with the product's default timers:
province ← city ← county, each child linked to its parent's URL (it pushes up, pulls down).
Each round the province signs off a request to the county (in this process, through
``schema.request`` as ``xinbao signoff`` does); the clock runs from the sign-off's commit
until the request is in the county's store (polled read-only every 5 ms). Target: ≤ 2 s over
the two hops (before long polls: a pull every ``fetch`` = 5 s per hop, 12–16 s). Failed
pulls are counted from the children's logs (target: none).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from schema import request as requests
from schema.store import Store
from tests.cli_helpers import run
from tests.syncd.daemons import Daemon, enrol_tree, ok, until

PROVINCE, CITY, COUNTY = "140000", "140200", "140212"
TARGET_S = 2.0


def held(county: Path, request_id: str) -> bool:
    db = sqlite3.connect(f"{(county / 'store.db').as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        row = db.execute("SELECT 1 FROM request WHERE id = ?", (request_id,)).fetchone()
        return row is not None
    finally:
        db.close()


def issue(province: Path, n: int) -> tuple[str, float]:
    """Sign off a request to the county at the province; (its id, the commit's clock)."""
    store = Store.open(province / "store.db")
    try:
        now = datetime.now(UTC)
        draft = requests.parse_request(
            {
                "topic": f"第{n}次 基层安全生产情况",
                "guidance": "请报送本地做法。",
                "targets": [COUNTY],
                "deadline": (now + timedelta(days=3)).isoformat(),
            }
        )
        made = requests.compose(store, PROVINCE, "bench", draft, now, requests.RequestRules.load())
        requests.signoff(store, PROVINCE, "bench", made.id, now, priority=0)
        return made.id, time.perf_counter()
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        homes = enrol_tree(
            Path(folder),
            [(PROVINCE, "province", ""), (CITY, "city", PROVINCE), (COUNTY, "county", CITY)],
        )
        daemons: dict[str, Daemon] = {}
        try:
            for node, parent in ((PROVINCE, ""), (CITY, PROVINCE), (COUNTY, CITY)):
                if parent:
                    url = daemons[parent].url
                    ok(run("xinbao-syncd", "link", "add", parent, "--url", url, home=homes[node]))
                daemons[node] = Daemon(homes[node])
            known = homes[PROVINCE] / "keys" / "known" / f"{COUNTY}.pem"
            until(known.is_file, "the county's certificate reaches the province", 60)
            time.sleep(2)  # the long polls are open
            times = []
            for n in range(args.rounds):
                request_id, start = issue(homes[PROVINCE], n)
                deadline = start + 60
                while not held(homes[COUNTY], request_id):
                    if time.perf_counter() > deadline:
                        raise RuntimeError(f"request {request_id} did not arrive within 60 s")
                    time.sleep(0.005)
                times.append(time.perf_counter() - start)
                time.sleep(1.0)
        finally:
            for daemon in reversed(list(daemons.values())):
                daemon.stop()
        failed = sum(
            (homes[node] / "daemon.log").read_text("utf-8").count("cannot pull")
            for node in (CITY, COUNTY)
        )
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    verdict = "PASS" if p95 <= TARGET_S else "MISS"
    print(
        f"province → city → county, both children in pull mode (long poll), default timers; "
        f"{len(times)} requests"
    )
    print(
        f"  p50 {statistics.median(times):.3f} s  p95 {p95:.3f} s  max {times[-1]:.3f} s  "
        f"target ≤ {TARGET_S:g} s  {verdict}"
    )
    print(f"  failed pulls in the children's logs: {failed}  (target: none)")


if __name__ == "__main__":
    main()
