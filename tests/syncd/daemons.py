"""Real ``xinbao-syncd run`` daemons for tests: a chain of enrolled node homes, daemons on
127.0.0.1 with ephemeral ports, and bounded waits. Shared by the daemon tests and benchmarks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import Result, run

CHAIN = [
    ("140000", "province", ""),
    ("140200", "city", "140000"),
    ("140212", "county", "140200"),
    ("140212101", "township", "140212"),
]
EMERGENCY = """\
title = "新荣区某煤矿发生透水事故"
category = "突发事件"
urgency = "特急"
author = "李四"
body = "11月22日9时10分，某煤矿井下透水，3人被困，正在救援。"
to = ["140000"]
[incident]
severity = "较大"
occurred_at = "2026-11-22T09:10:00+08:00"
place = "新荣区某煤矿"
"""
ROUTINE = """\
title = "{title}"
category = "工作动态"
classification = "{classification}"
author = "李四"
body = "本周完成冬季供暖设施巡查。"
"""
WAIT = 30.0  # seconds: the longest any condition here may take


def ok(done: Result) -> Result:
    assert done.code == 0, done.err
    return done


def until(check: Callable[[], Any], what: str, seconds: float = WAIT) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds:.0f} s: {what}")


class Daemon:
    def __init__(self, home: Path) -> None:
        self.home = home
        env = {**os.environ, "XINBAO_HOME": str(home), "USER": "tester"}
        self.log = open(home / "daemon.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "syncd", "run", "--listen", "127.0.0.1:0"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        info = until(self._run_file, f"daemon at {home.name} listening", 20)
        self.url = info["listen"]

    def _run_file(self) -> dict[str, Any] | None:
        assert self.proc.poll() is None, (self.home / "daemon.log").read_text()
        try:
            return dict(json.loads((self.home / "run" / "syncd.json").read_text()))
        except (OSError, ValueError):
            return None

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        return self.proc.returncode


def enrol_tree(root: Path, nodes: list[tuple[str, str, str]]) -> dict[str, Path]:
    """Node homes under ``root`` for (id, tier, parent) in top-down order, each enrolled by
    its parent through the CLIs."""
    homes = {node: root / node for node, _, _ in nodes}
    for node, tier, parent in nodes:
        args = ["init", "--id", node, "--name", f"单位{node}", "--tier", tier]
        ok(run("xinbao-syncd", *args, "--parent", parent, home=homes[node]))
    for child, _, parent in nodes:
        if not parent:
            continue
        req, cert = root / f"{child}.req", root / f"{child}.crt"
        req.write_text(ok(run("xinbao-syncd", "enroll", "request", home=homes[child])).out)
        cert.write_text(
            ok(run("xinbao-syncd", "enroll", "issue", str(req), home=homes[parent])).out
        )
        ok(run("xinbao-syncd", "enroll", "install", str(cert), home=homes[child]))
    return homes


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[dict[str, Path]]:
    yield enrol_tree(tmp_path, CHAIN)


def intervals(home: Path) -> None:
    # fast timers for tests; the links are added by `link add` after this
    (home / "syncd.toml").write_text(
        "[intervals]\nsend = 0.2\nfetch = 0.3\nretry_min = 0.2\nretry_max = 1.0\n"
        "resend_after = 3.0\n",
        "utf-8",
    )


def city_daemon(county: Path, city: Path) -> Daemon:
    for home in (county, city):
        intervals(home)
    return Daemon(city)


def link_up(county: Path, city: Daemon, ceiling: str = "机密") -> None:
    """The county pushes to the city's daemon, up to ``ceiling``."""
    args = ("link", "add", "140200", "--url", city.url, "--ceiling", ceiling)
    ok(run("xinbao-syncd", *args, home=county))


def submit(home: Path, text: str, tmp: Path, name: str) -> str:
    (tmp / name).write_text(text, "utf-8")
    item = ok(run("xinbao", "--json", "submit", str(tmp / name), home=home)).json()["id"]
    ok(run("xinbao", "signoff", item, home=home))
    return str(item)


def inbox(home: Path) -> list[str]:
    return [r["item_id"] for r in ok(run("xinbao", "--json", "list", "--inbox", home=home)).json()]
