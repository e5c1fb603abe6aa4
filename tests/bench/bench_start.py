"""Benchmark: how fast a desk command starts (issue 19): ``xinbao --help``, a usage error,
``xinbao list --inbox`` on a fresh node and ``xinbao-syncd --help``, each the median of
several runs of a new process, against the targets (``--help`` ≤ 0.2 s, ``list --inbox`` ≤ 0.3 s)
and the bare interpreter's start on the same machine for scale.

    .venv/bin/python tests/bench/bench_start.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def timed(argv: list[str], runs: int, env: dict[str, str]) -> float:
    """The median wall time of ``argv`` over ``runs`` runs, in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, env=env, check=False, timeout=60)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "node"
        subprocess.run(
            [
                str(BIN / "xinbao-syncd"),
                "--home",
                str(home),
                "init",
                "--id",
                "140212",
                "--name",
                "新荣区人民政府办公室",
                "--tier",
                "county",
                "--parent",
                "140200",
            ],
            capture_output=True,
            env=env,
            check=True,
            timeout=60,
        )
        rows = [
            ("python -c pass (the interpreter)", [sys.executable, "-c", "pass"], None),
            ("xinbao --help", [str(BIN / "xinbao"), "--help"], 0.2),
            ("xinbao (usage error)", [str(BIN / "xinbao"), "nosuchcommand"], 0.2),
            (
                "xinbao list --inbox",
                [str(BIN / "xinbao"), "--home", str(home), "list", "--inbox"],
                0.3,
            ),
            ("xinbao-syncd --help", [str(BIN / "xinbao-syncd"), "--help"], 0.2),
        ]
        print(f"{'command':<36}{'median':>10}{'target':>10}")
        for name, argv, target in rows:
            took = timed(argv, args.runs, env)
            verdict = "" if target is None else ("PASS" if took <= target else "MISS")
            shown = f"≤ {target:.1f} s" if target else "—"
            print(f"{name:<36}{took * 1000:>8.0f} ms{shown:>10} {verdict}")


if __name__ == "__main__":
    main()
