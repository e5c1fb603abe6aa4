"""What the desk is told beside an item: likely duplicates from other units, editorial advice."""

from __future__ import annotations

from dataclasses import replace

import pytest

from schema import view
from schema.desk import Desk, signoff, submit
from schema.error import ValidationError
from schema.fixture import load_items, load_units
from schema.inbound import apply
from schema.network import add_units
from schema.outbox import pending
from schema.record import Unit
from schema.store import Store
from schema.vocabulary import Role
from tests.conftest import Fixed


def test_a_duplicate_from_another_unit_is_flagged_and_offered_for_merging() -> None:
    units = {u.id: u for u in load_units()}
    pair = [s for s in load_items() if s.dup_group == "dup-1"]
    assert len(pair) == 2 and pair[0].unit != pair[1].unit
    parent = units[pair[0].unit].parent
    receiver = Desk(Store.memory(), units[parent], "编辑", frozenset(Role), Fixed(pair[1].created))
    add_units(receiver.store, units.values())
    received = []
    for sample in pair:
        unit: Unit = units[sample.unit]
        sender = Desk(Store.memory(), unit, "信息员", frozenset(Role), Fixed(sample.created))
        item = submit(sender, replace(sample.draft, to=(parent,)))
        signoff(sender, item.id)
        for q in pending(sender.store):
            apply(receiver.store, q.record, parent, receiver.clock)
        received.append(item.id)
    shown = view.show(receiver.store, received[0])
    assert [other for other, _ in shown.near] == [received[1]]
    groups = view.duplicate_groups(receiver.store, parent, pair[1].created)
    assert groups == [sorted(received)]


def test_editorial_advice_is_shown_and_never_blocks_but_a_missing_field_does() -> None:
    units = {u.id: u for u in load_units()}
    sample = next(s for s in load_items() if s.draft.category.value == "工作动态")
    desk = Desk(
        Store.memory(), units[sample.unit], "信息员", frozenset(Role), Fixed(sample.created)
    )
    short = submit(desk, replace(sample.draft, body="本周开展供暖巡查。", title="巡查"))
    advice = view.show(desk.store, short.id).editorial
    assert advice and not any(f.blocking for f in advice)
    assert {f.field for f in advice} >= {"title", "body"}
    with pytest.raises(ValidationError):
        submit(desk, replace(sample.draft, author=""))
