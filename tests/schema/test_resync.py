"""Resync after a restore, the domain's side (schema/resync.py): a restored node's own records
put back exactly as they stood, records that refer to something not back yet waiting for it,
what a neighbour keeps and answers, and numbering that goes on above what was seen."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

import pytest

from schema import outbox, resync, state
from schema.clock import to_text
from schema.desk import Desk, adopt, forward, signoff, submit
from schema.error import NotFound
from schema.inbound import Outcome, apply
from schema.item import new_item_id
from schema.record import Item, Record, Unit
from schema.vocabulary import EdgeState, Tier
from tests.conftest import CITY, COUNTY, T0, carry, draft, make_desk

PROVINCE = Unit("140000", "山西省人民政府办公厅", Tier.PROVINCE, short="山西省")


def queued(desk: Desk, kind: str) -> list[Record]:
    return [q.record for q in outbox.pending(desk.store) if q.record.kind == kind]


def signed(record: Record, to: list[str]) -> Record:
    """As the daemon hands a verified record to schema: with its signed form."""
    proof: dict[str, Any] = {
        "id": record.id,
        "kind": record.kind,
        "version": record.version,
        "origin": record.origin,
        "payload": record.payload,
        "to": to,
        "sig": "00" * 64,
    }
    return dataclasses.replace(record, proof=proof)


def adopted_at_the_province(city: Desk) -> tuple[Item, Record, Record]:
    """An item of the city's, signed off and carried up, adopted by the province: the item,
    its record as queued at the city, and the province's decision record."""
    province = make_desk(PROVINCE)
    own = submit(city, draft())
    signoff(city, own.id)
    (item_record,) = queued(city, "item")
    carry(city, province)
    adopt(province, own.id)
    (decision,) = queued(province, "decision")
    return own, item_record, decision


def restored(peers: list[str]) -> Desk:
    """The city on a new machine, from a backup taken before anything here: resyncing."""
    desk = make_desk(CITY)
    resync.start(desk.store, CITY.id, peers, T0, T0)
    return desk


def test_an_own_decision_waits_for_the_item_it_decides_then_stands_as_it_was(
    county: Desk, city: Desk
) -> None:
    item = submit(county, draft())
    signoff(county, item.id)
    (sent,) = queued(county, "item")
    carry(county, city)
    adopt(city, item.id, "每日要情/1")  # adopted, then placed: the county holds version 3
    decision = queued(city, "decision")[-1]
    new = restored(["140212"])
    with new.store.write():
        with pytest.raises(NotFound):
            resync.restore_own(new.store, decision, CITY.id, T0, "")
        assert resync.park(new.store, decision, ("140212",), True, to_text(T0), T0)
    assert resync.waiting(new.store) == 1 and resync.running(new.store)
    # the county hands its item again: then the decision can stand
    assert apply(new.store, sent, CITY.id).outcome is Outcome.APPLIED
    with new.store.write():
        assert resync.retry(new.store, CITY.id, T0, lambda r, to, at, rank: True) == 1
    edge = state.find_edge(new.store, item.id, COUNTY.id, CITY.id)
    assert edge is not None and edge.state is EdgeState.PLACED
    assert edge.version == decision.version and edge.placement == "每日要情/2026/1"
    assert resync.waiting(new.store) == 0
    # the province returns the same record too: nothing changes a second time
    with new.store.write():
        assert resync.restore_own(new.store, decision, CITY.id, T0, "") is False


def test_a_decision_on_an_own_item_waits_for_the_item_to_come_back(city: Desk) -> None:
    own, item_record, decision = adopted_at_the_province(city)
    new = restored(["140000"])
    # the province hands its decision again before it returns the item: it waits
    assert apply(new.store, decision, CITY.id).outcome is Outcome.WAITING
    with new.store.write():
        assert resync.restore_own(new.store, item_record, CITY.id, T0, to_text(T0))

        def again(record: Record, to: tuple[str, ...], at: datetime, rank: int) -> bool:
            return apply(new.store, record, CITY.id, to=to).outcome is not Outcome.WAITING

        assert resync.retry(new.store, CITY.id, T0, again) == 1
    (edge,) = new.store.query("SELECT * FROM edge WHERE item_id = ?", (own.id,))
    assert edge["state"] == EdgeState.ADOPTED.value and edge["delivered_at"]
    # its own numbering goes on above the item that came back
    with new.store.write():
        assert new_item_id(new.store, CITY.id, T0) > own.id
    # once nothing waits and every neighbour answered, a missing reference is an error again
    with new.store.write():
        resync.done(new.store, "140000", {"counters": {}}, T0)
    assert not resync.running(new.store)


def test_without_a_resync_a_decision_for_an_unknown_item_is_refused(city: Desk) -> None:
    *_, decision = adopted_at_the_province(city)
    with pytest.raises(NotFound):
        apply(make_desk(CITY).store, decision, CITY.id)


def test_a_neighbour_keeps_what_a_node_made_and_answers_with_it(county: Desk, city: Desk) -> None:
    item = submit(county, draft())
    signoff(county, item.id)
    carry(county, city)
    forwarded = forward(city, item.id)
    signoff(city, forwarded.id)
    province = make_desk(PROVINCE)
    (record,) = queued(city, "item")
    secret = 2  # the bundle it came in was 秘密: it goes back as 秘密
    done = apply(province.store, signed(record, ["140000"]), PROVINCE.id, classification=secret)
    assert done.outcome is Outcome.APPLIED
    unsigned = make_desk(PROVINCE)  # a record with no signature (in process) is not kept
    apply(unsigned.store, record, PROVINCE.id)
    assert resync.held_from(unsigned.store, CITY.id, T0) == []
    (kept,) = resync.held_from(province.store, CITY.id, T0)
    assert kept["record"]["id"] == forwarded.id and kept["record"]["sig"]
    counters = resync.counters_of(province.store, CITY.id)
    assert counters["item"] == {"2026": int(forwarded.id.rsplit("-", 1)[1])}
    with province.store.write():
        handed = [(f"b{n}", T0) for n in range(resync.HANDED_PER_RECORD + 2)]
        count = resync.answer(
            province.store, PROVINCE.id, CITY.id, "resync:140200:x", T0, handed, T0
        )
    assert count == 1
    kinds = [q.record.kind for q in outbox.pending(province.store)]
    assert kinds == [resync.HANDED, resync.HANDED, resync.RETURNED, resync.DONE]
    first, second = queued(province, resync.HANDED)
    assert len(first.payload["bundles"]) == resync.HANDED_PER_RECORD
    assert second.payload["bundles"] == {
        f"b{n}": to_text(T0) for n in range(resync.HANDED_PER_RECORD, len(handed))
    }
    answered = queued(province, resync.RETURNED) + queued(province, resync.DONE)
    assert answered[0].payload["record"]["id"] == forwarded.id
    returned = [q for q in outbox.pending(province.store) if q.record.kind == resync.RETURNED]
    assert returned[0].classification.value == "秘密"
    assert "chain" not in answered[0].payload["record"]  # the maker checks its own
    assert answered[1].payload["bundles"] == len(handed) and answered[1].payload["records"] == 1
    # in the queue: when each bundle first came, above 特急; what is returned; done last
    priorities = {q.record.kind: q.priority for q in outbox.pending(province.store)}
    assert priorities[resync.HANDED] > priorities[resync.RETURNED] > priorities[resync.DONE]
    new_arrivals = restored(["140000"])
    with new_arrivals.store.write():
        resync.first_arrivals(new_arrivals.store, "140000", second.payload, T0)
        resync.first_arrivals(new_arrivals.store, "140000", {"bundles": {"x": "not a time"}}, T0)
        assert resync.coming(new_arrivals.store) == 2
        assert resync.first_arrival(new_arrivals.store, "b2001", T0 - timedelta(hours=1)) == T0
        assert resync.first_arrival(new_arrivals.store, "x", T0) is None
        resync.came(new_arrivals.store, "b2000")  # seen before: come all the same
    assert resync.coming(new_arrivals.store) == 0
    # a neighbour cannot date a bundle before the backup or after the request
    later = restored([])
    with later.store.write():
        resync.start(later.store, CITY.id, ["140000"], T0, T0 + timedelta(hours=2))
        early = {"bundles": {"a": to_text(T0 - timedelta(days=9)), "b": "2031-01-01T00:00:00"}}
        assert resync.first_arrivals(later.store, "140000", early, T0) == 2
        assert resync.first_arrival(later.store, "a", T0 - timedelta(days=30)) == T0
        assert resync.first_arrival(later.store, "b", T0) == T0 + timedelta(hours=2)
        # and never before the bundle was made
        made = T0 + timedelta(hours=1)
        resync.first_arrivals(later.store, "140000", {"bundles": {"c": to_text(T0)}}, T0)
        assert resync.first_arrival(later.store, "c", made) == made
        # only the neighbour's answer to this node's open request counts
        request_id = later.store.one("SELECT request_id FROM resync")["request_id"]  # type: ignore[index]
        assert resync.answering(later.store, "140000", {"for": request_id})
        assert not resync.answering(later.store, "140000", {"for": "resync:140200:other"})
        assert not resync.answering(later.store, "140212", {"for": request_id})
        resync.done(later.store, "140000", {}, T0)
        assert not resync.answering(later.store, "140000", {"for": request_id})
    # what the answer says of numbers moves the restored node's counter on, never back
    new = restored(["140000"])
    with new.store.write():
        resync.continue_counters(new.store, answered[1].payload["counters"])
        resync.continue_counters(new.store, {"item": {"2026": 0, "x": 5, "2027": "9"}})
        assert new_item_id(new.store, CITY.id, T0) > forwarded.id
    # and the window ends: kept records go
    assert resync.prune(province.store, T0.replace(year=2030)) == 1
    assert resync.held_from(province.store, CITY.id, T0) == []


def test_own_questions_answers_instructions_rosters_and_bulletins_come_back(
    county: Desk, city: Desk
) -> None:
    from schema import roster, supervise, verify
    from schema.desk import answer_verification, ask_to_verify, instruct, set_roster
    from schema.instruction import all_instructions
    from schema.vocabulary import Level

    province = make_desk(PROVINCE)
    item = submit(county, draft())
    signoff(county, item.id)
    (sent,) = queued(county, "item")
    carry(county, city)
    asked = ask_to_verify(city, item.id, "请核实受助户数")
    made = instruct(city, item.id, "张市长", Level.CITY, "请做好困难群众取暖保障")
    set_roster(city, [roster.Person("信息员", "王五", mobile="13800000000")])
    own = submit(city, draft(title="大同市全面完成冬季供暖设施检修"))
    signoff(city, own.id)
    (own_item,) = queued(city, "item")
    apply(province.store, own_item, PROVINCE.id)  # by hand: the city's queue stays as it is
    question = ask_to_verify(province, own.id, "请核实检修数量")
    (question_record,) = queued(province, verify.ASK_KIND)
    apply(city.store, question_record, CITY.id)
    answer_verification(city, own.id, "经核实共检修管网120公里")
    bulletin = Record(
        "140200-TB-2026-0001",
        supervise.KIND,
        1,
        CITY.id,
        {
            "id": "140200-TB-2026-0001",
            "issuer": CITY.id,
            "number": "同政办函〔2026〕1号",
            "period": "2026年11月",
            "title": "关于2026年11月政务信息报送情况的通报",
            "text": "各县（区）报送情况如下。",
            "read_by": "",
            "signed_by": "王五",
            "at": to_text(T0),
            "units": ["140212", "140213"],
        },
    )
    mine = [
        *queued(city, verify.ASK_KIND),
        *queued(city, "instruction"),
        *queued(city, roster.KIND),
        *queued(city, verify.ANSWER_KIND),
        bulletin,
    ]
    assert {r.kind for r in mine} == {
        "verify",
        "instruction",
        "roster",
        "verify-answer",
        "bulletin",
    }
    new = restored(["140000", "140212"])
    with new.store.write():
        for record in mine:
            if record.kind == verify.ANSWER_KIND:  # the province's question is not back yet
                with pytest.raises(NotFound):
                    resync.restore_own(new.store, record, CITY.id, T0, "")
            else:
                assert resync.restore_own(new.store, record, CITY.id, T0, "")
        resync.restore_own(new.store, own_item, CITY.id, T0, "")
    apply(new.store, sent, CITY.id)
    apply(new.store, question_record, CITY.id)  # the province asks again: held here again
    with new.store.write():
        (answer,) = [r for r in mine if r.kind == verify.ANSWER_KIND]
        assert resync.restore_own(new.store, answer, CITY.id, T0, "")
        assert all(not resync.restore_own(new.store, r, CITY.id, T0, "") for r in mine)
    assert verify.get(new.store, asked.id).question == "请核实受助户数"
    assert verify.get(new.store, question.id).answer == "经核实共检修管网120公里"
    assert [i.id for i in all_instructions(new.store)] == [made.id]
    assert roster.people_of(new.store, CITY.id)[0].name == "王五"
    assert supervise.get(new.store, bulletin.id).units == ("140212", "140213")


def test_every_family_of_ids_numbers_on_above_what_the_neighbours_saw(city: Desk) -> None:
    """Topic requests, instructions, 核实 questions and bulletins are numbered by counting
    rows: a restored node that lacks some rows must not make an id a neighbour has seen."""
    from schema import request as requests
    from schema.desk import compose_request
    from schema.network import add_units

    province = make_desk(PROVINCE)
    province.store.db.execute(
        "INSERT INTO request(id, issuer, number, year, state, body, classification, "
        "created_at, author) VALUES ('140200-YG-2026-0007', '140200', '〔2026〕第7号', 2026, "
        "'已收到', '{}', '内部', ?, '')",
        [to_text(T0)],
    )
    counters = resync.counters_of(province.store, CITY.id)
    assert counters["YG"] == {"2026": 7} and counters["item"] == {}
    new = restored(["140000"])
    with new.store.write():
        resync.continue_counters(new.store, counters)
        resync.continue_counters(new.store, {"PS": {"2026": 3}, "HS": {"2026": 2}})
        assert new.store.above_seen("PS", 2026, 1) == 4
        assert new.store.above_seen("HS", 2026, 5) == 5  # already above: unchanged
    draft_request = requests.parse_request(
        {
            "kind": "约稿",
            "topic": "冬季供暖保障情况",
            "guidance": "请报送供暖保障工作情况。",
            "targets": ["140212"],
            "deadline": "2026-12-31T18:00:00+08:00",
        }
    )
    add_units(new.store, [COUNTY])
    made = compose_request(new, draft_request)
    assert made.id == "140200-YG-2026-0008"
    # rows below the floor are missing (lost with the disk): the next goes on from the last
    again = compose_request(new, dataclasses.replace(draft_request, number="〔2026〕第9号"))
    assert again.id == "140200-YG-2026-0009"


def test_what_waits_too_long_after_every_answer_stops_waiting(city: Desk) -> None:
    *_, decision = adopted_at_the_province(city)
    new = restored(["140000"])
    assert apply(new.store, decision, CITY.id).outcome is Outcome.WAITING
    # one that first came long ago waits from when it began to wait, not from then
    with new.store.write():
        old = dataclasses.replace(decision, id="edge:old")
        assert resync.park(new.store, old, ("140200",), False, "2020-01-01T00:00:00+08:00", T0)
    later = T0.replace(year=2027)
    assert resync.give_up(new.store, later) == []  # the province has not answered yet
    with new.store.write():
        resync.done(new.store, "140000", {}, T0)
    assert resync.running(new.store)  # answered, but a record still waits
    assert resync.give_up(new.store, T0 - timedelta(days=1)) == []  # not waited long enough
    assert sorted(resync.give_up(new.store, later)) == sorted([decision.id, "edge:old"])
    assert not resync.running(new.store) and resync.waiting(new.store) == 0
