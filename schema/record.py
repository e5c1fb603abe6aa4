"""Typed records of the domain: what an item, an edge, an audit entry and a record are."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schema.vocabulary import Category, Classification, EdgeState, Severity, Tier, Urgency


@dataclass(frozen=True)
class Unit:
    """An office on the network: a GB/T 2260 code plus an optional department suffix."""

    id: str
    name: str
    tier: Tier
    parent: str = ""
    short: str = ""
    kind: str = ""

    @property
    def label(self) -> str:
        """The short name if there is one, else the full name."""
        return self.short or self.name


@dataclass(frozen=True)
class Incident:
    """The incident fields of an emergency (突发事件) report."""

    severity: Severity
    occurred_at: datetime
    place: str
    type: str = ""
    learned_at: datetime | None = None
    casualties: str = ""
    loss: str = ""
    cause: str = ""
    measures: str = ""
    leaders_on_site: str = ""
    report: str = "首报"
    thread: str = ""


@dataclass(frozen=True)
class Attachment:
    """A file attached to an item, held by content hash (schema/attachment.py)."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ItemDraft:
    """What a desk writes: the validated content of an item file, before it has an id."""

    title: str
    category: Category
    body: str
    author: str
    urgency: Urgency = Urgency.ROUTINE
    classification: Classification = Classification.INTERNAL
    phone: str = ""
    to: tuple[str, ...] = ()
    request: str = ""
    incident: Incident | None = None
    attachments: tuple[Attachment, ...] = ()
    themes: tuple[str, ...] = ()  # themes of a reporting-priorities notice it answers
    section: str = ""  # the section (科室) of the office that wrote it, where it keeps them


@dataclass(frozen=True)
class Item:
    """An information item as a node holds it: its current revision and its provenance."""

    id: str
    seq: int
    origin: str
    revision: int
    draft: ItemDraft
    created_at: datetime
    updated_at: datetime
    signer: str = ""
    signed_at: datetime | None = None
    sources: tuple[str, ...] = ()
    derivation: str = ""  # "", "forward" or "merge"

    @property
    def title(self) -> str:
        """The current title."""
        return self.draft.title


@dataclass(frozen=True)
class Edge:
    """One (item, from unit, to unit) edge and its own state."""

    id: int
    item_id: str
    from_unit: str
    to_unit: str
    state: EdgeState
    version: int
    updated_at: datetime
    note: str = ""
    placement: str = ""
    delivered_at: datetime | None = None  # the recipient's end-to-end receipt, if back


@dataclass(frozen=True)
class AuditEntry:
    """One logged transition of an edge: who moved it, when, from which state to which."""

    id: int
    item_id: str
    from_unit: str
    to_unit: str
    actor: str
    at: datetime
    from_state: EdgeState | None
    to_state: EdgeState
    note: str = ""
    origin: str = "local"  # "local" or the unit id whose decision was mirrored here
    key: str = ""  # the SSH key the actor signed in with (its fingerprint), if any


@dataclass(frozen=True)
class Record:
    """A unit of replication between nodes, applied idempotently by (id, version).

    ``kind`` is ``"item"`` (an item's signed-off revision, addressed to its edges' targets) or
    ``"decision"`` (an edge's new state, travelling back down to the sender), and the others
    named in ``schema/authority.py``. ``origin`` is the node that made it. ``proof`` is the
    record as its maker signed it, when it was received from another node (opaque here: the
    daemon verified it); records that relay this one cite it.
    """

    id: str
    kind: str
    version: int
    origin: str
    payload: dict[str, Any] = field(default_factory=dict)
    proof: dict[str, Any] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class QueuedRecord:
    """A record waiting in the outgoing queue for the daemon to ship."""

    seq: int
    record: Record
    recipients: tuple[str, ...]
    priority: int
    classification: Classification
    created_at: datetime
    shipped_at: datetime | None = None
    # the addressees the record is signed for where they are groups (schema.network.covered);
    # empty: ``recipients``
    to: tuple[str, ...] = ()


@dataclass(frozen=True)
class Held:
    """A record the daemon holds back: the link to ``peer`` carries at most ``ceiling``."""

    peer: str
    ceiling: str
    since: datetime
