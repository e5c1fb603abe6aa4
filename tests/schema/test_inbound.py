"""apply(record): exactly once, whatever the transport repeats or reorders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from schema import outbox, view
from schema.desk import Desk, adopt, edit, return_item, signoff, submit
from schema.error import NotFound, ValidationError
from schema.inbound import Outcome, apply
from schema.record import Record
from schema.store import Store
from schema.vocabulary import EdgeState
from tests.conftest import carry, draft, incident_draft


def test_apply_twice_is_apply_once(
    county: Desk, city: Desk, tables: Callable[[Store], dict[str, Any]]
) -> None:
    item = submit(county, incident_draft())
    signoff(county, item.id)
    (queued,) = outbox.pending(county.store)
    first = apply(city.store, queued.record, city.node.id, city.clock)
    after_once = tables(city.store)
    second = apply(city.store, queued.record, city.node.id, city.clock)
    assert (first.outcome, second.outcome) == (Outcome.APPLIED, Outcome.DUPLICATE)
    assert tables(city.store) == after_once
    assert len(view.inbox(city.store, city.node.id)) == 1


def test_decision_travels_back_and_applies_once(
    county: Desk, city: Desk, tables: Callable[[Store], dict[str, Any]]
) -> None:
    item = submit(county, draft())
    signoff(county, item.id)
    carry(county, city)
    adopt(city, item.id, "每日要情/1")  # adopted, then placed: two decisions
    adopted, placed = outbox.pending(city.store)
    assert placed.record.version == adopted.record.version + 1
    for decision in (adopted, placed):
        apply(county.store, decision.record, county.node.id, county.clock)
    once = tables(county.store)
    assert apply(county.store, placed.record, county.node.id).outcome is Outcome.DUPLICATE
    assert apply(county.store, adopted.record, county.node.id).outcome is Outcome.STALE
    assert tables(county.store) == once
    (edge,) = view.show(county.store, item.id).edges
    assert edge.state is EdgeState.PLACED and edge.placement == "每日要情/2026/1"


def test_an_older_version_never_overwrites_a_newer_one(county: Desk, city: Desk) -> None:
    item = submit(county, draft())
    signoff(county, item.id)
    (first,) = [q.record for q in outbox.pending(county.store)]
    carry(county, city)
    return_item(city, item.id, "请补充数据")
    carry(city, county)
    edit(county, item.id, draft(body="补充了数据：共1862户3217人。"))
    signoff(county, item.id)
    (second,) = [q.record for q in outbox.pending(county.store)]
    assert (first.version, second.version) == (1, 2)
    assert apply(city.store, second, city.node.id).outcome is Outcome.APPLIED
    assert apply(city.store, first, city.node.id).outcome is Outcome.STALE
    shown = view.show(city.store, item.id)
    assert shown.item.revision == 2 and "1862户" in shown.item.draft.body
    assert shown.edges[0].state is EdgeState.RECEIVED
    assert [r["revision"] for r in shown.revisions] == [1, 2]


def test_a_record_not_addressed_here_is_refused(county: Desk, city: Desk) -> None:
    item = submit(county, draft())
    signoff(county, item.id)
    (queued,) = outbox.pending(county.store)
    with pytest.raises(ValidationError):
        apply(city.store, queued.record, "140000")
    assert view.search(city.store, "新荣区") == []


def test_a_decision_on_an_unknown_item_is_refused_and_changes_nothing(
    county: Desk, tables: Callable[[Store], dict[str, Any]]
) -> None:
    record = Record(
        id="edge:140212-2026-09999:140212>140200",
        kind="decision",
        version=2,
        origin="140200",
        payload={
            "item_id": "140212-2026-09999",
            "from": "140212",
            "to": "140200",
            "state": "已采用",
            "note": "",
            "placement": "",
            "actor": "x",
            "at": "2026-11-21T15:00:00+08:00",
        },
    )
    before = tables(county.store)
    with pytest.raises(NotFound):
        apply(county.store, record, county.node.id)
    assert tables(county.store) == before


def test_unknown_record_kind_is_refused(county: Desk) -> None:
    with pytest.raises(ValidationError, match="未知的记录类型"):
        apply(county.store, Record("x", "gossip", 1, "140200"), county.node.id)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"origin": "140213"}, "to"),  # a decision claimed by a unit that did not receive it
        ({"state": "已报送"}, "state"),  # a sender's state in a receiver's decision
        ({"state": "拍板"}, "state"),
    ],
)
def test_forged_or_malformed_decisions_are_refused(
    county: Desk,
    city: Desk,
    change: dict[str, str],
    field: str,
    tables: Callable[[Store], dict[str, Any]],
) -> None:
    item = submit(county, draft())
    signoff(county, item.id)
    carry(county, city)
    adopt(city, item.id)
    (queued,) = outbox.pending(city.store)
    record = queued.record
    payload = {**record.payload, **{k: v for k, v in change.items() if k != "origin"}}
    forged = Record(
        record.id, record.kind, record.version, change.get("origin", record.origin), payload
    )
    before = tables(county.store)
    with pytest.raises(ValidationError) as info:
        apply(county.store, forged, county.node.id)
    assert info.value.field == field
    assert tables(county.store) == before
