"""Items in the store: insert, revise, read back, and keep the search index in step."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from schema.clock import from_text, to_text
from schema.error import NotFound
from schema.itemfile import draft_to_dict, parse_item
from schema.record import Item, ItemDraft
from schema.search import index_text
from schema.store import Store


def new_item_id(store: Store, node_id: str, at: datetime) -> str:
    """The next item id of this node: ``{node}-{year}-{number}``, the same at every node.

    Node ids are unique in the network and a node numbers its own items, so the id is global.
    """
    number = store.next_number(f"item:{at.year}")
    return f"{node_id}-{at.year}-{number:05d}"


def insert(
    store: Store,
    item_id: str,
    origin: str,
    draft: ItemDraft,
    *,
    editor: str,
    at: datetime,
    revision: int = 1,
    created_at: datetime | None = None,
    sources: tuple[str, ...] = (),
    derivation: str = "",
    signer: str = "",
    signed_at: datetime | None = None,
) -> Item:
    """Store a new item with its first known revision, provenance and index entry. The
    content is held to the input limits first, whoever made the draft (a file, a form, a
    forward, a lead); what the store holds is read back as it is (:func:`draft_of`)."""
    checked(draft)
    store_new(
        store,
        item_id,
        origin,
        draft,
        editor=editor,
        at=at,
        revision=revision,
        created_at=created_at,
        sources=sources,
        derivation=derivation,
        signer=signer,
        signed_at=signed_at,
    )
    return get(store, item_id)


def store_new(
    store: Store,
    item_id: str,
    origin: str,
    draft: ItemDraft,
    *,
    editor: str,
    at: datetime,
    revision: int = 1,
    created_at: datetime | None = None,
    sources: tuple[str, ...] = (),
    derivation: str = "",
    signer: str = "",
    signed_at: datetime | None = None,
) -> int:
    """:func:`insert` of a draft already held to the input limits (one parsed from a
    received record, ``parse_item`` untrusted), without reading it back: its row's seq."""
    created = created_at or at
    with store.write() as db:
        cursor = db.execute(
            "INSERT INTO item(id, origin, revision, title, body, category, urgency, "
            "classification, author, phone, request, incident, attachments, themes, section, "
            "signer, signed_at, derivation, created_at, updated_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                item_id,
                origin,
                revision,
                *_content_columns(draft),
                signer,
                to_text(signed_at) if signed_at else None,
                derivation,
                to_text(created),
                to_text(at),
            ],
        )
        seq = int(cursor.lastrowid or 0)
        _revision_row(store, item_id, revision, draft, editor, at)
        for position, source in enumerate(sources):
            db.execute(
                "INSERT INTO source(item_id, source_id, position) VALUES (?, ?, ?)",
                [item_id, source, position],
            )
        store.index(seq, index_text(draft.title), index_text(draft.body))
        _keep_sketch(db, seq, item_id, origin, draft, created)
    return seq


def revise(
    store: Store,
    item: Item,
    draft: ItemDraft,
    *,
    editor: str,
    at: datetime,
    revision: int | None = None,
) -> Item:
    """Make ``draft`` the item's new current revision; earlier revisions are kept."""
    checked(draft)
    number = revision if revision is not None else item.revision + 1
    with store.write() as db:
        held = get(store, item.id)  # the indexed text is what is stored, not a caller's copy
        store.unindex(held.seq, index_text(held.draft.title), index_text(held.draft.body))
        db.execute(
            "UPDATE item SET revision = ?, title = ?, body = ?, category = ?, urgency = ?, "
            "classification = ?, author = ?, phone = ?, request = ?, incident = ?, "
            "attachments = ?, themes = ?, section = ?, updated_at = ? WHERE id = ?",
            [number, *_content_columns(draft), to_text(at), item.id],
        )
        _revision_row(store, item.id, number, draft, editor, at)
        store.index(item.seq, index_text(draft.title), index_text(draft.body))
        _keep_sketch(db, item.seq, item.id, item.origin, draft, item.created_at)
    return get(store, item.id)


def set_signed(store: Store, item_id: str, signer: str, at: datetime) -> None:
    """Record who signed the item off, and when."""
    with store.write() as db:
        db.execute(
            "UPDATE item SET signer = ?, signed_at = ?, updated_at = ? WHERE id = ?",
            [signer, to_text(at), to_text(at), item_id],
        )


def find(store: Store, item_id: str) -> Item | None:
    """The item with this id, if this node holds it."""
    row = store.one("SELECT * FROM item WHERE id = ?", (item_id,))
    return from_row(store, row) if row else None


def get(store: Store, item_id: str) -> Item:
    """The item with this id; :class:`NotFound` if this node does not hold it."""
    item = find(store, item_id)
    if item is None:
        raise NotFound(f"本节点没有编号为 {item_id} 的信息")
    return item


def from_row(store: Store, row: dict[str, Any]) -> Item:
    """An :class:`Item` from its ``item`` row (reads its sources)."""
    sources = tuple(
        r["source_id"]
        for r in store.query(
            "SELECT source_id FROM source WHERE item_id = ? ORDER BY position", (row["id"],)
        )
    )
    return Item(
        id=row["id"],
        seq=row["seq"],
        origin=row["origin"],
        revision=row["revision"],
        draft=draft_of(row),
        created_at=from_text(row["created_at"]),
        updated_at=from_text(row["updated_at"]),
        signer=row["signer"],
        signed_at=from_text(row["signed_at"]) if row["signed_at"] else None,
        sources=sources,
        derivation=row["derivation"],
    )


def draft_of(row: dict[str, Any]) -> ItemDraft:
    """The content of an ``item`` row as a draft (recipients are on the edges, not here)."""
    data: dict[str, Any] = {
        key: row[key]
        for key in ("title", "body", "category", "urgency", "classification", "author", "phone")
    }
    if row["request"]:
        data["request"] = row["request"]
    if row["incident"]:
        data["incident"] = json.loads(row["incident"])
    if row.get("attachments"):
        data["attachments"] = json.loads(row["attachments"])
    if row.get("themes"):
        data["themes"] = json.loads(row["themes"])
    if row.get("section"):
        data["section"] = row["section"]
    # checked when it was written; an office lowering a limit later must not lose its items
    return parse_item(data, trusted=True)


def checked(draft: ItemDraft) -> ItemDraft:
    """``draft`` if its content keeps to the input limits (``schema/data/input.toml``);
    raises :class:`~schema.error.ValidationError` naming the field otherwise."""
    parse_item(json.loads(json.dumps(draft_to_dict(draft))))  # as a file or record holds it
    return draft


def revisions(store: Store, item_id: str) -> list[dict[str, Any]]:
    """Every revision of the item, oldest first: number, editor, time and content."""
    return [
        {**r, "content": json.loads(r["content"])}
        for r in store.query(
            "SELECT revision, editor, at, content FROM revision WHERE item_id = ? "
            "ORDER BY revision",
            (item_id,),
        )
    ]


def without_recipients(draft: ItemDraft) -> ItemDraft:
    """The draft as stored with an item: recipients live on its edges."""
    return replace(draft, to=())


def _keep_sketch(
    db: Any, seq: int, item_id: str, origin: str, draft: ItemDraft, created: datetime
) -> None:
    """Keep the item's near-duplicate sketch (schema/similar.py) as it arrives: a look at a
    window of thousands reads sketches, not texts."""
    from schema import similar  # its rules and fixtures load only where items are written

    doc = similar.Doc(item_id, origin, draft.title, draft.body, created)
    db.execute(
        "INSERT OR REPLACE INTO item_sketch(seq, sketch) VALUES (?, ?)",
        [seq, similar.sketch(doc)],
    )


def _content_columns(draft: ItemDraft) -> list[Any]:
    incident = draft_to_dict(draft).get("incident") if draft.incident is not None else None
    return [
        draft.title,
        draft.body,
        draft.category.value,
        draft.urgency.value,
        draft.classification.value,
        draft.author,
        draft.phone,
        draft.request,
        json.dumps(incident, ensure_ascii=False) if incident else None,
        json.dumps([asdict(a) for a in draft.attachments], ensure_ascii=False)
        if draft.attachments
        else None,
        json.dumps(list(draft.themes), ensure_ascii=False) if draft.themes else None,
        draft.section,
    ]


def _revision_row(
    store: Store, item_id: str, revision: int, draft: ItemDraft, editor: str, at: datetime
) -> None:
    content = draft_to_dict(without_recipients(draft))
    store.db.execute(
        "INSERT INTO revision(item_id, revision, content, editor, at) VALUES (?, ?, ?, ?, ?)",
        [item_id, revision, json.dumps(content, ensure_ascii=False), editor, to_text(at)],
    )
