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


def tier_of(store: Store, unit_id: str) -> Tier | None:
    """The tier of a unit: as known here, else as its GB/T 2260 code says (``140000`` a
    province, ``140200`` a city, ``140212`` a county, nine digits a township; ``100000`` is the
    State Council's office). None for a department code or anything else."""
    unit = find_unit(store, unit_id)
    if unit is not None:
        return unit.tier
    if unit_id == "100000":
        return Tier.CENTRAL
    if len(unit_id) == 9 and unit_id.isdigit():
        return Tier.TOWNSHIP
    if len(unit_id) != 6 or not unit_id.isdigit():
        return None
    if unit_id.endswith("0000"):
        return Tier.PROVINCE
    if unit_id.endswith("00"):
        return Tier.CITY
    return Tier.COUNTY


MAX_DEPTH = 32  # deeper than any administrative tree; a cycle in bad data ends here


def depth_below(unit: str, root: str, parents: dict[str, str]) -> int | None:
    """How many tiers ``unit`` is below ``root`` by the ``parents`` map (unit → its parent):
    0 for the root itself, None when it is not below it."""
    current, depth = unit, 0
    while current and depth <= MAX_DEPTH:
        if current == root:
            return depth
        current, depth = parents.get(current, ""), depth + 1
    return None


GROUP = "all:"  # all:<tier>:<unit> names every unit of that tier below <unit>


def covered(store: Store, me: str, addressees: Iterable[str]) -> bool:
    """Whether ``me`` is among ``addressees`` (unit ids, or ``all:<tier>:<unit>`` groups) —
    a group by this unit's own tier and ancestry as its unit table holds them (set from its
    own certificate chain at enrolment). A record to every county of a province names the
    group, not 2,800 ids: its signed bytes then stay the same size whoever it reaches."""
    terms = [a for a in addressees if a == me or a.startswith(GROUP)]
    if me in terms:
        return True
    if not terms:
        return False
    rows = store.query("SELECT id, tier, parent FROM unit")
    parents = {r["id"]: r["parent"] for r in rows}
    tiers = {r["id"]: r["tier"] for r in rows}
    for term in terms:
        parts = term.split(":")
        if len(parts) != 3:
            continue
        try:
            tier = Tier.parse(parts[1]).value
        except ValueError:
            continue
        if tiers.get(me) == tier and (depth_below(me, parts[2], parents) or 0) > 0:
            return True
    return False


def units_below(store: Store, me: str) -> dict[str, Tier]:
    """Every unit known here below ``me`` (at any depth), with its tier, by id."""
    rows = store.query("SELECT id, tier, parent FROM unit")
    parents = {r["id"]: r["parent"] for r in rows}
    return {
        r["id"]: Tier(r["tier"])
        for r in sorted(rows, key=lambda r: r["id"])
        if (depth_below(r["id"], me, parents) or 0) > 0
    }
