"""A city that loses its disk loses nothing (issue 21): real daemons on 127.0.0.1, a backup
taken while they run, traffic both ways after it, the city's home deleted, ``restore``, and
the resync from its neighbours brings back every record it held — no item id used twice,
nothing applied twice, and its neighbours' stores exactly as they were."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

from syncd import backup
from tests.cli_helpers import run
from tests.syncd.daemons import CHAIN, ROUTINE, Daemon, enrol_tree, inbox, intervals, ok, until

SECRET = "重同步-测试口令"
ENV = {backup.PASSPHRASE_ENV: SECRET}
REQUEST = """\
kind = "约稿"
urgency = "加急"
topic = "冬季供暖保障情况"
guidance = "请报送供暖保障工作情况。"
targets = ["140200"]
deadline = "2026-12-31T18:00:00+08:00"
"""
# what a node holds, as compared before the loss and after the resync (times a restore
# cannot know, such as when a row was written here, are left out)
TABLES = {
    "item": "SELECT id, origin, revision, title, body, category, urgency, classification, "
    "author, signer, signed_at, derivation, created_at FROM item ORDER BY id",
    "source": "SELECT item_id, source_id FROM source ORDER BY item_id, source_id",
    "edge": "SELECT item_id, from_unit, to_unit, state, version, placement FROM edge "
    "ORDER BY item_id, from_unit, to_unit",
    "request": "SELECT id, issuer, number, state, signer, signed_at FROM request ORDER BY id",
    "target": "SELECT request_id, unit, read_at, answered_at, zero_report, note, version "
    "FROM request_target ORDER BY request_id, unit",
    "issue": "SELECT id, publication, number, cumulative, publisher, state, signer, signed_at "
    "FROM issue ORDER BY id",
    "issue_item": "SELECT issue_id, item_id, position FROM issue_item ORDER BY issue_id, position",
    "counter": "SELECT name, value FROM counter WHERE name LIKE 'item:%' ORDER BY name",
}


def held(home: Path) -> dict[str, list[tuple[Any, ...]]]:
    db = sqlite3.connect(f"{(home / 'store.db').as_uri()}?mode=ro", uri=True)
    try:
        return {name: db.execute(sql).fetchall() for name, sql in TABLES.items()}
    finally:
        db.close()


def status(home: Path) -> dict[str, Any]:
    return dict(ok(run("xinbao-syncd", "--json", "status", home=home)).json())


def show(home: Path, ref: str) -> dict[str, Any]:
    return dict(ok(run("xinbao", "--json", "show", ref, home=home)).json())


def once(home: Path) -> None:
    ok(run("xinbao-syncd", "once", home=home))


def quiet(homes: dict[str, Path]) -> bool:
    """Nothing left to move anywhere: every queue empty, every receipt back."""
    once(homes["140212"])
    for home in homes.values():
        now = status(home)
        if now["awaiting_receipts"] or any(link["depth"] for link in now["links"]):
            return False
    return True


def test_a_city_restored_from_its_backup_gets_everything_back_from_its_neighbours(
    tmp_path: Path,
) -> None:
    homes = enrol_tree(tmp_path / "net", CHAIN[:3])
    province, city, county = homes["140000"], homes["140200"], homes["140212"]
    for home in homes.values():
        intervals(home)
    daemons: dict[str, Daemon] = {}

    def item(title: str) -> str:
        (tmp_path / "item.toml").write_text(
            ROUTINE.format(title=title, classification="内部"), "utf-8"
        )
        made = ok(run("xinbao", "--json", "submit", str(tmp_path / "item.toml"), home=county))
        ok(run("xinbao", "signoff", made.json()["id"], home=county))
        return str(made.json()["id"])

    try:
        daemons["140000"], daemons["140200"] = Daemon(province), Daemon(city)
        ok(run("xinbao-syncd", "link", "add", "140000", "--url", daemons["140000"].url, home=city))
        ok(
            run(
                "xinbao-syncd", "link", "add", "140200", "--url", daemons["140200"].url, home=county
            )
        )
        once(county)  # its certificate goes up
        until(lambda: (province / "keys" / "known" / "140212.pem").is_file(), "county known")
        first = item("供暖设施巡查")
        once(county)
        until(lambda: first in inbox(city), "the first item reaches the city")
        until(lambda: quiet(homes), "the network settles before the backup")

        taken = run("xinbao-syncd", "backup", str(tmp_path / "backups"), home=city, env_extra=ENV)
        assert taken.code == 0, taken.err

        # after the backup, traffic both ways: items up, decisions down, an issue signed off,
        # a forward, the province's decision on it, a topic request down and its answer up
        adopted, forwarded_source = item("供暖管网抢修"), item("困难群众取暖补贴发放")
        once(county)
        until(lambda: {adopted, forwarded_source} <= set(inbox(city)), "two more items")
        ok(run("xinbao", "adopt", adopted, "--issue", "每日要情", home=city))
        ok(run("xinbao", "issue", "signoff", "每日要情/1", home=city))
        forwarded = ok(run("xinbao", "--json", "forward", forwarded_source, home=city)).json()["id"]
        ok(run("xinbao", "signoff", forwarded, home=city))
        until(lambda: forwarded in inbox(province), "the forward reaches the province")
        ok(run("xinbao", "adopt", forwarded, home=province))
        (tmp_path / "request.toml").write_text(REQUEST, "utf-8")
        made = ok(run("xinbao", "--json", "request", str(tmp_path / "request.toml"), home=province))
        request_id = made.json()["id"]
        ok(run("xinbao", "signoff", request_id, home=province))
        until(
            lambda: any(
                r["id"] == request_id
                for r in ok(run("xinbao", "--json", "requests", home=city)).json()
            ),
            "the request reaches the city",
        )
        ok(run("xinbao", "zero-report", request_id, "--note", "本市无此类情况", home=city))
        until(lambda: quiet(homes), "the network settles after the traffic")
        assert show(county, adopted)["edges"][0]["state"] == "已印发"
        before = {node: held(home) for node, home in homes.items()}
        assert forwarded in [row[0] for row in before["140200"]["item"]]

        # the city's disk is lost; a new machine restores the backup and resyncs
        assert daemons.pop("140200").stop() == 0
        shutil.rmtree(city)
        restored = run(
            "xinbao-syncd", "restore", str(tmp_path / "backups"), home=city, env_extra=ENV
        )
        assert restored.code == 0, restored.err
        assert "140000" in restored.out and "140212" in restored.out
        missing = held(city)
        assert forwarded not in [row[0] for row in missing["item"]]  # really lost
        intervals(city)
        ok(run("xinbao-syncd", "link", "add", "140000", "--url", daemons["140000"].url, home=city))
        daemons["140200"] = Daemon(city)
        ok(
            run(
                "xinbao-syncd", "link", "add", "140200", "--url", daemons["140200"].url, home=county
            )
        )

        def resynced() -> bool:
            once(county)
            sync = status(city)["resync"]
            return bool(sync) and not sync["running"]

        until(resynced, "the city's resync completes", 60)
        until(lambda: quiet(homes), "the network settles after the resync", 60)
        sync = status(city)["resync"]
        answers = {p["peer"]: p for p in sync["peers"]}
        assert sorted(answers) == ["140000", "140212"] and sync["waiting"] == 0
        assert answers["140000"]["records"] >= 2  # the forward and the 零报告
        assert answers["140212"]["bundles"] >= 2  # the two items sent after the backup

        after = {node: held(home) for node, home in homes.items()}
        for node in homes:
            for table in TABLES:
                assert after[node][table] == before[node][table], (node, table)
        assert show(city, request_id)["request"]["state"] == "已收到"  # back, and readable
        # numbering goes on above the forward: no item id is used twice
        (tmp_path / "new.toml").write_text(
            ROUTINE.format(title="全市供暖平稳", classification="内部"), "utf-8"
        )
        new = ok(run("xinbao", "--json", "submit", str(tmp_path / "new.toml"), home=city))
        assert new.json()["id"] > forwarded
        text = ok(run("xinbao-syncd", "status", home=city)).out
        assert "重新同步 已完成：已答复 2/2" in text
    finally:
        for daemon in daemons.values():
            assert daemon.stop() == 0, (daemon.home / "daemon.log").read_text()
