"""Benchmark: what an idle daemon costs (issue 19) — CPU and wake-ups of ``xinbao-syncd run``
at a city node with nothing to do, measured from /proc over a span, against the targets
(≤ 0.1 % of a core; the daemon's own timers: one pass every ``IDLE_SECONDS``).

    .venv/bin/python -m tests.bench.bench_idle [--seconds 20]

Wake-ups are the process's voluntary context switches per second, every thread counted: a
pass hands work between the event loop and the engine's thread, each hand-over two switches.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from syncd.daemon import IDLE_SECONDS
from tests.syncd.daemons import enrol_tree


def cpu_seconds(pid: int) -> float:
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        fields = Path(f"/proc/{pid}/task/{task}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def switches(pid: int) -> int:
    count = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        for line in Path(f"/proc/{pid}/task/{task}/status").read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches"):
                count += int(line.split()[1])
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        homes = enrol_tree(Path(folder), [("140000", "province", ""), ("140200", "city", "140000")])
        city = homes["140200"]
        (city / "drop").mkdir(exist_ok=True)
        daemon = subprocess.Popen(
            [Path(sys.executable).parent / "xinbao-syncd", "--home", city, "run", "--listen",
             "127.0.0.1:0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            time.sleep(4)  # started, first pass done
            cpu, woke, start = cpu_seconds(daemon.pid), switches(daemon.pid), time.monotonic()
            time.sleep(args.seconds)
            span = time.monotonic() - start
            used = 100 * (cpu_seconds(daemon.pid) - cpu) / span
            rate = (switches(daemon.pid) - woke) / span
            rss = next(
                int(line.split()[1]) // 1024
                for line in Path(f"/proc/{daemon.pid}/status").read_text().splitlines()
                if line.startswith("VmRSS")
            )
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
    verdict = "PASS" if used <= 0.1 else "MISS"
    print(f"idle daemon over {span:.0f} s: {used:.2f}% of a core (≤ 0.1%: {verdict})")
    woke = "PASS" if rate <= 1.0 else "MISS"
    print(
        f"  {rate:.1f} context switches/s (≤ 1 wake-up a second: {woke}), a full pass every "
        f"{IDLE_SECONDS:g} s; RSS {rss} MiB"
    )


if __name__ == "__main__":
    main()
