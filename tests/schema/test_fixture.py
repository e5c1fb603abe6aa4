"""The sample network and items in fixtures/ are complete enough to test and demo with."""

from __future__ import annotations

from collections import Counter

from schema.fixture import load_items, load_requests, load_scoring, load_units
from schema.network import add_units, find_unit
from schema.store import Store
from schema.vocabulary import Category, Tier


def test_network_is_a_tree_of_real_units() -> None:
    units = load_units()
    ids = {u.id for u in units}
    assert len(ids) == len(units)
    assert {u.parent for u in units if u.parent} <= ids
    tiers = Counter(u.tier for u in units)
    assert tiers[Tier.PROVINCE] == 1 and tiers[Tier.CITY] >= 2 and tiers[Tier.COUNTY] >= 10
    assert tiers[Tier.DEPARTMENT] >= 6 and tiers[Tier.CORRESPONDENT] >= 1
    assert {"直报点"} <= {u.kind for u in units}
    store = Store.memory()
    add_units(store, units)
    unit = find_unit(store, "140212")
    assert unit is not None and unit.parent == "140200"


def test_items_cover_every_category_with_emergencies_and_duplicates() -> None:
    items = load_items()
    units = {u.id for u in load_units()}
    assert len(items) >= 80
    assert len({i.key for i in items}) == len(items)
    assert {i.unit for i in items} <= units
    assert set(Counter(i.draft.category for i in items)) == set(Category)
    emergencies = [i for i in items if i.draft.category is Category.INCIDENT]
    assert len(emergencies) >= 10 and all(i.draft.incident for i in emergencies)
    groups = Counter(i.dup_group for i in items if i.dup_group)
    assert len(groups) >= 3 and all(n >= 2 for n in groups.values())
    for members in ([i for i in items if i.dup_group == g] for g in groups):
        assert len({m.unit for m in members}) >= 2  # the same event from different units


def test_requests_and_scoring_rule_sets() -> None:
    requests = load_requests()
    assert len(requests) == 5
    numbers = {r["number"] for r in requests}
    answered = {i.draft.request for i in load_items() if i.draft.request}
    assert answered and answered <= numbers
    rules = load_scoring()
    assert len(rules) >= 2
    assert len({r["office"] for r in rules.values()}) == len(rules)


def test_rosters_name_the_demo_units_and_parse() -> None:
    from schema.fixture import load_rosters

    rosters = load_rosters()
    assert {"140212", "140213", "140105", "140212100"} <= set(rosters)
    assert all(any(p.role == "信息员" for p in people) for people in rosters.values())
