"""Near-duplicate items: the same event reported by different units, offered for merging.

Two reports of one event rarely share their wording but always share its figures — the date
and hour, the place's numbers, the people and the money. An item is therefore compared by two
kinds of *features*:

- shingles: the character n-grams (default 3) of its title and body after :func:`normalize`
  (NFKC, lower case, punctuation and whitespace dropped; digits kept);
- figures: every number with the character that follows it (``38.6万``, ``2300户``, ``3时``,
  ``15203掘``), see :func:`figures`.

The score is a weighted Jaccard, W(a ∩ b) / W(a ∪ b), where a shingle weighs 1 and a figure
``figure_weight``. Items from the same unit are never flagged (a unit's follow-up reports are a
thread, not duplicates), nor items written more than ``window_days`` apart. The numbers live in
``schema/data/similar.toml``.

:class:`Index` finds, for one new item, every indexed item scoring at least the threshold
without scoring them all. It is an inverted index from feature to items, probed rarest
feature first with *prefix filtering*: a match needs a shared weight of at least
``threshold × W(new)``, so the commonest features of the new item whose total weight stays
below that can be left out of the probe without losing any match; each item met in the
remaining postings is then scored exactly only if what it shares there, plus everything left
out, could reach the threshold. The result is exact — the same list as scoring every item.

``python -m schema.similar`` measures precision and recall on the labelled pairs of
``fixtures/items.toml`` (``dup_group``).
"""

from __future__ import annotations

import argparse
import re
import struct
import tomllib
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from hashlib import blake2b
from itertools import combinations
from pathlib import Path
from typing import Any

from schema import search
from schema.datafile import data_text
from schema.error import ConfigError, reason
from schema.fixture import SampleItem, load_items
from schema.record import Item

# A number (optionally with thousands separators and a decimal part) and the letter or % after
# it: the measure word or unit that says what was counted (户, 人, 万, 时, 个, %).
# (It begins with a plain ``\d``, so the engine skips to digits rather than trying each place.)
_FIGURE = re.compile(r"\d(?:\d{0,2}(?:,\d{3})+|\d*)(?:\.\d+)?(?:[^\W\d_]|%)?")
_NOT_WORD = re.compile(r"[\W_]+")
_FIGURE_KEY = "\x00"  # prefix of a figure in the index vocabulary; never in normalised text
_EPSILON = 1e-9


@dataclass(frozen=True)
class Doc:
    """What is compared: an item's id, the unit that wrote it, its text and when it was written."""

    id: str
    unit: str
    title: str
    body: str
    at: datetime

    @classmethod
    def of_item(cls, item: Item) -> Doc:
        """The doc of a stored item (its origin unit, current revision, creation time)."""
        return cls(item.id, item.origin, item.title, item.draft.body, item.created_at)

    @classmethod
    def of_sample(cls, sample: SampleItem) -> Doc:
        """The doc of a fixture item, identified by its fixture key."""
        return cls(sample.key, sample.unit, sample.draft.title, sample.draft.body, sample.created)


@dataclass(frozen=True)
class SimilarRules:
    """The numbers of near-duplicate detection (``schema/data/similar.toml``)."""

    ngram: int = 3
    figure_weight: float = 20.0
    threshold: float = 0.2
    window_days: float = 14.0

    @classmethod
    def load(cls, path: Path | None = None) -> SimilarRules:
        """The rules in ``path``, or the shipped defaults; every bad key is named."""
        text, where = data_text("similar.toml", path)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{where} 不是有效的 TOML（{reason(exc)}）"]) from exc
        problems: list[str] = []

        def number(key: str, low: float, high: float, integer: bool = False) -> float:
            value = data.get(key)
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or (integer and not isinstance(value, int)):
                problems.append(f"{where}：{key} 应为{'整数' if integer else '数字'}")
                return low
            if not low <= value <= high:
                problems.append(f"{where}：{key} 应在 {low:g} 至 {high:g} 之间，实际为 {value}")
            return float(value)

        rules = cls(
            ngram=int(number("ngram", 1, 8, integer=True)),
            figure_weight=number("figure_weight", 0, 1000),
            threshold=number("threshold", 0.01, 1),
            window_days=number("window_days", 0, 36600),
        )
        unknown = sorted(set(data) - {"ngram", "figure_weight", "threshold", "window_days"})
        problems.extend(f"{where}：未知设置 {key}" for key in unknown)
        if problems:
            raise ConfigError(problems)
        return rules


@cache
def default_rules() -> SimilarRules:
    """The shipped rules, read once."""
    return SimilarRules.load()


# ── features ──────────────────────────────────────────────────────────────────────────────────


def fold(text: str) -> str:
    """NFKC (full-width digits, letters and punctuation become ASCII) and lower case."""
    return search.fold(text)


def normalize(text: str) -> str:
    """``text`` for shingling: :func:`fold`, then only letters and digits kept — punctuation,
    symbols, whitespace and ``_`` go; digits and every CJK character stay."""
    return _NOT_WORD.sub("", fold(text))


def shingles(text: str, n: int) -> frozenset[str]:
    """The character n-grams of normalised ``text`` (the whole text if shorter than ``n``)."""
    if len(text) <= n:
        return frozenset([text]) if text else frozenset()
    return frozenset(text[i : i + n] for i in range(len(text) - n + 1))


def figures(text: str) -> frozenset[str]:
    """The figures of ``text``: each number with the letter or % right after it, if any.

    ``“11月12日，15名农民工被拖欠工资共38.6万元”`` gives ``11月``, ``12日``, ``15名``,
    ``38.6万``; thousands separators are dropped (``1,847万`` is ``1847万``).
    """
    return _figures(fold(text))


def _figures(folded: str) -> frozenset[str]:
    return frozenset(m.replace(",", "") for m in _FIGURE.findall(folded))


@dataclass(frozen=True)
class Features:
    """The shingles and figures of one doc."""

    shingles: frozenset[str]
    figures: frozenset[str]

    def weight(self, figure_weight: float) -> float:
        """W(doc): one per shingle plus ``figure_weight`` per figure."""
        return len(self.shingles) + figure_weight * len(self.figures)


def features(doc: Doc, rules: SimilarRules | None = None) -> Features:
    """The features of ``doc``: shingles of title and body (each on its own) and figures."""
    n = (rules or default_rules()).ngram
    title, body = fold(doc.title), fold(doc.body)
    return Features(
        shingles=shingles(_NOT_WORD.sub("", title), n) | shingles(_NOT_WORD.sub("", body), n),
        figures=_figures(title) | _figures(body),
    )


def _jaccard(shared: float, weight_a: float, weight_b: float) -> float:
    union = weight_a + weight_b - shared
    return shared / union if union > 0 else 0.0


def similarity(a: Doc, b: Doc, rules: SimilarRules | None = None) -> float:
    """The weighted Jaccard of the features of ``a`` and ``b``, from 0 (nothing shared) to 1."""
    rules = rules or default_rules()
    return score(features(a, rules), features(b, rules), rules)


def score(fa: Features, fb: Features, rules: SimilarRules | None = None) -> float:
    """:func:`similarity` of two docs whose features are already known."""
    k = (rules or default_rules()).figure_weight
    shared = len(fa.shingles & fb.shingles) + k * len(fa.figures & fb.figures)
    return _jaccard(shared, fa.weight(k), fb.weight(k))


def near_among(
    doc: Doc, others: Iterable[Doc], rules: SimilarRules | None = None
) -> list[tuple[str, float]]:
    """What :meth:`Index.near` finds for one doc among a few hundred or thousand, without
    building an index: the others of other units within the window scoring at least the
    rules' threshold, best first, as (id, score). ``doc``'s features are computed once."""
    rules = rules or default_rules()
    k = rules.figure_weight
    fa = features(doc, rules)
    wa = fa.weight(k)
    found = []
    for other in others:
        if not comparable(doc, other, rules):
            continue
        fb = features(other, rules)
        shared = len(fa.shingles & fb.shingles) + k * len(fa.figures & fb.figures)
        score = _jaccard(shared, wa, fb.weight(k))
        if score >= rules.threshold - _EPSILON:
            found.append((other.id, score))
    found.sort(key=lambda hit: (-hit[1], hit[0]))
    return found


# ── sketches: a window of thousands without reading their texts ─────────────────────────────

SKETCH_BINS = 64  # one-permutation hashing: the smallest hash of each of 64 bins
_EMPTY = 0xFFFFFFFF  # a bin no feature fell into


def sketch(doc: Doc, rules: SimilarRules | None = None) -> bytes:
    """A 256-byte sketch of ``doc``'s weighted features (one-permutation hashing: each
    feature hashed once, the smallest hash kept per bin; a figure counted ``figure_weight``
    times, as its weight in the Jaccard): kept per item, it estimates :func:`similarity`
    between two docs without their texts (:func:`estimates`).

    A shingle's key is its code points as a polynomial modulo 2^64, a figure's the BLAKE2b of
    its text (its weighted copies that key plus multiples of an odd step); each key goes
    through the SplitMix64 finaliser, whose top 6 bits choose the bin and next 32 are the value
    there. A long text is hashed as arrays (numpy) — an item of 1,200 characters is about a
    thousand shingles, and this runs for every item a node receives — a short one in Python,
    to the same bytes, without loading numpy."""
    rules = rules or default_rules()
    title, body = fold(doc.title), fold(doc.body)
    texts = (_NOT_WORD.sub("", title), _NOT_WORD.sub("", body))
    figures = [_text_key(_FIGURE_KEY + f) for f in _figures(title) | _figures(body)]
    weight = max(1, round(rules.figure_weight))
    if len(texts[0]) + len(texts[1]) <= ARRAYS_FROM:
        return _sketch_python(texts, figures, rules.ngram, weight)
    return _sketch_arrays(texts, figures, rules.ngram, weight)


ARRAYS_FROM = 200  # characters of text (title and body, normalised) hashed as arrays
_COPY = 0x9E3779B97F4A7C15  # the step between a figure's weighted copies (odd: all distinct)
_GRAM = 0x100000001B3  # the multiplier of a shingle's polynomial (odd; FNV's 64-bit prime)
_MIX = (0xBF58476D1CE4E5B9, 0x94D049BB133111EB)  # SplitMix64's finaliser
_U64 = (1 << 64) - 1


def _text_key(text: str) -> int:
    return int.from_bytes(blake2b(text.encode(), digest_size=8).digest())


def _sketch_arrays(texts: Sequence[str], figures: list[int], n: int, weight: int) -> bytes:
    import numpy as np  # loaded only where long texts are sketched (receiving, ``show``)

    parts = [_shingle_keys(np, text, n) for text in texts]
    copies = np.arange(weight, dtype=np.uint64) * np.uint64(_COPY)
    parts.append((np.array(figures, dtype=np.uint64)[:, None] + copies).ravel())
    keys = np.concatenate(parts)
    least = np.full(SKETCH_BINS, _EMPTY, dtype=np.uint64)
    if len(keys):
        z = keys ^ (keys >> np.uint64(30))
        z *= np.uint64(_MIX[0])
        z ^= z >> np.uint64(27)
        z *= np.uint64(_MIX[1])
        z ^= z >> np.uint64(31)
        values = np.minimum((z >> np.uint64(26)) & np.uint64(0xFFFFFFFF), np.uint64(_EMPTY - 1))
        np.minimum.at(least, (z >> np.uint64(58)).astype(np.intp), values)
    return least.astype("<u4").tobytes()


def _shingle_keys(np: Any, text: str, n: int) -> Any:
    """The 64-bit keys of :func:`shingles` of ``text`` (a numpy array, one per n-gram)."""
    if not text:
        return np.zeros(0, dtype=np.uint64)
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4").astype(np.uint64)
    width = min(n, len(points))  # a text no longer than n is one shingle: itself
    count = len(points) - width + 1
    keys = np.full(count, width, dtype=np.uint64)  # its length first: "ab" is no "ab?"
    for j in range(width):
        keys *= np.uint64(_GRAM)
        keys += points[j : j + count]
    return keys


def _sketch_python(texts: Sequence[str], figures: list[int], n: int, weight: int) -> bytes:
    """:func:`_sketch_arrays`, one key at a time (the same bytes)."""
    keys = [(f + i * _COPY) & _U64 for f in figures for i in range(weight)]
    for text in texts:
        points = [ord(c) for c in text]
        width = min(n, len(points))
        for start in range(len(points) - width + 1 if points else 0):
            key = width
            for point in points[start : start + width]:
                key = (key * _GRAM + point) & _U64
            keys.append(key)
    least = [_EMPTY] * SKETCH_BINS
    for key in keys:
        z = ((key ^ (key >> 30)) * _MIX[0]) & _U64
        z = ((z ^ (z >> 27)) * _MIX[1]) & _U64
        z ^= z >> 31
        value = min((z >> 26) & 0xFFFFFFFF, _EMPTY - 1)
        if value < least[z >> 58]:
            least[z >> 58] = value
    return struct.pack(f"<{SKETCH_BINS}I", *least)


_LOW = int.from_bytes(array("I", [1] * SKETCH_BINS).tobytes(), "little")  # bit 0 of each bin


def estimates(mine: bytes, others: Iterable[bytes]) -> list[float]:
    """The Jaccard ``mine`` and each of ``others`` estimate — the share of bins whose
    smallest hash is the same — each as one comparison of whole integers (the bins that
    differ, folded to one bit each and counted): microseconds a sketch, for windows of
    thousands. Two empty bins count as equal (rare: a text has hundreds of features)."""
    x = int.from_bytes(mine, "little")
    out = []
    for other in others:
        z = x ^ int.from_bytes(other, "little")
        for shift in (1, 2, 4, 8, 16):  # fold each 32-bit bin onto its lowest bit
            z |= z >> shift
        out.append(1 - (z & _LOW).bit_count() / SKETCH_BINS)
    return out


def comparable(a: Doc, b: Doc, rules: SimilarRules | None = None) -> bool:
    """Whether ``a`` and ``b`` may be flagged at all: other units, within the time window."""
    window = (rules or default_rules()).window_days
    if a.id == b.id or a.unit == b.unit:
        return False
    return window <= 0 or abs((a.at - b.at).total_seconds()) <= window * 86400


# ── index ─────────────────────────────────────────────────────────────────────────────────────


class Index:
    """Docs held for near-duplicate checks of new ones (see the module docstring)."""

    def __init__(self, rules: SimilarRules | None = None) -> None:
        self.rules = rules or default_rules()
        self._vocab: dict[str, int] = {}  # shingle, or _FIGURE_KEY + figure → feature id
        self._postings: list[array[int]] = []  # feature id → ordinals of the docs having it
        self._ordinal: dict[str, int] = {}  # doc id → ordinal of its current entry
        self._ids: list[str] = []
        self._units: list[str] = []
        self._at: list[float] = []
        self._shingles: list[array[int]] = []  # ordinal → its feature ids (4 bytes each)
        self._figures: list[array[int]] = []
        self._weight: list[float] = []
        self._alive = bytearray()

    def __len__(self) -> int:
        return len(self._ordinal)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._ordinal

    def _feature_ids(self, found: Features, create: bool) -> tuple[list[int], list[int]]:
        vocab = self._vocab
        figure_keys = [_FIGURE_KEY + f for f in found.figures]
        if create:
            shingle_ids = [vocab.setdefault(key, len(vocab)) for key in found.shingles]
            figure_ids = [vocab.setdefault(key, len(vocab)) for key in figure_keys]
            self._postings.extend(array("I") for _ in range(len(vocab) - len(self._postings)))
            return shingle_ids, figure_ids
        get = vocab.get
        return (
            [fid for fid in map(get, found.shingles) if fid is not None],
            [fid for fid in map(get, figure_keys) if fid is not None],
        )

    def add(self, doc: Doc) -> None:
        """Hold ``doc``; a doc already held under the same id (an earlier revision) is replaced."""
        self.discard(doc.id)
        found = features(doc, self.rules)
        shingle_ids, figure_ids = self._feature_ids(found, create=True)
        ordinal = len(self._ids)
        for fid in shingle_ids + figure_ids:
            self._postings[fid].append(ordinal)
        self._ordinal[doc.id] = ordinal
        self._ids.append(doc.id)
        self._units.append(doc.unit)
        self._at.append(doc.at.timestamp())
        self._shingles.append(array("I", shingle_ids))
        self._figures.append(array("I", figure_ids))
        self._weight.append(found.weight(self.rules.figure_weight))
        self._alive.append(1)

    def discard(self, doc_id: str) -> None:
        """Stop holding the doc ``doc_id``, if held (its postings stay, skipped when met)."""
        ordinal = self._ordinal.pop(doc_id, None)
        if ordinal is not None:
            self._alive[ordinal] = 0
            self._shingles[ordinal] = self._figures[ordinal] = array("I")

    def near(self, doc: Doc, threshold: float | None = None) -> list[tuple[str, float]]:
        """The held docs of other units within the window scoring at least ``threshold``
        against ``doc`` (default: the rules'), best first, as (id, score)."""
        t = self.rules.threshold if threshold is None else threshold
        if not 0 < t <= 1:
            raise ValueError(f"threshold must be in (0, 1], not {t}")
        k = self.rules.figure_weight
        found = features(doc, self.rules)
        weight = found.weight(k)
        if weight <= 0:
            return []
        shingle_ids, figure_ids = self._feature_ids(found, create=False)
        # Leave out the commonest features while their total weight stays below t·W(doc):
        # a match shares at least that much, so it shares a feature that is probed.
        known = [(len(self._postings[f]), 1.0, f, False) for f in shingle_ids]
        known += [(len(self._postings[f]), k, f, True) for f in figure_ids]
        known.sort(reverse=True)
        budget, skipped = t * weight, 0.0
        hits: Counter[int] = Counter()  # ordinal → shingles met in the probed postings
        figure_hits: Counter[int] = Counter()
        for _, w, fid, is_figure in known:
            if skipped + w < budget - _EPSILON:
                skipped += w
            else:
                (figure_hits if is_figure else hits).update(self._postings[fid])
        shared_seen: dict[int, float] = dict(hits)
        for ordinal, count in figure_hits.items():
            shared_seen[ordinal] = shared_seen.get(ordinal, 0) + k * count
        # score ≥ t  ⇔  shared ≥ t·(W(doc) + W(other)) / (1 + t); W(other) ≥ 0 first, then all.
        ratio = t / (1 + t)
        floor = ratio * weight - skipped - _EPSILON
        query_shingles, query_figures = set(shingle_ids), set(figure_ids)
        at = doc.at.timestamp()
        window = self.rules.window_days * 86400
        out: list[tuple[str, float]] = []
        for ordinal in [o for o, seen in shared_seen.items() if seen >= floor]:
            other_weight = self._weight[ordinal]
            if shared_seen[ordinal] < floor + ratio * other_weight:
                continue
            if not self._alive[ordinal] or self._ids[ordinal] == doc.id:
                continue
            if self._units[ordinal] == doc.unit:
                continue
            if window > 0 and abs(self._at[ordinal] - at) > window:
                continue
            shared = len(query_shingles.intersection(self._shingles[ordinal])) + k * len(
                query_figures.intersection(self._figures[ordinal])
            )
            score = _jaccard(shared, weight, other_weight)
            if score >= t - _EPSILON:
                out.append((self._ids[ordinal], score))
        out.sort(key=lambda hit: (-hit[1], hit[0]))
        return out


def pairs(
    docs: Iterable[Doc], threshold: float | None = None, rules: SimilarRules | None = None
) -> list[tuple[str, str, float]]:
    """Every pair of ``docs`` (ids unique) that would be flagged, best first, as (a, b, score)
    with ``a`` the one earlier in ``docs``."""
    index = Index(rules)
    out: list[tuple[str, str, float]] = []
    for doc in docs:
        out.extend((other, doc.id, score) for other, score in index.near(doc, threshold))
        index.add(doc)
    out.sort(key=lambda p: (-p[2], p[0], p[1]))
    return out


def groups(found: Iterable[tuple[str, str, float]]) -> list[list[str]]:
    """The flagged pairs joined into groups of docs to offer for merging (connected pairs),
    each sorted, largest group first."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, _ in found:
        parent[root(a)] = root(b)
    members: dict[str, list[str]] = {}
    for x in parent:
        members.setdefault(root(x), []).append(x)
    return sorted((sorted(m) for m in members.values()), key=lambda g: (-len(g), g))


# ── measuring on labelled items ───────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Measure:
    """How flagged pairs compare with the labelled duplicate pairs."""

    threshold: float
    found: tuple[tuple[str, str, float], ...]
    false_positives: tuple[tuple[str, str, float], ...]
    missed: tuple[tuple[str, str], ...]
    positives: int

    @property
    def true_positives(self) -> int:
        return len(self.found) - len(self.false_positives)

    @property
    def precision(self) -> float:
        """Share of flagged pairs that are labelled duplicates (1.0 when nothing is flagged)."""
        return self.true_positives / len(self.found) if self.found else 1.0

    @property
    def recall(self) -> float:
        """Share of labelled duplicate pairs that are flagged (1.0 when there are none)."""
        return self.true_positives / self.positives if self.positives else 1.0


def labelled_pairs(samples: Sequence[SampleItem]) -> set[frozenset[str]]:
    """The positive pairs: items of different units sharing a non-empty ``dup_group``."""
    return {
        frozenset((a.key, b.key))
        for a, b in combinations(samples, 2)
        if a.dup_group and a.dup_group == b.dup_group and a.unit != b.unit
    }


def measure(
    samples: Sequence[SampleItem],
    threshold: float | None = None,
    rules: SimilarRules | None = None,
) -> Measure:
    """Flag the pairs among ``samples`` and score them against their ``dup_group`` labels.

    Every cross-unit pair not sharing a label counts as a negative.
    """
    rules = rules or default_rules()
    t = rules.threshold if threshold is None else threshold
    positives = labelled_pairs(samples)
    found = pairs([Doc.of_sample(s) for s in samples], t, rules)
    flagged = {frozenset((a, b)) for a, b, _ in found}
    return Measure(
        threshold=t,
        found=tuple(found),
        false_positives=tuple(p for p in found if frozenset(p[:2]) not in positives),
        missed=tuple(sorted(_ordered(p) for p in positives - flagged)),
        positives=len(positives),
    )


def _ordered(pair: frozenset[str]) -> tuple[str, str]:
    a, b = sorted(pair)
    return a, b


def main(argv: Sequence[str] | None = None) -> int:
    """Print precision and recall on the fixture labels, and how they move with the threshold."""
    parser = argparse.ArgumentParser(
        prog="python -m schema.similar",
        description="在示例信息的重复标注上测量重复信息识别的精确率和召回率",
    )
    parser.add_argument("--fixtures", type=Path, help="示例数据目录（默认 fixtures/）")
    parser.add_argument("--rules", type=Path, help="规则文件（默认 schema/data/similar.toml）")
    parser.add_argument("--threshold", type=float, help="阈值（默认取规则文件）")
    args = parser.parse_args(argv)
    rules = SimilarRules.load(args.rules)
    samples = load_items(args.fixtures)
    titles = {s.key: s.draft.title for s in samples}
    result = measure(samples, args.threshold, rules)
    print(
        f"规则：n={rules.ngram} 数字权重={rules.figure_weight:g} "
        f"阈值={result.threshold:g} 时间窗={rules.window_days:g}天"
    )
    units = len({s.unit for s in samples})
    print(f"示例信息 {len(samples)} 条（{units} 个单位），标注重复对 {result.positives} 对")
    print(
        f"标记 {len(result.found)} 对，正确 {result.true_positives} 对："
        f"精确率 precision={result.precision:.3f} 召回率 recall={result.recall:.3f}"
    )
    for a, b, score in result.found:
        mark = "误报" if (a, b, score) in result.false_positives else "重复"
        print(f"  {mark} {score:.3f} {a} {titles[a]} ↔ {b} {titles[b]}")
    for a, b in result.missed:
        print(f"  漏报 {a} {titles[a]} ↔ {b} {titles[b]}")
    print("阈值  标记  精确率  召回率")
    for step in range(10, 31, 2):
        m = measure(samples, step / 100, rules)
        print(f"{step / 100:.2f}  {len(m.found):4d}  {m.precision:.3f}   {m.recall:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
