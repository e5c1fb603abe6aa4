"""``xinbao ssh``: the forced command of a person's SSH key (DESIGN.md §2 "People at the desk").

The node runs under one service account; each person's key in its ``authorized_keys`` forces
``xinbao --home HOME --as NAME --key FINGERPRINT ssh`` (written by ``xinbao-syncd user``, the
model of gitolite and Gitea). With no command asked, the person gets the console; otherwise
``SSH_ORIGINAL_COMMAND`` is split with :mod:`shlex` (never given to a shell) and must be one
desk command. What a person may not choose over SSH:

* who they are (``--as``, ``--key``) and which node (``--home``): the key's line says;
* any path on the node: item and request files come on standard input (``submit -``), output
  goes to standard output (``--out -``), scoring rules only by the name of a shipped set;
* the programs around the desk (a shell, ``xinbao-syncd``, ``demo``).

A refusal is one Chinese line on stderr and exit 2.
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
from pathlib import Path

from schema.limit import shipped_limits

# desk subcommands a person may run over SSH (``console`` is what no command means)
DESK_COMMANDS = frozenset(
    {
        "submit",
        "edit",
        "signoff",
        "request",
        "requests",
        "zero-report",
        "follow-up",
        "issue",
        "publication",
        "list",
        "instruct",
        "feedback",
        "bulletin",
        "similar",
        "mark",
        "show",
        "adopt",
        "return",
        "reserve",
        "reject",
        "bulletins",
        "interview",
        "phone",
        "roster",
        "section",
        "verify",
        "forward",
        "merge",
        "leads",
        "lead",
        "console",
    }
)
_CHOSEN_BY_THE_KEY = ("--home", "--as", "--key")
STDIN = "-"


class Refused(Exception):
    """What a person asked over SSH is not a desk command they may run."""


def requested(environ: dict[str, str]) -> list[str]:
    """The desk command line a person asked for (empty: the console), checked word by word;
    raises :class:`Refused`."""
    line = environ.get("SSH_ORIGINAL_COMMAND", "").strip()
    if not line:
        return []
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise Refused(f"无法解析命令（{_reason(exc)}）") from exc
    if words and Path(words[0]).name == "xinbao":  # ``ssh node xinbao list`` means the same
        words = words[1:]
    for word in words:
        if word.split("=", 1)[0] in _CHOSEN_BY_THE_KEY:
            raise Refused(f"不能通过 SSH 指定 {word.split('=', 1)[0]}（由登录密钥决定）")
    command = next((w for w in words if not w.startswith("-")), "")
    if command not in DESK_COMMANDS:
        shown = command or (words[0] if words else "")
        raise Refused(f"“{shown[:40]}”不是工作台命令（可用：{'、'.join(sorted(DESK_COMMANDS))}）")
    if any(w != "--json" for w in words[: words.index(command)]):
        raise Refused("命令前只能加 --json")
    return words


def confine(args: object) -> None:
    """Refuse parsed arguments that name a path on the node (raises :class:`Refused`)."""
    file = getattr(args, "file", None)
    exporting = getattr(args, "command", "") == "request" and str(file) == "export"
    if file is not None and str(file) != STDIN and not exporting:
        raise Refused("通过 SSH 提交的文件须从标准输入读入：命令中写 -，如 submit - < 信息.toml")
    out = getattr(args, "out", None)
    if out is not None and str(out) != STDIN:
        raise Refused("通过 SSH 导出只能输出到标准输出：--out -")
    rules = getattr(args, "rules", None)
    if rules is not None and ("/" in str(rules) or str(rules).endswith(".toml")):
        raise Refused("通过 SSH 只能使用已有的计分办法名称，不能指定文件")


def stdin_file(folder: Path, what: str) -> Path:
    """Standard input (an item or request file) kept in ``folder``, within the size limit;
    JSON if it starts with ``{``, else TOML."""
    limit = shipped_limits().max_bytes
    data = sys.stdin.buffer.read(limit + 1)
    if len(data) > limit:
        raise Refused(f"标准输入过大（上限 {limit // 1024} KB）")
    suffix = ".json" if data.lstrip()[:1] == b"{" else ".toml"
    path = folder / f"{what}{suffix}"
    path.write_bytes(data)
    return path


def private_folder() -> tempfile.TemporaryDirectory[str]:
    """A folder only this account can read, for standard input kept as a file."""
    return tempfile.TemporaryDirectory(prefix="xinbao-stdin-")


def inside(root: Path, answer: str) -> str:
    """Where a person over SSH asked the console to export: ``answer`` taken inside ``root``
    (their exports folder in the node home), which is made; raises :class:`Refused` for a
    place outside it (another file of the node, the account's keys)."""
    text = answer.strip()
    target = Path(text) if Path(text).is_absolute() else root / text
    resolved, top = target.resolve(), root.resolve()
    if resolved != top and top not in resolved.parents:
        raise Refused(f"通过 SSH 只能导出到 {top} 之内")
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return str(resolved) + ("/" if text.endswith("/") or resolved == top else "")


def owner_ok(home: Path) -> bool:
    """Whether this process runs as the account that owns the node home (the service
    account): only it may act for others, as the forced command does."""
    try:
        return os.stat(home).st_uid == os.getuid()
    except OSError:
        return False


def _reason(exc: ValueError) -> str:
    return "引号不成对" if "quotation" in str(exc) else "格式不符"
