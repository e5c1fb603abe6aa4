"""Chinese full-text search: how text is tokenized for the FTS5 index and how queries match.

SQLite's ``trigram`` tokenizer matches nothing for queries under three characters, and many
Chinese words desks search for are two (煤矿, 透水, 欠薪, 批示). So the index text is prepared
here instead: every CJK character position emits one token — the bigram starting there, or the
character alone at the end of a run — and words of letters or digits are tokens as they are.
A query of n ≥ 2 CJK characters becomes the phrase of its n−1 bigrams (consecutive positions,
so it is a true substring match); a single character becomes a prefix query served by the
index's one-character prefix index.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# CJK ideographs (URO, Ext A, compatibility) plus kana and hangul, searched per character.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
_RUN = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+", re.UNICODE)
_CJK_START = re.compile(rf"[{_CJK}]")
_TOKEN_RUN = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)", re.UNICODE)  # (CJK run, word)


@lru_cache(maxsize=64)
def fold(text: str) -> str:
    """NFKC (full-width digits, letters and punctuation become ASCII) and lower case. Kept
    for the last few texts: an item's title and body are folded for the index and again for
    its near-duplicate sketch as it is stored."""
    return unicodedata.normalize("NFKC", text).lower()


def _runs(text: str) -> list[str]:
    return _RUN.findall(fold(text))


def _is_cjk(run: str) -> bool:
    return _CJK_START.match(run) is not None


def index_text(text: str) -> str:
    """The space-separated token string stored in the FTS5 table for ``text``."""
    tokens: list[str] = []
    for run, word in _TOKEN_RUN.findall(fold(text)):
        if run:
            tokens.extend(map(str.__add__, run, run[1:]))  # each bigram …
            tokens.append(run[-1])  # … and the lone last character
        else:
            tokens.append(word)
    return " ".join(tokens)


def match_query(text: str) -> str | None:
    """An FTS5 MATCH expression for a desk's search text, or None if it has nothing to find.

    Space-separated terms must all match (AND).
    """
    parts: list[str] = []
    for run in _runs(text):
        if _is_cjk(run) and len(run) >= 2:
            parts.append('"' + " ".join(run[i : i + 2] for i in range(len(run) - 1)) + '"')
        else:
            parts.append(f'"{run}"*')
    return " AND ".join(parts) if parts else None
