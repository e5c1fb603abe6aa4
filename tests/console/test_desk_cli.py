"""The desk CLI driven end to end through subprocesses, across a county and a city node."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import Result, carry, me, run

ITEM = """\
title = "新荣区某煤矿发生透水事故：2人受伤"
category = "突发事件"
urgency = "特急"
classification = "内部"
author = "张三"
phone = "0352-1234567"
body = "11月21日14时35分，新荣区某煤矿井下发生透水，2人受伤，无人员死亡。"
[incident]
severity = "较大"
occurred_at = "2026-11-21T14:35:00+08:00"
place = "新荣区某煤矿"
"""

ROUTINE = """\
title = "新荣区追回农民工欠薪38.6万元"
category = "工作动态"
author = "张三"
body = "新荣区根治欠薪专班一天内为15名农民工追回欠薪38.6万元。"
"""


def init(home: Path, node_id: str, name: str, tier: str, parent: str) -> None:
    done = run(
        "xinbao-syncd",
        "init",
        "--id",
        node_id,
        "--name",
        name,
        "--tier",
        tier,
        "--parent",
        parent,
        "--home",
        str(home),
    )
    assert done.code == 0, done.err


def one_line_error(done: Result, code: int = 1) -> str:
    assert done.code == code, (done.out, done.err)
    assert done.err.count("\n") == 1, done.err
    assert done.out == ""
    return done.err


@pytest.fixture
def nodes(tmp_path: Path) -> tuple[Path, Path]:
    county, city = tmp_path / "county", tmp_path / "city"
    init(county, "140212", "新荣区人民政府办公室", "county", "140200")
    init(city, "140200", "大同市人民政府办公室", "city", "140000")
    return county, city


def submit(home: Path, text: str, tmp_path: Path, name: str = "item.toml") -> str:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    done = run("xinbao", "--json", "submit", str(path), home=home)
    assert done.code == 0, done.err
    return str(done.json()["id"])


def test_submit_signoff_list_show_through_the_cli(nodes: tuple[Path, Path], tmp_path: Path) -> None:
    county, _ = nodes
    item_id = submit(county, ITEM, tmp_path)
    assert item_id == "140212-2026-00001"
    listed = run("xinbao", "list", "--outbox", "--json", home=county).json()
    assert [(r["item_id"], r["state"]) for r in listed] == [(item_id, "待签发")]
    signed = run("xinbao", "signoff", item_id, home=county)
    assert signed.code == 0 and "已签发" in signed.out
    shown = run("xinbao", "show", item_id, home=county)
    lines = shown.out.splitlines()
    assert lines[0] == "内部　特急"  # markings at the top: classification, urgency
    assert lines[1] == "新荣区某煤矿发生透水事故：2人受伤"
    assert "待签发 → 已报送" in shown.out
    as_json = run("xinbao", "show", item_id, "--json", home=county).json()
    assert as_json["item"]["signer"] == me()
    assert [a["to_state"] for a in as_json["audit"]] == ["草稿", "待签发", "已报送"]


def test_home_and_json_are_accepted_before_or_after_the_subcommand(
    nodes: tuple[Path, Path], tmp_path: Path
) -> None:
    county, _ = nodes
    submit(county, ROUTINE, tmp_path)
    before = run("xinbao", "--home", str(county), "--json", "list", "--outbox")
    after = run("xinbao", "list", "--outbox", "--home", str(county), "--json")
    assert before.code == after.code == 0
    assert before.json() == after.json() and len(before.json()) == 1


def test_roles_are_checked_for_the_acting_user(nodes: tuple[Path, Path], tmp_path: Path) -> None:
    county, _ = nodes
    added = run("xinbao-syncd", "user", "add", "xiaoli", "--role", "信息员", home=county)
    assert added.code == 0
    path = tmp_path / "i.toml"
    path.write_text(ROUTINE, "utf-8")
    done = run("xinbao", "--json", "submit", str(path), user="xiaoli", home=county)
    item_id = done.json()["id"]
    err = one_line_error(run("xinbao", "signoff", item_id, user="xiaoli", home=county))
    assert "签发人" in err and "xiaoli" in err
    stranger = one_line_error(run("xinbao", "list", user="nobody", home=county))
    assert "xinbao-syncd user add nobody" in stranger
    assert run("xinbao", "signoff", item_id, home=county).code == 0


def test_a_bad_item_file_is_one_line_and_stores_nothing(
    nodes: tuple[Path, Path], tmp_path: Path
) -> None:
    county, _ = nodes
    path = tmp_path / "bad.toml"
    path.write_text(ITEM.replace('"内部"', '"绝密"'), "utf-8")
    err = one_line_error(run("xinbao", "submit", str(path), home=county))
    assert "classification" in err and "绝密" in err
    path.write_text(ITEM.replace('place = "新荣区某煤矿"\n', ""), "utf-8")
    assert "incident.place" in one_line_error(run("xinbao", "submit", str(path), home=county))
    path.write_text(
        ITEM.replace('place = "新荣区某煤矿"\n', "").replace('"特急"', '"十万火急"'), "utf-8"
    )
    every = one_line_error(run("xinbao", "submit", str(path), home=county))  # every problem
    assert "共 2 处问题" in every
    assert "字段 urgency：" in every and "字段 incident.place：" in every
    missing = one_line_error(run("xinbao", "submit", str(tmp_path / "nope.toml"), home=county))
    assert "无法读取" in missing
    assert run("xinbao", "--json", "list", "--outbox", home=county).json() == []


def test_triage_at_the_city_and_feedback_at_the_county(
    nodes: tuple[Path, Path], tmp_path: Path
) -> None:
    county, city = nodes
    ids = [submit(county, text, tmp_path, f"{n}.toml") for n, text in enumerate([ITEM, ROUTINE])]
    for item_id in ids:
        assert run("xinbao", "signoff", item_id, home=county).code == 0
    assert carry(county, city, "140200") == 2
    inbox = run("xinbao", "list", "--inbox", home=city)
    assert inbox.code == 0 and "新荣区某煤矿" in inbox.out and "欠薪" in inbox.out
    found = run("xinbao", "--json", "list", "--search", "透水", home=city).json()
    assert [r["item_id"] for r in found] == [ids[0]]
    assert (
        run("xinbao", "--json", "list", "--search", "欠", home=city).json()[0]["item_id"] == ids[1]
    )

    returned = run("xinbao", "return", ids[1], "--reason", "请补充涉及企业名称", home=city)
    assert returned.code == 0
    assert "理由" in one_line_error(run("xinbao", "return", ids[0], "--reason", " ", home=city))
    adopted = run("xinbao", "adopt", ids[0], "--issue", "每日要情/1", home=city)
    assert adopted.code == 0 and "每日要情/1" in adopted.out
    err = one_line_error(run("xinbao", "reject", ids[0], home=city))
    assert "已成刊" in err and "退稿" in err
    assert carry(city, county, "140212") == 3  # returned; adopted, then placed in the issue

    states = {
        r["item_id"]: r for r in run("xinbao", "--json", "list", "--outbox", home=county).json()
    }
    assert states[ids[0]]["state"] == "已成刊"
    assert (states[ids[1]]["state"], states[ids[1]]["note"]) == ("退回修改", "请补充涉及企业名称")
    revised = tmp_path / "revised.toml"
    revised.write_text(ROUTINE.replace("15名农民工", "某商住楼项目15名农民工"), "utf-8")
    assert run("xinbao", "edit", ids[1], str(revised), home=county).code == 0
    assert run("xinbao", "signoff", ids[1], home=county).code == 0
    assert carry(county, city, "140200") == 1
    shown = run("xinbao", "--json", "show", ids[1], home=city).json()
    assert shown["item"]["revision"] == 2 and shown["edges"][0]["state"] == "已接收"


def test_forward_and_merge_through_the_cli(nodes: tuple[Path, Path], tmp_path: Path) -> None:
    county, city = nodes
    ids = [submit(county, t, tmp_path, f"{n}.toml") for n, t in enumerate([ITEM, ROUTINE, ROUTINE])]
    for item_id in ids:
        run("xinbao", "signoff", item_id, home=county)
    carry(county, city, "140200")
    fwd = run("xinbao", "--json", "forward", ids[0], home=city).json()
    assert fwd["sources"] == [ids[0]] and fwd["origin"] == "140200"
    merged = run("xinbao", "--json", "merge", ids[1], ids[2], "--title", "全市欠薪综合", home=city)
    assert merged.code == 0, merged.err
    assert merged.json()["sources"] == ids[1:]
    outbox = run("xinbao", "--json", "list", "--outbox", home=city).json()
    assert {r["state"] for r in outbox} == {"待签发"} and len(outbox) == 2
    assert "至少需要两条" in one_line_error(
        run("xinbao", "merge", ids[0], "--title", "x", home=city)
    )
    unknown = one_line_error(run("xinbao", "adopt", "140212-2026-09999", home=city))
    assert "140212-2026-09999" in unknown


def test_usage_errors_are_one_line_with_exit_2(nodes: tuple[Path, Path]) -> None:
    county, _ = nodes
    err = one_line_error(run("xinbao", "adopt", home=county), code=2)
    assert "缺少参数" in err
    one_line_error(run("xinbao", "frobnicate", home=county), code=2)


def test_overdue_emergencies_and_marks_through_the_cli(
    nodes: tuple[Path, Path], tmp_path: Path
) -> None:
    county, city = nodes
    # an event an hour ago: the city's written deadline (2 h) is still ahead
    from datetime import datetime, timedelta

    from schema.clock import CHINA, to_text

    occurred = datetime.now(CHINA) - timedelta(hours=1)
    text = ITEM.replace("2026-11-21T14:35:00+08:00", to_text(occurred))
    item_id = submit(county, text, tmp_path)
    owed = run("xinbao", "--json", "list", "--overdue", home=county).json()
    assert [(d["item_id"], d["to_unit"], d["channel"], d["status"]) for d in owed] == [
        (item_id, "140200", "书面", "待报")
    ]
    shown = run("xinbao", "list", "--overdue", home=county).out
    assert item_id in shown and "剩" in shown
    assert run("xinbao", "signoff", item_id, home=county).code == 0
    assert "没有待报" in run("xinbao", "list", "--overdue", home=county).out
    # the city records a 瞒报 against the county; a mark without a note is refused
    assert "note" in one_line_error(
        run("xinbao", "mark", "140212", "--kind", "瞒报", home=city), code=2
    )
    done = run("xinbao", "mark", "140212", "--kind", "瞒报", "--note", "少报伤亡", home=city)
    assert done.code == 1 and "不知道单位 140212" in done.err  # the city has not met it yet
    carry(county, city, "140200")
    done = run("xinbao", "mark", "140212", "--kind", "瞒报", "--note", "少报伤亡", home=city)
    assert done.code == 0, done.err


def test_an_issue_built_signed_and_exported_through_the_cli(
    nodes: tuple[Path, Path], tmp_path: Path
) -> None:
    import docx

    county, city = nodes
    item_id = submit(county, ITEM, tmp_path)
    assert run("xinbao", "signoff", item_id, home=county).code == 0
    carry(county, city, "140200")
    placed = run("xinbao", "adopt", item_id, "--issue", "每日要情", home=city)
    assert placed.code == 0, placed.err
    shown = run("xinbao", "issue", "show", "每日要情/1", home=city)
    assert "每日要情 2026年第1期（总第1期）　编辑中" in shown.out and item_id in shown.out
    assert run("xinbao", "issue", "signoff", "每日要情/1", home=city).code == 0
    text = run("xinbao", "issue", "export", "每日要情/1", home=city).out
    assert text.splitlines()[:3] == ["000001  ", "内部  ", "特急  "]
    out = tmp_path / "每日要情.docx"
    done = run(
        "xinbao", "issue", "export", "每日要情/1", "--format", "docx", "--out", str(out), home=city
    )
    assert done.code == 0, done.err
    assert [p.text for p in docx.Document(str(out)).paragraphs][:4] == [
        "000001",
        "内部",
        "特急",
        "每日要情",
    ]
    assert "份号" in one_line_error(
        run("xinbao", "issue", "export", "每日要情/1", "--copy", "999", home=city)
    )
    carry(city, county, "140212")
    listed = run("xinbao", "--json", "list", "--outbox", home=county).json()
    assert listed[0]["state"] == "已印发"
    # the month's bulletin at the city, on screen and as Word
    from datetime import datetime

    month = datetime.now().strftime("%Y-%m")
    shown = run("xinbao", "bulletin", "--period", month, home=city)
    assert shown.code == 0, shown.err
    assert "政务信息工作通报" in shown.out and "得分排名" in shown.out
    word = tmp_path / "通报.docx"
    made = run(
        "xinbao", "bulletin", "--period", month, "--format", "docx", "--out", str(word), home=city
    )
    assert made.code == 0 and word.exists(), made.err
    assert "period" in one_line_error(run("xinbao", "bulletin", "--period", "11月", home=city))


def test_verify_through_the_cli(nodes: tuple[Path, Path], tmp_path: Path) -> None:
    """核实: the city asks, the county answers, `show` prints both at each end; the item
    cannot be placed in an issue while the question is open."""
    county, city = nodes
    (item_id,) = [submit(county, ROUTINE, tmp_path, "r.toml")]
    assert run("xinbao", "signoff", item_id, home=county).code == 0
    assert carry(county, city, "140200") == 1
    asked = run("xinbao", "verify", item_id, "--question", "涉及农民工人数是否为15名？", home=city)
    assert asked.code == 0 and "答复前不能刊用" in asked.out, asked.err
    err = one_line_error(run("xinbao", "adopt", item_id, "--issue", "每日要情/1", home=city))
    assert "正在核实" in err
    assert "核实结果" in one_line_error(
        run("xinbao", "verify", item_id, "--answer", " ", home=county)
    )
    assert carry(city, county, "140212") == 1
    shown = run("xinbao", "show", item_id, home=county).out
    assert "涉及农民工人数是否为15名？" in shown and "答复，时限" in shown
    answered = run("xinbao", "verify", item_id, "--answer", "经核实，为15名。", home=county)
    assert answered.code == 0, answered.err
    assert carry(county, city, "140200") == 1
    shown = run("xinbao", "show", item_id, home=city).out
    assert "经核实，为15名。" in shown
    assert run("xinbao", "adopt", item_id, "--issue", "每日要情/1", home=city).code == 0
    usage = run("xinbao", "verify", item_id, home=city)
    assert usage.code == 2 and "--question" in usage.err


def test_the_roster_through_the_cli(nodes: tuple[Path, Path], tmp_path: Path) -> None:
    """通讯录: the county sets its roster from a file, the city lists it with the county's
    last activity; a bad file names its field and changes nothing."""
    county, city = nodes
    path = tmp_path / "roster.toml"
    path.write_text(
        '[[person]]\nrole = "分管领导"\nname = "张某某"\npost = "副主任"\n'
        'office_phone = "0352-6012345"\n\n'
        '[[person]]\nrole = "信息员"\nname = "李四"\nmobile = "13903521234"\n',
        "utf-8",
    )
    done = run("xinbao", "roster", "set", str(path), home=county)
    assert done.code == 0 and "第1版" in done.out, done.err
    assert carry(county, city, "140200") == 1
    listed = run("xinbao", "roster", home=city)
    assert listed.code == 0
    assert "新荣区" in listed.out and "  信息员　李四　手机 13903521234" in listed.out
    book = run("xinbao", "--json", "roster", home=city).json()
    entry = next(e for e in book if e["unit"] == "140212")
    assert [p["name"] for p in entry["people"]] == ["张某某", "李四"] and entry["missing"] == []
    path.write_text('[[person]]\nrole = "信息员"\nname = "王五"\nmobile = "电话"\n', "utf-8")
    err = one_line_error(run("xinbao", "roster", "set", str(path), home=county))
    assert "person[1].mobile" in err and "不像电话号码" in err
    assert "通讯录文件" in one_line_error(run("xinbao", "roster", "set", home=county))


def test_people_and_sections_through_the_cli(nodes: tuple[Path, Path], tmp_path: Path) -> None:
    """`bulletin --by person` ranks the writers of what the city received; `section` keeps
    the city's own sections, an item names one, `bulletin --by section` ranks them."""
    county, city = nodes
    item_id = submit(county, ROUTINE.replace('author = "张三"', 'author = "张三、李四"'), tmp_path)
    assert run("xinbao", "signoff", item_id, home=county).code == 0
    assert carry(county, city, "140200") == 1
    assert run("xinbao", "adopt", item_id, "--issue", "每日要情/1", home=city).code == 0
    assert run("xinbao", "issue", "signoff", "每日要情/1", home=city).code == 0
    period = run("xinbao", "--json", "list", "--inbox", home=city).json()[0]["updated_at"][:7]
    ranked = run("xinbao", "bulletin", "--period", period, "--by", "person", home=city)
    assert ranked.code == 0, ranked.err
    assert "执笔人排名" in ranked.out and "| 张三 | 140212 |" in ranked.out
    rows = run(
        "xinbao", "--json", "bulletin", "--period", period, "--by", "person", home=city
    ).json()
    assert {r["name"]: r["submitted"] for r in rows} == {"张三": 1, "李四": 1}
    assert run("xinbao", "section", "add", "综合科", "--per-month", "3", home=city).code == 0
    assert "综合科　每月任务 3 条" in run("xinbao", "section", home=city).out
    own = ROUTINE.replace('author = "张三"', 'author = "周文"\nsection = "综合科"')
    own_id = submit(city, own, tmp_path, "own.toml")
    assert run("xinbao", "signoff", own_id, home=city).code == 0
    parts = run(
        "xinbao", "--json", "bulletin", "--period", period, "--by", "section", home=city
    ).json()
    assert [(r["name"], r["submitted"], r["required"]) for r in parts] == [("综合科", 1, 3)]
    bad = ROUTINE.replace('author = "张三"', 'author = "周文"\nsection = "秘书科"')
    path = tmp_path / "bad.toml"
    path.write_text(bad, "utf-8")
    assert "没有科室“秘书科”" in one_line_error(run("xinbao", "submit", str(path), home=city))
    assert "Markdown" in one_line_error(
        run(
            "xinbao",
            "bulletin",
            "--period",
            period,
            "--by",
            "section",
            "--format",
            "docx",
            "--out",
            str(tmp_path / "x.docx"),
            home=city,
        )
    )


def test_phone_reports_and_deadlines_through_the_cli(
    nodes: tuple[Path, Path], tmp_path: Path
) -> None:
    """电话报告: the city takes a call from the county, lists it (待书面首报), and links the
    written 首报 once it arrives; times given on the command line (--deadline, --occurred)
    are read as times."""
    county, city = nodes
    routine = submit(county, ROUTINE, tmp_path, "routine.toml")  # the city has met 新荣区
    assert run("xinbao", "signoff", routine, home=county).code == 0
    assert carry(county, city, "140200") == 1
    done = run(
        "xinbao", "phone", "add", "140212", "--caller", "李晓红", "--summary", "某煤矿透水",
        "--severity", "重大", "--occurred", "2026-11-21T14:35:00+08:00",
        "--called", "2026-11-21T14:50:00+08:00", home=city,
    )  # fmt: skip
    assert done.code == 0, done.err
    assert "已登记电话报告 1" in done.out and "书面首报应于 11月21日 15:35 前送达" in done.out
    listed = run("xinbao", "phone", home=city).out
    assert "李晓红" in listed and "待书面首报" in listed
    missing = one_line_error(run("xinbao", "phone", "add", "140212", "--caller", "某", home=city))
    assert "--summary" in missing
    item_id = submit(county, ITEM, tmp_path)
    assert run("xinbao", "signoff", item_id, home=county).code == 0
    assert carry(county, city, "140200") == 1
    linked = run("xinbao", "--json", "phone", home=city).json()
    assert linked[0]["item_id"] == item_id  # the same event from the same unit: linked
    again = run("xinbao", "phone", "link", "1", item_id, home=city)
    assert again.code == 0 and f"已关联书面首报 {item_id}" in again.out
    # --deadline is read as a time
    asked = run(
        "xinbao", "verify", item_id, "--question", "被困人数？",
        "--deadline", "2030-01-01T18:00:00+08:00", home=city,
    )  # fmt: skip
    assert asked.code == 0, asked.err
    bad = one_line_error(
        run("xinbao", "verify", item_id, "--question", "？", "--deadline", "明天", home=city)
    )
    assert "不是有效时间" in bad


def test_a_bulletin_signed_off_reaches_the_county(nodes: tuple[Path, Path], tmp_path: Path) -> None:
    """`bulletin --signoff` numbers the 通报 and sends it to the units it names; the county
    lists and reads it (`bulletins`, `bulletins show`); a 约谈 is recorded."""
    county, city = nodes
    item_id = submit(county, ROUTINE, tmp_path)
    assert run("xinbao", "signoff", item_id, home=county).code == 0
    assert carry(county, city, "140200") == 1
    period = run("xinbao", "--json", "list", "--inbox", home=city).json()[0]["updated_at"][:7]
    done = run("xinbao", "bulletin", "--period", period, "--signoff", home=city)
    assert done.code == 0 and "已签发通报" in done.out and "发往 1 个单位" in done.out, done.err
    again = one_line_error(run("xinbao", "bulletin", "--period", period, "--signoff", home=city))
    assert "已经签发" in again
    assert carry(city, county, "140212") >= 1
    listed = run("xinbao", "bulletins", home=county)
    assert listed.code == 0 and "收到" in listed.out
    bulletin_id = listed.out.split("　")[0]
    shown = run("xinbao", "bulletins", "show", bulletin_id, home=county)
    assert shown.code == 0 and "政务信息工作通报" in shown.out and "140212" in shown.out
    talk = run("xinbao", "interview", "140212", "--note", "约谈新荣区政府办分管副主任", home=city)
    assert talk.code == 0, talk.err
    assert "约谈新荣区政府办分管副主任" in run("xinbao", "interview", home=city).out
    assert "约谈须写明" in one_line_error(run("xinbao", "interview", "140212", home=city))
