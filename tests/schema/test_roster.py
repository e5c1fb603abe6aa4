"""通讯录 (schema/roster.py): a unit keeps its 信息员 and 分管领导 and sends them to every office
above it; the book at an office lists itself and every unit below, with who never sent a
roster or left a required role out, and when each was last heard from."""

from __future__ import annotations

from dataclasses import replace

import pytest

from schema import outbox, roster
from schema.authority import AuthorityError
from schema.desk import set_roster
from schema.error import PermissionDenied, ValidationError
from schema.inbound import Outcome, apply
from schema.vocabulary import Role
from tests.schema.test_bulletin import carry, desks, send

ROSTER = """\
[[person]]
role = "分管领导"
name = "张某某"
post = "区政府办公室副主任"
office_phone = "0352-6012345"
mobile = "13903521234"

[[person]]
role = "信息员"
name = "李四"
post = "信息科科员"
mobile = "139 0352 5678"
"""


def people(text: str = ROSTER) -> tuple[roster.Person, ...]:
    import tomllib

    return roster.parse(tomllib.loads(text))


def test_a_roster_travels_to_every_office_above() -> None:
    """The township's roster reaches its county and the city (and the province: every
    office above, one record routed up the tree)."""
    _, city, d = desks()
    town, county = d["140212100"], d["140212"]
    assert set_roster(town, people()) == 1
    (queued,) = outbox.pending(town.store)
    assert queued.record.kind == "roster"  # to the county, the city and the province above
    assert set(queued.recipients) == {"140212", "140200", "140000"}
    carry(town, county)
    carry(town, city)
    for office in (county, city):
        book = {e.unit: e for e in roster.book(office.store, office.node.id)}
        entry = book["140212100"]
        assert [p.name for p in entry.people] == ["张某某", "李四"]
        assert entry.people[1].mobile == "139 0352 5678" and not entry.missing
    # a change replaces the whole roster, as a newer version of the one record
    assert set_roster(town, people(ROSTER.split('[[person]]\nrole = "信息员"')[0])) == 2
    newer = [q.record for q in outbox.pending(town.store) if q.record.version == 2]
    assert apply(city.store, newer[0], "140200").outcome is Outcome.APPLIED
    older = [q.record for q in outbox.pending(town.store) if q.record.version == 1]
    assert apply(city.store, older[0], "140200").outcome is Outcome.STALE
    entry = {e.unit: e for e in roster.book(city.store, "140200")}["140212100"]
    assert [p.name for p in entry.people] == ["张某某"] and entry.missing == ("信息员",)


def test_the_book_names_who_never_sent_one_and_when_each_was_heard() -> None:
    _, city, d = desks()
    send(d["140212"], city, "新荣区煤改电运行平稳")  # heard from 新荣区, no roster
    set_roster(d["140213"], people())
    carry(d["140213"], city)
    book = roster.book(city.store, "140200")
    units = [e.unit for e in book]
    assert units[0] == "140200"  # this office first, then the tiers below, nearest first
    assert units.index("140212") < units.index("140212100")
    entries = {e.unit: e for e in book}
    assert entries["140212"].people == () and entries["140212"].last_active is not None
    assert entries["140213"].last_active == entries["140213"].updated_at
    assert entries["140200-fgw"].last_active is None  # never heard from
    from console.rostertext import book_lines

    text = "\n".join(book_lines(book))
    assert "新荣区（140212）　最近活动" in text and "未报送通讯录" in text
    # whom to phone first; those that never sent one after, a line each under their count
    assert text.index("平城区（140213）") < text.index("未报送通讯录的单位（5）")
    assert text.index("未报送通讯录的单位（5）") < text.index("新荣区（140212）")
    assert "  分管领导　张某某　区政府办公室副主任　办 0352-6012345　手机 13903521234" in text


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (('role = "信息员"', 'role = "通讯员"'), "person[2].role", "之一"),
        (('name = "李四"', 'name = ""'), "person[2].name", "必须填写"),
        (('mobile = "139 0352 5678"', 'mobile = "请打总机"'), "person[2].mobile", "不像电话号码"),
        (('mobile = "139 0352 5678"', 'mobile = "12345"'), "person[2].mobile", "不像电话号码"),
        (('mobile = "139 0352 5678"', 'mobile = ""'), "person[2].mobile", "至少填写一个"),
        (('post = "信息科科员"', 'email = "a@b"'), "person[2].email", "未知字段"),
        (('name = "李四"', 'name = "李\\u202e四"'), "person[2].name", ""),
        (('name = "李四"', f'name = "{"李" * 51}"'), "person[2].name", ""),
    ],
)
def test_a_bad_roster_names_its_field(change: tuple[str, str], field: str, reason: str) -> None:
    import tomllib

    text = ROSTER.replace(*change)
    assert text != ROSTER
    with pytest.raises(ValidationError) as caught:
        roster.parse(tomllib.loads(text))
    assert caught.value.field == field and reason in caught.value.reason
    with pytest.raises(ValidationError, match="至少有一人"):
        roster.parse({"person": []})


def test_only_the_unit_itself_may_send_its_roster() -> None:
    _, city, d = desks()
    county = d["140212"]
    set_roster(county, people())
    (record,) = [q.record for q in outbox.pending(county.store)]
    with pytest.raises(AuthorityError):  # 平城区 may not send 新荣区's roster
        apply(city.store, replace(record, origin="140213"), "140200")
    with pytest.raises(AuthorityError):
        apply(city.store, replace(record, payload={**record.payload, "unit": "140213"}), "140200")
    hostile = replace(record, payload={**record.payload, "person": [{"role": "信息员"}]})
    with pytest.raises(ValidationError):
        apply(city.store, hostile, "140200")
    assert roster.people_of(city.store, "140212") == ()
    writer = replace(county, roles=frozenset({Role.WRITER}))
    with pytest.raises(PermissionDenied, match="维护通讯录"):
        set_roster(writer, people())
