"""Benchmark: the sync daemon end to end, with real ``xinbao-syncd run`` processes (by hand).

    .venv/bin/python -m tests.bench.bench_daemon [--quick] [--no-nncp]
        [--emergencies 50] [--bundles 10000]

Every node is a home in a temporary directory (removed at the end), enrolled with the functions
``xinbao-syncd init`` and ``enroll request|issue|install`` call; every daemon is ``python -m
syncd run --listen 127.0.0.1:0`` (``tests.syncd.daemons.Daemon``), and each child pushes to
its parent (``xinbao-syncd link add PARENT --url URL``). Measured on this machine:

  1. 特急 latency township → county → city → province, three HTTP hops on loopback: N
     emergencies (default 50, ``--quick`` 10) submitted and signed off one at a time at the
     township, in this process through ``schema.desk`` (what ``xinbao submit`` and ``xinbao
     signoff`` run), each after a random pause of 0–``send`` s so the sign-off falls anywhere in
     the township daemon's timer cycle; one warm-up emergency is not counted. The clock runs
     from the sign-off's commit (the record is queued) until the item's edge is in the
     province's ``store.db``, polled read-only with sqlite3 every 5 ms. Run with the product's
     default timers and with fast ones. Target p95 < 0.5 s.
  2. Relay throughput county → city → province (the city relays): N small bundles (default
     10,000, ``--quick`` 500), one item record each (~2 KiB as JSON), sealed beforehand with
     the county's keys (outside the clock) and queued in the county's outgoing spool through
     the engine's own ``Outgoing.track`` + ``Outgoing.add`` while the daemons run. The clock
     runs from the first hop queued until the last item is in the province's store, then
     until every end-to-end receipt is back at the county. 2b: the engine would put N records queued
     together into one bundle — N records queued in the county's store as N sign-offs would,
     sealed and sent by the county's daemon.
  3. Drop-folder import of N small bundles (city → a fresh province; sealed outside the clock),
     until every file is in ``HOME/drop/done``: (a) ``xinbao-syncd once`` over files that lie
     in the drop folder (a cron job), (b) a running daemon while the files are copied into its
     watched drop folder, (c) a running daemon when a folder of just-written files appears as
     its drop folder (no watcher events: the polling fallback and the stable-size rule).
  4. NNCP (Debian package ``nncp``, via ``tests.bench.nncp_side``): the same N record payloads
     through ``nncp-file`` and ``nncp-xfer -tx`` (the sender's side, outside the clock), then
     ``nncp-xfer -rx`` + ``nncp-toss`` (the receiver's side, timed), next to each of 3.

Only figure 1 has a stated target; the others print figures without a verdict.
"""

from __future__ import annotations

import argparse
import filecmp
import inspect
import io
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import tomli_w

from schema import desk as ops
from schema import outbox
from schema.desk import Desk, item_record
from schema.itemfile import parse_item
from schema.node import NodeConfig, NodeHome
from schema.record import Item, ItemDraft, Record
from schema.store import Store
from schema.vocabulary import Classification, Tier
from syncd import enrolment
from syncd.bundle import Header, new_header, seal
from syncd.config import HttpLimits, Intervals
from syncd.engine import MAX_RECORDS_PER_PASS
from syncd.home import init_node
from syncd.keys import load_keys
from syncd.outgoing import Outgoing
from syncd.proof import sign
from syncd.receive import BATCH, BATCH_SECONDS
from syncd.route import Routes
from syncd.spool import SUFFIX, Spool, content_name
from tests.bench.nncp_side import (
    BULK_TIMEOUT_S,
    _materialise,
    _new_node,
    _run,
    _write_config,
    nncp_binaries,
)
from tests.bench.texts import body as report_body
from tests.cli_helpers import run
from tests.syncd.daemons import CHAIN, EMERGENCY, Daemon, ok, until

PROVINCE, CITY, COUNTY, TOWNSHIP = (node for node, _, _ in CHAIN)
ADMIN = "bench"  # the desk user of every home (init gives the first user every role)
LATENCY_TARGET_S = 0.5
POLL_S = 0.005  # arrival poll of the emergency benchmark
COUNT_POLL_S = 0.02  # arrival poll of the bulk benchmarks
LATENCY_TIMEOUT_S = 30.0  # one emergency may take at most this
STALL_S = 120.0  # a bulk run aborts when nothing moves for this long
PROGRESS_S = 30.0  # a progress line on stderr this often during long waits
# what the daemon's push takes from one link's queue per pass (Outgoing.due's default)
PUSHES_PER_PASS = inspect.signature(Outgoing.due).parameters["limit"].default
YEAR = 2026  # item ids are {origin}-{year}-{number}; the series below never collide
RELAY_SERIES, GROUPED_SERIES, DROP_SERIES = 1_000_000, 2_000_000, 3_000_000


def verdict(ok_: bool) -> str:
    return "PASS" if ok_ else "MISS"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def say(text: str) -> None:
    print(text, flush=True)


def progress(text: str) -> None:
    print(f"  … {text}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- timers


@dataclass(frozen=True)
class Profile:
    """What goes into ``syncd.toml``: [intervals] and [limits]; unset keys keep the defaults."""

    name: str
    intervals: dict[str, float] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=dict)

    def interval(self, key: str) -> float:
        return float(self.intervals.get(key, getattr(Intervals(), key)))

    def limit(self, key: str) -> int:
        return int(self.limits.get(key, getattr(HttpLimits(), key)))

    def describe(self) -> str:
        i = self.interval
        return (
            f"send {i('send'):g} s, fetch {i('fetch'):g} s, retry {i('retry_min'):g}–"
            f"{i('retry_max'):g} s, resend_after {i('resend_after'):g} s, stable "
            f"{i('stable'):g} s; uploads_per_minute {self.limit('uploads_per_minute'):,}"
        )


DEFAULTS = Profile("product defaults")
# tests/syncd/daemons.intervals' fast timers, except resend_after (kept at its default so no
# bundle is resent while its receipt is still on the way) and an upload limit that lets a
# relay take thousands of bundles a minute (the default, 600 per peer per minute, caps a link
# at 10 bundles/s).
FAST = Profile(
    "fast timers",
    {"send": 0.2, "fetch": 0.3, "retry_min": 0.2, "retry_max": 1.0},
    {"uploads_per_minute": 1_000_000},
)


def write_syncd(home: Path, profile: Profile) -> None:
    """A fresh ``syncd.toml`` (no links: ``link add`` adds them)."""
    data: dict[str, Any] = {}
    if profile.intervals:
        data["intervals"] = dict(profile.intervals)
    if profile.limits:
        data["limits"] = dict(profile.limits)
    (home / "syncd.toml").write_text(tomli_w.dumps(data), "utf-8")


# ----------------------------------------------------------------------------- nodes


def enrol_chain(root: Path, nodes: list[tuple[str, str, str]]) -> dict[str, NodeHome]:
    """Node homes for ``(id, tier, parent)`` (parents first), each enrolled by its parent,
    through the functions ``xinbao-syncd init`` and ``enroll request|issue|install`` call."""
    now = datetime.now(UTC)
    homes: dict[str, NodeHome] = {}
    for node, tier, parent in nodes:
        homes[node] = NodeHome(root / node)
        config = NodeConfig(node, f"单位{node}", Tier.parse(tier, "--tier"), parent)
        init_node(homes[node], config, ADMIN, now)
        if parent:
            request = enrolment.request(homes[node])
            _, pem = enrolment.issue_for(homes[parent], request, now)
            enrolment.install(homes[node], pem, now)
    return homes


class BenchDaemon(Daemon):
    """``tests.syncd.daemons.Daemon`` that kills its process if it never comes up."""

    def __init__(self, home: Path) -> None:
        try:
            super().__init__(home)
        except BaseException:
            proc: subprocess.Popen[bytes] | None = getattr(self, "proc", None)
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(5)
            if getattr(self, "log", None) is not None:
                self.log.close()
            raise


def log_notes(node: str, home: Path, code: int | None) -> list[str]:
    """Warnings and errors in a daemon's log, and a non-zero exit, as short lines."""
    notes = [f"{node}: daemon exited {code}"] if code not in (0, None) else []
    try:
        lines = (home / "daemon.log").read_text("utf-8", "replace").splitlines()
    except OSError:
        return notes
    bad = [line for line in lines if " WARNING " in line or " ERROR " in line]
    if bad:
        first = re.sub(r"^\S+ \S+ ", "", bad[0])[:150]
        notes.append(f"{node}: {len(bad)} warning/error log lines, first: {first}")
    return notes


def log_tail(home: Path, lines: int = 8) -> str:
    try:
        text = (home / "daemon.log").read_text("utf-8", "replace").splitlines()[-lines:]
    except OSError:
        return "(no log)"
    return "\n".join(f"      {line}" for line in text)


class Network:
    """Daemons for a chain of homes (parents first); each child pushes to its parent."""

    def __init__(self, homes: dict[str, NodeHome], chain: list[tuple[str, str, str]]) -> None:
        self.homes = homes
        self.chain = chain
        self.daemons: dict[str, BenchDaemon] = {}

    def start(self, profile: Profile) -> None:
        for node, _, parent in self.chain:
            home = self.homes[node].path
            write_syncd(home, profile)
            if parent:
                url = self.daemons[parent].url
                ok(run("xinbao-syncd", "link", "add", parent, "--url", url, home=home))
            self.daemons[node] = BenchDaemon(home)

    def stop(self) -> list[str]:
        """Stop every daemon (children first); what their logs warned about."""
        notes: list[str] = []
        for node in reversed(list(self.daemons)):
            daemon = self.daemons.pop(node)
            notes += log_notes(node, daemon.home, daemon.stop())
        return notes

    def tails(self) -> str:
        return "\n".join(
            f"    {node} daemon.log:\n{log_tail(home.path)}" for node, home in self.homes.items()
        )


class StoreProbe:
    """A read-only sqlite3 connection to a node's store, to see what arrived without a CLI."""

    def __init__(self, home: NodeHome) -> None:
        uri = f"{home.store_path.as_uri()}?mode=ro"
        self.db = sqlite3.connect(uri, uri=True, timeout=10, isolation_level=None)

    def has(self, item_id: str, to_unit: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM edge WHERE item_id = ? AND to_unit = ?", (item_id, to_unit)
        ).fetchone()
        return row is not None

    def count(self, from_unit: str, to_unit: str, id_glob: str) -> int:
        row = self.db.execute(
            "SELECT COUNT(*) FROM edge WHERE to_unit = ? AND from_unit = ? AND item_id GLOB ?",
            (to_unit, from_unit, id_glob),
        ).fetchone()
        return int(row[0])

    def close(self) -> None:
        self.db.close()


def nudge(home: NodeHome) -> None:
    """A commit to ``home``'s store that changes nothing the node reads (its header's
    user_version): what wakes a daemon when a desk signs something off."""
    db = sqlite3.connect(home.store_path, timeout=10)
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        db.execute(f"PRAGMA user_version = {version + 1}")
        db.commit()
    finally:
        db.close()


def awaiting_receipts(home: NodeHome) -> int:
    """Bundles ``home`` sealed that still wait for an end-to-end receipt (``Outgoing``'s
    ``sealed`` table in the spool's state.db, read-only)."""
    uri = f"{(home.path / 'spool' / 'state.db').as_uri()}?mode=ro"
    db = sqlite3.connect(uri, uri=True, timeout=10)
    try:
        return int(db.execute("SELECT COUNT(*) FROM sealed").fetchone()[0])
    finally:
        db.close()


def http_round_trip(url: str, count: int = 20) -> float:
    """Median seconds of ``GET /v1/health`` on one kept-alive connection (after a first one)."""
    times: list[float] = []
    with httpx.Client(timeout=10) as client:
        client.get(url + "/v1/health").raise_for_status()
        for _ in range(count):
            started = time.perf_counter()
            client.get(url + "/v1/health").raise_for_status()
            times.append(time.perf_counter() - started)
    return statistics.median(times)


# ----------------------------------------------------------------------------- payloads


def small_record(origin: str, recipient: str, number: int) -> Record:
    """About 2 KiB of item record (as JSON) from ``origin`` to ``recipient``, id by number."""
    draft = parse_item(
        {
            "title": f"第{number}条 新荣区多措并举保障困难群众温暖过冬",
            "body": report_body(number, 600),
            "category": "经验做法",
            "author": "张三",
        }
    )
    now = datetime.now(UTC)
    item = Item(
        id=f"{origin}-{YEAR}-{number:07d}",
        seq=number,
        origin=origin,
        revision=1,
        draft=draft,
        created_at=now,
        updated_at=now,
        signer="王某",
        signed_at=now,
    )
    return item_record(item, origin, (recipient,))


def as_dict(record: Record) -> dict[str, Any]:
    """A record as it travels inside a bundle (``syncd.transfer.record_dict``)."""
    return {
        "id": record.id,
        "kind": record.kind,
        "version": record.version,
        "origin": record.origin,
        "payload": record.payload,
    }


def json_size(records: list[dict[str, Any]]) -> float:
    """Mean bytes of the records as UTF-8 JSON."""
    return sum(len(json.dumps(r, ensure_ascii=False).encode()) for r in records) / len(records)


def series_glob(origin: str, series: int) -> str:
    return f"{origin}-{YEAR}-{str(series)[0]}*"


@dataclass(frozen=True)
class Sealed:
    path: Path
    header: Header
    record_id: str


def seal_bundles(
    folder: Path, sender: NodeHome, recipient: str, records: list[dict[str, Any]]
) -> tuple[list[Sealed], float]:
    """One bundle per record, sealed by ``sender``'s keys into ``folder`` (named by content,
    like the spool; not fsync'd: this is set-up, outside every clock); the seconds it took."""
    keys = load_keys(sender.path, None)
    chain = enrolment.load_chain(sender) or []
    public = enrolment.encryption_keys(sender)
    me = sender.load().id
    rank = Classification.INTERNAL.rank
    sealed: list[Sealed] = []
    started = time.perf_counter()
    for record in records:
        header = new_header(me, [recipient], datetime.now(UTC), priority=0, classification=rank)
        buffer = io.BytesIO()
        # each record signed by its maker for its addressee, as the daemon seals it
        seal(header, [sign(record, [recipient], keys)], keys, chain, public, buffer)
        data = buffer.getvalue()
        path = folder / content_name(data)
        path.write_bytes(data)
        sealed.append(Sealed(path, header, str(record["id"])))
    return sealed, time.perf_counter() - started


# ----------------------------------------------------------------------------- waiting


@dataclass
class Arrival:
    first_s: float = 0.0  # first item visible, seconds after the start
    last_s: float = 0.0  # all visible


def wait_count(
    probe: StoreProbe,
    sender: str,
    recipient: str,
    glob: str,
    count: int,
    started: float,
    what: str,
    arrival: Arrival | None = None,
) -> Arrival:
    """Poll the store until ``count`` items matching ``glob`` from ``sender`` are there
    (``arrival``: what was already seen while the work was being queued)."""
    arrival = arrival or Arrival()
    seen, last_change, last_report = 0, time.perf_counter(), time.perf_counter()
    deadline = started + max(300.0, count * 0.5)
    while True:
        now = time.perf_counter()
        have = probe.count(sender, recipient, glob)
        if have and not arrival.first_s:
            arrival.first_s = now - started
        if have >= count:
            arrival.last_s = now - started
            return arrival
        if have != seen:
            seen, last_change = have, now
        if now - last_change > STALL_S or now > deadline:
            raise RuntimeError(f"{what}: {have:,} of {count:,} arrived, then nothing more")
        if now - last_report >= PROGRESS_S:
            progress(f"{what}: {have:,}/{count:,} after {now - started:.0f} s")
            last_report = now
        time.sleep(COUNT_POLL_S)


# ----------------------------------------------------------------------------- 1. latency


def emergency_draft(title: str) -> ItemDraft:
    data = tomllib.loads(EMERGENCY)
    data["title"] = title
    return parse_item(data)


@dataclass
class Latency:
    profile: Profile
    samples: list[float]
    signoff_s: list[float]

    @property
    def p95(self) -> float:
        return percentile(self.samples, 95)


def bench_latency(net: Network, profile: Profile, count: int, rng: random.Random) -> Latency:
    """Submit + sign off ``count`` (+1 warm-up) emergencies at the township, one at a time."""
    township, province = net.homes[TOWNSHIP], net.homes[PROVINCE]
    config = township.load()
    desk = Desk(Store.open(township.store_path), config.unit, ADMIN, config.roles_of(ADMIN))
    probe = StoreProbe(province)
    samples: list[float] = []
    signoff_s: list[float] = []
    send = profile.interval("send")
    try:
        for i in range(count + 1):
            time.sleep(rng.uniform(0, send))
            draft = emergency_draft(f"新荣区某煤矿发生透水事故（{profile.name}，第{i}报）")
            started = time.perf_counter()
            item = ops.submit(desk, draft)
            ops.signoff(desk, item.id)  # queues the record in the same transaction
            queued = time.perf_counter()
            deadline = queued + LATENCY_TIMEOUT_S
            while not probe.has(item.id, PROVINCE):
                if time.perf_counter() > deadline:
                    raise RuntimeError(
                        f"emergency {item.id} not at the province within {LATENCY_TIMEOUT_S:.0f}"
                        f" s\n{net.tails()}"
                    )
                time.sleep(POLL_S)
            arrived = time.perf_counter()
            if i:  # the first one warms up connections, keys and caches
                samples.append(arrived - queued)
                signoff_s.append(queued - started)
    finally:
        desk.store.close()
        probe.close()
    return Latency(profile, samples, signoff_s)


def report_latency(result: Latency) -> None:
    s = result.samples
    mean = sum(s) / len(s)
    say(f"  {result.profile.name}: {result.profile.describe()}")
    say(
        f"    {len(s)} emergencies: p50 {percentile(s, 50):.3f} s  p95 {result.p95:.3f} s  "
        f"min {min(s):.3f} s  mean {mean:.3f} s  max {max(s):.3f} s   target p95 < "
        f"{LATENCY_TARGET_S} s  {verdict(result.p95 < LATENCY_TARGET_S)}"
    )
    say(
        f"    (submit + signoff in-process took {sum(result.signoff_s) / len(s) * 1000:.1f} ms "
        f"on average, not counted; the sign-off's commit wakes the township's daemon, which "
        f"watches the store's data_version every intervals.wake_poll)"
    )


# ----------------------------------------------------------------------------- 2. relay


@dataclass
class Bulk:
    count: int
    arrival: Arrival
    enqueue_s: float = 0.0
    prepare_s: float = 0.0
    bundle_bytes: float = 0.0
    record_bytes: float = 0.0
    receipts_s: float | None = None
    receipt_bundles: list[int] = field(
        default_factory=list
    )  # records each, sealed back  # every end-to-end receipt back at the sender
    relayed: tuple[int, float] | None = None  # (bundles the city handed on, seconds to the last)
    cpu_s: dict[str, float] = field(default_factory=dict)  # each daemon's CPU until all applied

    @property
    def rate(self) -> float:
        return self.count / self.arrival.last_s


def bench_relay(net: Network, count: int, stage: Path) -> Bulk:
    """``count`` one-record bundles queued at the county's spool, until all are applied at the
    province (through the city), then until their receipts are back at the county."""
    county, province = net.homes[COUNTY], net.homes[PROVINCE]
    stage.mkdir()
    records = [as_dict(small_record(COUNTY, PROVINCE, RELAY_SERIES + i)) for i in range(count)]
    sealed, seal_s = seal_bundles(stage, county, PROVINCE, records)
    size = sum(s.path.stat().st_size for s in sealed) / count
    hops = sorted(Routes.load(county).hops((PROVINCE,)))
    resend_after = Intervals().resend_after
    spool = Spool(county.path)
    outgoing = Outgoing(spool)
    probe = StoreProbe(province)
    glob = series_glob(COUNTY, RELAY_SERIES)
    early = Arrival()
    cpu_before = {node: cpu_seconds(d.proc.pid) for node, d in net.daemons.items()}
    try:
        started, wall_started = time.perf_counter(), time.time()
        for n, one in enumerate(sealed):  # what Engine._seal does after sealing, per bundle
            final = outgoing.folder / one.path.name
            os.replace(one.path, final)
            now = time.time()
            # track before add: the daemon may hand the hop over (and collect a file nothing
            # refers to) before the next line runs
            carried = [{"id": one.record_id, "kind": "item"}]
            outgoing.track(final, one.header, carried, now + resend_after)
            outgoing.add(final, one.header, hops, now)
            if not early.first_s and n % 20 == 0 and probe.count(COUNTY, PROVINCE, glob):
                early.first_s = time.perf_counter() - started  # (to within 20 bundles queued)
        enqueue_s = time.perf_counter() - started
        # the daemon queues hops itself after sealing and is awake then; queued from here,
        # it is woken as a desk's commit wakes it (else it finds them at its idle pass, 5 s)
        nudge(county)
        arrival = wait_count(probe, COUNTY, PROVINCE, glob, count, started, "relay", early)
    finally:
        probe.close()
        spool.close()
    result = Bulk(count, arrival, enqueue_s, seal_s, size, json_size(records))
    result.cpu_s = {
        node: cpu_seconds(d.proc.pid) - cpu_before[node] for node, d in net.daemons.items()
    }
    result.relayed = handed_on(net.homes[CITY], PROVINCE, wall_started)
    # the province's receipts travel back down by pull (city from province, county from city)
    deadline = time.perf_counter() + max(STALL_S, count * 0.2)
    left, last_report = awaiting_receipts(county), time.perf_counter()
    while left and time.perf_counter() < deadline:
        time.sleep(0.25)
        left = awaiting_receipts(county)
        if time.perf_counter() - last_report >= PROGRESS_S:
            progress(f"receipts: {left:,} bundles still waiting at the county")
            last_report = time.perf_counter()
    if not left:
        result.receipts_s = time.perf_counter() - started
    result.receipt_bundles = sealed_by_daemon(province, COUNTY)
    return result


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads) so far, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def handed_on(relay: NodeHome, peer: str, since: float) -> tuple[int, float] | None:
    """How many bundles ``relay`` handed to ``peer`` (the peer took custody: an upload
    answered, fsync'd there) since the wall time ``since``, and seconds until the last."""
    conn = sqlite3.connect(f"file:{relay.path / 'spool' / 'state.db'}?mode=ro", uri=True)
    try:
        row = conn.execute(
            "SELECT COUNT(*), MAX(handed) FROM sent WHERE peer = ? AND handed >= ?", [peer, since]
        ).fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return (int(row[0]), float(row[1]) - since) if row and row[0] else None


def bench_grouped(net: Network, count: int) -> Bulk:
    """``count`` item records queued in the county's store at once (as ``count`` sign-offs
    would), sealed and sent by the county's daemon, until all are applied at the province."""
    county, province = net.homes[COUNTY], net.homes[PROVINCE]
    records = [small_record(COUNTY, PROVINCE, GROUPED_SERIES + i) for i in range(count)]
    store = Store.open(county.store_path)
    probe = StoreProbe(province)
    try:
        started = time.perf_counter()
        at = datetime.now(UTC)
        with store.write():
            for record in records:
                outbox.enqueue(
                    store,
                    record,
                    (PROVINCE,),
                    priority=0,
                    classification=Classification.INTERNAL,
                    at=at,
                )
        enqueue_s = time.perf_counter() - started
        glob = series_glob(COUNTY, GROUPED_SERIES)
        arrival = wait_count(probe, COUNTY, PROVINCE, glob, count, started, "grouped")
    finally:
        store.close()
        probe.close()
    return Bulk(count, arrival, enqueue_s)


def sealed_by_daemon(home: NodeHome, recipient: str) -> list[int]:
    """Records per bundle the daemon logged sealing for ``recipient`` (its log since start)."""
    try:
        text = (home.path / "daemon.log").read_text("utf-8", "replace")
    except OSError:
        return []
    pattern = rf"sealed bundle \S+: (\d+) records for {re.escape(recipient)} via"
    return [int(n) for n in re.findall(pattern, text)]


def report_relay(relay: Bulk, grouped: Bulk, grouped_bundles: list[int], rtt: float) -> None:
    a = relay.arrival
    say(f"  timers: {FAST.describe()}")
    say(
        f"  HTTP round trip to a daemon on loopback (GET /v1/health, kept alive): median "
        f"{rtt * 1000:.1f} ms"
    )
    say(
        f"  {relay.count:,} bundles, one item record each ({relay.record_bytes / 1024:.1f} KiB as "
        f"JSON, {relay.bundle_bytes / 1024:.1f}"
        f" KiB per bundle file), sealed with the county's keys beforehand ({relay.prepare_s:.1f}"
        f" s, not counted)"
    )
    say(
        f"    queued in the county's spool (Outgoing.track + add, inside the clock) in "
        f"{relay.enqueue_s:.2f} s; first at the province after {a.first_s:.2f} s"
    )
    say(
        f"    all {relay.count:,} applied at the province after {a.last_s:.2f} s  →  "
        f"{relay.rate:,.1f} bundles/s end to end   (no target stated)"
    )
    if relay.relayed is not None:
        handed, seconds = relay.relayed
        say(
            f"    through the city: {handed:,} handed to the province (its custody: the upload "
            f"answered) after {seconds:.2f} s  →  {handed / seconds:,.1f} bundles/s relayed  "
            f"target ≥ 1,000  {verdict(handed / seconds >= 1000)}"
        )
    if relay.cpu_s:
        # the machine's limit for this: three daemons share its cores; what each spent per
        # bundle says what one of them would do with a core of its own
        per = {node: cpu / relay.count for node, cpu in relay.cpu_s.items()}
        spent = "; ".join(
            f"{role} {per[node] * 1000:.2f} ms (≤ {1 / per[node]:,.0f}/s on a core of its own)"
            for node, role in ((COUNTY, "county"), (CITY, "city"), (PROVINCE, "province"))
            if per.get(node)
        )
        total = sum(per.values())
        say(
            f"    CPU per bundle until all were applied: {spent}; all three "
            f"{total * 1000:.2f} ms → ≤ {(os.cpu_count() or 1) / total:,.0f} bundles/s on this "
            f"machine's {os.cpu_count()} cores"
        )
    if relay.receipts_s is None:
        say("    end-to-end receipts: not all back at the county within the wait")
    else:
        say(f"    every end-to-end receipt back at the county after {relay.receipts_s:.2f} s")
    if relay.receipt_bundles:
        say(
            f"    the province sealed {len(relay.receipt_bundles):,} receipt bundles back to the "
            f"county ({sum(relay.receipt_bundles):,} receipt records), pulled down hop by hop"
        )
    g = grouped.arrival
    made = (
        f"{len(grouped_bundles)} bundle(s) of {', '.join(f'{n:,}' for n in grouped_bundles)} "
        "records"
        if grouped_bundles
        else "(bundle count not found in the county's log)"
    )
    say(
        f"  2b. {grouped.count:,} item records queued at once in the county's store "
        f"(outbox.enqueue, as {grouped.count:,} sign-offs would; {grouped.enqueue_s:.2f} s, "
        f"inside the clock) → the county's daemon sealed {made}"
    )
    say(
        f"    all applied at the province after {g.last_s:.2f} s  →  {grouped.rate:,.0f} "
        f"records/s end to end   (no target stated)"
    )


# ----------------------------------------------------------------------------- 3. drop folder

DROP_MODES = {
    "once": "3a. `xinbao-syncd once` over files lying in HOME/drop (≥ stable s old; a cron job)",
    "watched": "3b. daemon running; the files copied one by one into its watched HOME/drop",
    "appear": "3c. daemon running; a folder of just-written files appears as HOME/drop",
}


@dataclass
class Drop:
    mode: str
    count: int
    seal_s: float
    bundle_bytes: float
    record_bytes: float
    first_s: float = 0.0  # first item visible in the store
    applied_s: float = 0.0  # every item visible
    done_s: float = 0.0  # every file moved to done/ (and the process/copy finished)
    copy_s: float = 0.0
    note: str = ""

    @property
    def rate(self) -> float:
        return self.count / self.done_s


def count_files(folder: Path) -> int:
    try:
        with os.scandir(folder) as entries:
            return sum(1 for e in entries if e.name.endswith(SUFFIX) and e.is_file())
    except FileNotFoundError:
        return 0


def follow_drop(result: Drop, province: NodeHome, started: float, busy: Callable[[], bool]) -> None:
    """Poll until every item is in the store, no bundle is left in the drop folder and
    ``busy()`` is false (the ``once`` process exited, the copy finished)."""
    drop = province.path / "drop"
    probe = StoreProbe(province)
    glob = series_glob(CITY, DROP_SERIES)
    last_report = last_change = started
    seen = -1
    try:
        while True:
            working = busy()  # first: what is measured next includes all it did
            now = time.perf_counter()
            if not result.applied_s:
                have = probe.count(CITY, PROVINCE, glob)
                if have and not result.first_s:
                    result.first_s = now - started
                if have >= result.count:
                    result.applied_s = now - started
                if have != seen:
                    seen, last_change = have, now
            left = count_files(drop) if result.applied_s else -1
            if left == 0 and not working:
                result.done_s = now - started
                break
            if not working and result.mode == "once":
                raise RuntimeError(f"once exited with {seen:,} of {result.count:,} applied")
            if now - last_change > STALL_S:
                raise RuntimeError(
                    f"drop ({result.mode}): {seen:,} of {result.count:,} applied, then nothing"
                    f"\n{log_tail(province.path)}"
                )
            if now - last_report >= PROGRESS_S:
                progress(f"drop ({result.mode}): {seen:,}/{result.count:,} applied")
                last_report = now
            time.sleep(COUNT_POLL_S)
    finally:
        probe.close()
    moved, refused = count_files(drop / "done"), count_files(drop / "quarantine")
    if moved != result.count or refused:
        raise RuntimeError(f"drop ({result.mode}): {moved} in done/, {refused} in quarantine/")


def watcher_state(home: Path, seconds: float = 10.0) -> str:
    """What the daemon's log says about watching its drop folder (bounded wait)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            text = (home / "daemon.log").read_text("utf-8", "replace")
        except OSError:
            text = ""
        if "watching drop folders" in text:
            return "watcher on"
        if "cannot watch drop folders" in text:
            return "watcher could not start: polling only"
        time.sleep(0.05)
    return "watcher state not logged"


def bench_drop(root: Path, mode: str, records: list[dict[str, Any]], profile: Profile) -> Drop:
    """One drop-folder run (see DROP_MODES) on a fresh province with a child city."""
    homes = enrol_chain(root, [(PROVINCE, "province", ""), (CITY, "city", PROVINCE)])
    province = homes[PROVINCE]
    write_syncd(province.path, profile)  # drop folders: the default, HOME/drop
    drop = province.path / "drop"
    target = drop if mode == "once" else root / "carried"
    target.mkdir()
    sealed, seal_s = seal_bundles(target, homes[CITY], PROVINCE, records)
    size = sum(s.path.stat().st_size for s in sealed) / len(sealed)
    result = Drop(mode, len(sealed), seal_s, size, json_size(records))
    if mode == "once":
        newest = max(s.path.stat().st_mtime for s in sealed)
        time.sleep(max(0.0, newest + profile.interval("stable") + 0.1 - time.time()))
        env = {**os.environ, "XINBAO_HOME": str(province.path)}
        with open(root / "once.log", "wb") as log:
            started = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-m", "syncd", "once"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            try:
                follow_drop(result, province, started, lambda: proc.poll() is None)
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.wait(10)
        if proc.returncode != 0:
            raise RuntimeError(f"once exited {proc.returncode}: {log_tail(root, 5)}")
        return result
    if mode == "watched":
        drop.mkdir()
    daemon = BenchDaemon(province.path)
    code: int | None = None
    try:
        if mode == "watched":
            result.note = watcher_state(province.path)
            failed: list[BaseException] = []

            def copy_in() -> None:
                copy_started = time.perf_counter()
                try:
                    for one in sealed:
                        shutil.copyfile(one.path, drop / one.path.name)
                except BaseException as exc:  # reported by the main thread
                    failed.append(exc)
                result.copy_s = time.perf_counter() - copy_started

            copier = threading.Thread(target=copy_in, name="copy-in")
            started = time.perf_counter()
            copier.start()
            try:
                follow_drop(result, province, started, copier.is_alive)
            finally:
                copier.join(60)
            if failed:
                raise failed[0]
        else:
            for one in sealed:  # just written, as on a stick being filled
                os.utime(one.path)
            started = time.perf_counter()
            os.rename(target, drop)
            follow_drop(result, province, started, lambda: False)
    finally:
        code = daemon.stop()
    for note in log_notes(PROVINCE, province.path, code):
        result.note += f"; {note}" if result.note else note
    return result


def python_start_s() -> float:
    """Seconds for a fresh interpreter to import the daemon (part of every ``once`` run)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import syncd.cli, syncd.daemon"], check=True, timeout=60)
    return time.perf_counter() - started


def report_drop(drops: list[Drop], profile: Profile, start_s: float) -> None:
    first = drops[0]
    i = profile.interval
    say(
        f"  {first.count:,} bundles city → province per run, one item record each "
        f"({first.record_bytes / 1024:.1f} KiB as JSON, {first.bundle_bytes / 1024:.1f} KiB per "
        f"file), sealed beforehand ({first.seal_s:.1f} s, not counted); a fresh province each "
        f"run; timers: {profile.describe()}"
    )
    say(
        f"  stable-size rule: stable = {i('stable'):g} s — a file is imported once its size has "
        f"held for that long (counted from its mtime when first seen), or at once when the "
        f"watcher saw its writer close it; drop folders are polled every drop_poll = "
        f"{i('drop_poll'):g} s (and on watcher events), every {min(i('stable'), i('drop_poll')):g}"
        f" s while a file waits"
    )
    for drop in drops:
        say(f"  {DROP_MODES[drop.mode]}")
        extra = ""
        if drop.mode == "once":
            extra = f"; includes the interpreter start-up and imports, ~{start_s:.2f} s"
        elif drop.mode == "watched":
            extra = f"; the copy took {drop.copy_s:.2f} s"
        say(
            f"    first applied after {drop.first_s:.2f} s, all applied after "
            f"{drop.applied_s:.2f} s, all in done/ after {drop.done_s:.2f} s  →  "
            f"{drop.rate:,.0f} bundles/s{extra}"
        )
        if drop.note:
            say(f"    ({drop.note})")


# ----------------------------------------------------------------------------- 4. NNCP


def nncp_air_gap(payloads: list[bytes], workdir: Path) -> dict[str, float]:
    """``payloads`` sender → receiver through NNCP's air-gap path, each step timed:
    ``nncp-file`` per payload, ``nncp-xfer -tx`` into a folder, ``nncp-xfer -rx`` out of it,
    ``nncp-toss``; checks every received file byte for byte."""
    bindir = nncp_binaries()
    if bindir is None:
        raise RuntimeError("the nncp programs are not available on this machine")
    workdir.mkdir(parents=True)
    sender_home, receiver_home = workdir / "sender", workdir / "receiver"
    incoming, shared = workdir / "incoming", workdir / "xfer"
    incoming.mkdir()
    shared.mkdir()
    sender = _new_node(bindir, sender_home)
    receiver = _new_node(bindir, receiver_home)
    sender_cfg = _write_config(sender_home, sender, "receiver", receiver, None)
    receiver_cfg = _write_config(receiver_home, receiver, "sender", sender, incoming)
    pairs = _materialise(payloads, workdir / "src")

    def tool(name: str, cfg: Path, *args: str) -> list[str]:
        return [str(bindir / name), "-cfg", str(cfg), "-quiet", "-noprogress", *args]

    figures: dict[str, float] = {"count": float(len(pairs))}
    started = last_report = time.perf_counter()
    for index, (source, name) in enumerate(pairs):
        _run(tool("nncp-file", sender_cfg, str(source), f"receiver:{name}"), BULK_TIMEOUT_S)
        if time.perf_counter() - last_report >= PROGRESS_S:
            progress(f"nncp-file: {index + 1:,}/{len(pairs):,}")
            last_report = time.perf_counter()
    figures["file_s"] = time.perf_counter() - started
    started = time.perf_counter()
    _run(tool("nncp-xfer", sender_cfg, "-tx", "-mkdir", str(shared)), BULK_TIMEOUT_S)
    figures["tx_s"] = time.perf_counter() - started
    packets = [p for p in shared.rglob("*") if p.is_file()]
    figures["packet_bytes"] = sum(p.stat().st_size for p in packets) / max(len(packets), 1)
    started = time.perf_counter()
    _run(tool("nncp-xfer", receiver_cfg, "-rx", str(shared)), BULK_TIMEOUT_S)
    figures["rx_s"] = time.perf_counter() - started
    started = time.perf_counter()
    _run(tool("nncp-toss", receiver_cfg), BULK_TIMEOUT_S)
    figures["toss_s"] = time.perf_counter() - started
    for source, name in pairs:
        if not filecmp.cmp(source, incoming / name, shallow=False):
            raise RuntimeError(f"{name} did not arrive intact in {incoming}")
    figures["payload_bytes"] = sum(len(p) for p in payloads) / len(payloads)
    return figures


def report_nncp(nn: dict[str, float], drops: list[Drop]) -> None:
    n = nn["count"]
    receive_s = nn["rx_s"] + nn["toss_s"]
    say(
        f"  the same {int(n):,} record payloads ({nn['payload_bytes'] / 1024:.1f} KiB each as "
        f"JSON, {nn['packet_bytes'] / 1024:.1f} KiB per NNCP packet)"
    )
    say(
        f"    sender's side (not compared): nncp-file {n / nn['file_s']:,.0f} files/s (one "
        f"process per file, {nn['file_s']:.1f} s), nncp-xfer -tx {n / nn['tx_s']:,.0f} "
        f"packets/s ({nn['tx_s']:.2f} s)"
    )
    say(
        f"    receiver's side: nncp-xfer -rx {nn['rx_s']:.2f} s + nncp-toss {nn['toss_s']:.2f} s "
        f"= {receive_s:.2f} s  →  {n / receive_s:,.0f} packets/s"
    )
    for drop in drops:
        say(
            f"    ours {drop.mode:7}: {drop.done_s:6.2f} s  →  {drop.rate:6,.0f} bundles/s = "
            f"{receive_s / drop.done_s:.2f}× NNCP's receiving rate"
        )


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10 emergencies, 500 bundles")
    parser.add_argument("--emergencies", type=int, help="emergencies per timer profile")
    parser.add_argument("--bundles", type=int, help="bundles for figures 2, 3 and 4")
    parser.add_argument("--no-nncp", action="store_true", help="skip the NNCP comparison")
    parser.add_argument("--seed", type=int, default=1, help="seed of the pauses in figure 1")
    args = parser.parse_args(argv)
    emergencies = args.emergencies or (10 if args.quick else 50)
    bundles = args.bundles or (500 if args.quick else 10_000)
    if emergencies < 1 or bundles < 1:
        parser.error("counts must be ≥ 1")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    say(f"python {sys.version.split()[0]}, {os.cpu_count()} cpu, load average {load}")
    say(
        f"daemon limits in force: at most {PUSHES_PER_PASS} bundles pushed per link per pass, "
        f"{MAX_RECORDS_PER_PASS:,} records sealed per pass, receive batches of {BATCH:,} "
        f"bundles or {BATCH_SECONDS} s"
    )
    rng = random.Random(args.seed)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-daemon-") as tmp:
        root = Path(tmp)
        net = Network(enrol_chain(root / "chain", CHAIN), CHAIN)
        say("\n1. 特急 latency, township → county → city → province (3 HTTP hops, loopback)")
        say(
            f"  {emergencies} emergencies per timer profile (+1 warm-up), each from its "
            "sign-off's commit to its edge in the province's store.db (5 ms read-only poll)"
        )
        latencies: list[Latency] = []
        relay: Bulk | None = None
        grouped: Bulk | None = None
        rtt = 0.0
        try:
            for profile in (DEFAULTS, FAST):
                net.start(profile)
                known = net.homes[PROVINCE].path / "keys" / "known" / f"{TOWNSHIP}.pem"
                until(known.is_file, "the township's certificate reaches the province", 60)
                latencies.append(bench_latency(net, profile, emergencies, rng))
                report_latency(latencies[-1])
                if profile is FAST:
                    rtt = http_round_trip(net.daemons[CITY].url)
                    relay = bench_relay(net, bundles, root / "relay-stage")
                    grouped = bench_grouped(net, bundles)
                for note in net.stop():
                    say(f"    daemon log: {note}")
        except BaseException:
            say(net.tails())
            raise
        finally:
            net.stop()
        assert relay is not None and grouped is not None
        say("\n2. relay throughput, county → city → province (the city relays)")
        report_relay(relay, grouped, sealed_by_daemon(net.homes[COUNTY], PROVINCE), rtt)

        say("\n3. drop-folder import, until every file is in HOME/drop/done")
        records = [as_dict(small_record(CITY, PROVINCE, DROP_SERIES + i)) for i in range(bundles)]
        drops = [bench_drop(root / mode, mode, records, FAST) for mode in DROP_MODES]
        report_drop(drops, FAST, python_start_s())

        say("\n4. NNCP side by side with 3 (nncp-xfer -rx + nncp-toss)")
        bindir = None if args.no_nncp else nncp_binaries()
        if args.no_nncp:
            say("  skipped (--no-nncp)")
        elif bindir is None:
            say("  nncp not available (not on PATH, $NNCP_BIN unset, apt-get download failed)")
        else:
            version = _run([str(bindir / "nncp-file"), "-version"], 60).stdout.splitlines()
            say(f"  {version[0] if version else 'nncp'} ({bindir})")
            payloads = [json.dumps(r, ensure_ascii=False).encode() for r in records]
            report_nncp(nncp_air_gap(payloads, root / "nncp"), drops)

    say("\nsummary")
    for result in latencies:
        say(
            f"  1. 特急 p95, {result.profile.name:16} {result.p95:6.3f} s  target < "
            f"{LATENCY_TARGET_S} s  {verdict(result.p95 < LATENCY_TARGET_S)}"
        )
    say(
        f"  2. relay {relay.rate:,.1f} bundles/s end to end; 2b {grouped.rate:,.0f} records/s "
        f"when queued together (no target stated)"
    )
    for drop in drops:
        say(f"  3. drop {drop.mode:7} {drop.rate:6,.0f} bundles/s (no target stated)")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    say(f"total {time.perf_counter() - started:.0f} s; load average at the end {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
