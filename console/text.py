"""Plain-text layout for terminals: CJK characters are two cells wide."""

from __future__ import annotations

import unicodedata

from rich.cells import cell_len

# 避头尾 (GB/T 15834 and common typesetting): what never begins a line, what never ends one
NO_LINE_START = frozenset("，。、；：？！）》」』】〕〉”’…—～·%‰℃,.;:?!)]}")
NO_LINE_END = frozenset("（《「『【〔〈“‘([{")


def unbroken(text: str) -> str:
    """``text`` with its ASCII spaces made no-break: Chinese wraps between any two characters,
    and a line broken at the space in “少于 80 字” leaves the number alone at its end."""
    return text.replace(" ", "\u00a0")


def cell_width(text: str) -> int:
    """Terminal cells ``text`` occupies (wide and full-width characters count 2): Rich's
    count, which Textual draws by (and caches: an inbox line is measured on every frame)."""
    return cell_len(text)


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells (with … when cut) and padded to exactly ``width``."""
    if cell_width(text) > width:
        out, used = [], 0
        for ch in text:
            w = cell_width(ch)
            if used + w > width - 1:
                break
            out.append(ch)
            used += w
        text = "".join(out) + "…"
    return text + " " * max(0, width - cell_width(text))


def column(text: str, width: int) -> str:
    """A table column ``width`` cells wide whose text never touches the next one: cut (with …)
    to ``width - 1`` and always followed by at least one space (“退回修改 12-07”, never
    “退回修改12-07”)."""
    return fit(text, width - 1) + " "


def _wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in "WF"


def line_breaks(text: str, width: int) -> list[int]:
    """Where to break ``text`` (offsets of the characters that begin new lines) so that each
    line fits ``width`` cells, as Chinese is set: a line may break between any two Chinese
    characters and after a space, never inside a run of Latin letters or digits (unless it is
    longer than a line), never at a no-break space, and never before a closing mark (，。）) or
    after an opening one (“《) — so the character before a comma goes down with it (避头尾).
    Spaces at the end of a line hang past it, as Rich and Textual crop them."""
    found: list[int] = []
    start = used = 0
    last = -1  # the latest offset after ``start`` a new line may begin at
    for i, ch in enumerate(text):
        before = text[i - 1] if i else ""
        if (
            i > start
            and ch != " "
            and "\u00a0" not in (ch, before)  # a no-break space holds its neighbours
            and (before == " " or _wide(ch) or _wide(before))
            and ch not in NO_LINE_START
            and before not in NO_LINE_END
        ):
            last = i
        if ch == " ":
            used += 1
            continue
        w = 2 if _wide(ch) else 1
        if used + w <= width or i == start:
            used += w
            continue
        at = last if last > start else i  # nowhere to break: a run longer than the line folds
        found.append(at)
        start, last = at, -1
        used = sum(2 if _wide(c) else 1 for c in text[start : i + 1])
        if at < i and (text[at] == " " or used > width):  # never: ``last`` was on this line
            found[-1] = start = i
            used = w
    return found
