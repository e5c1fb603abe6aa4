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
   and a term with no hits; print p50 / p95 / max against the targets (inbox page ≤ 20 ms,
   search p95 ≤ 100 ms), the query plans, and the same figures for two rewrites of the inbox
   search that are not in schema/view.py: PROPOSED A (driven from the FTS index) and ALT B (the
   current SQL with ``+i.seq``). A call is stopped after ``--cap`` seconds (shown as "> cap").

A 1M build takes about 7 minutes and 7 GB; the whole run about 10 minutes.
"""

from __future__ import annotations

import argparse
import gc
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
#
# index_text over a 250-character body costs ~115 µs in Python, which alone would be two minutes
# of a 1M build. Bodies are therefore made of whole sentences from a pool of varied fixture
# sentences whose index text was computed once with schema.search.index_text. Every sentence
# ends in 。！or？ — not part of any token run — so index_text(s1 + s2) is exactly
# index_text(s1) + " " + index_text(s2); rows() re-checks that against index_text(body) for
# one item in every SPOT_CHECK, and verify() checks whole rows against the real code.

POOL_SIZE = 60_000  # varied sentences
SPOT_CHECK = 1_000


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
            if 8 <= len(part) <= 90:  # ≤ 100 once varied, so a body under 200 always fits one
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


@cache
def sentence_pool(seed: int) -> tuple[tuple[str, str], ...]:
    """``POOL_SIZE`` varied fixture sentences with their index text."""
    c = corpus()
    rng = random.Random(seed)
    pool = []
    for _ in range(POOL_SIZE):
        sentence = _vary(rng.choice(c.sentences), rng, c)
        if len(sentence) <= 100:
            pool.append((sentence, index_text(sentence)))
    return tuple(pool)


def _body(rng: random.Random, pool: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """A body of 200–300 characters of whole pool sentences, and its index text."""
    target = rng.randint(200, 300)
    texts: list[str] = []
    tokens: list[str] = []
    size = 0
    if rng.random() < RARE_RATE:
        rare = f"{rng.choice(TOWNS)}{RARE_TERM}非遗工坊带动{rng.randint(12, 96)}名妇女居家就业。"
        texts.append(rare)
        tokens.append(index_text(rare))
        size = len(rare)
    while size < target:
        text, index = pool[rng.randrange(len(pool))]
        if size + len(text) > 300:  # only once size ≥ 200: every pool sentence is ≤ 100
            break
        texts.append(text)
        tokens.append(index)
        size += len(text)
    return "".join(texts), " ".join(tokens)


def _draft(
    rng: random.Random, c: Corpus, pool: Sequence[tuple[str, str]], when: datetime
) -> tuple[ItemDraft, str]:
    """A varied item draft (a fixture item's markings and title, a pooled body) and the
    index text of its body."""
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
    """A slot with its generated draft and the index text of the draft's body."""

    slot: Slot
    draft: ItemDraft
    body_index: str


def contents(slots: Sequence[Slot], seed: int) -> list[Content]:
    """The drafts of ``slots`` (deterministic for a given seed and first slot)."""
    c, pool = corpus(), sentence_pool(seed)
    rng = random.Random(seed * 1_000_003 + (slots[0].index if slots else 0))
    return [Content(s, *_draft(rng, c, pool, _dt(s.created))) for s in slots]


def _content_dict(d: ItemDraft) -> dict[str, Any]:
    """``draft_to_dict(draft)`` for a draft without recipients, without its dataclass deep copy
    (spot-checked against the real function in :func:`rows`)."""
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
        dict_ = _content_dict(d)
        if s.index % SPOT_CHECK == 0 and (
            dict_ != draft_to_dict(d)
            or list(dict_) != list(draft_to_dict(d))
            or content.body_index != index_text(d.body)
        ):
            raise AssertionError(f"bulk rows differ from the real functions for item {s.index}")
        incident = dict_.get("incident")
        incident_json = json.dumps(incident, ensure_ascii=False) if incident else None
        revision_json = json.dumps(dict_, ensure_ascii=False)
        at = to_text(_dt(s.at))
        created = to_text(_dt(s.created))
        markings = (d.category.value, d.urgency.value, d.classification.value)
        fts_rows.append((s.seq, index_text(d.title), content.body_index))
        if not s.own:
            signer, signed = _signer(s.origin), to_text(_dt(s.signed))
            item_rows.append(
                (s.seq, s.item_id, s.origin, 1, d.title, d.body, *markings, d.author, d.phone,
                 d.request, incident_json, signer, signed, "", created, at)
            )  # fmt: skip
            revision_rows.append((s.item_id, 1, revision_json, signer, at))
            edge_rows.append((s.edge_id, s.item_id, s.origin, ME, "已接收", 1, "第1稿", "", at))
            audit_rows.append(
                (s.audit_id, s.edge_id, signer, at, None, "已接收", "第1稿", s.origin)
            )
            applied_rows.append((s.item_id, "item", 1, at))
            continue
        actor = _actor(s)
        note = f"{actor} 签发"
        item_rows.append(
            (s.seq, s.item_id, ME, 1, d.title, d.body, *markings, d.author, d.phone,
             d.request, incident_json, actor, at, "", created, at)
        )  # fmt: skip
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
        payload = json.dumps(record.payload, ensure_ascii=False)
        outbox_rows.append(
            (s.outbox_seq, s.item_id, "item", 1, ME, json.dumps([PARENT]), priority[d.urgency],
             d.classification.value, payload, at, to_text(_dt(s.at + 45)))
        )  # fmt: skip
    return out


def _work(task: tuple[list[Slot], int]) -> dict[str, list[tuple[Any, ...]]]:
    slots, seed = task
    return rows(contents(slots, seed))


def write_rows(
    conn: sqlite3.Connection,
    table_rows: dict[str, list[tuple[Any, ...]]],
    seconds: dict[str, float] | None = None,
) -> None:
    """Insert generated rows (inside the caller's transaction), adding up time per table."""
    for name, sql in TABLES.items():
        if table_rows[name]:
            t0 = time.perf_counter()
            conn.executemany(sql, table_rows[name])
            if seconds is not None:
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0


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
    made = contents(slots, seed)
    picked: list[Content] = []
    for own in (True, False):
        for incident in (True, False):
            for extra in (True, False):  # with and without phone and request
                picked += [
                    c
                    for c in made
                    if c.slot.own is own
                    and (c.draft.incident is not None) is incident
                    and bool(c.draft.phone and c.draft.request) is extra
                ][:2]
    rules = DeskRules.load()
    me = Unit(ME, "大同市人民政府办公室", Tier.CITY, PARENT, "大同市")
    checked = 0
    for content in picked:
        # Every sample alone in a fresh store: its row ids are 1 and its item number is 1.
        s = replace(content.slot, seq=1, edge_id=1, audit_id=1, outbox_seq=1)
        s = replace(s, item_id=re.sub(r"-\d+$", "-00001", s.item_id))
        draft = content.draft
        bulk, real = Store.memory(), Store.memory()
        with bulk.write() as db:
            write_rows(db.conn, rows([Content(s, draft, content.body_index)]))
            if s.own:
                write_counters(db.conn, {_dt(s.created).year: 1})
        if s.own:
            desk = Desk(real, me, _actor(s), frozenset(Role), fixed_clock(_dt(s.created)), rules)
            submitted = submit(desk, draft)
            signoff(replace(desk, clock=fixed_clock(_dt(s.at))), submitted.id)
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
    # Millions of long-lived tuples would make every cyclic-GC pass rescan them all; nothing
    # built here is cyclic, so collection is paused for the build.
    gc.disable()
    slots, counters = plan(n, (1, 1, 1, 1), seed, sources())
    sentence_pool(seed)  # made once here; forked workers inherit it
    tasks = [(slots[i : i + CHUNK], seed) for i in range(0, n, CHUNK)]
    print(f"  planned {n:,} items in {time.perf_counter() - started:.1f} s; writing …", flush=True)
    done = 0
    next_report = 100_000
    uncommitted = 0
    conn.execute("BEGIN")
    sql_s = 0.0  # time the main process spent in SQLite (the rest: making text)
    per_table: dict[str, float] = {}
    with _pool(jobs) as pool:
        for table_rows in pool.imap(_work, tasks) if pool else map(_work, tasks):
            t0 = time.perf_counter()
            write_rows(conn, table_rows, per_table)
            count = len(table_rows["item"])
            done += count
            uncommitted += count
            if uncommitted >= COMMIT_EVERY:
                conn.execute("COMMIT")
                conn.execute("BEGIN")
                uncommitted = 0
            sql_s += time.perf_counter() - t0
            if done >= next_report or done == n:
                elapsed = time.perf_counter() - started
                print(
                    f"  {done:>10,} items  {elapsed:7.1f} s  {done / elapsed:8,.0f} items/s"
                    f"  (SQL {sql_s:6.1f} s, of which FTS {per_table.get('item_fts', 0):6.1f} s)",
                    flush=True,
                )
                while next_report <= done:
                    next_report += 100_000
    write_counters(conn, counters)
    conn.execute("COMMIT")
    conn.close()
    del slots, tasks
    gc.enable()
    partial.rename(path)
    print(f"  build time {time.perf_counter() - started:.1f} s", flush=True)


class _NoPool:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _pool(jobs: int) -> Any:
    if jobs < 1:
        return _NoPool()
    return multiprocessing.get_context("fork").Pool(jobs)


# ── measurement ───────────────────────────────────────────────────────────────────────────────

SLOW_S = 1.0  # a query slower than this once is timed only until its budget runs out


@dataclass
class Figure:
    """Timings of one query kind."""

    group: str
    label: str
    times_ms: list[float]
    result: list[Any]
    target_ms: float | None = None
    stopped: bool = False  # interrupted at the time cap: the figures are lower bounds

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
        if self.target_ms is None:
            return None
        return not self.stopped and self.p95 <= self.target_ms

    def line(self) -> str:
        verdict = ""
        if self.target_ms is not None:
            verdict = f"  ≤{self.target_ms:.0f}  {'PASS' if self.passed else 'MISS'}"
        if self.stopped:
            return (
                f"  {_pad(self.label, 36)} {len(self.times_ms):>4}    - "
                f"{'> ' + format(self.p50, '.0f'):>10} {'':>10} {'':>10}{verdict}"
                "  (stopped at the time cap)"
            )
        return (
            f"  {_pad(self.label, 36)} {len(self.times_ms):>4} {len(self.result):>4} "
            f"{self.p50:10.2f} {self.p95:10.2f} {self.max:10.2f}{verdict}"
        )


def _pad(text: str, width: int) -> str:
    """Left-justify counting CJK characters as two columns."""
    shown = sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
    return text + " " * max(0, width - shown)


HEADER = f"  {_pad('query', 36)} runs rows     p50 ms     p95 ms     max ms  target"


@dataclass(frozen=True)
class Timer:
    """How long and how often each query kind is timed."""

    store: Store
    runs: int
    budget_s: float
    cap_s: float

    def measure(
        self,
        group: str,
        label: str,
        fn: Callable[[], list[Any]],
        target: float | None,
        *,
        runs: int | None = None,
        cap_s: float | None = -1.0,
    ) -> Figure:
        """Time ``fn`` up to ``runs`` times after a warm-up, for about ``budget_s`` at most.

        At least 5 runs; but a query whose warm-up takes over ``SLOW_S`` counts its warm-up as
        a run and stops at the budget, and any single call is interrupted after ``cap_s``
        (None: no cap) so that a pathological plan cannot stall the benchmark.
        """
        runs = runs or self.runs
        cap = self.cap_s if cap_s == -1.0 else cap_s
        conn = self.store.db.conn
        deadline = math.inf

        def interrupt() -> int:
            return int(time.perf_counter() > deadline)

        def call() -> tuple[float, list[Any] | None]:
            nonlocal deadline
            t0 = time.perf_counter()
            deadline = t0 + cap if cap is not None else math.inf
            try:
                result = fn()
            except (StoreError, sqlite3.OperationalError):
                if time.perf_counter() <= deadline:
                    raise
                return (time.perf_counter() - t0) * 1000, None
            return (time.perf_counter() - t0) * 1000, result

        conn.set_progress_handler(interrupt, 1000)
        try:
            first_ms, result = call()
            times: list[float] = []
            if result is not None:
                slow = first_ms > SLOW_S * 1000
                times = [first_ms] if slow else []
                stop = time.perf_counter() + self.budget_s - (first_ms / 1000 if slow else 0)
                while len(times) < runs:
                    elapsed_ms, result = call()
                    if result is None:
                        break
                    times.append(elapsed_ms)
                    if len(times) >= (1 if slow else 5) and time.perf_counter() > stop:
                        break
        finally:
            conn.set_progress_handler(None, 0)
        if result is None:
            figure = Figure(group, label, [(cap or 0) * 1000], [], target, stopped=True)
        else:
            figure = Figure(group, label, times, result, target)
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


def explain(store: Store, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> str:
    """``EXPLAIN QUERY PLAN`` of ``sql`` as indented lines."""
    plan_rows = store.db.conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    depth: dict[int, int] = {0: 0}
    lines = []
    for node_id, parent, _, detail in plan_rows:
        depth[node_id] = depth.get(parent, 0) + 1
        lines.append("    " + "  " * depth[node_id] + detail)
    return "\n".join(lines)


# The columns of view.inbox's rows (schema/view.py _ROW, peer = from_unit).
_INBOX_COLUMNS = (
    "SELECT e.id AS edge_id, e.item_id, e.from_unit, e.to_unit, e.state, e.updated_at, e.note, "
    "e.placement, i.title, i.category, i.urgency, i.classification, i.origin, i.created_at, "
    "i.signer, i.revision, COALESCE(NULLIF(u.short, ''), u.name, e.from_unit) AS peer_name "
)

# PROPOSED (A): drive an inbox search from the FTS index. FTS5 hands out matches newest-first
# (ORDER BY rowid DESC is consumed by the virtual table, no sort), each is joined to its item
# by rowid and to this node's edge by the (item_id, from_unit, to_unit) index, and the scan
# stops at the page size. Work is proportional to the matches looked at, not to the inbox.
PROPOSED_A = (
    _INBOX_COLUMNS + "FROM item_fts f JOIN item i ON i.seq = f.rowid "
    "JOIN edge e ON e.item_id = i.id AND e.to_unit = :me "
    "LEFT JOIN unit u ON u.id = e.from_unit "
    "WHERE item_fts MATCH :query AND (:before IS NULL OR e.id < :before) "
    "ORDER BY f.rowid DESC LIMIT :limit"
)

# ALTERNATIVE (B), the one-character change: today's SQL with ``+i.seq`` so the IN list is a
# membership test after the item lookup rather than a second key of the item.id index.
ALT_B = (
    _INBOX_COLUMNS + "FROM edge e JOIN item i ON i.id = e.item_id "
    "LEFT JOIN unit u ON u.id = e.from_unit "
    "WHERE e.to_unit = :me AND e.id < coalesce(:before, 9223372036854775807) "
    "AND +i.seq IN (SELECT rowid FROM item_fts WHERE item_fts MATCH :query) "
    "ORDER BY e.id DESC LIMIT :limit"
)


def _params(text: str, before: int | None) -> dict[str, Any]:
    return {"me": ME, "query": match_query(text), "before": before, "limit": view.PAGE}


def _inbox_search(store: Store, text: str, before: int | None = None) -> list[Any]:
    return [r["edge_id"] for r in view.inbox(store, ME, search=text, before=before)]


def _search(store: Store, text: str, before: int | None = None) -> list[Any]:
    return [r["item_id"] for r in view.search(store, text)]


def _proposed_a(store: Store, text: str, before: int | None = None) -> list[Any]:
    return [r["edge_id"] for r in store.query(PROPOSED_A, _params(text, before))]


def _alt_b(store: Store, text: str, before: int | None = None) -> list[Any]:
    return [r["edge_id"] for r in store.query(ALT_B, _params(text, before))]


SEARCHES: list[tuple[str, Callable[[Store, str, int | None], list[Any]]]] = [
    ("view.inbox(search=TERM)", _inbox_search),
    ("view.search(TERM)", _search),
    ("PROPOSED A inbox search", _proposed_a),
    ("ALT B inbox search", _alt_b),
]


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


def _inbox_edge_at(conn: sqlite3.Connection, offset: int) -> int | None:
    row = conn.execute(
        "SELECT id FROM edge WHERE to_unit = ? ORDER BY id DESC LIMIT 1 OFFSET ?", (ME, offset)
    ).fetchone()
    return None if row is None else int(row[0])


def run_measurements(timer: Timer) -> list[Figure]:
    """Every timed query, printed as it completes."""
    store = timer.store
    conn = store.db.conn
    figures: list[Figure] = []
    inbox_total = conn.execute("SELECT count(*) FROM edge WHERE to_unit = ?", (ME,)).fetchone()[0]

    print("\n== Inbox pages: view.inbox(store, '140200'[, before=…]), 50 rows each")
    print(HEADER)
    figures.append(
        timer.measure(
            "inbox page",
            "newest",
            lambda: view.inbox(store, ME),
            INBOX_TARGET_MS,
            runs=timer.runs * 2,
        )
    )
    last = inbox_total // view.PAGE
    for page in sorted({2, 10, 100, 1000, last // 2, last} - {0, 1}):
        edge = _inbox_edge_at(conn, (page - 1) * view.PAGE - 1)
        if edge is None:
            continue
        figures.append(
            timer.measure(
                "inbox page",
                f"page {page:,} (before={edge})",
                lambda edge=edge: view.inbox(store, ME, before=edge),
                INBOX_TARGET_MS,
            )
        )

    print("\n== Matches per term over all items (count(*) on item_fts)")
    for _, term in TERMS:
        query = match_query(term) or ""
        t0 = time.perf_counter()
        hits = conn.execute(
            "SELECT count(*) FROM item_fts WHERE item_fts MATCH ?", (query,)
        ).fetchone()[0]
        print(
            f"  {_pad(term, 14)} {_pad(query, 30)} {hits:>9,} items "
            f"({hits / max(inbox_total, 1):6.2%})  counted in "
            f"{(time.perf_counter() - t0) * 1000:,.0f} ms",
            flush=True,
        )

    by_term: dict[str, dict[str, list[Any]]] = {}
    for title, call in SEARCHES:
        print(f"\n== {title}, newest 50")
        print(HEADER)
        for kind, term in TERMS:
            figure = timer.measure(
                title,
                f"{kind} {term}",
                lambda term=term, call=call: call(store, term, None),
                SEARCH_TARGET_MS,
            )
            figures.append(figure)
            if not figure.stopped:
                by_term.setdefault(term, {})[title] = figure.result
        if call is _inbox_search and any(f.stopped for f in figures if f.group == title):
            figures.append(
                timer.measure(
                    title,
                    "2 字 煤矿, no time cap, 1 run",
                    lambda call=call: call(store, "煤矿", None),
                    SEARCH_TARGET_MS,
                    runs=1,
                    cap_s=None,
                )
            )
            by_term.setdefault("煤矿", {})[title] = figures[-1].result

    print("\n== Deeper search pages (before=), PROPOSED A vs ALT B")
    print(HEADER)
    for title, call in SEARCHES[2:]:
        for term in ("煤", "煤矿", "秸秆综合利用"):
            before: int | None = None
            for _ in range(10):  # page 11 of this term's hits
                page_rows = call(store, term, before)
                before = page_rows[-1] if page_rows else None
            if before is None:
                continue
            figures.append(
                timer.measure(
                    title,
                    f"{' '.join(title.split()[:2])} {term} page 11",
                    lambda term=term, before=before, call=call: call(store, term, before),
                    SEARCH_TARGET_MS,
                )
            )

    print("\n== Same rows? (edge ids of the newest page; reference: view.inbox, else ALT B)")
    for _, term in TERMS:
        results = by_term.get(term, {})
        reference = SEARCHES[0][0] if SEARCHES[0][0] in results else SEARCHES[3][0]
        verdicts = []
        for title, _ in (SEARCHES[2], SEARCHES[3]):
            if title == reference:
                continue
            if title not in results or reference not in results:
                verdicts.append(f"{title}: (not compared)")
            else:
                same = results[title] == results[reference]
                verdicts.append(f"{title} vs {reference}: {'same' if same else 'DIFFERENT'}")
        print(f"  {_pad(term, 14)} " + "  ".join(verdicts))

    print("\n== Query plans (term 煤矿)")
    print("  view.inbox(store, '140200'):")
    print(explain(store, traced_sql(store, lambda: view.inbox(store, ME))[0]))
    for title, sql in (
        (SEARCHES[0][0], _current_inbox_search_sql(store)),
        (SEARCHES[1][0], traced_sql(store, lambda: view.search(store, "煤矿"))[0]),
        ("PROPOSED A", PROPOSED_A),
        ("ALT B", ALT_B),
    ):
        print(f"  {title}:")
        print(explain(store, sql, _params("煤矿", None) if ":me" in sql else ()))
    return figures


def _current_inbox_search_sql(store: Store) -> str:
    """The SQL view.inbox(search=…) runs, captured without waiting for it to finish."""
    seen: list[str] = []
    conn = store.db.conn
    conn.set_trace_callback(seen.append)
    stop = time.perf_counter() + 0.05  # only the text is wanted: stop it soon
    conn.set_progress_handler(lambda: int(time.perf_counter() > stop), 1000)
    try:
        view.inbox(store, ME, search="煤矿")
    except StoreError:
        pass
    finally:
        conn.set_trace_callback(None)
        conn.set_progress_handler(None, 0)
    return next(s for s in seen if s.lstrip().upper().startswith("SELECT"))


def summary(figures: list[Figure]) -> None:
    """Worst p95 per query kind against its target."""
    print("\n== Summary (worst p95 per query kind)")
    groups: dict[str, list[Figure]] = {}
    for f in figures:
        groups.setdefault(f.group, []).append(f)
    for group, members in groups.items():
        worst = max(members, key=lambda f: f.p95)
        misses = [f for f in members if f.passed is False]
        verdict = "PASS" if not misses else f"MISS ({len(misses)} of {len(members)})"
        print(
            f"  {_pad(group, 26)} p95 {worst.p95:10.2f} ms  (worst: {worst.label})"
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
    p.add_argument("--budget", type=float, default=5.0, help="seconds per query kind, about (5)")
    p.add_argument(
        "--cap", type=float, default=5.0, help="seconds after which one call is stopped (5)"
    )
    p.add_argument("--seed", type=int, default=20261121)
    p.add_argument(
        "--jobs",
        type=int,
        default=0,
        help="worker processes making the text while the main process writes (default 0: "
        "in-process; 1 helps only on an otherwise idle multi-core machine)",
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Build (or reuse) the store, then time the queries."""
    args = _args(argv)
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"sqlite {sqlite3.sqlite_version}, python {sys.version.split()[0]}, "
        f"{os.cpu_count()} cpu, load average {load}"
    )
    print(f"verify: bulk rows = real code rows for {verify(args.seed)} sample items")
    with _StorePath(args.path) as path:
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
            summary(run_measurements(Timer(store, args.runs, args.budget, args.cap)))
        finally:
            store.close()
    return 0


class _StorePath:
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
