"""核实 (schema/verify.py): the city asks the county to verify an item; the question travels
down, the county answers, the answer travels up; both show in the item's history at both
ends; the item cannot be printed at the city until answered; every record is checked for who
may make it and applied once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from schema import outbox, verify
from schema.authority import AuthorityError
from schema.desk import (
    Desk,
    adopt,
    answer_verification,
    ask_to_verify,
    place_in_issue,
    signoff_issue,
)
from schema.error import NotFound, PermissionDenied, TransitionError, ValidationError
from schema.inbound import Outcome, apply
from schema.view import show
from schema.vocabulary import Role
from tests.schema.test_bulletin import carry, desks, send


def asked_at_the_city() -> tuple[Desk, Desk, str, verify.Verification]:
    clock, city, d = desks()
    county = d["140212"]
    item_id = send(county, city, "新荣区某煤矿透水事故致3人被困")
    asked = ask_to_verify(
        city, item_id, "被困人数是否为3人？请核实。", clock() + timedelta(hours=4)
    )
    return city, county, item_id, asked


def test_a_question_travels_down_and_its_answer_up() -> None:
    city, county, item_id, asked = asked_at_the_city()
    assert asked.id == "140200-HS-2026-0001" and asked.open
    assert (asked.asker, asked.source, asked.asked_by) == ("140200", "140212", "编辑140200")
    carry(city, county)
    (held,) = show(county.store, item_id).verifications
    assert (held.id, held.question, held.open) == (asked.id, "被困人数是否为3人？请核实。", True)
    assert held.deadline == asked.deadline
    done = answer_verification(county, item_id, "经核实，被困4人，已全部救出。")
    assert done.answered_by == "编辑140212" and not done.open
    carry(county, city)
    (seen,) = show(city.store, item_id).verifications
    assert (seen.answer, seen.answered_by) == ("经核实，被困4人，已全部救出。", "编辑140212")
    assert seen.answered_at == done.answered_at


def test_the_item_cannot_be_printed_until_answered() -> None:
    city, county, item_id, asked = asked_at_the_city()
    adopt(city, item_id)  # adopting is allowed: printing is not
    with pytest.raises(TransitionError, match="正在核实"):
        place_in_issue(city, "每日要情", [item_id])
    with pytest.raises(TransitionError, match="已在核实中"):  # one open question at a time
        ask_to_verify(city, item_id, "再问一次", city.clock() + timedelta(hours=2))
    carry(city, county)
    answer_verification(county, item_id, "属实。")
    carry(county, city)
    place_in_issue(city, "每日要情", [item_id])
    # a question asked after placing holds the sign-off back
    ask_to_verify(city, item_id, "地点是否准确？", city.clock() + timedelta(hours=2))
    with pytest.raises(TransitionError, match="来源单位答复后才能刊用"):
        signoff_issue(city, "每日要情")
    carry(city, county)
    answer_verification(county, item_id, "地点准确。")
    carry(county, city)
    assert signoff_issue(city, "每日要情").state == "已印发"
    assert [v.id for v in show(city.store, item_id).verifications] == [
        asked.id,
        "140200-HS-2026-0002",
    ]


def test_wrong_asks_and_answers_are_refused() -> None:
    city, county, item_id, _ = asked_at_the_city()
    with pytest.raises(ValidationError, match="须写明"):
        ask_to_verify(city, item_id, "  ", city.clock() + timedelta(hours=1))
    with pytest.raises(NotFound):  # the county never received its own item
        ask_to_verify(county, item_id, "？", county.clock() + timedelta(hours=1))
    with pytest.raises(NotFound, match="没有待答复"):  # the question has not arrived yet
        answer_verification(county, item_id, "属实。")
    carry(city, county)
    with pytest.raises(ValidationError, match="核实结果"):
        answer_verification(county, item_id, "")
    writer = replace(county, roles=frozenset({Role.WRITER}))
    assert Role.WRITER.value == "信息员"
    answer_verification(writer, item_id, "属实。")  # 信息员 may answer
    reader = replace(city, roles=frozenset({Role.WRITER}))
    with pytest.raises(PermissionDenied, match="要求核实"):
        ask_to_verify(reader, item_id, "？", city.clock() + timedelta(hours=1))


def test_records_are_applied_once_and_only_from_who_may_make_them() -> None:
    city, county, item_id, asked = asked_at_the_city()
    (question,) = [q.record for q in outbox.pending(city.store) if q.record.kind == "verify"]
    assert apply(county.store, question, "140212").outcome is Outcome.APPLIED
    assert apply(county.store, question, "140212").outcome is Outcome.DUPLICATE
    # another unit may not ask in the city's name, nor the city ask a unit it did not hear from
    forged = replace(question, origin="140213")
    with pytest.raises(AuthorityError):
        apply(county.store, forged, "140212")
    elsewhere = replace(question, payload={**question.payload, "from": "140213"})
    with pytest.raises(AuthorityError):
        apply(county.store, elsewhere, "140212")
    answer_verification(county, item_id, "属实。")
    (reply,) = [q.record for q in outbox.pending(county.store) if q.record.kind == "verify-answer"]
    # only the source asked may answer
    with pytest.raises(AuthorityError):
        apply(city.store, replace(reply, origin="140213"), "140200")
    with pytest.raises(NotFound):  # an answer to a question never asked here
        apply(
            city.store,
            replace(
                reply,
                id="answer:140200-HS-2026-0099",
                payload={**reply.payload, "id": "140200-HS-2026-0099"},
            ),
            "140200",
        )
    bad_time = replace(reply, payload={**reply.payload, "at": "明天"})
    with pytest.raises(ValidationError, match="时间无效"):
        apply(city.store, bad_time, "140200")
    assert apply(city.store, reply, "140200").outcome is Outcome.APPLIED
    assert not verify.get(city.store, asked.id).open
