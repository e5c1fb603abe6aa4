"""The units of the network that this node knows: itself, its parent, its subtree, its peers."""

from __future__ import annotations

from collections.abc import Iterable

from schema.record import Unit
from schema.store import Store
from schema.vocabulary import Tier


def add_units(store: Store, units: Iterable[Unit]) -> int:
    """Insert or update units; returns how many were written."""
    rows = [
        {
            "id": u.id,
            "name": u.name,
            "short": u.short,
            "tier": u.tier.value,
            "parent": u.parent,
            "kind": u.kind,
        }
        for u in units
    ]
    with store.write() as db:
        db["unit"].upsert_all(rows, pk="id")
    return len(rows)


def find_unit(store: Store, unit_id: str) -> Unit | None:
    """The unit with this id, if known here."""
    row = store.one("SELECT * FROM unit WHERE id = ?", (unit_id,))
    if row is None:
        return None
    return Unit(
        id=row["id"],
        name=row["name"],
        tier=Tier(row["tier"]),
        parent=row["parent"],
        short=row["short"],
        kind=row["kind"],
    )
