"""Resync after a restore, the daemon's side (the domain's side: ``schema/resync.py``).

``xinbao-syncd restore DIR`` writes the snapshot as the node home, then :func:`ask` queues a
``resync`` record to the parent and each child, from the moment the backup was taken less a
margin (clocks differ; bundles were in flight). A neighbour that receives it
(``syncd/receive.py``) hands the node again every bundle it took custody of since then
(``Outgoing.resend_to``, from the ``sent`` table kept for the retention window) and returns
the node's own records it holds, then ``resync-done`` with the highest numbers it has seen
from the node. Both numbers are data: ``[resync]`` in ``syncd/data/trust.toml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from schema import resync
from schema.node import NodeHome
from schema.store import Store
from syncd.certificate import trust_data
from syncd.route import Routes


@dataclass(frozen=True)
class Retention:
    """How long a node keeps what it handed its neighbours and the records it received
    (``keep``), and how far before a backup's time a resync reaches back (``margin``)."""

    keep: timedelta
    margin: timedelta
    wait: timedelta  # how long a record may wait for what it refers to, all having answered

    @classmethod
    def load(cls) -> Retention:
        data = trust_data()["resync"]
        return cls(
            keep=timedelta(days=int(data["retention_days"])),
            margin=timedelta(seconds=int(data["margin_seconds"])),
            wait=timedelta(hours=int(data["wait_hours"])),
        )


def neighbours(home: NodeHome) -> list[str]:
    """The parent and the children of the node: those it resyncs with."""
    routes = Routes.load(home)
    return [p for p in (routes.parent, *routes.children()) if p]


def ask(home: NodeHome, taken: datetime, now: datetime) -> list[str]:
    """Queue a resync request to every neighbour, from ``taken`` (the backup's time) less the
    margin; the neighbours asked."""
    peers = neighbours(home)
    since = taken - Retention.load().margin
    store = Store.open(home.store_path)
    try:
        resync.start(store, home.load().id, peers, since, now)
    finally:
        store.close()
    return peers
