"""Editorial checks of an item draft, shown to the desk as findings before it is submitted.

:func:`check` returns one :class:`Finding` per problem, each naming its field, in Chinese for
desk staff. A finding about a *required* field (title, body, author; the required 突发事件
fields; incident data on an item that is no 突发事件) blocks submission; everything else —
title and body length against the 二三百字 guidance, advised 突发事件 fields, urgency of an
emergency, markings written into the text — is advice and never blocks. Every number, field
list and pattern lives in ``schema/data/editorial.toml``.

Characters are counted by :func:`count_chars`: whitespace never counts; each Chinese character
and each full-width mark counts one; a run of half-width letters or digits (``38.6``, ``2026``,
``10%``) counts one, as a word processor's 字数 does; punctuation counts unless the rules say
``count_punctuation = false``.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any

from schema.datafile import data_text
from schema.error import ConfigError, ValidationError, reason
from schema.record import Incident, ItemDraft
from schema.vocabulary import Category, Classification, Urgency

# A half-width word or number, with . , : - inside and % after (38.6, 1,847, 12:30, 10%).
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[.,:\-][A-Za-z0-9]+)*%?|\S")
_DRAFT_FIELDS = {"title", "body", "author", "phone", "request"}
_INCIDENT_FIELDS = {f.name for f in fields(Incident)}
_CLASSIFICATION_WORDS = ("绝密", *(c.value for c in reversed(Classification)))  # highest first
_FIRST_REPORT = "首报"


@dataclass(frozen=True)
class Finding:
    """One editorial finding: the field it is about, what to do (Chinese), whether it blocks,
    and a stable code for the desk (``title.long``, ``incident.advised`` …)."""

    field: str
    message: str
    blocking: bool
    code: str = ""


@dataclass(frozen=True)
class Band:
    """An advised length range in characters; 0 means no bound on that side."""

    min: int
    max: int


@dataclass(frozen=True)
class Marking:
    """A pattern that finds a marking written into a title or body."""

    what: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class EditorialRules:
    """The numbers, field lists and patterns of the checks (``schema/data/editorial.toml``)."""

    count_punctuation: bool
    required: tuple[str, ...]
    advised: tuple[str, ...]
    title: Band
    body: Band
    body_by_category: dict[Category, Band]
    body_target: str
    incident_required: tuple[str, ...]
    incident_advised: tuple[str, ...]
    incident_advised_followup: tuple[str, ...]
    incident_min_urgency: Urgency | None
    markings: tuple[Marking, ...]
    labels: dict[str, str]

    @classmethod
    def load(cls, path: Path | None = None) -> EditorialRules:
        """The rules in ``path``, or the shipped defaults; every bad key is named."""
        text, where = data_text("editorial.toml", path)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{where} 不是有效的 TOML（{reason(exc)}）"]) from exc
        reader = _Reader(where)
        rules = reader.rules(data)
        if reader.problems:
            raise ConfigError(reader.problems)
        return rules

    def label(self, field: str) -> str:
        """The Chinese name of ``field`` for messages."""
        return self.labels.get(field, field)

    def body_band(self, category: Category) -> Band:
        """The advised body length of an item of ``category``."""
        return self.body_by_category.get(category, self.body)


class _Reader:
    """Reads the rules file, collecting every problem instead of stopping at the first."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.problems: list[str] = []

    def bad(self, key: str, message: str) -> None:
        self.problems.append(f"{self.where}：{key} {message}")

    def table(self, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, Mapping):
            self.bad(key, "应为键值表")
            return {}
        return value

    def count(self, data: Mapping[str, Any], key: str, where: str) -> int:
        value = data.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            self.bad(f"{where}.{key}", "应为不小于 0 的整数")
            return 0
        return value

    def band(self, data: Mapping[str, Any], where: str, default: Band | None = None) -> Band:
        low = self.count(data, "min", where) if "min" in data or not default else default.min
        high = self.count(data, "max", where) if "max" in data or not default else default.max
        if low and high and low > high:
            self.bad(where, f"min（{low}）大于 max（{high}）")
        return Band(low, high)

    def names(
        self, data: Mapping[str, Any], key: str, allowed: set[str], where: str
    ) -> tuple[str, ...]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.bad(f"{where}{key}", "应为字段名列表")
            return ()
        for name in value:
            if name not in allowed:
                self.bad(f"{where}{key}", f"未知字段 {name}（可用：{'、'.join(sorted(allowed))}）")
        return tuple(v for v in value if v in allowed)

    def rules(self, data: Mapping[str, Any]) -> EditorialRules:
        title, body, incident = (self.table(data, k) for k in ("title", "body", "incident"))
        by_category: dict[Category, Band] = {}
        default_body = self.band(body, "body")
        for name, value in self.table(body, "category").items():
            try:
                category = Category.parse(name, f"body.category.{name}")
            except ValidationError as exc:
                self.bad(f"body.category.{name}", exc.reason)
                continue
            if isinstance(value, Mapping):
                by_category[category] = self.band(value, f"body.category.{name}", default_body)
            else:
                self.bad(f"body.category.{name}", "应为键值表")
        min_urgency: Urgency | None = None
        if incident.get("min_urgency"):
            try:
                min_urgency = Urgency.parse(incident["min_urgency"], "incident.min_urgency")
            except ValidationError as exc:
                self.bad("incident.min_urgency", exc.reason)
        labels = self.table(data, "labels")
        if not all(isinstance(v, str) for v in labels.values()):
            self.bad("labels", "应为文字")
        count_punctuation = data.get("count_punctuation", True)
        if not isinstance(count_punctuation, bool):
            self.bad("count_punctuation", "应为 true 或 false")
        return EditorialRules(
            count_punctuation=bool(count_punctuation),
            required=self.names(data, "required", _DRAFT_FIELDS, ""),
            advised=self.names(data, "advised", _DRAFT_FIELDS, ""),
            title=self.band(title, "title"),
            body=default_body,
            body_by_category=by_category,
            body_target=str(body.get("target", "")),
            incident_required=self.names(incident, "required", _INCIDENT_FIELDS, "incident."),
            incident_advised=self.names(incident, "advised", _INCIDENT_FIELDS, "incident."),
            incident_advised_followup=self.names(
                incident, "advised_followup", _INCIDENT_FIELDS, "incident."
            ),
            incident_min_urgency=min_urgency,
            markings=self.markings(data.get("marking", [])),
            labels={str(k): str(v) for k, v in labels.items()},
        )

    def markings(self, value: object) -> tuple[Marking, ...]:
        if not isinstance(value, list):
            self.bad("marking", "应为 [[marking]] 表的列表")
            return ()
        out: list[Marking] = []
        for n, entry in enumerate(value, 1):
            ok = isinstance(entry, Mapping) and all(
                isinstance(entry.get(k), str) for k in ("what", "pattern")
            )
            if not ok:
                self.bad(f"marking 第{n}项", "应有 what 和 pattern 两项文字")
                continue
            try:
                pattern = re.compile(entry["pattern"], re.MULTILINE)
            except re.error as exc:
                self.bad(f"marking 第{n}项", f"pattern 不是有效的正则表达式（{exc}）")
                continue
            out.append(Marking(entry["what"], pattern))
        return tuple(out)


@cache
def default_rules() -> EditorialRules:
    """The shipped rules, read once."""
    return EditorialRules.load()


def count_chars(text: str, punctuation: bool = True) -> int:
    """The 字数 of ``text`` (see the module docstring); ``punctuation=False`` leaves marks out."""
    tokens = _TOKEN.findall(text)
    if punctuation:
        return len(tokens)
    return sum(1 for t in tokens if not (len(t) == 1 and unicodedata.category(t)[0] == "P"))


def blocks(findings: list[Finding]) -> bool:
    """Whether any finding blocks submission."""
    return any(f.blocking for f in findings)


def check(draft: ItemDraft, rules: EditorialRules | None = None) -> list[Finding]:
    """Every editorial finding about ``draft``, blocking ones first, in field order."""
    rules = rules or default_rules()
    found: list[Finding] = []
    found += _required(draft, rules)
    found += _lengths(draft, rules)
    found += _incident(draft, rules)
    found += _markings(draft, rules)
    return sorted(found, key=lambda f: not f.blocking)


def _empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _required(draft: ItemDraft, rules: EditorialRules) -> list[Finding]:
    out: list[Finding] = []
    for name in rules.required:
        if _empty(getattr(draft, name)):
            out.append(Finding(name, f"必须填写{rules.label(name)}", True, "required"))
    for name in rules.advised:
        if _empty(getattr(draft, name)) and name not in rules.required:
            message = f"建议填写{rules.label(name)}，便于上级核实情况"
            out.append(Finding(name, message, False, "advised"))
    return out


def _band_finding(
    field: str, text: str, band: Band, rules: EditorialRules, advice: tuple[str, str]
) -> Finding | None:
    if _empty(text):
        return None  # reported as a required field, if it is one
    n = count_chars(text, rules.count_punctuation)
    label = rules.label(field)
    if band.min and n < band.min:
        return Finding(field, f"{label} {n} 字，少于 {band.min} 字：{advice[0]}", False, "short")
    if band.max and n > band.max:
        return Finding(field, f"{label} {n} 字，多于 {band.max} 字：{advice[1]}", False, "long")
    return None


def _lengths(draft: ItemDraft, rules: EditorialRules) -> list[Finding]:
    target = f"信息正文以{rules.body_target}为宜，" if rules.body_target else ""
    title = _band_finding(
        "title",
        draft.title,
        rules.title,
        rules,
        ("请写明何地、何事、结果", "标题宜简洁，请精简或改用主副标题"),
    )
    body = _band_finding(
        "body",
        draft.body,
        rules.body_band(draft.category),
        rules,
        (
            f"{target}请补充时间、地点、经过、结果等基本要素",
            f"{target}请压缩篇幅，突出主要事实",
        ),
    )
    return [f for f in (title, body) if f is not None]


def _incident(draft: ItemDraft, rules: EditorialRules) -> list[Finding]:
    incident = draft.incident
    if draft.category is not Category.INCIDENT:
        if incident is None:
            return []
        message = (
            f"只有“突发事件”类信息才填写{rules.label('incident')}，本条类别为“{draft.category}”"
        )
        return [Finding("incident", message, True, "incident.unexpected")]
    if incident is None:
        needed = "、".join(rules.label(f"incident.{f}") for f in rules.incident_required)
        message = f"突发事件必须填写{rules.label('incident')}" + (f"（{needed}）" if needed else "")
        return [Finding("incident", message, True, "incident.missing")]
    out: list[Finding] = []
    for name in rules.incident_required:
        if _empty(getattr(incident, name)):
            field = f"incident.{name}"
            out.append(Finding(field, f"突发事件必须填写{rules.label(field)}", True, "required"))
    advised = list(rules.incident_advised)
    if incident.report.strip() != _FIRST_REPORT:
        advised += rules.incident_advised_followup
    for name in advised:
        if _empty(getattr(incident, name)) and name not in rules.incident_required:
            field = f"incident.{name}"
            if name == "thread":
                message = f"{incident.report}应注明{rules.label(field)}，以便与首报连成一组"
            else:
                message = f"突发事件报告宜写明{rules.label(field)}；尚不清楚的请注明“正在核实”"
            out.append(Finding(field, message, False, "incident.advised"))
    if incident.learned_at is not None and incident.learned_at < incident.occurred_at:
        message = (
            f"{rules.label('incident.learned_at')}早于{rules.label('incident.occurred_at')}，请核实"
        )
        out.append(Finding("incident.learned_at", message, False, "incident.time"))
    least = rules.incident_min_urgency
    if least is not None and draft.urgency < least:
        stronger = "或".join(u.value for u in Urgency if u >= least)
        message = f"突发事件属紧急信息，紧急程度一般应为{stronger}，本条为“{draft.urgency}”"
        out.append(Finding("urgency", message, False, "incident.urgency"))
    return out


def _markings(draft: ItemDraft, rules: EditorialRules) -> list[Finding]:
    out: list[Finding] = []
    for field, text in (("title", draft.title), ("body", draft.body)):
        for marking in rules.markings:
            match = marking.pattern.search(text)
            if match is None:
                continue
            written = match.group(0).strip()
            message = (
                f"{rules.label(field)}中写有{marking.what}“{written}”：份号、密级和紧急程度"
                "由系统按本条的字段标注，请从文字中删去"
            )
            higher = _written_classification(written)
            if higher is not None and (
                higher == "绝密" or Classification(higher) > draft.classification
            ):
                message += f"；所写密级高于本条密级“{draft.classification}”，请核实密级"
            out.append(Finding(field, message, False, "marking"))
    return out


def _written_classification(text: str) -> str | None:
    for word in _CLASSIFICATION_WORDS:
        if word in text:
            return word
    return None


def describe(findings: list[Finding]) -> str:
    """The findings as lines for a terminal: ✗ blocks, ! is advice."""
    return "\n".join(f"{'✗' if f.blocking else '!'} {f.field}：{f.message}" for f in findings)
