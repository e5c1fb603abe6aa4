"""Leader instructions and adoption feedback down the provenance chain
(schema/instruction.py): township → county → city → province, each forwarding."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schema import outbox, view
from schema import request as requests
from schema.desk import (
    Desk,
    adopt,
    answer_request,
    forward,
    instruct,
    signoff,
    signoff_issue,
    submit,
)
from schema.error import ValidationError
from schema.inbound import apply
from schema.network import add_units
from schema.record import Unit
from schema.store import Store
from schema.vocabulary import EdgeState, Level, Role, Tier
from tests.conftest import CITY, COUNTY, T0, Ticking, draft

S = EdgeState
TOWNSHIP = Unit("140212100", "新荣镇", Tier.TOWNSHIP, "140212")
PROVINCE = Unit("140000", "山西省人民政府办公厅", Tier.PROVINCE, "100000", short="山西省")
ALL = [TOWNSHIP, COUNTY, CITY, PROVINCE]


class Net:
    def __init__(self) -> None:
        self.clock = Ticking(T0)
        self.desks = {}
        for unit in ALL:
            desk = Desk(Store.memory(), unit, f"编辑{unit.id}", frozenset(Role), self.clock)
            add_units(desk.store, ALL)
            self.desks[unit.id] = desk

    def carry(self) -> None:
        """Deliver everything queued until nothing is left (bounded)."""
        for _ in range(10):
            moved = False
            for desk in self.desks.values():
                queued = outbox.pending(desk.store)
                for q in queued:
                    for to in q.recipients:
                        if to in self.desks:
                            target = self.desks[to]
                            apply(target.store, q.record, to, target.clock)
                outbox.mark_shipped(desk.store, [q.seq for q in queued], self.clock())
                moved = moved or bool(queued)
            if not moved:
                return
        raise AssertionError("records still moving after 10 rounds")


@pytest.fixture
def chain() -> tuple[Net, list[str]]:
    """A township's item forwarded by the county and by the city, adopted by the province:
    the ids at each tier, bottom up."""
    net = Net()
    d = net.desks
    township = submit(d["140212100"], draft(title="新荣镇推广秸秆打捆离田"))
    signoff(d["140212100"], township.id)
    net.carry()
    adopt(d["140212"], township.id)
    county = forward(d["140212"], township.id)
    signoff(d["140212"], county.id)
    net.carry()
    adopt(d["140200"], county.id)
    city = forward(d["140200"], county.id)
    signoff(d["140200"], city.id)
    net.carry()
    adopt(d["140000"], city.id, "专报/1")
    signoff_issue(d["140000"], "专报/1")
    net.carry()
    return net, [township.id, county.id, city.id]


def test_what_became_of_an_item_reaches_every_unit_down_the_chain(
    chain: tuple[Net, list[str]],
) -> None:
    net, (township, county, city) = chain
    # the township's own item: the county adopted and forwarded it, then word came down
    seen = view.show(net.desks["140212100"].store, township)
    by = [(f.by_unit, f.state, f.via) for f in seen.feedback]
    assert ("140000", S.ADOPTED, city) in by
    assert ("140000", S.PLACED, city) in by and ("140000", S.ISSUED, city) in by
    assert ("140200", S.ADOPTED, county) in by  # the city's decision, via the county's item
    (placed,) = [f for f in seen.feedback if f.state is S.PLACED]
    assert placed.placement == "专报/2026/1"
    # the county hears of the province's decision on the city's item too
    at_county = view.show(net.desks["140212"].store, county).feedback
    assert {(f.by_unit, f.state) for f in at_county} >= {("140000", S.ISSUED)}


def test_a_forwarded_then_instructed_item_s_instruction_reaches_the_original_units(
    chain: tuple[Net, list[str]],
) -> None:
    net, (township, county, city) = chain
    province = net.desks["140000"]
    deadline = T0 + timedelta(days=7)
    made = instruct(
        province,
        city,
        "省长王某某",
        Level.PROVINCE,
        "此做法很好，请省农业农村厅总结推广。",
        feedback=True,
        deadline=deadline,
    )
    assert made.items == (city, county)  # the province knows the chain two levels down
    # the province's edge follows, and the city hears of it as a decision
    net.carry()
    for node, item in (("140200", city), ("140212", county), ("140212100", township)):
        (seen,) = view.show(net.desks[node].store, item).instructions
        assert (seen.id, seen.leader, seen.level) == (made.id, "省长王某某", Level.PROVINCE)
    edge = view.show(net.desks["140200"].store, city).edges[0]
    assert edge.state is S.INSTRUCTED
    # feedback is tracked like a request: the units down the chain the province knows owe it
    rows = {s.unit: s for s in requests.matrix(province.store, made.request_id, T0)}
    assert sorted(rows) == ["140200", "140212"]
    answer_request(net.desks["140212"], made.request_id, "已组织全县推广，覆盖12个乡镇。")
    net.carry()
    late = T0 + timedelta(days=8)
    rows = {s.unit: s for s in requests.matrix(province.store, made.request_id, late)}
    assert rows["140212"].outcome is requests.Outcome.ON_TIME
    assert rows["140212"].note == "已组织全县推广，覆盖12个乡镇。"
    assert rows["140200"].outcome is requests.Outcome.MISSING


def test_an_instruction_on_an_issue_reaches_every_entry_s_chain_and_needs_a_deadline(
    chain: tuple[Net, list[str]],
) -> None:
    net, (township, _, _) = chain
    province = net.desks["140000"]
    with pytest.raises(ValidationError, match="反馈时限"):
        instruct(province, "专报/1", "副省长李某某", Level.PROVINCE, "阅", feedback=True)
    instruct(province, "专报/1", "副省长李某某", Level.PROVINCE, "请有关部门研究。")
    net.carry()
    (seen,) = view.show(net.desks["140212100"].store, township).instructions
    assert seen.subject == "专报/2026/1" and seen.text == "请有关部门研究。"
