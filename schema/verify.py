"""核实 (verification): a receiving desk asks the source of an item to verify it.

「对重点地区、重点领域进行明查暗访」: before an office prints what a unit reported, it may ask
that unit to confirm a figure, a name, a fact. The question (with a deadline) is a decision
on the edge source → here: it travels down to the source as a ``verify`` record, the source's
desk answers it in words, and the answer travels back up as a ``verify-answer`` record. Both
are kept, with who asked or answered and when, and shown in the item's history at both ends.

While a question of this office's is open the item cannot be printed here: placing it in an
issue and signing off an issue holding it are refused (:func:`check_publishable`). Several
questions may be asked of one item, one after another; each is answered once.

Ids: ``{asker}-HS-{year}-{seq}`` (the asker numbers its questions); the answer's record id is
``answer:{question id}``. Who may make them is checked in ``schema/authority.py``: a
question only by the edge's receiver, for its sender; an answer only by the source asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schema import outbox
from schema.clock import CHINA, from_text, to_text
from schema.error import NotFound, TransitionError, ValidationError
from schema.limit import check_text
from schema.record import Edge, Record
from schema.store import Store
from schema.vocabulary import Classification

ASK_KIND = "verify"
ANSWER_KIND = "verify-answer"


@dataclass(frozen=True)
class Verification:
    """One question asked of an item's source, and its answer once given."""

    id: str
    item_id: str
    asker: str  # the office that asked (the edge's receiver)
    source: str  # the unit asked (the edge's sender)
    question: str
    deadline: datetime
    asked_by: str
    asked_at: datetime
    answer: str = ""
    answered_by: str = ""
    answered_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.answered_at is None

    def overdue(self, now: datetime) -> bool:
        return self.open and now > self.deadline


def _from_row(row: dict[str, Any]) -> Verification:
    return Verification(
        id=row["id"],
        item_id=row["item_id"],
        asker=row["asker"],
        source=row["source"],
        question=row["question"],
        deadline=from_text(row["deadline"]),
        asked_by=row["asked_by"],
        asked_at=from_text(row["asked_at"]),
        answer=row["answer"],
        answered_by=row["answered_by"],
        answered_at=from_text(row["answered_at"]) if row["answered_at"] else None,
    )


def on_item(store: Store, item_id: str) -> list[Verification]:
    """Every question asked about ``item_id`` that this node holds, oldest first."""
    rows = store.query(
        "SELECT * FROM verification WHERE item_id = ? ORDER BY asked_at, id", (item_id,)
    )
    return [_from_row(r) for r in rows]


def get(store: Store, verification_id: str) -> Verification:
    row = store.one("SELECT * FROM verification WHERE id = ?", (verification_id,))
    if row is None:
        raise NotFound(f"没有编号为 {verification_id} 的核实要求")
    return _from_row(row)


def open_for(store: Store, me: str, item_id: str) -> Verification | None:
    """The open question about ``item_id`` asked of ``me`` (the source), if any."""
    row = store.one(
        "SELECT * FROM verification WHERE item_id = ? AND source = ? AND answered_at IS NULL "
        "ORDER BY asked_at, id LIMIT 1",
        (item_id, me),
    )
    return _from_row(row) if row is not None else None


def open_asked(store: Store, me: str, item_ids: list[str] | tuple[str, ...]) -> list[Verification]:
    """The open questions ``me`` asked about any of ``item_ids``."""
    if not item_ids:
        return []
    marks = ",".join("?" * len(item_ids))
    rows = store.query(
        f"SELECT * FROM verification WHERE asker = ? AND answered_at IS NULL "
        f"AND item_id IN ({marks}) ORDER BY asked_at, id",
        (me, *item_ids),
    )
    return [_from_row(r) for r in rows]


def check_publishable(store: Store, me: str, item_ids: list[str] | tuple[str, ...]) -> None:
    """Refuse (:class:`TransitionError`) to print an item while a question ``me`` asked about
    it is unanswered."""
    waiting = open_asked(store, me, item_ids)
    if waiting:
        first = waiting[0]
        due = first.deadline.astimezone(CHINA)
        raise TransitionError(
            f"信息 {first.item_id} 正在核实（{first.id}，{due.month}月{due.day}日 {due:%H:%M}"
            "前答复），来源单位答复后才能刊用"
        )


def ask(
    store: Store,
    edge: Edge,
    question: str,
    deadline: datetime,
    actor: str,
    at: datetime,
    *,
    priority: int,
    classification: Classification,
) -> Verification:
    """Ask the sender of ``edge`` (received here) to verify the item; queue the question."""
    question = question.strip()
    if not question:
        raise ValidationError("question", "核实要求须写明要核实的内容")
    check_text("note", question)
    if deadline <= at:
        raise ValidationError("deadline", "答复时限应晚于现在")
    me = edge.to_unit
    year = at.astimezone(CHINA).year
    with store.write() as db:
        if open_asked(store, me, [edge.item_id]):
            raise TransitionError(f"信息 {edge.item_id} 已在核实中，待来源单位答复后再提新的问题")
        seq = db.execute(
            "SELECT COUNT(*) FROM verification WHERE asker = ? AND id LIKE ?",
            [me, f"{me}-HS-{year}-%"],
        ).fetchone()[0]
        seq = store.above_seen("HS", year, seq + 1) - 1
        made = Verification(
            id=f"{me}-HS-{year}-{seq + 1:04d}",
            item_id=edge.item_id,
            asker=me,
            source=edge.from_unit,
            question=question,
            deadline=deadline,
            asked_by=actor,
            asked_at=at,
        )
        _insert(db, made)
        outbox.enqueue(
            store,
            _ask_record(made),
            (made.source,),
            priority=priority,
            classification=classification,
            at=at,
        )
    return made


def answer(
    store: Store,
    me: str,
    item_id: str,
    text: str,
    actor: str,
    at: datetime,
    *,
    priority: int,
    classification: Classification,
) -> Verification:
    """Answer the open question about ``item_id`` asked of ``me``; queue the answer."""
    text = text.strip()
    if not text:
        raise ValidationError("answer", "答复须写明核实结果")
    check_text("note", text)
    with store.write():
        asked = open_for(store, me, item_id)
        if asked is None:
            raise NotFound(f"没有待答复的关于 {item_id} 的核实要求")
        store.db.execute(
            "UPDATE verification SET answer = ?, answered_by = ?, answered_at = ? WHERE id = ?",
            [text, actor, to_text(at), asked.id],
        )
        done = get(store, asked.id)
        outbox.enqueue(
            store,
            _answer_record(done),
            (done.asker,),
            priority=priority,
            classification=classification,
            at=at,
        )
    return done


def _insert(db: Any, made: Verification) -> None:
    db.execute(
        "INSERT OR IGNORE INTO verification(id, item_id, asker, source, question, deadline, "
        "asked_by, asked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            made.id,
            made.item_id,
            made.asker,
            made.source,
            made.question,
            to_text(made.deadline),
            made.asked_by,
            to_text(made.asked_at),
        ],
    )


def _ask_record(made: Verification) -> Record:
    return Record(
        id=made.id,
        kind=ASK_KIND,
        version=1,
        origin=made.asker,
        payload={
            "id": made.id,
            "item_id": made.item_id,
            "from": made.source,
            "to": made.asker,
            "question": made.question,
            "deadline": to_text(made.deadline),
            "actor": made.asked_by,
            "at": to_text(made.asked_at),
        },
    )


def _answer_record(done: Verification) -> Record:
    assert done.answered_at is not None
    return Record(
        id=f"answer:{done.id}",
        kind=ANSWER_KIND,
        version=1,
        origin=done.source,
        payload={
            "id": done.id,
            "item_id": done.item_id,
            "from": done.source,
            "to": done.asker,
            "answer": done.answer,
            "actor": done.answered_by,
            "at": to_text(done.answered_at),
        },
    )


# -- received ------------------------------------------------------------------------------------


def _text(p: dict[str, Any], key: str) -> str:
    value = p.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(key, f"核实记录缺少 {key}")
    check_text("note", value)
    return value.strip()


def _time(p: dict[str, Any], key: str) -> datetime:
    try:
        return from_text(_text(p, key))
    except ValueError as exc:
        raise ValidationError(key, f"核实记录的时间无效：{p.get(key)!r:.40}") from exc


def keep_question(
    store: Store, question_id: str, item_id: str, asker: str, source: str, p: dict[str, Any]
) -> None:
    """Keep a question as its record says (a restore of the asker's own: schema/resync.py)."""
    with store.write() as db:
        _insert(
            db,
            Verification(
                id=question_id,
                item_id=item_id,
                asker=asker,
                source=source,
                question=_text(p, "question"),
                deadline=_time(p, "deadline"),
                asked_by=_text(p, "actor"),
                asked_at=_time(p, "at"),
            ),
        )


def keep_answer(store: Store, question_id: str, p: dict[str, Any]) -> None:
    """Record an answer as its record says (the asker receiving it; the source's own, when
    restored: schema/resync.py)."""
    with store.write() as db:
        db.execute(
            "UPDATE verification SET answer = ?, answered_by = ?, answered_at = ? WHERE id = ?",
            [_text(p, "answer"), _text(p, "actor"), to_text(_time(p, "at")), question_id],
        )


def apply_ask(store: Store, record: Record, me: str, at: datetime) -> None:
    """A question about one of this node's sent items (``me`` is its source)."""
    p = record.payload
    item_id = _text(p, "item_id")
    if p.get("from") != me:
        raise ValidationError("from", f"核实要求 {record.id} 不是问本节点（{me}）的")
    held = store.one(
        "SELECT 1 FROM edge WHERE item_id = ? AND from_unit = ? AND to_unit = ?",
        (item_id, me, p.get("to")),
    )
    if held is None:
        raise NotFound(f"本节点没有向 {p.get('to')} 报送过信息 {item_id}，无法核实")
    keep_question(store, record.id, item_id, str(p["to"]), me, p)


def apply_answer(store: Store, record: Record, me: str, at: datetime) -> None:
    """The source's answer to a question this node (``me``) asked."""
    p = record.payload
    asked = get(store, _text(p, "id"))
    if asked.asker != me or asked.source != record.origin or asked.item_id != p.get("item_id"):
        raise ValidationError("id", f"核实答复 {record.id} 与本节点的核实要求不符")
    if not asked.open:
        return  # answered once; a second answer changes nothing
    keep_answer(store, asked.id, p)
