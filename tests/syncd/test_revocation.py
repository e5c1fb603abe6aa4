"""Revocation notices: signed by the issuer, travelling down; revoked senders are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schema import outbox
from schema.desk import Desk, adopt, signoff, submit
from schema.node import NodeHome
from schema.record import Record
from schema.store import Store
from schema.vocabulary import Classification, Role, Tier
from syncd import revocation, transfer
from syncd.enrolment import load_root
from syncd.error import TrustError
from tests.conftest import draft
from tests.syncd.test_enrolment import enrol, node

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, NodeHome]:
    homes = {
        "140000": node(tmp_path, "140000", Tier.PROVINCE),
        "140200": node(tmp_path, "140200", Tier.CITY, "140000"),
        "140212": node(tmp_path, "140212", Tier.COUNTY, "140200"),
        "140213": node(tmp_path, "140213", Tier.COUNTY, "140200"),
    }
    enrol(homes["140000"], homes["140200"])
    enrol(homes["140200"], homes["140212"])
    enrol(homes["140200"], homes["140213"])
    return homes


def send_item(home: NodeHome, folder: Path) -> list[Path]:
    config = home.load()
    store = Store.open(home.store_path)
    desk = Desk(store, config.unit, "admin", frozenset(Role), lambda: NOW)
    signoff(desk, submit(desk, draft()).id)
    store.close()
    return transfer.export(home, config.parent, folder, NOW)


def test_a_revoked_child_is_refused_and_the_notice_reaches_its_siblings(
    tree: dict[str, NodeHome], tmp_path: Path
) -> None:
    city, good, bad = tree["140200"], tree["140212"], tree["140213"]
    revocation.revoke(city, "140213", "密钥遗失", NOW)
    assert revocation.revoked(city) == {"140213"}
    send_item(bad, tmp_path / "from-bad")
    report = transfer.import_folder(city, tmp_path / "from-bad", NOW + timedelta(minutes=1))
    assert [reason for _, reason in report.quarantined] == ["revoked-sender"]
    assert report.records == 0

    transfer.export(city, "140212", tmp_path / "down", NOW)
    report = transfer.import_folder(good, tmp_path / "down", NOW + timedelta(minutes=1))
    assert report.quarantined == [] and len(report.applied) == 1
    assert revocation.revoked(good) == {"140213"}


def test_only_an_issuer_on_the_way_up_may_revoke(tree: dict[str, NodeHome]) -> None:
    county, sibling = tree["140212"], tree["140213"]
    with pytest.raises(TrustError, match="没有为 140200 签发过证书"):
        revocation.revoke(county, "140200", "越权", NOW)
    # a notice signed by a sibling county (a genuine node, but not an ancestor) is refused
    record = revocation.revoke(tree["140200"], "140212", "测试", NOW)
    forged = {
        "id": record.id,
        "kind": "revocation",
        "version": 1,
        "origin": "140213",
        "payload": {**record.payload},
    }
    forged["payload"]["notice"] = {**record.payload["notice"], "issuer": "140213"}
    root = load_root(sibling)
    assert root is not None
    with pytest.raises(TrustError):
        revocation.accept(sibling, forged, root, NOW, Store.open(sibling.store_path))
    # and one whose signature does not match its text is refused too
    tampered = {
        **forged,
        "payload": {**record.payload, "notice": {**record.payload["notice"], "node": "140213"}},
    }
    with pytest.raises(TrustError):
        revocation.accept(county, tampered, root, NOW, Store.open(county.store_path))
    assert revocation.revoked(county) == frozenset()


def test_a_bundle_with_a_bad_trust_record_is_applied_not_at_all(
    tree: dict[str, NodeHome], tmp_path: Path
) -> None:
    city, county = tree["140200"], tree["140212"]
    send_item(county, tmp_path / "up")
    transfer.import_folder(city, tmp_path / "up", NOW)
    store = Store.open(city.store_path)
    (row,) = store.query("SELECT item_id FROM edge WHERE to_unit = '140200'")
    desk = Desk(store, city.load().unit, "admin", frozenset(Role), lambda: NOW)
    adopt(desk, row["item_id"])
    bogus = Record("certificate:x:1", "certificate", 1, "140200", {"chain": "垃圾"})
    outbox.enqueue(
        store, bogus, ("140212",), priority=0, classification=Classification.INTERNAL, at=NOW
    )
    store.close()
    transfer.export(city, "140212", tmp_path / "down", NOW)
    report = transfer.import_folder(county, tmp_path / "down", NOW)
    assert [reason for _, reason in report.quarantined] == ["apply-failed"]
    store = Store.open(county.store_path)
    (edge,) = store.query("SELECT state FROM edge")
    assert edge["state"] == "已报送"  # the adoption in the same bundle was not applied
    store.close()
