"""B. Record forgery: a node that holds only its own keys tries to make records it may not.

The rule (DESIGN.md §2 "Authority lives in the records", bundle format version 2): every record
is signed by its maker over a canonical form naming its addressees, and verified against the
maker's certificate, whoever carried it; what a maker may make is one table. Refusals name
``record-signature`` (missing or invalid signature, unknown maker), ``record-authority`` (the
maker may not make this record), ``record-addressee`` (not addressed to this node) or
``record-citation`` (a citation missing, unverifiable, or not matching).

Two volleys, each imported once (the forgeries first, then the good bundles, in name order;
the good ones include the controls: a format-1 bundle of the sender's own record, and a forward
citing its source's signed record as the rule asks):

* to the city 140200, from the county 140212 (the attacker): a record claiming to be its
  sibling 140211's "重大安全事故" (cases 1), the province's 已采用 decision on the city's own
  edge 140200→140000 (2), an item whose origin is another node (4), and a format-1 bundle
  whose unsigned record claims another origin (6, downgrade);
* to the province 140000, from the city 140200 (the attacker): the county's signed record
  re-sealed as if the county had sent it to the province (3) and forwards claiming a source
  of 140211 without a valid citation (5).

Honest records (the county's own item the city then abuses, 140211's item a citation breaks)
are made with their makers' keys, as those nodes' software would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schema.clock import to_text
from tests.attack.conftest import (
    CITY,
    COUNTY,
    PROVINCE,
    SIBLING,
    Net,
    assert_refused,
    import_volley,
    inbox,
    item_core,
    ok,
    quarantine_notes,
    seal_v1,
    show,
)
from tests.cli_helpers import run

UNKNOWN = "140299"  # no such node in the deployment
SIGNATURE, AUTHORITY = ("record-signature",), ("record-authority",)
ADDRESSEE, CITATION = ("record-addressee",), ("record-citation",)
CITY_ITEM_FILE = """\
title = "大同市今冬供暖保障工作情况"
category = "工作动态"
author = "王五"
body = "全市供热面积同比增长百分之五，困难群众取暖补贴已全部发放到位。"
"""

# case → (victim, reasons it must be refused for)
CASES: dict[str, tuple[str, tuple[str, ...]]] = {
    # 1: the county forges its sibling's emergency report
    "b1a-sibling-origin-unsigned": (CITY, SIGNATURE),
    "b1b-sibling-origin-signed-by-attacker": (CITY, SIGNATURE),
    "b1c-sibling-origin-with-siblings-chain": (CITY, SIGNATURE),
    "b1d-sibling-origin-with-attackers-chain": (CITY, SIGNATURE),
    "b1e-unknown-maker": (CITY, SIGNATURE),
    # 2: the county forges the province's adoption of the city's own report
    "b2a-province-decision-signed-by-attacker": (CITY, SIGNATURE),
    "b2b-province-decision-with-provinces-chain": (CITY, SIGNATURE),
    "b2c-decision-on-anothers-edge-honestly-signed": (CITY, AUTHORITY),
    # 4: an item revision whose item belongs to another node
    "b4a-item-origin-another-node": (CITY, AUTHORITY),
    "b4b-item-id-of-another-node": (CITY, AUTHORITY),
    # 6: a format-1 bundle (unsigned records) whose record claims another origin
    "b6-v1-downgrade": (CITY, ("record-signature", "record-authority")),
    # 3: the city re-seals the county's signed record to the province
    "b3a-resealed-readdressed-to-province": (PROVINCE, SIGNATURE),
    "b3b-resealed-as-signed-for-the-city": (PROVINCE, ADDRESSEE),
    # 5: forwards claiming a source of 140211
    "b5a-forward-without-citation": (PROVINCE, CITATION),
    "b5b-forward-citation-signature-broken": (PROVINCE, CITATION),
    "b5c-forward-citation-of-another-record": (PROVINCE, CITATION),
}
GOOD = "zz-good.xbb"
GOOD_FORWARD = "zz-good-forward.xbb"
GOOD_V1 = "zz-good-v1.xbb"


@dataclass
class Victim:
    report: dict[str, Any]
    notes: dict[str, dict[str, Any]]
    after: dict[str, dict[str, Any]]  # inbox rows by item id (empty before the volley)
    good: set[str]  # the item ids of the good bundles imported after the forgeries


@dataclass
class Volleys:
    victims: dict[str, Victim]
    forged: dict[str, str]  # case → the item id it tried to plant ("" for a decision)
    city_item: str  # the city's own report to the province (case 2's target)
    city_item_before: dict[str, Any]
    city_item_after: dict[str, Any]
    forward_item: str  # the good forward's id at the province
    county_item: str  # its source


def _rows(home: Path) -> dict[str, dict[str, Any]]:
    return {str(row["item_id"]): row for row in inbox(home)}


def _decision(item_id: str, origin: str) -> dict[str, Any]:
    """The province's 已采用 on the edge 140200→140000 as a decision record made by ``origin``."""
    return {
        "id": f"edge:{item_id}:{CITY}>{PROVINCE}",
        "kind": "decision",
        "version": 3,
        "origin": origin,
        "payload": {
            "item_id": item_id,
            "from": CITY,
            "to": PROVINCE,
            "state": "已采用",
            "note": "省办采用",
            "placement": "每日要情/1",
            "actor": "省办值班员",
            "at": to_text(datetime.now(UTC)),
        },
        "to": [CITY],
    }


@pytest.fixture(scope="module")
def volleys(net: Net, tmp_path_factory: pytest.TempPathFactory) -> Volleys:
    carry = tmp_path_factory.mktemp("carry")
    city, province = net.home(CITY), net.home(PROVINCE)

    # the city's own report to the province, signed off (edge 140200→140000, 已报送)
    (carry / "city-item.toml").write_text(CITY_ITEM_FILE, "utf-8")
    submitted = ok(run("xinbao", "--json", "submit", str(carry / "city-item.toml"), home=city))
    city_item = str(submitted.json()["id"])
    ok(run("xinbao", "signoff", city_item, home=city))
    city_item_before = ok(show(city, city_item)).json()

    forged: dict[str, str] = {}
    to_city: dict[str, bytes] = {}

    def county_sends(case: str, records: list[dict[str, Any]]) -> None:
        to_city[f"{case}.xbb"] = net.seal(COUNTY, [CITY], records)

    # 1. the sibling's emergency report, made up by the county
    def sibling_report(case: str, maker: str = SIBLING) -> dict[str, Any]:
        forged[case] = net.item_id(maker)
        return item_core(maker, forged[case], [CITY], "某煤矿发生重大安全事故", emergency=True)

    core = sibling_report("b1a-sibling-origin-unsigned")
    county_sends("b1a-sibling-origin-unsigned", [net.signed(core, key_of=None, chain_of=None)])
    core = sibling_report("b1b-sibling-origin-signed-by-attacker")
    county_sends(
        "b1b-sibling-origin-signed-by-attacker", [net.signed(core, key_of=COUNTY, chain_of=None)]
    )
    core = sibling_report("b1c-sibling-origin-with-siblings-chain")
    county_sends(
        "b1c-sibling-origin-with-siblings-chain",
        [net.signed(core, key_of=COUNTY, chain_of=SIBLING)],
    )
    core = sibling_report("b1d-sibling-origin-with-attackers-chain")
    county_sends(
        "b1d-sibling-origin-with-attackers-chain",
        [net.signed(core, key_of=COUNTY, chain_of=COUNTY)],
    )
    core = sibling_report("b1e-unknown-maker", UNKNOWN)
    county_sends("b1e-unknown-maker", [net.signed(core, key_of=COUNTY, chain_of=COUNTY)])

    # 2. the province's adoption of the city's report, made up by the county
    forged["b2a-province-decision-signed-by-attacker"] = ""
    county_sends(
        "b2a-province-decision-signed-by-attacker",
        [net.signed(_decision(city_item, PROVINCE), key_of=COUNTY, chain_of=None)],
    )
    forged["b2b-province-decision-with-provinces-chain"] = ""
    county_sends(
        "b2b-province-decision-with-provinces-chain",
        [net.signed(_decision(city_item, PROVINCE), key_of=COUNTY, chain_of=PROVINCE)],
    )
    forged["b2c-decision-on-anothers-edge-honestly-signed"] = ""
    county_sends(
        "b2c-decision-on-anothers-edge-honestly-signed",
        [net.signed(_decision(city_item, COUNTY))],
    )

    # 4. item revisions of items that are not the county's
    case = "b4a-item-origin-another-node"
    forged[case] = net.item_id(COUNTY)
    core = item_core(COUNTY, forged[case], [CITY], "冒用他县名义的信息", item_origin=SIBLING)
    county_sends(case, [net.signed(core)])
    case = "b4b-item-id-of-another-node"
    forged[case] = net.item_id(SIBLING)
    county_sends(case, [net.signed(item_core(COUNTY, forged[case], [CITY], "抢占他县编号的信息"))])

    # 6. downgrade: format 1, records unsigned, the record claims the sibling made it
    case = "b6-v1-downgrade"
    forged[case] = net.item_id(SIBLING)
    core = item_core(
        SIBLING, forged[case], [CITY], "某煤矿发生重大安全事故（旧格式）", emergency=True
    )
    record = {k: v for k, v in core.items() if k != "to"}
    chain = net.chain_pem(COUNTY).encode("ascii")
    to_city[f"{case}.xbb"] = seal_v1(
        COUNTY, {CITY: net.encryption_key(CITY)}, [record], net.keys(COUNTY), chain
    )

    # the control for case 6: format 1 carrying the sender's own record still opens
    v1_item = net.item_id(COUNTY)
    own = item_core(COUNTY, v1_item, [CITY], "新荣区旧格式数据包中的信息")
    to_city[GOOD_V1] = seal_v1(
        COUNTY,
        {CITY: net.encryption_key(CITY)},
        [{k: v for k, v in own.items() if k != "to"}],
        net.keys(COUNTY),
        chain,
    )

    good_city = net.item_id(COUNTY)
    to_city[GOOD] = net.seal(
        COUNTY, [CITY], [net.signed(item_core(COUNTY, good_city, [CITY], "新荣区完成供暖设施巡查"))]
    )

    # 3. the county's honest report to the city, re-sealed by the city for the province
    to_province: dict[str, bytes] = {}
    county_item = net.item_id(COUNTY)
    honest = net.signed(item_core(COUNTY, county_item, [CITY], "新荣区发生较大安全事故"))
    readdressed = {
        **honest,
        "to": [PROVINCE],
        "payload": {**honest["payload"], "edges": [[COUNTY, PROVINCE]]},
    }
    to_province["b3a-resealed-readdressed-to-province.xbb"] = net.seal(
        CITY, [PROVINCE], [readdressed]
    )
    to_province["b3b-resealed-as-signed-for-the-city.xbb"] = net.seal(CITY, [PROVINCE], [honest])
    forged["b3a-resealed-readdressed-to-province"] = county_item
    forged["b3b-resealed-as-signed-for-the-city"] = county_item

    # 5. the city's forwards claiming 140211's report as their source
    sibling_item = net.item_id(SIBLING)
    sibling_honest = net.signed(item_core(SIBLING, sibling_item, [CITY], "左云县防汛工作情况"))
    broken = json.loads(json.dumps(sibling_honest))  # a copy whose title is then changed
    broken["payload"]["item"]["content"]["title"] = "篡改后的标题"

    def forward(case: str, source: str, cites: list[dict[str, Any]] | None) -> None:
        forged[case] = net.item_id(CITY)
        core = item_core(
            CITY,
            forged[case],
            [PROVINCE],
            "大同市转报：防汛工作情况",
            sources=[source],
            derivation="forward",
            cites=cites,
        )
        to_province[f"{case}.xbb"] = net.seal(CITY, [PROVINCE], [net.signed(core)])

    forward("b5a-forward-without-citation", sibling_item, None)
    forward("b5b-forward-citation-signature-broken", sibling_item, [broken])
    forward("b5c-forward-citation-of-another-record", sibling_item, [honest])

    good_province = net.item_id(CITY)
    to_province[GOOD] = net.seal(
        CITY,
        [PROVINCE],
        [net.signed(item_core(CITY, good_province, [PROVINCE], "大同市今冬供暖保障有力"))],
    )
    # a forward that cites its source's signed record properly: the rule's positive side
    forward_item = net.item_id(CITY)
    good_forward = item_core(
        CITY,
        forward_item,
        [PROVINCE],
        "大同市转报：新荣区发生较大安全事故",
        sources=[county_item],
        derivation="forward",
        cites=[honest],
    )
    to_province[GOOD_FORWARD] = net.seal(CITY, [PROVINCE], [net.signed(good_forward)])

    assert set(forged) == set(CASES)
    goods = {GOOD[:-4], GOOD_FORWARD[:-4], GOOD_V1[:-4]}
    assert {n[:-4] for n in [*to_city, *to_province]} - goods == set(CASES)
    victims = {}
    for home, files, good in (
        (city, to_city, {good_city, v1_item}),
        (province, to_province, {good_province, forward_item}),
    ):
        report = import_volley(home, files, carry)
        victims[home.name] = Victim(report, quarantine_notes(home), _rows(home), good)
    return Volleys(
        victims=victims,
        forged=forged,
        city_item=city_item,
        city_item_before=city_item_before,
        city_item_after=ok(show(city, city_item)).json(),
        forward_item=forward_item,
        county_item=county_item,
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_forged_record_is_refused_and_nothing_of_it_applied(volleys: Volleys, case: str) -> None:
    where, reasons = CASES[case]
    victim = volleys.victims[where]
    assert_refused(victim.notes, victim.report, f"{case}.xbb", reasons)
    planted = volleys.forged[case]
    assert not planted or planted not in victim.after, f"{case}: {planted} reached the inbox"
    # the inbox (empty before) holds only the good bundles imported after the forgeries
    assert GOOD in victim.report["applied"], victim.report
    assert set(victim.after) == victim.good, sorted(victim.after)
    if where == CITY:  # the city's own report to the province is as it was: no 已采用
        for part in ("item", "edges"):
            assert volleys.city_item_after[part] == volleys.city_item_before[part]
        assert {e["state"] for e in volleys.city_item_after["edges"]} == {"已报送"}


def test_a_forward_that_cites_its_source_properly_is_applied(net: Net, volleys: Volleys) -> None:
    """The other side of case 5: a forward citing the county's own signed record is applied at
    the province, with the county as its source (the credit a forgery tries to steal)."""
    province = volleys.victims[PROVINCE]
    assert GOOD_FORWARD in province.report["applied"], province.report
    assert volleys.forward_item in province.after
    shown = ok(show(net.home(PROVINCE), volleys.forward_item)).json()
    assert shown["item"]["sources"] == [volleys.county_item]


def test_a_format_1_bundle_of_the_senders_own_record_still_opens(volleys: Volleys) -> None:
    """The other side of case 6: version 1 is still read, its unsigned records counting as the
    sender's own; so the downgrade case is refused for its claim, not for its format."""
    city = volleys.victims[CITY]
    assert GOOD_V1 in city.report["applied"], city.report
