"""Scoring (schema/scoring.py): each shipped rule set against a hand-computed event log.

Every expected number below is written out by hand, with the arithmetic in a comment, from the
rule files in fixtures/scoring; none is computed by calling the engine.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schema.clock import CHINA
from schema.error import ValidationError
from schema.scoring import (
    Entry,
    Event,
    EventKind,
    Level,
    Period,
    ScoringRules,
    Total,
    UnitType,
    format_points,
    ledger,
    shipped_rule_sets,
    totals,
)

K = EventKind
L = Level
F = Fraction


def at(month: int, day: int, hour: int = 10, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, tzinfo=CHINA)


def ev(id: str, unit: str, kind: EventKind, when: datetime, **kw: object) -> Event:
    return Event(id=id, unit=unit, kind=kind, at=when, **kw)  # type: ignore[arg-type]


def adopted(
    id: str, unit: str, when: datetime, level: Level, publication: str, item: str, **kw: object
) -> Event:
    return ev(id, unit, K.ADOPTED, when, level=level, publication=publication, item=item, **kw)


def instructed(id: str, unit: str, when: datetime, level: Level, item: str, **kw: object) -> Event:
    return ev(id, unit, K.INSTRUCTION, when, level=level, item=item, **kw)


def submissions(unit: str, month: int, n: int, year: int = 2026) -> list[Event]:
    """``n`` submitted items of ``unit`` in ``month``, one a day from the 1st."""
    return [
        ev(f"sub-{unit}-{year}{month:02d}-{d}", unit, K.SUBMITTED, at(month, d, 9, year))
        for d in range(1, n + 1)
    ]


def rules(name: str) -> ScoringRules:
    return ScoringRules.load(shipped_rule_sets()[name])


def points(rows: list[Entry]) -> dict[tuple[str, str], Fraction]:
    """(event, unit) → points of the ledger rows."""
    out: dict[tuple[str, str], Fraction] = {}
    for row in rows:
        assert (row.event, row.unit) not in out, "one row per (event, unit)"
        out[(row.event, row.unit)] = row.points
    return out


def of(result: dict[str, Total], field: str) -> dict[str, object]:
    return {unit: getattr(total, field) for unit, total in result.items()}


def period_totals(
    rows: list[Entry], events: list[Event], r: ScoringRules, text: str, types: dict[str, str]
) -> dict[str, Total]:
    p = Period.parse(text)
    return totals(rows, events, r, p.start, p.end, types)


# -- the shipped rule sets -----------------------------------------------------------------------


def test_the_three_shipped_rule_sets_load_and_differ() -> None:
    sets = shipped_rule_sets()
    assert sorted(sets) == ["county-office", "datong-city", "shanxi-province"]
    datong, shanxi, county = (rules(n) for n in ("datong-city", "shanxi-province", "county-office"))
    assert datong.office == "大同市人民政府办公室"
    assert datong.adoption[(L.CENTRAL, "内参")] == 80
    assert shanxi.adoption[(L.CENTRAL, "专报")] == 40 and county.adoption[(L.CENTRAL, "专报")] == 50
    assert (L.CITY, "每日要情") not in shanxi.adoption  # the province scores no city adoption
    assert L.COUNTY not in shanxi.instruction and shanxi.instruction[L.CENTRAL] == 20
    assert county.fixed[K.REQUEST_LATE] == -5 and datong.fixed[K.REQUEST_LATE] == -10
    assert shanxi.fixed[K.REQUEST_ANSWERED_ADOPTED] == 10
    assert UnitType.COUNTY not in county.quota and county.quota[UnitType.TOWNSHIP] == 8
    assert shanxi.quota[UnitType.COUNTY] == 20 and datong.quota[UnitType.COUNTY] == 15
    assert shanxi.switches.forward_multiplier_province == 1
    assert county.switches.monthly_base == 10 and county.switches.annual_cap == 300
    assert not shanxi.switches.publications_add_up and not shanxi.switches.joint_split_equally
    assert shanxi.switches.missed_requests_annual_zero == 0


# 大同市: several publications add up; instructions at one level once; joint reports split
# equally; forwarded ×2 (province) ×5 (central); no base points, no cap; 2 missed → year zero;
# late request −10; quotas county 15, department 8, resident 5, township 8 a month.
XR, YG, FGW, GDGS = "140212", "140221", "140200-fgw", "140200-gdgs"
DATONG_TYPES = {XR: "county", YG: "county", FGW: "department", GDGS: "resident"}
DATONG_LOG = [
    adopted("a01", XR, at(11, 2), L.CITY, "每日要情", "A"),
    adopted("a02", XR, at(11, 3), L.CITY, "专报", "A"),
    adopted("a03", XR, at(11, 5), L.PROVINCE, "专报", "A", forwarded=True),
    instructed("a04", XR, at(11, 6), L.CITY, "A"),
    instructed("a05", XR, at(11, 7), L.CITY, "A"),
    instructed("a06", XR, at(11, 8), L.PROVINCE, "A"),
    adopted("a07", YG, at(11, 9), L.CENTRAL, "送阅件", "B", forwarded=True),
    adopted("a08", XR, at(11, 10), L.CITY, "专报", "C", joint=(YG, FGW)),
    ev("a09", YG, K.REQUEST_LATE, at(11, 11)),
    ev("a10", FGW, K.REQUEST_ANSWERED_ADOPTED, at(11, 12)),
    ev("a11", FGW, K.EMERGENCY_LATE, at(11, 13)),
    ev("a12", YG, K.REQUEST_MISSED, at(11, 14)),
    ev("a13", YG, K.FALSE_ITEM, at(11, 15)),
    adopted("a14", XR, at(11, 16), L.CITY, "特刊", "D"),
    ev("a15", "", K.UNDO, at(11, 20), reverses="a14"),
    ev("a16", YG, K.REQUEST_MISSED, at(3, 10)),
    *submissions(XR, 11, 12),
    *submissions(YG, 11, 15),
    *submissions(FGW, 11, 5),
]


def test_datong_city_rule_set_against_a_hand_computed_log() -> None:
    r = rules("datong-city")
    rows = ledger(DATONG_LOG, r)
    third = F(10, 3)
    assert points(rows) == {
        ("a16", YG): -10,  # March: 漏报约稿 −10 (rows come in time order)
        ("a01", XR): 3,  # 市级《每日要情》
        ("a02", XR): 10,  # 市级《专报》: publications add up
        ("a03", XR): 40,  # 省级《专报》 20 ×2 (forwarded)
        ("a04", XR): 30,  # 市级批示
        ("a05", XR): 0,  # a second 市级批示 on item A counts once
        ("a06", XR): 40,  # 省级批示
        ("a07", YG): 250,  # 中央《送阅件》 50 ×5 (forwarded)
        ("a08", XR): third,  # 市级《专报》 10 ÷3 (joint)
        ("a08", YG): third,
        ("a08", FGW): third,
        ("a09", YG): -10,  # 迟报约稿
        ("a10", FGW): 5,  # 约稿被采用
        ("a11", FGW): -10,  # 紧急信息迟报
        ("a12", YG): -10,  # 漏报约稿
        ("a13", YG): -30,  # 虚假信息
        ("a14", XR): 20,  # 市级《特刊》 …
        ("a15", XR): -20,  # … withdrawn
    }
    text = {(row.event, row.unit): row.explanation for row in rows}
    assert text[("a03", XR)] == "省级《专报》采用 20分 ×2（经转报）= 40分"
    assert text[("a08", YG)] == "市级《专报》采用 10分 ÷3（合报平均分配）= 3.33分"
    assert text[("a05", XR)] == "市级领导批示 30分；同级批示只计一次（已按 30分 计），本条不计分"
    assert text[("a15", XR)] == "撤销a14：市级《特刊》采用 20分"
    assert text[("a13", YG)] == "报送虚假信息 -30分"

    november = period_totals(rows, DATONG_LOG, r, "2026-11", DATONG_TYPES)
    assert of(november, "points") == {
        XR: F(379, 3),  # 3 + 10 + 40 + 30 + 0 + 40 + 10/3 + 20 − 20 = 123 + 10/3 = 379/3
        YG: F(610, 3),  # 250 + 10/3 − 10 − 10 − 30 = 200 + 10/3 = 610/3 (March is outside)
        FGW: F(-5, 3),  # 10/3 + 5 − 10 = −5/3
        GDGS: 0,  # no events
    }
    assert of(november, "score") == of(november, "points")  # monthly_base 0, no cap
    # quotas: county 15 (新荣 12 → 3 short, 阳高 15 → 0), department 8 (发改委 5 → 3),
    # resident 5 (供电公司 0 → 5)
    assert of(november, "submitted") == {XR: 12, YG: 15, FGW: 5, GDGS: 0}
    assert of(november, "shortfall") == {XR: 3, YG: 0, FGW: 3, GDGS: 5}
    # 阳高 has missed two requests this year (March, November): flagged, not zeroed in a month
    assert of(november, "missed_requests") == {XR: 0, YG: 2, FGW: 0, GDGS: 0}
    assert of(november, "annual_zero") == {XR: False, YG: True, FGW: False, GDGS: False}
    assert (
        november[XR].explanation
        == "得分 126.33：积分 126.33；报送信息 12 条，任务 15 条，1 个月未完成，共缺 3 条"
    )

    year = period_totals(rows, DATONG_LOG, r, "2026", DATONG_TYPES)
    assert of(year, "points") == {
        XR: F(379, 3),  # all in November
        YG: F(580, 3),  # 610/3 − 10 (March 漏报) = 580/3
        FGW: F(-5, 3),
        GDGS: 0,
    }
    # 阳高: two missed requests in 2026 (missed_requests_annual_zero = 2) → the year scores 0
    assert of(year, "score") == {XR: F(379, 3), YG: 0, FGW: F(-5, 3), GDGS: 0}
    assert year[YG].explanation.endswith(
        "全年漏报约稿 2 次（2 次及以上），年度考核计零分；"
        "报送信息 15 条，任务 180 条，11 个月未完成，共缺 165 条"
    )
    # per month: 新荣 11 empty months × 15 + November 3 = 168; 阳高 11 × 15 = 165;
    # 发改委 11 × 8 + 3 = 91; 供电公司 12 × 5 = 60
    assert of(year, "shortfall") == {XR: 168, YG: 165, FGW: 91, GDGS: 60}
    assert of(year, "required") == {XR: 180, YG: 180, FGW: 96, GDGS: 60}


# 山西省: only the highest publication per item and level; instructions at one level once; the
# lead unit of a joint report scores alone; forwarded ×1 (province) ×5 (central); no base, no cap,
# no zero rule; answered request +10; emergency missed −30; quotas county 20, department 8.
DT, TY, SFGW, SNYT = "140200", "140100", "140000-fgw", "140000-nyt"
SHANXI_TYPES = {DT: "", TY: "", SFGW: "department", SNYT: "委办局"}
SHANXI_LOG = [
    adopted("s01", DT, at(10, 9), L.PROVINCE, "每日要情", "P"),
    adopted("s02", DT, at(10, 10), L.PROVINCE, "专报", "P"),
    adopted("s03", DT, at(10, 20), L.CENTRAL, "专报", "P", forwarded=True),
    adopted("s04", DT, at(10, 21), L.CENTRAL, "每日要情", "P", forwarded=True),
    instructed("s05", DT, at(11, 2), L.PROVINCE, "P"),
    instructed("s06", DT, at(11, 3), L.PROVINCE, "P"),
    instructed("s07", DT, at(11, 4), L.CENTRAL, "P"),
    adopted("s08", TY, at(11, 5), L.PROVINCE, "参阅", "Q", joint=(TY, DT)),
    instructed("s09", TY, at(11, 6), L.CITY, "Q", joint=(TY, DT)),
    instructed("s10", TY, at(11, 7), L.COUNTY, "Q"),
    adopted("s11", TY, at(11, 8), L.CITY, "每日要情", "R"),
    ev("s12", TY, K.REQUEST_ANSWERED_ADOPTED, at(11, 9)),
    ev("s13", TY, K.REQUEST_MISSED, at(10, 15)),
    ev("s14", TY, K.REQUEST_MISSED, at(11, 16)),
    ev("s15", TY, K.EMERGENCY_MISSED, at(12, 1)),
    ev("s16", DT, K.REQUEST_LATE, at(12, 2)),
    adopted("s17", SFGW, at(12, 3), L.PROVINCE, "专报", "S"),
    adopted("s18", SFGW, at(12, 4), L.PROVINCE, "内参", "S"),
    ev("s19", "", K.UNDO, at(12, 5), reverses="s17"),
    adopted("s20", DT, at(12, 6), L.PROVINCE, "每日要情", "T", forwarded=True),
    *submissions(SFGW, 10, 8),
    *submissions(SFGW, 11, 6),
    *submissions(SFGW, 12, 9),
]


def test_shanxi_province_rule_set_against_a_hand_computed_log() -> None:
    r = rules("shanxi-province")
    rows = ledger(SHANXI_LOG, r)
    assert points(rows) == {
        ("s01", DT): 10,  # 省级《每日要情》 10
        ("s02", DT): 10,  # 省级《专报》 20: only the highest, 10 already counted → +10
        ("s13", TY): -10,  # 漏报约稿
        ("s03", DT): 200,  # 中央《专报》 40 ×5: another level, counts on its own
        ("s04", DT): 0,  # 中央《每日要情》 10 ×5 = 50 < 200 → nothing
        ("s05", DT): 10,  # 省级批示
        ("s06", DT): 0,  # a second 省级批示 counts once
        ("s07", DT): 20,  # 中央批示
        ("s08", TY): 30,  # 省级《参阅》: the lead scores alone …
        ("s08", DT): 0,  # … the partner of the joint report gets nothing
        ("s09", TY): 5,  # 市级批示, lead only
        ("s09", DT): 0,
        ("s10", TY): 0,  # no 县级批示 in the provincial rules
        ("s11", TY): 0,  # no 市级 adoption in the provincial rules
        ("s12", TY): 10,  # 约稿被采用 +10
        ("s14", TY): -10,  # 漏报约稿
        ("s15", TY): -30,  # 紧急信息漏报 −30
        ("s16", DT): -10,  # 迟报约稿
        ("s17", SFGW): 20,  # 省级《专报》 20
        ("s18", SFGW): 20,  # 省级《内参》 40, 20 already counted → +20
        ("s19", SFGW): 0,  # withdrawing the 专报 leaves the 内参: still 40
        ("s20", DT): 10,  # 省级《每日要情》 forwarded, ×1
    }
    text = {(row.event, row.unit): row.explanation for row in rows}
    assert text[("s02", DT)] == (
        "省级《专报》采用 20分；同一信息同级只计最高分，原按 10分 计，补计 10分"
    )
    assert text[("s04", DT)] == (
        "中央《每日要情》采用 10分 ×5（经转报）= 50分；"
        "同一信息同级只计最高分（已按 200分 计），本条不计分"
    )
    assert text[("s08", DT)] == "省级《参阅》采用：合报信息由牵头单位 140100 计分，本单位不计分"
    assert text[("s11", TY)] == "市级《每日要情》采用：本办法未设分值，不计分"
    assert text[("s19", SFGW)] == "撤销s17：省级《专报》采用 20分；同一信息同级现按 40分 计"
    assert text[("s20", DT)] == "省级《每日要情》采用 10分（经转报）"

    q4 = period_totals(rows, SHANXI_LOG, r, "2026-Q4", SHANXI_TYPES)
    assert of(q4, "score") == {
        DT: 250,  # 10 + 10 + 200 + 0 + 10 + 0 + 20 + 0 + 0 − 10 + 10 = 250
        TY: -5,  # 30 + 5 + 0 + 0 + 10 − 10 − 10 − 30 = −5
        SFGW: 40,  # 20 + 20 + 0 = 40
        SNYT: 0,
    }
    # department 8 a month: 发改委 Oct 8, Nov 6, Dec 9 = 23 of 24, but November is 2 short
    # (a good December does not make up for it); 农业农村厅 nothing: 3 × 8 = 24
    assert of(q4, "submitted") == {DT: 0, TY: 0, SFGW: 23, SNYT: 0}
    assert of(q4, "required") == {DT: 0, TY: 0, SFGW: 24, SNYT: 24}
    assert of(q4, "shortfall") == {DT: 0, TY: 0, SFGW: 2, SNYT: 24}
    assert of(q4, "months_short") == {DT: 0, TY: 0, SFGW: 1, SNYT: 3}
    # 太原 missed two requests, but this office has no zero rule (missed_requests_annual_zero = 0)
    assert q4[TY].missed_requests == 2 and not q4[TY].annual_zero

    december = period_totals(rows, SHANXI_LOG, r, "2026-12", SHANXI_TYPES)
    # 大同 −10 (s16) + 10 (s20) = 0; 太原 −30 (s15); 发改委 20 + 20 + 0 = 40
    assert of(december, "score") == {DT: 0, TY: -30, SFGW: 40, SNYT: 0}
    year = period_totals(rows, SHANXI_LOG, r, "2026", SHANXI_TYPES)
    assert year[TY].score == -5 and not year[TY].annual_zero  # no zeroing, no cap


# 新荣区: publications add up; every instruction counts; joint split; forwarded ×2 (province)
# ×5 (central), plain at city level; base 10 a month; annual cap 300; 2 missed → year zero;
# late request −5; quotas township 8, department 8, resident 5 (none for counties).
T1, T2, T3, D1, R1 = "140212100", "140212202", "140212203", "140212-nyj", "140212-gdgs"
COUNTY_TYPES = {T1: "township", T2: "乡镇", T3: "township", D1: "department", R1: "resident"}
COUNTY_LOG = [
    adopted("c01", T1, at(11, 2), L.CITY, "每日要情", "X", forwarded=True),
    adopted("c02", T1, at(11, 3), L.PROVINCE, "每日要情", "X", forwarded=True),
    adopted("c03", T1, at(11, 4), L.PROVINCE, "专报", "X", forwarded=True),
    instructed("c04", T1, at(11, 5), L.COUNTY, "X"),
    instructed("c05", T1, at(11, 6), L.COUNTY, "X"),
    instructed("c06", T1, at(11, 7), L.CITY, "X"),
    adopted("c07", T2, at(11, 8), L.CENTRAL, "专报", "Y", forwarded=True),
    instructed("c08", T2, at(11, 9), L.CENTRAL, "Y"),
    adopted("c09", T2, at(11, 10), L.CITY, "专报", "Z", joint=(T3,)),
    ev("c10", T3, K.REQUEST_LATE, at(11, 11)),
    ev("c11", T3, K.REQUEST_MISSED, at(11, 12)),
    ev("c12", D1, K.EMERGENCY_MISSED, at(11, 13)),
    ev("c13", D1, K.REQUEST_ANSWERED_ADOPTED, at(11, 14)),
    adopted("c14", D1, at(11, 15), L.CITY, "特刊", "W"),
    ev("c15", "", K.UNDO, at(12, 1), reverses="c14"),
    ev("c16", T3, K.REQUEST_MISSED, at(1, 20)),
    adopted("c17", T3, at(11, 17), L.CITY, "每日要情", "V"),
    *submissions(T1, 11, 10),
    *submissions(T2, 11, 3),
    *submissions(T3, 11, 8),
    *submissions(D1, 11, 8),
]


def test_county_office_rule_set_against_a_hand_computed_log() -> None:
    r = rules("county-office")
    rows = ledger(COUNTY_LOG, r)
    assert points(rows) == {
        ("c16", T3): -10,  # January: 漏报约稿 −10
        ("c01", T1): 3,  # 市级《每日要情》 3, forwarded but no city multiplier
        ("c02", T1): 20,  # 省级《每日要情》 10 ×2
        ("c03", T1): 40,  # 省级《专报》 20 ×2, adds up
        ("c04", T1): 10,  # 县级批示
        ("c05", T1): 10,  # another 县级批示 counts too
        ("c06", T1): 30,  # 市级批示
        ("c07", T2): 250,  # 中央《专报》 50 ×5
        ("c08", T2): 50,  # 中央批示
        ("c09", T2): 5,  # 市级《专报》 10 ÷2 (joint)
        ("c09", T3): 5,
        ("c10", T3): -5,  # 迟报约稿 −5 here
        ("c11", T3): -10,  # 漏报约稿
        ("c12", D1): -20,  # 紧急信息漏报
        ("c13", D1): 5,  # 约稿被采用
        ("c14", D1): 20,  # 市级《特刊》
        ("c17", T3): 3,  # 市级《每日要情》
        ("c15", D1): -20,  # the 特刊 withdrawn on 1 December
    }
    assert [row.explanation for row in rows if row.event == "c01"] == [
        "市级《每日要情》采用 3分（经转报）"
    ]

    november = period_totals(rows, COUNTY_LOG, r, "2026-11", COUNTY_TYPES)
    assert of(november, "points") == {
        T1: 113,  # 3 + 20 + 40 + 10 + 10 + 30 = 113
        T2: 305,  # 250 + 50 + 5 = 305
        T3: -7,  # 5 − 5 − 10 + 3 = −7
        D1: 5,  # −20 + 5 + 20 = 5 (the undo is dated December)
        R1: 0,
    }
    assert of(november, "score") == {
        T1: 123,  # 113 + 10 base
        T2: 315,  # 305 + 10: the annual cap does not apply to a month
        T3: 3,  # −7 + 10: two missed this year (Jan, Nov) flag the year, the month stays
        D1: 15,  # 5 + 10
        R1: 10,  # base only
    }
    assert of(november, "annual_zero") == {T1: False, T2: False, T3: True, D1: False, R1: False}
    # township 8: 新荣镇 10 → 0, 破鲁堡 3 → 5, 郭家窑 8 → 0; department 8: 8 → 0; resident 5: 0 → 5
    assert of(november, "shortfall") == {T1: 0, T2: 5, T3: 0, D1: 0, R1: 5}
    assert november[T3].explanation == (
        "得分 3：积分 -7 + 基础分 10分×1个月 = 3分；本年已漏报约稿 2 次（2 次及以上），"
        "年度考核将计零分；报送信息 8 条，任务 8 条"
    )

    december = period_totals(rows, COUNTY_LOG, r, "2026-12", COUNTY_TYPES)
    # every unit gets its 10 base points; 区农业农村局 −20 (c15) + 10 = −10
    assert of(december, "score") == {T1: 10, T2: 10, T3: 10, D1: -10, R1: 10}

    year = period_totals(rows, COUNTY_LOG, r, "2026", COUNTY_TYPES)
    assert of(year, "base") == {T1: 120, T2: 120, T3: 120, D1: 120, R1: 120}  # 10 × 12
    assert of(year, "score") == {
        T1: 233,  # 113 + 120 = 233
        T2: 300,  # 305 + 120 = 425 > annual cap 300 → 300
        T3: 0,  # −7 − 10 (Jan) + 120 = 103, but two missed requests zero the year
        D1: 105,  # 5 − 20 + 120 = 105
        R1: 120,  # base only
    }
    assert of(year, "capped") == {T1: False, T2: True, T3: False, D1: False, R1: False}
    assert year[T2].explanation == (
        "得分 300：积分 305 + 基础分 10分×12个月 = 425分；超过全年上限 300分，按 300分 计；"
        "报送信息 3 条，任务 96 条，12 个月未完成，共缺 93 条"
    )
    # townships: 11 empty months × 8 (+ 破鲁堡 November 5); department 11 × 8; resident 12 × 5
    assert of(year, "shortfall") == {T1: 88, T2: 93, T3: 88, D1: 88, R1: 60}


# -- each rule on its own ------------------------------------------------------------------------


def test_an_undo_appends_negating_rows_and_the_ledger_stays_append_only() -> None:
    r = rules("datong-city")
    log = [
        adopted("e1", XR, at(11, 2), L.PROVINCE, "专报", "A", forwarded=True, joint=(YG,)),
        adopted("e2", XR, at(11, 3), L.CITY, "专报", "A"),
        ev("e3", "", K.UNDO, at(12, 1), reverses="e1"),
    ]
    rows = ledger(log, r)
    # 20 ×2 ÷2 = 20 each; the undo takes 20 back from each, dated at the undo
    assert [(x.event, x.unit, x.points, x.kind, x.reverses) for x in rows] == [
        ("e1", XR, 20, K.ADOPTED, ""),
        ("e1", YG, 20, K.ADOPTED, ""),
        ("e2", XR, 10, K.ADOPTED, ""),
        ("e3", XR, -20, K.UNDO, "e1"),
        ("e3", YG, -20, K.UNDO, "e1"),
    ]
    assert rows[3].at == at(12, 1) and rows[3].level is L.PROVINCE and rows[3].item == "A"
    # the rows of a prefix of the log are a prefix of the rows, whatever order they come in
    assert ledger(list(reversed(log[:2])), r) == rows[:3]
    # November keeps the adoption; December carries the reversal
    nov = period_totals(rows, log, r, "2026-11", {})
    dec = period_totals(rows, log, r, "2026-12", {})
    assert of(nov, "points") == {XR: 30, YG: 20} and of(dec, "points") == {XR: -20, YG: -20}

    with pytest.raises(ValidationError, match="此前没有事件 e9") as caught:
        ledger([*log, ev("e4", "", K.UNDO, at(12, 2), reverses="e9")], r)
    assert caught.value.field == "reverses"
    with pytest.raises(ValidationError, match="事件 e1 已撤销"):
        ledger([*log, ev("e4", "", K.UNDO, at(12, 2), reverses="e1")], r)
    with pytest.raises(ValidationError, match="不能撤销撤销事件"):
        ledger([*log, ev("e4", "", K.UNDO, at(12, 2), reverses="e3")], r)
    with pytest.raises(ValidationError, match="此前没有事件 e2"):  # an undo before its event
        ledger([*log, ev("e0", "", K.UNDO, at(11, 1), reverses="e2")], r)
    with pytest.raises(ValidationError, match="编号 e2 重复"):
        ledger([*log, ev("e2", XR, K.FALSE_ITEM, at(12, 9))], r)


def test_instructions_at_one_level_count_once_where_the_rules_say_so() -> None:
    log = [
        instructed("i1", XR, at(11, 2), L.CITY, "A"),
        instructed("i2", XR, at(11, 3), L.CITY, "A"),
        instructed("i3", XR, at(11, 4), L.PROVINCE, "A"),
        instructed("i4", XR, at(11, 5), L.CITY, "B"),  # another item
    ]
    once = [x.points for x in ledger(log, rules("datong-city"))]
    every = [x.points for x in ledger(log, rules("county-office"))]
    assert once == [30, 0, 40, 30]  # 大同: the second 市级批示 on A counts once
    assert every == [30, 30, 40, 30]  # 新荣区: each counts
    # withdrawing the instruction that counted leaves the other one: nothing changes
    undo = ledger([*log, ev("i5", "", K.UNDO, at(11, 9), reverses="i1")], rules("datong-city"))
    assert [(x.event, x.points) for x in undo[-1:]] == [("i5", 0)]
    assert undo[-1].explanation == "撤销i1：市级领导批示 30分；同一信息同级现按 30分 计"


def test_only_the_highest_publication_per_item_and_level_or_all_of_them() -> None:
    log = [
        adopted("p1", DT, at(11, 2), L.PROVINCE, "每日要情", "P"),
        adopted("p2", DT, at(11, 3), L.PROVINCE, "内参", "P"),
        adopted("p3", DT, at(11, 4), L.PROVINCE, "专报", "P"),
        adopted("p4", DT, at(11, 5), L.CENTRAL, "每日要情", "P"),
        adopted("p5", DT, at(11, 6), L.PROVINCE, "每日要情", "Q"),
    ]
    highest = ledger(log, rules("shanxi-province"))
    add_up = ledger(log, rules("datong-city"))
    # 山西省: 10, then 内参 40 tops up 30, 专报 20 adds nothing; central and item Q stand alone
    assert [x.points for x in highest] == [10, 30, 0, 10, 10]  # 10 + 30 + 0 + 10 + 10 = 60
    # 大同市: 10 + 40 + 20 + 10 + 10 = 90
    assert [x.points for x in add_up] == [10, 40, 20, 10, 10]
    # withdrawing the 内参 falls back to the 专报: 40 → 20, a row of −20
    undo = ev("p6", "", K.UNDO, at(11, 9), reverses="p2")
    (last,) = ledger([*log, undo], rules("shanxi-province"))[-1:]
    assert last.points == -20 and last.explanation.endswith("同一信息同级现按 20分 计")
    # withdrawing the first 每日要情 instead changes nothing (the 内参 still counts)
    undo = ev("p6", "", K.UNDO, at(11, 9), reverses="p1")
    assert ledger([*log, undo], rules("shanxi-province"))[-1].points == 0
    # the same item credited to two units (e.g. both sources of a merge) is compared per unit
    both = [
        adopted("m1", DT, at(11, 2), L.PROVINCE, "专报", "M"),
        adopted("m2", TY, at(11, 3), L.PROVINCE, "每日要情", "M"),
    ]
    assert [x.points for x in ledger(both, rules("shanxi-province"))] == [20, 10]


def test_joint_reports_split_exactly_or_go_to_the_lead() -> None:
    log = [
        # the lead may be listed in ``joint`` too; it counts once
        adopted("j1", XR, at(11, 2), L.CITY, "专报", "C", joint=(XR, YG, FGW)),
        ev("j2", XR, K.REQUEST_ANSWERED_ADOPTED, at(11, 3), joint=(YG,)),
    ]
    split = ledger(log, rules("datong-city"))
    assert [(x.unit, x.points) for x in split] == [
        (XR, F(10, 3)),  # 10 ÷ 3, exactly
        (YG, F(10, 3)),
        (FGW, F(10, 3)),
        (XR, F(5, 2)),  # 5 ÷ 2
        (YG, F(5, 2)),
    ]
    assert sum(x.points for x in split[:3]) == 10  # nothing lost to rounding
    assert format_points(split[0].points) == "3.33" and format_points(split[3].points) == "2.5"
    lead = ledger(log, rules("shanxi-province"))
    # 山西省 has no 市级 adoption (0); an answered request +10 goes to the lead alone
    assert [(x.unit, x.points) for x in lead] == [(XR, 0), (YG, 0), (FGW, 0), (XR, 10), (YG, 0)]


def test_forward_multipliers_by_level() -> None:
    log = [
        adopted("f1", XR, at(11, 2), L.PROVINCE, "每日要情", "A", forwarded=True),
        adopted("f2", XR, at(11, 3), L.CENTRAL, "每日要情", "A", forwarded=True),
        adopted("f3", XR, at(11, 4), L.CITY, "每日要情", "A", forwarded=True),
        adopted("f4", XR, at(11, 5), L.PROVINCE, "每日要情", "B"),
        # the multiplier of the level named (a string is accepted)
        adopted("f5", XR, at(11, 6), L.CENTRAL, "每日要情", "C", forwarded="central"),
    ]
    # 大同市: province 10 ×2 = 20, central 10 ×5 = 50, city 3 (no multiplier), plain 10, 50
    assert [x.points for x in ledger(log, rules("datong-city"))] == [20, 50, 3, 10, 50]
    # 山西省: province ×1 = 10, central 10 ×5 = 50, no city adoption, 10, 50
    assert [x.points for x in ledger(log, rules("shanxi-province"))] == [10, 50, 0, 10, 50]
    with pytest.raises(ValidationError, match="只有信息被采用可标注经转报"):
        ev("f6", XR, K.INSTRUCTION, at(11, 7), level=L.PROVINCE, forwarded=True)


def test_the_annual_cap_applies_to_the_year_only() -> None:
    county = rules("county-office")
    log = [
        ev(f"k{n}", T1, K.ADOPTED, at(n, 3), item=f"K{n}", level=L.CENTRAL, publication="专报")
        for n in (3, 6, 10)
    ]
    rows = ledger(log, county)
    # 3 × 50 = 150 points + 10 × 12 base = 270: under the cap
    assert period_totals(rows, log, county, "2026", {T1: "township"})[T1].score == 270
    log.append(instructed("k12", T1, at(12, 1), L.CENTRAL, "K10"))
    rows = ledger(log, county)
    # 150 + 50 + 120 = 320 > 300 → 300
    year = period_totals(rows, log, county, "2026", {T1: "township"})[T1]
    assert (year.score, year.capped) == (300, True)
    # a quarter is never capped: 50 (Oct) + 50 (Dec) + 3 × 10 = 130; cap 0 means no cap
    assert period_totals(rows, log, county, "2026-Q4", {T1: "township"})[T1].score == 130
    uncapped = replace(county, switches=replace(county.switches, annual_cap=F(0)))
    assert period_totals(rows, log, uncapped, "2026", {T1: "township"})[T1].score == 320


def test_two_missed_requests_zero_the_year() -> None:
    r = rules("datong-city")
    good = adopted("g1", YG, at(2, 1), L.CENTRAL, "内参", "G")
    one = [good, ev("m1", YG, K.REQUEST_MISSED, at(4, 1))]
    year = period_totals(ledger(one, r), one, r, "2026", {YG: "county"})[YG]
    assert (year.missed_requests, year.annual_zero, year.score) == (1, False, 70)  # 80 − 10
    two = [*one, ev("m2", YG, K.REQUEST_MISSED, at(9, 1))]
    year = period_totals(ledger(two, r), two, r, "2026", {YG: "county"})[YG]
    assert (year.missed_requests, year.annual_zero, year.score) == (2, True, 0)  # 80 − 20 → 0
    assert year.points == 60
    # before the second miss the year was not lost: the first half counts one miss
    half = Period(at(1, 1, 0), at(7, 1, 0))
    h1 = totals(ledger(two, r), two, r, half.start, half.end, {YG: "county"})[YG]
    assert (h1.missed_requests, h1.annual_zero) == (1, False)
    # a miss withdrawn (the answer was found) no longer counts
    three = [*two, ev("m3", "", K.UNDO, at(10, 1), reverses="m2")]
    year = period_totals(ledger(three, r), three, r, "2026", {YG: "county"})[YG]
    assert (year.missed_requests, year.annual_zero, year.score) == (
        1,
        False,
        70,
    )  # 80 − 10 − 10 + 10
    # misses of another year do not count
    old = [ev("o1", YG, K.REQUEST_MISSED, at(12, 1, year=2025)), *one]
    year = period_totals(ledger(old, r), old, r, "2026", {YG: "county"})[YG]
    assert (year.missed_requests, year.annual_zero) == (1, False)
    # 山西省 has no such rule
    s = rules("shanxi-province")
    year = period_totals(ledger(two, s), two, s, "2026", {YG: ""})[YG]
    assert (year.annual_zero, year.score) == (False, 60)  # 80 − 10 − 10


def test_quota_shortfall_is_counted_month_by_month() -> None:
    r = rules("datong-city")
    log = [
        *submissions(XR, 10, 20),
        *submissions(XR, 11, 10),
        *submissions(XR, 12, 15),
        # a joint submission counts for each of its units
        ev("jt", YG, K.SUBMITTED, at(12, 28), joint=(XR,)),
        # a submission withdrawn within the period does not count
        ev("wd", XR, K.SUBMITTED, at(12, 29)),
        ev("un", "", K.UNDO, at(12, 30), reverses="wd"),
    ]
    rows = ledger(log, r)
    assert rows == []  # submissions score nothing by themselves
    q4 = period_totals(rows, log, r, "2026-Q4", {XR: "county", YG: "县"})
    # county 15 a month: 新荣 Oct 20 (0 short), Nov 10 (5 short), Dec 15 + 1 joint (0 short)
    assert (q4[XR].submitted, q4[XR].required, q4[XR].shortfall) == (46, 45, 5)
    # 阳高 Oct 0, Nov 0, Dec 1 → 15 + 15 + 14 = 44
    assert (q4[YG].submitted, q4[YG].shortfall, q4[YG].months_short) == (1, 44, 3)
    # a unit whose type has no quota in these rules, or no type, has none
    shanxi = rules("shanxi-province")
    none = period_totals(rows, log, shanxi, "2026-11", {XR: "township", YG: ""})
    assert of(none, "required") == {XR: 0, YG: 0}
    with pytest.raises(ValidationError, match="不是有效值") as caught:
        period_totals(rows, log, r, "2026-11", {XR: "village"})
    assert caught.value.field == "unit_types[140212]"


SHANXI_POINTS = {  # fixtures/scoring/shanxi-province.toml, copied by hand
    (L.PROVINCE, "每日要情"): 10,
    (L.PROVINCE, "专报"): 20,
    (L.PROVINCE, "内参"): 40,
    (L.CENTRAL, "专报"): 40,
    (L.CENTRAL, "内参"): 80,
}
# One step of a random log: adopt (item, (level, publication), unit), or undo a live adoption.
ADOPT = st.tuples(
    st.sampled_from(["A", "B"]), st.sampled_from(sorted(SHANXI_POINTS)), st.sampled_from([DT, TY])
)
STEP = st.one_of(ADOPT, st.integers(0, 30))


@settings(max_examples=150, deadline=None)
@given(st.lists(STEP, max_size=25))
def test_only_the_highest_holds_whatever_the_order_of_adoptions_and_undos(
    steps: list[tuple[str, tuple[Level, str], str] | int],
) -> None:
    r = rules("shanxi-province")
    log: list[Event] = []
    live: dict[str, tuple[str, Level, str, str]] = {}  # adoption id → (item, level, pub, unit)
    for n, step in enumerate(steps):
        when, name = at(11, 1) + timedelta(hours=n), f"e{n:02d}"
        if isinstance(step, tuple):
            item, (level, publication), unit = step
            log.append(adopted(name, unit, when, level, publication, item))
            live[name] = (item, level, publication, unit)
        elif live:
            target = sorted(live)[step % len(live)]
            log.append(ev(name, "", K.UNDO, when, reverses=target))
            del live[target]
    rows = ledger(log, r)
    # each unit holds exactly the highest live adoption of every (item, level) it has
    best: dict[tuple[str, str, Level], int] = {}
    for item, level, publication, unit in live.values():
        key = (unit, item, level)
        best[key] = max(best.get(key, 0), SHANXI_POINTS[(level, publication)])
    for unit in (DT, TY):
        held = sum(x.points for x in rows if x.unit == unit)
        assert held == sum(v for (u, _, _), v in best.items() if u == unit)
    # append-only: the rows of every prefix of the log are a prefix of the rows
    for k in range(len(log) + 1):
        head = ledger(log[:k], r)
        assert rows[: len(head)] == head


# -- rule files, events, periods -----------------------------------------------------------------

COUNTY_TEXT = shipped_rule_sets()["county-office"].read_text("utf-8")


@pytest.mark.parametrize(
    ("old", "new", "key", "reason"),
    [
        ("annual_cap = 300", "annual_cap = -1", "switches.annual_cap", "不小于 0"),
        (
            "publications_add_up = true",
            "publications_add_up = 1",
            "switches.publications_add_up",
            "true 或 false",
        ),
        ("monthly_base = 10\n", "", "switches.monthly_base", "缺少此项"),
        ("monthly_base = 10\n", "monthly_base = 10\nbonus = 3\n", "switches.bonus", "未知字段"),
        ("monthly_base = 10", 'monthly_base = "十"', "switches.monthly_base", "应为数字"),
        (
            "forward_multiplier_central = 5.0",
            "forward_multiplier_central = 0",
            "switches.forward_multiplier_central",
            "大于 0",
        ),
        (
            "missed_requests_annual_zero = 2",
            "missed_requests_annual_zero = 1.5",
            "switches.missed_requests_annual_zero",
            "整数",
        ),
        ('level = "city"', 'level = "town"', "adoption[1].level", "“town”不是有效值"),
        ('level = "city"', 'level = "county"', "adoption[1].level", "采用计分的层级"),
        (
            'publication = "专报"\npoints = 10',
            'publication = "每日要情"\npoints = 10',
            "adoption[2].publication",
            "重复规定",
        ),
        ("points = 50\n\n# ── 批示", "points = -50\n\n# ── 批示", "adoption[7].points", "不小于 0"),
        ('event = "missed"', 'event = "skipped"', "request[2].event", "“skipped”不是有效值"),
        ("points = -30", "points = 30", "penalty[1].points", "不大于 0"),
        ('unit_type = "township"', 'unit_type = "village"', "quota[1].unit_type", "不是有效值"),
        ("per_month = 8", "per_month = 8.5", "quota[1].per_month", "整数"),
        (
            "[[quota]]\nunit_type",
            "[[quota]]\nper_day = 1\nunit_type",
            "quota[1].per_day",
            "未知字段",
        ),
        ('office = "大同市新荣区人民政府办公室"', "", "office", "单位名称"),
        ("[switches]", "[switch]", "switch", "未知字段"),
    ],
)
def test_a_bad_rule_file_names_its_key(
    tmp_path: Path, old: str, new: str, key: str, reason: str
) -> None:
    assert old in COUNTY_TEXT
    path = tmp_path / "bad.toml"
    path.write_text(COUNTY_TEXT.replace(old, new, 1), "utf-8")
    with pytest.raises(ValidationError) as caught:
        ScoringRules.load(path)
    assert caught.value.field == key
    assert reason in str(caught.value) and "bad.toml" in str(caught.value)
    assert str(caught.value).startswith(f"字段 {key}：")


def test_an_unreadable_rule_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[switches\n", "utf-8")
    with pytest.raises(ValidationError, match="无法读取计分办法"):
        ScoringRules.load(path)
    with pytest.raises(ValidationError, match="无法读取计分办法"):
        ScoringRules.load(tmp_path / "missing.toml")


def test_events_are_checked_when_made() -> None:
    with pytest.raises(ValidationError, match="时区") as caught:
        ev("x", XR, K.SUBMITTED, datetime(2026, 11, 1))
    assert caught.value.field == "at"
    with pytest.raises(ValidationError, match="应指明刊物"):
        ev("x", XR, K.ADOPTED, at(11, 1), level=L.CITY)
    with pytest.raises(ValidationError, match="应指明层级"):
        ev("x", XR, K.INSTRUCTION, at(11, 1))
    with pytest.raises(ValidationError, match="不是有效的事件类型"):
        ev("x", XR, "adoptd", at(11, 1))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="不能按合报计"):
        ev("x", XR, K.FALSE_ITEM, at(11, 1), joint=(YG,))
    with pytest.raises(ValidationError, match="应指明撤销哪个事件"):
        ev("x", XR, K.UNDO, at(11, 1))
    with pytest.raises(ValidationError, match="“镇级”不是有效值"):
        ev("x", XR, K.INSTRUCTION, at(11, 1), level="镇级")
    # strings from the store are accepted and normalised
    made = ev("x", XR, "adopted", at(11, 1), level="province", publication="专报", forwarded="国办")  # type: ignore[arg-type]
    assert made.kind is K.ADOPTED and made.level is L.PROVINCE and made.forwarded is L.CENTRAL
    # any time zone works; periods are China time
    utc = datetime(2026, 10, 31, 17, tzinfo=UTC)  # 2026-11-01 01:00 in Beijing
    assert Period.parse("2026-11").start <= utc < Period.parse("2026-11").end


def test_periods() -> None:
    month, quarter, year = Period.parse("2026-11"), Period.parse("2026-Q4"), Period.parse("2026")
    assert (month.start, month.end) == (at(11, 1, 0), at(12, 1, 0))
    assert (quarter.start, quarter.end) == (at(10, 1, 0), at(1, 1, 0, year=2027))
    assert (year.start, year.end) == (at(1, 1, 0), at(1, 1, 0, year=2027))
    assert [len(p.months) for p in (month, quarter, year)] == [1, 3, 12]
    assert [p.is_year for p in (month, quarter, year)] == [False, False, True]
    assert Period.parse("2026q1") == Period.parse("2026-Q1") == Period(at(1, 1, 0), at(4, 1, 0))
    for bad in ("2026-13", "2026-Q5", "26", "2026/11", ""):
        with pytest.raises(ValidationError, match="不是有效的期间"):
            Period.parse(bad)
    with pytest.raises(ValidationError, match="整月"):
        Period(at(11, 2, 0), at(12, 1, 0))
    with pytest.raises(ValidationError, match="晚于开始"):
        Period(at(12, 1, 0), at(11, 1, 0))
    with pytest.raises(ValidationError, match="整月"):
        totals([], [], rules("datong-city"), at(11, 1, 0), at(11, 1, 0) + timedelta(days=29), {})


def test_format_points_rounds_halves_away_from_zero() -> None:
    assert [
        format_points(F(n, d))
        for n, d in [(10, 1), (-10, 1), (10, 3), (-10, 3), (1, 8), (-1, 8), (5, 2)]
    ] == [
        "10",
        "-10",
        "3.33",
        "-3.33",
        "0.13",
        "-0.13",
        "2.5",
    ]


# -- the switches offices differ on (issue 18) ---------------------------------------------------


def test_an_instruction_scores_by_the_publication_the_item_appeared_in() -> None:
    """大同 lists city instructions on a 专报 (40) and a 特刊 (50) item apart from the city's 30:
    a 每日要情 item or an unknown publication scores the level's points; a rule set without
    such rows (county-office) scores every city instruction alike."""
    log = [
        instructed("i1", XR, at(11, 2), L.CITY, "A", publication="专报"),
        instructed("i2", XR, at(11, 3), L.CITY, "B", publication="特刊"),
        instructed("i3", XR, at(11, 4), L.CITY, "C", publication="每日要情"),
        instructed("i4", XR, at(11, 5), L.CITY, "D"),  # where it appeared is not known
        instructed("i5", XR, at(11, 6), L.PROVINCE, "E", publication="专报"),  # no 省级 rows
    ]
    datong = ledger(log, rules("datong-city"))
    assert [x.points for x in datong] == [40, 50, 30, 30, 40]
    assert datong[0].explanation == "市级领导在《专报》上批示 40分"
    assert datong[2].explanation == "市级领导批示 30分"
    assert [x.points for x in ledger(log, rules("county-office"))] == [30, 30, 30, 30, 40]
    # "count once" still groups by item and level: a second 专报 instruction on A adds nothing
    again = ledger(
        [*log, instructed("i6", XR, at(11, 7), L.CITY, "A", publication="专报")],
        rules("datong-city"),
    )
    assert again[-1].points == 0


def test_concealing_an_emergency_is_its_own_penalty() -> None:
    """瞒报 is scored as 瞒报 where the rules list it (大同 −30, 山西 −50, beside 漏报 −20 and
    −30); rules that list only 漏报 (county-office) score it as one and say so."""
    log = [
        ev("m1", XR, K.EMERGENCY_MISSED, at(11, 2), item="A"),
        ev("m2", XR, K.EMERGENCY_CONCEALED, at(11, 3), item="B"),
    ]
    assert [x.points for x in ledger(log, rules("datong-city"))] == [-20, -30]
    assert [x.points for x in ledger(log, rules("shanxi-province"))] == [-30, -50]
    county = ledger(log, rules("county-office"))
    assert [x.points for x in county] == [-20, -20]
    assert county[1].explanation == "紧急信息瞒报（本办法未单列瞒报，按漏报计） -20分"


@pytest.mark.parametrize(
    ("row", "key", "reason"),
    [
        ('level = "city"\npublication = ""\npoints = 5', "instruction[5].publication", "刊物名称"),
        ('level = "city"\npublication = 3\npoints = 5', "instruction[5].publication", "刊物名称"),
        ('level = "county"\npoints = 5', "instruction[5].level", "重复规定"),
        ('level = "city"\npublication = "专报"\npoints = -5', "instruction[5].points", "不小于 0"),
    ],
)
def test_a_bad_instruction_row_names_its_key(
    tmp_path: Path, row: str, key: str, reason: str
) -> None:
    text = COUNTY_TEXT.replace("# ── 约稿", f"[[instruction]]\n{row}\n\n# ── 约稿", 1)
    assert text != COUNTY_TEXT
    path = tmp_path / "bad.toml"
    path.write_text(text, "utf-8")
    with pytest.raises(ValidationError) as caught:
        ScoringRules.load(path)
    assert caught.value.field == key and reason in str(caught.value)
    twice = text.replace(
        f"[[instruction]]\n{row}",
        '[[instruction]]\nlevel = "city"\npublication = "专报"\n'
        'points = 5\n\n[[instruction]]\nlevel = "city"\npublication = "专报"\npoints = 6',
    )
    path.write_text(twice, "utf-8")
    with pytest.raises(ValidationError, match="《专报》批示重复规定"):
        ScoringRules.load(path)
