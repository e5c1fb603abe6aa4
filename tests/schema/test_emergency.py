"""Emergencies (schema/emergency.py): deadlines, what a desk owes, 迟报, marks and threads."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from schema import emergency
from schema import item as items
from schema.desk import Desk, edit, forward, mark_unit, signoff, submit
from schema.emergency import Channel, EmergencyRules, MarkKind
from schema.error import ValidationError
from schema.inbound import apply
from schema.network import add_units
from schema.outbox import pending
from schema.record import Incident, Unit
from schema.store import Store
from schema.vocabulary import Role, Severity, Tier
from tests.conftest import CITY, COUNTY, Fixed, incident_draft

CHINA_EIGHT = "+08:00"
PROVINCE = Unit("140000", "山西省人民政府办公厅", Tier.PROVINCE, "100000", short="山西省")
EVENT = datetime.fromisoformat("2026-11-21T23:10:00+08:00")


def incident(severity: str, at: datetime = EVENT) -> Incident:
    return Incident(severity=Severity.parse(severity), occurred_at=at, place="某煤矿")


@pytest.mark.parametrize(
    ("severity", "tier", "channel", "minutes"),
    [
        ("一般", "市", "书面", 120),  # seeds: city 2 h
        ("较大", "省", "书面", 300),  # seeds: province 5 h
        ("一般", "中央", "书面", 360),  # seeds: central 6 h
        ("重大", "市", "书面", 60),  # the national rule is stricter than the seeds' 2 h
        ("特别重大", "中央", "书面", 60),
        ("重大", "县", "电话", 30),  # national: 30 min by phone, at any tier
        ("一般", "市", "电话", None),  # no phone deadline for an ordinary incident
        ("一般", "县", "书面", None),  # nothing set for a county receiving
    ],
)
def test_deadlines_by_severity_tier_and_channel(
    severity: str, tier: str, channel: str, minutes: int | None
) -> None:
    rules = EmergencyRules.load()
    got = rules.deadline(incident(severity), Tier.parse(tier), Channel.parse(channel))
    assert got == (None if minutes is None else EVENT + timedelta(minutes=minutes))


def test_a_deadline_after_midnight_falls_on_the_next_day() -> None:
    got = EmergencyRules.load().deadline(incident("一般"), Tier.CITY, Channel.WRITTEN)
    assert got is not None and got.isoformat() == "2026-11-22T01:10:00" + CHINA_EIGHT
    assert got.date() > EVENT.date()


def test_the_published_alternatives_can_be_chosen() -> None:
    city_rule = EmergencyRules.load(active=["市级"])
    for severity, minutes in (("一般", 120), ("较大", 60), ("重大", 30), ("特别重大", 30)):
        got = city_rule.deadline(incident(severity), Tier.CITY, Channel.WRITTEN)
        assert got == EVENT + timedelta(minutes=minutes), severity
    assert city_rule.deadline(incident("较大"), Tier.PROVINCE, Channel.WRITTEN) is None
    with pytest.raises(ValidationError, match="没有名为“不存在”"):
        EmergencyRules.load(active=["不存在"])


def test_a_bad_rule_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        'active = ["x"]\n[rules.x]\ndeadline = [{ tier = "市", minutes = 0 }]\n', "utf-8"
    )
    with pytest.raises(ValidationError, match=r"rules\.x\.deadline\[1\]\.minutes"):
        EmergencyRules.load(path)


def desks(now: datetime) -> tuple[Fixed, Desk, Desk, Desk]:
    clock = Fixed(now)
    roles = frozenset(Role)
    made = []
    for unit in (COUNTY, CITY, PROVINCE):
        desk = Desk(Store.memory(), unit, "值班员", roles, clock)
        add_units(desk.store, [COUNTY, CITY, PROVINCE])
        made.append(desk)
    return clock, made[0], made[1], made[2]


def deliver(source: Desk, target: Desk) -> None:
    for q in pending(source.store):
        if target.node.id in q.recipients:
            apply(target.store, q.record, target.node.id, target.clock)


def test_what_a_desk_owes_counts_down_and_goes_once_sent() -> None:
    occurred = datetime.fromisoformat("2026-11-21T14:35:00+08:00")
    clock, county, city, _ = desks(occurred + timedelta(minutes=10))
    report = submit(
        county,
        incident_draft(
            incident={"severity": "较大", "occurred_at": occurred.isoformat(), "place": "某煤矿"}
        ),
    )
    rules = EmergencyRules.load()

    def status() -> list[tuple[str, str, str]]:
        owed = emergency.due(county.store, "140212", "140200", clock.now, rules)
        return [(d.item_id, d.to_unit, d.status) for d in owed]

    assert status() == [(report.id, "140200", "待报")]  # city, written, 2 h
    clock.now = occurred + timedelta(minutes=95)
    assert status() == [(report.id, "140200", "即将超时")]  # within the last 30 minutes
    clock.now = occurred + timedelta(minutes=121)
    assert status() == [(report.id, "140200", "超时")]
    signoff(county, report.id)
    assert status() == []  # sent: nothing owed

    # it reaches the city late: 迟报 is recorded against the county, once
    deliver(county, city)
    (late,) = emergency.marks(city.store)
    assert (late.unit, late.kind, late.item_id, late.auto) == (
        "140212",
        MarkKind.LATE,
        report.id,
        True,
    )
    assert "迟 1 分钟" in late.note
    # and the city owes the province (5 h) until it passes the report up
    owed = emergency.due(city.store, "140200", "140000", clock.now, rules)
    assert [(d.item_id, d.to_unit, d.status, d.why) for d in owed] == [
        (report.id, "140000", "待报", "须报上级")
    ]
    up = forward(city, report.id)
    assert emergency.due(city.store, "140200", "140000", clock.now, rules)  # not signed yet
    signoff(city, up.id)
    assert emergency.due(city.store, "140200", "140000", clock.now, rules) == []


def test_an_unsent_report_leaves_the_board_after_the_watch_span() -> None:
    occurred = datetime.fromisoformat("2026-11-21T14:35:00+08:00")
    clock, county, _, _ = desks(occurred + timedelta(minutes=10))
    submit(
        county,
        incident_draft(
            incident={"severity": "一般", "place": "某煤矿", "occurred_at": occurred.isoformat()}
        ),
    )
    rules = EmergencyRules.load()
    assert rules.watch == timedelta(days=7)  # schema/data/emergency.toml
    clock.now = occurred + timedelta(days=6)
    assert [d.status for d in emergency.due(county.store, "140212", "140200", clock.now, rules)]
    clock.now = occurred + timedelta(days=7, hours=1)
    assert emergency.due(county.store, "140212", "140200", clock.now, rules) == []


def test_recent_incidents_come_as_threads_newest_event_first() -> None:
    clock, county, _, _ = desks(EVENT + timedelta(hours=1))
    older = EVENT - timedelta(days=1)
    data = {"severity": "一般", "place": "某煤矿", "occurred_at": older.isoformat()}
    first = submit(county, incident_draft(incident=data))
    follow = {**data, "report": "续报", "thread": first.id}
    submit(county, incident_draft(title="某煤矿透水事故续报", incident=follow))
    later = submit(
        county,
        incident_draft(incident={**data, "occurred_at": EVENT.isoformat(), "place": "某村"}),
    )
    threads = emergency.recent(county.store, clock.now, EmergencyRules.load())
    assert [[r.id for r in t] for t in threads] == [[later.id], [first.id, threads[1][1].id]]
    assert threads[1][1].draft.incident.report == "续报"  # type: ignore[union-attr]
    clock.now = EVENT + timedelta(days=8)  # past the watch span: history
    assert emergency.recent(county.store, clock.now, EmergencyRules.load()) == []


def test_a_report_on_time_is_not_marked_and_a_major_one_owes_a_phone_call() -> None:
    occurred = datetime.fromisoformat("2026-11-21T14:35:00+08:00")
    clock, county, city, _ = desks(occurred + timedelta(minutes=10))
    data = {"severity": "重大", "occurred_at": occurred.isoformat(), "place": "某煤矿"}
    report = submit(county, incident_draft(incident=data))
    owed = emergency.due(county.store, "140212", "140200", clock.now, EmergencyRules.load())
    assert [(d.channel, d.deadline - occurred) for d in owed] == [
        (Channel.PHONE, timedelta(minutes=30)),
        (Channel.WRITTEN, timedelta(minutes=60)),
    ]
    signoff(county, report.id)
    deliver(county, city)
    assert emergency.marks(city.store) == []


def test_an_upper_desk_records_missed_concealed_and_false_reports() -> None:
    clock, _, city, _ = desks(EVENT)
    with pytest.raises(ValidationError, match="须写明情况"):
        mark_unit(city, "140212", MarkKind.CONCEALED, "", " ")
    done = mark_unit(city, "140212", MarkKind.CONCEALED, "", "媒体报道后才报告，伤亡人数少报")
    assert done.kind is MarkKind.CONCEALED and done.actor == "值班员" and not done.auto
    clock.now = EVENT + timedelta(days=40)
    mark_unit(city, "140212", MarkKind.FALSE, "", "核实后无此事")
    assert [m.kind for m in emergency.marks(city.store)] == [MarkKind.CONCEALED, MarkKind.FALSE]
    november = emergency.marks(
        city.store, datetime.fromisoformat("2026-11-01T00:00:00+08:00"), EVENT + timedelta(days=9)
    )
    assert [m.kind for m in november] == [MarkKind.CONCEALED]


def test_follow_up_reports_form_a_thread_in_report_order() -> None:
    _, county, _, _ = desks(EVENT)
    first = submit(county, incident_draft())
    base = {"severity": "较大", "occurred_at": "2026-11-21T14:35:00+08:00", "place": "某煤矿"}
    with pytest.raises(ValidationError, match="续报一须填写首报"):
        submit(county, incident_draft(incident={**base, "report": "续报一"}))
    with pytest.raises(ValidationError, match="找不到首报"):
        submit(county, incident_draft(incident={**base, "report": "终报", "thread": "X"}))
    reports = {}
    for name in ("终报", "续报二", "续报一", "续报十一"):
        reports[name] = submit(
            county, incident_draft(incident={**base, "report": name, "thread": first.id})
        )
    order = [
        r.draft.incident.report
        for r in emergency.thread(county.store, reports["续报二"].id)
        if r.draft.incident
    ]
    assert order == ["首报", "续报一", "续报二", "续报十一", "终报"]
    # the final report may revise the severity; the thread still holds together
    edit(
        county,
        reports["终报"].id,
        incident_draft(incident={**base, "severity": "一般", "report": "终报", "thread": first.id}),
    )
    assert len(emergency.thread(county.store, first.id)) == 5


# -- phone reports and air-gapped lateness (issue 18) ------------------------------------------


def test_a_phone_report_meets_the_phone_deadline_and_a_written_one_must_follow() -> None:
    """国家重大: 30 minutes by phone, 60 in writing. The county phones the city 20 minutes after
    a 重大 event: in time, nothing marked; the board shows the written report awaited; when
    the written 首报 arrives it is linked to the call and the wait ends."""
    from schema.desk import take_phone_report

    occurred = datetime.fromisoformat("2026-11-21T14:35:00+08:00")
    clock, county, city, _ = desks(occurred + timedelta(minutes=20))
    taken = take_phone_report(
        city,
        "140212",
        caller="李晓红",
        summary="某煤矿透水，3人被困",
        severity=Severity.MAJOR,
        occurred_at=occurred,
        place="某煤矿",
    )
    assert (taken.late_minutes, taken.taken_by) == (0, "值班员")
    assert taken.phone_deadline == occurred + timedelta(minutes=30)
    assert taken.written_deadline == occurred + timedelta(minutes=60)
    assert emergency.marks(city.store) == []
    rules = EmergencyRules.load()
    (waiting,) = emergency.due(city.store, "140200", "", clock.now, rules)
    assert (waiting.why, waiting.to_unit, waiting.status) == (
        "电话已报，待书面首报",
        "140212",
        "待报",
    )
    assert "李晓红电话报告" in waiting.title
    clock.now = occurred + timedelta(minutes=61)
    assert emergency.due(city.store, "140200", "", clock.now, rules)[0].status == "超时"
    data = {"severity": "重大", "occurred_at": occurred.isoformat(), "place": "某煤矿"}
    report = submit(county, incident_draft(incident=data))
    signoff(county, report.id)
    deliver(county, city)
    assert emergency.phone_report(city.store, taken.id).item_id == report.id
    assert emergency.due(city.store, "140200", "", clock.now, rules) == []
    (late,) = emergency.marks(city.store)  # the written report came a minute late
    assert late.item_id == report.id and "迟 1 分钟" in late.note


def test_a_late_call_is_marked_and_bad_calls_are_refused() -> None:
    from schema.desk import link_phone_report, take_phone_report

    occurred = datetime.fromisoformat("2026-11-21T14:35:00+08:00")
    clock, _, city, _ = desks(occurred + timedelta(minutes=45))
    taken = take_phone_report(
        city,
        "140212",
        caller="李晓红",
        summary="某煤矿透水",
        severity=Severity.MAJOR,
        occurred_at=occurred,
    )
    assert taken.late_minutes == 15
    (late,) = emergency.marks(city.store)
    assert (late.kind, late.unit, late.auto) == (MarkKind.LATE, "140212", True)
    assert "电话报告应于" in late.note and "迟 15 分钟" in late.note
    for change, field in (
        ({"caller": " "}, "caller"),
        ({"occurred_at": clock.now + timedelta(minutes=1)}, "occurred_at"),
        ({"called_at": clock.now + timedelta(hours=1)}, "called_at"),
        ({"summary": "透水\u202e"}, "summary"),
    ):
        args = {
            "caller": "李晓红",
            "summary": "某煤矿透水",
            "severity": Severity.MAJOR,
            "occurred_at": occurred,
            **change,
        }
        with pytest.raises(ValidationError) as caught:
            take_phone_report(city, "140212", **args)  # type: ignore[arg-type]
        assert caught.value.field == field
    with pytest.raises(emergency.NotFound):
        take_phone_report(
            city, "999999", caller="某", summary="某", severity=Severity.MINOR, occurred_at=occurred
        )
    # linked by hand to a report of another unit: refused
    report = submit(city, incident_draft())
    with pytest.raises(ValidationError, match="不是 140212 报来的"):
        link_phone_report(city, taken.id, report.id)


@pytest.mark.parametrize(("late_by", "marked"), [("arrival", True), ("signoff", False)])
def test_an_air_gapped_report_shows_both_times_and_the_rules_choose(
    tmp_path: Path, late_by: str, marked: bool
) -> None:
    """Signed off in time (50 of 60 minutes), carried on a USB stick for three hours: late by
    arrival, in time by sign-off; the note says both; the rule set chooses which counts."""
    occurred = datetime.fromisoformat("2026-11-21T14:35:00+08:00")
    clock, county, city, _ = desks(occurred + timedelta(minutes=50))
    data = {"severity": "重大", "occurred_at": occurred.isoformat(), "place": "某煤矿"}
    report = submit(county, incident_draft(incident=data))
    signoff(county, report.id)
    deliver(county, city)  # the city holds it (here at once: the carrying is simulated below)
    assert emergency.marks(city.store) == []
    clock.now = occurred + timedelta(hours=3, minutes=50)
    text = (Path(emergency.__file__).parent / "data" / "emergency.toml").read_text("utf-8")
    path = tmp_path / "emergency.toml"
    path.write_text(text.replace('late_by = "arrival"', f'late_by = "{late_by}"'), "utf-8")
    rules = EmergencyRules.load(path)
    assert rules.late_by == late_by
    item = items.get(county.store, report.id)
    made = emergency.on_arrival(city.store, item, "140212", "140200", clock.now, rules)
    assert (made is not None) is marked
    if made is not None:
        assert "签发于" in made.note and "（未迟）" in made.note
        assert "迟 170 分钟" in made.note and "按送达时间计" in made.note
    with pytest.raises(ValidationError, match="late_by"):
        path.write_text(text.replace('late_by = "arrival"', 'late_by = "whenever"'), "utf-8")
        EmergencyRules.load(path)
