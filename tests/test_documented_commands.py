"""Every command the README and the data files' comments name exists: ``xinbao X`` and
``xinbao-syncd X`` in backticks are parsed against the two command lines' own parsers, so a
renamed or never-built subcommand (``xinbao publication add``) is caught where it is written."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from console.cli import build_parser as desk_parser
from syncd.cli import build_parser as daemon_parser

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [
    ROOT / "README.md",
    *sorted((ROOT / "schema" / "data").glob("*.toml")),
    *sorted((ROOT / "syncd" / "data").glob("*")),
]
MENTION = re.compile(r"`(xinbao(?:-syncd)?)((?: [^`]*)?)`")


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps its subparsers here and nowhere public
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def named(parser: argparse.ArgumentParser, words: list[str]) -> list[str]:
    """The words of a mentioned command line that name its subcommands: its options (and
    their values) left out."""
    options = parser._option_string_actions
    out: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word.startswith("-"):
            action = options.get(word.split("=")[0])
            skip = action is not None and action.nargs != 0 and "=" not in word
        else:
            out.append(word)
    return out


def mentions() -> list[tuple[str, str, str]]:
    found = []
    for path in SOURCES:
        if path.is_file():
            for program, rest in MENTION.findall(path.read_text("utf-8")):
                found.append((path.name, program, rest.strip()))
    return found


def most_positionals(parser: argparse.ArgumentParser) -> float:
    """How many words a command takes besides its options."""
    counts = {None: 1, "?": 1, "*": float("inf"), "+": float("inf")}
    return sum(
        counts.get(a.nargs, float("inf")) if not isinstance(a.nargs, int) else a.nargs
        for a in parser._actions
        if not a.option_strings and not isinstance(a, argparse._SubParsersAction)
    )


def check(parser: argparse.ArgumentParser, words: list[str], shown: str) -> None:
    words = named(parser, words)
    commands = subcommands(parser)
    if commands:
        if not words or words[0] in ("…", "...") or words[0].isupper():
            return  # the program alone, or a placeholder
        for name in words[0].split("|"):  # `list|show|console`
            assert name in commands, f"{shown} — no subcommand {name!r}"
            check(commands[name], words[1:], shown)
    else:
        assert len(words) <= most_positionals(parser), f"{shown} — too many words {words}"


@pytest.mark.parametrize(("where", "program", "rest"), mentions())
def test_a_documented_command_exists(where: str, program: str, rest: str) -> None:
    """The subcommand (and its own, as ``user add``) exists and takes as many words as the
    mention gives it (``[...]`` parts are optional and left out)."""
    parser = desk_parser() if program == "xinbao" else daemon_parser()
    words = re.sub(r"\[[^\]]*\]", " ", rest).split()
    check(parser, words, f"{where}: `{program} {rest}`")


def test_the_publication_command_is_documented_as_it_is() -> None:
    text = (ROOT / "schema" / "data" / "publications.toml").read_text("utf-8")
    assert "`xinbao publication NAME" in text and "publication add" not in text
    args = desk_parser().parse_args(["publication", "特刊", "--copies", "20"])
    assert (args.name, args.copies) == ("特刊", 20)
