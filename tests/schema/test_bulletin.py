"""Bulletins (schema/bulletin.py): a city's November read from its store under 大同市's rules,
with totals worked out by hand, shortfalls and coverage gaps."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import docx
import pytest

from schema import bulletin, outbox
from schema import request as requests
from schema.desk import (
    Desk,
    adopt,
    compose_request,
    instruct,
    mark_unit,
    remove_from_issue,
    signoff,
    signoff_issue,
    signoff_request,
    submit,
)
from schema.emergency import MarkKind
from schema.inbound import apply
from schema.network import add_units
from schema.record import Unit
from schema.scoring import ledger
from schema.store import Store
from schema.vocabulary import Level, Role, Tier
from tests.conftest import CITY, Ticking, draft

XR = Unit("140212", "新荣区人民政府办公室", Tier.COUNTY, "140200", short="新荣区")
PC = Unit("140213", "平城区人民政府办公室", Tier.COUNTY, "140200", short="平城区")
FGW = Unit("140200-fgw", "大同市发展和改革委员会", Tier.DEPARTMENT, "140200", short="市发改委")
TOWN = Unit("140212100", "新荣镇", Tier.TOWNSHIP, "140212")
RESIDENT = Unit("140200-dtd", "某驻地单位", Tier.DEPARTMENT, "140200", kind="驻地单位")
UNITS = [CITY, XR, PC, FGW, TOWN, RESIDENT]
NOV = datetime.fromisoformat("2026-11-03T09:00:00+08:00")


def desks() -> tuple[Ticking, Desk, dict[str, Desk]]:
    clock = Ticking(NOV)
    made = {}
    for unit in UNITS:
        desk = Desk(Store.memory(), unit, f"编辑{unit.id}", frozenset(Role), clock)
        add_units(desk.store, UNITS)
        made[unit.id] = desk
    return clock, made["140200"], made


def carry(source: Desk, target: Desk) -> None:
    for q in outbox.pending(source.store):
        if target.node.id in q.recipients:
            apply(target.store, q.record, target.node.id, target.clock)


def send(desk: Desk, city: Desk, title: str) -> str:
    item = submit(desk, draft(title=title))
    signoff(desk, item.id)
    carry(desk, city)
    return item.id


@pytest.fixture
def november() -> tuple[Ticking, Desk]:
    return november_city()


def november_city() -> tuple[Ticking, Desk]:
    """A city's November: adoptions, an instruction, a missed request, a late emergency (also
    the bulletin that ``make preview`` and the rendering tests print)."""
    clock, city, d = desks()
    # 新荣区 sends three items: one in 每日要情, one in 专报 (then instructed by the mayor),
    # one placed in 每日要情 and taken out again
    a = send(d["140212"], city, "新荣区煤改电运行平稳")
    b = send(d["140212"], city, "新荣区追回欠薪")
    c = send(d["140212"], city, "新荣区秸秆禁烧")
    adopt(city, a, "每日要情/1")
    adopt(city, c, "每日要情/1")
    remove_from_issue(city, "每日要情/1", c)
    signoff_issue(city, "每日要情/1")
    adopt(city, b, "专报/1")
    signoff_issue(city, "专报/1")
    instruct(city, b, "市长张某某", Level.CITY, "很好，请市人社局推广。")
    # 市发改委 sends one item, not adopted; 平城区 and the township send nothing
    send(d["140200-fgw"], city, "市发改委推进项目审批")
    # a topic request 平城区 misses; 新荣区 reported an emergency late
    request = compose_request(
        city,
        requests.parse_request(
            {
                "topic": "冬季供暖",
                "guidance": "请报送。",
                "targets": ["all:county:140200"],
                "deadline": "2026-11-10T18:00:00+08:00",
            }
        ),
    )
    signoff_request(city, request.id)
    for county in ("140212", "140213"):
        carry(city, d[county])
    requests.zero_report(d["140212"].store, "140212", request.id, "", clock())
    carry(d["140212"], city)
    mark_unit(city, "140212", MarkKind.LATE, a, "书面报告迟了40分钟")
    clock.now = datetime.fromisoformat("2026-11-30T20:00:00+08:00")
    return clock, city


def test_a_month_s_bulletin_with_hand_computed_totals(november: tuple[Ticking, Desk]) -> None:
    clock, city = november
    rules = bulletin.load_rules("datong-city")
    made = bulletin.compute(city.store, "140200", "2026-11", clock(), rules)
    rows = {r.unit: r for r in made.rows}
    # 新荣区: 每日要情 3 + 专报 10 + 市领导在《专报》上批示 40 − 迟报 10 = 43
    #   (the item taken out of 每日要情 before sign-off never scored)
    assert rows["140212"].total.score == 43
    assert rows["140212"].adopted == {"市级": 2} and rows["140212"].instructions == 1
    assert rows["140212"].emergencies == {"迟报": 1}
    # 录用率: 2 of the 3 items sent were adopted; 市发改委 1 sent, none; 平城区 sent none
    assert (rows["140212"].adopted_items, rows["140212"].rate_text) == (2, "66.7%")
    assert rows["140200-fgw"].rate_text == "0.0%" and rows["140213"].rate_text == "—"
    # 平城区: the missed request −10
    assert rows["140213"].total.score == -10 and rows["140213"].missed_requests == 1
    # quotas per month: county 15, department 8, township 8
    assert (rows["140212"].total.submitted, rows["140212"].total.shortfall) == (3, 12)
    assert rows["140213"].total.shortfall == 15
    assert rows["140200-fgw"].total.shortfall == 7
    assert rows["140212100"].total.shortfall == 8
    assert rows["140200-dtd"].total.shortfall == 5  # resident units: 5 a month
    assert [r.unit for r in made.rows][:1] == ["140212"]  # ranked by score
    # coverage: every unit below the city that sent nothing, township included
    assert made.silent == ("某驻地单位（140200-dtd）", "新荣镇（140212100）", "平城区（140213）")
    text = bulletin.to_markdown(made)
    assert "| 1 | 新荣区 | 43 |" in text
    assert "| 新荣区 | 0 | 0 | 2 | 0 | 1 | 3 | 66.7% |" in text  # 采用与批示, 报送, 录用率
    assert "平城区：逾期 0 次，未报 1 次" in text
    assert "新荣区：迟报 1 次" in text
    assert "市发改委：应报 8 条，实报 1 条，差 7 条" in text
    assert "某驻地单位（140200-dtd）、新荣镇（140212100）、平城区（140213）" in text


def test_an_adoption_undone_later_is_reversed_not_erased(
    november: tuple[Ticking, Desk], tmp_path: Path
) -> None:
    clock, city = november
    rules = bulletin.load_rules("datong-city")
    before = bulletin.compute(city.store, "140200", "2026-11", clock(), rules)
    kept = len(city.store.query("SELECT id FROM score_event"))
    # the same month read again adds nothing
    again = bulletin.compute(city.store, "140200", "2026-11", clock(), rules)
    assert again.rows == before.rows
    assert len(city.store.query("SELECT id FROM score_event")) == kept
    # in December the city withdraws the 专报 adoption: an undo row, November stands
    clock.now = datetime.fromisoformat("2026-12-02T09:00:00+08:00")
    city.store.db.execute("DELETE FROM issue_item WHERE issue_id = '专报/2026/1'")
    december = bulletin.compute(city.store, "140200", "2026-12", clock(), rules)
    assert {r.unit: r.total.score for r in december.rows}["140212"] == -10
    assert city.store.query("SELECT kind FROM score_event WHERE kind = 'undo'") == [
        {"kind": "undo"}
    ]
    nov = bulletin.compute(city.store, "140200", "2026-11", clock(), rules)
    assert {r.unit: r.total.score for r in nov.rows}["140212"] == 43
    path = bulletin.to_docx(nov, tmp_path / "通报.docx")
    paragraphs = [p.text for p in docx.Document(str(path)).paragraphs]
    assert paragraphs[0] == "大同市人民政府办公室"  # the 发文机关标志
    assert "关于2026年11月份全市政务信息工作情况的通报" in paragraphs


def test_a_bulletin_as_json_keeps_its_points(november: tuple[Ticking, Desk]) -> None:
    """``xinbao bulletin --json``: exact points (Fractions) become numbers, never a crash."""
    import json
    from fractions import Fraction

    from schema.commandline import to_jsonable

    clock, city = november
    made = bulletin.compute(
        city.store, "140200", "2026-11", clock(), bulletin.load_rules("datong-city")
    )
    data = json.loads(json.dumps(to_jsonable(made), ensure_ascii=False))
    rows = {r["unit"]: r for r in data["rows"]}
    assert rows["140212"]["total"]["score"] == 43
    assert to_jsonable(Fraction(1, 3)) == 0.333333 and to_jsonable(Fraction(6, 2)) == 3


def test_the_bulletin_is_a_tongbao_on_the_standard_page(
    november: tuple[Ticking, Desk], tmp_path: Path
) -> None:
    """A real 通报: 发文机关标志, 发文字号 numbered per year (the same number again for the same
    period), the title, 主送, bordered tables, 落款 and 成文日期 in Chinese, the 版记."""
    from datetime import date

    from docx.oxml.ns import qn

    clock, city = november
    made = bulletin.compute(
        city.store, "140200", "2026-11", clock(), bulletin.load_rules("datong-city")
    )
    assert made.period_label == "2026年11月"
    number = bulletin.document_number(city.store, made, 2026)
    assert number == "同政办函〔2026〕1号"
    assert bulletin.document_number(city.store, made, 2026) == number  # exported again
    october = bulletin.compute(
        city.store, "140200", "2026-10", clock(), bulletin.load_rules("datong-city")
    )
    assert bulletin.document_number(city.store, october, 2026) == "同政办函〔2026〕2号"
    path = bulletin.to_docx(made, tmp_path / "通报.docx", number=number, issued=date(2026, 12, 1))
    doc = docx.Document(str(path))
    texts = [p.text for p in doc.paragraphs if p.text.strip()]
    assert texts[:4] == [
        "大同市人民政府办公室",
        "同政办函〔2026〕1号",
        "关于2026年11月份全市政务信息工作情况的通报",
        "各县（区）人民政府办公室，市直各部门：",
    ]
    masthead = doc.paragraphs[0].runs[0]
    assert str(masthead.font.color.rgb) == "FF0000"
    assert "一、总体情况" in texts and "四、下一步要求" in texts
    assert any("平城区逾期0次、未报1次" in t for t in texts)  # who fell short, by name
    assert texts.index("大同市人民政府办公室", 1) < texts.index("2026年12月1日")  # 落款, date
    ranking, adoption, colophon = doc.tables
    assert [row.cells[0].text for row in colophon.rows] == [  # the 版记
        "送：市委、市政府主要领导，分管副市长。",  # [bulletin] read_by: 送阅
        "抄送：市委办公室，市人大常委会办公室，市政协办公室。",
        "大同市人民政府办公室\t2026年12月1日印发",
    ]
    assert [c.text for c in ranking.rows[0].cells] == [
        "名次",
        "单位",
        "得分",
        "应报",
        "实报",
        "采用",
        "录用率",
    ]
    # 新荣区: 3 items sent, 2 adopted (the one taken out of 每日要情 never was)
    assert [c.text for c in ranking.rows[1].cells] == ["1", "新荣区", "43", "15", "3", "2", "66.7%"]
    assert adoption.rows[0].cells[0].text == "单位" and len(adoption.rows) == len(made.rows) + 1
    for table in doc.tables:
        assert table._tbl.tblPr.find(qn("w:tblBorders")) is not None  # visible borders
    assert "2026-11" not in "".join(texts)  # periods in Chinese everywhere


def test_the_bulletin_s_tables_as_a_spreadsheet(
    november: tuple[Ticking, Desk], tmp_path: Path
) -> None:
    from openpyxl import load_workbook

    clock, city = november
    made = bulletin.compute(
        city.store, "140200", "2026-11", clock(), bulletin.load_rules("datong-city")
    )
    book = load_workbook(bulletin.to_xlsx(made, tmp_path / "通报.xlsx"))
    assert book.sheetnames == ["得分排名表", "采用与批示情况表"]
    ranking = book["得分排名表"]
    assert ranking["A1"].value == "关于2026年11月份全市政务信息工作情况的通报：得分排名表"
    assert [c.value for c in ranking[2]] == [
        "名次",
        "单位",
        "得分",
        "应报",
        "实报",
        "采用",
        "录用率",
    ]
    assert [c.value for c in ranking[3]][:6] == [1, "新荣区", 43, 15, 3, 2]  # numbers stay numbers
    rate = ranking[3][6]
    assert rate.value == pytest.approx(2 / 3, abs=0.001) and rate.number_format == "0.0%"
    adoption = book["采用与批示情况表"]
    assert [c.value for c in adoption[2]][-1] == "批示"
    assert adoption.max_row == len(made.rows) + 2


def test_a_long_bulletin_puts_its_tables_in_attachments(
    november: tuple[Ticking, Desk], tmp_path: Path
) -> None:
    """More units than fit the body: the tables go after 落款 as 附件1 and 附件2, each on a new
    page under its own title, and the body names them."""
    from dataclasses import replace

    clock, city = november
    made = bulletin.compute(
        city.store, "140200", "2026-11", clock(), bulletin.load_rules("datong-city")
    )
    many = replace(made, rows=made.rows * 4)  # 20 rows
    assert len(many.rows) > bulletin.ATTACH_ROWS
    doc = docx.Document(str(bulletin.to_docx(many, tmp_path / "长.docx")))
    texts = [p.text for p in doc.paragraphs if p.text.strip()]
    assert "附件：1．得分排名表" in texts
    assert texts.index("附件1") < texts.index("附件2")
    assert texts.index("附件：1．得分排名表") < texts.index("附件1")
    breaks = [p for p in doc.paragraphs if 'w:type="page"' in p._p.xml]
    assert len(breaks) == 2  # each attachment starts a page
    assert [len(t.rows) for t in doc.tables] == [21, 21, 3]  # and the 版记


def test_a_concealed_emergency_is_scored_as_瞒报(november: tuple[Ticking, Desk]) -> None:
    """A 瞒报 mark is its own penalty in the bulletin (大同 −30), not a 漏报 (−20)."""
    clock, city = november
    item = city.store.one("SELECT item_id FROM edge WHERE from_unit = '140200-fgw'")
    assert item is not None
    mark_unit(city, "140200-fgw", MarkKind.CONCEALED, item["item_id"], "隐瞒伤亡人数")
    made = bulletin.compute(
        city.store, "140200", "2026-11", clock(), bulletin.load_rules("datong-city")
    )
    row = {r.unit: r for r in made.rows}["140200-fgw"]
    assert row.emergencies == {"瞒报": 1}
    assert row.total.score == -30  # not the −20 of a 漏报
    rows = ledger(bulletin.kept_events(city.store), bulletin.load_rules("datong-city"))
    assert [e.explanation for e in rows if e.unit == "140200-fgw" and e.points == -30] == [
        "紧急信息瞒报 -30分"
    ]
