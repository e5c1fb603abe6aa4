"""约稿通知 as a document (issue 17): ``xinbao request export ID --format docx --out F`` lays a
topic request out on the GB/T 9704 page, as the 刊物 and the 通报 are; Markdown on screen; over
SSH only to standard output."""

from __future__ import annotations

from pathlib import Path

import docx

from schema.network import add_units
from schema.store import Store
from tests.cli_helpers import run
from tests.conftest import CITY, COUNTY
from tests.console.test_desk_cli import init

REQUEST = """\
topic = "冬季清洁取暖运行保障"
guidance = "请报送供暖季开始后清洁取暖设施运行情况。\\n重点写明存在的问题和建议。"
targets = ["all:county:140200", "140212"]
deadline = 2026-12-01T18:00:00+08:00
urgency = "加急"
points = 5
publication = "专报"
contact = "王五 0352-7654321"
"""


def issued(tmp_path: Path) -> tuple[Path, str]:
    city = tmp_path / "city"
    init(city, "140200", "大同市人民政府办公室", "city", "140000")
    store = Store.open(city / "store.db")
    try:
        add_units(store, [CITY, COUNTY])  # the units below it, as its network list gives them
    finally:
        store.close()
    path = tmp_path / "r.toml"
    path.write_text(REQUEST, "utf-8")
    made = run("xinbao", "--json", "request", str(path), home=city)
    assert made.code == 0, made.err
    request_id = str(made.json()["id"])
    assert run("xinbao", "signoff", request_id, home=city).code == 0
    return city, request_id


def test_a_request_exports_as_a_notice_on_the_standard_page(tmp_path: Path) -> None:
    city, request_id = issued(tmp_path)
    out = tmp_path / "约稿通知.docx"
    done = run(
        "xinbao", "request", "export", request_id, "--format", "docx", "--out", str(out), home=city
    )
    assert done.code == 0, done.err
    doc = docx.Document(str(out))
    texts = [p.text for p in doc.paragraphs if p.text.strip()]
    assert texts[0] == "内部" and texts[1] == "加急"  # markings top left, in order
    assert texts[2] == "大同市人民政府办公室"
    assert texts[4] == "关于报送冬季清洁取暖运行保障有关情况的约稿通知"
    assert texts[5] == f"各县（区），{COUNTY.name}："  # 主送: the group, then the unit
    assert "请报送供暖季开始后清洁取暖设施运行情况。" in texts
    assert "请于2026年12月1日18时前报送。无相关情况的，请作零报告。" in texts
    assert "被《专报》采用的，每条计5分。" in texts and "联系人：王五 0352-7654321" in texts
    section = doc.sections[0]
    assert round(section.page_width.mm) == 210 and round(section.top_margin.mm) == 37
    markdown = run("xinbao", "request", "export", request_id, home=city)
    assert markdown.code == 0 and "# 关于报送冬季清洁取暖运行保障有关情况的约稿通知" in markdown.out
    missing = run("xinbao", "request", "export", home=city)
    assert missing.code != 0 and "约稿编号" in missing.err


def test_over_ssh_the_notice_comes_on_standard_output(tmp_path: Path) -> None:
    city, request_id = issued(tmp_path)
    me = run("xinbao-syncd", "user", "add", "wang", "--role", "编辑", home=city)
    assert me.code == 0, me.err
    done = run(
        "xinbao",
        "request",
        "export",
        request_id,
        "--format",
        "docx",
        "--out",
        "-",
        user="wang",
        home=city,
    )
    assert done.code == 0, done.err
    refused = run(
        "xinbao",
        "request",
        "export",
        request_id,
        "--format",
        "docx",
        "--out",
        str(tmp_path / "x.docx"),
        user="wang",
        home=city,
    )
    assert refused.code != 0 and "标准输出" in refused.err
