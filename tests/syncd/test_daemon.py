"""The daemon over HTTP: real ``xinbao-syncd run`` processes on 127.0.0.1 with ephemeral ports.

A chain township → county → city → province, enrolled through the CLIs. Every wait is bounded.
"""

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


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[dict[str, Path]]:
    homes = {node: tmp_path / node for node, _, _ in CHAIN}
    for node, tier, parent in CHAIN:
        args = ["init", "--id", node, "--name", f"单位{node}", "--tier", tier]
        ok(run("xinbao-syncd", *args, "--parent", parent, home=homes[node]))
    for child, _, parent in CHAIN[1:]:
        req, cert = tmp_path / f"{child}.req", tmp_path / f"{child}.crt"
        req.write_text(ok(run("xinbao-syncd", "enroll", "request", home=homes[child])).out)
        cert.write_text(
            ok(run("xinbao-syncd", "enroll", "issue", str(req), home=homes[parent])).out
        )
        ok(run("xinbao-syncd", "enroll", "install", str(cert), home=homes[child]))
    yield homes


def _intervals(home: Path) -> None:
    # fast timers for tests; the links are added by `link add` after this
    (home / "syncd.toml").write_text(
        "[intervals]\nsend = 0.2\nfetch = 0.3\nretry_min = 0.2\nretry_max = 1.0\n"
        "resend_after = 3.0\n",
        "utf-8",
    )


def _city_daemon(county: Path, city: Path) -> Daemon:
    for home in (county, city):
        _intervals(home)
    return Daemon(city)


def _link_up(county: Path, city: Daemon, ceiling: str = "机密") -> None:
    """The county pushes to the city's daemon, up to ``ceiling``."""
    args = ("link", "add", "140200", "--url", city.url, "--ceiling", ceiling)
    ok(run("xinbao-syncd", *args, home=county))


def _submit(home: Path, text: str, tmp: Path, name: str) -> str:
    (tmp / name).write_text(text, "utf-8")
    item = ok(run("xinbao", "--json", "submit", str(tmp / name), home=home)).json()["id"]
    ok(run("xinbao", "signoff", item, home=home))
    return str(item)


def _inbox(home: Path) -> list[str]:
    return [r["item_id"] for r in ok(run("xinbao", "--json", "list", "--inbox", home=home)).json()]


def test_an_emergency_climbs_three_http_hops_and_its_receipt_comes_back(
    chain: dict[str, Path], tmp_path: Path
) -> None:
    for home in chain.values():
        _intervals(home)
    daemons: dict[str, Daemon] = {}
    try:
        for node in ("140000", "140200", "140212"):
            daemons[node] = Daemon(chain[node])
        # every child pushes to its parent; the parents have no link down: children pull
        for child, _, parent in CHAIN[1:]:
            ok(
                run(
                    "xinbao-syncd",
                    "link",
                    "add",
                    parent,
                    "--url",
                    daemons[parent].url,
                    home=chain[child],
                )
            )
        # the township has no daemon of its own yet: its certificate goes up first
        ok(run("xinbao-syncd", "once", home=chain["140212101"]))
        until(
            lambda: (chain["140000"] / "keys" / "known" / "140212101.pem").is_file(),
            "the township's certificate reaches the province",
        )
        item = _submit(chain["140212101"], EMERGENCY, tmp_path, "emergency.toml")
        ok(run("xinbao-syncd", "once", home=chain["140212101"]))
        until(lambda: item in _inbox(chain["140000"]), "the emergency reaches the province")
        # the relays could not read it: not in their stores
        assert item not in _inbox(chain["140212"]) and item not in _inbox(chain["140200"])

        def delivered() -> bool:
            ok(run("xinbao-syncd", "once", home=chain["140212101"]))
            shown = ok(run("xinbao", "--json", "show", item, home=chain["140212101"])).json()
            return bool(shown["edges"][0]["delivered_at"])

        until(delivered, "the province's end-to-end receipt reaches the township")
        status = ok(run("xinbao-syncd", "--json", "status", home=chain["140212101"])).json()
        assert status["awaiting_receipts"] == 0
    finally:
        for daemon in daemons.values():
            assert daemon.stop() == 0, (daemon.home / "daemon.log").read_text()


def test_a_secret_item_waits_on_a_link_whose_ceiling_is_internal(
    chain: dict[str, Path], tmp_path: Path
) -> None:
    county, city = chain["140212"], chain["140200"]
    daemon = _city_daemon(county, city)
    try:
        _link_up(county, daemon, "内部")
        secret = _submit(
            county, ROUTINE.format(title="涉密事项", classification="秘密"), tmp_path, "secret.toml"
        )
        internal = _submit(
            county,
            ROUTINE.format(title="供暖巡查", classification="内部"),
            tmp_path,
            "internal.toml",
        )
        ok(run("xinbao-syncd", "once", home=county))
        until(lambda: internal in _inbox(city), "the 内部 item arrives")
        rows = ok(run("xinbao", "--json", "list", "--inbox", home=city)).json()
        assert rows[0]["peer_name"] == "单位140212"  # not the bare code
        assert secret not in _inbox(city)
        status = ok(run("xinbao-syncd", "--json", "status", home=county)).json()
        (link,) = [k for k in status["links"] if k["peer"] == "140200"]
        assert link["blocked"] == 1 and link["ceiling"] == "内部"
        assert link["name"] == "单位140200"  # units are named from their certificates
        # raise the ceiling: the held item goes
        _link_up(county, daemon, "秘密")
        ok(run("xinbao-syncd", "once", home=county))
        until(lambda: secret in _inbox(city), "the 秘密 item arrives once the ceiling allows")
    finally:
        assert daemon.stop() == 0


def test_a_child_without_an_address_pulls_what_its_parent_holds(
    chain: dict[str, Path], tmp_path: Path
) -> None:
    county, city = chain["140212"], chain["140200"]
    daemon = _city_daemon(county, city)
    try:
        _link_up(county, daemon)
        item = _submit(
            county, ROUTINE.format(title="供暖巡查", classification="内部"), tmp_path, "item.toml"
        )
        ok(run("xinbao-syncd", "once", home=county))
        until(lambda: item in _inbox(city), "the item arrives")
        ok(run("xinbao", "adopt", item, home=city))  # the decision waits at the city: no link

        def adopted() -> bool:
            ok(run("xinbao-syncd", "once", home=county))  # pulls
            shown = ok(run("xinbao", "--json", "show", item, home=county)).json()
            return bool(shown["edges"][0]["state"] == "已采用")

        until(adopted, "the county pulls the city's decision")
    finally:
        assert daemon.stop() == 0
