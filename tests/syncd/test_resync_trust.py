"""Resync records are hostile input too (syncd/receive.py, schema/authority.py): only a direct
neighbour may ask, only for itself; a record "returned" must carry this node's own signature;
an honest request gets back what was handed since, and only the asker's own records, once."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schema import outbox, resync
from schema.clock import to_text
from schema.node import NodeHome
from schema.store import Store
from syncd import enrolment, transfer
from syncd.outgoing import Outgoing
from syncd.spool import Spool
from tests.cli_helpers import run
from tests.syncd.daemons import ok
from tests.syncd.test_record_authority import (
    CITY,
    COUNTY,
    SIBLING,
    TOWNSHIP,
    TREE,
    crafted,
    enrol,
    item_payload,
    items,
    move,
    receive,
    signed,
    submit,
)

LONG_AGO = to_text(datetime.now(UTC) - timedelta(days=1))
PROVINCE_ID = "140000"


@pytest.fixture
def net(tmp_path: Path) -> Iterator[dict[str, Path]]:
    homes = enrol(tmp_path, TREE)
    move(homes, TOWNSHIP, COUNTY)  # certificates of the nodes below travel up
    move(homes, COUNTY, CITY)
    move(homes, SIBLING, CITY)
    yield homes


def ask(homes: dict[str, Path], maker: str, node: str, to: str, record_id: str = "") -> Path:
    record = {
        "id": record_id or f"resync:{maker}:{secrets.token_hex(4)}",
        "kind": resync.RESYNC,
        "version": 1,
        "origin": maker,
        "payload": {"node": node, "since": LONG_AGO, "asked_at": LONG_AGO},
    }
    return crafted(homes, maker, [to], [signed(homes, maker, record, [to])])


def pending(home: Path, kind: str) -> list[str]:
    store = Store.open(home / "store.db")
    try:
        return [q.record.id for q in outbox.pending(store) if q.record.kind == kind]
    finally:
        store.close()


def waiting_for(home: Path, peer: str) -> list[str]:
    spool = Spool(home)
    try:
        return [h.bundle_id for h in Outgoing(spool).due(peer, float("inf"), 3)]
    finally:
        spool.close()


def test_a_neighbour_hands_again_what_it_handed_and_returns_the_askers_records_once(
    net: dict[str, Path],
) -> None:
    item = submit(net[COUNTY], "新荣区完成冬季供暖设施巡查")
    move(net, COUNTY, CITY)
    ok(run("xinbao", "adopt", item, home=net[CITY]))
    move(net, CITY, COUNTY)  # the decision: handed to the county, and kept for its resync
    assert waiting_for(net[CITY], COUNTY) == []
    # the county, restored from a backup of yesterday, asks the city
    store = Store.open(net[COUNTY] / "store.db")
    try:
        day = timedelta(days=1)
        resync.start(store, COUNTY, [CITY], datetime.now(UTC) - day, datetime.now(UTC))
        (asked,) = [p.peer for p in resync.peers(store)]
        request_id = store.one("SELECT request_id FROM resync")["request_id"]  # type: ignore[index]
    finally:
        store.close()
    assert asked == CITY
    assert move(net, COUNTY, CITY)["quarantined"] == []
    assert len(waiting_for(net[CITY], COUNTY)) >= 1  # handed again
    assert len(pending(net[CITY], resync.RETURNED)) == 1
    assert len(pending(net[CITY], resync.HANDED)) == len(pending(net[CITY], resync.DONE)) == 1
    # the same request again (its bundle resent): answered once
    assert receive(net, CITY, ask(net, COUNTY, COUNTY, CITY, request_id)) == ("applied", "")
    assert len(pending(net[CITY], resync.RETURNED)) == 1
    # the county takes them: its own item back, every bundle handed again come, and done
    report = move(net, CITY, COUNTY)
    assert report["quarantined"] == []
    store = Store.open(net[COUNTY] / "store.db")
    try:
        (peer,) = resync.peers(store)
        assert peer.answered_at and peer.records == 1 and peer.bundles >= 1
        assert resync.coming(store) == 0 and not resync.running(store)
    finally:
        store.close()
    # a new request (the county restored again) is answered again: it must never wait forever
    assert receive(net, CITY, ask(net, COUNTY, COUNTY, CITY)) == ("applied", "")
    assert len(pending(net[CITY], resync.DONE)) == 1  # the first answer was carried away


def test_only_a_parent_or_a_direct_child_may_ask(net: dict[str, Path]) -> None:
    outcome = receive(net, CITY, ask(net, TOWNSHIP, TOWNSHIP, CITY))
    assert outcome == ("quarantined", "record-authority")
    assert pending(net[CITY], resync.DONE) == []


def test_a_node_may_ask_only_for_itself(net: dict[str, Path]) -> None:
    outcome = receive(net, CITY, ask(net, COUNTY, SIBLING, CITY))
    assert outcome == ("quarantined", "record-authority")
    assert pending(net[CITY], resync.DONE) == []


def test_a_returned_record_must_carry_the_nodes_own_signature(net: dict[str, Path]) -> None:
    item = submit(net[COUNTY], "新荣区完成冬季供暖设施巡查")
    move(net, COUNTY, CITY)
    store = Store.open(net[CITY] / "store.db")
    try:  # the city restored and resyncing: a returned record is looked at, and must be its own
        resync.start(store, CITY, [COUNTY], datetime.now(UTC), datetime.now(UTC))
        before = store.query("SELECT state, version FROM edge")
    finally:
        store.close()
    decision = {
        "id": f"edge:{item}:{COUNTY}>{CITY}",
        "kind": "decision",
        "version": 9,
        "payload": {
            "item_id": item,
            "from": COUNTY,
            "to": CITY,
            "state": "退稿",
            "note": "",
            "placement": "",
            "actor": "某某",
            "at": LONG_AGO,
        },
    }
    # a decision "of the city" signed by the county; then one that is the county's own
    forged = signed(net, COUNTY, {**decision, "origin": CITY}, [COUNTY])
    own = signed(net, COUNTY, {**decision, "origin": COUNTY}, [COUNTY])
    for inner, reason in ((forged, "record-signature"), (own, "record-authority")):
        wrapper = {
            "id": f"returned:{COUNTY}:{secrets.token_hex(4)}",
            "kind": resync.RETURNED,
            "version": 1,
            "origin": COUNTY,
            "payload": {"for": "resync:x", "record": inner, "received_at": LONG_AGO},
        }
        bundle = crafted(net, COUNTY, [CITY], [signed(net, COUNTY, wrapper, [CITY])])
        assert receive(net, CITY, bundle) == ("quarantined", reason)
    store = Store.open(net[CITY] / "store.db")
    try:
        assert store.query("SELECT state, version FROM edge") == before
    finally:
        store.close()


def test_an_answer_nobody_asked_for_changes_nothing(net: dict[str, Path]) -> None:
    """A neighbour cannot start a "resync" at a node that was never restored: its word that
    it is done, or a record it returns, is acknowledged and ignored."""
    item = submit(net[CITY], "大同市全面完成冬季供暖设施检修")  # the city's own, queued up
    done = {
        "id": f"resync-done:{COUNTY}:{secrets.token_hex(4)}",
        "kind": resync.DONE,
        "version": 1,
        "origin": COUNTY,
        "payload": {"for": "x", "node": CITY, "counters": {"item": {"2026": 90000}}},
    }
    bundle = crafted(net, COUNTY, [CITY], [signed(net, COUNTY, done, [CITY])])
    assert receive(net, CITY, bundle) == ("applied", "")
    store = Store.open(net[CITY] / "store.db")
    try:
        assert resync.peers(store) == [] and not resync.running(store)
        counter = store.one("SELECT value FROM counter WHERE name = 'item:2026'")
        assert counter is not None and counter["value"] == int(item.rsplit("-", 1)[1])
    finally:
        store.close()


EMERGENCY = """\
title = "{title}"
category = "突发事件"
urgency = "特急"
author = "李四"
body = "某煤矿井下透水，3人被困，正在救援。"
[incident]
severity = "较大"
occurred_at = "{at}"
place = "新荣区某煤矿"
"""


def test_a_bundle_handed_again_applies_as_of_when_it_first_came(net: dict[str, Path]) -> None:
    """An emergency's first report that reached the city in time, handed again after the
    city's restore, is not counted late (迟报) now: its records apply as of its first arrival,
    which the neighbour said ahead of it. One with no such word is judged as it comes."""
    from syncd.bundle import read_front
    from syncd.spool import open_regular

    occurred = datetime.now(UTC) - timedelta(hours=3)  # the city's written deadline: 2 h
    sealed = occurred + timedelta(minutes=20)  # the county signed and sent it in time
    store = Store.open(net[CITY] / "store.db")
    try:  # the city, restored from a backup taken before, asked the county
        resync.start(store, CITY, [COUNTY], occurred, datetime.now(UTC))
    finally:
        store.close()
    marks = {}
    for title, first in (("甲矿透水", occurred + timedelta(minutes=30)), ("乙矿透水", None)):
        path = net[COUNTY] / "emergency.toml"
        path.write_text(EMERGENCY.format(title=title, at=to_text(occurred)), "utf-8")
        made = ok(run("xinbao", "--json", "submit", str(path), home=net[COUNTY])).json()["id"]
        ok(run("xinbao", "signoff", made, home=net[COUNTY]))
        folder = net[COUNTY].parent / f"carry-{title}"
        (bundle,) = transfer.export(NodeHome(net[COUNTY]), CITY, folder, sealed)
        if first is not None:
            with open_regular(bundle) as fh:
                bundle_id = read_front(fh).header.id
            store = Store.open(net[CITY] / "store.db")
            try:
                with store.write():
                    said = {"bundles": {bundle_id: to_text(first)}}
                    resync.first_arrivals(store, COUNTY, said, datetime.now(UTC))
            finally:
                store.close()
        assert receive(net, CITY, bundle) == ("applied", "")
        store = Store.open(net[CITY] / "store.db")
        try:
            marks[title] = [
                r["kind"]
                for r in store.query("SELECT kind FROM incident_mark WHERE item_id = ?", (made,))
            ]
            received = store.one("SELECT received_at FROM kept WHERE record_id = ?", (made,))
        finally:
            store.close()
        if first is not None:
            assert received is not None and received["received_at"] == to_text(first)
    assert marks == {"甲矿透水": [], "乙矿透水": ["迟报"]}


def test_a_returned_record_that_cannot_be_put_back_does_not_lose_the_others(
    net: dict[str, Path],
) -> None:
    """The city's own records come back in one bundle; one of them is its own but cannot be
    put back (a decision naming a state that does not exist): it is logged and skipped, and
    the others are put back — the bundle is not refused."""
    item = submit(net[COUNTY], "新荣区完成冬季供暖设施巡查")
    move(net, COUNTY, CITY)
    store = Store.open(net[CITY] / "store.db")
    try:  # the city restored: it asked the county
        resync.start(store, CITY, [COUNTY], datetime.now(UTC), datetime.now(UTC))
        request_id = store.one("SELECT request_id FROM resync")["request_id"]  # type: ignore[index]
    finally:
        store.close()

    def decision(state: str, version: int) -> dict[str, object]:
        return {
            "id": f"edge:{item}:{COUNTY}>{CITY}",
            "kind": "decision",
            "version": version,
            "origin": CITY,
            "payload": {
                "item_id": item,
                "from": COUNTY,
                "to": CITY,
                "state": state,
                "note": "",
                "placement": "",
                "actor": "王五",
                "at": LONG_AGO,
            },
        }

    roster = {
        "id": f"roster:{CITY}",
        "kind": "roster",
        "version": 4,
        "origin": CITY,
        "payload": {
            "unit": CITY,
            "name": "大同市",
            "person": [{"role": "信息员", "name": "王五", "mobile": "13800000000"}],
            "by": "王五",
            "at": LONG_AGO,
        },
    }
    inner = [
        signed(net, CITY, decision("乱写的状态", 5), [COUNTY]),
        signed(net, CITY, roster, [PROVINCE_ID]),
    ]
    wrappers = [
        signed(
            net,
            COUNTY,
            {
                "id": f"returned:{COUNTY}:{secrets.token_hex(4)}",
                "kind": resync.RETURNED,
                "version": 1,
                "origin": COUNTY,
                "payload": {"for": request_id, "record": raw, "received_at": LONG_AGO},
            },
            [CITY],
        )
        for raw in inner
    ]
    assert receive(net, CITY, crafted(net, COUNTY, [CITY], wrappers)) == ("applied", "")
    store = Store.open(net[CITY] / "store.db")
    try:
        held = store.query("SELECT name FROM roster WHERE unit = ?", (CITY,))
        edge = store.one("SELECT state FROM edge WHERE item_id = ?", (item,))
    finally:
        store.close()
    assert [r["name"] for r in held] == ["王五"]
    assert edge is not None and edge["state"] == "已接收"  # the bad one changed nothing


def test_hostile_resync_words_refuse_their_bundle_and_never_stop_receiving(
    net: dict[str, Path],
) -> None:
    """Numbers out of range, wrong types, an id with a digit that is not ASCII, a flood of
    requests, a header dated before 1970: each at most refuses its own bundle (or is
    ignored); the node goes on receiving, and one batch answers a neighbour once."""
    import dataclasses
    import io

    from syncd.bundle import new_header, seal
    from syncd.keys import load_keys

    def request(since: str) -> dict[str, object]:
        return {
            "id": f"resync:{COUNTY}:{secrets.token_hex(4)}",
            "kind": resync.RESYNC,
            "version": 1,
            "origin": COUNTY,
            "payload": {"node": COUNTY, "since": since, "asked_at": LONG_AGO},
        }

    # a date before year 1 once the margin is taken off: refused, not a crash
    far = crafted(
        net, COUNTY, [CITY], [signed(net, COUNTY, request("0001-01-01T00:00:00"), [CITY])]
    )
    assert receive(net, CITY, far) == ("quarantined", "payload-invalid")
    # an item whose number is a superscript digit, then a request: answered all the same
    odd_id = "140212-2026-²"
    odd = {"id": odd_id, "kind": "item", "version": 1, "origin": COUNTY}
    odd["payload"] = item_payload(odd_id, COUNTY, COUNTY, CITY)
    odd_bundle = crafted(net, COUNTY, [CITY], [signed(net, COUNTY, odd, [CITY])])
    assert receive(net, CITY, odd_bundle) == ("applied", "")
    # a flood of requests in one bundle: one answer
    flood = [signed(net, COUNTY, request(LONG_AGO), [CITY]) for _ in range(5)]
    assert receive(net, CITY, crafted(net, COUNTY, [CITY], flood)) == ("applied", "")
    assert len(pending(net[CITY], resync.DONE)) == 1
    # the city restored, asking the county: nonsense in the county's answers changes nothing
    store = Store.open(net[CITY] / "store.db")
    try:
        resync.start(store, CITY, [COUNTY], datetime.now(UTC), datetime.now(UTC))
        request_id = store.one("SELECT request_id FROM resync")["request_id"]  # type: ignore[index]
    finally:
        store.close()
    words = [
        {"kind": resync.HANDED, "payload": {"for": request_id, "bundles": 5}},
        {"kind": resync.DONE, "payload": {"for": request_id, "records": 2**70, "bundles": True}},
    ]
    raws = [
        signed(
            net,
            COUNTY,
            {"id": f"{w['kind']}:{COUNTY}:{n}", "version": 1, "origin": COUNTY, **w},
            [CITY],
        )
        for n, w in enumerate(words)
    ]
    assert receive(net, CITY, crafted(net, COUNTY, [CITY], raws)) == ("applied", "")
    store = Store.open(net[CITY] / "store.db")
    try:
        (peer,) = resync.peers(store)
        assert peer.answered_at and peer.records == 0 and peer.bundles == 0
    finally:
        store.close()
    # a header dated long before 1970, while bundles handed again are awaited
    store = Store.open(net[CITY] / "store.db")
    try:
        with store.write():
            resync.first_arrivals(store, COUNTY, {"bundles": {"x": LONG_AGO}}, datetime.now(UTC))
    finally:
        store.close()
    home = NodeHome(net[COUNTY])
    keys, chain = load_keys(home.path, None), enrolment.load_chain(home) or []
    header = dataclasses.replace(new_header(COUNTY, [CITY], datetime.now(UTC)), created=-(10**11))
    out = io.BytesIO()
    seal(header, [], keys, chain, enrolment.encryption_keys(home), out)
    old = net[COUNTY].parent / "old.xbb"
    old.write_bytes(out.getvalue())
    outcome = receive(net, CITY, old)  # whatever becomes of it, receiving goes on
    assert outcome[0] in ("applied", "quarantined")
    item = submit(net[COUNTY], "新荣区完成冬季供暖设施巡查")
    assert move(net, COUNTY, CITY)["applied"]
    assert item in items(net[CITY])


def test_a_record_version_past_sqlite_s_integers_refuses_only_its_bundle(
    net: dict[str, Path],
) -> None:
    """A version of 2^63 is a valid JSON number and a signed one; SQLite cannot hold it. The
    bundle is refused (payload-invalid) and the next one is received as usual."""
    big = {"id": "140212-2026-99999", "kind": "item", "version": 2**63, "origin": COUNTY}
    big["payload"] = item_payload("140212-2026-99999", COUNTY, COUNTY, CITY)
    bundle = crafted(net, COUNTY, [CITY], [signed(net, COUNTY, big, [CITY])])
    assert receive(net, CITY, bundle) == ("quarantined", "payload-invalid")
    item = submit(net[COUNTY], "新荣区完成冬季供暖设施巡查")
    assert move(net, COUNTY, CITY)["applied"]
    assert item in items(net[CITY]) and "140212-2026-99999" not in items(net[CITY])
