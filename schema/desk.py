"""Desk operations, each written once and called by the desk CLI and the console alike.

A :class:`Desk` is one person acting at one node: the store, this node as a unit, the acting
user and their roles, the rules and a clock. Every operation checks the role it needs, changes
items and edges in one transaction, logs every edge transition, and queues what must travel.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from schema import (
    authority,
    bulletin,
    editorial,
    emergency,
    inbound,
    outbox,
    people,
    roster,
    state,
    supervise,
    verify,
)
from schema import instruction as instructions
from schema import item as items
from schema import publication as pubs
from schema import request as requests
from schema.clock import Clock, system_clock, to_text
from schema.datafile import data_text
from schema.error import NotFound, PermissionDenied, TransitionError, ValidationError
from schema.itemfile import draft_to_dict
from schema.limit import check_text
from schema.record import Edge, Item, ItemDraft, Record, Unit
from schema.store import Store
from schema.vocabulary import Category, EdgeState, Level, Role, Severity, Urgency

S = EdgeState
EDITABLE = frozenset({S.DRAFT, S.AWAITING_SIGNOFF, S.RETURNED})


@dataclass(frozen=True)
class DeskRules:
    """Who may do what, and how urgency maps to queue priority (``schema/data/desk.toml``)."""

    permissions: dict[str, frozenset[Role]]
    priority: dict[Urgency, int]
    verify_hours: float = 24.0  # 核实: the answer is due this long after the question

    @classmethod
    def load(cls, path: Path | None = None) -> DeskRules:
        """The rules in ``path``, or the shipped defaults."""
        text, _ = data_text("desk.toml", path)
        data = tomllib.loads(text)
        return cls(
            permissions={
                op: frozenset(Role.parse(r, f"permissions.{op}") for r in roles)
                for op, roles in data["permissions"].items()
            },
            priority={Urgency.parse(k, "priority"): int(v) for k, v in data["priority"].items()},
            verify_hours=float(data.get("verify", {}).get("answer_within_hours", 24)),
        )


@dataclass(frozen=True)
class Desk:
    """One user acting at one node."""

    store: Store
    node: Unit
    actor: str
    roles: frozenset[Role]
    clock: Clock = system_clock
    rules: DeskRules = field(default_factory=DeskRules.load)

    def require(self, operation: str) -> None:
        """Raise :class:`PermissionDenied` unless the actor holds a role ``operation`` needs."""
        allowed = self.rules.permissions.get(operation, frozenset())
        if not self.roles & allowed:
            needed = "或".join(sorted(r.value for r in allowed)) or "（未授权）"
            raise PermissionDenied(
                f"用户 {self.actor} 无权执行“{_OPERATION_NAMES[operation]}”，需要{needed}角色"
            )


_OPERATION_NAMES = {
    "submit": "报送",
    "edit": "修改",
    "signoff": "签发",
    "adopt": "采用",
    "return": "退回",
    "reserve": "存稿",
    "reject": "退稿",
    "forward": "转报",
    "merge": "合并",
    "request": "约稿",
    "answer": "零报告",
    "mark": "记录迟报、漏报、瞒报、误报",
    "publish": "编辑刊物",
    "instruct": "登记领导批示",
    "verify": "要求核实",
    "roster": "维护通讯录",
    "phone": "登记电话报告",
    "interview": "记录约谈",
}


def submit(desk: Desk, draft: ItemDraft) -> Item:
    """Store a new item of this node and put it to the signer (草稿 → 待签发)."""
    desk.require("submit")
    _editorial(draft)
    people.check_section(desk.store, draft.section)
    recipients = _recipients(desk, draft)
    if draft.incident is not None:
        emergency.check_thread(desk.store, draft.incident)
    if draft.themes:
        requests.check_themes(desk.store, draft.themes)
    at = desk.clock()
    with desk.store.write():
        item_id = items.new_item_id(desk.store, desk.node.id, at)
        item = items.insert(
            desk.store,
            item_id,
            desk.node.id,
            items.without_recipients(draft),
            editor=desk.actor,
            at=at,
        )
        for to in recipients:
            _put_to_signer(desk, item_id, to, at, "提交签发")
    return item


def edit(desk: Desk, item_id: str, draft: ItemDraft, note: str = "") -> Item:
    """Make ``draft`` a new revision of an unsent or returned item of this node.

    A skip-level item may be returned by one recipient and adopted by another: the new revision
    is then put to the signer for the recipient that returned it; the other keeps what it has.
    """
    desk.require("edit")
    people.check_section(desk.store, draft.section)
    check_text("note", note)
    _editorial(draft)
    item = _own(desk, item_id)
    edges = outgoing_edges(desk.store, item_id, desk.node.id)
    if not any(e.state in EDITABLE for e in edges):
        current = "、".join(sorted({e.state.value for e in edges}))
        raise TransitionError(
            f"信息 {item_id} 当前为“{current}”，不能修改"
            "（只有草稿、待签发或退回修改的信息可以修改）"
        )
    if draft.to and set(draft.to) != {e.to_unit for e in edges}:
        raise ValidationError("to", "修改时不能更改报送对象")
    at = desk.clock()
    with desk.store.write():
        item = items.revise(
            desk.store, item, items.without_recipients(draft), editor=desk.actor, at=at
        )
        for edge in edges:
            if edge.state is S.RETURNED:
                state.move(
                    desk.store,
                    edge,
                    S.AWAITING_SIGNOFF,
                    actor=desk.actor,
                    at=at,
                    note=note or f"修改后重新提交（第{item.revision}稿）",
                )
    return item


def signoff(desk: Desk, item_id: str) -> Item:
    """Sign the item off (待签发 → 已报送) and queue it for its recipients."""
    desk.require("signoff")
    item = _own(desk, item_id)
    edges = [
        e
        for e in outgoing_edges(desk.store, item_id, desk.node.id)
        if e.state is S.AWAITING_SIGNOFF
    ]
    if not edges:
        current = "、".join(
            sorted({e.state.value for e in outgoing_edges(desk.store, item_id, desk.node.id)})
        )
        raise TransitionError(f"信息 {item_id} 当前为“{current}”，没有待签发的报送")
    at = desk.clock()
    with desk.store.write():
        items.set_signed(desk.store, item_id, desk.actor, at)
        for edge in edges:
            state.move(desk.store, edge, S.SENT, actor=desk.actor, at=at, note=f"{desk.actor} 签发")
        item = items.get(desk.store, item_id)
        targets = tuple(e.to_unit for e in edges)
        # a forward or merge carries the signed records of other nodes' sources it is made
        # from: the receiver credits them only on that proof (schema/authority.py)
        foreign = [s for s in item.sources if authority.owner(s) != desk.node.id]
        cites = inbound.proofs(desk.store, foreign)
        outbox.enqueue(
            desk.store,
            item_record(item, desk.node.id, targets, cites),
            targets,
            priority=desk.rules.priority[item.draft.urgency],
            classification=item.draft.classification,
            at=at,
        )
        if item.draft.request:
            requests.replied(desk.store, desk.node.id, item.draft.request, item.id, at)
    return item


# an adopted item stays adopted while it is placed in an issue and once the issue is out
ADOPTED_STATES = frozenset({S.ADOPTED, S.PLACED, S.ISSUED})


def adopt(desk: Desk, item_id: str, issue: str = "") -> Edge:
    """Adopt a received item (已采用); with ``issue`` (每日要情/3, or 每日要情 for the issue
    being edited) also place it in that issue (已成刊)."""
    desk.require("adopt")
    with desk.store.write():
        current = incoming_edge(desk.store, item_id, desk.node.id).state
        if current in ADOPTED_STATES:  # once: a second adoption is refused, not logged again
            placed = "，已编入刊物" if current is not S.ADOPTED else ""
            raise TransitionError(f"信息 {item_id} 已采用{placed}，不能重复采用")
        edge = _decide(desk, item_id, S.ADOPTED)
        if issue:
            place_in_issue(desk, issue, [item_id])
            edge = incoming_edge(desk.store, item_id, desk.node.id)
    return edge


def return_item(desk: Desk, item_id: str, reason: str) -> Edge:
    """Return a received item to its sender for revision, with the reason."""
    desk.require("return")
    if not reason.strip():
        raise ValidationError("reason", "退回必须写明理由")
    return _decide(desk, item_id, S.RETURNED, note=reason.strip())


def ask_to_verify(
    desk: Desk, item_id: str, question: str, deadline: datetime | None = None
) -> verify.Verification:
    """Ask the sender of a received item to verify it (核实), answering by ``deadline`` (by
    default the desk rules' hours from now): the item cannot be printed here until the answer
    comes."""
    desk.require("verify")
    if deadline is None:
        deadline = desk.clock() + timedelta(hours=desk.rules.verify_hours)
    edge = incoming_edge(desk.store, item_id, desk.node.id)
    if edge.state in (S.ISSUED, S.REJECTED, S.RETURNED):
        raise TransitionError(f"信息 {item_id} 已{edge.state}，不能再要求核实")
    item = items.get(desk.store, item_id)
    return verify.ask(
        desk.store,
        edge,
        question,
        deadline,
        desk.actor,
        desk.clock(),
        priority=desk.rules.priority[item.draft.urgency],
        classification=item.draft.classification,
    )


def answer_verification(desk: Desk, item_id: str, text: str) -> verify.Verification:
    """Answer the open 核实 question about one of this node's items."""
    desk.require("answer")
    item = items.get(desk.store, item_id)
    return verify.answer(
        desk.store,
        desk.node.id,
        item_id,
        text,
        desk.actor,
        desk.clock(),
        priority=desk.rules.priority[item.draft.urgency],
        classification=item.draft.classification,
    )


def set_roster(desk: Desk, people: Sequence[roster.Person]) -> int:
    """Replace this unit's 通讯录 and send it to every office above; its version."""
    desk.require("roster")
    return roster.publish(
        desk.store,
        desk.node.id,
        people,
        desk.actor,
        desk.clock(),
        parent=desk.node.parent,
        name=desk.node.short or desk.node.name,
    )


def reserve(desk: Desk, item_id: str, note: str = "") -> Edge:
    """Keep a received item in reserve (备用) for later use."""
    desk.require("reserve")
    return _decide(desk, item_id, S.RESERVED, note=note)


def reject(desk: Desk, item_id: str, reason: str = "") -> Edge:
    """Reject a received item (退稿)."""
    desk.require("reject")
    return _decide(desk, item_id, S.REJECTED, note=reason.strip())


def forward(desk: Desk, item_id: str, title: str = "") -> Item:
    """Forward a received item upward: a new item of this node citing it, awaiting sign-off."""
    desk.require("forward")
    edge = incoming_edge(desk.store, item_id, desk.node.id)
    state.check(edge.state, S.FORWARDED)
    source = items.get(desk.store, item_id)
    draft = replace(source.draft, title=title.strip() or source.draft.title, to=())
    with desk.store.write():
        new = _derived(desk, draft, (item_id,), "forward")
        _decide(desk, item_id, S.FORWARDED, note=f"转报为 {new.id}")
    return items.get(desk.store, new.id)


def merge(desk: Desk, item_ids: Sequence[str], title: str, body: str = "") -> Item:
    """Merge several received items into one composite of this node (化零为整).

    The composite keeps every source; its markings are the highest of its sources.
    """
    desk.require("merge")
    ids = list(dict.fromkeys(item_ids))
    if len(ids) < 2:
        raise ValidationError("ID", "合并至少需要两条信息")
    if not title.strip():
        raise ValidationError("title", "合并后的信息必须有标题")
    edges = [incoming_edge(desk.store, i, desk.node.id) for i in ids]
    for edge in edges:
        try:
            state.check(edge.state, S.MERGED)
        except TransitionError as exc:
            raise TransitionError(f"信息 {edge.item_id}：{exc}") from exc
    sources = [items.get(desk.store, i) for i in ids]
    categories = {s.draft.category for s in sources}
    first = sources[0].draft
    draft = ItemDraft(
        title=title.strip(),
        category=first.category if len(categories) == 1 else Category.NEWS,
        body=body.strip() or "\n\n".join(s.draft.body for s in sources),
        author=desk.actor,
        urgency=max(s.draft.urgency for s in sources),
        classification=max(s.draft.classification for s in sources),
        incident=first.incident if len(categories) == 1 else None,
    )
    with desk.store.write():
        new = _derived(desk, draft, tuple(ids), "merge")
        for item_id in ids:
            _decide(desk, item_id, S.MERGED, note=f"并入 {new.id}")
    return items.get(desk.store, new.id)


def incoming_edge(store: Store, item_id: str, me: str) -> Edge:
    """The edge by which this node received ``item_id``."""
    row = store.one("SELECT * FROM edge WHERE item_id = ? AND to_unit = ?", (item_id, me))
    if row is None:
        raise NotFound(f"收件中没有编号为 {item_id} 的信息")
    return state.edge_from_row(row)


def outgoing_edges(store: Store, item_id: str, me: str) -> list[Edge]:
    """The edges by which this node sends ``item_id``."""
    rows = store.query(
        "SELECT * FROM edge WHERE item_id = ? AND from_unit = ? ORDER BY id", (item_id, me)
    )
    return [state.edge_from_row(r) for r in rows]


def item_record(
    item: Item, sender: str, targets: tuple[str, ...], cites: Sequence[dict[str, Any]] = ()
) -> Record:
    """The replication record of an item's current revision, addressed to ``targets``;
    ``cites``: the signed records of its sources made elsewhere."""
    payload: dict[str, Any] = {
        "item": {
            "id": item.id,
            "origin": item.origin,
            "revision": item.revision,
            "content": draft_to_dict(items.without_recipients(item.draft)),
            "signer": item.signer,
            "signed_at": to_text(item.signed_at) if item.signed_at else "",
            "created_at": to_text(item.created_at),
            "sources": list(item.sources),
            "derivation": item.derivation,
        },
        "edges": [[sender, t] for t in targets],
    }
    if cites:
        payload["cites"] = list(cites)
    return Record(id=item.id, kind="item", version=item.revision, origin=sender, payload=payload)


def decision_record(edge: Edge, actor: str, at_text: str) -> Record:
    """The record that carries a receiver's decision on ``edge`` back to the sender."""
    return Record(
        id=f"edge:{edge.item_id}:{edge.from_unit}>{edge.to_unit}",
        kind="decision",
        version=edge.version,
        origin=edge.to_unit,
        payload={
            "item_id": edge.item_id,
            "from": edge.from_unit,
            "to": edge.to_unit,
            "state": edge.state.value,
            "note": edge.note,
            "placement": edge.placement,
            "actor": actor,
            "at": at_text,
        },
    )


def _decide(
    desk: Desk, item_id: str, target: EdgeState, *, note: str = "", placement: str = ""
) -> Edge:
    check_text("note", note)  # a reason travels to the sender: held to the input limits
    edge = incoming_edge(desk.store, item_id, desk.node.id)
    at = desk.clock()
    with desk.store.write():
        moved = state.move(
            desk.store,
            edge,
            target,
            actor=desk.actor,
            at=at,
            note=note,
            placement=placement or None,
        )
        item = items.get(desk.store, item_id)
        outbox.enqueue(
            desk.store,
            decision_record(moved, desk.actor, to_text(at)),
            (moved.from_unit,),
            priority=desk.rules.priority[item.draft.urgency],
            classification=item.draft.classification,
            at=at,
        )
    return moved


def _derived(desk: Desk, draft: ItemDraft, sources: tuple[str, ...], derivation: str) -> Item:
    if not desk.node.parent:
        raise ValidationError("to", "本节点没有上级，无法转报或合并上报")
    at = desk.clock()
    item_id = items.new_item_id(desk.store, desk.node.id, at)
    new = items.insert(
        desk.store,
        item_id,
        desk.node.id,
        draft,
        editor=desk.actor,
        at=at,
        sources=sources,
        derivation=derivation,
    )
    _put_to_signer(
        desk, item_id, desk.node.parent, at, "转报" if derivation == "forward" else "合并"
    )
    return new


def _put_to_signer(desk: Desk, item_id: str, to: str, at: datetime, note: str) -> None:
    """Open the edge towards ``to`` as a draft and put it to the signer (草稿 → 待签发)."""
    edge = state.create(desk.store, item_id, desk.node.id, to, S.DRAFT, actor=desk.actor, at=at)
    state.move(desk.store, edge, S.AWAITING_SIGNOFF, actor=desk.actor, at=at, note=note)


def _own(desk: Desk, item_id: str) -> Item:
    item = items.get(desk.store, item_id)
    if item.origin != desk.node.id:
        raise TransitionError(
            f"信息 {item_id} 来自 {item.origin}，不是本单位的信息（可采用、转报或合并）"
        )
    return item


def _editorial(draft: ItemDraft) -> None:
    """Refuse a draft the editorial rules say cannot go (advice never refuses)."""
    blocking = [f for f in editorial.check(draft) if f.blocking]
    if blocking:
        raise ValidationError(blocking[0].field, blocking[0].message)


def _recipients(desk: Desk, draft: ItemDraft) -> tuple[str, ...]:
    if draft.request and not draft.to:  # a reply goes to whoever asked for it
        return (requests.reply_target(desk.store, desk.node.id, draft.request),)
    if draft.request:
        requests.reply_target(desk.store, desk.node.id, draft.request)  # it must be answerable
    recipients = draft.to or ((desk.node.parent,) if desk.node.parent else ())
    if not recipients:
        raise ValidationError("to", "本节点没有上级，请填写报送对象")
    if desk.node.id in recipients:
        raise ValidationError("to", "不能报送给本单位自己")
    return recipients


# -- topic requests and reporting priorities (schema/request.py) -----------------------------


def compose_request(desk: Desk, draft: requests.RequestDraft) -> requests.Request:
    """Store a new request of this node, awaiting sign-off."""
    desk.require("request")
    rules = requests.RequestRules.load()
    return requests.compose(desk.store, desk.node.id, desk.actor, draft, desk.clock(), rules)


def signoff_request(desk: Desk, request_id: str) -> requests.Request:
    """Sign a request off and queue it down to every target."""
    desk.require("signoff")
    request = requests.get(desk.store, request_id)
    priority = desk.rules.priority[request.draft.urgency]
    return requests.signoff(
        desk.store, desk.node.id, desk.actor, request_id, desk.clock(), priority
    )


def open_request(desk: Desk, request_id: str) -> requests.Request:
    """Read a request; at a target the first reading sends the read receipt."""
    return requests.open_request(desk.store, desk.node.id, request_id, desk.clock())


def zero_report(desk: Desk, request_id: str, note: str = "") -> requests.Request:
    """Answer a topic request with 零报告."""
    desk.require("answer")
    check_text("note", note)
    return requests.zero_report(desk.store, desk.node.id, request_id, note, desk.clock())


def follow_up_request(desk: Desk, request_id: str) -> requests.Request:
    """Compose the due follow-up of a request (awaiting sign-off)."""
    desk.require("request")
    rules = requests.RequestRules.load()
    return requests.follow_up(desk.store, desk.node.id, desk.actor, request_id, desk.clock(), rules)


# -- emergencies (schema/emergency.py) ----------------------------------------------------------


def mark_unit(
    desk: Desk, unit: str, kind: emergency.MarkKind, item_id: str, note: str
) -> emergency.Mark:
    """Record 迟报/漏报/瞒报/误报 against a unit."""
    desk.require("mark")
    check_text("note", note)
    return emergency.mark(desk.store, unit, kind, item_id, note, desk.actor, desk.clock())


def take_phone_report(
    desk: Desk,
    unit: str,
    *,
    caller: str,
    summary: str,
    severity: Severity,
    occurred_at: datetime,
    called_at: datetime | None = None,
    place: str = "",
) -> emergency.PhoneReport:
    """Record a first report taken by telephone from ``unit`` (called now unless given)."""
    desk.require("phone")
    at = desk.clock()
    return emergency.record_phone(
        desk.store,
        desk.node.id,
        unit,
        caller=caller,
        called_at=called_at or at,
        severity=severity,
        occurred_at=occurred_at,
        place=place,
        summary=summary,
        actor=desk.actor,
        at=at,
        rules=emergency.shipped_rules(),
    )


def link_phone_report(desk: Desk, report_id: int, item_id: str) -> emergency.PhoneReport:
    """Link a phone report to the written 首报 that followed it."""
    desk.require("phone")
    return emergency.link_phone(desk.store, report_id, item_id)


def signoff_bulletin(
    desk: Desk, made: bulletin.Bulletin
) -> tuple[supervise.Issued, list[requests.Request]]:
    """Sign a bulletin off: numbered, sent to every unit it names, a 督办 to each unit short
    of its quota."""
    desk.require("signoff")
    return supervise.issue(
        desk.store,
        desk.node.id,
        made,
        desk.actor,
        desk.clock(),
        priority=desk.rules.priority[Urgency.URGENT],
    )


def record_interview(desk: Desk, unit: str, note: str, request_id: str = "") -> supervise.Interview:
    """Record a 约谈 of a unit's leaders (after its 督办)."""
    desk.require("interview")
    return supervise.interview(desk.store, unit, request_id, note, desk.actor, desk.clock())


# -- publications (schema/publication.py) ----------------------------------------------------


def place_in_issue(desk: Desk, ref: str, item_ids: Sequence[str]) -> pubs.Issue:
    """Place adopted items (or this node's own) in an issue being edited (已成刊)."""
    desk.require("publish")
    at = desk.clock()
    with desk.store.write():
        verify.check_publishable(desk.store, desk.node.id, list(item_ids))
        issue = pubs.open_issue(desk.store, desk.node.id, ref, desk.actor, at)
        for item_id in item_ids:
            item = items.get(desk.store, item_id)
            if item.origin != desk.node.id:
                edge = incoming_edge(desk.store, item_id, desk.node.id)
                if edge.state is not S.PLACED:
                    _decide(desk, item_id, S.PLACED, note=f"编入{issue.title}", placement=issue.id)
        return pubs.place(desk.store, issue, item_ids)


def remove_from_issue(desk: Desk, ref: str, item_id: str) -> pubs.Issue:
    """Take an item out of an issue being edited (已成刊 → 已采用)."""
    desk.require("publish")
    issue = pubs.find_issue(desk.store, desk.node.id, ref, desk.clock().date())
    with desk.store.write():
        changed = pubs.remove(desk.store, issue, item_id)
        if items.get(desk.store, item_id).origin != desk.node.id:
            _decide(desk, item_id, S.ADOPTED, note=f"撤出{issue.title}", placement="")
    return changed


def order_issue(desk: Desk, ref: str, first: Sequence[str]) -> pubs.Issue:
    """Put items at the head of an issue, in the order given."""
    desk.require("publish")
    issue = pubs.find_issue(desk.store, desk.node.id, ref, desk.clock().date())
    return pubs.reorder(desk.store, issue, first)


def signoff_issue(desk: Desk, ref: str) -> pubs.Issue:
    """Sign an issue off (已印发): its items' edges follow, the sources are told, and the
    issue goes to the parent and every source unit as a record."""
    desk.require("signoff")
    at = desk.clock()
    issue = pubs.find_issue(desk.store, desk.node.id, ref, at.date())
    verify.check_publishable(desk.store, desk.node.id, [e.item_id for e in issue.entries])
    with desk.store.write():
        issued = pubs.sign_off(desk.store, issue, desk.actor, at)
        for entry in issued.entries:
            if entry.origin != desk.node.id:
                _decide(desk, entry.item_id, S.ISSUED, note=f"{issued.title}已印发")
        record, units = pubs.issue_record(desk.store, issued, desk.node.parent)
        if units:
            outbox.enqueue(
                desk.store,
                record,
                units,
                priority=desk.rules.priority[issued.urgency],
                classification=issued.classification,
                at=at,
            )
    return issued


# -- leader instructions (schema/instruction.py) -----------------------------------------------


def instruct(
    desk: Desk,
    subject: str,
    leader: str,
    level: Level,
    text: str,
    *,
    feedback: bool = False,
    deadline: datetime | None = None,
    assigned: Sequence[str] = (),
) -> instructions.Instruction:
    """Record a leader's instruction on an item or an issue. It travels down every chain;
    received items' edges become 已批示; with ``feedback``, a 批示 request tracks the answers
    of the assigned units (default: every unit down the chains)."""
    desk.require("instruct")
    check_text("leader", leader)
    check_text("text", text)
    at = desk.clock()
    if items.find(desk.store, subject) is not None:
        item_ids = [subject]
        urgency = items.get(desk.store, subject).draft.urgency
        classification = items.get(desk.store, subject).draft.classification
    else:
        issue = pubs.find_issue(desk.store, desk.node.id, subject, at.date())
        subject, item_ids = issue.id, [e.item_id for e in issue.entries]
        urgency, classification = issue.urgency, issue.classification
    with desk.store.write():
        for item_id in item_ids:
            edge = state.find_edge_to(desk.store, item_id, desk.node.id)
            if edge is not None and S.INSTRUCTED in state.TRANSITIONS[edge.state]:
                _decide(desk, item_id, S.INSTRUCTED, note=f"{leader}批示：{text}")
        request_id = ""
        if feedback:
            targets = tuple(assigned) or tuple(
                instructions.below(desk.store, desk.node.id, item_ids)
            )
            if deadline is None:
                raise ValidationError("deadline", "要求反馈的批示须写明反馈时限")
            draft = requests.RequestDraft(
                kind=requests.INSTRUCTED,
                topic=f"{leader}批示落实情况反馈",
                guidance=text,
                targets=targets,
                deadline=deadline,
                urgency=urgency,
                classification=classification,
            )
            rules = requests.RequestRules.load()
            made = requests.compose(desk.store, desk.node.id, desk.actor, draft, at, rules)
            priority = desk.rules.priority[urgency]
            requests.signoff(desk.store, desk.node.id, desk.actor, made.id, at, priority)
            request_id = made.id
        return instructions.record(
            desk.store,
            desk.node.id,
            desk.actor,
            subject,
            item_ids,
            leader,
            level,
            text,
            at,
            deadline=deadline,
            feedback=feedback,
            assigned=assigned,
            request_id=request_id,
            classification=classification,
            priority=desk.rules.priority[urgency],
        )


def answer_request(desk: Desk, request_id: str, text: str) -> requests.Request:
    """Answer a request in words (feedback on an instruction)."""
    desk.require("answer")
    check_text("text", text)
    return requests.answer(desk.store, desk.node.id, request_id, text, desk.clock())
