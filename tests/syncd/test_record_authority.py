"""Authority above the bundle (syncd/proof.py, schema/authority.py): every record proves who
made it and for whom; a node that holds only its own keys cannot make another's record count.

A province → city → two counties network of real node homes, records moved by export and
import (the air-gap path) or sealed by hand with an attacker's own, legitimately enrolled keys.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schema import authority
from schema.node import NodeConfig, NodeHome
from schema.store import Store
from schema.vocabulary import Tier
from syncd import enrolment, transfer
from syncd import receive as receive_module
from syncd.bundle import new_header, seal
from syncd.engine import Engine
from syncd.home import init_node
from syncd.keys import load_keys
from syncd.outgoing import Outgoing
from syncd.proof import sign
from syncd.receive import Receiver
from syncd.spool import Spool
from tests.cli_helpers import me, run
from tests.syncd.daemons import ok

PROVINCE, CITY, COUNTY, SIBLING = "140000", "140200", "140212", "140211"
TOWNSHIP = "140212101"
TREE = [
    (PROVINCE, "province", ""),
    (CITY, "city", PROVINCE),
    (COUNTY, "county", CITY),
    (SIBLING, "county", CITY),
    (TOWNSHIP, "township", COUNTY),
]
ITEM = """\
title = "{title}"
category = "工作动态"
author = "李四"
body = "本周完成冬季供暖设施巡查，排查隐患十二处。"
"""


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    root = tmp_path_factory.mktemp("authority")
    homes = enrol(root, TREE)
    # certificates of the nodes below travel up to the province as records
    move(homes, COUNTY, CITY)
    move(homes, CITY, PROVINCE)
    yield homes


def enrol(root: Path, nodes: list[tuple[str, str, str]]) -> dict[str, Path]:
    """Node homes enrolled top-down with the library calls the CLI makes (the desk user of
    :func:`tests.cli_helpers.run` is their administrator)."""
    homes = {node: root / node for node, _, _ in nodes}
    now = datetime.now(UTC)
    for node, tier, parent in nodes:
        home = NodeHome(homes[node])
        init_node(home, NodeConfig(node, f"单位{node}", Tier[tier.upper()], parent), me(), now)
        if parent:
            request = enrolment.request(home)
            _, pem = enrolment.issue_for(NodeHome(homes[parent]), request, now)
            enrolment.install(home, pem, now)
    return homes


def move(homes: dict[str, Path], src: str, dst: str) -> dict[str, Any]:
    """Carry what ``src`` has queued for ``dst`` across an air gap; the import report."""
    folder = homes[src].parent / f"usb-{src}-{dst}"
    for old in folder.glob("*.xbb"):
        old.unlink()
    transfer.export(NodeHome(homes[src]), dst, folder, datetime.now(UTC))
    spool = Spool(homes[src])  # and the bundles it relays, as the daemon's folder link would
    try:
        outgoing = Outgoing(spool)
        for hop in outgoing.due(dst, float("inf"), 3):
            shutil.copy(hop.path, folder / hop.path.name)
            outgoing.handed(hop, datetime.now(UTC).timestamp())
    finally:
        spool.close()
    return dict(ok(run("xinbao-syncd", "--json", "import", str(folder), home=homes[dst])).json())


def submit(home: Path, title: str) -> str:
    path = home / f"{title}.toml"
    path.write_text(ITEM.format(title=title), "utf-8")
    item_id = str(ok(run("xinbao", "--json", "submit", str(path), home=home)).json()["id"])
    ok(run("xinbao", "signoff", item_id, home=home))
    return item_id


def items(home: Path) -> dict[str, str]:
    store = Store.open(home / "store.db")
    try:
        return {r["id"]: r["origin"] for r in store.query("SELECT id, origin FROM item")}
    finally:
        store.close()


def edges(home: Path, item_id: str) -> list[tuple[str, str, str]]:
    store = Store.open(home / "store.db")
    try:
        rows = store.query("SELECT * FROM edge WHERE item_id = ? ORDER BY id", (item_id,))
        return [(r["from_unit"], r["to_unit"], r["state"]) for r in rows]
    finally:
        store.close()


def crafted(
    homes: dict[str, Path],
    sender: str,
    recipients: list[str],
    records: list[dict[str, Any]],
    version: int = 2,
) -> Path:
    """A bundle sealed with ``sender``'s own keys and chain, holding ``records`` as given."""
    home = NodeHome(homes[sender])
    keys, chain = load_keys(home.path, None), enrolment.load_chain(home) or []
    out = io.BytesIO()
    header = new_header(sender, recipients, datetime.now(UTC))
    public = enrolment.encryption_keys(home)
    seal(header, records, keys, chain, public, out, None, (), version)
    folder = homes[sender].parent / "crafted"
    folder.mkdir(exist_ok=True)
    path = folder / f"{header.id}.xbb"
    path.write_bytes(out.getvalue())
    return path


def receive(homes: dict[str, Path], me: str, path: Path) -> tuple[str, str]:
    """(outcome, reason) of one bundle at ``me``."""
    with Receiver(NodeHome(homes[me])) as receiver:
        report = receiver.receive([path], datetime.now(UTC))
    if report.quarantined:
        return "quarantined", report.quarantined[0][1]
    return ("applied", "") if report.applied else ("other", "")


def signed(homes: dict[str, Path], maker: str, record: dict[str, Any], to: list[str]) -> Any:
    return sign(record, to, load_keys(homes[maker], None))


def item_payload(item_id: str, origin: str, sender: str, target: str) -> dict[str, Any]:
    content = {
        "title": "某煤矿发生重大安全事故",
        "category": "工作动态",
        "author": "某某",
        "body": "伪造的报送内容。",
    }
    return {
        "item": {
            "id": item_id,
            "origin": origin,
            "revision": 1,
            "content": content,
            "signer": "某某",
            "signed_at": "2026-11-21T15:00:00+08:00",
            "created_at": "2026-11-21T15:00:00+08:00",
            "sources": [],
            "derivation": "",
        },
        "edges": [[sender, target]],
    }


# -- the honest path: forwards, instructions and feedback carry their proofs ------------------


def test_a_forward_cites_the_county_and_the_province_credits_it(net: dict[str, Path]) -> None:
    county_item = submit(net[COUNTY], "新荣区完成冬季供暖设施巡查")
    assert move(net, COUNTY, CITY)["applied"]
    forwarded = str(
        ok(run("xinbao", "--json", "forward", county_item, home=net[CITY])).json()["id"]
    )
    ok(run("xinbao", "signoff", forwarded, home=net[CITY]))
    report = move(net, CITY, PROVINCE)
    assert report["quarantined"] == [] and report["applied"]
    assert items(net[PROVINCE])[forwarded] == CITY
    store = Store.open(net[PROVINCE] / "store.db")
    try:
        sources = [r["source_id"] for r in store.query("SELECT source_id FROM source")]
        proof = json.loads(
            store.one("SELECT proof FROM proof WHERE record_id = ?", (forwarded,))["proof"]
        )  # type: ignore[index]
    finally:
        store.close()
    assert county_item in sources
    (cite,) = proof["payload"]["cites"]
    assert (cite["id"], cite["origin"], cite["to"]) == (county_item, COUNTY, [CITY])
    assert cite["sig"] and "BEGIN CERTIFICATE" in cite["chain"]

    # the province adopts the city's forward: the decision goes to the city, which tells the
    # county, citing the province's own signed decision
    ok(run("xinbao", "adopt", forwarded, home=net[PROVINCE]))
    assert move(net, PROVINCE, CITY)["quarantined"] == []
    report = move(net, CITY, COUNTY)
    assert report["quarantined"] == [] and report["applied"]
    shown = ok(run("xinbao", "--json", "show", county_item, home=net[COUNTY])).json()
    assert PROVINCE in json.dumps(shown, ensure_ascii=False)

    # an instruction from the province on the forward reaches the county through the city
    args = ["instruct", forwarded, "--leader", "省长王某某", "--level", "省级", "--text", "很好"]
    ok(run("xinbao", *args, home=net[PROVINCE]))
    assert move(net, PROVINCE, CITY)["quarantined"] == []
    report = move(net, CITY, COUNTY)
    assert report["quarantined"] == [] and report["applied"]
    assert issuers(net[COUNTY]) == [PROVINCE]


def test_an_instruction_relayed_down_cites_the_issuer(net: dict[str, Path]) -> None:
    # township → county (forward) → city (forward) → province: the province knows the county
    # as the maker of the city's source, not the township; the county passes it on
    township_item = submit(net[TOWNSHIP], "某镇建成便民服务站")
    assert move(net, TOWNSHIP, COUNTY)["applied"]
    at_county = forward(net[COUNTY], township_item)
    assert move(net, COUNTY, CITY)["quarantined"] == []
    at_city = forward(net[CITY], at_county)
    assert move(net, CITY, PROVINCE)["quarantined"] == []
    args = ["instruct", at_city, "--leader", "省长王某某", "--level", "省级", "--text", "好经验"]
    ok(run("xinbao", *args, home=net[PROVINCE]))
    assert move(net, PROVINCE, CITY)["quarantined"] == []
    assert move(net, CITY, COUNTY)["quarantined"] == []
    report = move(net, COUNTY, TOWNSHIP)
    assert report["quarantined"] == [] and report["applied"]
    assert PROVINCE in issuers(net[TOWNSHIP])
    store = Store.open(net[COUNTY] / "store.db")
    try:
        row = store.one("SELECT payload FROM outbox WHERE record_id LIKE '140000-PS-%@140212'")
    finally:
        store.close()
    assert row is not None
    (cite,) = json.loads(row["payload"])["cites"]
    assert (cite["origin"], cite["kind"]) == (PROVINCE, "instruction")


def forward(home: Path, item_id: str) -> str:
    made = str(ok(run("xinbao", "--json", "forward", item_id, home=home)).json()["id"])
    ok(run("xinbao", "signoff", made, home=home))
    return made


def issuers(home: Path) -> list[str]:
    store = Store.open(home / "store.db")
    try:
        return [r["issuer"] for r in store.query("SELECT issuer FROM instruction")]
    finally:
        store.close()


# -- forgeries by nodes holding only their own keys ----------------------------------------------


def test_a_county_cannot_send_an_item_as_its_sibling(net: dict[str, Path]) -> None:
    forged_id = f"{SIBLING}-2026-09001"
    body = {"id": forged_id, "kind": "item", "version": 1, "origin": SIBLING}
    record = {**body, "payload": item_payload(forged_id, SIBLING, SIBLING, CITY)}
    # signed with its own key while claiming the sibling made it
    path = crafted(net, COUNTY, [CITY], [signed(net, COUNTY, record, [CITY])])
    assert receive(net, CITY, path) == ("quarantined", "record-signature")
    # unsigned
    path = crafted(net, COUNTY, [CITY], [{**record, "to": [CITY], "sig": ""}])
    assert receive(net, CITY, path) == ("quarantined", "record-signature")
    # in a version 1 bundle, where the records count as the sender's own
    path = crafted(net, COUNTY, [CITY], [record], version=1)
    assert receive(net, CITY, path) == ("quarantined", "record-signature")
    # as its own record, but the item inside says the sibling wrote it
    own = {**body, "origin": COUNTY, "payload": item_payload(forged_id, SIBLING, COUNTY, CITY)}
    path = crafted(net, COUNTY, [CITY], [signed(net, COUNTY, own, [CITY])])
    assert receive(net, CITY, path) == ("quarantined", "record-authority")
    assert forged_id not in items(net[CITY])


def test_a_county_cannot_make_the_provinces_decision(net: dict[str, Path]) -> None:
    county_item = submit(net[CITY], "大同市部署冬季安全生产大检查")
    decision = {
        "id": f"edge:{county_item}:{CITY}>{PROVINCE}",
        "kind": "decision",
        "version": 9,
        "payload": {
            "item_id": county_item,
            "from": CITY,
            "to": PROVINCE,
            "state": "已采用",
            "note": "",
            "placement": "",
            "actor": "某某",
            "at": "2026-11-21T15:00:00+08:00",
        },
    }
    as_province = signed(net, COUNTY, {**decision, "origin": PROVINCE}, [CITY])
    path = crafted(net, COUNTY, [CITY], [as_province])
    assert receive(net, CITY, path) == ("quarantined", "record-signature")
    as_itself = signed(net, COUNTY, {**decision, "origin": COUNTY}, [CITY])
    path = crafted(net, COUNTY, [CITY], [as_itself])
    assert receive(net, CITY, path) == ("quarantined", "record-authority")
    assert edges(net[CITY], county_item) == [(CITY, PROVINCE, "已报送")]


def test_a_record_for_the_city_cannot_be_presented_to_the_province(net: dict[str, Path]) -> None:
    county_item = submit(net[COUNTY], "新荣区开展欠薪专项治理")
    folder = net[COUNTY].parent / "usb-resealed"
    transfer.export(NodeHome(net[COUNTY]), CITY, folder, datetime.now(UTC))
    (bundle,) = folder.glob("*.xbb")
    with Receiver(NodeHome(net[CITY])) as receiver:
        from syncd.bundle import opened_stream

        with (
            open(bundle, "rb") as fh,
            opened_stream(fh, CITY, receiver.keys, receiver.root, datetime.now(UTC)) as op,
        ):
            (original,) = [r for r in op.records if r["id"] == county_item]
    assert original["to"] == [CITY]
    # without the county's certificate the province cannot even tell who made it
    path = crafted(net, CITY, [PROVINCE], [original])
    assert receive(net, PROVINCE, path) == ("quarantined", "record-signature")
    original["chain"] = (net[COUNTY] / "keys" / "chain.pem").read_text()
    # the city re-seals the county's signed record in its own bundle to the province, with
    # and without re-addressing it (which breaks the county's signature)
    path = crafted(net, CITY, [PROVINCE], [original])
    assert receive(net, PROVINCE, path) == ("quarantined", "record-addressee")
    moved = {**original, "to": [PROVINCE]}
    moved["payload"] = {**original["payload"], "edges": [[COUNTY, PROVINCE]]}
    path = crafted(net, CITY, [PROVINCE], [moved])
    assert receive(net, PROVINCE, path) == ("quarantined", "record-signature")
    assert county_item not in items(net[PROVINCE])


def test_a_forward_must_cite_what_it_credits(net: dict[str, Path]) -> None:
    own_id = f"{CITY}-2026-09100"
    record: dict[str, Any] = {"id": own_id, "kind": "item", "version": 1, "origin": CITY}
    payload = item_payload(own_id, CITY, CITY, PROVINCE)
    payload["item"]["sources"] = [f"{SIBLING}-2026-00001"]
    payload["item"]["derivation"] = "forward"
    path = crafted(
        net, CITY, [PROVINCE], [signed(net, CITY, {**record, "payload": payload}, [PROVINCE])]
    )
    assert receive(net, PROVINCE, path) == ("quarantined", "record-citation")
    # a citation the sibling never signed
    source = {"id": f"{SIBLING}-2026-00001", "kind": "item", "version": 1, "origin": SIBLING}
    fake = signed(
        net, CITY, {**source, "payload": item_payload(source["id"], SIBLING, SIBLING, CITY)}, [CITY]
    )
    fake["chain"] = (net[SIBLING] / "keys" / "chain.pem").read_text()
    payload["cites"] = [fake]
    path = crafted(
        net, CITY, [PROVINCE], [signed(net, CITY, {**record, "payload": payload}, [PROVINCE])]
    )
    assert receive(net, PROVINCE, path) == ("quarantined", "record-citation")
    assert own_id not in items(net[PROVINCE])


def test_no_node_can_take_another_records_id(net: dict[str, Path]) -> None:
    # a county's "item" under the id of a decision the province will make: refused, so the
    # real decision is never taken for a duplicate
    squat = {"id": f"edge:{COUNTY}-2026-00001:{CITY}>{PROVINCE}", "kind": "item", "version": 99}
    payload = item_payload(f"{COUNTY}-2026-09200", COUNTY, COUNTY, CITY)
    record = signed(net, COUNTY, {**squat, "origin": COUNTY, "payload": payload}, [CITY])
    assert receive(net, CITY, crafted(net, COUNTY, [CITY], [record])) == (
        "quarantined",
        "record-authority",
    )


def test_the_authority_table_knows_every_kind_it_applies() -> None:
    from schema.inbound import _HANDLERS

    assert set(_HANDLERS) <= set(authority._RULES)
    assert authority.owner("140200-fgw-2026-00003") == "140200-fgw"
    assert authority.owner("140200-YG-2026-0001", 3) == "140200"


# -- the receipt window -------------------------------------------------------------------------


def test_a_receipt_is_never_counted_without_delivered_at(
    net: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    item_id = submit(net[SIBLING], "云州区完成冬季供暖设施巡查")
    engine = Engine(NodeHome(net[SIBLING]))  # sealed as the daemon seals: it awaits a receipt
    try:
        engine.pack(datetime.now(UTC))
    finally:
        engine.close()
    assert move(net, SIBLING, CITY)["applied"]
    folder = net[CITY].parent / "usb-receipt"
    transfer.export(NodeHome(net[CITY]), SIBLING, folder, datetime.now(UTC))
    files = sorted(folder.glob("*.xbb"))

    def crash(*args: Any) -> None:
        raise RuntimeError("killed")

    # the daemon dies while the store is being written: the spool must not have counted it
    with monkeypatch.context() as patch:
        patch.setattr(receive_module, "mark_delivered", crash)
        with Receiver(NodeHome(net[SIBLING])) as receiver, pytest.raises(RuntimeError):
            receiver.receive(files, datetime.now(UTC))
    assert not delivered(net[SIBLING], item_id)
    with Receiver(NodeHome(net[SIBLING])) as receiver:
        assert receiver.outgoing.waiting_receipts() >= 1
    # the daemon dies after the batch committed and before the spool noted the receipt
    with monkeypatch.context() as patch:
        patch.setattr(Outgoing, "receipt", crash)
        with Receiver(NodeHome(net[SIBLING])) as receiver, pytest.raises(RuntimeError):
            receiver.receive(files, datetime.now(UTC))
    assert delivered(net[SIBLING], item_id)
    spool = Spool(net[SIBLING])
    try:
        waiting = spool.db.execute("SELECT COUNT(*) FROM sealed").fetchone()[0]
    finally:
        spool.close()
    assert waiting >= 1  # still waiting: the receipt bundle was not remembered as seen
    # after the restart the same receipt bundle is taken again and the spool follows
    with Receiver(NodeHome(net[SIBLING])) as receiver:
        report = receiver.receive(files, datetime.now(UTC))
    assert report.quarantined == []
    spool = Spool(net[SIBLING])
    try:
        rows = spool.db.execute("SELECT waiting FROM sealed").fetchall()
    finally:
        spool.close()
    assert all(CITY not in json.loads(r[0]) for r in rows)
    assert delivered(net[SIBLING], item_id)


def delivered(home: Path, item_id: str) -> bool:
    store = Store.open(home / "store.db")
    try:
        row = store.one("SELECT delivered_at FROM edge WHERE item_id = ?", (item_id,))
    finally:
        store.close()
    return bool(row and row["delivered_at"])


def test_a_deeply_nested_record_is_refused_before_anything_reads_it(net: dict[str, Path]) -> None:
    deep: Any = "底"
    for _ in range(300):  # parses, but nothing after the parser should have to walk it
        deep = {"a": [deep]}
    record = {"id": f"{COUNTY}-2026-09300", "kind": "item", "version": 1, "origin": COUNTY}
    payload = item_payload(record["id"], COUNTY, COUNTY, CITY)
    payload["extra"] = deep
    for version in (1, 2):
        raw = {**record, "payload": payload}
        made = signed(net, COUNTY, raw, [CITY]) if version == 2 else raw
        path = crafted(net, COUNTY, [CITY], [made], version=version)
        assert receive(net, CITY, path) == ("quarantined", "payload-invalid")
    assert record["id"] not in items(net[CITY])
