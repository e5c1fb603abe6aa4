"""The daemon over HTTP: real ``xinbao-syncd run`` processes on 127.0.0.1 with ephemeral ports.

A chain township → county → city → province, enrolled through the CLIs. Every wait is bounded.
"""

from __future__ import annotations

import json
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from schema import desk as ops
from schema.desk import Desk
from schema.itemfile import parse_item
from schema.node import NodeHome
from schema.store import Store, commit_marker
from schema.vocabulary import Role
from tests.cli_helpers import run
from tests.syncd.daemons import (
    CHAIN,
    EMERGENCY,
    ROUTINE,
    Daemon,
    chain,
    city_daemon,
    enrol_tree,
    inbox,
    intervals,
    link_up,
    ok,
    submit,
    until,
)

__all__ = ["chain"]  # the fixture


def test_an_emergency_climbs_three_http_hops_and_its_receipt_comes_back(
    chain: dict[str, Path], tmp_path: Path
) -> None:
    for home in chain.values():
        intervals(home)
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
        item = submit(chain["140212101"], EMERGENCY, tmp_path, "emergency.toml")
        ok(run("xinbao-syncd", "once", home=chain["140212101"]))
        until(lambda: item in inbox(chain["140000"]), "the emergency reaches the province")
        # the relays could not read it: not in their stores
        assert item not in inbox(chain["140212"]) and item not in inbox(chain["140200"])

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
    daemon = city_daemon(county, city)
    try:
        link_up(county, daemon, "内部")
        secret = submit(
            county, ROUTINE.format(title="涉密事项", classification="秘密"), tmp_path, "secret.toml"
        )
        internal = submit(
            county,
            ROUTINE.format(title="供暖巡查", classification="内部"),
            tmp_path,
            "internal.toml",
        )
        ok(run("xinbao-syncd", "once", home=county))
        until(lambda: internal in inbox(city), "the 内部 item arrives")
        rows = ok(run("xinbao", "--json", "list", "--inbox", home=city)).json()
        assert rows[0]["peer_name"] == "单位140212"  # not the bare code
        assert secret not in inbox(city)
        status = ok(run("xinbao-syncd", "--json", "status", home=county)).json()
        (link,) = [k for k in status["links"] if k["peer"] == "140200"]
        assert link["blocked"] == 1 and link["ceiling"] == "内部"
        assert link["name"] == "单位140200"  # units are named from their certificates
        # and the desk sees why it has not left
        shown = ok(run("xinbao", "show", secret, home=county)).out
        assert "受阻 发往单位140200的链路密级上限为内部" in shown
        held = ok(run("xinbao", "--json", "show", secret, home=county)).json()["held"]
        assert [(h["peer"], h["ceiling"]) for h in held] == [("140200", "内部")]
        assert ok(run("xinbao", "--json", "show", internal, home=county)).json()["held"] == []
        # raise the ceiling: the held item goes
        link_up(county, daemon, "秘密")
        ok(run("xinbao-syncd", "once", home=county))
        until(lambda: secret in inbox(city), "the 秘密 item arrives once the ceiling allows")
        assert "受阻" not in ok(run("xinbao", "show", secret, home=county)).out
    finally:
        assert daemon.stop() == 0


def test_a_child_without_an_address_pulls_what_its_parent_holds(
    chain: dict[str, Path], tmp_path: Path
) -> None:
    county, city = chain["140212"], chain["140200"]
    daemon = city_daemon(county, city)
    try:
        link_up(county, daemon)
        item = submit(
            county, ROUTINE.format(title="供暖巡查", classification="内部"), tmp_path, "item.toml"
        )
        ok(run("xinbao-syncd", "once", home=county))
        until(lambda: item in inbox(city), "the item arrives")
        ok(run("xinbao", "adopt", item, home=city))  # the decision waits at the city: no link

        def adopted() -> bool:
            ok(run("xinbao-syncd", "once", home=county))  # pulls
            shown = ok(run("xinbao", "--json", "show", item, home=county)).json()
            return bool(shown["edges"][0]["state"] == "已采用")

        until(adopted, "the county pulls the city's decision")
    finally:
        assert daemon.stop() == 0


TREE = [
    ("140000", "province", ""),
    ("140200", "city", "140000"),
    ("140100", "city", "140000"),
    ("140211", "county", "140200"),
    ("140212", "county", "140200"),
    ("140105", "county", "140100"),
    ("140211100", "township", "140211"),
]
TOPIC_REQUEST = """\
kind = "约稿"
urgency = "加急"
topic = "根治欠薪冬季专项行动开展情况"
guidance = "请各县（区）报送专项行动启动后的工作部署和欠薪线索排查处置情况。"
targets = ["all:county:140000"]
deadline = "2026-12-31T18:00:00+08:00"
"""


def test_a_topic_request_from_the_province_reaches_every_county(tmp_path: Path) -> None:
    homes = enrol_tree(tmp_path / "net", TREE)
    for home in homes.values():
        intervals(home)
    daemons: dict[str, Daemon] = {}
    try:
        for node in ("140000", "140200", "140100"):
            daemons[node] = Daemon(homes[node])
        for child, _, parent in TREE[1:]:
            url = daemons[parent].url if parent in daemons else None
            if url:
                ok(run("xinbao-syncd", "link", "add", parent, "--url", url, home=homes[child]))
        counties = ["140211", "140212", "140105"]
        for county in counties:  # their certificates go up to the province
            ok(run("xinbao-syncd", "once", home=homes[county]))
        until(
            lambda: all(
                (homes["140000"] / "keys" / "known" / f"{c}.pem").is_file() for c in counties
            ),
            "every county's certificate reaches the province",
        )
        (tmp_path / "request.toml").write_text(TOPIC_REQUEST, "utf-8")
        province = homes["140000"]
        made = ok(run("xinbao", "--json", "request", str(tmp_path / "request.toml"), home=province))
        request_id = made.json()["id"]
        ok(run("xinbao", "signoff", request_id, home=province))

        def received(county: str) -> bool:
            ok(run("xinbao-syncd", "once", home=homes[county]))  # pulls from its city
            rows = ok(run("xinbao", "--json", "requests", home=homes[county])).json()
            return any(r["id"] == request_id for r in rows)

        for county in counties:
            until(lambda county=county: received(county), f"the request reaches {county}")
        # only counties: not the cities that relayed it, not the township
        for other in ("140200", "140100", "140211100"):
            ok(run("xinbao-syncd", "once", home=homes[other]))
            assert ok(run("xinbao", "--json", "requests", home=homes[other])).json() == []

        # one county reads it and answers 零报告: the province's matrix shows it
        ok(run("xinbao", "show", request_id, home=homes["140105"]))
        ok(
            run(
                "xinbao",
                "zero-report",
                request_id,
                "--note",
                "本县无欠薪线索",
                home=homes["140105"],
            )
        )

        def answered() -> dict[str, Any] | None:
            ok(run("xinbao-syncd", "once", home=homes["140105"]))
            shown = ok(run("xinbao", "--json", "show", request_id, home=province)).json()
            rows = {r["unit"]: r for r in shown["matrix"]}
            return rows if rows["140105"]["zero_report"] else None

        rows = until(answered, "the 零报告 reaches the province")
        assert sorted(rows) == sorted(counties) and rows["140105"]["read_at"]
        assert [rows[c]["outcome"] for c in ("140211", "140212")] == ["未到期", "未到期"]
        assert "单位140105" in ok(run("xinbao", "show", request_id, home=province)).out
    finally:
        for daemon in daemons.values():
            assert daemon.stop() == 0, (daemon.home / "daemon.log").read_text()


def test_the_running_daemon_keeps_a_status_file_for_the_console(
    chain: dict[str, Path], tmp_path: Path
) -> None:
    county, city = chain["140212"], chain["140200"]
    daemon = city_daemon(county, city)
    status_file = city / "status.json"
    try:
        status = until(
            lambda: json.loads(status_file.read_text("utf-8")) if status_file.exists() else None,
            "the status file written",
        )
        assert status["node"] == "140200" and status["pid"] == daemon.proc.pid
        assert {link["peer"] for link in status["links"]} >= {"140000"}
        first = status["written_at"]
        # written when it changes, and at least every STATUS_HEARTBEAT seconds (an idle pass
        # comes every IDLE_SECONDS): the console calls it stale only after 30
        from syncd.daemon import IDLE_SECONDS, STATUS_HEARTBEAT

        until(
            lambda: json.loads(status_file.read_text("utf-8"))["written_at"] > first,
            "the status file rewritten",
            STATUS_HEARTBEAT + IDLE_SECONDS + 2,
        )
    finally:
        assert daemon.stop() == 0
    assert not status_file.exists()  # stopped: the console says the daemon is not running


def test_a_child_in_pull_mode_gets_a_record_at_once_by_long_poll(
    chain: dict[str, Path], tmp_path: Path
) -> None:
    """Down without waiting (issue 19): the county's daemon holds a long poll open to the city,
    so the city's decision reaches it at once — not at its next ``fetch``, set here to a
    minute — and the city's daemon stops promptly with the poll still open."""
    county, city = chain["140212"], chain["140200"]
    daemon = city_daemon(county, city)
    daemons = [daemon]
    try:
        link_up(county, daemon)
        text = (county / "syncd.toml").read_text("utf-8").replace("fetch = 0.3", "fetch = 60.0")
        (county / "syncd.toml").write_text(text, "utf-8")
        daemons.append(Daemon(county))
        item = submit(
            county, ROUTINE.format(title="供暖巡查", classification="内部"), tmp_path, "item.toml"
        )
        until(lambda: item in inbox(city), "the item arrives")
        time.sleep(1.5)  # the county's poll is now held open at the city
        started = time.monotonic()
        ok(run("xinbao", "adopt", item, home=city))

        def adopted() -> bool:
            shown = ok(run("xinbao", "--json", "show", item, home=county)).json()
            return bool(shown["edges"][0]["state"] == "已采用")

        until(adopted, "the city's decision comes down by the long poll", 8)
        assert time.monotonic() - started < 8  # far under the county's fetch of 60 s
        stopping = time.monotonic()
        assert daemon.stop() == 0
        assert time.monotonic() - stopping < 8  # the open poll did not hold the stop up
    finally:
        for d in daemons:
            if d.proc.poll() is None:
                assert d.stop() == 0


def test_a_parent_s_address_added_to_a_running_child_starts_its_long_poll(
    chain: dict[str, Path], tmp_path: Path
) -> None:
    """An idle child with no parent's address sleeps instead of polling (issue 19); the
    ``link add`` that gives it one (an edit of syncd.toml, watched) wakes it, and the parent's
    decision then comes down by the long poll, not at a ``fetch`` set here to a minute."""
    county, city = chain["140212"], chain["140200"]
    daemons = [city_daemon(county, city)]
    try:
        text = (county / "syncd.toml").read_text("utf-8").replace("fetch = 0.3", "fetch = 60.0")
        (county / "syncd.toml").write_text(text, "utf-8")
        daemons.append(Daemon(county))  # started without a link to the city
        time.sleep(1.0)
        link_up(county, daemons[0])
        item = submit(
            county, ROUTINE.format(title="供暖巡查", classification="内部"), tmp_path, "item.toml"
        )
        until(lambda: item in inbox(city), "the item goes up once the link is there")
        time.sleep(1.5)  # the county's poll is held open at the city
        ok(run("xinbao", "adopt", item, home=city))

        def adopted() -> bool:
            shown = ok(run("xinbao", "--json", "show", item, home=county)).json()
            return bool(shown["edges"][0]["state"] == "已采用")

        until(adopted, "the city's decision comes down by the long poll", 8)
    finally:
        for d in daemons:
            if d.proc.poll() is None:
                assert d.stop() == 0


def test_once_writes_the_status_file_in_a_fresh_home(chain: dict[str, Path]) -> None:
    county = chain["140212"]
    ok(run("xinbao-syncd", "once", home=county))
    status = json.loads((county / "status.json").read_text("utf-8"))
    assert status["node"] == "140212"
    assert not [p.name for p in (county / "run").glob(".status.json.*")]  # no temporary left


@pytest.mark.parametrize("seen_by", ["marker", "close"])
def test_a_commit_by_a_desk_wakes_the_idle_daemon(
    chain: dict[str, Path], tmp_path: Path, seen_by: str
) -> None:
    """A desk signs off an item: the county's daemon, idle (its next pass 15 s away) and no
    longer watching every write to the store's WAL, sends it at once. ``marker``: a desk
    that keeps the store open (the console) — the commit marker closed by Store.write wakes
    it. ``close``: a writer that closes no marker (a script, sqlite3) — its connection
    ending closes the store's files after writing, and that wakes it."""
    county, city = chain["140212"], chain["140200"]
    daemons = [city_daemon(county, city)]
    store = None
    try:
        link_up(county, daemons[0])
        daemons.append(Daemon(county))
        config = NodeHome(county).load()
        user = next(u for u in config.users if Role.SIGNER in config.roles_of(u))
        store = Store.open(NodeHome(county).store_path)
        desk = Desk(store, config.unit, user, config.roles_of(user))
        time.sleep(2.0)  # the daemon's start-up passes are over: it is idle
        draft = parse_item(tomllib.loads(ROUTINE.format(title="供暖巡查", classification="内部")))
        if seen_by == "close":
            store._marker = None  # this connection announces nothing
        item = ops.submit(desk, draft)
        started = time.monotonic()
        ops.signoff(desk, item.id)
        if seen_by == "close":
            store.close()
            store = None
        else:
            assert commit_marker(NodeHome(county).store_path).is_file()
        until(lambda: item.id in inbox(city), "the signed-off item reaches the city", 10)
        assert time.monotonic() - started < 8  # woken, not found at the 15 s idle pass
    finally:
        if store is not None:
            store.close()
        for d in daemons:
            if d.proc.poll() is None:
                assert d.stop() == 0
