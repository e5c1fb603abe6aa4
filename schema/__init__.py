"""schema: what the data of a xinbao node is and how it may change (the pure domain).

No UI, sockets, crypto or threads here: the console and the daemon both stand on this package
and meet in the store it defines.

The names below load on first use (PEP 562): importing one module of the package, as
``xinbao --help`` does, does not import the store, the desk and the document code with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schema.clock import (
        CHINA,
        Clock,
        fixed_clock,
        system_clock,
    )
    from schema.desk import (
        Desk,
        DeskRules,
        adopt,
        edit,
        forward,
        merge,
        reject,
        reserve,
        return_item,
        signoff,
        submit,
    )
    from schema.error import (
        ConfigError,
        NotFound,
        PermissionDenied,
        StoreError,
        TransitionError,
        ValidationError,
        XinbaoError,
    )
    from schema.inbound import (
        ApplyResult,
        Outcome,
        apply,
    )
    from schema.itemfile import (
        parse_item,
        read_item_file,
    )
    from schema.node import (
        NodeConfig,
        NodeHome,
    )
    from schema.record import (
        AuditEntry,
        Edge,
        Incident,
        Item,
        ItemDraft,
        QueuedRecord,
        Record,
        Unit,
    )
    from schema.store import (
        Store,
    )
    from schema.vocabulary import (
        Category,
        Classification,
        EdgeState,
        Role,
        Severity,
        Tier,
        Urgency,
    )

_WHERE = {
    "CHINA": "schema.clock",
    "Clock": "schema.clock",
    "fixed_clock": "schema.clock",
    "system_clock": "schema.clock",
    "Desk": "schema.desk",
    "DeskRules": "schema.desk",
    "adopt": "schema.desk",
    "edit": "schema.desk",
    "forward": "schema.desk",
    "merge": "schema.desk",
    "reject": "schema.desk",
    "reserve": "schema.desk",
    "return_item": "schema.desk",
    "signoff": "schema.desk",
    "submit": "schema.desk",
    "ConfigError": "schema.error",
    "NotFound": "schema.error",
    "PermissionDenied": "schema.error",
    "StoreError": "schema.error",
    "TransitionError": "schema.error",
    "ValidationError": "schema.error",
    "XinbaoError": "schema.error",
    "ApplyResult": "schema.inbound",
    "Outcome": "schema.inbound",
    "apply": "schema.inbound",
    "parse_item": "schema.itemfile",
    "read_item_file": "schema.itemfile",
    "NodeConfig": "schema.node",
    "NodeHome": "schema.node",
    "AuditEntry": "schema.record",
    "Edge": "schema.record",
    "Incident": "schema.record",
    "Item": "schema.record",
    "ItemDraft": "schema.record",
    "QueuedRecord": "schema.record",
    "Record": "schema.record",
    "Unit": "schema.record",
    "Store": "schema.store",
    "Category": "schema.vocabulary",
    "Classification": "schema.vocabulary",
    "EdgeState": "schema.vocabulary",
    "Role": "schema.vocabulary",
    "Severity": "schema.vocabulary",
    "Tier": "schema.vocabulary",
    "Urgency": "schema.vocabulary",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'schema' has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value
    return value


__all__ = [
    "CHINA",
    "ApplyResult",
    "AuditEntry",
    "Category",
    "Classification",
    "Clock",
    "ConfigError",
    "Desk",
    "DeskRules",
    "Edge",
    "EdgeState",
    "Incident",
    "Item",
    "ItemDraft",
    "NodeConfig",
    "NodeHome",
    "NotFound",
    "Outcome",
    "PermissionDenied",
    "QueuedRecord",
    "Record",
    "Role",
    "Severity",
    "Store",
    "StoreError",
    "Tier",
    "TransitionError",
    "Unit",
    "Urgency",
    "ValidationError",
    "XinbaoError",
    "adopt",
    "apply",
    "edit",
    "fixed_clock",
    "forward",
    "merge",
    "parse_item",
    "read_item_file",
    "reject",
    "reserve",
    "return_item",
    "signoff",
    "submit",
    "system_clock",
]
