"""Desk input limits through ``xinbao``: every hostile file is refused with one Chinese line
naming the file or the field, exit code 1, no traceback, and nothing stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli_helpers import Result, run
from tests.console.test_desk_cli import ROUTINE, init

ITEM = {
    "title": "新荣区追回农民工欠薪38.6万元",
    "category": "工作动态",
    "author": "张三",
    "body": "新荣区根治欠薪专班一天内为15名农民工追回欠薪38.6万元。",
}


def toml(**fields: str) -> str:
    """An item file in TOML; values are written as TOML basic strings (JSON escapes agree)."""
    items = {**ITEM, **fields}.items()
    return "".join(f"{k} = {json.dumps(v, ensure_ascii=False)}\n" for k, v in items)


def refused(done: Result, message: str) -> None:
    """One line on stderr, exactly ``message`` after the program's prefix; exit code 1."""
    assert "Traceback" not in done.err, done.err
    assert (done.code, done.out) == (1, ""), (done.code, done.out, done.err)
    assert done.err == f"xinbao: 错误：{message}\n"


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("county")
    init(home, "140212", "新荣区人民政府办公室", "county", "140200")
    return home


def stored(home: Path) -> list[object]:
    done = run("xinbao", "list", "--outbox", "--json", home=home)
    assert done.code == 0, done.err
    return list(done.json())


MB = 1 << 20
CASES: dict[str, tuple[str, Callable[[], str | bytes], str]] = {
    "deep-json": (
        "item.json",
        lambda: '{"title": ' + "[" * 200_000 + "]" * 200_000 + "}",
        "item.json：嵌套过深（超过 8 层）",
    ),
    "deep-toml": (
        "item.toml",
        lambda: "title = " + "[" * 200_000 + "]" * 200_000,
        "item.toml：嵌套过深（超过 8 层）",
    ),
    "deep-toml-inline": (
        "item.toml",
        lambda: "incident = " + "{a = " * 100_000 + "1" + "}" * 100_000,
        "item.toml：嵌套过深（超过 8 层）",
    ),
    "dotted-key": (
        "item.toml",
        lambda: "a" + ".a" * 400_000 + " = 1",
        "item.toml：嵌套过深（超过 8 层）",
    ),
    "300k-tables": (
        "tables.toml",
        lambda: "".join(f"[t{n}]\n" for n in range(300_000)),
        "tables.toml：文件过大（2.8 MB，上限 1 MB）",
    ),
    "many-keys": (
        "item.json",
        lambda: json.dumps({**ITEM, **{f"k{n}": n for n in range(5000)}}),
        "item.json：字段和列表项过多（超过 1000 个）",
    ),
    "nul-in-title": (
        "item.toml",
        lambda: toml(title="新荣区\x00追回欠薪"),
        "字段 title：不能包含控制字符（U+0000）",
    ),
    "newline-in-title": (
        "item.json",
        lambda: json.dumps({**ITEM, "title": "新荣区\n追回欠薪"}),
        "字段 title：不能换行（应为一行文字，U+000A）",
    ),
    "bidi-in-title": (
        "item.toml",
        lambda: toml(title="新荣区\u202e追回欠薪"),
        "字段 title：不能包含双向文字控制符（U+202E）",
    ),
    "escape-in-author": (
        "item.toml",
        lambda: toml(author="张三\x1b[2J"),
        "字段 author：不能包含控制字符（U+001B）",
    ),
    "long-title": (
        "item.toml",
        lambda: toml(title="字" * 201),
        "字段 title：过长（201 字，上限 200 字）",
    ),
    "long-body": (
        "item.toml",
        lambda: toml(body="字" * 30_000),
        "字段 body：过长（30000 字，上限 20000 字）",
    ),
    "10mb-body": (
        "body.toml",
        lambda: toml(body="字" * (10 * MB // 3)),
        "body.toml：文件过大（10.0 MB，上限 1 MB）",
    ),
    "oversized-file": (
        "item.toml",
        lambda: b"#" * (12 * MB),
        "item.toml：文件过大（12.0 MB，上限 1 MB）",
    ),
    "huge-number": (
        "item.json",
        lambda: '{"title": ' + "9" * 10_000 + "}",
        "不是有效的 JSON（数字位数过多）",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_item_file_is_refused_in_one_line_and_nothing_stored(
    county: Path, tmp_path: Path, case: str
) -> None:
    name, make, message = CASES[case]
    content = make()
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, "utf-8")
    refused(run("xinbao", "submit", str(path), home=county), message)
    assert stored(county) == []


def test_edit_meets_the_same_limits(tmp_path: Path) -> None:
    home = tmp_path / "home"
    init(home, "140212", "新荣区人民政府办公室", "county", "140200")
    good = tmp_path / "item.toml"
    good.write_text(ROUTINE, "utf-8")
    made = run("xinbao", "--json", "submit", str(good), home=home)
    assert made.code == 0, made.err
    item_id = made.json()["id"]
    bad = tmp_path / "edit.toml"
    bad.write_text(ROUTINE.replace("新荣区追回", "新荣区\\u2066追回"), "utf-8")
    done = run("xinbao", "edit", item_id, str(bad), home=home)
    refused(done, "字段 title：不能包含双向文字控制符（U+2066）")
    shown = run("xinbao", "--json", "show", item_id, home=home).json()
    assert shown["item"]["revision"] == 1


def test_a_request_file_meets_the_same_limits(county: Path, tmp_path: Path) -> None:
    path = tmp_path / "request.toml"
    path.write_text(
        'topic = "冬季清洁取暖\\u0085运行保障情况"\n'
        'guidance = "请报送运行情况。"\n'
        'targets = ["140212100"]\n'
        "deadline = 2026-12-01T18:00:00+08:00\n",
        "utf-8",
    )
    done = run("xinbao", "request", str(path), home=county)
    refused(done, "字段 topic：不能包含控制字符（U+0085）")
    deep = tmp_path / "deep.json"
    deep.write_text('{"topic": ' + "{" * 100_000 + "}" * 100_000 + "}", "utf-8")
    refused(run("xinbao", "request", str(deep), home=county), "deep.json：嵌套过深（超过 8 层）")
    assert run("xinbao", "--json", "requests", home=county).json() == []


def test_a_rules_file_meets_the_size_and_nesting_limits(county: Path, tmp_path: Path) -> None:
    big = tmp_path / "rules.toml"
    big.write_bytes(b"#" * (2 * MB))
    done = run("xinbao", "bulletin", "--period", "2026-11", "--rules", str(big), home=county)
    refused(done, "rules.toml：文件过大（2.0 MB，上限 1 MB）")
    deep = tmp_path / "deep.toml"
    deep.write_text("office = " + "[" * 100_000 + "]" * 100_000, "utf-8")
    done = run("xinbao", "bulletin", "--period", "2026-11", "--rules", str(deep), home=county)
    refused(done, "deep.toml：嵌套过深（超过 8 层）")
