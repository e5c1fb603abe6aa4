"""Publications (刊物) and their issues: numbering, placing adopted items, ordering, sign-off,
and the ``issue`` record that carries a signed-off issue up and down.

An issue is named ``刊物/期号`` (this year) or ``刊物/年/期号``; numbers run per year, and a
cumulative number (总第N期) runs across years. An issue is 编辑中 until it is put to the
signer's hand, and 已印发 once signed off. Placing a received item moves its edge 已采用 → 已成刊;
sign-off moves it → 已印发; each step travels back to the sender as a decision. The signed-off
issue goes to this node's parent and to every unit whose item is in it.
"""

from __future__ import annotations

import functools
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from schema import item as items
from schema.clock import CHINA, from_text, to_text
from schema.datafile import data_text
from schema.error import NotFound, TransitionError, ValidationError
from schema.itemfile import UNIT_ID as UNIT_CODE
from schema.network import depth_below
from schema.record import Item, Record
from schema.store import Store
from schema.vocabulary import Classification, Tier, Urgency

ISSUE_KIND = "issue"
EDITING, ISSUED, RECEIVED = "编辑中", "已印发", "已收到"


@dataclass(frozen=True)
class PublicationRules:
    """Defaults from ``schema/data/publications.toml``."""

    shipped: dict[str, int]  # name → copies per issue
    period: dict[Classification, str]
    # name → its 版记 lines: (报, whom), (送, whom), (发, whom), those the office lists
    distribution: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    # name → the nodes a signed-off issue is sent to (``to``: words of :data:`SEND_TO`)
    send_to: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> PublicationRules:
        raw, _ = data_text("publications.toml", path)
        data = tomllib.loads(raw)
        return cls(
            shipped={str(p["name"]): int(p.get("copies", 1)) for p in data["publication"]},
            period={
                Classification.parse(k, "period"): str(v) for k, v in data.get("period", {}).items()
            },
            distribution={
                str(p["name"]): tuple(
                    (label, str(p[key]))
                    for label, key in (("报", "report"), ("送", "send"), ("发", "issue"))
                    if p.get(key)
                )
                for p in data["publication"]
            },
            send_to={
                str(p["name"]): send_words(p.get("to", ["parent"]), f"{p['name']}.to")
                for p in data["publication"]
            },
        )


# Who a signed-off issue goes to, besides the units whose items are in it (always told):
# ``parent`` the office above; ``below`` the units directly below; ``siblings`` the other
# units under the same parent (左邻右舍); ``all:<tier>`` every unit of that tier below this
# office (all:county — every county of a city); or a unit code.
SEND_TO = ("parent", "below", "siblings")
# the same words as a desk types them (所辖县: every county below, any tier after 所辖)
SEND_TO_CHINESE = {"上级": "parent", "下级": "below", "同级": "siblings"}


def send_words(value: object, field: str = "to") -> tuple[str, ...]:
    """A publication's ``to`` list, checked."""
    if not isinstance(value, list) or not all(isinstance(w, str) for w in value):
        raise ValidationError(field, '应为列表，如 ["parent", "all:county"]')
    out: list[str] = []
    for word in (w.strip() for w in value):
        word = SEND_TO_CHINESE.get(word, word)
        if word.startswith("所辖"):
            word = f"all:{word.removeprefix('所辖')}"
        if word.startswith("all:"):
            word = f"all:{Tier.parse(word.removeprefix('all:'), field).name.lower()}"
        elif word not in SEND_TO and not UNIT_CODE.match(word):
            allowed = "、".join((*SEND_TO, "all:层级", "单位代码"))
            raise ValidationError(field, f"“{word}”无效，可用：{allowed}")
        if word not in out:
            out.append(word)
    return tuple(out)


def send_to(store: Store, me: str, parent: str, words: tuple[str, ...]) -> set[str]:
    """The units ``words`` name among those this node knows (see :data:`SEND_TO`)."""
    rows = store.query("SELECT id, tier, parent FROM unit")
    up = {r["id"]: r["parent"] for r in rows}
    tier = {r["id"]: r["tier"] for r in rows}
    parent = parent or up.get(me, "")

    found: set[str] = set()
    for word in words:
        if word == "parent":
            found |= {parent} if parent else set()
        elif word == "below":
            found |= {u for u in up if up[u] == me}
        elif word == "siblings":
            found |= {u for u in up if parent and up[u] == parent and u != me}
        elif word.startswith("all:"):
            wanted = Tier.parse(word.removeprefix("all:")).value
            found |= {u for u in up if tier[u] == wanted and (depth_below(u, me, up) or 0) > 0}
        elif word in up:
            found.add(word)
    found.discard(me)
    return found


@functools.cache
def shipped_rules() -> PublicationRules:
    return PublicationRules.load()


@dataclass(frozen=True)
class Entry:
    """One item in an issue, as printed."""

    item_id: str
    origin: str
    title: str
    body: str
    classification: Classification
    urgency: Urgency


@dataclass(frozen=True)
class Issue:
    id: str  # 刊物/年/期号
    publication: str
    year: int
    number: int
    cumulative: int
    publisher: str
    state: str
    date: date
    editor: str
    signer: str
    signed_at: datetime | None
    copies: tuple[int, int]
    entries: tuple[Entry, ...]

    @property
    def title(self) -> str:
        return f"{self.publication} {self.year}年第{self.number}期（总第{self.cumulative}期）"

    @property
    def classification(self) -> Classification:
        return max((e.classification for e in self.entries), default=Classification.PUBLIC)

    @property
    def urgency(self) -> Urgency:
        return max((e.urgency for e in self.entries), default=Urgency.ROUTINE)


# -- publications -------------------------------------------------------------------------------


def distribution_of(store: Store, name: str) -> tuple[str, ...]:
    """Who an issue of ``name`` goes to (its ``to`` words): the office's own setting for its
    own publications, else the shipped one, else the office above."""
    row = store.one("SELECT distribute FROM publication WHERE name = ?", (name,))
    if row is not None and row["distribute"]:
        return tuple(json.loads(row["distribute"]))
    return shipped_rules().send_to.get(name, ("parent",))


def publications(store: Store) -> dict[str, int]:
    """This node's publications and copies per issue: the shipped ones, then its own."""
    names = dict(shipped_rules().shipped)
    for row in store.query("SELECT name, copies FROM publication ORDER BY rowid"):
        names[row["name"]] = row["copies"]
    return names


def add_publication(
    store: Store, name: str, copies: int, to: tuple[str, ...] = ("parent",)
) -> None:
    """Add a publication of this office (特刊, 内参 …); ``to``: who its issues go to."""
    name = name.strip()
    if not name or "/" in name:
        raise ValidationError("name", "刊物名称不能为空，也不能含“/”")
    if copies <= 0:
        raise ValidationError("copies", "印数应大于 0")
    if name in publications(store):
        raise ValidationError("name", f"已有刊物“{name}”")
    words = send_words(list(to))
    with store.write() as db:
        db.execute(
            "INSERT INTO publication(name, copies, distribute) VALUES (?, ?, ?)",
            [name, copies, json.dumps(list(words), ensure_ascii=False)],
        )


# -- issues at the publishing desk ----------------------------------------------------------------


def parse_ref(ref: str, today: date) -> tuple[str, int, int | None]:
    """``每日要情/3`` → (每日要情, this year, 3); also ``每日要情/2026/3``, and ``每日要情``
    alone (number None)."""
    parts = [p.strip() for p in ref.split("/")]
    try:
        if len(parts) == 1:
            return parts[0], today.year, None
        if len(parts) == 2:
            return parts[0], today.year, int(parts[1])
        if len(parts) == 3:
            return parts[0], int(parts[1]), int(parts[2])
    except ValueError:
        pass
    raise ValidationError("issue", f"“{ref}”不是有效的期次，应为 刊物/期号，如 每日要情/3")


def open_issue(store: Store, me: str, ref: str, editor: str, at: datetime) -> Issue:
    """The issue ``ref`` names, created (编辑中) if it is the next one of its publication;
    ``刊物`` alone is its latest issue being edited, or a new one."""
    today = at.astimezone(CHINA).date()
    name, year, number = parse_ref(ref, today)
    copies = publications(store).get(name)
    if copies is None:
        raise NotFound(f"本单位没有刊物“{name}”（可用：{'、'.join(publications(store))}）")
    if number is None:
        row = store.one(
            "SELECT id FROM issue WHERE publication = ? AND publisher = ? AND state = ? "
            "ORDER BY year DESC, number DESC LIMIT 1",
            (name, me, EDITING),
        )
        if row is not None:
            return get(store, row["id"])
    with store.write() as db:
        last = (
            db.execute(
                "SELECT MAX(number) FROM issue "
                "WHERE publication = ? AND publisher = ? AND year = ?",
                [name, me, year],
            ).fetchone()[0]
            or 0
        )
        if number is not None and number <= last:
            return get(store, _id(name, year, number))
        # numbering may go on from issues printed before this node existed: a gap is allowed
        number = last + 1 if number is None else number
        cumulative = (
            db.execute(
                "SELECT MAX(cumulative) FROM issue WHERE publication = ? AND publisher = ?",
                [name, me],
            ).fetchone()[0]
            or 0
        )
        first_copy = 1
        db.execute(
            "INSERT INTO issue(id, publication, year, number, cumulative, publisher, state, "
            "date, editor, copies_from, copies_to, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                _id(name, year, number),
                name,
                year,
                number,
                cumulative + 1,
                me,
                EDITING,
                today.isoformat(),
                editor,
                first_copy,
                first_copy + copies - 1,
                to_text(at),
            ],
        )
    return get(store, _id(name, year, number))


def place(store: Store, issue: Issue, item_ids: Sequence[str]) -> Issue:
    """Append items to an issue being edited (each once)."""
    _editable(issue)
    with store.write() as db:
        held = {e.item_id for e in issue.entries}
        position = len(issue.entries)
        for item_id in item_ids:
            items.get(store, item_id)
            if item_id in held:
                continue
            elsewhere = db.execute(
                "SELECT issue_id FROM issue_item WHERE item_id = ? AND issue_id IN "
                "(SELECT id FROM issue WHERE publication = ?)",
                [item_id, issue.publication],
            ).fetchone()
            if elsewhere:
                raise TransitionError(f"信息 {item_id} 已编入 {elsewhere[0]}")
            position += 1
            held.add(item_id)
            db.execute(
                "INSERT INTO issue_item(issue_id, item_id, position) VALUES (?,?,?)",
                [issue.id, item_id, position],
            )
    return get(store, issue.id)


def remove(store: Store, issue: Issue, item_id: str) -> Issue:
    """Take an item out of an issue being edited."""
    _editable(issue)
    if item_id not in {e.item_id for e in issue.entries}:
        raise NotFound(f"{issue.id} 中没有信息 {item_id}")
    order = [e.item_id for e in issue.entries if e.item_id != item_id]
    with store.write() as db:
        db.execute("DELETE FROM issue_item WHERE issue_id = ? AND item_id = ?", [issue.id, item_id])
        _renumber(db.conn, issue.id, order)
    return get(store, issue.id)


def reorder(store: Store, issue: Issue, first: Sequence[str]) -> Issue:
    """Put ``first`` at the head of the issue in that order; the rest keep theirs."""
    _editable(issue)
    present = [e.item_id for e in issue.entries]
    unknown = [i for i in first if i not in present]
    if unknown:
        raise NotFound(f"{issue.id} 中没有信息 {unknown[0]}")
    order = list(dict.fromkeys(first)) + [i for i in present if i not in first]
    with store.write() as db:
        _renumber(db.conn, issue.id, order)
    return get(store, issue.id)


def sign_off(store: Store, issue: Issue, signer: str, at: datetime) -> Issue:
    """Sign the issue off (已印发) and queue it to the parent and every source unit."""
    _editable(issue)
    if not issue.entries:
        raise TransitionError(f"{issue.id} 还没有编入信息，不能签发")
    with store.write() as db:
        db.execute(
            "UPDATE issue SET state = ?, signer = ?, signed_at = ? WHERE id = ?",
            [ISSUED, signer, to_text(at), issue.id],
        )
    return get(store, issue.id)


def issue_record(store: Store, issue: Issue, parent: str) -> tuple[Record, tuple[str, ...]]:
    """The record of a signed-off issue and who gets it: those its publication is sent to
    (:func:`distribution_of`: the parent by default; siblings, units below …) and every unit
    whose item (or an item an entry was made from) is in it."""
    words = distribution_of(store, issue.publication)
    units = send_to(store, issue.publisher, parent, words)
    for entry in issue.entries:
        units.add(entry.origin)
        for source in _sources(store, entry.item_id):
            units.add(source)
    units.discard(issue.publisher)
    payload = {
        "id": issue.id,
        "publication": issue.publication,
        "year": issue.year,
        "number": issue.number,
        "cumulative": issue.cumulative,
        "publisher": issue.publisher,
        "date": issue.date.isoformat(),
        "editor": issue.editor,
        "signer": issue.signer,
        "signed_at": to_text(issue.signed_at) if issue.signed_at else "",
        "copies": list(issue.copies),
        "entries": [
            {
                "item_id": e.item_id,
                "origin": e.origin,
                "title": e.title,
                "body": e.body,
                "classification": e.classification.value,
                "urgency": e.urgency.value,
            }
            for e in issue.entries
        ],
    }
    payload["to"] = sorted(units)
    record_id = f"issue:{issue.publisher}:{issue.id}"
    return Record(record_id, ISSUE_KIND, 1, issue.publisher, payload), tuple(sorted(units))


def _sources(store: Store, item_id: str) -> set[str]:
    """Origins of the items ``item_id`` was made from, all the way down."""
    found: set[str] = set()
    todo, seen = [item_id], set()
    while todo and len(seen) < 1000:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for row in store.query("SELECT source_id FROM source WHERE item_id = ?", (current,)):
            # not every source is held here (a county's item the city forwarded): its id
            # names its origin, {node}-{year}-{number}
            found.add(row["source_id"].rsplit("-", 2)[0])
            todo.append(row["source_id"])
    return found


def apply_issue(store: Store, record: Record, me: str, at: datetime) -> None:
    """Keep an issue another office published (called by ``schema.inbound``)."""
    p = record.payload
    if me not in p.get("to", []):
        raise ValidationError("to", f"刊物 {p.get('id')} 不是发给本单位（{me}）的")
    # its publisher is its maker: schema/authority.py, checked first
    issue_id = f"{record.origin}:{p['id']}"  # another office's 每日要情/2026/3 is not ours
    with store.write() as db:
        entries = json.dumps(p["entries"], ensure_ascii=False)
        _insert_from(db, issue_id, p, record.origin, RECEIVED, to_text(at), entries)


def restore_issued(store: Store, me: str, record: Record, at: datetime) -> bool:
    """An issue this office signed off, as its record says (returned by a unit that got it,
    after a restore from a backup: schema/resync.py): 已印发 with its items in order; whether
    it was not so here. ``NotFound`` while an item in it has not come back yet."""
    p = record.payload
    issue_id = str(p.get("id", ""))
    if p.get("publisher") != me or record.id != f"issue:{me}:{issue_id}":
        raise ValidationError("publisher", f"刊物 {record.id} 不是本单位印发的")
    row = store.one("SELECT state FROM issue WHERE id = ?", (issue_id,))
    if row is not None and row["state"] == ISSUED:
        return False
    entries = [e for e in p.get("entries", []) if isinstance(e, dict)]
    missing = [
        str(e.get("item_id")) for e in entries if not items.find(store, str(e.get("item_id")))
    ]
    if missing:
        raise NotFound(f"刊物 {issue_id} 所收信息 {missing[0]} 尚未重新收到")
    with store.write() as db:
        if row is None:
            _insert_from(db, issue_id, p, me, ISSUED, to_text(at), None)
        else:
            db.execute(
                "UPDATE issue SET state = ?, signer = ?, signed_at = ? WHERE id = ?",
                [ISSUED, p.get("signer", ""), p.get("signed_at") or None, issue_id],
            )
        db.execute("DELETE FROM issue_item WHERE issue_id = ?", [issue_id])
        db.conn.executemany(
            "INSERT INTO issue_item(issue_id, item_id, position) VALUES (?,?,?)",
            [(issue_id, str(e["item_id"]), n) for n, e in enumerate(entries, 1)],
        )
    return True


def _insert_from(
    db: Any,
    issue_id: str,
    p: dict[str, Any],
    publisher: str,
    state: str,
    created_at: str,
    entries: str | None,
) -> None:
    """An issue row as an issue record's payload ``p`` describes it (``entries``: printed as
    it came; None: the rows of ``issue_item``)."""
    copies = p["copies"]
    db.execute(
        "INSERT OR IGNORE INTO issue(id, publication, year, number, cumulative, publisher, "
        "state, date, editor, signer, signed_at, copies_from, copies_to, created_at, "
        "entries) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            issue_id,
            p["publication"],
            int(p["year"]),
            int(p["number"]),
            int(p["cumulative"]),
            publisher,
            state,
            p["date"],
            p.get("editor", ""),
            p.get("signer", ""),
            p.get("signed_at") or None,
            int(copies[0]),
            int(copies[1]),
            created_at,
            entries,
        ],
    )


# -- reading ------------------------------------------------------------------------------------


def get(store: Store, issue_id: str) -> Issue:
    row = store.one("SELECT * FROM issue WHERE id = ?", (issue_id,))
    if row is None:
        raise NotFound(f"没有刊物期次 {issue_id}")
    if row["entries"]:  # received: printed as it came
        entries = tuple(_entry(e) for e in json.loads(row["entries"]))
    else:
        rows = store.query(
            "SELECT item_id FROM issue_item WHERE issue_id = ? ORDER BY position", (issue_id,)
        )
        entries = tuple(_entry_of(items.get(store, r["item_id"])) for r in rows)
    return Issue(
        id=row["id"],
        publication=row["publication"],
        year=row["year"],
        number=row["number"],
        cumulative=row["cumulative"],
        publisher=row["publisher"],
        state=row["state"],
        date=date.fromisoformat(row["date"]),
        editor=row["editor"],
        signer=row["signer"] or "",
        signed_at=from_text(row["signed_at"]) if row["signed_at"] else None,
        copies=(row["copies_from"], row["copies_to"]),
        entries=entries,
    )


def find_issue(store: Store, me: str, ref: str, today: date) -> Issue:
    """The issue of this node named by ``ref`` (刊物/期号, 刊物/年/期号, or its full id)."""
    if store.one("SELECT 1 FROM issue WHERE id = ?", (ref,)):
        return get(store, ref)
    name, year, number = parse_ref(ref, today)
    if number is None:
        row = store.one(
            "SELECT id FROM issue WHERE publication = ? AND publisher = ? "
            "ORDER BY year DESC, number DESC LIMIT 1",
            (name, me),
        )
        if row is None:
            raise NotFound(f"{name} 还没有期次")
        return get(store, row["id"])
    return get(store, _id(name, year, number))


def listing(store: Store) -> list[dict[str, Any]]:
    """Every issue held here, newest first."""
    return store.query(
        "SELECT i.id, i.publication, i.year, i.number, i.cumulative, i.publisher, i.state, "
        "i.date, (SELECT COUNT(*) FROM issue_item x WHERE x.issue_id = i.id) AS items "
        "FROM issue i ORDER BY i.created_at DESC, i.id DESC"
    )


def placements_of(store: Store, item_id: str) -> list[str]:
    """The issues of this node an item is placed in."""
    rows = store.query("SELECT issue_id FROM issue_item WHERE item_id = ?", (item_id,))
    return [r["issue_id"] for r in rows]


def _entry_of(item: Item) -> Entry:
    d = item.draft
    return Entry(item.id, item.origin, d.title, d.body, d.classification, d.urgency)


def _entry(data: Mapping[str, Any]) -> Entry:
    return Entry(
        str(data["item_id"]),
        str(data["origin"]),
        str(data["title"]),
        str(data["body"]),
        Classification.parse(data["classification"]),
        Urgency.parse(data["urgency"]),
    )


def _editable(issue: Issue) -> None:
    if issue.state != EDITING:
        raise TransitionError(f"{issue.id} 当前为“{issue.state}”，不能再编辑")


def _renumber(conn: Any, issue_id: str, order: list[str]) -> None:
    conn.executemany(
        "UPDATE issue_item SET position = ? WHERE issue_id = ? AND item_id = ?",
        [(-n, issue_id, item_id) for n, item_id in enumerate(order, 1)],
    )
    conn.execute("UPDATE issue_item SET position = -position WHERE issue_id = ?", [issue_id])


def _id(name: str, year: int, number: int) -> str:
    return f"{name}/{year}/{number}"
