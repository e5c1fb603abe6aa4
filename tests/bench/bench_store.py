"""Benchmark of the node store at scale: inbox pages and Chinese full-text search.

Run by hand (it is not a pytest test: ``tests/bench`` is in ``norecursedirs`` and nothing here
is named ``test_*``)::

    .venv/bin/python tests/bench/bench_store.py [--items N] [--path FILE]

1. Build a store holding N items (default 1,000,000) at node 140200 (大同市): almost all of them
   received from ~30 source units (edges to 140200, state 已接收), a few percent its own items
   submitted and signed off to 140000. Texts recombine the sentences and titles of
   ``fixtures/items.toml`` with other places and numbers; bodies are 200–300 characters.
   The per-item desk path is far too slow for 1M items, so rows are written in bulk with SQL into
   the tables the schema defines, exactly as ``inbound.apply`` (received) and
   ``desk.submit`` + ``desk.signoff`` (own) would write them — checked at start-up by writing a
   few sample items both ways into in-memory stores and comparing every table.
   With ``--path FILE`` the store is kept: an existing FILE is reused, so reruns skip building.
2. Time ``view.inbox`` pages (newest and deeper via ``before=``) and full-text search through
   ``view.inbox(search=...)`` and ``view.search`` for 1-, 2- and 3–6-character terms, a rare term
   and a term with no hits; print p50 / p95 / max against the targets, the query plans, and the
   same figures for the alternative SQL proposed for the searches (labelled PROPOSED).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from schema import outbox, view
from schema.clock import CHINA, fixed_clock, to_text
from schema.desk import Desk, DeskRules, item_record, signoff, submit
from schema.fixture import SampleItem, load_items, load_units
from schema.inbound import apply
from schema.item import without_recipients
from schema.itemfile import draft_to_dict
from schema.network import add_units
from schema.record import Item, ItemDraft, Unit
from schema.search import index_text, match_query
from schema.store import Store
from schema.vocabulary import Category, EdgeState, Role, Tier

ME = "140200"
PARENT = "140000"
OWN_SHARE = 0.02  # share of the node's own (outgoing) items
RARE_TERM = "剪纸"  # absent from the fixtures; injected into about RARE_RATE of the bodies
RARE_RATE = 1 / 10_000
NO_HIT_TERM = "量子通信"
START = datetime(2022, 1, 1, 8, 0, tzinfo=CHINA)
SPAN_S = 5 * 365 * 86400  # items spread evenly over five years
COMMIT_EVERY = 50_000
CHUNK = 5_000  # items per worker task
INBOX_TARGET_MS = 20.0
SEARCH_TARGET_MS = 100.0

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
TERMS: list[tuple[str, str]] = [
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

# ── text generation ───────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Corpus:
    """What bodies and titles are recombined from."""

    samples: tuple[SampleItem, ...]
    sentences: tuple[str, ...]
    places: re.Pattern[str]
    counties: tuple[str, ...]


@cache
def corpus() -> Corpus:
    """Sentences, titles and place names of the fixture items (built once per process)."""
    samples = tuple(load_items())
    sentences: list[str] = []
    for s in samples:
        for part in re.findall(r"[^。！？；]+[。！？；]", s.draft.body):
            part = part.strip()
            if 8 <= len(part) <= 120:
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
        old = m.group(0)
        pool = c.counties if old[-1] in "区县市" else TOWNS
        return rng.choice(pool)

    def number(m: re.Match[str]) -> str:
        old = m.group(0)
        whole, _, frac = old.partition(".")
        digits = len(whole)
        value = str(rng.randint(10 ** (digits - 1) if digits > 1 else 1, 10**digits - 1))
        return value + ("." + str(rng.randint(1, 9)) if frac else "")

    return _NUMBER.sub(number, c.places.sub(place, text))


def _body(rng: random.Random, c: Corpus) -> str:
    """A body of 200–300 characters made of varied fixture sentences."""
    target = rng.randint(200, 300)
    parts: list[str] = []
    size = 0
    if rng.random() < RARE_RATE:
        parts.append(f"{rng.choice(TOWNS)}{RARE_TERM}非遗工坊带动{rng.randint(12, 96)}名妇女居家就业。")
        size = len(parts[0])
    while size < target:
        sentence = _vary(rng.choice(c.sentences), rng, c)
        parts.append(sentence)
        size += len(sentence)
    body = "".join(parts)
    if len(body) > 300:
        body = body[:299].rstrip("，、；：“（ ") + "。"
    while len(body) < 200:  # rstrip above can only shorten by a few characters
        body += _vary(rng.choice(c.sentences), rng, c)[: 300 - len(body)]
    return body


def _draft(rng: random.Random, c: Corpus, when: datetime) -> ItemDraft:
    """A varied item draft: a fixture item's markings and title, a recombined body."""
    sample = rng.choice(c.samples)
    d = sample.draft
    incident = d.incident
    if incident is not None:
        occurred = (when - timedelta(minutes=rng.randint(40, 300))).replace(microsecond=0)
        incident = replace(
            incident,
            occurred_at=occurred,
            learned_at=occurred + timedelta(minutes=rng.randint(5, 30)),
            place=_vary(incident.place, rng, c),
        )
    return ItemDraft(
        title=_vary(d.title, rng, c),
        category=d.category,
        body=_body(rng, c),
        author=rng.choice(NAMES),
        urgency=d.urgency,
        classification=d.classification,
        phone=f"139{rng.randint(0, 99_999_999):08d}" if rng.random() < 0.7 else "",
        request=d.request if rng.random() < 0.5 else "",
        incident=incident,
    )


# ── the items to write ────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Slot:
    """Where one item goes: its row ids, id, sender and times (drawn before any text)."""

    index: int
    own: bool
    seq: int
    edge_id: int
    audit_id: int
    outbox_seq: int
    item_id: str
    origin: str
    at: int  # received at (received) / signed off at (own), epoch seconds
    created: int  # created at the sender (received) / submitted (own)
    signed: int  # signed off at the sender (received)


def plan(
    n: int, first: tuple[int, int, int, int], seed: int, sources: Sequence[str]
) -> tuple[list[Slot], dict[int, int]]:
    """The slots of ``n`` items after the given next (seq, edge, audit, outbox) ids.

    Returns the slots and this node's item counter per year (``item:{year}``).
    """
    rng = random.Random(seed)
    seq, edge_id, audit_id, outbox_seq = first
    numbers: dict[tuple[str, int], int] = {}
    slots: list[Slot] = []
    start = int(START.timestamp())
    step = SPAN_S / max(n, 1)
    for i in range(n):
        at = start + int(i * step)
        own = rng.random() < OWN_SHARE
        origin = ME if own else rng.choice(sources)
        created = at - rng.randint(600, 6 * 3600) if not own else at - rng.randint(600, 3 * 3600)
        signed = created + rng.randint(60, max(61, (at - created) // 2))
        year = datetime.fromtimestamp(created, CHINA).year
        number = numbers[origin, year] = numbers.get((origin, year), 0) + 1
        slots.append(
            Slot(
                index=i,
                own=own,
                seq=seq,
                edge_id=edge_id,
                audit_id=audit_id,
                outbox_seq=outbox_seq,
                item_id=f"{origin}-{year}-{number:05d}",
                origin=origin,
                at=at,
                created=created,
                signed=signed,
            )
        )
        seq += 1
        edge_id += 1
        audit_id += 3 if own else 1
        outbox_seq += 1 if own else 0
    counters = {year: count for (origin, year), count in numbers.items() if origin == ME}
    return slots, counters


def _dt(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, CHINA)


def _signer(origin: str) -> str:
    return NAMES[sum(map(ord, origin)) % len(NAMES)]


def _actor(slot: Slot) -> str:
    return NAMES[slot.index % 5]


@dataclass(frozen=True)
class Content:
    """A slot with its generated draft."""

    slot: Slot
    draft: ItemDraft


def contents(slots: Sequence[Slot], seed: int) -> list[Content]:
    """The drafts of ``slots`` (deterministic for a given seed and first slot)."""
    c = corpus()
    rng = random.Random(seed * 1_000_003 + (slots[0].index if slots else 0))
    return [Content(s, _draft(rng, c, _dt(s.created))) for s in slots]


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


def rows(batch: Sequence[Content]) -> dict[str, list[tuple[Any, ...]]]:
    """The rows the real code writes for ``batch``, by table (see :func:`verify`)."""
    import json  # local: keeps the hot loop's globals small

    priority = DeskRules.load().priority
    out: dict[str, list[tuple[Any, ...]]] = {name: [] for name in TABLES}
    item_rows, revision_rows, fts_rows = out["item"], out["revision"], out["item_fts"]
    edge_rows, audit_rows, applied_rows = out["edge"], out["audit"], out["applied"]
    outbox_rows = out["outbox"]
    for content in batch:
        s, d = content.slot, content.draft
        dict_ = draft_to_dict(d)
        incident = dict_.get("incident")
        incident_json = json.dumps(incident, ensure_ascii=False) if incident else None
        revision_json = json.dumps(dict_, ensure_ascii=False)
        at = to_text(_dt(s.at))
        created = to_text(_dt(s.created))
        markings = (d.category.value, d.urgency.value, d.classification.value)
        fts_rows.append((s.seq, index_text(d.title), index_text(d.body)))
        if not s.own:
            signer, signed = _signer(s.origin), to_text(_dt(s.signed))
            item_rows.append(
                (s.seq, s.item_id, s.origin, 1, d.title, d.body, *markings, d.author, d.phone)
                + (d.request, incident_json, signer, signed, "", created, at)
            )
            revision_rows.append((s.item_id, 1, revision_json, signer, at))
            edge_rows.append((s.edge_id, s.item_id, s.origin, ME, "已接收", 1, "第1稿", "", at))
            audit_rows.append((s.audit_id, s.edge_id, signer, at, None, "已接收", "第1稿", s.origin))
            applied_rows.append((s.item_id, "item", 1, at))
            continue
        actor = _actor(s)
        note = f"{actor} 签发"
        item_rows.append(
            (s.seq, s.item_id, ME, 1, d.title, d.body, *markings, d.author, d.phone)
            + (d.request, incident_json, actor, at, "", created, at)
        )
        revision_rows.append((s.item_id, 1, revision_json, actor, created))
        edge_rows.append((s.edge_id, s.item_id, ME, PARENT, "已报送", 3, note, "", at))
        audit_rows.append((s.audit_id, s.edge_id, actor, created, None, "草稿", "", "local"))
        audit_rows.append(
            (s.audit_id + 1, s.edge_id, actor, created, "草稿", "待签发", "提交签发", "local")
        )
        audit_rows.append((s.audit_id + 2, s.edge_id, actor, at, "待签发", "已报送", note, "local"))
        record = item_record(
            Item(
                id=s.item_id,
                seq=s.seq,
                origin=ME,
                revision=1,
                draft=d,
                created_at=_dt(s.created),
                updated_at=_dt(s.at),
                signer=actor,
                signed_at=_dt(s.at),
            ),
            ME,
            (PARENT,),
        )
        outbox_rows.append(
            (s.outbox_seq, s.item_id, "item", 1, ME, json.dumps([PARENT]), priority[d.urgency])
            + (d.classification.value, json.dumps(record.payload, ensure_ascii=False), at)
            + (to_text(_dt(s.at + 45)),)
        )
    return out


def _work(task: tuple[list[Slot], int]) -> dict[str, list[tuple[Any, ...]]]:
    slots, seed = task
    return rows(contents(slots, seed))


def write_rows(conn: sqlite3.Connection, table_rows: dict[str, list[tuple[Any, ...]]]) -> None:
    """Insert generated rows (inside the caller's transaction)."""
    for name, sql in TABLES.items():
        if table_rows[name]:
            conn.executemany(sql, table_rows[name])


def write_counters(conn: sqlite3.Connection, counters: dict[int, int]) -> None:
    """Set this node's ``item:{year}`` counters as ``new_item_id`` would have left them."""
    conn.executemany(
        "INSERT INTO counter(name, value) VALUES (?, ?) "
        "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        [(f"item:{year}", value) for year, value in sorted(counters.items())],
    )


def all_units() -> list[Unit]:
    """The units this node knows: the fixture network plus the extra departments."""
    return [*load_units(), *EXTRA_UNITS]


def sources() -> list[str]:
    """The ~30 units that send items to this node."""
    return [u.id for u in all_units() if u.parent == ME]


# ── verification: the bulk rows are what the real code writes ─────────────────────────────────


def _dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    conn = store.db.conn
    names = [*TABLES, "source", "counter", "unit"]
    out = {}
    for name in names:
        sql = f"SELECT * FROM {name}" if name != "item_fts" else "SELECT rowid, * FROM item_fts"
        out[name] = sorted(conn.execute(sql).fetchall(), key=repr)
    return out


def verify(seed: int) -> int:
    """Write sample items through the real code and through :func:`rows`; compare all tables.

    Returns how many items were compared; raises ``SystemExit`` on any difference.
    """
    src = sources()
    slots, _ = plan(400, (1, 1, 1, 1), seed, src)
    picked = [s for s in slots if s.own][:4] + [s for s in slots if not s.own][:8]
    rules = DeskRules.load()
    me = Unit(ME, "大同市人民政府办公室", Tier.CITY, PARENT, "大同市")
    checked = 0
    for content in contents(picked, seed):
        # Every sample alone in a fresh store: its row ids are 1 and its item number is 1.
        s = replace(content.slot, seq=1, edge_id=1, audit_id=1, outbox_seq=1)
        s = replace(s, item_id=re.sub(r"-\d+$", "-00001", s.item_id))
        draft = content.draft
        bulk, real = Store.memory(), Store.memory()
        with bulk.write() as db:
            write_rows(db.conn, rows([Content(s, draft)]))
            if s.own:
                write_counters(db.conn, {_dt(s.created).year: 1})
        if s.own:
            desk = Desk(real, me, _actor(s), frozenset(Role), fixed_clock(_dt(s.created)), rules)
            made = submit(desk, draft)
            signoff(replace(desk, clock=fixed_clock(_dt(s.at))), made.id)
            outbox.mark_shipped(real, [q.seq for q in outbox.pending(real)], _dt(s.at + 45))
        else:
            sender = Item(
                id=s.item_id,
                seq=0,
                origin=s.origin,
                revision=1,
                draft=draft,
                created_at=_dt(s.created),
                updated_at=_dt(s.signed),
                signer=_signer(s.origin),
                signed_at=_dt(s.signed),
            )
            apply(real, item_record(sender, s.origin, (ME,)), ME, fixed_clock(_dt(s.at)))
        a, b = _dump(bulk), _dump(real)
        for name in a:
            if a[name] != b[name]:
                print(f"verify: table {name} differs for {s.item_id}:", file=sys.stderr)
                print(f"  bulk: {a[name]}\n  real: {b[name]}", file=sys.stderr)
                raise SystemExit(2)
        checked += 1
    return checked


# ── build ─────────────────────────────────────────────────────────────────────────────────────


def build(path: Path, n: int, seed: int, jobs: int) -> None:
    """Create the store at ``path`` with ``n`` items (written to a side file, then renamed)."""
    partial = path.with_name(path.name + ".building")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    store = Store.open(partial)  # migrations, as every node's store
    add_units(store, all_units())
    store.close()
    conn = sqlite3.connect(partial, isolation_level=None)
    # Build-time settings only; none of them changes what is stored.
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -4000000")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA foreign_keys = OFF")  # rows are generated consistent

    started = time.perf_counter()
    slots, counters = plan(n, (1, 1, 1, 1), seed, sources())
    tasks = [(slots[i : i + CHUNK], seed) for i in range(0, n, CHUNK)]
    print(f"  planned {n:,} items in {time.perf_counter() - started:.1f} s; writing …", flush=True)
    done = 0
    next_report = 100_000
    uncommitted = 0
    conn.execute("BEGIN")
    with _pool(jobs) as pool:
        for table_rows in pool.imap(_work, tasks) if pool else map(_work, tasks):
            write_rows(conn, table_rows)
            count = len(table_rows["item"])
            done += count
            uncommitted += count
            if uncommitted >= COMMIT_EVERY:
                conn.execute("COMMIT")
                conn.execute("BEGIN")
                uncommitted = 0
            if done >= next_report or done == n:
                elapsed = time.perf_counter() - started
                print(
                    f"  {done:>10,} items  {elapsed:7.1f} s  {done / elapsed:8,.0f} items/s",
                    flush=True,
                )
                while next_report <= done:
                    next_report += 100_000
    write_counters(conn, counters)
    conn.execute("COMMIT")
    conn.close()
    partial.rename(path)
    print(f"  build time {time.perf_counter() - started:.1f} s", flush=True)


class _NoPool:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _pool(jobs: int) -> Any:
    if jobs <= 1:
        return _NoPool()
    corpus()  # forked workers inherit it
    return multiprocessing.get_context("fork").Pool(jobs)


# ── measurement ───────────────────────────────────────────────────────────────────────────────


@dataclass
class Figure:
    """Timings of one query kind."""

    label: str
    times_ms: list[float]
    rows: int
    target_ms: float | None = None

    @property
    def p50(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        ordered = sorted(self.times_ms)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]

    @property
    def max(self) -> float:
        return max(self.times_ms)

    @property
    def passed(self) -> bool | None:
        return None if self.target_ms is None else self.p95 <= self.target_ms

    def line(self) -> str:
        verdict = ""
        if self.target_ms is not None:
            verdict = f"  ≤{self.target_ms:.0f}  {'PASS' if self.passed else 'MISS'}"
        return (
            f"  {_pad(self.label, 44)} {len(self.times_ms):>4} {self.rows:>4} "
            f"{self.p50:9.2f} {self.p95:9.2f} {self.max:9.2f}{verdict}"
        )


def _pad(text: str, width: int) -> str:
    """Left-justify counting CJK characters as two columns."""
    shown = sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
    return text + " " * max(0, width - shown)


HEADER = f"  {_pad('query', 44)} runs rows   p50 ms    p95 ms    max ms  target"


def measure(
    label: str, fn: Callable[[], list[Any]], runs: int, budget_s: float, target: float | None
) -> Figure:
    """Time ``fn`` up to ``runs`` times (at least 5, at most ``budget_s`` seconds)."""
    result = fn()  # warm-up
    times: list[float] = []
    stop = time.perf_counter() + budget_s
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
        if len(times) >= 5 and time.perf_counter() > stop:
            break
    figure = Figure(label, times, len(result), target)
    print(figure.line(), flush=True)
    return figure


def traced_sql(store: Store, fn: Callable[[], Any]) -> list[str]:
    """The SQL statements (parameters bound) that ``fn`` runs."""
    seen: list[str] = []
    store.db.conn.set_trace_callback(seen.append)
    try:
        fn()
    finally:
        store.db.conn.set_trace_callback(None)
    return [s for s in seen if s.lstrip().upper().startswith("SELECT")]


def explain(store: Store, sql: str, params: Sequence[Any] = ()) -> str:
    """``EXPLAIN QUERY PLAN`` of ``sql`` as indented lines."""
    plan_rows = store.db.conn.execute(f"EXPLAIN QUERY PLAN {sql}", tuple(params)).fetchall()
    depth: dict[int, int] = {0: 0}
    lines = []
    for node_id, parent, _, detail in plan_rows:
        depth[node_id] = depth.get(parent, 0) + 1
        lines.append("      " + "  " * depth[node_id] + detail)
    return "\n".join(lines)


# Proposed replacements for the search queries (see the report at the end of a run).
PROPOSED_INBOX_SEARCH = (
    "SELECT e.id AS edge_id, e.item_id, e.from_unit, e.to_unit, e.state, e.updated_at, e.note, "
    "e.placement, i.title, i.category, i.urgency, i.classification, i.origin, i.created_at, "
    "i.signer, i.revision, COALESCE(NULLIF(u.short, ''), u.name, e.from_unit) AS peer_name "
    "FROM item_fts f JOIN item i ON i.seq = f.rowid "
    "JOIN edge e ON e.item_id = i.id AND e.to_unit = :me "
    "LEFT JOIN unit u ON u.id = e.from_unit "
    "WHERE item_fts MATCH :query AND (:before IS NULL OR e.id < :before) "
    "ORDER BY f.rowid DESC LIMIT :limit"
)


def proposed_inbox_search(
    store: Store, me: str, text: str, limit: int = view.PAGE, before: int | None = None
) -> list[dict[str, Any]]:
    """PROPOSED: drive an inbox search from the FTS index, newest item first."""
    query = match_query(text)
    if query is None:
        return []
    return store.query(
        PROPOSED_INBOX_SEARCH, {"me": me, "query": query, "before": before, "limit": limit}
    )


def fts_structure(conn: sqlite3.Connection) -> str:
    """Levels and segments of the ``item_fts`` index (decoded from its structure record)."""
    blob = conn.execute("SELECT block FROM item_fts_data WHERE id = 10").fetchone()[0]
    pos = 4  # cookie

    def varint() -> int:
        nonlocal pos
        value = 0
        for _ in range(9):
            byte = blob[pos]
            pos += 1
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                return value
        return value

    levels, segments = varint(), varint()
    varint()  # write counter
    shape = []
    for _ in range(levels):
        varint()  # merge in progress
        n = varint()
        for _ in range(n):
            varint(), varint(), varint()
        shape.append(n)
    return f"{segments} segments in {levels} levels {shape}"


def run_measurements(store: Store, runs: int, budget_s: float) -> list[Figure]:
    """Every timed query, printed as it completes."""
    conn = store.db.conn
    figures: list[Figure] = []
    inbox_total = conn.execute("SELECT count(*) FROM edge WHERE to_unit = ?", (ME,)).fetchone()[0]

    print("\n== Inbox pages: view.inbox(store, '140200'[, before=…])")
    print(HEADER)
    figures.append(
        measure("newest 50", lambda: view.inbox(store, ME), runs * 2, budget_s, INBOX_TARGET_MS)
    )
    for page in (2, 10, 100, 1000, inbox_total // 100, inbox_total // 2 // 50):
        offset = (page - 1) * view.PAGE
        if page < 2 or offset >= inbox_total:
            continue
        edge = conn.execute(
            "SELECT id FROM edge WHERE to_unit = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
            (ME, offset - 1),
        ).fetchone()[0]
        figures.append(
            measure(
                f"page {page:,} (before={edge})",
                lambda edge=edge: view.inbox(store, ME, before=edge),
                runs,
                budget_s,
                INBOX_TARGET_MS,
            )
        )
    print("    plan:\n" + explain(store, traced_sql(store, lambda: view.inbox(store, ME))[0]))

    print("\n== Matches per term (all items; count(*) over item_fts)")
    for _, term in TERMS:
        query = match_query(term)
        t0 = time.perf_counter()
        count = conn.execute("SELECT count(*) FROM item_fts WHERE item_fts MATCH ?", (query,))
        hits = count.fetchone()[0]
        print(
            f"  {_pad(term, 14)} {query:<28} {hits:>9,} items"
            f"  ({(time.perf_counter() - t0) * 1000:,.0f} ms to count)",
            flush=True,
        )

    for title, call in (
        ("view.inbox(store, '140200', search=TERM)", _inbox_search),
        ("view.search(store, TERM)", _search),
        ("PROPOSED inbox search (FTS-driven, ORDER BY f.rowid DESC)", _proposed),
    ):
        print(f"\n== {title}")
        print(HEADER)
        for kind, term in TERMS:
            figures.append(
                measure(
                    f"{title.split('(')[0].strip()} {kind} {term}",
                    lambda term=term, call=call: call(store, term),
                    runs,
                    budget_s,
                    SEARCH_TARGET_MS,
                )
            )

    print("\n== Query plans")
    for label, call in (("view.inbox search", _inbox_search), ("view.search", _search)):
        sql = traced_sql(store, lambda call=call: call(store, "煤矿"))[0]
        print(f"  {label}:\n{explain(store, sql)}")
    query = match_query("煤矿")
    print("  PROPOSED inbox search:")
    print(
        explain(
            store,
            PROPOSED_INBOX_SEARCH,
            {"me": ME, "query": query, "before": None, "limit": view.PAGE},  # type: ignore[arg-type]
        )
    )
    return figures


def _inbox_search(store: Store, term: str) -> list[dict[str, Any]]:
    return view.inbox(store, ME, search=term)


def _search(store: Store, term: str) -> list[dict[str, Any]]:
    return view.search(store, term)


def _proposed(store: Store, term: str) -> list[dict[str, Any]]:
    return proposed_inbox_search(store, ME, term)


def summary(figures: list[Figure]) -> None:
    """Worst p95 per query kind against its target."""
    print("\n== Summary (p95 against target)")
    groups: dict[str, list[Figure]] = {}
    for f in figures:
        key = f.label.split(" ")[0] if not f.label.startswith(("newest", "page")) else "inbox page"
        if f.label.startswith("PROPOSED"):
            key = "PROPOSED inbox search"
        groups.setdefault(key, []).append(f)
    for key, group in groups.items():
        worst = max(group, key=lambda f: f.p95)
        misses = [f for f in group if f.passed is False]
        verdict = "PASS" if not misses else f"MISS ({len(misses)} of {len(group)})"
        print(
            f"  {_pad(key, 24)} worst p95 {worst.p95:9.2f} ms ({worst.label.split(' ', 1)[-1]})"
            f"  target ≤{worst.target_ms:.0f} ms  {verdict}"
        )


# ── main ──────────────────────────────────────────────────────────────────────────────────────


def _args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--items", type=int, default=1_000_000, help="items to build (1,000,000)")
    p.add_argument(
        "--path", type=Path, help="store file to build, or to reuse if it exists (default: temp)"
    )
    p.add_argument("--runs", type=int, default=100, help="timed runs per query kind (100)")
    p.add_argument("--budget", type=float, default=8.0, help="seconds per query kind, at most")
    p.add_argument("--seed", type=int, default=20261121)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="text workers")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Build (or reuse) the store, then time the queries."""
    args = _args(argv)
    print(f"sqlite {sqlite3.sqlite_version}, python {sys.version.split()[0]}, {os.cpu_count()} cpu")
    print(f"verify: bulk rows = real code rows for {verify(args.seed)} sample items")
    with _workdir(args.path) as path:
        if path.exists():
            print(f"== Reusing {path}")
        else:
            print(f"== Building {path} with {args.items:,} items")
            build(path, args.items, args.seed, args.jobs)
        store = Store.open(path)
        try:
            conn = store.db.conn
            items, inbox, own = conn.execute(
                "SELECT (SELECT count(*) FROM item), "
                "(SELECT count(*) FROM edge WHERE to_unit = ?), "
                "(SELECT count(*) FROM edge WHERE from_unit = ?)",
                (ME, ME),
            ).fetchone()
            size = path.stat().st_size
            print(
                f"  {items:,} items ({inbox:,} received at {ME}, {own:,} own); "
                f"file {size / 2**20:,.0f} MiB; FTS index {fts_structure(conn)}"
            )
            summary(run_measurements(store, args.runs, args.budget))
        finally:
            store.close()
    return 0


class _workdir:
    """The store path: ``--path`` as given, or a file in a temporary folder removed afterwards."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Path:
        if self.path is not None:
            return self.path
        self.tmp = tempfile.TemporaryDirectory(prefix="xinbao-bench-")
        return Path(self.tmp.name) / "store.db"

    def __exit__(self, *exc: object) -> None:
        if self.tmp is not None:
            self.tmp.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
