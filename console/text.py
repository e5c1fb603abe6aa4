"""Plain-text layout for terminals: CJK characters are two cells wide."""

from __future__ import annotations

import unicodedata


def unbroken(text: str) -> str:
    """``text`` with its ASCII spaces made no-break: Chinese wraps between any two characters,
    and a line broken at the space in “少于 80 字” leaves the number alone at its end."""
    return text.replace(" ", "\u00a0")


def cell_width(text: str) -> int:
    """Terminal cells ``text`` occupies (wide and full-width characters count 2)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


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
