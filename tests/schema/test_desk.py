"""Desk operations: roles, the life of an item across two desks, merge and forward."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from schema import outbox, view
from schema.desk import (
    Desk,
    adopt,
    edit,
    forward,
    merge,
    reject,
    reserve,
    return_item,
    signoff,
    submit,
)
from schema.error import PermissionDenied, TransitionError, ValidationError
from schema.inbound import apply
from schema.record import Unit
from schema.state import TRANSITIONS, audit_log
from schema.store import Store
from schema.vocabulary import Classification, EdgeState, Role, Tier, Urgency
from tests.conftest import CITY, COUNTY, COUNTY2, T0, carry, draft, incident_draft, make_desk

S = EdgeState


def test_submit_puts_the_item_to_the_signer_and_logs_who_and_when(county: Desk) -> None:
    item = submit(county, draft())
    assert item.id == "140212-2026-00001"
    (edge,) = view.show(county.store, item.id).edges
    assert (edge.from_unit, edge.to_unit, edge.state) == ("140212", "140200", S.AWAITING_SIGNOFF)
    log = audit_log(county.store, item.id)
    assert [(a.from_state, a.to_state) for a in log] == [
        (None, S.DRAFT),
        (S.DRAFT, S.AWAITING_SIGNOFF),
    ]
    assert {a.actor for a in log} == {"tester"}
    assert log[0].at == log[1].at == T0 + timedelta(minutes=1)  # one operation, one time
    assert outbox.pending(county.store) == []  # nothing leaves before sign-off


def test_only_a_signer_may_sign_off_and_the_refusal_names_the_role() -> None:
    writer = make_desk(COUNTY, frozenset({Role.WRITER}), actor="xiaoli")
    item = submit(writer, draft())
    with pytest.raises(PermissionDenied, match="签发人") as info:
        signoff(writer, item.id)
    assert "xiaoli" in str(info.value)
    signer = Desk(writer.store, COUNTY, "wangzhuren", frozenset({Role.SIGNER}), writer.clock)
    signed = signoff(signer, item.id)
    assert signed.signer == "wangzhuren" and signed.signed_at is not None


def test_a_signer_alone_cannot_write_items() -> None:
    signer = make_desk(COUNTY, frozenset({Role.SIGNER}))
    with pytest.raises(PermissionDenied, match="信息员或编辑"):
        submit(signer, draft())


def test_signoff_queues_the_item_with_its_priority(county: Desk) -> None:
    routine = submit(county, draft())
    flash = submit(county, incident_draft())
    signoff(county, routine.id)
    signoff(county, flash.id)
    queued = outbox.pending(county.store)
    assert [q.record.id for q in queued] == [flash.id, routine.id]  # 特急 jumps the queue
    assert queued[0].recipients == ("140200",)
    assert queued[0].classification is Classification.INTERNAL


def test_skip_level_items_have_one_edge_per_recipient(county: Desk) -> None:
    item = submit(county, incident_draft(to=["140200", "140000"]))
    signoff(county, item.id)
    edges = view.show(county.store, item.id).edges
    assert {(e.to_unit, e.state) for e in edges} == {("140200", S.SENT), ("140000", S.SENT)}
    (queued,) = outbox.pending(county.store)
    assert queued.recipients == ("140200", "140000")


def test_signing_twice_or_editing_after_sending_is_refused(county: Desk) -> None:
    item = submit(county, draft())
    signoff(county, item.id)
    with pytest.raises(TransitionError, match="没有待签发"):
        signoff(county, item.id)
    with pytest.raises(TransitionError, match="不能修改"):
        edit(county, item.id, draft(title="改"))


def test_return_edit_resubmit_adopt_round_trip(county: Desk, city: Desk) -> None:
    item = submit(county, draft())
    signoff(county, item.id)
    carry(county, city)
    with pytest.raises(ValidationError, match="理由"):
        return_item(city, item.id, "  ")
    return_item(city, item.id, "请补充具体数据")
    carry(city, county)
    (sent,) = view.show(county.store, item.id).edges
    assert sent.state is S.RETURNED and sent.note == "请补充具体数据"
    edit(county, item.id, draft(body="共登记1862户3217人，发放补贴215万元。"))
    signoff(county, item.id)
    carry(county, city)
    adopt(city, item.id)
    carry(city, county)
    for desk in (county, city):
        shown = view.show(desk.store, item.id)
        assert shown.item.revision == 2
        assert [r["revision"] for r in shown.revisions] == [1, 2]
        assert shown.edges[0].state is S.ADOPTED
    received = [(a.from_state, a.to_state) for a in audit_log(city.store, item.id)]
    assert received == [
        (None, S.RECEIVED),
        (S.RECEIVED, S.RETURNED),
        (S.RETURNED, S.RECEIVED),
        (S.RECEIVED, S.ADOPTED),
    ]
    sender_log = audit_log(county.store, item.id)
    mirrored = [a for a in sender_log if a.origin != "local"]
    assert [(a.to_state, a.origin) for a in mirrored] == [
        (S.RETURNED, "140200"),
        (S.ADOPTED, "140200"),
    ]


def test_triage_on_an_item_not_received_is_refused(county: Desk, city: Desk) -> None:
    item = submit(county, draft())
    with pytest.raises(Exception, match="收件中没有"):
        adopt(city, item.id)
    with pytest.raises(Exception, match="收件中没有"):
        adopt(county, item.id)  # one's own item is not in one's inbox


def test_illegal_transitions_are_refused_and_change_nothing(
    county: Desk, city: Desk, tables: Callable[[Store], dict[str, Any]]
) -> None:
    item = submit(county, draft())
    signoff(county, item.id)
    carry(county, city)
    reject(city, item.id, "与本地无关")
    before = tables(city.store)
    for op in (
        lambda: adopt(city, item.id),
        lambda: reserve(city, item.id),
        lambda: forward(city, item.id),
        lambda: return_item(city, item.id, "再改"),
    ):
        with pytest.raises(TransitionError, match="退稿"):
            op()
    assert tables(city.store) == before


def test_reserve_then_adopt(county: Desk, city: Desk) -> None:
    item = submit(county, draft())
    signoff(county, item.id)
    carry(county, city)
    reserve(city, item.id)
    edge = adopt(city, item.id)
    assert edge.state is S.ADOPTED and S.ADOPTED in TRANSITIONS[S.RESERVED]


def received_at_city(*drafts: Any) -> tuple[Desk, Desk, Desk, list[str]]:
    c1, c2, city = make_desk(COUNTY), make_desk(COUNTY2), make_desk(CITY)
    ids = []
    for i, d in enumerate(drafts):
        desk = (c1, c2)[i % 2]
        item = submit(desk, d)
        signoff(desk, item.id)
        carry(desk, city)
        ids.append(item.id)
    return c1, c2, city, ids


def test_merge_keeps_every_source_and_the_highest_markings() -> None:
    c1, c2, city, ids = received_at_city(
        draft(title="新荣区欠薪", body="新荣区追回欠薪38.6万元。"),
        draft(
            title="平城区欠薪", body="平城区追回欠薪12万元。", urgency="加急", classification="秘密"
        ),
    )
    composite = merge(city, ids, "全市一周追回农民工欠薪50.6万元")
    assert composite.sources == tuple(ids)
    assert composite.origin == "140200" and composite.derivation == "merge"
    assert composite.draft.urgency is Urgency.URGENT
    assert composite.draft.classification is Classification.SECRET
    assert "38.6万元" in composite.draft.body and "12万元" in composite.draft.body
    (up,) = view.show(city.store, composite.id).edges
    assert (up.to_unit, up.state) == ("140000", S.AWAITING_SIGNOFF)
    for item_id in ids:
        assert view.show(city.store, item_id).derived == [composite.id]
    carry(city, c1)
    carry(city, c2)
    assert view.show(c1.store, ids[0]).edges[0].state is S.MERGED
    assert view.show(c2.store, ids[1]).edges[0].state is S.MERGED
    assert composite.id in view.show(c2.store, ids[1]).edges[0].note


def test_merge_needs_two_items_and_a_title() -> None:
    _, _, city, ids = received_at_city(draft(), draft())
    with pytest.raises(ValidationError):
        merge(city, ids[:1], "标题")
    with pytest.raises(ValidationError, match="标题"):
        merge(city, ids, " ")


def test_forward_makes_a_new_item_with_provenance_awaiting_signoff() -> None:
    c1, _, city, (item_id,) = received_at_city(incident_draft())
    new = forward(city, item_id)
    assert new.sources == (item_id,) and new.derivation == "forward"
    assert new.id.startswith("140200-") and new.draft.incident is not None
    assert view.show(city.store, item_id).edges[0].state is S.FORWARDED
    signoff(city, new.id)
    (queued,) = [q for q in outbox.pending(city.store) if q.record.kind == "item"]
    assert queued.recipients == ("140000",)
    assert queued.record.payload["item"]["sources"] == [item_id]
    carry(city, c1)
    assert view.show(c1.store, item_id).edges[0].state is S.FORWARDED


def test_a_skip_level_item_returned_by_one_recipient_is_revised_for_that_one_only() -> None:
    county, city = make_desk(COUNTY), make_desk(CITY)
    province = make_desk(Unit("140000", "山西省人民政府办公厅", Tier.PROVINCE, "100000"))
    item = submit(county, incident_draft(to=["140200", "140000"]))
    signoff(county, item.id)
    (first,) = outbox.pending(county.store)
    for desk in (city, province):
        apply(desk.store, first.record, desk.node.id)
    outbox.mark_shipped(county.store, [first.seq], T0)
    adopt(city, item.id)
    return_item(province, item.id, "请补充伤亡情况")
    carry(city, county)
    carry(province, county)
    edit(county, item.id, incident_draft(body="2人受伤，已送医，无生命危险。"))
    states = {e.to_unit: e.state for e in view.show(county.store, item.id).edges}
    assert states == {"140200": S.ADOPTED, "140000": S.AWAITING_SIGNOFF}
    signoff(county, item.id)
    (queued,) = outbox.pending(county.store)
    assert queued.recipients == ("140000",) and queued.record.version == 2
    carry(county, province)
    assert view.show(province.store, item.id).item.revision == 2
    assert view.show(city.store, item.id).item.revision == 1
