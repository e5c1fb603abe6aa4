"""A 通报 signed off (schema/supervise.py): numbered, sent to every unit it names with the
送阅 list, each unit short of its quota sent a 督办 it answers in words by the deadline, a 约谈
recorded; received bulletins are kept and read below; who may send one is checked."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from schema import bulletin, outbox, supervise
from schema import request as requests
from schema.authority import AuthorityError
from schema.desk import answer_request, record_interview, signoff_bulletin
from schema.error import PermissionDenied, ValidationError
from schema.inbound import apply
from schema.vocabulary import Role
from tests.schema.test_bulletin import carry, november_city


def test_a_signed_off_bulletin_reaches_those_it_names_and_the_short_are_supervised(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock, city = november_city()
    made = bulletin.compute(
        city.store, "140200", "2026-11", clock(), bulletin.load_rules("datong-city")
    )
    done, notices = signoff_bulletin(city, made)
    assert done.number == "同政办函〔2026〕1号" and done.id == "140200-TB-2026-0001"
    assert done.read_by == "市委、市政府主要领导，分管副市长"  # [bulletin] read_by
    assert set(done.units) == {"140212", "140213", "140200-fgw", "140212100", "140200-dtd"}
    assert "| 1 | 新荣区 | 43 |" in done.text
    # every unit short of its quota gets a 督办, answered in words within supervise_days
    short = {r.unit for r in made.rows if r.total.shortfall}
    assert {n.draft.targets[0] for n in notices} == short
    notice = next(n for n in notices if n.draft.targets == ("140213",))
    assert notice.draft.kind == requests.SUPERVISED and "差15条" in notice.draft.guidance
    assert notice.draft.deadline == done.at + timedelta(days=7)
    with pytest.raises(ValidationError, match="已经签发"):
        signoff_bulletin(city, made)
    # 平城区 receives it and the 督办, and answers
    from tests.schema.test_bulletin import desks

    _, _, d = desks()
    pc = d["140213"]
    carry(city, pc)
    (held,) = supervise.issued(pc.store)
    assert (held.issuer, held.number, held.received_at is not None) == (
        "140200",
        "同政办函〔2026〕1号",
        True,
    )
    assert "平城区" in held.text and held.read_by == done.read_by
    answer_request(pc, notice.id, "已约谈信息员，明确分管领导，12月补报15条。")
    carry(pc, city)
    (status,) = requests.matrix(city.store, notice.id, clock())
    assert status.outcome is requests.Outcome.ON_TIME and "补报15条" in status.note
    # the city records a 约谈 against the 督办
    talk = record_interview(city, "140213", "约谈平城区政府办分管副主任。", notice.id)
    assert [i.note for i in supervise.interviews(city.store, "140213")] == [talk.note]
    with pytest.raises(ValidationError, match="不是发给"):
        record_interview(city, "140212", "约谈。", notice.id)
    # `xinbao show` of the 督办 at the city: the answer in words and the 约谈 under it
    from console import requests_text
    from console.screen.request import load_matrix

    requests_text.print_request(city.store, requests.get(city.store, notice.id), "140200", clock())
    shown = capsys.readouterr().out
    assert "已反馈" in shown and "12月补报15条" in shown
    assert "约谈 平城区" in shown and "约谈平城区政府办分管副主任。" in shown
    assert load_matrix(city, notice.id).interviews[0].startswith("约谈 平城区")
    with pytest.raises(PermissionDenied, match="记录约谈"):
        record_interview(replace(city, roles=frozenset({Role.WRITER})), "140213", "约谈。")


def test_only_its_issuer_sends_a_bulletin_and_only_to_units_it_names() -> None:
    clock, city = november_city()
    made = bulletin.compute(
        city.store, "140200", "2026-11", clock(), bulletin.load_rules("datong-city")
    )
    signoff_bulletin(city, made)
    (record,) = [q.record for q in outbox.pending(city.store) if q.record.kind == "bulletin"]
    from tests.schema.test_bulletin import desks

    _, _, d = desks()
    pc = d["140213"]
    with pytest.raises(AuthorityError):  # 新荣区 may not send the city's bulletin
        apply(pc.store, replace(record, origin="140212"), "140213")
    with pytest.raises(ValidationError, match="没有点到本单位"):
        apply(pc.store, replace(record, payload={**record.payload, "units": ["140212"]}), "140213")
    hostile = replace(record, payload={**record.payload, "text": "通报\u202e"})
    with pytest.raises(ValidationError):
        apply(pc.store, hostile, "140213")
    assert supervise.issued(pc.store) == []
