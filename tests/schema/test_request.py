"""Topic requests (schema/request.py): a full cycle across desks with a fixed clock."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from schema import outbox
from schema import request as requests
from schema.authority import AuthorityError
from schema.desk import (
    Desk,
    compose_request,
    follow_up_request,
    open_request,
    outgoing_edges,
    signoff,
    signoff_request,
    submit,
    zero_report,
)
from schema.error import TransitionError, ValidationError
from schema.fixture import load_requests
from schema.inbound import Outcome as Applied
from schema.inbound import apply
from schema.network import add_units
from schema.record import Edge, Unit
from schema.store import Store
from schema.vocabulary import Role, Tier
from tests.conftest import CITY, T0, Fixed, draft

R = requests.Outcome
COUNTIES = [Unit(f"14021{n}", f"第{n}县", Tier.COUNTY, "140200") for n in range(1, 5)]
OTHERS = [
    Unit("140212100", "某镇", Tier.TOWNSHIP, "140211"),
    Unit("140200-fgw", "市发改委", Tier.DEPARTMENT, "140200"),
    Unit("140100", "太原市", Tier.CITY, "140000"),
    Unit("140105", "小店区", Tier.COUNTY, "140100"),
]


@pytest.fixture
def net() -> tuple[Fixed, Desk, dict[str, Desk]]:
    clock = Fixed()
    roles = frozenset(Role)
    city = Desk(Store.memory(), CITY, "王某某", roles, clock)
    add_units(city.store, [CITY, *COUNTIES, *OTHERS])
    counties = {u.id: Desk(Store.memory(), u, "李某", roles, clock) for u in COUNTIES}
    for desk in counties.values():
        add_units(desk.store, [CITY, desk.node])
    return clock, city, counties


def carry(source: Desk, targets: list[Desk]) -> list[Applied]:
    """Deliver every queued record of ``source`` to each of ``targets`` it is addressed to."""
    queued = outbox.pending(source.store)
    done = [
        apply(t.store, q.record, t.node.id, t.clock).outcome
        for q in queued
        for t in targets
        if t.node.id in q.recipients
    ]
    outbox.mark_shipped(source.store, [q.seq for q in queued], source.clock())
    return done


def request_draft(**overrides: object) -> requests.RequestDraft:
    data: dict[str, object] = {
        "kind": "约稿",
        "urgency": "加急",
        "topic": "冬季清洁取暖和“煤改电”运行保障情况",
        "guidance": "请各县（区）报送供暖季开始后清洁取暖设施运行情况。",
        "targets": ["all:county:140200"],
        "deadline": (T0 + timedelta(days=2)).isoformat(),
        "publication": "专报",
        "points": 10,
        "penalty": -10,
    }
    data.update(overrides)
    return requests.parse_request(data)


def test_a_request_cycle_on_time_late_missing_and_zero_report(
    net: tuple[Fixed, Desk, dict[str, Desk]],
) -> None:
    clock, city, counties = net
    made = compose_request(city, request_draft())
    assert made.number == "〔2026〕第1号" and made.state is requests.RequestState.AWAITING_SIGNOFF
    assert outbox.pending(city.store) == []  # nothing leaves before sign-off
    issued = signoff_request(city, made.id)
    assert issued.state is requests.RequestState.ISSUED
    (queued,) = outbox.pending(city.store)
    # every county below the city, and nothing else: not the township, the department, or
    # a county of another city
    assert queued.recipients == ("140211", "140212", "140213", "140214")
    assert queued.priority == 5  # 加急
    assert carry(city, list(counties.values())) == [Applied.APPLIED] * 4
    a, b, c, d = (counties[u.id] for u in COUNTIES)

    # A reads it and replies on time; B answers 零报告 on time; C replies late; D never answers
    clock.now = T0 + timedelta(days=1)
    open_request(a, made.id)
    reply = submit(a, draft(request=made.id, to=None))
    assert [e.to_unit for e in outbox_edges(a, reply.id)] == ["140200"]  # to whoever asked
    signoff(a, reply.id)
    zero_report(b, made.id, "本县无煤改电用户")
    open_request(d, made.id)
    clock.now = T0 + timedelta(days=3)
    late = submit(c, draft(request=made.id, to=None))
    signoff(c, late.id)
    for county in (a, b, c, d):
        carry(county, [city])

    clock.now = T0 + timedelta(days=4)
    rows = {s.unit: s for s in requests.matrix(city.store, made.id, clock.now)}
    assert {u: s.outcome for u, s in rows.items()} == {
        "140211": R.ON_TIME,
        "140212": R.ON_TIME,
        "140213": R.LATE,
        "140214": R.MISSING,
    }
    assert rows["140211"].replies == (reply.id,) and rows["140211"].read_at == T0 + timedelta(1)
    assert rows["140212"].zero_report and rows["140212"].note == "本县无煤改电用户"
    assert rows["140214"].read_at is not None and rows["140214"].answered_at is None
    # the replies are items at the city, linked to the request
    held = city.store.query("SELECT id FROM item WHERE request = ? ORDER BY id", (made.id,))
    assert [r["id"] for r in held] == sorted([reply.id, late.id])
    # before the deadline, a silent target is pending, not missing
    early = requests.matrix(city.store, made.id, T0 + timedelta(hours=1))
    assert [s.outcome for s in early if s.unit == "140214"] == [R.PENDING]


def outbox_edges(desk: Desk, item_id: str) -> list[Edge]:
    return outgoing_edges(desk.store, item_id, desk.node.id)


def test_answers_arriving_twice_or_out_of_order_change_nothing(
    net: tuple[Fixed, Desk, dict[str, Desk]],
) -> None:
    clock, city, counties = net
    made = signoff_request(city, compose_request(city, request_draft()).id)
    carry(city, list(counties.values()))
    a = counties["140211"]
    open_request(a, made.id)
    (read,) = outbox.pending(a.store)
    zero_report(a, made.id)
    _, answer = outbox.pending(a.store)
    assert read.record.version == 1 and answer.record.version == 2
    # the answer arrives first, then the older read receipt, then the answer again
    assert apply(city.store, answer.record, "140200").outcome is Applied.APPLIED
    assert apply(city.store, read.record, "140200").outcome is Applied.STALE
    assert apply(city.store, answer.record, "140200").outcome is Applied.DUPLICATE
    (row,) = [s for s in requests.matrix(city.store, made.id, clock.now) if s.unit == "140211"]
    assert row.zero_report and row.outcome is R.ON_TIME
    with pytest.raises(TransitionError, match="已于"):
        zero_report(a, made.id)


def test_targets_are_checked_before_anything_is_stored(
    net: tuple[Fixed, Desk, dict[str, Desk]],
) -> None:
    _, city, counties = net
    with pytest.raises(ValidationError, match="不知道单位 140299"):
        compose_request(city, request_draft(targets=["140299"]))
    with pytest.raises(ValidationError, match="140213 下有乡镇级单位"):
        compose_request(city, request_draft(targets=["all:township:140213"]))
    with pytest.raises(ValidationError, match="all:层级:单位代码"):
        request_draft(targets=["all:county"])
    with pytest.raises(ValidationError, match="不能包含本单位"):
        compose_request(city, request_draft(targets=["140200", "140211"]))
    assert city.store.query("SELECT id FROM request") == []
    # a county cannot reply to a request it never received
    with pytest.raises(Exception, match="没有约稿"):
        submit(counties["140211"], draft(request="140200-YG-2026-0009", to=None))


def test_a_policy_request_schedules_follow_ups_at_a_week_a_month_and_three_months(
    net: tuple[Fixed, Desk, dict[str, Desk]],
) -> None:
    clock, city, _ = net
    made = compose_request(city, request_draft(policy_date="2026-10-15"))
    signoff_request(city, made.id)
    due = requests.follow_ups_due(city.store, "140200", date(2027, 12, 31))
    assert [(f["label"], f["due"]) for f in due] == [
        ("一周", "2026-10-22"),
        ("一个月", "2026-11-15"),
        ("三个月", "2027-01-15"),
    ]
    clock.now = T0  # 2026-11-21: two are due
    assert len(requests.follow_ups_due(city.store, "140200", clock.now.date())) == 2
    first = follow_up_request(city, made.id)
    assert first.follows == made.id and first.draft.topic.endswith("（跟踪·一周）")
    assert first.draft.deadline.isoformat() == "2026-10-29T18:00:00+08:00"
    assert first.number == "〔2026〕第2号"
    second = follow_up_request(city, made.id)
    assert second.draft.topic.endswith("（跟踪·一个月）")
    with pytest.raises(TransitionError, match="没有到期"):
        follow_up_request(city, made.id)


def test_every_fixture_request_parses() -> None:
    parsed = [requests.parse_request(r) for r in load_requests()]
    assert {p.kind for p in parsed} == {"约稿", "报送要点"}
    priorities = [p for p in parsed if p.kind == "报送要点"]
    assert priorities[0].themes and "all:department:140000" in priorities[0].targets


def test_a_request_file_with_a_mistake_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text('topic = "x"\nguidance = "y"\ntargets = ["140211"]\ndeadline = "明天"\n')
    with pytest.raises(ValidationError, match="deadline"):
        requests.read_request_file(path)


def test_items_are_tagged_to_the_themes_of_reporting_priorities_held_here(
    net: tuple[Fixed, Desk, dict[str, Desk]],
) -> None:
    _, city, counties = net
    notice = requests.parse_request(
        {
            "kind": "报送要点",
            "topic": "2026年第四季度报送要点",
            "guidance": "紧扣重点工作报送。",
            "targets": ["all:county:140200"],
            "deadline": "2026-12-31T18:00:00+08:00",
            "themes": ["根治欠薪冬季专项行动", "冬季清洁取暖和“煤改电”运行保障"],
        }
    )
    made = signoff_request(city, compose_request(city, notice).id)
    a = counties["140211"]
    with pytest.raises(ValidationError, match="不是本单位收到的报送要点"):
        submit(a, draft(themes=["根治欠薪冬季专项行动"]))
    carry(city, [a])
    tagged = submit(a, draft(themes=["根治欠薪冬季专项行动"]))
    assert tagged.draft.themes == ("根治欠薪冬季专项行动",)
    assert requests.themes_held(a.store) == list(made.draft.themes)
    with pytest.raises(ValidationError, match="不是本单位收到的报送要点"):
        submit(a, draft(themes=["别的主题"]))
    with pytest.raises(TransitionError, match="不需要答复"):
        zero_report(a, made.id)


def test_a_request_to_a_group_is_signed_for_the_group_and_each_unit_checks_itself(
    net: tuple[Fixed, Desk, dict[str, Desk]],
) -> None:
    """A request to ``all:county:140200`` names the group, not each county (its bytes would
    otherwise grow with the counties, on every link, issue 19); each unit it reaches decides
    by its own tier and ancestry whether it is in the group."""
    clock, city, counties = net
    issued = signoff_request(city, compose_request(city, request_draft()).id)
    (queued,) = outbox.pending(city.store)
    assert queued.recipients == ("140211", "140212", "140213", "140214")
    assert queued.to == ("all:county:140200",)
    assert queued.record.payload["units"] == ["all:county:140200"]
    # the issuer still tracks every county it resolved
    assert [t.unit for t in requests.matrix(city.store, issued.id, clock())] == list(
        queued.recipients
    )
    county = counties["140212"]
    applied = apply(county.store, queued.record, "140212", clock, to=queued.to)
    assert applied.outcome is Applied.APPLIED
    assert requests.get(county.store, issued.id).state is requests.RequestState.RECEIVED
    # a county of another city, a township below the city and the city's own department are
    # not in the group, whatever they hold: each refuses it as not addressed to it
    elsewhere = [
        (
            Unit("140105", "小店区", Tier.COUNTY, "140100"),
            Unit("140100", "太原市", Tier.CITY, "140000"),
        ),
        (OTHERS[0], Unit("140211", "第1县", Tier.COUNTY, "140200")),
        (OTHERS[1], CITY),
    ]
    for unit, parent in elsewhere:
        store = Store.memory()
        add_units(store, [CITY, parent, unit])
        with pytest.raises(AuthorityError) as refused:
            apply(store, queued.record, unit.id, clock, to=queued.to)
        assert refused.value.code == "record-addressee", unit.id
