"""The national simulation (issue 19): one all-counties request down the whole tree and every
county's reply back up, through the real engine and bundle code, in one process.

    .venv/bin/python tests/bench/sim_national.py [--shape 31,333,2844] [--keep DIR]

The tree is central 100000 → provinces → cities → counties (31 → 333 → 2,844 by default,
spread evenly). Every node is a real node home — store, keys, certificate, spool — set up
as enrolment and the certificate records travelling up would leave it (the certificates of
a subtree held by every node above it), each opened as a :class:`syncd.engine.Engine` when
it has work. Links are in memory: a bundle a node hands to a neighbour (``outgoing.due`` /
``outgoing.handed``, as the daemon's HTTP and folder links do) is appended to that
neighbour's inbox and received there with ``Engine.accept``. The clock is fake: one second
per round, every node with work taking its turn each round.

The central office signs off one request to ``all:county:100000``; each county, when the
request arrives, answers it (``schema.request.answer``: a status record to the issuer);
end-to-end receipts go back to the senders. Printed: bytes per link tier each way, the
copies' key counts, bundles sealed per tier, the time sealing at the root, and whether
every county got the request exactly once and every reply reached the centre.

``tests/syncd/test_national_sim.py`` runs the same code at a small shape and asserts the
behaviour: each copy carries only the keys below its link, bytes per link do not grow with
the number of recipients, and delivery is exactly once.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
CENTRAL = "100000"
ROUNDS = 64  # bounded: the tree is four tiers deep, a request and its replies need ~12
NATIONAL = (31, 333, 2844)


@dataclass(frozen=True)
class Tree:
    """Node → parent, in order (parents first), and each node's tier name."""

    parent: dict[str, str]
    tier: dict[str, str]

    @classmethod
    def shaped(cls, provinces: int, cities: int, counties: int) -> Tree:
        """Central → ``provinces`` → ``cities`` → ``counties`` (totals, spread evenly)."""
        parent: dict[str, str] = {CENTRAL: ""}
        tier = {CENTRAL: "central"}
        prov = [f"{11 + p:02d}0000" for p in range(provinces)]
        for p in prov:
            parent[p], tier[p] = CENTRAL, "province"
        city = [
            f"{p[:2]}{c + 1:02d}00"
            for i, p in enumerate(prov)
            for c in range(cities // provinces + (i < cities % provinces))
        ]
        for c in city:
            parent[c], tier[c] = f"{c[:2]}0000", "city"
        for i, c in enumerate(city):
            for k in range(counties // len(city) + (i < counties % len(city))):
                county = f"{c[:4]}{k + 1:02d}"
                parent[county], tier[county] = c, "county"
        return cls(parent, tier)

    def of(self, tier: str) -> list[str]:
        return [n for n, t in self.tier.items() if t == tier]

    def below(self, node: str) -> set[str]:
        """Every node under ``node`` (not itself)."""
        out: set[str] = set()
        for n in self.parent:
            up = self.parent[n]
            while up:
                if up == node:
                    out.add(n)
                    break
                up = self.parent[up]
        return out

    def neighbours(self, node: str) -> list[str]:
        kids = [n for n, up in self.parent.items() if up == node]
        return ([self.parent[node]] if self.parent[node] else []) + kids


@dataclass(frozen=True)
class Handed:
    """One bundle copy handed over one link."""

    src: str
    dst: str
    bundle: str
    sender: str
    size: int
    front: int  # bytes before the chunks: magic, header, keys and proof
    recipients: tuple[str, ...]  # whose keys the copy carries
    at: int  # round


@dataclass
class Result:
    tree: Tree
    request: str = ""
    request_bundle: str = ""
    setup_s: float = 0.0
    root_seal_s: float = 0.0
    root_full_bytes: int = 0
    handed: list[Handed] = field(default_factory=list)
    sealed: Counter[str] = field(default_factory=Counter)  # tier → bundles sealed
    applied: Counter[tuple[str, str]] = field(default_factory=Counter)  # (node, bundle) → times
    duplicates: Counter[tuple[str, str]] = field(default_factory=Counter)
    quarantined: list[tuple[str, str]] = field(default_factory=list)
    requests_held: dict[str, int] = field(default_factory=dict)  # county → request rows
    answered: int = 0  # counties whose reply the centre holds
    waiting_receipts: int = -1  # bundles the centre still awaits a receipt for
    rounds: int = 0

    def request_copies(self) -> list[Handed]:
        return [h for h in self.handed if h.bundle == self.request_bundle]


def build(base: Path, tree: Tree, progress: Callable[[str], None] | None = None) -> None:
    """A node home for every node of ``tree`` under ``base``, enrolled under the centre, each
    holding the certificates of its whole subtree; the centre's unit table lists them all."""
    from schema.network import add_units
    from schema.node import NodeConfig, NodeHome
    from schema.record import Unit
    from schema.store import Store
    from schema.vocabulary import Tier
    from syncd import enrolment
    from syncd.certificate import chain_to_pem
    from syncd.enrolment import KNOWN_DIR
    from syncd.home import init_node
    from syncd.keys import KEY_DIR

    template = base / "template.db"
    Store.open(template).close()  # migrated once, copied for every node
    tiers = {"central": Tier.CENTRAL, "province": Tier.PROVINCE, "city": Tier.CITY}
    tiers["county"] = Tier.COUNTY
    leaf: dict[str, bytes] = {}
    for n, node in enumerate(tree.parent):
        home = NodeHome(base / node)
        home.path.mkdir(parents=True)
        shutil.copy(template, home.store_path)
        config = NodeConfig(node, f"单位{node}", tiers[tree.tier[node]], tree.parent[node])
        init_node(home, config, "sim", NOW)
        if tree.parent[node]:
            up = NodeHome(base / tree.parent[node])
            _, pem = enrolment.issue_for(up, enrolment.request(home), NOW)
            enrolment.install(home, pem, NOW)
            chain = enrolment.load_chain(home)
            assert chain is not None
            leaf[node] = chain_to_pem(chain[:1])
            above = tree.parent[tree.parent[node]]
            while above:  # what the certificate records travelling up leave at each ancestor
                known = base / above / KEY_DIR / KNOWN_DIR
                known.mkdir(exist_ok=True)
                (known / f"{node}.pem").write_bytes(leaf[node])
                above = tree.parent[above]
        if progress and n % 500 == 499:
            progress(f"  {n + 1} nodes set up")
    store = Store.open(base / CENTRAL / "store.db")
    try:
        add_units(
            store,
            [
                Unit(id=n, name=f"单位{n}", tier=tiers[tree.tier[n]], parent=tree.parent[n])
                for n in tree.parent
            ],
        )
    finally:
        store.close()


def run(base: Path, tree: Tree, progress: Callable[[str], None] | None = None) -> Result:
    """Build the tree under ``base``, send the request down and the replies up."""
    from schema import request as requests
    from schema.node import NodeHome
    from syncd.bundle import read_front
    from syncd.engine import Engine

    result = Result(tree)
    started = time.perf_counter()
    build(base, tree, progress)
    inbox: dict[str, list[bytes]] = defaultdict(list)
    # what enrolment queued (each certificate record on its way up) travels first, and is
    # not counted
    for node in tree.parent:
        engine = Engine(NodeHome(base / node))
        try:
            engine.pack(NOW)
            _dispatch(engine, node, tree, inbox, result, 0)
        finally:
            engine.close()
    _flow(base, tree, inbox, result, NOW, progress)
    result.handed.clear()
    result.sealed.clear()
    result.setup_s = time.perf_counter() - started
    start_at = NOW + timedelta(minutes=10)

    # the centre issues the request
    central = Engine(NodeHome(base / CENTRAL))
    try:
        draft = requests.parse_request(
            {
                "topic": "基层冬季安全生产情况",
                "guidance": "请各县报送本地冬季安全生产工作做法和存在问题。",
                "targets": [f"all:county:{CENTRAL}"],
                "deadline": (NOW + timedelta(days=7)).isoformat(),
            }
        )
        rules = requests.RequestRules.load()
        made = requests.compose(central.store, CENTRAL, "sim", draft, start_at, rules)
        requests.signoff(central.store, CENTRAL, "sim", made.id, start_at, priority=0)
        result.request = made.id
        before = set(central.outgoing.folder.glob("*.xbb"))
        start = time.perf_counter()
        result.sealed["central"] += central.pack(start_at)
        result.root_seal_s = time.perf_counter() - start
        made_now = [p for p in central.outgoing.folder.glob("*.xbb") if p not in before]
        full = max(made_now, key=lambda p: p.stat().st_size)  # every county's key
        with open(full, "rb") as fh:
            result.request_bundle = read_front(fh).header.id
        result.root_full_bytes = full.stat().st_size
        _dispatch(central, CENTRAL, tree, inbox, result, 0, start_at)
    finally:
        central.close()
    result.rounds = _flow(base, tree, inbox, result, start_at, progress)
    _tally(base, tree, result)
    return result


def _flow(
    base: Path,
    tree: Tree,
    inbox: dict[str, list[bytes]],
    result: Result,
    start: datetime,
    progress: Callable[[str], None] | None,
) -> int:
    """Rounds until no node has anything to receive: each node with work receives, answers
    the request if it is a county that holds it, seals and hands on. How many rounds."""
    from schema.node import NodeHome
    from syncd.engine import Engine

    counties = set(tree.of("county"))
    for round_no in range(1, ROUNDS + 1):
        busy = [n for n in tree.parent if inbox.get(n)]
        if not busy:
            return round_no - 1
        now = start + timedelta(seconds=round_no)
        for node in busy:
            engine = Engine(NodeHome(base / node))
            try:
                _receive(engine, node, inbox.pop(node), base, now, result)
                if node in counties and result.request:
                    _answer(engine, node, result.request, now)
                result.sealed[tree.tier[node]] += engine.pack(now)
                _dispatch(engine, node, tree, inbox, result, round_no, start)
            finally:
                engine.close()
        if progress:
            progress(f"  round {round_no}: {len(busy)} nodes had work")
    raise RuntimeError(f"still busy after {ROUNDS} rounds")


def _receive(
    engine: object, node: str, files: list[bytes], base: Path, now: datetime, result: Result
) -> None:
    from syncd.bundle import read_header
    from syncd.engine import Engine

    assert isinstance(engine, Engine)
    folder = base / node / "sim-in"
    folder.mkdir(exist_ok=True)
    paths, ids = [], {}
    for i, data in enumerate(files):
        path = folder / f"{i:06d}.xbb"
        path.write_bytes(data)
        paths.append(path)
        with open(path, "rb") as fh:
            ids[path.name] = read_header(fh).id
    report = engine.accept(paths, now)
    for name in report.applied:
        result.applied[(node, ids[name])] += 1
    for name in report.duplicate:
        result.duplicates[(node, ids[name])] += 1
    result.quarantined += [(node, reason) for _, reason in report.quarantined]
    shutil.rmtree(folder)


def _answer(engine: object, node: str, request_id: str, now: datetime) -> None:
    """A county answers the request the first time it holds it."""
    from schema import request as requests

    store = engine.store  # type: ignore[attr-defined]
    row = store.one(
        "SELECT answered_at FROM request_target WHERE request_id = ? AND unit = ?",
        (request_id, node),
    )
    if row is not None and not row["answered_at"]:
        requests.answer(store, node, request_id, "已部署排查，暂无重大问题。", now)


def _dispatch(
    engine: object,
    node: str,
    tree: Tree,
    inbox: dict[str, list[bytes]],
    result: Result,
    round_no: int,
    start: datetime = NOW,
) -> None:
    """Hand every waiting bundle to its neighbour's inbox (an in-memory link)."""
    from syncd.bundle import read_front
    from syncd.engine import Engine

    assert isinstance(engine, Engine)
    moment = (start + timedelta(seconds=round_no)).timestamp()
    for peer in tree.neighbours(node):
        for _ in range(1000):  # bounded: each pass takes up to 10,000 hops
            hops = engine.outgoing.due(peer, moment, 3, limit=10_000)
            if not hops:
                break
            for hop in hops:
                data = hop.path.read_bytes()
                with open(hop.path, "rb") as fh:
                    front = read_front(fh)
                inbox[peer].append(data)
                result.handed.append(
                    Handed(
                        node,
                        peer,
                        front.header.id,
                        front.header.sender,
                        len(data),
                        front.size,
                        front.header.recipients,
                        round_no,
                    )
                )
                engine.outgoing.handed(hop, moment)


def _tally(base: Path, tree: Tree, result: Result) -> None:
    from schema.store import Store

    for county in tree.of("county"):
        store = Store.open(base / county / "store.db")
        try:
            row = store.one("SELECT COUNT(*) AS n FROM request WHERE id = ?", (result.request,))
            result.requests_held[county] = int(row["n"]) if row else 0
        finally:
            store.close()
    store = Store.open(base / CENTRAL / "store.db")
    try:
        row = store.one(
            "SELECT COUNT(*) AS n FROM request_target WHERE request_id = ? "
            "AND answered_at IS NOT NULL",
            (result.request,),
        )
        result.answered = int(row["n"]) if row else 0
    finally:
        store.close()
    from syncd.spool import Spool

    spool = Spool(base / CENTRAL)
    try:
        result.waiting_receipts = int(spool.db.execute("SELECT COUNT(*) FROM sealed").fetchone()[0])
    finally:
        spool.close()


def report(result: Result) -> None:
    """Print the figures."""
    tree = result.tree
    counties = tree.of("county")
    links = len(tree.parent) - 1
    print(
        f"tree: 1 centre, {len(tree.of('province'))} provinces, {len(tree.of('city'))} cities, "
        f"{len(counties)} counties ({links} links); set up in {result.setup_s:.1f} s"
    )
    print(
        f"root: sealed the request for {len(counties)} counties in "
        f"{result.root_seal_s * 1000:.0f} ms; its full bundle {result.root_full_bytes:,} bytes"
    )
    copies = result.request_copies()
    by_tier: dict[str, list[Handed]] = defaultdict(list)
    for h in copies:
        by_tier[f"{tree.tier[h.src]}→{tree.tier[h.dst]}"].append(h)
    print("request down, per link tier: links, bytes (total, min–max per link), keys per copy")
    for name, hs in by_tier.items():
        sizes = [h.size for h in hs]
        keys = [len(h.recipients) for h in hs]
        print(
            f"  {name:<16} {len(hs):>5}  {sum(sizes):>12,}  {min(sizes):>8,}–{max(sizes):<9,}"
            f"  {min(keys)}–{max(keys)}"
        )
    total = sum(h.size for h in copies)
    whole = result.root_full_bytes * links
    print(
        f"  all links: {total:,} bytes; the whole bundle on every link (format 2) would be "
        f"{whole:,} ({whole / max(total, 1):.0f}×)"
    )
    up = [h for h in result.handed if h.bundle != result.request_bundle]
    up_bytes: Counter[str] = Counter()
    up_count: Counter[str] = Counter()
    for h in up:
        up_bytes[f"{tree.tier[h.src]}→{tree.tier[h.dst]}"] += h.size
        up_count[f"{tree.tier[h.src]}→{tree.tier[h.dst]}"] += 1
    print("replies and receipts, per link tier: bundles, bytes")
    for name in sorted(up_bytes):
        print(f"  {name:<16} {up_count[name]:>6}  {up_bytes[name]:>12,}")
    print("bundles sealed: " + ", ".join(f"{t} {n}" for t, n in result.sealed.items()))
    once = sum(
        1
        for c in counties
        if result.applied[(c, result.request_bundle)] == 1 and result.requests_held.get(c) == 1
    )
    dup = sum(result.duplicates.values())
    print(
        f"exactly once: {once}/{len(counties)} counties applied the request once "
        f"({dup} duplicates acknowledged, {len(result.quarantined)} quarantined); "
        f"{result.answered}/{len(counties)} replies at the centre; "
        f"{result.waiting_receipts} bundles awaiting receipts; {result.rounds} rounds"
    )
    ok = once == len(counties) and result.answered == len(counties) and not result.quarantined
    print("PASS" if ok else "MISS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", default=",".join(map(str, NATIONAL)))
    parser.add_argument("--keep", type=Path, help="build the homes here and keep them")
    args = parser.parse_args()
    shape = tuple(int(x) for x in args.shape.split(","))
    tree = Tree.shaped(*shape)
    base = args.keep or Path(tempfile.mkdtemp(prefix="xinbao-sim-"))
    try:
        result = run(base, tree, lambda line: print(line, file=sys.stderr, flush=True))
        report(result)
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
