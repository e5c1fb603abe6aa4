"""``xinbao leads`` and ``xinbao lead keep|dismiss|draft|show`` at a node (in process, as the
shell runs them): ranked listing with the feeds' trouble, filtering, state changes, a draft
item citing its source, refusals on one line in Chinese."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from console.cli import PROG, handle
from schema import lead as leads
from schema.clock import system_clock
from schema.commandline import run as run_cli
from schema.lead import Entry
from schema.store import Store
from tests.cli_helpers import run


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "county"
    args = ["init", "--id", "140212", "--name", "新荣区人民政府办公室", "--tier", "county"]
    done = run("xinbao-syncd", *args, "--parent", "140200", "--home", str(home))
    assert done.code == 0, done.err
    monkeypatch.setenv("XINBAO_HOME", str(home))
    monkeypatch.setenv("USER", "zhangsan")
    now = system_clock()
    store = Store.open(home / "store.db")
    try:
        leads.add(
            store,
            [
                Entry("大同日报", "a", "https://dt/a", "今日天气晴", "", now - timedelta(hours=1)),
                Entry(
                    "大同日报", "b", "https://dt/b", "新荣区追回欠薪38.6万元", "专班追回欠薪。", now
                ),
            ],
            ["欠薪"],
            now,
        )
        leads.note_failure(store, "人民网", "服务器返回 503", now)
    finally:
        store.close()
    return home


def xinbao(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run_cli(PROG, handle, list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_leads_are_listed_ranked_with_the_feeds_in_trouble(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = xinbao(capsys, "leads")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "订阅 人民网 读取失败 1 次：服务器返回 503"
    assert lines[1].startswith("编号")
    assert "新荣区追回欠薪38.6万元" in lines[2] and "欠薪" in lines[2]  # matched first
    assert "今日天气晴" in lines[3]
    code, out, _ = xinbao(capsys, "--json", "leads", "--match", "天气")
    assert [lead["title"] for lead in json.loads(out)] == ["今日天气晴"]


def test_keep_dismiss_draft_and_the_refusals(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    found = json.loads(xinbao(capsys, "--json", "leads")[1])
    wage, weather = found[0]["id"], found[1]["id"]
    assert (
        xinbao(capsys, "lead", "dismiss", str(weather))[1]
        == f"已忽略线索 {weather}「今日天气晴」\n"
    )
    assert [lead["id"] for lead in json.loads(xinbao(capsys, "--json", "leads")[1])] == [wage]
    assert len(json.loads(xinbao(capsys, "--json", "leads", "--all")[1])) == 2
    assert xinbao(capsys, "lead", "keep", str(wage))[0] == 0
    code, out, _ = xinbao(capsys, "lead", "draft", str(wage))
    assert code == 0 and out.startswith(f"已把线索 {wage} 写成信息 140212-")
    item_id = out.split("写成信息 ")[1].split("「")[0]
    code, out, _ = xinbao(capsys, "--json", "show", item_id)
    shown = json.loads(out)
    assert "（线索来源：大同日报，https://dt/b）" in json.dumps(shown, ensure_ascii=False)
    code, out, _ = xinbao(capsys, "lead", "show", str(wage))
    assert f"已写成信息 {item_id}" in out and "命中：欠薪" in out
    code, out, err = xinbao(capsys, "lead", "dismiss", str(wage))
    assert code == 1 and out == "" and err == f"xinbao: 错误：线索 {wage} 已写成信息 {item_id}\n"
    code, _, err = xinbao(capsys, "lead", "keep", "999")
    assert code == 1 and err == "xinbao: 错误：没有线索 999\n"
