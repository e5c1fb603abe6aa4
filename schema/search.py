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
import sys
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
    return nfkc(text).lower()


_IDEOGRAPHS = re.compile("([\u4e00-\u9fff]+)")
_GLUE = "\ue000"  # a private-use character: no compatibility mapping makes one


def nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, at a third of its cost on Chinese text.

    A CJK unified ideograph (U+4E00–U+9FFF) has no decomposition, combining class 0, and is
    in no composition, so normalisation never reaches across one: only the pieces between
    runs of them need normalising — a fifth of a report's characters. They are normalised in
    one call, glued by a private-use character that, for the same reasons, nothing crosses
    either (a text holding that character is normalised whole)."""
    if unicodedata.is_normalized("NFKC", text):
        return text
    if _GLUE in text:
        return unicodedata.normalize("NFKC", text)
    parts = _IDEOGRAPHS.split(text)  # other, ideographs, other, …, other
    parts[0::2] = unicodedata.normalize("NFKC", _GLUE.join(parts[0::2])).split(_GLUE)
    return "".join(parts)


def _runs(text: str) -> list[str]:
    return _RUN.findall(fold(text))


def _is_cjk(run: str) -> bool:
    return _CJK_START.match(run) is not None


def index_text(text: str) -> str:
    """The space-separated token string stored in the FTS5 table for ``text``."""
    folded = fold(text)
    if len(folded) > ARRAY_FROM:
        return _index_array(folded)
    tokens: list[str] = []
    for run, word in _TOKEN_RUN.findall(folded):
        if run:
            tokens.extend(map(str.__add__, run, run[1:]))  # each bigram …
            tokens.append(run[-1])  # … and the lone last character
        else:
            tokens.append(word)
    return " ".join(tokens)


# A text longer than this (a body, not a title) is tokenised as arrays of code points (numpy):
# one Python string a token costs ~200 µs for a 1,200-character item, made for every item
# stored or received; the arrays ~45 µs, whatever the text's punctuation.
ARRAY_FROM = 100
_UTF32 = "utf-32-le" if sys.byteorder == "little" else "utf-32-be"
_SEPARATOR = re.compile(r"[\W_]")  # one character at a time: the text keeps its length
# the ranges of _CJK as boundaries: a code point is CJK where an odd number are at or below it
_CJK_EDGES = (0x3040, 0x3100, 0x3400, 0x4DC0, 0x4E00, 0xA000, 0xAC00, 0xD7B0, 0xF900, 0xFB00)


def _index_array(folded: str) -> str:
    """:func:`index_text`'s tokens of a folded text, spaced otherwise: each position writes
    three code points — itself (a space if it separates), the next character if both are CJK
    (a bigram; a space ends a CJK run's lone last character), then a space; inside a word of
    letters or digits the last two are NUL, dropped at the end, so the word stays whole."""
    import numpy as np  # loaded only where items are written

    points = np.frombuffer(folded.encode(_UTF32, "surrogatepass"), dtype=np.uint32)
    space = np.uint32(ord(" "))
    cjk = (np.searchsorted(np.array(_CJK_EDGES, np.uint32), points, side="right") & 1) == 1
    marked = _SEPARATOR.sub("\0", folded).encode(_UTF32, "surrogatepass")
    word = (np.frombuffer(marked, dtype=np.uint32) != 0) & ~cjk
    out = np.full((len(points), 3), space, dtype=np.uint32)
    out[:, 0] = np.where(cjk | word, points, space)
    pair = cjk[:-1] & cjk[1:]
    out[:-1, 1][pair] = points[1:][pair]
    out[word, 1] = 0
    out[:-1, 2][word[:-1] & word[1:]] = 0
    return out.tobytes().decode(_UTF32, "surrogatepass").replace("\0", "")


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
