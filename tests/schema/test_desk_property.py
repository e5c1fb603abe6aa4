"""Random desk work across a small network keeps every edge, copy and audit log consistent.

The network: two counties (140212, 140213) under the city 140200, under the province 140000
(the province is a sink for what the city forwards or merges, and can triage too). Each node is
an in-memory store with one desk holding every role; one clock, one minute per reading, is
shared by all. A hypothesis state machine submits, edits and signs items off at the counties,
triages them (adopt, return, reserve, reject, forward, merge) wherever they were received, and
carries queued records between the stores the way the daemon does: in any order across records,
in version order within a record (what the daemon guarantees), sometimes twice.

After every step, at every node:
 1. every edge's state is an EdgeState;
 2. every edge's audit log is a complete chain None → … → its state, one entry per version;
 3. every local transition is in TRANSITIONS;
 4. revisions have no gaps at the item's origin, and every copy elsewhere is a signed-off
    revision of the origin's; derived items keep their sources, and their sources were
    forwarded or merged at the deriving node;
 5. re-applying any delivered record changes nothing (DUPLICATE, or STALE for an old version);
 6. once nothing is queued anywhere, the sender's and receiver's copies of each edge agree
    (the legitimate differences are spelled out in ``check_copies``).
An operation that is illegal in the current state must raise, and change nothing at any node.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from schema import desk as ops
from schema import outbox
from schema.desk import ADOPTED_STATES, EDITABLE, Desk
from schema.error import NotFound, PermissionDenied, TransitionError, ValidationError
from schema.inbound import Outcome, apply
from schema.item import get as get_item
from schema.itemfile import parse_item
from schema.record import ItemDraft, QueuedRecord, Record, Unit
from schema.state import TRANSITIONS
from schema.store import Store
from schema.vocabulary import Category, Classification, EdgeState, Role, Severity, Tier, Urgency
from tests.conftest import T0, Ticking

S = EdgeState

COUNTY_A = Unit("140212", "新荣区人民政府办公室", Tier.COUNTY, "140200", short="新荣区")
COUNTY_B = Unit("140213", "平城区人民政府办公室", Tier.COUNTY, "140200", short="平城区")
CITY = Unit("140200", "大同市人民政府办公室", Tier.CITY, "140000", short="大同市")
PROVINCE = Unit("140000", "山西省人民政府办公厅", Tier.PROVINCE, "", short="山西省")
UNITS = {u.id: u for u in (COUNTY_A, COUNTY_B, CITY, PROVINCE)}
COUNTIES = (COUNTY_A.id, COUNTY_B.id)
GHOST = "140212-2026-99999"  # an item id no node holds

DECISIONS: dict[str, tuple[Callable[..., Any], S]] = {  # op: (desk function, its target)
    "adopt": (ops.adopt, S.ADOPTED),
    "return": (ops.return_item, S.RETURNED),
    "reserve": (ops.reserve, S.RESERVED),
    "reject": (ops.reject, S.REJECTED),
}
# Where an edge stands once its receiver has forwarded or merged the item (desk operations stop
# there; instructions and closing may follow).
AFTER_FORWARD = frozenset({S.FORWARDED, S.INSTRUCTED, S.FEEDBACK, S.CLOSED})
AFTER_MERGE = frozenset({S.MERGED, S.CLOSED})


Snapshot = dict[str, dict[str, list[tuple[Any, ...]]]]


def table_rows(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (item, revision, edge, audit, outbox, applied, source, …)."""
    tables = [t for t in store.db.table_names() if not t.startswith("item_fts")]
    rows = {t: store.db.execute(f"SELECT * FROM [{t}] ORDER BY rowid").fetchall() for t in tables}
    rows["item_fts"] = store.db.execute(
        "SELECT rowid, title, body FROM item_fts ORDER BY rowid"
    ).fetchall()
    return rows


class Network:
    """Four nodes, their stores and desks, and a carrier that does the daemon's work."""

    def __init__(self) -> None:
        self.clock = Ticking()
        self.stores = {u: Store.memory() for u in UNITS}
        self.desks = {
            u: Desk(self.stores[u], unit, f"desk-{u}", frozenset(Role), self.clock)
            for u, unit in UNITS.items()
        }

    def close(self) -> None:
        for store in self.stores.values():
            store.close()

    def snapshot(self) -> Snapshot:
        return {u: table_rows(s) for u, s in self.stores.items()}

    def pending(self) -> list[tuple[str, QueuedRecord]]:
        """Every queued record of every node, with its sender."""
        return [(u, q) for u, s in self.stores.items() for q in outbox.pending(s)]

    def deliver(self, record: Record, recipient: str) -> Outcome:
        return apply(self.stores[recipient], record, recipient, self.clock).outcome

    def carry_all(self) -> None:
        """Deliver everything queued, in each sender's queue order, and mark it shipped."""
        for _ in range(6):  # feedback passed down the chain queues more as it is delivered
            for store in self.stores.values():
                queued = outbox.pending(store)
                for q in queued:
                    for recipient in q.recipients:
                        if recipient in self.stores:  # not 国办 above the province
                            assert self.deliver(q.record, recipient) is Outcome.APPLIED
                outbox.mark_shipped(store, [q.seq for q in queued], self.clock())
            if not self.pending():
                break

    def edge(self, node: str, item_id: str, from_unit: str, to_unit: str) -> dict[str, Any] | None:
        return self.stores[node].one(
            "SELECT * FROM edge WHERE item_id = ? AND from_unit = ? AND to_unit = ?",
            (item_id, from_unit, to_unit),
        )

    def incoming(self, node: str, item_id: str) -> dict[str, Any] | None:
        return self.stores[node].one(
            "SELECT * FROM edge WHERE item_id = ? AND to_unit = ?", (item_id, node)
        )

    def outgoing(self, node: str, item_id: str) -> list[dict[str, Any]]:
        return self.stores[node].query(
            "SELECT * FROM edge WHERE item_id = ? AND from_unit = ? ORDER BY id", (item_id, node)
        )

    def item_row(self, node: str, item_id: str) -> dict[str, Any] | None:
        return self.stores[node].one("SELECT * FROM item WHERE id = ?", (item_id,))

    def item_ids(self) -> list[str]:
        ids = {r["id"] for s in self.stores.values() for r in s.query("SELECT id FROM item")}
        return sorted(ids)

    def queue_rows(self, node: str) -> list[dict[str, Any]]:
        return self.stores[node].query("SELECT * FROM outbox ORDER BY seq")


# --- drafts -----------------------------------------------------------------------------------

WORDS = "新荣区平城区大同市煤矿供暖困难群众温暖过冬多措并举保障落实信息报送工作动态"
TEXT = st.text(alphabet=WORDS, min_size=1, max_size=12)


@st.composite
def drafts(draw: st.DrawFn) -> ItemDraft:
    """A valid draft: any category (突发事件 with incident fields), urgency, classification."""
    category = draw(st.sampled_from(list(Category)))
    data: dict[str, Any] = {
        "title": draw(TEXT),
        "category": category.value,
        "body": draw(TEXT),
        "author": draw(st.sampled_from(["张三", "李四", "王五"])),
        "urgency": draw(st.sampled_from(list(Urgency))).value,
        "classification": draw(st.sampled_from(list(Classification))).value,
    }
    if draw(st.booleans()):
        data["phone"] = "0352-1234567"
    if category is Category.INCIDENT:
        occurred = T0 - timedelta(minutes=draw(st.integers(0, 600)))
        incident: dict[str, Any] = {
            "severity": draw(st.sampled_from(list(Severity))).value,
            "occurred_at": occurred.isoformat(),
            "place": draw(TEXT),
            # 续报 and 终报 must name a 首报 held at the desk: tests/schema/test_emergency.py
            "report": "首报",
        }
        if draw(st.booleans()):
            incident["learned_at"] = (occurred + timedelta(minutes=20)).isoformat()
            incident["casualties"] = "2人受伤"
        data["incident"] = incident
    return parse_item(data)


# --- the state machine ------------------------------------------------------------------------


class DeskNetwork(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.net = Network()
        self.delivered: list[tuple[str, Record]] = []  # (recipient, record), for re-delivery

    def teardown(self) -> None:
        self.net.close()

    # helpers

    def choose(
        self, data: st.DataObject, candidates: list[tuple[str, str]], label: str = "item"
    ) -> tuple[str, str]:
        """Mostly a (node, item) the operation could apply to; else any node and any item."""
        if candidates and data.draw(st.integers(0, 9), label=f"{label}-bias") < 8:
            return data.draw(st.sampled_from(sorted(set(candidates))), label=label)
        node = data.draw(st.sampled_from(list(UNITS)), label="node")
        return node, data.draw(st.sampled_from([*self.net.item_ids(), GHOST]), label=label)

    def edges_where(self, condition: str, states: tuple[S, ...]) -> list[tuple[str, str]]:
        """(node, item) for each node's edges whose ``condition`` column is the node itself
        ("from_unit": it sends; "to_unit": it receives) and whose state is in ``states``."""
        marks = ", ".join("?" for _ in states)
        return [
            (node, r["item_id"])
            for node, store in self.net.stores.items()
            for r in store.query(
                f"SELECT item_id FROM edge WHERE {condition} = ? AND state IN ({marks})",
                (node, *(s.value for s in states)),
            )
        ]

    def editable(self) -> list[tuple[str, str]]:
        """Items with an outgoing edge at their origin that may still be edited."""
        return sorted(set(self.edges_where("from_unit", tuple(EDITABLE))))

    def awaiting(self) -> list[tuple[str, str]]:
        return self.edges_where("from_unit", (S.AWAITING_SIGNOFF,))

    def inbox(self) -> list[tuple[str, str]]:
        """Received items still open to a triage decision."""
        return self.edges_where("to_unit", (S.RECEIVED, S.RESERVED, S.ADOPTED))

    def refused(self, expected: type[Exception], call: Callable[[], Any]) -> None:
        """``call`` must raise ``expected`` and leave every table of every node as it was."""
        before = self.net.snapshot()
        with pytest.raises(expected):
            call()
        assert self.net.snapshot() == before, f"a refused operation changed the store: {call}"

    def done(self, node: str, call: Callable[[], Any]) -> Any:
        """``call`` must succeed, touching no store but the acting node's."""
        before = self.net.snapshot()
        result = call()
        after = self.net.snapshot()
        for other in UNITS:
            if other != node:
                assert after[other] == before[other], f"{other} changed by an operation at {node}"
        return result

    def new_queue_rows(self, node: str, before: int) -> list[dict[str, Any]]:
        return [r for r in self.net.queue_rows(node) if r["seq"] > before]

    def last_seq(self, node: str) -> int:
        rows = self.net.queue_rows(node)
        return rows[-1]["seq"] if rows else 0

    # the county desk

    @precondition(lambda self: len(self.awaiting()) < 3)  # keep items moving, not piling up
    @rule(
        node=st.sampled_from(COUNTIES),
        draft=drafts(),
        to=st.sampled_from(["default", "default", "default", "parent", "skip", "side", "self"]),
    )
    def submit(self, node: str, draft: ItemDraft, to: str) -> None:
        parent = UNITS[node].parent
        other = next(c for c in COUNTIES if c != node)
        targets = {
            "default": (),
            "parent": (parent,),
            "skip": (parent, PROVINCE.id),  # 越级: to the city and the province at once
            "side": (other,),
            "self": (node,),
        }[to]
        desk = self.net.desks[node]
        draft = replace(draft, to=targets)
        if to == "self":
            self.refused(ValidationError, lambda: ops.submit(desk, draft))
            return
        item = self.done(node, lambda: ops.submit(desk, draft))
        assert item.origin == node and item.revision == 1 and item.id.startswith(node + "-")
        edges = self.net.outgoing(node, item.id)
        assert [e["to_unit"] for e in edges] == list(targets or (parent,))
        assert all((e["state"], e["version"]) == (S.AWAITING_SIGNOFF, 2) for e in edges)

    @precondition(lambda self: bool(self.editable()))
    @rule(data=st.data(), draft=drafts(), to=st.sampled_from(["none", "none", "same", "other"]))
    def edit(self, data: st.DataObject, draft: ItemDraft, to: str) -> None:
        node, item_id = self.choose(data, self.editable())
        row = self.net.item_row(node, item_id)
        edges = self.net.outgoing(node, item_id)
        recipients = tuple(e["to_unit"] for e in edges)
        draft = replace(
            draft,
            to={"none": (), "same": recipients, "other": (*recipients, "140300")}[to],
        )
        desk = self.net.desks[node]
        if row is None:
            expected: type[Exception] | None = NotFound
        elif row["origin"] != node or all(S(e["state"]) not in EDITABLE for e in edges):
            expected = TransitionError
        elif to == "other":
            expected = ValidationError
        else:
            expected = None
        if expected is not None:
            self.refused(expected, lambda: ops.edit(desk, item_id, draft, note="改"))
            return
        assert row is not None
        seq = self.last_seq(node)
        item = self.done(node, lambda: ops.edit(desk, item_id, draft))
        assert item.revision == row["revision"] + 1
        for old, new in zip(edges, self.net.outgoing(node, item_id), strict=True):
            if old["state"] == S.RETURNED:
                assert (new["state"], new["version"]) == (S.AWAITING_SIGNOFF, old["version"] + 1)
            else:
                assert (new["state"], new["version"]) == (old["state"], old["version"])
        assert self.new_queue_rows(node, seq) == []  # nothing travels before sign-off

    @precondition(lambda self: bool(self.awaiting()))
    @rule(data=st.data())
    def signoff(self, data: st.DataObject) -> None:
        node, item_id = self.choose(data, self.awaiting())
        row = self.net.item_row(node, item_id)
        edges = self.net.outgoing(node, item_id)
        desk = self.net.desks[node]
        if row is None:
            self.refused(NotFound, lambda: ops.signoff(desk, item_id))
            return
        if row["origin"] != node or not any(e["state"] == S.AWAITING_SIGNOFF for e in edges):
            self.refused(TransitionError, lambda: ops.signoff(desk, item_id))
            return
        seq = self.last_seq(node)
        item = self.done(node, lambda: ops.signoff(desk, item_id))
        assert item.signer == desk.actor and item.revision == row["revision"]
        signed = [e["to_unit"] for e in edges if e["state"] == S.AWAITING_SIGNOFF]
        for old, new in zip(edges, self.net.outgoing(node, item_id), strict=True):
            if old["state"] == S.AWAITING_SIGNOFF:
                assert (new["state"], new["version"]) == (S.SENT, old["version"] + 1)
            else:
                assert (new["state"], new["version"]) == (old["state"], old["version"])
        (queued,) = self.new_queue_rows(node, seq)
        assert (queued["kind"], queued["record_id"], queued["version"]) == (
            "item",
            item_id,
            item.revision,
        )
        assert json.loads(queued["recipients"]) == signed

    # the receiving desk (the city, mostly; the province and a sideways county too)

    def _decide(self, data: st.DataObject, op: str, *args: str) -> None:
        call, target = DECISIONS[op]
        node, item_id = self.choose(data, self.inbox())
        desk = self.net.desks[node]
        edge = self.net.incoming(node, item_id)
        if op == "return" and not args[0].strip():
            expected: type[Exception] | None = ValidationError
        elif edge is None:
            expected = NotFound
        elif op == "adopt" and S(edge["state"]) in ADOPTED_STATES:
            expected = TransitionError  # adopted once: a second adoption is refused
        elif target not in TRANSITIONS[S(edge["state"])]:
            expected = TransitionError
        else:
            expected = None
        if expected is not None:
            self.refused(expected, lambda: call(desk, item_id, *args))
            return
        assert edge is not None
        seq = self.last_seq(node)
        moved = self.done(node, lambda: call(desk, item_id, *args))
        if op == "adopt" and args[0]:  # adopted, then placed in the issue: two decisions
            assert (moved.state, moved.version) == (S.PLACED, edge["version"] + 2)
            assert moved.placement.startswith(args[0].split("/")[0] + "/2026/")
            adopted, placed = self.new_queue_rows(node, seq)
            self._check_decision_record(adopted, moved.item_id, edge, moved.version - 1)
            self._check_decision_record(placed, moved.item_id, edge, moved.version)
            return
        assert (moved.state, moved.version) == (target, edge["version"] + 1)
        (queued,) = self.new_queue_rows(node, seq)
        self._check_decision_record(queued, moved.item_id, edge, moved.version)

    @precondition(lambda self: bool(self.inbox()))
    @rule(data=st.data(), issue=st.sampled_from(["每日要情/1", "专报/3", ""]))
    def adopt(self, data: st.DataObject, issue: str) -> None:
        self._decide(data, "adopt", issue)

    @precondition(lambda self: bool(self.inbox()))
    @rule(data=st.data(), reason=st.sampled_from(["请补充具体数据", "数据需核实", "  "]))
    def return_item(self, data: st.DataObject, reason: str) -> None:
        self._decide(data, "return", reason)

    @precondition(lambda self: bool(self.inbox()))
    @rule(data=st.data(), note=st.sampled_from(["", "留作年终综合"]))
    def reserve(self, data: st.DataObject, note: str) -> None:
        self._decide(data, "reserve", note)

    @precondition(lambda self: bool(self.inbox()))
    @rule(data=st.data(), reason=st.sampled_from(["", "与已报信息重复"]))
    def reject(self, data: st.DataObject, reason: str) -> None:
        self._decide(data, "reject", reason)

    def _check_decision_record(
        self, queued: dict[str, Any], item_id: str, edge: dict[str, Any], version: int
    ) -> None:
        assert queued["kind"] == "decision" and queued["version"] == version
        assert queued["record_id"] == f"edge:{item_id}:{edge['from_unit']}>{edge['to_unit']}"
        assert json.loads(queued["recipients"]) == [edge["from_unit"]]

    @precondition(lambda self: bool(self.inbox()))
    @rule(data=st.data(), title=st.sampled_from(["", "关于煤矿安全的综合报告"]))
    def forward(self, data: st.DataObject, title: str) -> None:
        node, item_id = self.choose(data, self.inbox())
        desk = self.net.desks[node]
        edge = self.net.incoming(node, item_id)
        if edge is None:
            expected: type[Exception] | None = NotFound
        elif S.FORWARDED not in TRANSITIONS[S(edge["state"])]:
            expected = TransitionError
        elif not UNITS[node].parent:
            expected = ValidationError
        else:
            expected = None
        if expected is not None:
            self.refused(expected, lambda: ops.forward(desk, item_id, title))
            return
        assert edge is not None
        seq = self.last_seq(node)
        new = self.done(node, lambda: ops.forward(desk, item_id, title))
        source = get_item(self.net.stores[node], item_id)
        assert (new.origin, new.sources, new.derivation) == (node, (item_id,), "forward")
        assert new.title == (title or source.title)
        (up,) = self.net.outgoing(node, new.id)
        assert (up["to_unit"], up["state"]) == (UNITS[node].parent, S.AWAITING_SIGNOFF)
        after = self.net.incoming(node, item_id)
        assert after is not None
        assert (after["state"], after["version"]) == (S.FORWARDED, edge["version"] + 1)
        (queued,) = self.new_queue_rows(node, seq)
        self._check_decision_record(queued, item_id, edge, after["version"])

    def mergeable(self) -> dict[str, list[str]]:
        """Per node, the received items it could merge, where it has at least two."""
        by_node: dict[str, list[str]] = defaultdict(list)
        for node, item_id in self.edges_where("to_unit", (S.RECEIVED, S.RESERVED)):
            by_node[node].append(item_id)
        return {n: sorted(ids) for n, ids in by_node.items() if len(ids) >= 2}

    @precondition(lambda self: bool(self.mergeable()))
    @rule(
        data=st.data(),
        size=st.sampled_from([2, 3, 2, 3, 1]),
        title=st.sampled_from(["全市冬季保供情况综合", "全市安全生产情况", " "]),
    )
    def merge(self, data: st.DataObject, size: int, title: str) -> None:
        """2–3 received items, mostly mergeable; sometimes with a stray or repeated one."""
        mergeable = self.mergeable()
        node = data.draw(st.sampled_from(sorted(mergeable)), label="node")
        here = mergeable[node]
        picked = data.draw(
            st.lists(st.sampled_from(here), min_size=min(size, len(here)), max_size=size),
            label="items",
        )
        if data.draw(st.integers(0, 9), label="stray") >= 8:
            _, stray = self.choose(data, self.inbox(), "stray item")
            picked.insert(data.draw(st.integers(0, len(picked)), label="at"), stray)
        ids = list(dict.fromkeys(picked))
        desk = self.net.desks[node]
        edges = [self.net.incoming(node, i) for i in ids]
        if len(ids) < 2 or not title.strip():
            expected: type[Exception] | None = ValidationError
        elif any(e is None for e in edges):
            expected = NotFound
        elif any(S.MERGED not in TRANSITIONS[S(e["state"])] for e in edges if e):
            expected = TransitionError
        elif not UNITS[node].parent:
            expected = ValidationError
        else:
            expected = None
        if expected is not None:
            self.refused(expected, lambda: ops.merge(desk, picked, title))
            return
        seq = self.last_seq(node)
        new = self.done(node, lambda: ops.merge(desk, picked, title))
        sources = [get_item(self.net.stores[node], i) for i in ids]
        assert (new.origin, new.sources, new.derivation) == (node, tuple(ids), "merge")
        assert new.draft.urgency == max(s.draft.urgency for s in sources)
        assert new.draft.classification == max(s.draft.classification for s in sources)
        queued = self.new_queue_rows(node, seq)
        assert len(queued) == len(ids)
        for item_id, before, q in zip(ids, edges, queued, strict=True):
            assert before is not None
            after = self.net.incoming(node, item_id)
            assert after is not None
            assert (after["state"], after["version"]) == (S.MERGED, before["version"] + 1)
            self._check_decision_record(q, item_id, before, after["version"])

    @precondition(lambda self: bool(self.net.item_ids()))
    @rule(
        data=st.data(),
        op=st.sampled_from(["misdeliver", "signoff", "adopt", "return", "forward", "merge"]),
    )
    def strangers(self, data: st.DataObject, op: str) -> None:
        """Refused outright, changing nothing: a record carried to a node it is not addressed
        to, or a writer alone trying to sign off or triage (the role is checked first)."""
        pending = self.net.pending()
        if op == "misdeliver" and pending:
            _sender, q = data.draw(st.sampled_from(pending), label="record")
            node = data.draw(st.sampled_from([u for u in UNITS if u not in q.recipients]))
            self.refused(ValidationError, lambda: self.net.deliver(q.record, node))
            return
        node, item_id = self.choose(data, self.inbox() + self.awaiting())
        writer = replace(self.net.desks[node], actor="xiaoli", roles=frozenset({Role.WRITER}))
        call = {
            "misdeliver": lambda: ops.signoff(writer, item_id),
            "signoff": lambda: ops.signoff(writer, item_id),
            "adopt": lambda: ops.adopt(writer, item_id),
            "return": lambda: ops.return_item(writer, item_id, "退回"),
            "forward": lambda: ops.forward(writer, item_id),
            "merge": lambda: ops.merge(writer, [item_id, GHOST], "合并"),
        }[op]
        self.refused(PermissionDenied, call)

    # the carrier

    def has_pending(self) -> bool:
        return bool(self.net.pending())

    @precondition(has_pending)
    @rule(data=st.data())
    def carry_some(self, data: st.DataObject) -> None:
        """Deliver some records, records in any order, each record's versions in order."""
        groups: dict[str, list[tuple[str, QueuedRecord]]] = defaultdict(list)
        for sender, q in sorted(self.net.pending(), key=lambda sq: (sq[0], sq[1].seq)):
            groups[q.record.id].append((sender, q))
        chosen = data.draw(
            st.lists(st.sampled_from(sorted(groups)), min_size=1, unique=True), label="records"
        )
        shipped: dict[str, list[int]] = defaultdict(list)
        for record_id in chosen:
            for sender, q in groups[record_id]:
                for recipient in data.draw(st.permutations(q.recipients), label="recipients"):
                    self._deliver(q.record, recipient, twice=data.draw(st.booleans()))
                shipped[sender].append(q.seq)
        for sender, seqs in shipped.items():
            outbox.mark_shipped(self.net.stores[sender], seqs, self.net.clock())

    @precondition(has_pending)
    @rule(data=st.data())
    def carry_all(self, data: st.DataObject) -> None:
        """Deliver everything queued, senders in any order; the copies then agree (invariant)."""
        senders = data.draw(st.permutations(list(UNITS)), label="senders")
        for _ in range(6):  # feedback passed down the chain queues more as it is delivered
            for sender in senders:
                queued = outbox.pending(self.net.stores[sender])
                for q in queued:
                    for recipient in q.recipients:
                        if recipient in UNITS:  # not 国办 above the province
                            self._deliver(q.record, recipient, twice=False)
                store = self.net.stores[sender]
                outbox.mark_shipped(store, [q.seq for q in queued], self.net.clock())
            if not self.net.pending():
                break
        assert self.net.pending() == []

    def _deliver(self, record: Record, recipient: str, *, twice: bool) -> None:
        outcome = self.net.deliver(record, recipient)
        assert outcome is Outcome.APPLIED, (record.id, record.version, recipient, outcome)
        self.delivered.append((recipient, record))
        if twice:  # at-least-once transport: the same bundle again, at once
            before = table_rows(self.net.stores[recipient])
            assert self.net.deliver(record, recipient) is Outcome.DUPLICATE
            assert table_rows(self.net.stores[recipient]) == before

    @precondition(lambda self: bool(self.delivered))
    @rule(data=st.data())
    def redeliver(self, data: st.DataObject) -> None:
        """Any record delivered before, delivered again later: nothing changes (invariant 5)."""
        recipient, record = data.draw(st.sampled_from(self.delivered), label="old record")
        held = self.net.stores[recipient].one(
            "SELECT version FROM applied WHERE record_id = ?", (record.id,)
        )
        assert held is not None and held["version"] >= record.version
        expected = Outcome.DUPLICATE if held["version"] == record.version else Outcome.STALE
        before = self.net.snapshot()
        assert self.net.deliver(record, recipient) is expected
        assert self.net.snapshot() == before

    # invariants

    @invariant()
    def edges_and_audit_logs_are_complete(self) -> None:
        for node, store in self.net.stores.items():
            entries: dict[int, list[dict[str, Any]]] = defaultdict(list)
            for a in store.query("SELECT * FROM audit ORDER BY id"):
                entries[a["edge_id"]].append(a)
            edges = store.query("SELECT * FROM edge ORDER BY id")
            assert set(entries) <= {e["id"] for e in edges}, f"{node}: audit of no edge"
            for edge in edges:
                where = f"{node}: {edge['item_id']} {edge['from_unit']}>{edge['to_unit']}"
                # 1. the state is one of the vocabulary's
                assert edge["state"] in {s.value for s in S}, where
                # a node holds only the edges it sends or receives
                assert node in (edge["from_unit"], edge["to_unit"]), where
                log = entries[edge["id"]]
                # 2. a complete chain, one entry per version (create is version 1, every
                #    move or mirror adds one)
                assert log, where
                assert log[0]["from_state"] is None, where
                for prev, nxt in pairwise(log):
                    assert nxt["from_state"] == prev["to_state"], where
                assert log[-1]["to_state"] == edge["state"], where
                assert len(log) == edge["version"], where
                for a in log:
                    before = S(a["from_state"]) if a["from_state"] else None
                    if a["origin"] == "local":
                        # 3. what this node decided itself is in the table
                        assert S(a["to_state"]) in TRANSITIONS[before], (where, a)
                    else:
                        # what it took from another node names that node: the sender when the
                        # edge arrives (create), the receiver when a decision is mirrored
                        assert a["origin"] in (edge["from_unit"], edge["to_unit"]), (where, a)
                        assert a["origin"] != node, (where, a)

    @invariant()
    def revisions_and_sources_are_kept(self) -> None:
        for node, store in self.net.stores.items():
            for row in store.query("SELECT * FROM item ORDER BY seq"):
                item_id, origin = row["id"], row["origin"]
                revs = store.query(
                    "SELECT revision, content FROM revision WHERE item_id = ? ORDER BY revision",
                    (item_id,),
                )
                numbers = [r["revision"] for r in revs]
                assert item_id.startswith(origin + "-")
                # 4. At the origin, every revision 1..n is kept. A receiver only ever sees
                # signed-off revisions (an item record carries the current revision only), so
                # its copy may start at 第3稿 or skip 第2稿 if the origin edited twice between
                # sign-offs: there the rule is "each held revision is the origin's, and the
                # current one is the newest held".
                origin_row = self.net.item_row(origin, item_id)
                assert origin_row is not None, f"{node} holds {item_id} unknown at its origin"
                origin_revs = {
                    r["revision"]: r["content"]
                    for r in self.net.stores[origin].query(
                        "SELECT revision, content FROM revision WHERE item_id = ?", (item_id,)
                    )
                }
                if node == origin:
                    assert numbers == list(range(1, row["revision"] + 1)), (node, item_id)
                else:
                    assert numbers and numbers[-1] == row["revision"], (node, item_id, numbers)
                    for r in revs:
                        assert r["content"] == origin_revs.get(r["revision"]), (node, item_id)
                    assert get_item(store, item_id).draft == parse_item(
                        json.loads(revs[-1]["content"])
                    )
                    for key in ("created_at", "derivation"):
                        assert row[key] == origin_row[key], (node, item_id, key)
                    if row["revision"] == origin_row["revision"]:
                        assert (row["signer"], row["signed_at"]) == (
                            origin_row["signer"],
                            origin_row["signed_at"],
                        )
                # derived items keep their sources, the same at every node
                sources = get_item(store, item_id).sources
                assert sources == get_item(self.net.stores[origin], item_id).sources
                if row["derivation"] == "forward":
                    assert len(sources) == 1, (node, item_id)
                elif row["derivation"] == "merge":
                    assert len(sources) >= 2, (node, item_id)
                else:
                    assert row["derivation"] == "" and sources == (), (node, item_id)
                if node == origin and sources:
                    after = AFTER_FORWARD if row["derivation"] == "forward" else AFTER_MERGE
                    for source in sources:
                        edge = self.net.incoming(node, source)
                        assert edge is not None and S(edge["state"]) in after, (item_id, source)

    @invariant()
    def record_versions_rise(self) -> None:
        """What the daemon relies on: a record id's queued versions strictly increase."""
        for node in UNITS:
            last: dict[str, int] = {}
            for q in self.net.queue_rows(node):
                assert q["version"] > last.get(q["record_id"], 0), (node, q["record_id"])
                last[q["record_id"]] = q["version"]

    @invariant()
    def copies_agree_once_everything_is_carried(self) -> None:
        if self.net.pending():
            return
        check_copies(self.net)


def check_copies(net: Network) -> None:
    """6. With nothing queued anywhere, each edge's two copies agree, but for these cases.

    The receiver's word travels down only as decision records, so:
    - sender 草稿/待签发, no receiver copy: never signed off, nothing was ever queued;
    - sender 已报送, receiver 已接收: receipt is not a decision and is not echoed back;
    - sender 草稿/待签发, receiver 退回修改: the sender took the return and is revising; the new
      revision travels only when it is signed off (the sender's copy is ahead);
    every other receiver state is a decision, mirrored by the sender: equal state and placement.
    A sender 已报送 with the receiver still 退回修改 (or with no receiver copy) would mean a
    record was lost; any decision state at the sender that the receiver does not hold would
    mean a decision was mirrored that was never made.
    """
    for store in net.stores.values():
        for mine in store.query("SELECT * FROM edge ORDER BY id"):
            item_id, frm, to = mine["item_id"], mine["from_unit"], mine["to_unit"]
            sender = net.edge(frm, item_id, frm, to)
            receiver = net.edge(to, item_id, frm, to)
            where = f"{item_id} {frm}>{to}: sender {sender and sender['state']}, " + (
                f"receiver {receiver and receiver['state']}"
            )
            assert sender is not None, where  # every edge starts at its sender
            snd = S(sender["state"])
            if receiver is None:
                assert snd in (S.DRAFT, S.AWAITING_SIGNOFF), where
                continue
            rcv = S(receiver["state"])
            if rcv is S.RECEIVED:
                assert snd is S.SENT, where
            elif rcv is S.RETURNED:
                assert snd in (S.RETURNED, S.DRAFT, S.AWAITING_SIGNOFF), where
            else:
                assert snd is rcv, where
                assert sender["placement"] == receiver["placement"], where
            # the receiver holds the revision last signed off to it (a skip-level item can be
            # revised for one recipient that returned it while another keeps what it adopted)
            held = net.item_row(to, item_id)
            origin = net.item_row(frm, item_id)
            assert held is not None and origin is not None, where
            sent = [
                r["version"]
                for r in net.desks[frm].store.query(
                    "SELECT version, recipients FROM outbox WHERE record_id = ? AND kind = 'item'",
                    (item_id,),
                )
                if to in json.loads(r["recipients"])
            ]
            assert held["revision"] == max(sent) <= origin["revision"], where


DeskNetwork.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None, database=None
)
TestDeskNetwork = DeskNetwork.TestCase


# --- examples ---------------------------------------------------------------------------------


@pytest.fixture
def net() -> Iterator[Network]:
    network = Network()
    yield network
    network.close()


def state_of(net: Network, sender: str, item_id: str, receiver: str) -> S:
    """The state of the sender's copy of (item, sender, receiver)."""
    edge = net.edge(sender, item_id, sender, receiver)
    assert edge is not None
    return S(edge["state"])


def plain(**overrides: Any) -> ItemDraft:
    data: dict[str, Any] = {
        "title": "新荣区多措并举保障困难群众温暖过冬",
        "category": "经验做法",
        "author": "张三",
        "body": "入冬以来，新荣区落实煤改电峰谷电价优惠，困难群众取暖有保障。",
    }
    data.update(overrides)
    return parse_item(data)


def test_return_revise_resubmit_adopt(net: Network) -> None:
    county, city = net.desks[COUNTY_A.id], net.desks[CITY.id]
    item = ops.submit(county, plain())
    ops.signoff(county, item.id)
    net.carry_all()
    ops.return_item(city, item.id, "请补充受益户数")
    net.carry_all()
    ops.edit(county, item.id, plain(body="共惠及困难群众1862户3217人。"))
    ops.signoff(county, item.id)
    net.carry_all()
    ops.adopt(city, item.id, "每日要情/1")
    net.carry_all()
    for node in (COUNTY_A.id, CITY.id):
        edge = net.edge(node, item.id, COUNTY_A.id, CITY.id)
        assert edge is not None
        assert (edge["state"], edge["placement"]) == (S.PLACED, "每日要情/2026/1")
        assert get_item(net.stores[node], item.id).revision == 2
        revs = net.stores[node].query("SELECT revision FROM revision WHERE item_id = ?", (item.id,))
        assert [r["revision"] for r in revs] == [1, 2]
    trail = [
        (a["from_state"], a["to_state"], a["origin"])
        for a in net.stores[COUNTY_A.id].query("SELECT * FROM audit ORDER BY id")
    ]
    assert trail == [
        (None, "草稿", "local"),
        ("草稿", "待签发", "local"),
        ("待签发", "已报送", "local"),
        ("已报送", "退回修改", CITY.id),
        ("退回修改", "待签发", "local"),
        ("待签发", "已报送", "local"),
        ("已报送", "已采用", CITY.id),
        ("已采用", "已成刊", CITY.id),
    ]
    check_copies(net)


def test_merge_and_forward_keep_their_sources_up_to_the_province(net: Network) -> None:
    a, b, city = net.desks[COUNTY_A.id], net.desks[COUNTY_B.id], net.desks[CITY.id]
    incident = {"severity": "较大", "occurred_at": "2026-11-21T14:35:00+08:00", "place": "某煤矿"}
    x = ops.submit(a, plain(category="突发事件", urgency="特急", incident=incident))
    y = ops.submit(b, plain(classification="秘密"))
    z = ops.submit(a, plain(title="新荣区开展冬季安全生产大检查"))
    for desk, item in ((a, x), (b, y), (a, z)):
        ops.signoff(desk, item.id)
    net.carry_all()
    ops.reserve(city, y.id)
    merged = ops.merge(city, [x.id, y.id], "全市冬季保供与安全情况")
    forwarded = ops.forward(city, z.id)
    assert (merged.draft.urgency, merged.draft.classification) == (Urgency.FLASH, "秘密")
    assert merged.draft.category is Category.NEWS and merged.draft.incident is None
    ops.signoff(city, merged.id)
    ops.signoff(city, forwarded.id)
    net.carry_all()
    province = net.stores[PROVINCE.id]
    assert get_item(province, merged.id).sources == (x.id, y.id)
    assert get_item(province, forwarded.id).sources == (z.id,)
    assert get_item(province, forwarded.id).title == z.title
    assert state_of(net, COUNTY_A.id, x.id, CITY.id) is S.MERGED
    assert state_of(net, COUNTY_B.id, y.id, CITY.id) is S.MERGED
    assert state_of(net, COUNTY_A.id, z.id, CITY.id) is S.FORWARDED
    check_copies(net)


def refuse(net: Network, expected: type[Exception], call: Callable[[], Any]) -> None:
    before = net.snapshot()
    with pytest.raises(expected):
        call()
    assert net.snapshot() == before


def test_refusals_change_nothing_and_old_records_are_ignored(net: Network) -> None:
    county, city, province = (net.desks[u] for u in (COUNTY_A.id, CITY.id, PROVINCE.id))
    item = ops.submit(county, plain())
    refuse(net, NotFound, lambda: ops.adopt(city, item.id))  # not received yet
    refuse(net, NotFound, lambda: ops.edit(city, item.id, plain()))  # not held by the city
    ops.signoff(county, item.id)
    net.carry_all()
    refuse(net, TransitionError, lambda: ops.edit(city, item.id, plain()))  # not the city's
    refuse(net, TransitionError, lambda: ops.signoff(county, item.id))  # signed already
    refuse(net, TransitionError, lambda: ops.edit(county, item.id, plain()))  # sent: locked
    refuse(net, ValidationError, lambda: ops.return_item(city, item.id, "  "))  # no reason
    refuse(net, ValidationError, lambda: ops.merge(city, [item.id, item.id], "合并"))  # one item
    ops.reserve(city, item.id)
    ops.adopt(city, item.id)
    refuse(net, TransitionError, lambda: ops.adopt(city, item.id))  # adopted already
    refuse(net, TransitionError, lambda: ops.return_item(city, item.id, "不用了"))  # 已采用 ↛ 退回
    reserved, adopted = (q.record for q in outbox.pending(net.stores[CITY.id]))
    assert (reserved.version, adopted.version) == (2, 3)
    net.carry_all()
    before = net.snapshot()
    assert net.deliver(adopted, COUNTY_A.id) is Outcome.DUPLICATE
    assert net.deliver(reserved, COUNTY_A.id) is Outcome.STALE
    assert net.snapshot() == before
    assert state_of(net, COUNTY_A.id, item.id, CITY.id) is S.ADOPTED
    # the province has no parent: it cannot forward what the city sends it
    forwarded = ops.forward(city, item.id)
    ops.signoff(city, forwarded.id)
    net.carry_all()
    refuse(net, ValidationError, lambda: ops.forward(province, forwarded.id))
    check_copies(net)
