"""Who may make which record: the one table a received record is checked against.

A record's ``origin`` is its maker. The daemon (``syncd/proof.py``) has verified the maker's
signature over the record and the addressees it names before :func:`schema.inbound.apply`
calls :func:`check`; this module holds the rest of the rule, which is about the domain and so
lives here, with no crypto:

* every record is addressed to the node applying it (``to`` as signed, not as re-addressed by
  whoever carried it);
* its id belongs to its maker, so no node can take another's record id first and make the
  real record a "duplicate";
* what it claims matches its maker: an item revision only from its origin; a decision on the
  edge A→B only from B; a topic request, instruction, publication issue only from its issuer;
  a request status only from the target; a receipt only from the recipient; a question to
  verify an item (核实) only from the edge's receiver, its answer only from the source asked;
  a unit's roster (通讯录) only from the unit; a signed-off bulletin only from its issuer;
* what it relays is cited: a forward or merge cites the signed records of the sources made
  by other nodes, a relayed instruction cites the issuer's signed instruction, a relayed
  adoption feedback cites the deciding node's signed decision. ``cites`` in the payload holds
  those signed records as they were received (their signatures are verified by the daemon,
  recursively, before apply); here their content is matched to the claim.

DESIGN notes: ``docs/authority.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from schema.error import ValidationError
from schema.record import Record

ITEM, DECISION = "item", "decision"
REQUEST, STATUS = "request", "request-status"
ISSUE, INSTRUCTION, FEEDBACK = "issue", "instruction", "feedback"
RECEIPT, CERTIFICATE, REVOCATION = "receipt", "certificate", "revocation"
VERIFY, VERIFY_ANSWER = "verify", "verify-answer"
ROSTER = "roster"
BULLETIN = "bulletin"
RESYNC, RETURNED, RESYNC_DONE = "resync", "returned", "resync-done"  # schema/resync.py
RESYNC_HANDED = "resync-handed"
MAX_CITE_DEPTH = 8  # tiers a provenance chain may span (township … State Council, with room)

# the fields an instruction relayed down keeps exactly as its issuer signed them
_INSTRUCTION_FIELDS = (
    "id",
    "issuer",
    "subject",
    "leader",
    "level",
    "text",
    "at",
    "feedback",
    "deadline",
    "assigned",
    "request_id",
)


class AuthorityError(ValidationError):
    """A received record its maker may not make, or not for this node; ``code`` is stable:
    ``record-addressee``, ``record-authority`` or ``record-citation``."""

    title = "记录无权生效"

    def __init__(self, code: str, field: str, message: str) -> None:
        super().__init__(field, message)
        self.code = code


def owner(record_id: str, parts: int = 2) -> str:
    """The node that numbers an id of the form ``{node}-…`` with ``parts`` trailing parts
    (``140212-2026-00017`` → ``140212``; ``140200-fgw-2026-00003`` → ``140200-fgw``)."""
    pieces = record_id.rsplit("-", parts)
    return pieces[0] if len(pieces) == parts + 1 else ""


@dataclass(frozen=True)
class Cited:
    """A signed record found in ``cites`` (as received; the daemon verified its signature)."""

    id: str
    kind: str
    origin: str
    payload: dict[str, Any]
    to: tuple[str, ...]


def cites_of(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The signed records a payload cites (raw, as they travel)."""
    cites = payload.get("cites", [])
    if not isinstance(cites, list) or not all(isinstance(c, dict) for c in cites):
        raise AuthorityError("record-citation", "cites", "引用的记录格式不符")
    return cites


def _cited(raw: dict[str, Any]) -> Cited:
    try:
        to = raw.get("to", [])
        if not isinstance(to, list) or not all(isinstance(t, str) for t in to):
            raise TypeError
        payload = raw["payload"]
        if not isinstance(payload, dict):
            raise TypeError
        return Cited(str(raw["id"]), str(raw["kind"]), str(raw["origin"]), payload, tuple(to))
    except (KeyError, TypeError) as exc:
        raise AuthorityError("record-citation", "cites", "引用的记录格式不符") from exc


def _find(record: Record, kind: str, record_id: str, maker: str) -> Cited:
    for raw in cites_of(record.payload):
        cited = _cited(raw)
        if cited.id == record_id and cited.kind == kind and cited.origin == maker:
            return cited
    raise AuthorityError(
        "record-citation", "cites", f"记录 {record.id} 未引用 {maker} 签发的记录 {record_id}"
    )


def _need(ok: bool, field: str, message: str) -> None:
    if not ok:
        raise AuthorityError("record-authority", field, message)


# -- the rules, one per kind ---------------------------------------------------------------------


def _item(record: Record, me: str) -> None:
    p = record.payload
    data = p.get("item")
    _need(isinstance(data, dict), "item", "记录缺少信息内容")
    assert isinstance(data, dict)
    maker = record.origin
    item_id = str(data.get("id", ""))
    _need(record.id == item_id, "id", f"记录编号 {record.id} 与信息编号不符")
    _need(
        data.get("origin") == maker and owner(item_id) == maker,
        "item.origin",
        f"信息 {item_id} 不是 {maker} 编发的，{maker} 不能报送它的修订",
    )
    edges = p.get("edges", [])
    _need(
        isinstance(edges, list)
        and all(isinstance(e, list) and len(e) == 2 and e[0] == maker for e in edges),
        "edges",
        f"记录 {record.id} 的报送单位与编发节点 {maker} 不符",
    )
    sources = data.get("sources", [])
    _need(
        isinstance(sources, list) and all(isinstance(s, str) for s in sources),
        "item.sources",
        "来源信息格式不符",
    )
    for source in sources:
        source_origin = owner(source)
        if source_origin and source_origin != maker:
            # the source's own signed revision proves who wrote it (and so who is credited)
            _find(record, ITEM, source, source_origin)


def _decision(record: Record, me: str) -> None:
    p = record.payload
    item_id, frm, to = p.get("item_id"), p.get("from"), p.get("to")
    _need(
        to == record.origin,
        "to",
        f"决定记录 {record.id} 不是由收件单位 {to} 作出的",
    )
    _need(record.id == f"edge:{item_id}:{frm}>{to}", "id", f"决定记录编号 {record.id} 不符")


def _issued(record: Record, what: str) -> None:
    """A record its issuer made and numbered (``{issuer}-XX-{year}-{n}``): a 约稿, a 通报."""
    p = record.payload
    _need(
        p.get("issuer") == record.origin, "issuer", f"{what} {record.id} 的发文单位与发送节点不符"
    )
    _need(
        record.id == p.get("id") and owner(record.id, 3) == record.origin,
        "id",
        f"{what}编号 {record.id} 不属于 {record.origin}",
    )


def _request(record: Record, me: str) -> None:
    _issued(record, "约稿")


def _status(record: Record, me: str) -> None:
    request = str(record.payload.get("request", ""))
    _need(
        record.id == f"rq:{request}:{record.origin}",
        "id",
        f"约稿回执 {record.id} 不是由 {record.origin} 作出的",
    )


def _issue(record: Record, me: str) -> None:
    p = record.payload
    _need(
        p.get("publisher") == record.origin,
        "publisher",
        f"刊物 {p.get('id')} 的编发单位与发送节点不符",
    )
    expected = f"issue:{record.origin}:{p.get('id')}"
    _need(record.id == expected, "id", f"刊物记录编号 {record.id} 不符")


def _instruction(record: Record, me: str) -> None:
    p = record.payload
    issuer, made = str(p.get("issuer", "")), str(p.get("id", ""))
    _need(owner(made, 3) == issuer, "id", f"批示编号 {made} 不属于 {issuer}")
    if issuer == record.origin:
        _need(record.id == made, "id", f"批示记录编号 {record.id} 不符")
        return
    # relayed down a chain by a node below the issuer: the issuer's own record is cited
    _need(record.id == f"{made}@{record.origin}", "id", f"转发的批示记录编号 {record.id} 不符")
    original = _find(record, INSTRUCTION, made, issuer)
    for name in _INSTRUCTION_FIELDS:
        if original.payload.get(name) != p.get(name):
            raise AuthorityError(
                "record-citation", name, f"转发的批示 {made} 与 {issuer} 签发的原件不符"
            )
    items = p.get("items", [])
    if not isinstance(items, list) or not set(original.payload.get("items", [])) <= set(items):
        raise AuthorityError("record-citation", "items", f"转发的批示 {made} 漏掉了原件涉及的信息")


def _feedback(record: Record, me: str) -> None:
    p = record.payload
    via, by = str(p.get("via", "")), str(p.get("by", ""))
    _need(
        record.id.startswith(f"fb:{via}:{by}:") and record.id.endswith(f"@{record.origin}"),
        "id",
        f"采用情况记录编号 {record.id} 不符",
    )
    # the deciding node's own decision on ``via``, signed by it, travels with every relay
    for raw in cites_of(p):
        cited = _cited(raw)
        d = cited.payload
        if (
            cited.kind == DECISION
            and cited.origin == by
            and d.get("to") == by
            and d.get("item_id") == via
            and cited.id == f"edge:{via}:{d.get('from')}>{by}"
        ):
            same = all(d.get(k) == p.get(k) for k in ("state", "at", "note"))
            if not same or str(d.get("placement") or "") != str(p.get("placement") or ""):
                raise AuthorityError(
                    "record-citation", "state", f"采用情况与 {by} 签发的决定记录不符"
                )
            return
    raise AuthorityError("record-citation", "cites", f"采用情况记录 {record.id} 未引用 {by} 的决定")


def _receipt(record: Record, me: str) -> None:
    _need(record.payload.get("by") == record.origin, "by", "回执不是由收件节点本身签发的")
    _need(record.id.startswith(f"receipt:{record.origin}:"), "id", f"回执编号 {record.id} 不符")


def _verify(record: Record, me: str) -> None:
    p = record.payload
    _need(p.get("to") == record.origin, "to", f"核实要求 {record.id} 不是由收件单位提出的")
    _need(
        record.id == p.get("id") and owner(record.id, 3) == record.origin,
        "id",
        f"核实要求编号 {record.id} 不属于 {record.origin}",
    )
    _need(p.get("from") == me, "from", f"核实要求 {record.id} 不是问本节点（{me}）的")


def _verify_answer(record: Record, me: str) -> None:
    p = record.payload
    asked = str(p.get("id", ""))
    _need(p.get("from") == record.origin, "from", f"核实答复 {record.id} 不是由被问单位作出的")
    _need(
        record.id == f"answer:{asked}" and owner(asked, 3) == p.get("to") == me,
        "id",
        f"核实答复 {record.id} 不是答复本节点（{me}）的核实要求",
    )


def _roster(record: Record, me: str) -> None:
    _need(record.payload.get("unit") == record.origin, "unit", "通讯录不是由本单位报送的")
    _need(record.id == f"roster:{record.origin}", "id", f"通讯录记录编号 {record.id} 不符")


def _bulletin(record: Record, me: str) -> None:
    _issued(record, "通报")


def _resync(record: Record, me: str) -> None:
    """A restored node asks its neighbour to resync: only for itself."""
    _need(record.payload.get("node") == record.origin, "node", "重新同步请求不是由该节点本身发出的")
    _need(
        record.id.startswith(f"resync:{record.origin}:"), "id", f"重新同步请求编号 {record.id} 不符"
    )


def _resync_answer(record: Record, me: str) -> None:
    """A neighbour's answer to a resync (a returned record, or that it is done): its own id;
    what a returned record carries must be signed by the node it returns to, which the
    daemon checks."""
    _need(
        record.id.startswith(f"{record.kind}:{record.origin}:"),
        "id",
        f"回传记录编号 {record.id} 不符",
    )


def _trust(record: Record, me: str) -> None:
    """Certificates and revocations carry their own proofs (a chain to the root, the issuer's
    signature over the notice), checked by the daemon's trust layer."""


_RULES: dict[str, Callable[[Record, str], None]] = {
    ITEM: _item,
    DECISION: _decision,
    REQUEST: _request,
    STATUS: _status,
    ISSUE: _issue,
    INSTRUCTION: _instruction,
    FEEDBACK: _feedback,
    RECEIPT: _receipt,
    VERIFY: _verify,
    VERIFY_ANSWER: _verify_answer,
    ROSTER: _roster,
    BULLETIN: _bulletin,
    CERTIFICATE: _trust,
    REVOCATION: _trust,
    RESYNC: _resync,
    RETURNED: _resync_answer,
    RESYNC_DONE: _resync_answer,
    RESYNC_HANDED: _resync_answer,
}


def check(record: Record, me: str, to: Sequence[str]) -> None:
    """Refuse (:class:`AuthorityError`) a record made by ``record.origin`` and addressed to
    ``to`` (both as its maker signed them) that node ``me`` must not apply."""
    if me not in to:
        raise AuthorityError(
            "record-addressee", "to", f"记录 {record.id} 不是 {record.origin} 发给本节点（{me}）的"
        )
    rule = _RULES.get(record.kind)
    if rule is None:
        raise AuthorityError("record-authority", "kind", f"未知的记录类型“{record.kind}”")
    rule(record, me)


def check_cited(raw: dict[str, Any]) -> None:
    """The rule for a record met inside ``cites`` (made by its ``origin``, addressed to
    whomever it was; it is cited, not applied): its claims match its maker, and what it
    relays is cited in turn."""
    cited = _cited(raw)
    rule = _RULES.get(cited.kind)
    if rule is None:
        raise AuthorityError("record-citation", "kind", f"引用了未知类型的记录“{cited.kind}”")
    record = Record(cited.id, cited.kind, 0, cited.origin, cited.payload)
    try:
        rule(record, "")
    except AuthorityError as exc:
        raise AuthorityError("record-citation", exc.field, exc.reason) from exc


def citable(record: Record, to: Sequence[str]) -> dict[str, Any]:
    """A record as another record cites it when no signed form is at hand (records delivered
    in process, as tests do; the daemon always gives the signed form)."""
    return {
        "id": record.id,
        "kind": record.kind,
        "version": record.version,
        "origin": record.origin,
        "payload": record.payload,
        "to": sorted(to),
    }
