"""schema: what the data of a xinbao node is and how it may change (the pure domain).

No UI, sockets, crypto or threads here: the console and the daemon both stand on this package
and meet in the store it defines.
"""

from schema.clock import CHINA, Clock, fixed_clock, system_clock
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
from schema.inbound import ApplyResult, Outcome, apply
from schema.itemfile import parse_item, read_item_file
from schema.node import NodeConfig, NodeHome
from schema.record import AuditEntry, Edge, Incident, Item, ItemDraft, QueuedRecord, Record, Unit
from schema.store import Store
from schema.vocabulary import (
    Category,
    Classification,
    EdgeState,
    Role,
    Severity,
    Tier,
    Urgency,
)

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
