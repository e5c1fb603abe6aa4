"""A fault campaign: a five-tier chain of real ``xinbao-syncd run`` daemons carries desk traffic
while faults are injected from a seeded schedule; then the network settles and every item is
checked for having arrived exactly once at each of its recipients, with its receipt back.

The chain (node homes made by ``xinbao-syncd init`` and ``enroll``, keys made at run time in a
temporary folder)::

    100000 中央 ⇄ 140000 省 ⇠ 140200 市 ⇢⇠ 140212 县 ⇄ 140212101 乡镇
           HTTP both ways   pull      air gap      HTTP both ways
                            (the city has no address; it pushes up and pulls down)

Every HTTP link points at a TCP relay of this script on 127.0.0.1 in front of the receiving
daemon, so a daemon restarted on a new ephemeral port is reached again, and a link can flap.
The air gap is two folder links whose files a courier (this script) carries into the other
side's drop folder.

Traffic: the township, county and city desks submit and sign off items (``xinbao submit`` and
``xinbao signoff``): routine ones to the parent or skip-level (``to = [...]``), 特急
emergencies skip-level; the upper desks adopt or return what arrived (``xinbao adopt`` /
``xinbao return``), and the decisions travel back down; a returned item is edited and signed
off again (``xinbao edit``: revision 2, to the recipients that returned it), then adopted.

Faults (each one counted): a daemon killed (SIGKILL) and restarted; a daemon frozen (SIGSTOP)
and thawed (SIGCONT); a link flap (the relay in front of a daemon refuses and cuts every
connection for a while); a carried file halved (its second half copied later), truncated for
good, bit-flipped or duplicated in a drop folder; a desk command (``signoff``, ``adopt``,
``return``) killed (SIGKILL) mid-run. The schedule comes from ``random.Random(seed)``; it stops
at ``--faults`` or ``--max-seconds``, whichever comes first.

Then: every daemon runs, every link is up, and the network is given ``--settle-seconds`` to
deliver. The checks read each node's store read-only (SQLite ``mode=ro``) and its inbox
(``xinbao --json list --inbox``):

* lost — a (signed-off item, recipient) pair whose item or edge (or revision 2, when it was
  sent one) is not at the recipient;
* doubled — the recipient lists it twice, or its audit holds the arrival (已接收) more often
  than revisions were sent to it, or an adoption or return twice at either end of the edge;
* receipts missing — the recipient holds it but the sender's edge has no ``delivered_at``;
* decisions lost — the sender's edge does not show the recipient's decision;
* altered — the recipient's title differs; misdelivered — a node neither sender nor recipient
  holds the item (relays must stay blind).

Run it by hand::

    make faults                                           # ≥ 1,000 faults, several minutes
    .venv/bin/python -m tests.faults.campaign --faults 120 --max-seconds 45 --seed 7

It prints one table and exits 1 when anything was lost, doubled, altered or misdelivered, a
receipt or a decision is missing, or the network did not settle in time (2 on a usage error).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from schema.vocabulary import EdgeState
from tests.cli_helpers import Result, run
from tests.syncd.daemons import enrol_tree, ok

CENTRAL, PROVINCE, CITY, COUNTY, TOWNSHIP = "100000", "140000", "140200", "140212", "140212101"
TIERS = [
    (CENTRAL, "central", ""),
    (PROVINCE, "province", CENTRAL),
    (CITY, "city", PROVINCE),
    (COUNTY, "county", CITY),
    (TOWNSHIP, "township", COUNTY),
]
NODES = [node for node, _, _ in TIERS]
# sender → receiver over HTTP (through the relay in front of the receiver)
HTTP_LINKS = [
    (PROVINCE, CENTRAL),
    (CENTRAL, PROVINCE),
    (CITY, PROVINCE),  # the province has no link to the city: the city pulls
    (TOWNSHIP, COUNTY),
    (COUNTY, TOWNSHIP),
]
FOLDER_LINKS = [(COUNTY, CITY), (CITY, COUNTY)]  # the air gap, carried by the courier
LISTENING = (CENTRAL, PROVINCE, COUNTY, TOWNSHIP)
# the desks that write items (weights), and whom they may address (() = the parent)
WRITERS = {TOWNSHIP: 4, COUNTY: 3, CITY: 1}
ROUTINE_TO: dict[str, list[tuple[str, ...]]] = {
    TOWNSHIP: [(), (), (COUNTY, CITY), (COUNTY, PROVINCE), (CENTRAL,)],
    COUNTY: [(), (), (CITY, PROVINCE), (CENTRAL,)],
    CITY: [(), (), (PROVINCE, CENTRAL)],
}
EMERGENCY_TO: dict[str, list[tuple[str, ...]]] = {
    TOWNSHIP: [(COUNTY, PROVINCE), (COUNTY, CITY, PROVINCE)],
    COUNTY: [(CITY, PROVINCE), (PROVINCE,)],
    CITY: [(PROVINCE,), (PROVINCE, CENTRAL)],
}
PARENT = {node: parent for node, _, parent in TIERS}
USER = "zhangsan"  # ignored by the programs (the actor is the OS account); kept in the env
RECEIVED = EdgeState.RECEIVED.value
RETURNED = EdgeState.RETURNED.value
AWAITING = EdgeState.AWAITING_SIGNOFF.value
DECIDED = (EdgeState.ADOPTED.value, RETURNED)  # each at most once per edge in this traffic
SYNCD_TOML = """\
drop = ["drop"]
[intervals]
send = 0.3
fetch = 0.5
retry_min = 0.2
retry_max = 2.0
resend_after = 6.0
drop_poll = 0.3
stable = 0.3
abandon = 4.0
[limits]
timeout = 4.0
"""
ROUTINE = """\
title = "{title}"
category = "工作动态"
urgency = "{urgency}"
classification = "内部"
author = "李四"
body = "本周完成冬季供暖设施巡查，排查隐患{n}处，均已整改。"
to = {to}
"""
EMERGENCY = """\
title = "{title}"
category = "突发事件"
urgency = "特急"
author = "李四"
body = "某煤矿井下透水，{n}人被困，正在救援。"
to = {to}
[incident]
severity = "较大"
occurred_at = "2026-11-22T09:10:00+08:00"
place = "某煤矿"
"""
# fault kinds, their weights in the schedule, and how the table names them
FAULTS = {
    "kill": 12,
    "stop": 12,
    "flap": 18,
    "halved": 8,
    "truncated": 6,
    "bitflip": 8,
    "duplicate": 9,
    "desk": 8,
}
LABELS = {
    "kill": "daemon killed (-9), restarted",
    "stop": "daemon SIGSTOP … SIGCONT",
    "flap": "HTTP link flap",
    "halved": "drop file halved, completed later",
    "truncated": "drop file truncated",
    "bitflip": "drop file bit-flipped",
    "duplicate": "drop file duplicated",
    "desk": "desk command killed mid-run",
}
DROP_FAULTS = ("halved", "truncated", "bitflip", "duplicate")
TICK = 0.02  # the injector's loop
MOST_DOWN = 2  # daemons (and, apart, links) out at the same time
START_SECONDS = 30.0  # a daemon must write its run file within this
DESK_SECONDS = 60.0  # a desk command must finish within this
T = TypeVar("T")


def parallel(fn: Callable[[str], T], nodes: list[str]) -> list[T]:
    """``fn`` for every node, a few at a time (each is a command line in a subprocess)."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        return list(pool.map(fn, nodes))


class CampaignError(Exception):
    """The campaign itself could not go on (a daemon that will not start, a desk refusing)."""


def environment(home: Path) -> dict[str, str]:
    """What the desk and the daemon of ``home`` run with."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XINBAO_")}
    return {**env, "USER": USER, "XINBAO_HOME": str(home)}


def desk(home: Path, *args: str) -> Result | None:
    """``xinbao ARGS`` at ``home``; None when it did not finish in time."""
    try:
        return run("xinbao", *args, home=home)
    except subprocess.TimeoutExpired:
        return None


def desk_killed(home: Path, after: float, *args: str) -> bool:
    """Start ``xinbao ARGS`` and SIGKILL it after ``after`` seconds; whether it was still
    running then (False: it finished first, nothing was killed)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", *args],
        env=environment(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        proc.wait(after)
        return False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        return True


class Tally:
    """Injected faults by kind (shared by the injector, the courier and the traffic)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def add(self, kind: str) -> None:
        with self.lock:
            self.counts[kind] += 1

    @property
    def total(self) -> int:
        with self.lock:
            return sum(self.counts.values())

    def snapshot(self) -> Counter[str]:
        with self.lock:
            return Counter(self.counts)


# -- the HTTP relay in front of a daemon ------------------------------------------------------


def _reset(sock: socket.socket) -> None:
    """Close with a RST, as a link going down does."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


def _cut(sock: socket.socket) -> None:
    """End a connection another thread may be blocked on (``close`` would not wake it)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class Relay:
    """A TCP relay on 127.0.0.1 in front of one daemon. Links point here, so the daemon may
    come back on another port; :meth:`down` refuses and cuts every connection (a link flap)."""

    def __init__(self, name: str, target: Callable[[], tuple[str, int] | None]) -> None:
        self.name = name
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.lock = threading.Lock()
        self.live: set[socket.socket] = set()
        self.is_down = False
        self.until = 0.0  # when a downed relay comes back (monotonic)
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._accept, name=f"relay-{name}", daemon=True)
        self.thread.start()

    def down(self, until: float) -> None:
        with self.lock:
            self.is_down = True
            self.until = until
            live = list(self.live)
        for sock in live:
            _cut(sock)

    def up(self) -> None:
        with self.lock:
            self.is_down = False

    def close(self) -> None:
        self.closing.set()
        self.down(0.0)
        self.thread.join(5)
        self.server.close()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        target = None if self.is_down else self.target()
        if target is None:
            _reset(client)
            return
        try:
            upstream = socket.create_connection(target, timeout=2.0)
        except OSError:
            _reset(client)
            return
        client.settimeout(None)
        upstream.settimeout(None)
        with self.lock:
            if self.is_down:
                _reset(client)
                _reset(upstream)
                return
            self.live |= {client, upstream}
        back = threading.Thread(target=self._pump, args=(upstream, client), daemon=True)
        back.start()
        self._pump(client, upstream)
        back.join(30)
        with self.lock:
            self.live -= {client, upstream}
            down = self.is_down
        for sock in (client, upstream):
            if down:
                _reset(sock)
            else:
                with contextlib.suppress(OSError):
                    sock.close()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:  # one side ended: so does the other direction
            _cut(source)
            _cut(sink)


# -- a node's daemon ------------------------------------------------------------------------


class Node:
    """One node's home and its ``xinbao-syncd run`` process, killed, frozen and restarted."""

    def __init__(self, node_id: str, home: Path, listen: bool) -> None:
        self.id = node_id
        self.home = home
        self.listen = listen
        self.proc: subprocess.Popen[bytes] | None = None
        self.address: tuple[str, int] | None = None
        self.state = "down"  # starting, up, stopped (SIGSTOP), dead (SIGKILL), down
        self.until = 0.0  # when a stopped or dead daemon is brought back (monotonic)
        self.started = 0.0
        self.crashes = 0  # exits nobody asked for
        self.failed_starts = 0  # in a row
        self.exits: list[int] = []

    @property
    def run_file(self) -> Path:
        return self.home / "run" / "syncd.json"

    def start(self) -> None:
        """Start the daemon (its log appended to ``HOME/daemon.log``); :meth:`ready` tells
        when it runs."""
        self.run_file.unlink(missing_ok=True)  # a killed daemon's, naming its old port
        args = [sys.executable, "-m", "syncd", "run"]
        if self.listen:
            args += ["--listen", "127.0.0.1:0"]
        with open(self.home / "daemon.log", "ab") as log:
            self.proc = subprocess.Popen(
                args, env=environment(self.home), stdout=subprocess.DEVNULL, stderr=log
            )
        self.address = None
        self.state = "starting"
        self.started = time.monotonic()

    def ready(self) -> bool:
        """Whether the daemon runs (a starting one is checked for its run file). A daemon that
        exited by itself (while starting or running) is counted and started again."""
        if self.state not in ("starting", "up"):
            return False
        assert self.proc is not None
        if self.proc.poll() is not None:
            self.crashes += 1
            self.exits.append(self.proc.returncode)
            self.failed_starts += self.state == "starting"
            if self.failed_starts >= 5:
                raise CampaignError(f"the daemon of {self.id} will not start: {self.log_tail()}")
            self.start()
            return False
        if self.state == "up":
            return True
        if time.monotonic() - self.started > START_SECONDS:
            raise CampaignError(f"the daemon of {self.id} not running after {START_SECONDS:.0f} s")
        try:
            info = json.loads(self.run_file.read_text("utf-8"))
        except (OSError, ValueError):
            return False
        if info.get("pid") != self.proc.pid:
            return False
        if self.listen:
            host, _, port = str(info["listen"]).rpartition("//")[2].rpartition(":")
            self.address = (host, int(port))
        self.state = "up"
        self.failed_starts = 0
        return True

    def kill(self, until: float) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)
        self.state, self.until, self.address = "dead", until, None

    def freeze(self, until: float) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        self.state, self.until = "stopped", until

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)
        self.state = "up"

    def restore(self) -> None:
        """Bring a frozen or killed daemon back."""
        if self.state == "stopped":
            self.thaw()
        elif self.state in ("dead", "down"):
            self.start()

    def stop(self) -> int | None:
        """SIGTERM (after SIGCONT), bounded; SIGKILL if it does not stop. Its exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.send_signal(signal.SIGCONT)
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.state = "down"
        return proc.returncode

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = (self.home / "daemon.log").read_text("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


# -- the courier across the air gap ---------------------------------------------------------


@dataclass
class Gap:
    """One folder link: the sender's outgoing folder, carried into the receiver's drop folder."""

    sender: str
    receiver: str
    outgoing: Path
    drop: Path

    @property
    def name(self) -> str:
        return f"{self.sender}→{self.receiver}"


class Courier:
    """Carries bundle files across the air gap in a thread: each file written to a folder link
    is taken away and copied into the other side's drop folder. A drop fault armed for a gap is
    done to the next file carried over it (and counted then); a faulty copy gets a name of its
    own, so a later good copy never lands on top of it."""

    def __init__(self, gaps: list[Gap], rng: random.Random, tally: Tally) -> None:
        self.gaps = gaps
        self.rng = rng
        self.tally = tally
        self.lock = threading.Lock()
        self.armed: list[str] = []  # drop faults for the next files carried
        self.later: list[tuple[float, Path, bytes, bool]] = []  # (due, file, bytes, append)
        self.carried = 0
        self.by_gap: Counter[str] = Counter()
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="courier", daemon=True)
        self.serial = 0

    def start(self) -> None:
        self.thread.start()

    def arm(self, kind: str, most: int = 4) -> bool:
        """Do ``kind`` to the next file carried (either way); False when enough are armed."""
        with self.lock:
            if len(self.armed) >= most:
                return False
            self.armed.append(kind)
            return True

    def disarm(self) -> None:
        with self.lock:
            self.armed.clear()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(30)

    def idle(self) -> bool:
        """Nothing waits to be written later."""
        with self.lock:
            return not self.later

    def _run(self) -> None:
        try:
            while not self.stopping.wait(0.15):
                self.tick()
        except BaseException as exc:  # reported by the campaign
            self.error = exc

    def tick(self) -> None:
        now = time.monotonic()
        for gap in self.gaps:
            files = sorted(gap.outgoing.glob("*.xbb"), key=_mtime)
            for path in files:
                try:
                    data = path.read_bytes()
                    path.unlink()
                except OSError:
                    continue
                with self.lock:
                    kind = self.armed.pop(0) if self.armed else ""
                self._carry(gap, path.name, data, kind, now)
                self.carried += 1
                self.by_gap[gap.name] += 1
        with self.lock:
            due = [entry for entry in self.later if entry[0] <= now]
            self.later = [entry for entry in self.later if entry[0] > now]
        for _, target, data, append in due:
            with open(target, "ab" if append else "wb") as fh:
                fh.write(data)

    def _carry(self, gap: Gap, name: str, data: bytes, kind: str, now: float) -> None:
        rng = self.rng
        gap.drop.mkdir(parents=True, exist_ok=True)
        stem = name.removesuffix(".xbb")
        self.serial += 1
        again = gap.drop / f"{stem}.again{self.serial}.xbb"
        if kind == "halved":  # a copy broken off half way, finished a little later
            cut = len(data) // 2
            half = gap.drop / f"{stem}.half{self.serial}.xbb"
            half.write_bytes(data[:cut])
            self._later(now + rng.uniform(0.3, 3.0), half, data[cut:], True)
        elif kind == "truncated":  # broken off for good; sometimes carried again whole
            cut = rng.randrange(0, len(data))
            (gap.drop / f"{stem}.cut{self.serial}.xbb").write_bytes(data[:cut])
            if rng.random() < 0.5:
                self._later(now + rng.uniform(0.5, 3.0), again, data, False)
        elif kind == "bitflip":  # a bad medium; sometimes carried again whole
            flipped = bytearray(data)
            flipped[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            (gap.drop / f"{stem}.bad{self.serial}.xbb").write_bytes(bytes(flipped))
            if rng.random() < 0.5:
                self._later(now + rng.uniform(0.5, 3.0), again, data, False)
        elif kind == "duplicate":  # copied twice
            (gap.drop / name).write_bytes(data)
            self._later(now + rng.uniform(0.0, 2.0), again, data, False)
        else:
            (gap.drop / name).write_bytes(data)
        if kind:
            self.tally.add(kind)

    def _later(self, due: float, target: Path, data: bytes, append: bool) -> None:
        with self.lock:
            self.later.append((due, target, data, append))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


# -- reading the stores -------------------------------------------------------------------------


@dataclass
class Edge:
    id: int
    state: str
    delivered_at: str | None


@dataclass
class Snapshot:
    """What one node's store holds, read read-only."""

    titles: dict[str, str]  # item id → title
    edges: dict[tuple[str, str, str], Edge]  # (item, from, to)
    audit: Counter[tuple[int, str]]  # (edge id, to_state) → entries

    @classmethod
    def read(cls, home: Path) -> Snapshot:
        db = sqlite3.connect(f"file:{home / 'store.db'}?mode=ro", uri=True, timeout=20)
        try:
            titles = {row[0]: row[1] for row in db.execute("SELECT id, title FROM item")}
            edges = {
                (row[1], row[2], row[3]): Edge(row[0], row[4], row[5])
                for row in db.execute(
                    "SELECT id, item_id, from_unit, to_unit, state, delivered_at FROM edge"
                )
            }
            audit: Counter[tuple[int, str]] = Counter()
            for edge_id, state, count in db.execute(
                "SELECT edge_id, to_state, COUNT(*) FROM audit GROUP BY edge_id, to_state"
            ):
                audit[(edge_id, state)] = count
            return cls(titles, edges, audit)
        finally:
            db.close()


# -- the traffic at the desks -------------------------------------------------------------------


@dataclass
class Item:
    id: str
    origin: str
    recipients: tuple[str, ...]
    title: str
    urgency: str
    text: str  # the item file, for a revision
    revised: bool = False  # returned, edited and signed off again (once at most)
    revision_to: dict[str, str] = field(default_factory=dict)  # recipient → title of rev. 2

    def title_at(self, recipient: str) -> str:
        return self.revision_to.get(recipient, self.title)

    def arrivals_at(self, recipient: str) -> int:
        """How often the item arrives (已接收) at ``recipient``: once per revision sent."""
        return 2 if recipient in self.revision_to else 1


class Traffic:
    """Desk work in a few threads: items written and signed off at the lower desks, decisions
    at the upper ones. A desk kill asked for by the injector is done to a next command."""

    def __init__(
        self, homes: dict[str, Path], folder: Path, seed: int, tally: Tally, workers: int = 2
    ) -> None:
        self.homes = homes
        self.folder = folder
        self.tally = tally
        self.lock = threading.Lock()
        self.items: dict[str, Item] = {}  # signed off
        self.unsigned: list[str] = []
        self.decisions: dict[tuple[str, str], str] = {}  # (item, decider) → edge state
        self.busy: set[str] = set()  # items being decided on or revised
        self.failures: list[str] = []
        self.kills_wanted = 0
        self.unharmed = 0  # commands since the last kill
        self.kills_written = 0  # killed commands whose change was committed all the same
        self.command_seconds = 0.5  # a desk command's usual duration, measured as it runs
        self.written = 0
        self.max_items = 5000
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.threads = [
            threading.Thread(
                target=self._run,
                args=(random.Random(seed * 100 + n),),
                name=f"desk-{n}",
                daemon=True,
            )
            for n in range(workers)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self, seconds: float = DESK_SECONDS + 30) -> None:
        self.stopping.set()
        deadline = time.monotonic() + seconds
        for thread in self.threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self.threads):
            raise CampaignError("desk traffic did not stop")

    def want_kill(self) -> bool:
        with self.lock:
            if self.kills_wanted >= 1:
                return False
            self.kills_wanted += 1
            return True

    def _take_kill(self) -> bool:
        """Whether to kill this command: one is wanted, and two commands ran unharmed since
        the last kill (so the desks still get their work done)."""
        with self.lock:
            self.unharmed += 1
            if self.kills_wanted and self.unharmed > 2 and not self.stopping.is_set():
                self.kills_wanted -= 1
                self.unharmed = 0
                return True
            return False

    def _fail(self, text: str) -> None:
        with self.lock:
            if len(self.failures) < 20:
                self.failures.append(text)

    def _run(self, rng: random.Random) -> None:
        try:
            while not self.stopping.is_set():
                action = rng.random()  # a decision, a revision, else a new item
                done = action < 0.3 and self._decide(rng)
                done = done or (action < 0.4 and self._revise(rng))
                if not done and not self._write(rng):
                    return
                self.stopping.wait(rng.uniform(0.0, 0.3))
        except BaseException as exc:  # reported by the campaign
            self.error = exc

    def _command(self, rng: random.Random, home: Path, *args: str) -> bool:
        """Run a desk command, maybe killed mid-run; whether it was killed."""
        if self._take_kill():
            after = self.command_seconds * rng.uniform(0.8, 1.25)
            if desk_killed(home, after, *args):
                self.tally.add("desk")
                return True
            with self.lock:  # it finished first: a next command is killed instead
                self.kills_wanted += 1
            return False
        began = time.monotonic()
        done = desk(home, *args)
        if done is not None and done.code == 0:
            self.command_seconds = 0.8 * self.command_seconds + 0.2 * (time.monotonic() - began)
        else:
            self._fail(f"{home.name}: xinbao {' '.join(args)}: {done and done.err.strip()}")
        return False

    def _write(self, rng: random.Random) -> bool:
        """Write an item at a lower desk and sign it off; False when enough were written."""
        with self.lock:
            if self.written >= self.max_items:
                return False
            self.written += 1
            n = self.written
        origin = rng.choices(list(WRITERS), weights=list(WRITERS.values()))[0]
        emergency = rng.random() < 0.2
        to = rng.choice((EMERGENCY_TO if emergency else ROUTINE_TO)[origin])
        title = f"{origin}第{n}号{'透水事故' if emergency else '供暖巡查'}"
        template = EMERGENCY if emergency else ROUTINE
        urgency = "特急" if emergency else rng.choice(["平急", "平急", "加急"])
        text = template.format(title=title, urgency=urgency, n=n, to=json.dumps(list(to)))
        path = self.folder / f"item{n}.toml"
        path.write_text(text, "utf-8")
        home = self.homes[origin]
        made = desk(home, "--json", "submit", str(path))
        if made is None or made.code != 0:
            self._fail(f"submit at {origin}: {made and made.err.strip()}")
            return True
        item_id = str(made.json()["id"])
        for _ in range(5):  # bounded: a killed sign-off is done again
            killed = self._command(rng, home, "signoff", item_id)
            if _signed(home, item_id):
                with self.lock:
                    self.kills_written += killed
                break
            if self.stopping.wait(0.2):
                break
        if not _signed(home, item_id):
            with self.lock:
                self.unsigned.append(item_id)
            return True
        recipients = to or (PARENT[origin],)
        with self.lock:
            self.items[item_id] = Item(item_id, origin, tuple(recipients), title, urgency, text)
        return True

    def _take(self, item_id: str) -> bool:
        """Hold an item for one decision or revision at a time (the checks must know which
        decision stands)."""
        with self.lock:
            if item_id in self.busy:
                return False
            self.busy.add(item_id)
            return True

    def _decide(self, rng: random.Random) -> bool:
        """Adopt or return one item that arrived at an upper desk; whether there was one."""
        with self.lock:
            pairs = [
                (item, to)
                for item in self.items.values()
                for to in item.recipients
                if (item.id, to) not in self.decisions and item.id not in self.busy
            ]
        rng.shuffle(pairs)
        for item, decider in pairs[:8]:
            home = self.homes[decider]
            if _edge_state(home, item.id, item.origin, decider) != RECEIVED:
                continue
            if not self._take(item.id):
                continue
            try:
                self._decide_on(rng, item, decider)
            finally:
                with self.lock:
                    self.busy.discard(item.id)
            return True
        return False

    def _decide_on(self, rng: random.Random, item: Item, decider: str) -> None:
        home = self.homes[decider]
        # a revised item is adopted: one return per edge, so every audit entry is expected once
        if decider in item.revision_to or rng.random() < 0.7:
            args: tuple[str, ...] = ("adopt", item.id)
        else:
            args = ("return", item.id, "--reason", "请补充具体数据")
        state: str | None = RECEIVED
        for _ in range(5):  # bounded: a killed decision is made again
            killed = self._command(rng, home, *args)
            state = _edge_state(home, item.id, item.origin, decider)
            if state not in (RECEIVED, None):
                with self.lock:
                    self.kills_written += killed
                break
            if self.stopping.wait(0.1):
                break
        if state not in (RECEIVED, None):
            with self.lock:
                self.decisions[(item.id, decider)] = str(state)

    def _revise(self, rng: random.Random) -> bool:
        """Edit an item whose return reached its origin and sign it off again (revision 2, to
        every recipient that returned it); whether there was one."""
        with self.lock:
            returned = [
                self.items[item_id]
                for (item_id, _), state in self.decisions.items()
                if state == RETURNED and not self.items[item_id].revised
            ]
        rng.shuffle(returned)
        for item in returned[:4]:
            home = self.homes[item.origin]
            if RETURNED not in _edge_states(home, item.id, item.origin).values():
                continue  # the return has not reached the origin yet
            if not self._take(item.id):
                continue
            try:
                self._revise_one(rng, item)
            finally:
                with self.lock:
                    self.busy.discard(item.id)
            return True
        return False

    def _revise_one(self, rng: random.Random, item: Item) -> None:
        home = self.homes[item.origin]
        title = f"{item.title}（修改稿）"
        path = self.folder / f"{item.id}-2.toml"
        text = item.text.replace(f'title = "{item.title}"', f'title = "{title}"', 1)
        path.write_text(re.sub(r"(?m)^to = .*$", "to = []", text), "utf-8")
        item.revised = True  # whatever happens next: never twice
        edited = desk(home, "edit", item.id, str(path))
        if edited is None or edited.code != 0:
            self._fail(f"edit {item.id}: {edited and edited.err.strip()}")
            return
        for _ in range(5):  # bounded: a killed sign-off is done again (even when stopping)
            killed = self._command(rng, home, "signoff", item.id)
            if AWAITING not in _edge_states(home, item.id, item.origin).values():
                with self.lock:
                    self.kills_written += killed
                break
            time.sleep(0.2)
        # which recipients the revision went to: their edge was put to the signer again
        again = _awaiting_count(home, item.id, item.origin)
        states = _edge_states(home, item.id, item.origin)
        with self.lock:
            for to, times in again.items():
                if times < 2:
                    continue
                self.decisions.pop((item.id, to), None)  # superseded by revision 2
                if states.get(to) == AWAITING:  # never signed off: nothing to expect
                    self.unsigned.append(f"{item.id} (revision 2 to {to})")
                else:
                    item.revision_to[to] = title


def _edge_states(home: Path, item: str, sender: str) -> dict[str, str]:
    """The states of the edges ``sender`` → each recipient of ``item`` at ``home``."""
    db = sqlite3.connect(f"file:{home / 'store.db'}?mode=ro", uri=True, timeout=20)
    try:
        rows = db.execute(
            "SELECT to_unit, state FROM edge WHERE item_id = ? AND from_unit = ?", (item, sender)
        )
        return {str(to): str(state) for to, state in rows}
    finally:
        db.close()


def _awaiting_count(home: Path, item: str, sender: str) -> dict[str, int]:
    """How often each edge ``sender`` → recipient of ``item`` was put to the signer."""
    db = sqlite3.connect(f"file:{home / 'store.db'}?mode=ro", uri=True, timeout=20)
    try:
        rows = db.execute(
            "SELECT e.to_unit, COUNT(a.id) FROM edge e LEFT JOIN audit a "
            "ON a.edge_id = e.id AND a.to_state = ? WHERE e.item_id = ? AND e.from_unit = ? "
            "GROUP BY e.to_unit",
            (AWAITING, item, sender),
        )
        return {str(to): int(count) for to, count in rows}
    finally:
        db.close()


def _signed(home: Path, item_id: str) -> bool:
    db = sqlite3.connect(f"file:{home / 'store.db'}?mode=ro", uri=True, timeout=20)
    try:
        row = db.execute("SELECT signed_at FROM item WHERE id = ?", (item_id,)).fetchone()
        return bool(row and row[0])
    finally:
        db.close()


def _edge_state(home: Path, item: str, sender: str, receiver: str) -> str | None:
    db = sqlite3.connect(f"file:{home / 'store.db'}?mode=ro", uri=True, timeout=20)
    try:
        row = db.execute(
            "SELECT state FROM edge WHERE item_id = ? AND from_unit = ? AND to_unit = ?",
            (item, sender, receiver),
        ).fetchone()
        return str(row[0]) if row else None
    finally:
        db.close()


# -- the report ---------------------------------------------------------------------------------


@dataclass
class Counts:
    """The outcome of one check of every node."""

    items: int = 0
    deliveries: int = 0
    exactly_once: int = 0
    lost: int = 0
    doubled: int = 0
    receipts_missing: int = 0
    decisions: int = 0
    revisions: int = 0  # (item, recipient) pairs that got revision 2 after a return
    decisions_lost: int = 0
    altered: int = 0
    misdelivered: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def settled(self) -> bool:
        return self.lost == self.receipts_missing == self.decisions_lost == 0

    def note(self, text: str) -> None:
        if len(self.problems) < 12:
            self.problems.append(text)


@dataclass
class Report:
    """What a campaign did and found."""

    seed: int
    faults: Counter[str]
    counts: Counts
    inject_seconds: float
    settle_seconds: float | None  # None: it did not settle within the bound
    total_seconds: float = 0.0
    unsigned: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    awaiting_receipts: int = 0  # at the end, over every node (-1: status failed)
    queued: int = 0
    drop_left: int = 0  # bundle files still in a drop folder (truncated ones wait there)
    crashes: int = 0
    tracebacks: int = 0
    errors: list[str] = field(default_factory=list)  # the daemons' ERROR log lines
    unclean_stops: int = 0  # daemons that did not exit 0 on the final SIGTERM
    kills_written: int = 0  # desk commands killed after their change was committed
    carried: int = 0  # files the courier carried
    desk_failures: list[str] = field(default_factory=list)

    @property
    def total_faults(self) -> int:
        return sum(self.faults.values())

    @property
    def ok(self) -> bool:
        c = self.counts
        bad = c.lost + c.doubled + c.receipts_missing + c.decisions_lost + c.altered
        return bad + c.misdelivered == 0 and self.settle_seconds is not None

    def table(self) -> str:
        c = self.counts
        settle = "—（未收敛）" if self.settle_seconds is None else f"{self.settle_seconds:.1f} s"
        rows: list[tuple[str, str]] = [("faults", str(self.total_faults))]
        rows += [(f"  {LABELS[k]}", str(self.faults[k])) for k in FAULTS]
        rows += [
            ("items (signed off)", str(c.items)),
            ("  left unsigned when stopped (not counted)", str(self.unsigned)),
            ("deliveries (item × recipient)", str(c.deliveries)),
            ("exactly once", str(c.exactly_once)),
            ("lost", str(c.lost)),
            ("doubled", str(c.doubled)),
            ("receipts missing", str(c.receipts_missing)),
            ("decisions standing (adopt/return)", str(c.decisions)),
            ("revisions (returned, edited, sent again)", str(c.revisions)),
            ("decisions lost", str(c.decisions_lost)),
            ("altered", str(c.altered)),
            ("misdelivered", str(c.misdelivered)),
            ("settle time", settle),
            ("injecting", f"{self.inject_seconds:.1f} s"),
            ("whole run", f"{self.total_seconds:.1f} s"),
            ("files carried across the air gap", str(self.carried)),
            ("bundles quarantined", str(sum(self.quarantined.values()))),
            *((f"  {reason}", str(n)) for reason, n in sorted(self.quarantined.items())),
            ("desk kills after their write", f"{self.kills_written}/{self.faults['desk']}"),
            ("bundles awaiting receipts", str(self.awaiting_receipts)),
            ("bundles still queued on links", str(self.queued)),
            ("drop files not yet imported", str(self.drop_left)),
            ("daemons that exited by themselves", str(self.crashes)),
            ("daemon ERROR lines logged", str(len(self.errors))),
            ("daemon tracebacks logged", str(self.tracebacks)),
            ("daemons not exiting 0 on SIGTERM", str(self.unclean_stops)),
        ]
        width = max(len(label) for label, _ in rows) + 2
        lines = [f"fault campaign, seed {self.seed}"]
        lines += [f"{label:<{width}}{value:>10}" for label, value in rows]
        lines.append("OK" if self.ok else "FAILED")
        return "\n".join(lines)


# -- the campaign -------------------------------------------------------------------------------


@dataclass
class Options:
    seed: int
    faults: int = 1000
    max_seconds: float = 600.0  # the injection stops here at the latest
    settle_seconds: float = 120.0
    root: Path | None = None  # where the network lives; a temporary folder otherwise
    keep: bool = False
    progress: Callable[[str], None] | None = None


class Campaign:
    """The network, its daemons and relays, the courier and the traffic; :meth:`run`."""

    def __init__(self, options: Options, root: Path) -> None:
        self.options = options
        self.root = root
        self.rng = random.Random(options.seed)
        self.tally = Tally()
        self.homes: dict[str, Path] = {}
        self.nodes: dict[str, Node] = {}
        self.relays: dict[str, Relay] = {}
        self.courier: Courier | None = None
        self.traffic: Traffic | None = None
        self.began = time.monotonic()

    def say(self, text: str) -> None:
        if self.options.progress:
            self.options.progress(f"[{time.monotonic() - self.began:6.1f} s] {text}")

    # -- building ----------------------------------------------------------------------------

    def build(self) -> None:
        self.homes = enrol_tree(self.root / "nodes", TIERS)
        for node, home in self.homes.items():
            (home / "syncd.toml").write_text(SYNCD_TOML, "utf-8")
            self.nodes[node] = Node(node, home, node in LISTENING)
        for node in LISTENING:
            self.relays[node] = Relay(node, lambda n=node: self.nodes[n].address)
        links: dict[str, list[tuple[str, ...]]] = {node: [] for node in NODES}
        for sender, receiver in HTTP_LINKS:
            links[sender].append(("link", "add", receiver, "--url", self.relays[receiver].url))
        gaps = []
        for sender, receiver in FOLDER_LINKS:
            outgoing = self.root / "carried" / f"{sender}-{receiver}"
            outgoing.mkdir(parents=True)
            links[sender].append(("link", "add", receiver, "--folder", str(outgoing)))
            gaps.append(Gap(sender, receiver, outgoing, self.homes[receiver] / "drop"))

        def add_links(node: str) -> None:  # one home's links one after the other
            for args in links[node]:
                ok(run("xinbao-syncd", *args, home=self.homes[node]))

        parallel(add_links, NODES)
        self.courier = Courier(gaps, random.Random(self.options.seed + 1), self.tally)
        desks = self.root / "desk"
        desks.mkdir()
        self.traffic = Traffic(self.homes, desks, self.options.seed, self.tally)
        for node in self.nodes.values():
            node.start()
        self._wait_all_up()

    def _wait_all_up(self, seconds: float = 60.0) -> None:
        deadline = time.monotonic() + seconds
        while not all(node.ready() for node in self.nodes.values()):
            if time.monotonic() > deadline:
                raise CampaignError("not every daemon runs")
            time.sleep(0.05)

    # -- injecting ---------------------------------------------------------------------------

    def inject(self) -> float:
        """Faults from the seeded schedule until ``faults`` are done or ``max_seconds`` pass;
        how long it took."""
        options, rng = self.options, self.rng
        assert self.courier is not None and self.traffic is not None
        self.courier.start()
        self.traffic.start()
        began = time.monotonic()
        span = 0.75 * options.max_seconds
        gap = span / max(options.faults, 1)
        next_fault = began + gap
        next_note = began + 10.0
        kinds, weights = list(FAULTS), list(FAULTS.values())
        while self.tally.total < options.faults:
            now = time.monotonic()
            if now - began >= options.max_seconds:
                break
            self._check_threads()
            self._restore(now)
            if now >= next_fault:
                for _ in range(10):  # bounded: a fault that cannot be done now is replaced
                    if self._fault(rng.choices(kinds, weights=weights)[0], now):
                        break
                next_fault = now + gap * rng.uniform(0.3, 1.7)
            if now >= next_note:
                next_note = now + 10.0
                self.say(self._progress())
            time.sleep(TICK)
        return time.monotonic() - began

    def _progress(self) -> str:
        assert self.traffic is not None
        faults = self.tally.snapshot()
        down = [f"{n.id}:{n.state}" for n in self.nodes.values() if n.state != "up"]
        flaps = [r.name for r in self.relays.values() if r.is_down]
        return (
            f"faults {sum(faults.values())} ({', '.join(f'{k} {v}' for k, v in faults.items())})"
            f", items {len(self.traffic.items)}, decisions {len(self.traffic.decisions)}"
            f", down {down or '-'}, links down {flaps or '-'}"
            f", carried {dict(self.courier.by_gap) if self.courier else '-'}"
            f", armed {self.courier.armed if self.courier else '-'}"
        )

    def _check_threads(self) -> None:
        for name, part in (("courier", self.courier), ("desk traffic", self.traffic)):
            if part is not None and part.error is not None:
                raise CampaignError(f"{name} failed: {part.error!r}") from part.error

    def _restore(self, now: float) -> None:
        for node in self.nodes.values():
            if node.state in ("stopped", "dead") and now >= node.until:
                node.restore()
            node.ready()
        for relay in self.relays.values():
            if relay.is_down and now >= relay.until:
                relay.up()

    def _fault(self, kind: str, now: float) -> bool:
        """Do (or arm) one fault of ``kind``; False when it cannot be done now."""
        rng = self.rng
        assert self.courier is not None and self.traffic is not None
        up = [node for node in self.nodes.values() if node.state == "up"]
        # at most two daemons and two links out at once: the rest of the chain keeps working
        if kind in ("kill", "stop") and len(up) <= len(self.nodes) - MOST_DOWN:
            return False
        if kind == "kill":
            rng.choice(up).kill(now + rng.uniform(0.2, 2.5))
        elif kind == "stop":
            rng.choice(up).freeze(now + rng.uniform(0.2, 3.0))
        elif kind == "flap":
            links = [relay for relay in self.relays.values() if not relay.is_down]
            if len(links) <= len(self.relays) - MOST_DOWN:
                return False
            rng.choice(links).down(now + rng.uniform(0.3, 4.0))
        elif kind in DROP_FAULTS:  # counted by the courier when it is done
            return self.courier.arm(kind)
        elif kind == "desk":  # counted by the traffic when it is done
            return self.traffic.want_kill()
        else:
            raise ValueError(kind)
        if kind != "desk":
            self.tally.add(kind)
        return True

    # -- settling and checking ---------------------------------------------------------------

    def settle(self) -> float | None:
        """Stop the faults and the traffic, bring everything back, wait until every item is
        where it should be; how long that took (None: not within ``settle_seconds``)."""
        assert self.courier is not None and self.traffic is not None
        self.courier.disarm()
        self.traffic.stopping.set()
        for relay in self.relays.values():
            relay.up()
        for node in self.nodes.values():
            node.restore()
        self._wait_all_up()
        self.traffic.stop()
        self._check_threads()
        began = time.monotonic()
        deadline = began + self.options.settle_seconds
        next_note = began + 10.0
        while True:
            self._check_threads()
            counts = self.check(cli=False)
            if counts.settled and self.courier.idle():
                return time.monotonic() - began
            now = time.monotonic()
            if now >= deadline:
                return None
            if now >= next_note:
                next_note = now + 10.0
                self.say(
                    f"settling: lost {counts.lost}, receipts missing {counts.receipts_missing}"
                    f", decisions lost {counts.decisions_lost}"
                )
            time.sleep(0.5)

    def check(self, cli: bool = True) -> Counts:
        """Every expectation against every store (and, with ``cli``, every desk's inbox)."""
        assert self.traffic is not None
        with self.traffic.lock:
            items = list(self.traffic.items.values())
            decisions = dict(self.traffic.decisions)
        snaps = {node: Snapshot.read(home) for node, home in self.homes.items()}
        inbox: dict[str, Counter[tuple[str, str]]] = {}
        if cli:

            def listed(node: str) -> Counter[tuple[str, str]]:
                args = ("--json", "list", "--inbox", "--limit", "1000000")
                rows = ok(run("xinbao", *args, home=self.homes[node])).json()
                return Counter((row["item_id"], row["from_unit"]) for row in rows)

            inbox = dict(zip(NODES, parallel(listed, NODES), strict=True))
        counts = Counts(items=len(items), decisions=len(decisions))
        counts.revisions = sum(len(item.revision_to) for item in items)
        for item in items:
            sent_from = snaps[item.origin]
            for to in item.recipients:
                counts.deliveries += 1
                held = snaps[to]
                edge = held.edges.get((item.id, item.origin, to))
                listed_times = inbox[to][(item.id, item.origin)] if cli else 1
                if item.id not in held.titles or edge is None or listed_times == 0:
                    counts.lost += 1
                    counts.note(f"lost: {item.id} ({item.urgency}) at {to}")
                    continue
                arrivals, expected = held.audit[(edge.id, RECEIVED)], item.arrivals_at(to)
                if arrivals < expected:  # revision 2 has not arrived
                    counts.lost += 1
                    counts.note(f"lost: revision 2 of {item.id} at {to}")
                    continue
                if arrivals > expected or listed_times > 1:
                    counts.doubled += 1
                    counts.note(
                        f"doubled: {item.id} at {to} ({arrivals} 已接收 for {expected} "
                        f"revisions, listed {listed_times}×)"
                    )
                else:
                    counts.exactly_once += 1
                if held.titles[item.id] != item.title_at(to):
                    counts.altered += 1
                    counts.note(f"altered: {item.id} at {to}: {held.titles[item.id]}")
                for node in (item.origin, to):  # each decision once at either end
                    this = snaps[node].edges.get((item.id, item.origin, to))
                    twice = [d for d in DECIDED if this and snaps[node].audit[(this.id, d)] > 1]
                    if twice:
                        counts.doubled += 1
                        counts.note(f"decision doubled: {twice} on {item.id}→{to} at {node}")
                mine = sent_from.edges.get((item.id, item.origin, to))
                if mine is None or not mine.delivered_at:
                    counts.receipts_missing += 1
                    counts.note(f"receipt missing: {item.id} {item.origin}→{to}")
            for node in NODES:
                if node not in (item.origin, *item.recipients) and item.id in snaps[node].titles:
                    counts.misdelivered += 1
                    counts.note(f"misdelivered: {item.id} held at {node}")
        origins = {item.id: item.origin for item in items}
        for (item_id, decider), state in decisions.items():
            origin = origins[item_id]
            mine = snaps[origin].edges.get((item_id, origin, decider))
            if mine is None or mine.state != state:
                counts.decisions_lost += 1
                counts.note(
                    f"decision lost: {decider} {state} {item_id}, "
                    f"{origin} shows {mine and mine.state}"
                )
        return counts

    def report(self, inject_seconds: float, settle_seconds: float | None) -> Report:
        assert self.traffic is not None
        counts = self.check(cli=True)
        reasons: Counter[str] = Counter()
        for home in self.homes.values():  # the spool keeps each refusal with its reason
            for path in (home / "spool" / "quarantine").glob("*.json"):
                with contextlib.suppress(OSError, ValueError):
                    reasons[str(json.loads(path.read_text("utf-8")).get("reason"))] += 1

        def status(node: str) -> tuple[int, int]:
            """Bundles sealed here still awaiting a receipt; bundles queued on its links."""
            state = run("xinbao-syncd", "--json", "status", home=self.homes[node])
            if state.code != 0:
                return (-1, -1)
            shown = state.json()
            queued = sum(int(link.get("depth") or 0) for link in shown.get("links", []))
            return int(shown.get("awaiting_receipts", 0)), queued

        statuses = parallel(status, NODES)
        left = [path for home in self.homes.values() for path in (home / "drop").glob("*.xbb")]

        logs = [
            (home / "daemon.log").read_text("utf-8", "replace")
            for home in self.homes.values()
            if (home / "daemon.log").exists()
        ]
        errors = [line for log in logs for line in log.splitlines() if " ERROR " in line]
        return Report(
            seed=self.options.seed,
            faults=self.tally.snapshot(),
            counts=counts,
            inject_seconds=inject_seconds,
            settle_seconds=settle_seconds,
            unsigned=len(self.traffic.unsigned),
            quarantined=reasons,
            awaiting_receipts=sum(awaiting for awaiting, _ in statuses),
            queued=sum(queued for _, queued in statuses),
            drop_left=len(left),
            crashes=sum(node.crashes for node in self.nodes.values()),
            tracebacks=sum(log.count("Traceback") for log in logs),
            errors=errors,
            desk_failures=list(self.traffic.failures),
            kills_written=self.traffic.kills_written,
            carried=self.courier.carried if self.courier else 0,
        )

    def close(self) -> list[int | None]:
        """Stop everything this campaign started (also after a failure); each daemon's exit
        code on SIGTERM."""
        if self.traffic is not None:
            self.traffic.stopping.set()
        if self.courier is not None:
            self.courier.stopping.set()
        codes = [node.stop() for node in self.nodes.values()]
        for relay in self.relays.values():
            relay.close()
        if self.traffic is not None:
            with contextlib.suppress(CampaignError):
                self.traffic.stop()
        if self.courier is not None:
            self.courier.stop()
        return codes

    def run(self) -> Report:
        try:
            self.build()
            self.say(f"network up under {self.root}; injecting")
            injected = self.inject()
            self.say(f"{self.tally.total} faults in {injected:.1f} s; settling")
            settled = self.settle()
            report = self.report(injected, settled)
        finally:
            codes = self.close()
        report.unclean_stops = sum(code not in (0, None) for code in codes)
        report.total_seconds = time.monotonic() - self.began
        return report


def run_campaign(options: Options) -> Report:
    """Build the network (under ``options.root`` or a temporary folder, removed afterwards
    unless ``keep`` or the campaign failed), run the campaign, stop every process."""
    if options.root is not None:
        options.root.mkdir(parents=True, exist_ok=True)
        return Campaign(options, options.root).run()
    root = Path(tempfile.mkdtemp(prefix="xinbao-faults-"))
    report: Report | None = None
    try:
        report = Campaign(options, root).run()
        return report
    finally:
        if report is not None and report.ok and not options.keep:
            _remove(root)
        elif options.progress:
            options.progress(f"the network is kept under {root}")


def _remove(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.faults.campaign",
        description="A fault campaign on a five-tier xinbao chain (HTTP and folder hops).",
    )
    parser.add_argument("--seed", type=int, default=None, help="the schedule's seed (random)")
    parser.add_argument("--faults", type=int, default=1000, help="faults to inject (1000)")
    parser.add_argument(
        "--max-seconds", type=float, default=600.0, help="injection time bound (600)"
    )
    parser.add_argument(
        "--settle-seconds", type=float, default=120.0, help="settling time bound (120)"
    )
    parser.add_argument("--root", type=Path, default=None, help="build the network here")
    parser.add_argument("--keep", action="store_true", help="keep the network afterwards")
    parser.add_argument("--quiet", action="store_true", help="only the table")
    args = parser.parse_args(argv)
    if args.faults < 1 or args.max_seconds <= 0 or args.settle_seconds <= 0:
        parser.error("--faults, --max-seconds and --settle-seconds must be positive")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    print(f"seed {seed} (again: --seed {seed})", flush=True)

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    options = Options(
        seed=seed,
        faults=args.faults,
        max_seconds=args.max_seconds,
        settle_seconds=args.settle_seconds,
        root=args.root,
        keep=args.keep,
        progress=None if args.quiet else progress,
    )
    try:
        report = run_campaign(options)
    except CampaignError as exc:
        print(f"campaign stopped: {exc}", file=sys.stderr)
        return 1
    print(report.table())
    for problem in report.counts.problems:
        print(f"  {problem}")
    for failure in report.desk_failures[:5]:
        print(f"  desk: {failure}")
    for line in report.errors[:5]:  # reported, not failed on: see the daemons' logs
        print(f"  daemon: {line[:300]}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
