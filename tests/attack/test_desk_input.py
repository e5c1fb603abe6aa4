"""E. Hostile item files at the desk: ``xinbao submit FILE`` on the county's node.

An item file comes from anywhere (a mail attachment, a script, a stick). Whatever it holds,
the desk answers with one line of Chinese on stderr and exit code 1: no traceback, nothing
stored (the outbox, where a submitted draft would wait for sign-off, holds nothing of it), and
in bounded time. The attempts run two at a time (one per core); each file's title carries its
case name, so whatever one of them stored would be found under its own name.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.attack.conftest import CJK, COUNTY, Net, ok
from tests.cli_helpers import Result, run

MIB = 1 << 20
DEPTH = 100_000
SECONDS = 20.0  # the longest a refusal may take, whatever the file
TITLE = "新荣区多措并举保障困难群众温暖过冬"
BODY = "入冬以来，新荣区摸清底数、兜牢底线，困难群众取暖有保障。"


def fields(case: str, **changed: str) -> dict[str, str]:
    data = {"title": f"{TITLE}（{case}）", "category": "经验做法", "author": "张三", "body": BODY}
    return {**data, **changed}


def _toml(values: dict[str, str]) -> str:
    # json.dumps writes a string TOML reads the same (control characters as \\uXXXX escapes)
    return "".join(f"{k} = {json.dumps(v, ensure_ascii=False)}\n" for k, v in values.items())


def nested_toml(folder: Path, case: str) -> Path:
    path = folder / f"{case}.toml"
    path.write_text(_toml(fields(case)) + "extra = " + "[" * DEPTH + "]" * DEPTH + "\n", "utf-8")
    return path


def nested_json(folder: Path, case: str) -> Path:
    path = folder / f"{case}.json"
    head = json.dumps(fields(case), ensure_ascii=False)[:-1]
    path.write_text(head + ', "extra": ' + "[" * DEPTH + "]" * DEPTH + "}", "utf-8")
    return path


def huge_file(folder: Path, case: str) -> Path:
    """A valid item followed by 96 MiB of comment: no desk writes that; a script gone wrong
    or an attacker does."""
    path = folder / f"{case}.toml"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(_toml(fields(case)))
        line = "# " + "填" * 1000 + "\n"
        for _ in range(96 * MIB // len(line.encode())):
            fh.write(line)
    return path


def nul_title_toml(folder: Path, case: str) -> Path:
    path = folder / f"{case}.toml"
    path.write_text(_toml(fields(case, title=f"新荣区\u0000煤矿透水事故（{case}）")), "utf-8")
    return path


def nul_title_json(folder: Path, case: str) -> Path:
    path = folder / f"{case}.json"
    path.write_text(json.dumps(fields(case, title=f"新荣区\u0000煤矿透水事故（{case}）")), "utf-8")
    return path


def ten_mb_body(folder: Path, case: str) -> Path:
    path = folder / f"{case}.toml"
    path.write_text(_toml(fields(case, body="供暖" * (10 * MIB // 6))), "utf-8")  # 10 MiB
    return path


CASES: dict[str, Callable[[Path, str], Path]] = {
    "nested-toml": nested_toml,
    "nested-json": nested_json,
    "huge-file": huge_file,
    "nul-in-title-toml": nul_title_toml,
    "nul-in-title-json": nul_title_json,
    "body-of-10-mb": ten_mb_body,
}


@dataclass
class Attempt:
    done: Result
    seconds: float


@dataclass
class Desk:
    home: Path
    attempts: dict[str, Attempt]
    outbox: list[dict[str, Any]]  # after every attempt


def outbox(home: Path) -> list[dict[str, Any]]:
    listed = run("xinbao", "--json", "list", "--outbox", "--limit", "1000", home=home)
    return list(ok(listed).json())


@pytest.fixture(scope="module")
def desk(net: Net, tmp_path_factory: pytest.TempPathFactory) -> Desk:
    home = net.home(COUNTY)
    folder = tmp_path_factory.mktemp("items")
    paths = {case: make(folder, case) for case, make in CASES.items()}

    def attempt(case: str) -> tuple[str, Attempt]:
        started = time.monotonic()
        done = run("xinbao", "submit", str(paths[case]), home=home)
        return case, Attempt(done, time.monotonic() - started)

    with ThreadPoolExecutor(max_workers=2) as pool:
        attempts = dict(pool.map(attempt, CASES))
    return Desk(home, attempts, outbox(home))


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_item_file_is_one_chinese_line_and_nothing_stored(desk: Desk, case: str) -> None:
    done, seconds = desk.attempts[case].done, desk.attempts[case].seconds
    assert "Traceback" not in done.out + done.err, done.err[-2000:]
    assert done.code == 1, (done.code, done.out[:300], done.err[-500:])
    lines = done.err.strip().splitlines()
    assert len(lines) == 1, done.err[:1000]
    assert CJK.search(lines[0]), lines[0]
    assert len(lines[0]) < 500, "the error line repeats the hostile input"
    assert seconds < SECONDS, f"{seconds:.1f} s to refuse"
    stored = [row["item_id"] for row in desk.outbox if f"（{case}）" in row["title"]]
    assert not stored, f"stored: {stored}"


def test_a_plain_item_file_is_still_taken(desk: Desk, tmp_path: Path) -> None:
    """The control: the same fields without the hostile part make a draft in the outbox."""
    path = tmp_path / "plain.toml"
    path.write_text(_toml(fields("plain")), "utf-8")
    item = ok(run("xinbao", "--json", "submit", str(path), home=desk.home)).json()["id"]
    after = {row["item_id"] for row in outbox(desk.home)}
    assert after == {item} | {row["item_id"] for row in desk.outbox}
