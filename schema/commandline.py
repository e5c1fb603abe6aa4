"""Conventions both command lines share (DESIGN.md §4): ``--home`` and ``--json`` anywhere,
one-line Chinese errors on stderr with a non-zero exit, JSON output for scripts.

Only argument plumbing lives here; each program's commands live in its own package.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import os
import pwd
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, NoReturn

import platformdirs

from schema.clock import to_text
from schema.error import XinbaoError, reason
from schema.node import NodeHome

EXIT_ERROR = 1
EXIT_USAGE = 2


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help layout with a Chinese ``用法：`` line."""

    def add_usage(
        self,
        usage: str | None,
        actions: Iterable[argparse.Action],
        groups: Iterable[argparse._MutuallyExclusiveGroup],
        prefix: str | None = None,
    ) -> None:
        """The usage line, headed ``用法：`` rather than argparse's English ``usage:``."""
        super().add_usage(usage, actions, groups, "用法：" if prefix is None else prefix)

    def start_section(self, heading: str | None) -> None:
        if heading:
            self._headings = {*getattr(self, "_headings", ()), heading}
        super().start_section(heading)

    def format_help(self) -> str:
        """The help, each section heading ended by a full-width colon (``选项：``, as the
        usage line's ``用法：``), not argparse's ASCII one."""
        text = super().format_help()
        for heading in getattr(self, "_headings", ()):
            text = re.sub(rf"(?m)^( *){re.escape(heading)}:$", rf"\g<1>{heading}：", text)
        return text


# argparse's own headings (its gettext strings), as a desk reads them
_GROUP_TITLES = {"positional arguments": "位置参数", "options": "选项"}


# argparse's usage errors (its gettext strings), as a desk reads them; what is left of an ASCII
# ": " after these becomes a full-width colon
_USAGE_ERRORS = (
    (r" ?\(choose from (.*)\)", r"（可选：\1）"),
    (r"^argument ([^:]+): ", r"参数 \1："),
    (r"the following arguments are required: ", "缺少参数："),
    (r"one of the arguments (.*) is required", r"须给出以下参数之一：\1"),
    (r"unrecognized arguments: ", "无法识别的参数："),
    (r"invalid choice: ", "无效的选择："),
    (r"invalid \w+ value: ", "值无效："),
    (r"expected one argument", "需要一个值"),
    (r"expected at least one argument", "至少需要一个值"),
    (r"expected at most one argument", "最多一个值"),
    (r"not allowed with argument (.*)", r"不能与参数 \1 同用"),
    (r"ambiguous option: (\S+) could match (.*)", r"选项不明确：\1 可能是 \2"),
    (r"ignored explicit argument (.*)", r"多余的值：\1"),
)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that speaks Chinese: its ``--help`` (headings, ``-h``, usage line) and
    its usage errors, one line on stderr. Subcommands inherit it: ``add_subparsers`` makes
    parsers of the parent's class.

    argparse's English comes from ``gettext`` with no Chinese catalogue shipped, and patching
    ``argparse._`` would change every parser in the process, so the few strings a desk sees are
    replaced here instead."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        add_help = kwargs.pop("add_help", True)
        parents = kwargs.pop("parents", [])
        super().__init__(*args, add_help=False, **kwargs)
        if add_help:  # first, as argparse puts it, and before the parents' options
            self.add_argument(
                "-h", "--help", action="help", default=argparse.SUPPRESS, help="显示本帮助并退出"
            )
        for parent in parents:  # what argparse does with parents=, after -h
            self._add_container_actions(parent)
            self._defaults.update(parent._defaults)

    def add_argument_group(self, *args: Any, **kwargs: Any) -> argparse._ArgumentGroup:
        """A group of options; argparse's own two are titled in Chinese."""
        title = kwargs.get("title", args[0] if args else None)
        if title in _GROUP_TITLES:
            kwargs["title"] = _GROUP_TITLES[title]
            args = args[1:]
        return super().add_argument_group(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        """An argument; a positional without a metavar is shown in capitals like an option's
        value (``ID``, ``FILE``), not as its lower-case English ``dest``."""
        if args and not args[0].startswith(tuple(self.prefix_chars)) and "metavar" not in kwargs:
            kwargs["metavar"] = str(kwargs.get("dest", args[0])).upper()
        return super().add_argument(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """Report a usage error in one line and exit 2."""
        translated = message
        for english, chinese in _USAGE_ERRORS:
            translated = re.sub(english, chinese, translated)
        translated = translated.replace(": ", "：")
        print(f"{self.prog}: 参数错误：{translated}（--help 查看用法）", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def global_options(*, top: bool) -> Parser:
    """``--home`` and ``--json``; on subcommands they do not overwrite values given earlier."""
    parser = Parser(add_help=False)
    extra: dict[str, Any] = {} if top else {"default": argparse.SUPPRESS}
    parser.add_argument(
        "--home", type=Path, help="节点目录（默认 $XINBAO_HOME，否则系统数据目录）", **extra
    )
    parser.add_argument("--json", action="store_true", help="以 JSON 输出，供脚本使用", **extra)
    return parser


def resolve_home(given: Path | None) -> NodeHome:
    """The node home: ``--home``, else ``$XINBAO_HOME``, else the platform data dir."""
    if given is not None:
        return NodeHome(given.expanduser())
    env = os.environ.get("XINBAO_HOME")
    if env:
        return NodeHome(Path(env).expanduser())
    return NodeHome(Path(platformdirs.user_data_dir("xinbao")))


def current_user() -> str:
    """The OS account running this program: the actor at a local desk. Never ``$USER`` or
    ``$LOGNAME``, which are whatever the caller says (over SSH the person is the key:
    ``xinbao --as NAME ssh``)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # an account with no passwd entry (a container's arbitrary uid)
        return f"uid{os.getuid()}"


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums, datetimes, dates, exact numbers (points) and paths turned into plain
    JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return to_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Fraction | Decimal):  # points: a whole number, else its decimal
        return int(value) if value == int(value) else round(float(value), 6)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    return value


def emit_json(value: Any) -> None:
    """Print ``value`` as JSON (UTF-8, Chinese unescaped)."""
    print(json.dumps(to_jsonable(value), ensure_ascii=False, indent=2))


def run(
    prog: str, handler: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None
) -> int:
    """Run ``handler``, turning every error into one line on stderr and an exit code.

    Files made meanwhile are this account's alone (umask 077): the store, its journal, keys,
    spool and exports of a node home are never readable by another account."""
    os.umask(0o077)
    try:
        return handler(argv)
    except XinbaoError as exc:
        print(f"{prog}: 错误：{exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{prog}: 已中断", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        print(f"{prog}: 错误：{reason(exc)}（{exc.filename or ''}）", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:
        # a database fault outside Store.write() (which turns its own into StoreError): one
        # line in Chinese, not a traceback (sqlite3 is looked up, not imported: --help stays
        # fast)
        found = sys.modules.get("sqlite3")
        if found is None or not isinstance(exc, found.Error):
            raise
        print(f"{prog}: 错误：{database_fault(exc)}", file=sys.stderr)
        return EXIT_ERROR


def database_fault(exc: BaseException) -> str:
    """A SQLite error as desk staff read it."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return "数据库正忙（另一个程序正在写入），请稍后再试"
    if "malformed" in text or "not a database" in text:
        return f"数据库文件已损坏，请联系管理员从备份恢复（{text}）"
    if "readonly" in text or "read-only" in text:
        return f"数据库不可写（{text}）"
    if "disk" in text and "full" in text:
        return "磁盘已满，数据库无法写入"
    return f"数据库出错：{text}"
