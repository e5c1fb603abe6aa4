"""Benchmark of the node store at scale: inbox pages and Chinese full-text search.

Run by hand (pytest does not collect it: no file or function here is named ``test_*``)::

    .venv/bin/python tests/bench/bench_store.py [--items N] [--path FILE]

1. Build a store of N items (default 1,000,000) at node 140200 (大同市): ~98 % received from
   ~30 source units, ~2 % its own items submitted and signed off to 140000. Texts recombine the
   sentences and titles of ``fixtures/items.toml``; bodies are 200–300 characters. Rows are
   written in bulk with SQL; :func:`verify` first checks, on sample items, that they are exactly
   what ``inbound.apply`` and ``desk.submit`` + ``desk.signoff`` write. ``--path FILE`` keeps
   the store, and an existing FILE is reused without building.
2. Time what the product runs: ``view.inbox`` pages (newest, and deeper via ``before=``);
   ``view.inbox(search=TERM)`` (newest page, page 11 of the hits, and the page before the middle
   of the inbox); ``view.outbox(search=TERM)``; ``view.search(TERM)`` — for 1-, 2- and
   3–6-character terms, a rare term and a term with no hits. Print p50 / p95 / max against the
   targets (inbox page ≤ 20 ms, search p95 ≤ 100 ms) and each query's plan. A call is stopped
   after ``--cap`` seconds ("> cap").
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from schema import outbox, view
from schema.clock import CHINA, fixed_clock, to_text
from schema.desk import Desk, DeskRules, item_record, signoff, submit
from schema.error import StoreError
from schema.fixture import SampleItem, load_items, load_units
from schema.inbound import apply
from schema.itemfile import draft_to_dict
from schema.network import add_units
from schema.record import Item, ItemDraft, Unit
from schema.search import index_text, match_query
from schema.store import Store
from schema.vocabulary import Role, Tier

ME = "140200"
PARENT = "140000"
OWN_SHARE = 0.02  # share of the node's own (outgoing) items
RARE_TERM = "剪纸"  # absent from the fixtures; put into about RARE_RATE of the bodies
RARE_RATE = 1 / 10_000
NO_HIT_TERM = "量子通信"
START = datetime(2022, 1, 1, 8, 0, tzinfo=CHINA)
SPAN_S = 5 * 365 * 86400  # items spread evenly over five years
CHUNK = 5_000  # items generated and inserted at a time
COMMIT_EVERY = 50_000
INBOX_TARGET_MS = 20.0
SEARCH_TARGET_MS = 100.0
DEEP = "inbox search before="  # the figures of deeper inbox-search pages

# Source units beyond the fixture network's 22 children of 140200, to make ~30.
EXTRA_UNITS = [
    Unit("140200-wjw", "大同市卫生健康委员会", Tier.DEPARTMENT, ME, "大同卫健委"),
    Unit("140200-jtj", "大同市交通运输局", Tier.DEPARTMENT, ME, "大同交通局"),
    Unit("140200-slj", "大同市水务局", Tier.DEPARTMENT, ME, "大同水务局"),
    Unit("140200-scjgj", "大同市市场监督管理局", Tier.DEPARTMENT, ME, "大同市场监管局"),
    Unit("140200-wlj", "大同市文化和旅游局", Tier.DEPARTMENT, ME, "大同文旅局"),
    Unit("140200-mzj", "大同市民政局", Tier.DEPARTMENT, ME, "大同民政局"),
    Unit("140200-gtj", "大同市规划和自然资源局", Tier.DEPARTMENT, ME, "大同规自局"),
    Unit("140200-czj", "大同市财政局", Tier.DEPARTMENT, ME, "大同财政局"),
]
TOWNS = [
    "新荣镇", "破鲁堡乡", "郭家窑乡", "西村乡", "花园屯乡", "堡子湾乡", "高山镇", "口泉乡",
    "西韩岭乡", "倍加皂镇", "党留庄乡", "峰峪乡", "罗文皂镇", "龙泉镇", "古城镇", "南村镇",
    "作疃乡", "蕉山乡", "武灵镇", "壶泉镇", "落水河乡", "独峪乡", "永安镇", "沙圪坨镇",
    "西坪镇", "王官屯镇", "大磁窑镇", "官王铺乡", "云兴镇", "鹊儿山镇", "店湾镇", "管家堡乡",
]  # fmt: skip
NAMES = [
    "张慧敏", "王志刚", "刘晓燕", "高建华", "李文静", "赵国强", "孙丽娟", "周海峰", "吴秀英",
    "郑宏伟", "冯雪梅", "陈建军", "杨春花", "马永平", "胡晓东", "郭爱民", "何丽萍", "林志远",
    "罗红梅", "梁卫东", "宋玉兰", "韩立新", "唐美玲", "许振华", "邓桂芳", "曹建平", "彭晓光",
    "田淑珍", "董文斌", "袁海燕", "薛志勇", "范丽霞", "任国栋", "贾晓红", "段军", "侯玉梅",
]  # fmt: skip
TERMS = [
    ("1 字", "煤"),
    ("1 字", "欠"),
    ("2 字", "煤矿"),
    ("2 字", "透水"),
    ("2 字", "欠薪"),
    ("2 字", "批示"),
    ("2 字", "供暖"),
    ("3+ 字", "煤改电"),
    ("3+ 字", "放管服"),
    ("3+ 字", "秸秆综合利用"),
    ("罕见", RARE_TERM),
    ("无结果", NO_HIT_TERM),
]

# ── text ──────────────────────────────────────────────────────────────────────────────────────
#
# index_text of a whole body costs ~115 µs, minutes over 1M items. Bodies are therefore made of
# whole sentences from a pool whose index text is computed once. Every sentence ends in 。！or？,
# which no token spans, so index_text(s1 + s2) has the tokens of index_text(s1), then s2's;
# rows() re-checks that once per SPOT_CHECK items.

POOL_SIZE = 60_000
SPOT_CHECK = 1_000


@dataclass(frozen=True)
class Corpus:
    samples: tuple[SampleItem, ...]
    sentences: tuple[str, ...]
    places: re.Pattern[str]
    counties: tuple[str, ...]


@cache
def corpus() -> Corpus:
    """Sentences, titles and place names of the fixture items."""
    samples = tuple(load_items())
    sentences: list[str] = []
    for s in samples:
        for part in re.findall(r"[^。！？；]+[。！？；]", s.draft.body):
            part = part.strip()
            if 8 <= len(part) <= 90:  # ≤ 100 once varied
                sentences.append(part if part[-1] in "。！？" else part[:-1] + "。")
    units = load_units()
    counties = tuple(u.short for u in units if u.parent == ME and u.tier is Tier.COUNTY)
    known = {u.short for u in units if u.tier in (Tier.COUNTY, Tier.TOWNSHIP) and u.short}
    known.update(TOWNS)
    places = re.compile("|".join(sorted(map(re.escape, known), key=len, reverse=True)))
    return Corpus(samples, tuple(sentences), places, counties)


_NUMBER = re.compile(r"\d+(?:\.\d+)?(?![年月日时分:：\d])")


def _vary(text: str, rng: random.Random, c: Corpus) -> str:
    """``text`` with its places and (non-date) numbers replaced by random ones."""

    def place(m: re.Match[str]) -> str:
        return rng.choice(c.counties if m.group(0)[-1] in "区县市" else TOWNS)

    def number(m: re.Match[str]) -> str:
        whole, _, frac = m.group(0).partition(".")
        digits = len(whole)
        value = str(rng.randint(10 ** (digits - 1) if digits > 1 else 1, 10**digits - 1))
        return value + ("." + str(rng.randint(1, 9)) if frac else "")

    return _NUMBER.sub(number, c.places.sub(place, text))


@cache
def sentence_pool(seed: int) -> tuple[tuple[str, str], ...]:
    """Varied fixture sentences (≤ 100 characters) with their index text."""
    c = corpus()
    rng = random.Random(seed)
    pool = [_vary(rng.choice(c.sentences), rng, c) for _ in range(POOL_SIZE)]
    return tuple((s, index_text(s)) for s in pool if len(s) <= 100)


def _body(rng: random.Random, pool: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """A body of 200–300 characters of whole pool sentences, and its index text."""
    texts: list[str] = []
    tokens: list[str] = []
    if rng.random() < RARE_RATE:
        rare = f"{rng.choice(TOWNS)}{RARE_TERM}非遗工坊带动{rng.randint(12, 96)}名妇女居家就业。"
        texts.append(rare)
        tokens.append(index_text(rare))
    size = sum(map(len, texts))
    target = rng.randint(200, 300)
    while size < target:
        text, index = pool[rng.randrange(len(pool))]
        if size + len(text) > 300:  # only once size ≥ 200: pool sentences are ≤ 100
            break
        texts.append(text)
        tokens.append(index)
        size += len(text)
    return "".join(texts), " ".join(tokens)


def _draft(
    rng: random.Random, pool: Sequence[tuple[str, str]], when: datetime
) -> tuple[ItemDraft, str]:
    """A fixture item's markings and varied title with a pooled body; and the body's index text."""
    c = corpus()
    d = rng.choice(c.samples).draft
    incident = d.incident
    if incident is not None:
        occurred = (when - timedelta(minutes=rng.randint(40, 300))).replace(microsecond=0)
        incident = replace(
            incident,
            occurred_at=occurred,
            learned_at=occurred + timedelta(minutes=rng.randint(5, 30)),
            place=_vary(incident.place, rng, c),
        )
    body, body_index = _body(rng, pool)
    draft = ItemDraft(
        title=_vary(d.title, rng, c),
        category=d.category,
        body=body,
        author=rng.choice(NAMES),
        urgency=d.urgency,
        classification=d.classification,
        phone=f"139{rng.randint(0, 99_999_999):08d}" if rng.random() < 0.7 else "",
        request=d.request if rng.random() < 0.5 else "",
        incident=incident,
    )
    return draft, body_index


# ── rows ──────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Slot:
    """One item to write: its row ids, id, sender and times (epoch seconds)."""

    index: int
    own: bool
    seq: int
    edge_id: int
    audit_id: int
    outbox_seq: int
    item_id: str
    origin: str
    at: int  # received (received items) / signed off (own)
    created: int  # created at the sender / submitted (own)
    signed: int  # signed off at the sender (received items)


def plan(n: int, seed: int) -> tuple[list[Slot], dict[int, int]]:
    """The slots of ``n`` items in a fresh store, and this node's ``item:{year}`` counters."""
    rng = random.Random(seed)
    sources = [u.id for u in all_units() if u.parent == ME]
    numbers: dict[tuple[str, int], int] = {}
    slots: list[Slot] = []
    seq = audit_id = outbox_seq = 1
    start = int(START.timestamp())
    for i in range(n):
        at = start + int(i * SPAN_S / n)
        own = rng.random() < OWN_SHARE
        origin = ME if own else rng.choice(sources)
        created = at - rng.randint(600, 3 * 3600 if own else 6 * 3600)
        signed = created + rng.randint(60, max(61, (at - created) // 2))
        year = _dt(created).year
        number = numbers[origin, year] = numbers.get((origin, year), 0) + 1
        item_id = f"{origin}-{year}-{number:05d}"
        slots.append(
            Slot(i, own, seq, seq, audit_id, outbox_seq, item_id, origin, at, created, signed)
        )
        seq += 1  # an item and its one edge are written together: edge id = item seq
        audit_id += 3 if own else 1
        outbox_seq += 1 if own else 0
    return slots, {year: count for (origin, year), count in numbers.items() if origin == ME}


def _dt(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, CHINA)


def _signer(origin: str) -> str:
    return NAMES[sum(map(ord, origin)) % len(NAMES)]


def _actor(slot: Slot) -> str:
    return NAMES[slot.index % 5]


def _content_dict(d: ItemDraft) -> dict[str, Any]:
    """``draft_to_dict(d)`` without its deep copy (spot-checked in :func:`rows`)."""
    if d.incident is not None:
        return draft_to_dict(d)
    out: dict[str, Any] = {
        "title": d.title,
        "category": d.category.value,
        "body": d.body,
        "author": d.author,
        "urgency": d.urgency.value,
        "classification": d.classification.value,
    }
    if d.phone:
        out["phone"] = d.phone
    if d.request:
        out["request"] = d.request
    return out


TABLES = {
    "item": "INSERT INTO item(seq, id, origin, revision, title, body, category, urgency, "
    "classification, author, phone, request, incident, signer, signed_at, derivation, "
    "created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "revision": "INSERT INTO revision(item_id, revision, content, editor, at) VALUES (?,?,?,?,?)",
    "item_fts": "INSERT INTO item_fts(rowid, title, body) VALUES (?,?,?)",
    "edge": "INSERT INTO edge(id, item_id, from_unit, to_unit, state, version, note, placement, "
    "updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
    "audit": "INSERT INTO audit(id, edge_id, actor, at, from_state, to_state, note, origin) "
    "VALUES (?,?,?,?,?,?,?,?)",
    "applied": "INSERT INTO applied(record_id, kind, version, applied_at) VALUES (?,?,?,?)",
    "outbox": "INSERT INTO outbox(seq, record_id, kind, version, origin, recipients, priority, "
    "classification, payload, created_at, shipped_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
}


def rows(slots: Sequence[Slot], drafts: Sequence[tuple[ItemDraft, str]]) -> dict[str, list[Any]]:
    """The rows the real code writes for these items, by table (see :func:`verify`)."""
    priority = DeskRules.load().priority
    out: dict[str, list[Any]] = {name: [] for name in TABLES}
    for s, (d, body_index) in zip(slots, drafts, strict=True):
        content = _content_dict(d)
        if s.index % SPOT_CHECK == 0 and (
            list(content.items()) != list(draft_to_dict(d).items())
            or body_index.split() != index_text(d.body).split()  # the same tokens
        ):
            raise AssertionError(f"bulk rows differ from the real functions for item {s.index}")
        incident = content.get("incident")
        incident_json = json.dumps(incident, ensure_ascii=False) if incident else None
        revision_json = json.dumps(content, ensure_ascii=False)
        at, created = to_text(_dt(s.at)), to_text(_dt(s.created))
        markings = (d.category.value, d.urgency.value, d.classification.value)
        out["item_fts"].append((s.seq, index_text(d.title), body_index))
        if not s.own:  # as inbound.apply writes a received item
            signer = _signer(s.origin)
            out["item"].append(
                (s.seq, s.item_id, s.origin, 1, d.title, d.body, *markings, d.author, d.phone,
                 d.request, incident_json, signer, to_text(_dt(s.signed)), "", created, at)
            )  # fmt: skip
            out["revision"].append((s.item_id, 1, revision_json, signer, at))
            out["edge"].append((s.edge_id, s.item_id, s.origin, ME, "已接收", 1, "第1稿", "", at))
            out["audit"].append(
                (s.audit_id, s.edge_id, signer, at, None, "已接收", "第1稿", s.origin)
            )
            out["applied"].append((s.item_id, "item", 1, at))
            continue
        # as desk.submit, desk.signoff and the shipped outbox record leave an own item
        actor = _actor(s)
        note = f"{actor} 签发"
        out["item"].append(
            (s.seq, s.item_id, ME, 1, d.title, d.body, *markings, d.author, d.phone,
             d.request, incident_json, actor, at, "", created, at)
        )  # fmt: skip
        out["revision"].append((s.item_id, 1, revision_json, actor, created))
        out["edge"].append((s.edge_id, s.item_id, ME, PARENT, "已报送", 3, note, "", at))
        out["audit"] += [
            (s.audit_id, s.edge_id, actor, created, None, "草稿", "", "local"),
            (s.audit_id + 1, s.edge_id, actor, created, "草稿", "待签发", "提交签发", "local"),
            (s.audit_id + 2, s.edge_id, actor, at, "待签发", "已报送", note, "local"),
        ]
        item = Item(
            id=s.item_id, seq=s.seq, origin=ME, revision=1, draft=d, created_at=_dt(s.created),
            updated_at=_dt(s.at), signer=actor, signed_at=_dt(s.at),
        )  # fmt: skip
        payload = json.dumps(item_record(item, ME, (PARENT,)).payload, ensure_ascii=False)
        out["outbox"].append(
            (s.outbox_seq, s.item_id, "item", 1, ME, json.dumps([PARENT]), priority[d.urgency],
             d.classification.value, payload, at, to_text(_dt(s.at + 45)))
        )  # fmt: skip
    return out


def drafts(slots: Sequence[Slot], seed: int) -> list[tuple[ItemDraft, str]]:
    """The generated drafts of ``slots`` (the same for the same seed and first slot)."""
    pool = sentence_pool(seed)
    rng = random.Random(seed * 1_000_003 + (slots[0].index if slots else 0))
    return [_draft(rng, pool, _dt(s.created)) for s in slots]


def write_rows(conn: sqlite3.Connection, table_rows: dict[str, list[Any]]) -> None:
    for name, sql in TABLES.items():
        conn.executemany(sql, table_rows[name])


def write_counters(conn: sqlite3.Connection, counters: dict[int, int]) -> None:
    """This node's ``item:{year}`` counters as ``new_item_id`` leaves them."""
    conn.executemany(
        "INSERT INTO counter(name, value) VALUES (?, ?) "
        "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        [(f"item:{year}", value) for year, value in sorted(counters.items())],
    )


def all_units() -> list[Unit]:
    return [*load_units(), *EXTRA_UNITS]


# ── verification: the bulk rows are what the real code writes ─────────────────────────────────


def _dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored table, FTS shadow tables included (``item_fts`` itself is contentless)."""
    conn = store.db.conn
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT IN ('item_fts', '_sqlite_migrations')"
        )
    ]
    return {n: sorted(conn.execute(f"SELECT * FROM {n}").fetchall(), key=repr) for n in names}


def verify(seed: int) -> int:
    """Write sample items through the real code and through :func:`rows`, each alone in a fresh
    store, and compare every table byte for byte; also find each by its title. Returns how many
    items were compared; exits on any difference."""
    slots, _ = plan(400, seed)
    made = list(zip(slots, drafts(slots, seed), strict=True))
    picked = []
    for own in (True, False):
        for incident in (True, False):
            for extra in (True, False):  # with and without phone and request
                picked += [
                    (s, dd)
                    for s, dd in made
                    if s.own is own
                    and (dd[0].incident is not None) is incident
                    and bool(dd[0].phone and dd[0].request) is extra
                ][:2]
    rules = DeskRules.load()
    me = Unit(ME, "大同市人民政府办公室", Tier.CITY, PARENT, "大同市")
    for s, (draft, body_index) in picked:
        item_id = re.sub(r"-\d+$", "-00001", s.item_id)  # first item, first row ids
        s = replace(s, seq=1, edge_id=1, audit_id=1, outbox_seq=1, item_id=item_id)
        bulk, real = Store.memory(), Store.memory()
        with bulk.write() as db:
            write_rows(db.conn, rows([s], [(draft, body_index)]))
            write_counters(db.conn, {_dt(s.created).year: 1} if s.own else {})
        if s.own:
            desk = Desk(real, me, _actor(s), frozenset(Role), fixed_clock(_dt(s.created)), rules)
            signoff(replace(desk, clock=fixed_clock(_dt(s.at))), submit(desk, draft).id)
            outbox.mark_shipped(real, [q.seq for q in outbox.pending(real)], _dt(s.at + 45))
        else:
            signer, signed = _signer(s.origin), _dt(s.signed)
            sent = Item(
                id=item_id, seq=0, origin=s.origin, revision=1, draft=draft,
                created_at=_dt(s.created), updated_at=signed, signer=signer, signed_at=signed,
            )  # fmt: skip
            apply(real, item_record(sent, s.origin, (ME,)), ME, fixed_clock(_dt(s.at)))
        a, b = _dump(bulk), _dump(real)
        found = [[r["item_id"] for r in view.search(x, draft.title)] for x in (bulk, real)]
        for name in a:
            if a[name] != b[name]:
                sys.exit(f"verify: table {name} differs for {item_id}:\n  bulk {a[name]}\n"
                         f"  real {b[name]}")  # fmt: skip
        if found != [[item_id], [item_id]]:
            sys.exit(f"verify: searching {draft.title!r} finds {found}, not {item_id}")
    return len(picked)


# ── build ─────────────────────────────────────────────────────────────────────────────────────


def build(path: Path, n: int, seed: int) -> None:
    """Create the store at ``path`` with ``n`` items (in a side file, renamed when complete)."""
    partial = path.with_name(path.name + ".building")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    store = Store.open(partial)  # the schema's migrations, as at every node
    add_units(store, all_units())
    store.close()
    conn = sqlite3.connect(partial, isolation_level=None)
    # Build-time settings only; none changes what is stored.
    for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -4000000",
                   "temp_store = MEMORY", "foreign_keys = OFF"):  # fmt: skip
        conn.execute(f"PRAGMA {pragma}")
    started = time.perf_counter()
    gc.disable()  # millions of long-lived tuples and no cycles: skip the GC's rescans
    slots, counters = plan(n, seed)
    conn.execute("BEGIN")
    for first in range(0, n, CHUNK):
        chunk = slots[first : first + CHUNK]
        write_rows(conn, rows(chunk, drafts(chunk, seed)))
        done = first + len(chunk)
        if done % COMMIT_EVERY == 0 or done == n:
            conn.execute("COMMIT")
            conn.execute("BEGIN")
        if done % 100_000 == 0 or done == n:
            elapsed = time.perf_counter() - started
            print(
                f"  {done:>10,} items {elapsed:7.1f} s {done / elapsed:7,.0f} items/s", flush=True
            )
    write_counters(conn, counters)
    conn.execute("COMMIT")
    conn.close()
    gc.enable()
    partial.rename(path)
    print(f"  build time {time.perf_counter() - started:.1f} s", flush=True)


# ── measurement ───────────────────────────────────────────────────────────────────────────────


@dataclass
class Figure:
    """Timings of one query."""

    group: str
    label: str
    target_ms: float
    times_ms: list[float]
    rows: int
    stopped: bool = False  # a call hit the time cap

    @property
    def p95(self) -> float:
        ordered = sorted(self.times_ms)
        return ordered[math.ceil(0.95 * len(ordered)) - 1]

    @property
    def passed(self) -> bool:
        return not self.stopped and self.p95 <= self.target_ms

    def line(self) -> str:
        verdict = f"≤{self.target_ms:.0f}  {'PASS' if self.passed else 'MISS'}"
        if self.stopped:
            return f"  {_pad(self.label, 34)} {'> cap':>14} {'':>21}  {verdict} (stopped)"
        t = self.times_ms
        return (
            f"  {_pad(self.label, 34)} {len(t):>4} {self.rows:>4} {statistics.median(t):9.2f}"
            f" {self.p95:9.2f} {max(t):9.2f}  {verdict}"
        )


def _pad(text: str, width: int) -> str:
    """Left-justify, counting CJK characters as two columns."""
    return text + " " * max(0, width - sum(2 if ord(ch) > 0x2E80 else 1 for ch in text))


HEADER = f"  {_pad('query', 34)} runs rows    p50 ms    p95 ms    max ms  target"


@dataclass(frozen=True)
class Timer:
    store: Store
    runs: int
    budget_s: float
    cap_s: float

    def measure(self, group: str, label: str, fn: Callable[[], list[Any]], target: float) -> Figure:
        """Time ``fn`` after one warm-up call: ``runs`` times, or at least 3 and about
        ``budget_s``. A call is interrupted after ``cap_s``."""
        conn = self.store.db.conn
        deadline = math.inf
        conn.set_progress_handler(lambda: int(time.perf_counter() > deadline), 1000)
        times: list[float] = []
        count = 0
        try:
            started = time.perf_counter()
            for call in range(self.runs + 1):  # call 0 is the warm-up
                t0 = time.perf_counter()
                deadline = t0 + self.cap_s
                try:
                    count = len(fn())
                except StoreError:
                    if time.perf_counter() < deadline:
                        raise
                    times = []  # stopped at the cap
                    break
                if call:
                    times.append((time.perf_counter() - t0) * 1000)
                if len(times) >= 3 and time.perf_counter() - started > self.budget_s:
                    break
        finally:
            conn.set_progress_handler(None, 0)
        if times:
            figure = Figure(group, label, target, times, count)
        else:
            figure = Figure(group, label, target, [self.cap_s * 1000], 0, stopped=True)
        print(figure.line(), flush=True)
        return figure


def traced_sql(store: Store, fn: Callable[[], Any]) -> str:
    """The last SELECT that ``fn`` runs, with its parameters bound (``fn`` is stopped soon)."""
    seen: list[str] = []
    conn = store.db.conn
    stop = time.perf_counter() + 0.1
    conn.set_trace_callback(seen.append)
    conn.set_progress_handler(lambda: int(time.perf_counter() > stop), 1000)
    try:
        fn()
    except StoreError:
        pass
    finally:
        conn.set_trace_callback(None)
        conn.set_progress_handler(None, 0)
    return [s for s in seen if s.lstrip().upper().startswith("SELECT")][-1]


def explain(store: Store, sql: str) -> str:
    """``EXPLAIN QUERY PLAN`` of ``sql`` as indented lines."""
    depth = {0: 0}
    lines = []
    for node, parent, _, detail in store.db.conn.execute(f"EXPLAIN QUERY PLAN {sql}"):
        depth[node] = depth.get(parent, 0) + 1
        lines.append("      " + "  " * depth[node] + detail)
    return "\n".join(lines)


def run_queries(store: Store, timer: Timer) -> list[Figure]:
    """Time every product query, printing each figure as it is made."""
    conn = store.db.conn
    figures: list[Figure] = []

    def measure(group: str, label: str, fn: Callable[[], list[Any]], target: float) -> None:
        figures.append(timer.measure(group, label, fn, target))

    def inbox(**kw: Any) -> Callable[[], list[Any]]:
        return lambda: view.inbox(store, ME, **kw)

    inbox_ids = [r[0] for r in conn.execute("SELECT id FROM edge WHERE to_unit = ?", (ME,))]
    inbox_ids.reverse()  # newest first
    pages = len(inbox_ids) // view.PAGE
    mid = inbox_ids[len(inbox_ids) // 2]

    print(f"\n== Inbox pages: view.inbox(store, {ME!r}[, before=…]), {view.PAGE} rows\n{HEADER}")
    measure("inbox page", "newest", inbox(), INBOX_TARGET_MS)
    for page in sorted(p for p in {2, 10, 100, 1000, pages // 2, pages} if 1 < p <= pages):
        before = inbox_ids[(page - 1) * view.PAGE - 1]  # last edge of the page before
        label = f"page {page:,} (before={before})"
        measure("inbox page", label, inbox(before=before), INBOX_TARGET_MS)

    print("\n== Items matching each term (all items)")
    for _, term in TERMS:
        query = match_query(term)
        hits = conn.execute("SELECT count(*) FROM item_fts WHERE item_fts MATCH ?", (query,))
        hits = hits.fetchone()[0]
        print(f"  {_pad(term, 14)} {_pad(query or '', 30)} {hits:>9,}", flush=True)

    print(f"\n== Inbox search: view.inbox(store, {ME!r}, search=TERM[, before=…])\n{HEADER}")
    for kind, term in TERMS:
        measure("inbox search", f"{kind} {term}", inbox(search=term), SEARCH_TARGET_MS)
        # page 11 (or the last) of this term's hits: before = the last edge of the page before
        found = view.inbox(store, ME, search=term, limit=11 * view.PAGE)
        page = min(11, math.ceil(len(found) / view.PAGE))
        if page > 1:
            before = found[(page - 1) * view.PAGE - 1]["edge_id"]
            label = f"  page {page}{'' if page == 11 else ' (last)'} (before={before})"
            measure(DEEP, label, inbox(search=term, before=before), SEARCH_TARGET_MS)
        label = f"  before=mid-inbox ({mid})"
        measure(DEEP, label, inbox(search=term, before=mid), SEARCH_TARGET_MS)

    print(f"\n== Outbox search: view.outbox(store, {ME!r}, search=TERM)\n{HEADER}")
    for kind, term in TERMS:
        fn = lambda term=term: view.outbox(store, ME, search=term)  # noqa: E731
        measure("outbox search", f"{kind} {term}", fn, SEARCH_TARGET_MS)

    print(f"\n== Search: view.search(store, TERM)\n{HEADER}")
    for kind, term in TERMS:
        fn = lambda term=term: view.search(store, term)  # noqa: E731
        measure("search", f"{kind} {term}", fn, SEARCH_TARGET_MS)

    print("\n== Query plans (term 煤矿)")
    for title, fn in (
        ("view.inbox", inbox()),
        (f"view.inbox(before={mid})", inbox(before=mid)),
        ("view.inbox(search=煤矿)", inbox(search="煤矿")),
        (f"view.inbox(search=煤矿, before={mid})", inbox(search="煤矿", before=mid)),
        ("view.outbox(search=煤矿)", lambda: view.outbox(store, ME, search="煤矿")),
        ("view.search(煤矿)", lambda: view.search(store, "煤矿")),
    ):
        print(f"  {title}:\n{explain(store, traced_sql(store, fn))}")
    return figures


def summary(figures: list[Figure]) -> None:
    print("\n== Summary (worst p95 per query kind)")
    groups: dict[str, list[Figure]] = {}
    for f in figures:
        groups.setdefault(f.group, []).append(f)
    for group, members in groups.items():
        worst = max(members, key=lambda f: f.p95)
        misses = sum(not f.passed for f in members)
        verdict = f"MISS ({misses} of {len(members)})" if misses else "PASS"
        print(
            f"  {_pad(group, 21)} p95 {worst.p95:9.2f} ms  target ≤{worst.target_ms:.0f} ms"
            f"  {verdict}  worst: {worst.label.strip()}"
        )


# ── main ──────────────────────────────────────────────────────────────────────────────────────


@contextmanager
def store_path(path: Path | None) -> Iterator[Path]:
    """``path``, or a file in a temporary folder removed afterwards."""
    if path is not None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="xinbao-bench-") as tmp:
        yield Path(tmp) / "store.db"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Benchmark of the node store at scale.")
    p.add_argument("--items", type=int, default=1_000_000, help="items to build (1,000,000)")
    p.add_argument("--path", type=Path, help="store to build, or to reuse if it exists")
    p.add_argument("--runs", type=int, default=100, help="timed runs per query (100)")
    p.add_argument("--budget", type=float, default=5.0, help="seconds per query, about (5)")
    p.add_argument("--cap", type=float, default=5.0, help="seconds before a call is stopped (5)")
    p.add_argument("--seed", type=int, default=20261121)
    args = p.parse_args(argv)
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"sqlite {sqlite3.sqlite_version}, python {sys.version.split()[0]}, "
        f"{os.cpu_count()} cpu, load average {load}"
    )
    print(f"verify: bulk rows = real code rows for {verify(args.seed)} sample items", flush=True)
    with store_path(args.path) as path:
        if path.exists():
            print(f"== Reusing {path}")
        else:
            print(f"== Building {path} with {args.items:,} items", flush=True)
            build(path, args.items, args.seed)
        store = Store.open(path)
        try:
            conn = store.db.conn
            items, received, own = conn.execute(
                "SELECT (SELECT count(*) FROM item), (SELECT count(*) FROM edge WHERE to_unit = ?),"
                " (SELECT count(*) FROM edge WHERE from_unit = ?)",
                (ME, ME),
            ).fetchone()
            size = path.stat().st_size
            print(
                f"  {items:,} items ({received:,} received, {own:,} own); file "
                f"{size / 2**20:,.0f} MiB, {size / max(items, 1):,.0f} bytes per item"
            )
            sizes = conn.execute(
                "SELECT CASE WHEN name LIKE 'item_fts%' THEN 'item_fts (all)' ELSE name END, "
                "sum(pgsize) FROM dbstat GROUP BY 1 ORDER BY 2 DESC LIMIT 8"
            ).fetchall()
            print("  largest: " + ", ".join(f"{n} {b / 2**20:,.0f} MiB" for n, b in sizes))
            summary(run_queries(store, Timer(store, args.runs, args.budget, args.cap)))
        finally:
            store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
