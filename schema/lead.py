"""Leads (信息线索): entries of media and government feeds kept beside the submissions.

The daemon fetches and parses the feeds (syncd/feed.py) and hands the entries here: an entry
already held (same source and guid, or the same link) or the same story as a recent lead of
any source (near-duplicate text) is not kept twice. Each lead records the keywords it
matched — the source's own rules and the themes of the reporting priorities (报送要点) held
here, so priorities from above become rules by themselves. A lead never leaves the node: the
desk dismisses it, keeps it, or turns it into a draft item that follows the normal path.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from schema import desk as ops
from schema.clock import from_text, to_text
from schema.datafile import data_text
from schema.desk import Desk
from schema.error import NotFound, TransitionError, ValidationError
from schema.record import Item, ItemDraft
from schema.request import themes_held
from schema.similar import Doc, Features, features, score
from schema.store import Store
from schema.vocabulary import Category

NEW, KEPT, DISMISSED, DRAFTED = "新", "保留", "已忽略", "已成稿"
FEATURES_CACHED = 20_000  # leads whose text features stay in memory between feed reads
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
STATES = (NEW, KEPT, DISMISSED, DRAFTED)


@dataclass(frozen=True)
class LeadRules:
    """``schema/data/leads.toml``."""

    near_threshold: float
    window: timedelta
    keyword_hours: float
    max_title: int
    max_summary: int
    draft_category: Category
    theme_separators: tuple[str, ...]
    min_term: int
    rank_window: timedelta

    @classmethod
    def load(cls, path: Path | None = None) -> LeadRules:
        """The rules in ``path``, or the shipped defaults."""
        raw, _ = data_text("leads.toml", path)
        data = tomllib.loads(raw)
        return cls(
            near_threshold=float(data["near_threshold"]),
            window=timedelta(days=float(data["window_days"])),
            keyword_hours=float(data["keyword_hours"]),
            max_title=int(data["max_title"]),
            max_summary=int(data["max_summary"]),
            draft_category=Category.parse(data["draft_category"], "draft_category"),
            theme_separators=tuple(data["theme_separators"]),
            min_term=int(data["min_term"]),
            rank_window=timedelta(days=float(data["rank_days"])),
        )


@dataclass(frozen=True)
class Entry:
    """One entry of a feed as parsed (syncd/feed.py), before it is kept."""

    source: str
    guid: str
    link: str
    title: str
    summary: str
    published: datetime | None


@dataclass(frozen=True)
class Lead:
    """A kept entry."""

    id: int
    source: str
    guid: str
    link: str
    title: str
    summary: str
    published: datetime | None
    fetched_at: datetime
    matched: tuple[str, ...]
    state: str
    item_id: str

    @property
    def at(self) -> datetime:
        """When the story is from: its published time, else when it was fetched."""
        return self.published or self.fetched_at


@dataclass(frozen=True)
class Added:
    """What one batch of entries did: kept, already held, same story as another, refused."""

    kept: list[Lead]
    known: int
    near: int
    refused: list[tuple[str, str]]  # (guid or title, reason)


@dataclass(frozen=True)
class FeedState:
    """How one feed source fares, as the daemon last recorded it (``feed_state``)."""

    source: str
    etag: str = ""  # for a folder source: a fingerprint of the files last read
    last_modified: str = ""
    last_ok: datetime | None = None
    last_error: str = ""
    failures: int = 0
    next_at: datetime | None = None
    refused: int = 0  # entries refused at the last fetch
    leads: int = 0  # leads kept from this source, ever

    def due(self, now: datetime) -> bool:
        """Whether the source should be read again at ``now``."""
        return self.next_at is None or self.next_at <= now


def feed_states(store: Store, count_leads: bool = True) -> list[FeedState]:
    """Every source the daemon has read, with how many leads each gave (unless not
    ``count_leads``: the daemon's check for due sources needs no count)."""
    sql = "SELECT source, count(*) AS n FROM lead GROUP BY source"
    counts = {r["source"]: r["n"] for r in store.query(sql)} if count_leads else {}
    return [
        FeedState(
            source=r["source"],
            etag=r["etag"],
            last_modified=r["last_modified"],
            last_ok=from_text(r["last_ok"]) if r["last_ok"] else None,
            last_error=r["last_error"],
            failures=r["failures"],
            next_at=from_text(r["next_at"]) if r["next_at"] else None,
            refused=r["refused"],
            leads=counts.get(r["source"], 0),
        )
        for r in store.query("SELECT * FROM feed_state ORDER BY source")
    ]


def feed_state(store: Store, source: str) -> FeedState:
    """One source's state (a source never read has the empty state: due now)."""
    found = [state for state in feed_states(store) if state.source == source]
    return found[0] if found else FeedState(source)


def forget_feeds(store: Store, configured: Iterable[str]) -> int:
    """Drop the state of sources no longer configured (their leads stay); how many."""
    names = list(configured)
    marks = ",".join("?" * len(names))
    with store.write() as db:
        cursor = db.execute(f"DELETE FROM feed_state WHERE source NOT IN ({marks})", names)
        return cursor.rowcount


def note_read(
    store: Store,
    source: str,
    now: datetime,
    next_at: datetime,
    etag: str,
    last_modified: str,
    refused: int = 0,
    problem: str = "",
) -> None:
    """A source was read (or answered 304): its validators, when next, and any per-entry
    ``problem`` worth showing; its failures are over."""
    with store.write() as db:
        db.execute(
            "INSERT INTO feed_state(source, etag, last_modified, last_ok, last_error, failures, "
            "next_at, refused) VALUES (?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT(source) DO UPDATE SET "
            "etag = excluded.etag, last_modified = excluded.last_modified, "
            "last_ok = excluded.last_ok, last_error = excluded.last_error, failures = 0, "
            "next_at = excluded.next_at, refused = excluded.refused",
            [source, etag, last_modified, to_text(now), problem, to_text(next_at), refused],
        )


def note_failure(store: Store, source: str, error: str, next_at: datetime) -> FeedState:
    """A source could not be read: the reason, one more failure, when to try again."""
    with store.write() as db:
        db.execute(
            "INSERT INTO feed_state(source, last_error, failures, next_at) VALUES (?, ?, 1, ?) "
            "ON CONFLICT(source) DO UPDATE SET last_error = excluded.last_error, "
            "failures = failures + 1, next_at = excluded.next_at",
            [source, error, to_text(next_at)],
        )
    return feed_state(store, source)


def theme_terms(theme: str, rules: LeadRules | None = None) -> list[str]:
    """The keywords a reporting-priorities theme gives: the theme, each quoted term in it
    (“煤改电”), and each part between the separators of ``leads.toml`` (和、，) — a news
    report seldom repeats a theme's whole wording."""
    rules = rules or LeadRules.load()
    quoted = re.findall(r"[“\"‘「]([^”\"’」]+)[”\"’」]", theme)
    plain = re.sub(r"[“”\"‘’「」]", "", theme)
    parts = re.split("|".join(map(re.escape, rules.theme_separators)), plain)
    terms = [plain, *quoted, *(part.strip() for part in parts)]
    return list(dict.fromkeys(t for t in terms if len(t) >= rules.min_term))


def priority_terms(store: Store, rules: LeadRules | None = None) -> list[str]:
    """The keywords of every theme of the reporting priorities held here."""
    rules = rules or LeadRules.load()
    return list(dict.fromkeys(t for theme in themes_held(store) for t in theme_terms(theme, rules)))


def keywords(store: Store, own: Sequence[str]) -> list[str]:
    """A source's keyword rules together with the terms of the priorities held here."""
    return list(dict.fromkeys([*own, *priority_terms(store)]))


def matched_in(text: str, words: Iterable[str]) -> tuple[str, ...]:
    """The keywords that occur in ``text`` (plain substrings: Chinese has no word breaks)."""
    return tuple(w for w in words if w and w in text)


def add(
    store: Store,
    entries: Iterable[Entry],
    words: Sequence[str],
    now: datetime,
    rules: LeadRules | None = None,
) -> Added:
    """Keep the new entries among ``entries``, with the keywords each matches."""
    rules = rules or LeadRules.load()
    kept: list[Lead] = []
    known = near = 0
    refused: list[tuple[str, str]] = []
    recent: list[Features] | None = None  # read when an entry not held needs comparing
    for entry in entries:
        problem = _problem(entry, rules)
        if problem:
            refused.append((entry.guid or entry.title[:40], problem))
            continue
        guid = entry.guid or entry.link or entry.title
        held = store.one(
            "SELECT id FROM lead WHERE (source = ? AND guid = ?) OR (link != '' AND link = ?)",
            (entry.source, guid, entry.link),
        )
        if held:
            known += 1
            continue
        if recent is None:
            recent = [
                _features(r["title"], r["summary"])
                for r in store.query(
                    "SELECT title, summary FROM lead WHERE fetched_at >= ?",
                    (to_text(now - rules.window),),
                )
            ]
        found_features = _features(entry.title.strip(), entry.summary.strip())
        # the same story again (another outlet, or the same one under a new guid): kept once
        if any(score(found_features, other) >= rules.near_threshold for other in recent):
            near += 1
            continue
        found = matched_in(f"{entry.title}\n{entry.summary}", words)
        with store.write() as db:
            cursor = db.execute(
                "INSERT INTO lead(source, guid, link, title, summary, published, fetched_at, "
                "matched) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    entry.source,
                    guid,
                    entry.link,
                    entry.title.strip(),
                    entry.summary.strip(),
                    to_text(entry.published) if entry.published else None,
                    to_text(now),
                    json.dumps(found, ensure_ascii=False),
                ],
            )
            lead = get(store, int(cursor.lastrowid or 0))
        kept.append(lead)
        recent.append(found_features)
    return Added(kept, known, near, refused)


def _problem(entry: Entry, rules: LeadRules) -> str:
    if not entry.title.strip():
        return "条目没有标题"
    if len(entry.title) > rules.max_title:
        return f"标题超过 {rules.max_title} 字"
    if len(entry.summary) > rules.max_summary:
        return f"正文超过 {rules.max_summary} 字"
    return ""


@lru_cache(maxsize=FEATURES_CACHED)
def _features(title: str, summary: str) -> Features:
    """A lead's text features, kept for the next feed read (the daemon reads every few
    minutes and compares each new entry with every lead of the window)."""
    return features(Doc("", "", title, summary, _EPOCH))


def get(store: Store, lead_id: int) -> Lead:
    """One lead by its number."""
    found = _rows(store, "SELECT * FROM lead WHERE id = ?", (lead_id,))
    if not found:
        raise NotFound(f"没有线索 {lead_id}")
    return found[0]


def ranked(
    store: Store,
    now: datetime,
    match: str = "",
    states: Sequence[str] = (NEW, KEPT),
    rules: LeadRules | None = None,
    limit: int = 200,
) -> list[Lead]:
    """Leads in ``states``, most relevant first: each matched keyword counts as
    ``keyword_hours`` of recency; ``match`` keeps only leads whose text contains it. The
    keywords are those matched when the lead was kept and the themes of the priorities held
    now, so priorities arriving from above re-rank the leads already here. Without ``match``,
    a 新 lead older than ``rank_days`` is left out (a year of feeds is not re-ranked on
    every look); kept ones stay."""
    rules = rules or LeadRules.load()
    marks = ",".join("?" * len(states))
    sql = f"SELECT * FROM lead WHERE state IN ({marks})"
    params: list[Any] = list(states)
    if match.strip():
        sql += " AND (instr(title, ?) > 0 OR instr(summary, ?) > 0)"
        params += [match.strip(), match.strip()]
    else:
        sql += " AND (state != ? OR fetched_at >= ?)"
        params += [NEW, to_text(now - rules.rank_window)]
    themes = priority_terms(store, rules)  # priorities that came after a lead count too
    # Only two kinds of lead can rank among the first ``limit``: one that matches a keyword,
    # and one among the newest ``limit`` (an unmatched lead older than ``limit`` others ranks
    # below all of them). A desk's store holds weeks of feeds; only those are read.
    hits = " OR ".join(["matched != '[]'", *["instr(title, ?) OR instr(summary, ?)"] * len(themes)])
    candidates = _rows(
        store, f"{sql} AND ({hits})", (*params, *(t for t in themes for _ in (0, 1)))
    ) + _rows(
        store,
        f"{sql} ORDER BY coalesce(published, fetched_at) DESC, id DESC LIMIT ?",
        (*params, limit),
    )
    leads = [
        replace(
            lead, matched=_union(lead.matched, matched_in(f"{lead.title}\n{lead.summary}", themes))
        )
        for lead in {lead.id: lead for lead in candidates}.values()
    ]

    def score(lead: Lead) -> float:
        age = (now - lead.at).total_seconds() / 3600
        return len(lead.matched) * rules.keyword_hours - age

    return sorted(leads, key=lambda lead: (-score(lead), -lead.id))[:limit]


def _union(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*first, *second)))


def set_state(store: Store, lead_id: int, state: str) -> Lead:
    """Keep (保留) or dismiss (已忽略) a lead; one turned into an item stays so."""
    if state not in (NEW, KEPT, DISMISSED):
        raise ValidationError("", f"线索状态只能改为{NEW}、{KEPT}或{DISMISSED}")
    lead = get(store, lead_id)
    if lead.state == DRAFTED:
        raise TransitionError(f"线索 {lead_id} 已写成信息 {lead.item_id}")
    with store.write() as db:
        db.execute("UPDATE lead SET state = ? WHERE id = ?", [state, lead_id])
    return get(store, lead_id)


def draft_of(lead: Lead, author: str, rules: LeadRules | None = None) -> ItemDraft:
    """The draft item a lead starts: its title, the summary as a first body, the source cited."""
    rules = rules or LeadRules.load()
    cited = f"（线索来源：{lead.source}" + (f"，{lead.link}" if lead.link else "") + "）"
    body = f"{lead.summary.strip()}\n\n{cited}".strip()
    # a feed's title may hold line breaks or tabs; an item's title is one line
    title = " ".join(lead.title.split())
    return ItemDraft(title=title, category=rules.draft_category, body=body, author=author)


def to_item(desk: Desk, lead_id: int, draft: ItemDraft | None = None) -> Item:
    """Turn a lead into a draft item of this desk (待签发): ``draft`` as the desk edited it,
    or the lead's own :func:`draft_of`. The lead remembers the item."""
    lead = get(desk.store, lead_id)
    if lead.state == DRAFTED:
        raise TransitionError(f"线索 {lead_id} 已写成信息 {lead.item_id}")
    with desk.store.write() as db:
        item = ops.submit(desk, draft or draft_of(lead, desk.actor))
        db.execute(
            "UPDATE lead SET state = ?, item_id = ? WHERE id = ?", [DRAFTED, item.id, lead_id]
        )
    return item


def _rows(store: Store, sql: str, params: tuple[Any, ...]) -> list[Lead]:
    return [
        Lead(
            id=r["id"],
            source=r["source"],
            guid=r["guid"],
            link=r["link"],
            title=r["title"],
            summary=r["summary"],
            published=from_text(r["published"]) if r["published"] else None,
            fetched_at=from_text(r["fetched_at"]),
            matched=tuple(json.loads(r["matched"])),
            state=r["state"],
            item_id=r["item_id"],
        )
        for r in store.query(sql, params)
    ]
