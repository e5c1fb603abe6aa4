"""Desk input limits (``schema/data/input.toml``): how large, how deep and how long what a
desk is handed may be, and which characters its texts may hold.

A desk reads files written by people and scripts it does not control, and a node applies
items and requests sent by nodes it does not control; both meet the same limits. A file is
measured before it is parsed — its size by ``stat`` and a bounded read, then its nesting and
its number of keys by a scan of its brackets, dots and commas — so a hostile file is refused
at once, in one line naming it: neither parser is ever handed something that makes it recurse
past Python's limit or run for minutes (tomllib is quadratic in the parts of a dotted key).
Then every text of the parsed document is checked, wherever it came from: its length, and no
control characters, bidi overrides or unpaired surrogates; one-line texts no line breaks or
tabs. The limits are data (``input.toml``); which characters are refused is not.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from schema.datafile import data_text
from schema.error import ConfigError, ValidationError, reason

# Refused in every text: C0 controls but tab and line feed (a carriage return only as the
# first half of CRLF, which a multi-line field reads as one line break), DEL, C1, unpaired
# surrogates (JSON may spell them; no UTF-8 store or bundle can hold them) and the bidi
# embeddings, overrides and isolates that make text display other than it reads.
_ANY_TEXT = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]|\r(?!\n)"
)
# A one-line text (a title, a name, a place) also holds no line break of any kind, nor a tab.
_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_BREAKS = "\n\r\u2028\u2029"
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")

# The tokens of a TOML document that matter to its shape: strings and comments are consumed
# whole, so that brackets inside them are not counted; a run of line ends (with blank and comment
# lines) is one token, a bare key or scalar (dots and all) another. Possessive quantifiers: an
# unterminated string cannot make the scan backtrack.
_TOML_TOKEN = re.compile(
    r'"""(?:[^"\\]++|\\[\s\S]|"{1,2}+(?!"))*+"{3,5}'
    r"|'''(?:[^']++|'{1,2}+(?!'))*+'{3,5}"
    r'|"(?:[^"\\\n]++|\\.)*+"'
    r"|'[^'\n]*+'"
    r"|(?:\#[^\n]*+)?\n(?:[ \t\r]*+(?:\#[^\n]*+)?\n)*+"
    r"|\#[^\n]*+"
    r"|[\[\]{}=,]"
    r"|[^\s\[\]{}=,\"'\#]++"
)
_JSON_TOKEN = re.compile(r'"(?:[^"\\]++|\\[\s\S])*+"|[\[\]{}:,]')
_OPENS_AFTER = frozenset("[{,:")  # in JSON a value starts only after one of these (or first)


@dataclass(frozen=True)
class InputLimits:
    """The limits of ``schema/data/input.toml``."""

    max_bytes: int
    max_depth: int
    max_entries: int
    line_chars: int
    text_chars: int
    multi_line: frozenset[str]
    chars: Mapping[str, int]

    @classmethod
    def load(cls, path: Path | None = None) -> InputLimits:
        """The limits in ``path``, or the shipped ones; every bad key is named."""
        text, where = data_text("input.toml", path)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{where} 不是有效的 TOML（{reason(exc)}）"]) from exc
        problems: list[str] = []

        def count(value: object, key: str) -> int:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(f"{where}：{key} 应为正整数")
                return 1
            return value

        multi = data.get("multi_line", [])
        if not isinstance(multi, list) or not all(isinstance(m, str) for m in multi):
            problems.append(f"{where}：multi_line 应为字段名的列表")
            multi = []
        chars = data.get("chars", {})
        if not isinstance(chars, dict):
            problems.append(f"{where}：chars 应为键值表 [chars]")
            chars = {}
        limits = cls(
            max_bytes=count(data.get("max_bytes"), "max_bytes"),
            max_depth=count(data.get("max_depth"), "max_depth"),
            max_entries=count(data.get("max_entries"), "max_entries"),
            line_chars=count(data.get("line_chars"), "line_chars"),
            text_chars=count(data.get("text_chars"), "text_chars"),
            multi_line=frozenset(multi),
            chars={str(k): count(v, f"chars.{k}") for k, v in chars.items()},
        )
        if problems:
            raise ConfigError(problems)
        return limits

    def is_multi_line(self, field: str) -> bool:
        """Whether ``field`` may hold line breaks and tabs."""
        return field in self.multi_line

    def chars_of(self, field: str) -> int:
        """The longest text ``field`` may hold, in characters."""
        default = self.text_chars if self.is_multi_line(field) else self.line_chars
        return self.chars.get(field, default)


@lru_cache(maxsize=1)
def shipped_limits() -> InputLimits:
    """The limits shipped in ``schema/data/input.toml`` (read once)."""
    return InputLimits.load()


# -- files, before they are parsed --------------------------------------------------------------


def read_bounded(path: Path, limits: InputLimits) -> bytes:
    """The bytes of ``path``, refused unread when its size says it is too large, and refused
    when it yields more than the limit anyway (a pipe, a device, a file still growing)."""
    shown = shown_name(path)
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > limits.max_bytes:
                raise ValidationError("", f"{shown}：文件过大（{_sizes(size, limits.max_bytes)}）")
            raw = fh.read(limits.max_bytes + 1)
    except OSError as exc:
        raise ValidationError(
            "", f"无法读取文件 {shown_name(path, whole=True)}：{reason(exc)}"
        ) from exc
    if len(raw) > limits.max_bytes:
        raise ValidationError("", f"{shown}：文件过大（超过上限 {_size(limits.max_bytes)}）")
    return raw


def scan_json(text: str, shown: str, limits: InputLimits) -> None:
    """Refuse a JSON text nested deeper, or with more keys and list entries, than the limits
    allow, before ``json`` is asked to parse it. Keys and commas in arrays are counted (a lower
    bound: an array of n entries has n − 1 commas; the walk after parsing counts exactly).
    The scan stops where the text stops being JSON: the parser refuses it there."""
    stack: list[str] = []
    entries = 0
    previous = ","
    budget = _budget(limits)
    for count, match in enumerate(_JSON_TOKEN.finditer(text)):
        token = match.group()
        first = token[0]
        if first in '"[{' and previous not in _OPENS_AFTER:
            return  # two values in a row
        if first in "[{":
            stack.append(first)
            if len(stack) > limits.max_depth:
                raise _too_deep(shown, limits)
        elif first in "]}":
            if not stack:
                return
            stack.pop()
        elif first == ":" or (first == "," and stack and stack[-1] == "["):
            entries += 1
            if entries > limits.max_entries:
                raise _too_many(shown, limits)
        previous = first
        if count > budget:
            raise _too_busy(shown, limits)


def scan_toml(text: str, shown: str, limits: InputLimits) -> None:
    """Refuse a TOML text nested deeper, or with more keys and list entries, than the limits
    allow, before ``tomllib`` is asked to parse it.

    Depth counts what parsing makes of the text: ``[a.b]`` is a table two levels below the
    top, ``[[a]]`` a table in a list, each dot of a key ``x.y = 1`` a table, and each ``[`` or
    ``{`` of a value a level more. Keys, headers and commas in arrays are counted as entries
    (a lower bound; the walk after parsing counts exactly). The scan stops where the text
    stops being TOML: the parser refuses it there, and parses nothing after it.
    """
    stack: list[tuple[str, int]] = []  # open arrays and inline tables, with their depth
    table = 1  # depth of the table the last [header] opened; the document is level 1
    at_key = True  # a key (or a header) may start here
    header = 0  # inside [header]: 1; inside [[header]]: 2, and 3 once its first ] is read
    dots = 0  # dots in the key or header being read
    value_depth = 0  # depth of the container a value being read sits in
    entries = 0
    budget = _budget(limits)
    for count, match in enumerate(_TOML_TOKEN.finditer(text)):
        token = match.group()
        first = token[0]
        if count > budget:
            raise _too_busy(shown, limits)
        if first in "\n#":
            if token[-1] == "\n" and not stack:
                at_key, dots = True, 0
        elif first not in "[]{}=,":  # a bare key or scalar, or a string
            if (at_key or header) and first not in "\"'":
                dots += token.count(".")
                deepest = (
                    2 + dots + (1 if header > 1 else 0)
                    if header
                    else _key_depth(stack, table) + dots
                )
                if deepest > limits.max_depth:
                    raise _too_deep(shown, limits)
        elif first == "=":
            if not at_key:
                return
            value_depth = _key_depth(stack, table) + dots
            at_key, dots = False, 0
            entries += 1
        elif first == "[" and header:
            continue  # the second bracket of [[
        elif first == "[" and at_key and not stack:
            header = 2 if text.startswith("[[", match.start()) else 1
            dots = 0
        elif first == "]" and header:
            if header == 2 and text.startswith("]]", match.start()):
                header = 3  # the second ] closes it
                continue
            table = 2 + dots + (1 if header == 3 else 0)
            if table > limits.max_depth:
                raise _too_deep(shown, limits)
            header, at_key, dots = 0, False, 0
            entries += 1
        elif first in "[{" and not at_key:
            depth = value_depth + 1
            if depth > limits.max_depth:
                raise _too_deep(shown, limits)
            stack.append((first, depth))
            value_depth = depth
            if first == "{":
                at_key, dots = True, 0
        elif first in "]}":
            if not stack:
                return
            stack.pop()
            if stack and stack[-1][0] == "[":
                value_depth = stack[-1][1]
            at_key = False
        elif first == "," and stack:
            if stack[-1][0] == "[":
                entries += 1
            else:
                at_key, dots = True, 0
        if entries > limits.max_entries:
            raise _too_many(shown, limits)


def _key_depth(stack: list[tuple[str, int]], table: int) -> int:
    """The depth of the table a key being read goes into (before its own dots)."""
    return stack[-1][1] if stack else table


def _budget(limits: InputLimits) -> int:
    """How many tokens a scan reads at most. A document within the limits has at most ~25 per
    entry (a dotted key part by part, its value, a comma, a line end); eight times as many
    leaves room to spare and keeps a scan of any file in the tens of milliseconds."""
    return 8 * (limits.max_entries + 1) * (limits.max_depth + 2)


def _too_busy(shown: str, limits: InputLimits) -> ValidationError:
    return ValidationError("", f"{shown}：结构过于繁杂（超过 {_budget(limits)} 个记号）")


def _too_deep(shown: str, limits: InputLimits) -> ValidationError:
    return ValidationError("", f"{shown}：嵌套过深（超过 {limits.max_depth} 层）")


def _too_many(shown: str, limits: InputLimits) -> ValidationError:
    return ValidationError("", f"{shown}：字段和列表项过多（超过 {limits.max_entries} 个）")


# -- documents, once parsed ---------------------------------------------------------------------


def check_document(
    data: Mapping[str, Any],
    limits: InputLimits | None = None,
    *,
    texts: bool = True,
    shown: str = "",
) -> None:
    """Refuse a parsed document (a file's, or an item or request received from another node)
    nested deeper or holding more keys and list entries than the limits allow, or — unless
    ``texts`` is false — a text breaking :func:`check_text`. Fields are named by their keys
    joined with dots (``incident.place``); list entries by their list's name. ``shown`` names
    the file in the messages about its shape."""
    limits = limits or shipped_limits()
    entries = 0

    def walk(value: object, field: str, depth: int) -> None:
        nonlocal entries
        if isinstance(value, str):
            if texts:
                check_text(field, value, limits)
            return
        if not isinstance(value, Mapping | list | tuple):
            return
        if depth > limits.max_depth:
            if shown:
                raise _too_deep(shown, limits)
            raise ValidationError(field, f"嵌套过深（上限 {limits.max_depth} 层）")
        entries += len(value)
        if entries > limits.max_entries:
            if shown:
                raise _too_many(shown, limits)
            raise ValidationError(field, f"字段和列表项过多（上限 {limits.max_entries} 个）")
        if isinstance(value, Mapping):
            for key, inner in value.items():
                name = _key(key, field, limits)
                walk(inner, f"{field}.{name}" if field else name, depth + 1)
        else:
            for inner in value:
                walk(inner, field, depth + 1)

    walk(data, "", 1)


def _key(key: object, parent: str, limits: InputLimits) -> str:
    """A key checked as a one-line text before it is used in a message."""
    if not isinstance(key, str):
        raise ValidationError(parent, f"字段名应为文字，实际为 {type(key).__name__}")
    problem = text_problem(key, limits.line_chars, multi_line=False)
    if problem:
        raise ValidationError(escaped(key[: limits.line_chars]), f"字段名{problem}")
    return key


def check_text(field: str, value: str, limits: InputLimits | None = None) -> None:
    """Refuse a text too long for ``field``, or holding a character it may not hold."""
    limits = limits or shipped_limits()
    problem = text_problem(value, limits.chars_of(field), multi_line=limits.is_multi_line(field))
    if problem:
        raise ValidationError(field, problem)


def text_problem(value: str, chars: int, *, multi_line: bool) -> str:
    """What is wrong with ``value`` as a text of at most ``chars`` characters, or ""."""
    if len(value) > chars:
        return f"过长（{len(value)} 字，上限 {chars} 字）"
    found = (_ANY_TEXT if multi_line else _ONE_LINE).search(value)
    if found is None:
        return ""
    char = found.group()[0]
    code = f"U+{ord(char):04X}"
    if char in _BREAKS and not multi_line:
        return f"不能换行（应为一行文字，{code}）"
    if 0xD800 <= ord(char) <= 0xDFFF:
        return f"含有无效字符（{code}，不成对的代理码位）"
    if _BIDI.match(char):
        return f"不能包含双向文字控制符（{code}）"
    return f"不能包含控制字符（{code}）"


# -- naming files and sizes in messages ---------------------------------------------------------


def shown_name(path: Path, *, whole: bool = False) -> str:
    """A file's name (or ``whole`` path) as a message may show it: one line, whatever it holds."""
    return escaped(str(path) if whole else path.name)


def escaped(text: str) -> str:
    """``text`` with every character a one-line text may not hold spelled as ``\\uXXXX``."""
    return _ONE_LINE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _sizes(size: int, limit: int) -> str:
    """The size to a tenth and the limit as written ("12.0 MB，上限 1 MB"); both in bytes
    when that would show them equal."""
    shown, cap = _size(size, tenths=True), _size(limit)
    (amount, unit), (cap_amount, cap_unit) = shown.split(), cap.split()
    if unit == cap_unit and float(amount) == float(cap_amount):
        return f"{size} 字节，上限 {limit} 字节"
    return f"{shown}，上限 {cap}"


def _size(n: int, *, tenths: bool = False) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            if tenths or n % scale:
                return f"{n / scale:.1f} {unit}"
            return f"{n // scale} {unit}"
    return f"{n} 字节"
