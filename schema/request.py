"""Topic requests (约稿) and reporting priorities (报送要点), issuer and target sides.

An issuer composes a request from a file (:func:`read_request_file`, :func:`compose`); signing
it off resolves its targets — single units, or ``all:<tier>:<unit>`` for every unit of that
tier below a unit ("all counties of 140200") among the units this node knows — and queues one
``request`` record down to all of them. At a target the request is stored; opening it the first
time sends a read receipt; a reply is an item whose ``request`` names it (it goes to the issuer
by default), or a 零报告. Each of these travels back as a ``request-status`` record, so the
issuer keeps a completion matrix: per target read, answered, and on time / late / missing
against the deadline. A request with a policy date schedules follow-ups (``data/requests.toml``).
"""

from __future__ import annotations

import calendar
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from schema import outbox
from schema.clock import CHINA, from_text, to_text
from schema.datafile import data_text
from schema.error import NotFound, TransitionError, ValidationError
from schema.itemfile import UNIT_ID, load_mapping, required_field, text_field, time_field, type_name
from schema.limit import InputLimits, check_document
from schema.network import GROUP, covered, depth_below
from schema.record import Record
from schema.store import Store
from schema.vocabulary import Classification, Tier, Urgency

REQUEST_KIND = "request"
STATUS_KIND = "request-status"
TOPIC, PRIORITIES, INSTRUCTED = "约稿", "报送要点", "批示"  # 批示: feedback on an instruction
SUPERVISED = "督办"  # 整改 steps asked of a unit short of its quota (schema/supervise.py)
WORDED = (INSTRUCTED, SUPERVISED)  # kinds answered in words, not with an item
REQUEST_KEYS = {
    "number",
    "kind",
    "issuer",
    "urgency",
    "classification",
    "topic",
    "guidance",
    "targets",
    "issued_at",
    "deadline",
    "publication",
    "points",
    "penalty",
    "contact",
    "signer",
    "themes",
    "policy_date",
}


class RequestState(StrEnum):
    """Where a request stands at the node that holds it."""

    AWAITING_SIGNOFF = "待签发"
    ISSUED = "已下发"
    RECEIVED = "已收到"


class Outcome(StrEnum):
    """How a target answered, against the deadline."""

    ON_TIME = "按时"
    LATE = "逾期"
    MISSING = "未报"
    PENDING = "未到期"


@dataclass(frozen=True)
class FollowUpRule:
    label: str
    days: int = 0
    months: int = 0

    def due(self, policy: date) -> date:
        """The day this follow-up falls due after ``policy``."""
        month = policy.month - 1 + self.months
        year, month = policy.year + month // 12, month % 12 + 1
        day = min(policy.day, calendar.monthrange(year, month)[1])
        return date(year, month, day) + timedelta(days=self.days)


@dataclass(frozen=True)
class RequestRules:
    """Defaults from ``schema/data/requests.toml``."""

    number_format: str
    classification: Classification
    answer_days: int
    follow_ups: tuple[FollowUpRule, ...]

    @classmethod
    def load(cls, path: Path | None = None) -> RequestRules:
        raw, _ = data_text("requests.toml", path)
        data = tomllib.loads(raw)
        return cls(
            number_format=str(data["number_format"]),
            classification=Classification.parse(data["classification"], "classification"),
            answer_days=int(data["answer_days"]),
            follow_ups=tuple(
                FollowUpRule(str(f["label"]), int(f.get("days", 0)), int(f.get("months", 0)))
                for f in data.get("follow_up", [])
            ),
        )


@dataclass(frozen=True)
class RequestDraft:
    """A request as written, before it is numbered and signed off."""

    kind: str
    topic: str
    guidance: str
    targets: tuple[str, ...]
    deadline: datetime
    urgency: Urgency = Urgency.ROUTINE
    classification: Classification | None = None
    number: str = ""
    publication: str = ""
    points: int = 0
    penalty: int = 0
    contact: str = ""
    themes: tuple[str, ...] = ()
    policy_date: date | None = None


@dataclass(frozen=True)
class Request:
    """A request held at a node (its issuer's or a target's)."""

    id: str
    issuer: str
    number: str
    state: RequestState
    draft: RequestDraft
    classification: Classification
    created_at: datetime
    author: str = ""
    signer: str = ""
    signed_at: datetime | None = None
    follows: str = ""  # the request this one follows up


@dataclass(frozen=True)
class TargetStatus:
    """One target of a request: what it did and how that stands against the deadline."""

    unit: str
    read_at: datetime | None
    answered_at: datetime | None
    zero_report: bool
    replies: tuple[str, ...]
    note: str
    outcome: Outcome


# -- the request file --------------------------------------------------------------------------


def read_request_file(path: Path) -> RequestDraft:
    """Read and validate a request file (TOML, or JSON by its name)."""
    return parse_request(load_mapping(path, "约稿文件"))


def parse_request(
    data: Mapping[str, Any], *, limits: InputLimits | None = None, trusted: bool = False
) -> RequestDraft:
    """Validate a mapping with the request-file keys (fixtures/requests.toml).

    Its shape and every text are held to the desk input limits first (:mod:`schema.limit`),
    a file's and a request received from another node alike; ``trusted`` skips that for what
    this node's store already holds (see :func:`schema.itemfile.parse_item`).
    """
    if not isinstance(data, Mapping):
        raise ValidationError("", f"约稿内容应为键值表，实际为 {type_name(data)}")
    if not trusted:
        check_document(data, limits)
    unknown = sorted(set(data) - REQUEST_KEYS)
    if unknown:
        allowed = "、".join(sorted(REQUEST_KEYS))
        raise ValidationError(unknown[0], f"未知字段（可用字段：{allowed}）")
    kind = text_field(data, "kind") or TOPIC
    if kind not in (TOPIC, PRIORITIES, *WORDED):
        raise ValidationError("kind", f"“{kind}”不是有效值，可选：{TOPIC}、{PRIORITIES}")
    classification = data.get("classification")
    policy = data.get("policy_date") or None
    return RequestDraft(
        kind=kind,
        topic=text_field(data, "topic", required=True),
        guidance=text_field(data, "guidance", required=True),
        targets=_targets(required_field(data, "targets")),
        deadline=time_field(required_field(data, "deadline"), "deadline"),
        urgency=Urgency.parse(data.get("urgency", Urgency.ROUTINE.value), "urgency"),
        classification=None
        if classification in (None, "")
        else Classification.parse(classification, "classification"),
        number=text_field(data, "number"),
        publication=text_field(data, "publication"),
        points=_integer(data, "points"),
        penalty=_integer(data, "penalty"),
        contact=text_field(data, "contact"),
        themes=_texts(data.get("themes", []), "themes"),
        policy_date=None if policy is None else _date(policy, "policy_date"),
    )


def _targets(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ValidationError("targets", '应为单位代码列表，如 ["140212", "all:county:140200"]')
    out: list[str] = []
    for entry in value:
        if not isinstance(entry, str):
            raise ValidationError("targets", f"应为文字，实际为 {type_name(entry)}")
        entry = entry.strip()
        if entry.startswith("all:"):
            parts = entry.split(":")
            if len(parts) != 3 or not UNIT_ID.match(parts[2]):
                raise ValidationError(
                    "targets", f"“{entry}”格式不符，应为 all:层级:单位代码，如 all:county:140200"
                )
            entry = f"all:{Tier.parse(parts[1], 'targets').name.lower()}:{parts[2]}"
        elif not UNIT_ID.match(entry):
            raise ValidationError("targets", f"“{entry}”不是有效的单位代码（如 140200）")
        if entry not in out:
            out.append(entry)
    return tuple(out)


def _integer(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(key, f"应为整数，实际为 {type_name(value)}")
    return value


def _texts(value: object, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValidationError(field, "应为文字列表")
    return tuple(v.strip() for v in value)


def _date(value: object, field: str) -> date:
    if isinstance(value, datetime):
        return value.astimezone(CHINA).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValidationError(field, f"“{value}”不是有效日期，例如 2026-10-15")


# -- targets -----------------------------------------------------------------------------------


def resolve_targets(store: Store, targets: tuple[str, ...], me: str = "") -> tuple[str, ...]:
    """The unit ids ``targets`` name among the units this node knows, in order, each once.

    ``all:<tier>:<unit>`` is every unit of that tier below ``<unit>`` (at any depth).
    Raises :class:`ValidationError` for an unknown unit or a group with no unit in it.
    """
    rows = store.query("SELECT id, tier, parent FROM unit")
    parent = {r["id"]: r["parent"] for r in rows}
    tier = {r["id"]: r["tier"] for r in rows}
    out: list[str] = []
    for target in targets:
        if target.startswith("all:"):
            _, tier_name, root = target.split(":")
            wanted = Tier.parse(tier_name).value
            found = sorted(
                u
                for u in parent
                if tier[u] == wanted and (depth_below(u, root, parent) or 0) > 0 and u != me
            )
            if not found:
                raise ValidationError(
                    "targets", f"本节点不知道 {root} 下有{wanted}级单位（{target}）"
                )
        elif target not in parent:
            raise ValidationError("targets", f"本节点不知道单位 {target}")
        else:
            found = [target]
        out.extend(u for u in found if u not in out)
    if me in out:
        raise ValidationError("targets", "约稿对象不能包含本单位")
    return tuple(out)


# -- issuer side -------------------------------------------------------------------------------


def compose(
    store: Store,
    me: str,
    author: str,
    draft: RequestDraft,
    at: datetime,
    rules: RequestRules,
    follows: str = "",
) -> Request:
    """Store a new request of ``me``, awaiting sign-off. Targets are checked now."""
    resolve_targets(store, draft.targets, me)
    year = at.astimezone(CHINA).year
    with store.write() as db:
        seq = _next(db.conn, "SELECT COUNT(*) FROM request WHERE issuer = ? AND year = ?", me, year)
        seq = store.above_seen("YG", year, seq)
        number = draft.number or rules.number_format.format(year=year, n=seq)
        clash = db.execute(
            "SELECT id FROM request WHERE issuer = ? AND number = ?", [me, number]
        ).fetchone()
        if clash:
            raise ValidationError("number", f"文号 {number} 已用于 {clash[0]}")
        request_id = f"{me}-YG-{year}-{seq:04d}"
        classification = draft.classification or rules.classification
        db.execute(
            "INSERT INTO request(id, issuer, number, year, state, body, classification, "
            "created_at, author, follows) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                request_id,
                me,
                number,
                year,
                RequestState.AWAITING_SIGNOFF.value,
                json.dumps(_draft_dict(draft), ensure_ascii=False),
                classification.value,
                to_text(at),
                author,
                follows,
            ],
        )
    return get(store, request_id)


def signoff(
    store: Store, me: str, signer: str, request_id: str, at: datetime, priority: int
) -> Request:
    """Sign a request off: resolve its targets, track them, queue it down to all of them."""
    request = get(store, request_id)
    if request.issuer != me:
        raise TransitionError(f"约稿 {request_id} 不是本单位发出的")
    if request.state is not RequestState.AWAITING_SIGNOFF:
        raise TransitionError(f"约稿 {request_id} 当前为“{request.state}”，不能签发")
    units = resolve_targets(store, request.draft.targets, me)
    # groups travel as groups: the record to every county of a province names all:county:…
    # (each county checks itself against it), so its bytes do not grow with the counties
    targets = request.draft.targets
    groups = targets if any(t.startswith(GROUP) for t in targets) else ()
    rules = RequestRules.load()
    with store.write() as db:
        db.execute(
            "UPDATE request SET state = ?, signer = ?, signed_at = ?, units = ? WHERE id = ?",
            [RequestState.ISSUED.value, signer, to_text(at), json.dumps(units), request_id],
        )
        _track(db.conn, request_id, units, request.draft.policy_date, rules)
        signed = get(store, request_id)
        outbox.enqueue(
            store,
            _request_record(signed, groups or units),
            units,
            priority=priority,
            classification=signed.classification,
            at=at,
            to=groups,
        )
    return signed


def matrix(store: Store, request_id: str, now: datetime) -> list[TargetStatus]:
    """Per target of an issued request: read, answered, and the outcome at ``now``."""
    request = get(store, request_id)
    rows = store.query(
        "SELECT * FROM request_target WHERE request_id = ? ORDER BY unit", (request_id,)
    )
    return [_status(r, request.draft.deadline, now) for r in rows]


def _status(row: Mapping[str, Any], deadline: datetime, now: datetime) -> TargetStatus:
    answered = from_text(row["answered_at"]) if row["answered_at"] else None
    if answered is not None:
        outcome = Outcome.ON_TIME if answered <= deadline else Outcome.LATE
    else:
        outcome = Outcome.MISSING if now > deadline else Outcome.PENDING
    return TargetStatus(
        unit=row["unit"],
        read_at=from_text(row["read_at"]) if row["read_at"] else None,
        answered_at=answered,
        zero_report=bool(row["zero_report"]),
        replies=tuple(json.loads(row["replies"])),
        note=row["note"],
        outcome=outcome,
    )


def follow_ups_due(store: Store, me: str, today: date) -> list[dict[str, Any]]:
    """Follow-ups of this node's requests that are due and not yet made."""
    return store.query(
        "SELECT f.request_id, f.step, f.label, f.due, r.number FROM request_followup f "
        "JOIN request r ON r.id = f.request_id WHERE r.issuer = ? AND f.made = '' "
        "AND f.due <= ? ORDER BY f.due, f.request_id, f.step",
        (me, today.isoformat()),
    )


def follow_up(
    store: Store, me: str, author: str, request_id: str, at: datetime, rules: RequestRules
) -> Request:
    """Compose the earliest due follow-up of ``request_id`` (awaiting sign-off)."""
    due = [
        f
        for f in follow_ups_due(store, me, at.astimezone(CHINA).date())
        if f["request_id"] == request_id
    ]
    if not due:
        raise TransitionError(f"约稿 {request_id} 没有到期的跟踪约稿")
    step = due[0]
    original = get(store, request_id)
    deadline_day = date.fromisoformat(step["due"]) + timedelta(days=rules.answer_days)
    draft = replace(
        original.draft,
        number="",
        topic=f"{original.draft.topic}（跟踪·{step['label']}）",
        deadline=datetime.combine(deadline_day, time(18, 0), CHINA),
        policy_date=None,
    )
    with store.write() as db:
        made = compose(store, me, author, draft, at, rules, follows=request_id)
        db.execute(
            "UPDATE request_followup SET made = ? WHERE request_id = ? AND step = ?",
            [made.id, request_id, step["step"]],
        )
    return made


# -- target side -------------------------------------------------------------------------------


def _track(
    conn: Any, request_id: str, units: Sequence[str], policy: date | None, rules: RequestRules
) -> None:
    """At the issuer: a row per target to track, and the follow-ups a policy date brings."""
    conn.executemany(
        "INSERT OR IGNORE INTO request_target(request_id, unit) VALUES (?, ?)",
        [(request_id, u) for u in units],
    )
    if policy is not None:
        conn.executemany(
            "INSERT OR IGNORE INTO request_followup(request_id, step, label, due) VALUES (?,?,?,?)",
            [
                (request_id, n, rule.label, rule.due(policy).isoformat())
                for n, rule in enumerate(rules.follow_ups, 1)
            ],
        )


def restore_issued(store: Store, me: str, record: Record) -> bool:
    """At the issuer restored from a backup: a request of its own as signed off (its record,
    returned by a target; schema/resync.py), tracked again; whether it was missing."""
    p = record.payload
    if p.get("issuer") != me or p.get("id") != record.id:
        raise ValidationError("issuer", f"约稿 {record.id} 不是本单位发出的")
    if find(store, record.id) is not None:
        return False
    draft = _draft_from(p["body"])
    units = resolve_targets(store, draft.targets, me)
    with store.write() as db:
        _insert_signed(db, p, draft, RequestState.ISSUED, list(units), None)
        _track(db.conn, record.id, units, draft.policy_date, RequestRules.load())
    return True


def restore_status(store: Store, me: str, record: Record) -> bool:
    """At a target restored from a backup: its own answer to a request as it last sent it
    (returned by the issuer; schema/resync.py); whether it was older here. ``NotFound``
    while the request itself has not come back."""
    request_id = str(record.payload.get("request", ""))
    if record.id != f"rq:{request_id}:{me}":
        raise ValidationError("request", f"约稿答复 {record.id} 不是本单位的")
    row = store.one(
        "SELECT version FROM request_target WHERE request_id = ? AND unit = ?", (request_id, me)
    )
    if row is None:
        raise NotFound(f"约稿 {request_id} 尚未重新收到，本单位的答复待其到达后恢复")
    if int(row["version"]) >= record.version:
        return False
    with store.write() as db:
        _set_status(db, request_id, me, record)
    return True


def _set_status(db: Any, request_id: str, unit: str, record: Record) -> int:
    """A target's row as its status record says (read, answered, 零报告, replies, note)."""
    p = record.payload
    return int(
        db.execute(
            "UPDATE request_target SET read_at = ?, answered_at = ?, zero_report = ?, "
            "replies = ?, note = ?, version = ? WHERE request_id = ? AND unit = ?",
            [
                p.get("read_at"),
                p.get("answered_at"),
                int(bool(p.get("zero_report"))),
                json.dumps(list(json.loads(p.get("replies") or "[]"))),
                str(p.get("note") or ""),
                record.version,
                request_id,
                unit,
            ],
        ).rowcount
    )


def open_request(store: Store, me: str, request_id: str, at: datetime) -> Request:
    """A target opens a request: the first time, a read receipt goes to the issuer."""
    request = get(store, request_id)
    if request.issuer != me:
        own = _own_row(store, request_id, me)
        if not own["read_at"]:
            _report(store, request, me, at, read_at=to_text(at))
    return request


def zero_report(store: Store, me: str, request_id: str, note: str, at: datetime) -> Request:
    """Answer a topic request with 零报告 (nothing to report)."""
    request = _answerable(store, me, request_id)
    own = _own_row(store, request_id, me)
    if own["answered_at"]:
        raise TransitionError(f"约稿 {request_id} 已于 {own['answered_at']} 答复")
    _report(
        store,
        request,
        me,
        at,
        read_at=own["read_at"] or to_text(at),
        answered_at=to_text(at),
        zero_report=1,
        note=note,
    )
    return request


def answer(store: Store, me: str, request_id: str, text: str, at: datetime) -> Request:
    """Answer a request in words (the feedback on an instruction)."""
    request = _answerable(store, me, request_id)
    if not text.strip():
        raise ValidationError("text", "反馈内容不能为空")
    own = _own_row(store, request_id, me)
    _report(
        store,
        request,
        me,
        at,
        read_at=own["read_at"] or to_text(at),
        answered_at=own["answered_at"] or to_text(at),
        note=text.strip(),
    )
    return request


def replied(store: Store, me: str, request_id: str, item_id: str, at: datetime) -> None:
    """An item answering ``request_id`` was signed off here (called by the desk's sign-off)."""
    request = _answerable(store, me, request_id)
    own = _own_row(store, request_id, me)
    replies = json.loads(own["replies"])
    if item_id in replies:
        return
    _report(
        store,
        request,
        me,
        at,
        read_at=own["read_at"] or to_text(at),
        answered_at=own["answered_at"] or to_text(at),
        replies=json.dumps([*replies, item_id]),
    )


def check_themes(store: Store, themes: tuple[str, ...]) -> None:
    """Each theme an item is tagged with is a theme of a reporting-priorities notice held here."""
    known: set[str] = set()
    for row in store.query("SELECT body FROM request"):
        body = json.loads(row["body"])
        if body.get("kind") == PRIORITIES:
            known.update(body.get("themes", []))
    for theme in themes:
        if theme not in known:
            raise ValidationError("themes", f"“{theme}”不是本单位收到的报送要点中的主题")


def themes_held(store: Store) -> list[str]:
    """Every theme of the reporting-priorities notices held here (for the desk and leads)."""
    found: list[str] = []
    for row in store.query("SELECT body FROM request ORDER BY created_at DESC"):
        body = json.loads(row["body"])
        if body.get("kind") == PRIORITIES:
            found += [t for t in body.get("themes", []) if t not in found]
    return found


def reply_target(store: Store, me: str, request_id: str) -> str:
    """Where a reply to ``request_id`` goes by default: its issuer."""
    return _answerable(store, me, request_id).issuer


def _answerable(store: Store, me: str, request_id: str) -> Request:
    request = get(store, request_id)
    if request.issuer == me or request.state is not RequestState.RECEIVED:
        raise TransitionError(f"约稿 {request_id} 不是发给本单位的")
    if request.draft.kind == PRIORITIES:
        raise TransitionError(f"{request.number}是{request.draft.kind}，不需要答复")
    return request


def _own_row(store: Store, request_id: str, me: str) -> dict[str, Any]:
    row = store.one(
        "SELECT * FROM request_target WHERE request_id = ? AND unit = ?", (request_id, me)
    )
    if row is None:
        raise NotFound(f"约稿 {request_id} 不是发给本单位的")
    return row


def _report(store: Store, request: Request, me: str, at: datetime, **changes: Any) -> None:
    """Change this target's row and send the whole row to the issuer, one version up."""
    with store.write() as db:
        sets = ", ".join(f"{k} = ?" for k in changes)
        db.execute(
            f"UPDATE request_target SET {sets}, version = version + 1 "
            "WHERE request_id = ? AND unit = ?",
            [*changes.values(), request.id, me],
        )
        row = _own_row(store, request.id, me)
        payload = {k: row[k] for k in _STATUS_FIELDS}
        outbox.enqueue(
            store,
            Record(
                id=f"rq:{request.id}:{me}",
                kind=STATUS_KIND,
                version=int(row["version"]),
                origin=me,
                payload={"request": request.id, **payload},
            ),
            (request.issuer,),
            priority=0,
            classification=request.classification,
            at=at,
        )


_STATUS_FIELDS = ("read_at", "answered_at", "zero_report", "replies", "note")


# -- records -----------------------------------------------------------------------------------


def _request_record(request: Request, units: tuple[str, ...]) -> Record:
    return Record(
        id=request.id,
        kind=REQUEST_KIND,
        version=1,
        origin=request.issuer,
        payload={
            "id": request.id,
            "issuer": request.issuer,
            "number": request.number,
            "body": _draft_dict(request.draft),
            "classification": request.classification.value,
            "signer": request.signer,
            "signed_at": to_text(request.signed_at) if request.signed_at else "",
            "created_at": to_text(request.created_at),
            "follows": request.follows,
            "units": list(units),
        },
    )


def _insert_signed(
    db: Any,
    p: dict[str, Any],
    draft: RequestDraft,
    state: RequestState,
    units: list[Any],
    received_at: str | None,
) -> None:
    """A request's row from its signed record's payload ``p``: received at a target, or
    put back at its issuer after a restore (once: a row already there stays)."""
    db.execute(
        "INSERT OR IGNORE INTO request(id, issuer, number, year, state, body, "
        "classification, created_at, author, signer, signed_at, follows, units, "
        "received_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            p["id"],
            p["issuer"],
            p["number"],
            from_text(p["created_at"]).astimezone(CHINA).year,
            state.value,
            json.dumps(_draft_dict(draft), ensure_ascii=False),
            Classification.parse(p["classification"]).value,
            p["created_at"],
            "",
            p.get("signer", ""),
            p.get("signed_at") or None,
            p.get("follows", ""),
            json.dumps(units),
            received_at,
        ],
    )


def apply_request(store: Store, record: Record, me: str, at: datetime) -> None:
    """At a target: keep a request addressed to it (called by ``schema.inbound``)."""
    p = record.payload  # its issuer is its maker: schema/authority.py, checked first
    units = p.get("units", [])
    if not isinstance(units, list) or not covered(store, me, [str(u) for u in units]):
        raise ValidationError("units", f"约稿 {record.id} 不是发给本单位（{me}）的")
    draft = _draft_from(p["body"])
    with store.write() as db:
        _insert_signed(db, p, draft, RequestState.RECEIVED, p["units"], to_text(at))
        db.execute(
            "INSERT OR IGNORE INTO request_target(request_id, unit) VALUES (?, ?)", [p["id"], me]
        )


def apply_status(store: Store, record: Record, me: str, at: datetime) -> None:
    """At the issuer: a target's read receipt, reply or 零报告 (called by ``schema.inbound``)."""
    p = record.payload
    request = find(store, str(p.get("request", "")))
    if request is None or request.issuer != me:
        raise NotFound(f"本单位没有发出约稿 {p.get('request')}")
    unit = record.origin
    with store.write() as db:
        found = _set_status(db, request.id, unit, record)
        if found == 0:
            raise ValidationError("unit", f"{unit} 不是约稿 {request.id} 的对象")


# -- reading -----------------------------------------------------------------------------------


def find(store: Store, request_id: str) -> Request | None:
    row = store.one("SELECT * FROM request WHERE id = ?", (request_id,))
    return None if row is None else _from_row(row)


def get(store: Store, request_id: str) -> Request:
    request = find(store, request_id)
    if request is None:
        raise NotFound(f"没有约稿 {request_id}")
    return request


def listing(store: Store, me: str, now: datetime) -> list[dict[str, Any]]:
    """Every request at this node, newest first: issued ones with answered/total counts,
    received ones with this node's own answer."""
    out: list[dict[str, Any]] = []
    rows = store.query("SELECT * FROM request ORDER BY created_at DESC, id DESC")
    for row in rows:
        request = _from_row(row)
        entry: dict[str, Any] = {
            "id": request.id,
            "number": request.number,
            "kind": request.draft.kind,
            "issuer": request.issuer,
            "topic": request.draft.topic,
            "urgency": request.draft.urgency.value,
            "deadline": request.draft.deadline,
            "state": request.state.value,
        }
        if request.issuer == me:
            statuses = matrix(store, request.id, now)
            entry["targets"] = len(statuses)
            entry["answered"] = sum(1 for s in statuses if s.answered_at)
        else:
            own = store.one(
                "SELECT * FROM request_target WHERE request_id = ? AND unit = ?",
                (request.id, me),
            )
            if own is not None:
                entry["own"] = _status(own, request.draft.deadline, now)
        out.append(entry)
    return out


def _from_row(row: Mapping[str, Any]) -> Request:
    return Request(
        id=row["id"],
        issuer=row["issuer"],
        number=row["number"],
        state=RequestState(row["state"]),
        draft=_draft_from(json.loads(row["body"]), trusted=True),
        classification=Classification(row["classification"]),
        created_at=from_text(row["created_at"]),
        author=row["author"] or "",
        signer=row["signer"] or "",
        signed_at=from_text(row["signed_at"]) if row["signed_at"] else None,
        follows=row["follows"] or "",
    )


def _draft_dict(draft: RequestDraft) -> dict[str, Any]:
    return {
        "kind": draft.kind,
        "topic": draft.topic,
        "guidance": draft.guidance,
        "targets": list(draft.targets),
        "deadline": to_text(draft.deadline),
        "urgency": draft.urgency.value,
        "classification": draft.classification.value if draft.classification else "",
        "number": draft.number,
        "publication": draft.publication,
        "points": draft.points,
        "penalty": draft.penalty,
        "contact": draft.contact,
        "themes": list(draft.themes),
        "policy_date": draft.policy_date.isoformat() if draft.policy_date else "",
    }


def _draft_from(data: Mapping[str, Any], *, trusted: bool = False) -> RequestDraft:
    """A request's body as received (held to the input limits) or as stored here (``trusted``:
    see :func:`parse_request`), empty values left out."""
    if not isinstance(data, Mapping):  # a received body is whatever the sender wrote
        raise ValidationError("body", f"约稿内容应为键值表，实际为 {type_name(data)}")
    kept = {k: v for k, v in data.items() if v not in ("", None)}
    return parse_request(kept, trusted=trusted)


def _next(conn: Any, sql: str, *args: Any) -> int:
    return int(conn.execute(sql, args).fetchone()[0]) + 1
