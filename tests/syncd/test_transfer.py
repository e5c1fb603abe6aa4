"""Air-gap transfer end to end: province → city → county enrolled; a county item carried up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import Result, run

ITEM = """\
title = "新荣区某煤矿发生透水事故"
category = "突发事件"
urgency = "特急"
author = "张三"
body = "11月21日14时35分，新荣区某煤矿井下发生透水，2人受伤。"
[incident]
severity = "较大"
occurred_at = "2026-11-21T14:35:00+08:00"
place = "新荣区某煤矿"
"""

NODES = [("140000", "province", ""), ("140200", "city", "140000"), ("140212", "county", "140200")]


def ok(done: Result) -> Result:
    assert done.code == 0, done.err
    return done


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("net")
    homes = {node_id: root / node_id for node_id, _, _ in NODES}
    for node_id, tier, parent in NODES:
        ok(
            run(
                "xinbao-syncd",
                "init",
                "--id",
                node_id,
                "--name",
                f"单位{node_id}",
                "--tier",
                tier,
                "--parent",
                parent,
                home=homes[node_id],
            )
        )
    for child, parent in (("140200", "140000"), ("140212", "140200")):
        req, cert = root / f"{child}.req", root / f"{child}.crt"
        req.write_text(ok(run("xinbao-syncd", "enroll", "request", home=homes[child])).out)
        cert.write_text(
            ok(run("xinbao-syncd", "enroll", "issue", str(req), home=homes[parent])).out
        )
        ok(run("xinbao-syncd", "enroll", "install", str(cert), home=homes[child]))
    return homes


def test_an_item_is_carried_up_and_its_adoption_carried_back(
    net: dict[str, Path], tmp_path: Path
) -> None:
    county, city = net["140212"], net["140200"]
    (tmp_path / "item.toml").write_text(ITEM, "utf-8")
    item_id = ok(
        run("xinbao", "--json", "submit", str(tmp_path / "item.toml"), home=county)
    ).json()["id"]
    ok(run("xinbao", "signoff", item_id, home=county))
    usb = tmp_path / "usb"
    exported = ok(
        run("xinbao-syncd", "--json", "export", "--peer", "140200", str(usb), home=county)
    ).json()
    assert len(exported) == 1
    data = (usb / exported[0]).read_bytes()
    for secret in ("新荣区某煤矿发生透水事故", "透水", "张三"):
        assert secret.encode() not in data  # relays and carriers read only the outer header
    assert not list(usb.glob(".*"))  # no half-written file left behind

    report = ok(run("xinbao-syncd", "--json", "import", str(usb), home=city)).json()
    assert (len(report["applied"]), report["records"], report["quarantined"]) == (1, 1, [])
    inbox = ok(run("xinbao", "--json", "list", "--inbox", home=city)).json()
    assert [r["item_id"] for r in inbox] == [item_id]
    again = ok(run("xinbao-syncd", "--json", "import", str(usb), home=city)).json()
    assert again["duplicate"] == exported and again["applied"] == []

    ok(run("xinbao", "adopt", item_id, "--issue", "每日要情/3", home=city))
    back = tmp_path / "back"
    ok(run("xinbao-syncd", "export", "--peer", "140212", str(back), home=city))
    ok(run("xinbao-syncd", "import", str(back), home=county))
    shown = ok(run("xinbao", "--json", "show", item_id, home=county)).json()
    assert shown["edges"][0]["state"] == "已成刊"  # adopted, then placed in 每日要情/3


def test_refused_files_go_to_quarantine_with_a_reason(net: dict[str, Path], tmp_path: Path) -> None:
    county, city = net["140212"], net["140200"]
    (tmp_path / "item.toml").write_text(ITEM, "utf-8")
    item_id = ok(
        run("xinbao", "--json", "submit", str(tmp_path / "item.toml"), home=county)
    ).json()["id"]
    ok(run("xinbao", "signoff", item_id, home=county))
    usb = tmp_path / "usb"
    (name,) = ok(
        run("xinbao-syncd", "--json", "export", "--peer", "140200", str(usb), home=county)
    ).json()
    good = (usb / name).read_bytes()
    bad = bytearray(good)
    bad[-10] ^= 0x40  # inside the signature
    (usb / name).write_bytes(bytes(bad))
    (usb / "junk.xbb").write_bytes(b"not a bundle at all")
    report = ok(run("xinbao-syncd", "--json", "import", str(usb), home=city)).json()
    assert sorted(r for _, r in report["quarantined"]) == ["bad-magic", "signature"]
    assert report["applied"] == []
    notes = [
        json.loads(p.read_text("utf-8")) for p in (city / "spool" / "quarantine").glob("*.json")
    ]
    assert {n["reason"] for n in notes} >= {"bad-magic", "signature"}
    inbox = ok(run("xinbao", "--json", "list", "--inbox", home=city)).json()
    assert item_id not in [r["item_id"] for r in inbox]  # nothing applied
    (usb / name).write_bytes(good)
    (usb / "junk.xbb").unlink()
    fixed = ok(run("xinbao-syncd", "--json", "import", str(usb), home=city)).json()
    assert len(fixed["applied"]) == 1


def test_export_needs_enrolment_and_import_needs_a_folder(tmp_path: Path) -> None:
    home = tmp_path / "n"
    ok(
        run(
            "xinbao-syncd",
            "init",
            "--id",
            "140213",
            "--name",
            "平城区",
            "--tier",
            "county",
            "--parent",
            "140200",
            home=home,
        )
    )
    done = run("xinbao-syncd", "export", "--peer", "140200", str(tmp_path / "o"), home=home)
    assert done.code == 1 and "尚未入网" in done.err
    missing = run("xinbao-syncd", "import", str(tmp_path / "nowhere"), home=home)
    assert missing.code == 1 and "不存在" in missing.err
