"""Every string a desk user can see is Chinese (issue 16): the ``--help`` of both programs and
of each of their commands, and the English that Textual's own widgets bring (the command
palette, the Select's pop-up list, Ctrl+C)."""

from __future__ import annotations

import argparse
import errno
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.command import CommandList, CommandPalette
from textual.widgets import Input, Select
from textual.widgets._select import SelectOverlay

from console import cli as desk_cli
from console.app import DeskApp
from console.screen.compose import ComposeScreen
from schema.attachment import Attachments
from schema.commandline import Parser
from schema.desk import Desk
from schema.error import ValidationError, reason
from schema.itemfile import load_mapping
from schema.network import add_units
from schema.scoring import shipped_rule_sets
from schema.store import Store
from schema.vocabulary import Role, Tier
from syncd import cli as syncd_cli
from tests.conftest import CITY, COUNTY, Ticking

# Latin words a Chinese help may hold: what the user types or names a format, never prose
PROGRAMS = {"xinbao", "xinbao-syncd", "xinbao-syncd-", "ssh", "sshd", "systemctl"}
# systemctl's verbs as the help quotes its command lines
SYSTEMCTL = {"daemon-reload", "enable", "disable"}
FORMATS = {"Markdown", "Word", "systemd", "http", "md", "docx", "toml", "json", "ssh-ed25519"}
WORD = re.compile(r"[-$./]*[A-Za-z][A-Za-z0-9_.\-/]*")


def parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """``parser`` and every parser below it, each once."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from parsers(sub)


def typed(parser: argparse.ArgumentParser) -> set[str]:
    """What a user types on this command line: command names and the values of choices."""
    found: set[str] = set()
    for each in parsers(parser):
        for action in each._actions:
            found.update(str(choice) for choice in action.choices or ())
    return found


def allowed(word: str, commands: set[str]) -> bool:
    return (
        word.startswith(("-", "$", ".", "/"))  # options, variables, suffixes, paths
        or "/" in word  # a path
        or word.endswith((".toml", ".json", ".md", ".docx", ".service"))  # a file name
        or (word.isascii() and word.isupper())  # a metavar (ID, FILE) or a format (TOML)
        or any(ch.isdigit() for ch in word)  # an id or a code
        or word in PROGRAMS | SYSTEMCTL | FORMATS | commands
        or word in {t.name.lower() for t in Tier}  # `--tier` values, typed as they are
        or word in shipped_rule_sets()  # `--rules` names
    )


BUILDERS: list[Callable[[], Parser]] = [desk_cli.build_parser, syncd_cli.build_parser]


@pytest.mark.parametrize("build", BUILDERS, ids=["xinbao", "xinbao-syncd"])
def test_every_help_is_chinese(build: Callable[[], Parser]) -> None:
    top = build()
    commands = typed(top)
    seen = 0
    for parser in parsers(top):
        assert isinstance(parser, Parser)  # subcommands inherit the Chinese parser
        text = parser.format_help()
        english = sorted({w for w in WORD.findall(text) if not allowed(w, commands)})
        assert not english, f"{parser.prog} --help: {english}\n{text}"
        assert text.startswith("用法：") and "显示本帮助并退出" in text
        headings = [line for line in text.splitlines() if line.rstrip().endswith(":")]
        assert not headings, f"{parser.prog} --help: ASCII colon after {headings}"
        seen += 1
    assert seen > 10


@pytest.mark.parametrize(
    ("main", "argv"),
    [
        (desk_cli.main, ["--help"]),
        (desk_cli.main, ["issue", "export", "--help"]),
        (syncd_cli.main, ["-h"]),
        (syncd_cli.main, ["user", "key", "add", "--help"]),
    ],
)
def test_help_runs_in_chinese(
    main: Callable[[list[str]], None], argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("用法：") and "选项" in out
    for english in ("usage:", "positional arguments", "options:", "show this help"):
        assert english not in out


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["issue", "export", "1", "--format", "pdf"], "参数 --format：无效的选择：'pdf'（可选："),
        (["list", "--bogus"], "无法识别的参数：--bogus"),
        (["submit"], "缺少参数：FILE"),
        (["list", "--limit", "many"], "参数 --limit：值无效：'many'"),
        (["list", "--limit"], "参数 --limit：需要一个值"),
    ],
)
def test_usage_errors_are_chinese(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        desk_cli.build_parser().parse_args(argv)
    err = capsys.readouterr().err
    assert said in err, err
    _, _, message = err.partition(": ")  # after the program's name, no ASCII colon
    rest = re.sub(r"--[\w-]+|'[^']*'|\b[A-Z]{2,}\b", "", message)  # options, values, FILE
    assert ":" not in message and not re.search(r"[A-Za-z]{2,}", rest), err


@pytest.mark.parametrize(
    ("text", "name", "said"),
    [
        ('title = "x\n"\n', "bad.toml", "不是有效的 TOML（第 1 行第 11 列：含有不允许的字符）"),
        ("title = [1, 2\n", "bad.toml", "不是有效的 TOML（文件末尾：数组缺少“]”）"),
        ("a = 1\na = 2\n", "bad.toml", "不是有效的 TOML（第 2 行第 6 列：重复赋值）"),
        ('{"title": }', "bad.json", "不是有效的 JSON（第 1 行第 11 列：缺少值）"),
        ("{title: 1}", "bad.json", "不是有效的 JSON（第 1 行第 2 列：键名须用双引号括起）"),
    ],
)
def test_a_broken_item_file_is_told_in_chinese(
    text: str, name: str, said: str, tmp_path: Path
) -> None:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    with pytest.raises(ValidationError) as refused:
        load_mapping(path, "信息文件")
    assert said in str(refused.value), refused.value
    rest = re.sub(r"\b(TOML|JSON)\b", "", str(refused.value))
    assert not re.search(r"[A-Za-z]{2,}", rest), refused.value


def test_file_errors_are_told_in_chinese(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(OSError) as gone:
        missing.read_text()
    assert reason(gone.value) == "文件或目录不存在"
    with pytest.raises(OSError) as folder:
        tmp_path.read_text()  # type: ignore[attr-defined]
    assert reason(folder.value) == "这是一个目录，不是文件"
    assert reason(OSError(errno.ENOSPC, "No space left on device")) == "磁盘空间不足"
    assert reason(OSError(errno.ENOTSUP, "Operation not supported")) == "系统错误 ENOTSUP"
    with pytest.raises(UnicodeDecodeError) as garbled:
        b"\xff".decode("utf-8")
    assert reason(garbled.value) == "不是 UTF-8 编码的文本"


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    store = Store.open(tmp_path / "county.db")
    add_units(store, [CITY, COUNTY])
    return Desk(store, COUNTY, "李四", frozenset(Role), Ticking())


@pytest.mark.anyio
async def test_the_command_palette_and_ctrl_c_speak_chinese(desk: Desk, tmp_path: Path) -> None:
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+c")
        await pilot.pause()
        notes = [(n.title, n.message) for n in app._notifications]
        assert notes == [("要退出吗？", "按 [b]Ctrl+Q[/b] 退出工作台")]

        await pilot.press("ctrl+p")
        await pilot.pause()
        assert CommandPalette.is_open(app)
        search = app.screen.query_one(Input)
        assert search.placeholder == "搜索命令…"
        shown = [b.description for _, b in app.screen._bindings if b.show]
        assert shown == ["关闭命令面板"]
        await pilot.press(*"zzzq")
        await pilot.pause(0.8)  # the palette says "no matches" after half a second
        prompts = [str(o.prompt.renderable) for o in app.screen.query_one(CommandList).options]
        assert prompts == ["没有匹配的命令"]


@pytest.mark.anyio
async def test_the_select_list_speaks_chinese(desk: Desk, tmp_path: Path) -> None:
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    bindings = SelectOverlay._merged_bindings or ()
    assert [b.description for _, b in bindings if b.show] == ["收起列表"]
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = ComposeScreen(desk)
        app.push_screen(screen)
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        screen.query(Select).first().focus()
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.focused, SelectOverlay)
        shown = [b.binding.description for b in app.screen.active_bindings.values()]
        assert "收起列表" in shown and "Dismiss menu" not in shown
