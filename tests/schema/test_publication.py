"""Publications (schema/publication.py, schema/issuefile.py): numbering, placing, ordering,
sign-off, the issue record, and export to Markdown and .docx read back."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import docx
import pytest

from schema import outbox
from schema import publication as pubs
from schema.clock import CHINA
from schema.desk import (
    Desk,
    adopt,
    forward,
    order_issue,
    place_in_issue,
    remove_from_issue,
    signoff,
    signoff_issue,
    submit,
)
from schema.error import NotFound, TransitionError, ValidationError
from schema.inbound import apply
from schema.issuefile import markings, to_docx, to_markdown
from schema.record import Unit
from schema.state import find_edge
from schema.store import Store
from schema.vocabulary import EdgeState, Role, Tier
from tests.conftest import CITY, COUNTY, COUNTY2, T0, Ticking, draft

S = EdgeState
PROVINCE = Unit("140000", "山西省人民政府办公厅", Tier.PROVINCE, "100000", short="山西省")


def desk(unit: Unit, clock: Ticking) -> Desk:
    return Desk(Store.memory(), unit, "编辑甲", frozenset(Role), clock)


def deliver(source: Desk, *targets: Desk) -> None:
    queued = outbox.pending(source.store)
    for q in queued:
        for target in targets:
            if target.node.id in q.recipients:
                apply(target.store, q.record, target.node.id, target.clock)
    outbox.mark_shipped(source.store, [q.seq for q in queued], source.clock())


@pytest.fixture
def net() -> tuple[Ticking, Desk, Desk, Desk, list[str]]:
    """Three items received at the city: two from one county, one from another."""
    clock = Ticking(T0)
    county, county2, city = desk(COUNTY, clock), desk(COUNTY2, clock), desk(CITY, clock)
    ids = []
    for source, title in ((county, "新荣区供暖"), (county2, "平城区欠薪"), (county, "新荣区秸秆")):
        item = submit(source, draft(title=title, urgency="特急" if "欠薪" in title else "平急"))
        signoff(source, item.id)
        ids.append(item.id)
    deliver(county, city)
    deliver(county2, city)
    return clock, county, county2, city, ids


def test_issues_number_per_year_and_cumulatively(
    net: tuple[Ticking, Desk, Desk, Desk, list[str]],
) -> None:
    clock, _, _, city, ids = net
    first = pubs.open_issue(city.store, "140200", "每日要情", "编辑甲", clock())
    assert (first.id, first.number, first.cumulative) == ("每日要情/2026/1", 1, 1)
    assert pubs.open_issue(city.store, "140200", "每日要情", "编辑甲", clock()).id == first.id
    adopt(city, ids[0], "每日要情")
    signoff_issue(city, "每日要情/1")
    second = pubs.open_issue(city.store, "140200", "每日要情", "编辑甲", clock())
    assert (second.number, second.cumulative, second.copies) == (2, 2, (1, 60))
    clock.now = datetime(2027, 1, 2, 9, 0, tzinfo=CHINA)
    adopt(city, ids[1], "每日要情/2026/2")
    signoff_issue(city, "每日要情/2026/2")
    new_year = pubs.open_issue(city.store, "140200", "每日要情", "编辑甲", clock())
    assert (new_year.id, new_year.number, new_year.cumulative) == ("每日要情/2027/1", 1, 3)
    other = pubs.open_issue(city.store, "140200", "专报/1", "编辑甲", clock())
    assert other.cumulative == 1  # each publication counts its own
    with pytest.raises(NotFound, match="没有刊物“特刊”"):
        pubs.open_issue(city.store, "140200", "特刊/1", "编辑甲", clock())
    pubs.add_publication(city.store, "特刊", 10)
    assert pubs.open_issue(city.store, "140200", "特刊/1", "编辑甲", clock()).copies == (1, 10)


def test_build_order_sign_off_and_the_sources_hear_of_it(
    net: tuple[Ticking, Desk, Desk, Desk, list[str]],
) -> None:
    _, county, county2, city, ids = net
    for item_id in ids:
        adopt(city, item_id, "每日要情/5")
    own = submit(city, draft(title="大同市本级综合"))
    issue = place_in_issue(city, "每日要情/5", [own.id])
    assert [e.item_id for e in issue.entries] == [*ids, own.id]
    assert find_edge(city.store, ids[0], "140212", "140200").state is S.PLACED  # type: ignore[union-attr]
    with pytest.raises(TransitionError, match="已编入"):
        place_in_issue(city, "每日要情/6", [ids[0]])
    issue = order_issue(city, "每日要情/5", [own.id, ids[2]])
    assert [e.item_id for e in issue.entries] == [own.id, ids[2], ids[0], ids[1]]
    issue = remove_from_issue(city, "每日要情/5", ids[0])
    assert [e.item_id for e in issue.entries] == [own.id, ids[2], ids[1]]
    assert find_edge(city.store, ids[0], "140212", "140200").state is S.ADOPTED  # type: ignore[union-attr]
    issued = signoff_issue(city, "每日要情/5")
    assert issued.state == pubs.ISSUED and issued.signer == "编辑甲"
    with pytest.raises(TransitionError, match="不能再编辑"):
        place_in_issue(city, "每日要情/5", [ids[0]])
    # the issue goes to the parent and to both counties; decisions follow each edge
    (record,) = [q for q in outbox.pending(city.store) if q.record.kind == pubs.ISSUE_KIND]
    assert record.recipients == ("140000", "140212", "140213")
    assert record.priority == 9  # an item in it is 特急
    deliver(city, county, county2)
    mine = find_edge(county.store, ids[2], "140212", "140200")
    assert mine is not None and mine.state is S.ISSUED
    assert find_edge(county.store, ids[0], "140212", "140200").state is S.ADOPTED  # type: ignore[union-attr]
    (held,) = pubs.listing(county.store)
    received = pubs.get(county.store, held["id"])
    assert received.state == pubs.RECEIVED and received.publisher == "140200"
    assert [e.title for e in received.entries] == ["大同市本级综合", "新荣区秸秆", "平城区欠薪"]


def test_a_forwarded_item_s_origin_hears_of_the_province_s_issue(
    net: tuple[Ticking, Desk, Desk, Desk, list[str]],
) -> None:
    clock, _, _, city, ids = net
    province = desk(PROVINCE, clock)
    adopt(city, ids[0])
    up = forward(city, ids[0])
    signoff(city, up.id)
    deliver(city, province)
    adopt(province, up.id, "专报/1")
    signoff_issue(province, "专报/1")
    (record,) = [q for q in outbox.pending(province.store) if q.record.kind == pubs.ISSUE_KIND]
    assert set(record.recipients) == {"100000", "140200", "140212"}  # down to the county


def test_markings_in_gb_t_9704_order_in_markdown_and_docx_read_back(
    net: tuple[Ticking, Desk, Desk, Desk, list[str]], tmp_path: Path
) -> None:
    _, county, _, city, ids = net
    secret = submit(county, draft(title="涉密事项", classification="秘密"))
    signoff(county, secret.id)
    deliver(county, city)
    for item_id in (ids[1], secret.id):
        adopt(city, item_id, "专报/3")
    issue = signoff_issue(city, "专报/3")
    assert markings(issue, 7) == ["000007", "秘密★1年", "特急"]
    text = to_markdown(issue, "大同市", copy=7)
    assert text.splitlines()[:3] == ["000007  ", "秘密★1年  ", "特急  "]
    assert "# 专报" in text and "2026年第3期（总第1期）" in text
    path = to_docx(issue, "大同市", tmp_path / "专报.docx", copy=12)
    paragraphs = [p.text for p in docx.Document(str(path)).paragraphs]
    assert paragraphs[:6] == [
        "000012",
        "秘密★1年",
        "特急",
        "专报",
        "2026年第3期（总第1期）",
        "大同市\t2026年11月21日",  # the office left, the date right (a right tab stop)
    ]
    assert "1. 平城区欠薪" in paragraphs and "2. 涉密事项" in paragraphs
    with pytest.raises(ValueError, match="不在本期印数"):
        to_markdown(issue, "大同市", copy=31)
    # a routine, internal issue prints only what applies
    adopt(city, ids[0], "参阅/1")
    plain = signoff_issue(city, "参阅/1")
    assert markings(plain, 1) == ["000001", "内部"]


def test_an_issue_goes_sideways_and_down_as_its_publication_says() -> None:
    """参阅 (publications.toml: to = parent, siblings, all:county) reaches the province, the
    sibling city and every county of the city — not only the units whose items are in it;
    每日要情 (the default) goes up only; an office's own publication names its own list."""
    from tests.schema.test_bulletin import UNITS, carry, desks

    taiyuan = Unit("140100", "太原市人民政府办公室", Tier.CITY, "140000", short="太原市")
    province = Unit("140000", "山西省人民政府办公厅", Tier.PROVINCE, "", short="山西省")
    _, city, d = desks()
    from schema.network import add_units

    add_units(city.store, [province, taiyuan])
    item = submit(d["140212"], draft(title="新荣区推广煤改电经验"))
    signoff(d["140212"], item.id)
    carry(d["140212"], city)
    adopt(city, item.id, "参阅")
    signoff_issue(city, "参阅")
    (record,) = [q for q in outbox.pending(city.store) if q.record.kind == "issue"]
    counties = {u.id for u in UNITS if u.tier is Tier.COUNTY}
    assert set(record.recipients) == {"140000", "140100", *counties}
    carry(city, d["140213"])  # 平城区 had no item in it and still has the issue
    held = [r for r in pubs.listing(d["140213"].store) if r["state"] == pubs.RECEIVED]
    assert [r["publication"] for r in held] == ["参阅"]
    adopt(city, submit_and_send(d["140213"], city), "每日要情")
    signoff_issue(city, "每日要情")
    daily = [q for q in outbox.pending(city.store) if q.record.id.startswith("issue:140200:每日")]
    assert set(daily[0].recipients) == {"140000", "140213"}  # up, and its source
    pubs.add_publication(city.store, "经验交流", 20, ("下级", "同级", "所辖乡镇"))
    assert pubs.distribution_of(city.store, "经验交流") == ("below", "siblings", "all:township")
    with pytest.raises(ValidationError, match="无效"):
        pubs.add_publication(city.store, "内部通讯", 20, ("everyone",))
    assert pubs.send_to(city.store, "140200", "140000", ("below",)) == {
        "140212",
        "140213",
        "140200-fgw",
        "140200-dtd",
    }


def submit_and_send(county: Desk, city: Desk) -> str:
    from tests.schema.test_bulletin import carry

    item = submit(county, draft(title="平城区推进项目审批"))
    signoff(county, item.id)
    carry(county, city)
    return item.id
