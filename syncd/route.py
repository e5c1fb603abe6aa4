"""Routing by the tree: the next hop toward a node is a child (if the node is below) or the parent.

A node knows its subtree from the certificates of the nodes below it (its children's, issued
by it, and the ones that travelled up as records): each names its parent, which gives the path
down. Anything else goes up. In a tree the path between two nodes is unique, so forwarding a
bundle toward each of its recipients, never back to the neighbour it came from, cannot loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schema.node import NodeHome
from syncd.certificate import cert_identity, chain_from_pem
from syncd.enrolment import ISSUED_DIR, KNOWN_DIR
from syncd.keys import KEY_DIR

_MAX_DEPTH = 32  # deeper than any real administrative tree; guards a corrupt parent map


@dataclass(frozen=True)
class Routes:
    """This node's view of the tree."""

    me: str
    parent: str
    below: dict[str, str] = field(default_factory=dict)  # node of the subtree → its parent

    @classmethod
    def load(cls, home: NodeHome) -> Routes:
        """Read the subtree from the certificates held in ``home``."""
        config = home.load()
        below: dict[str, str] = {}
        for sub in (KNOWN_DIR, ISSUED_DIR):
            folder = home.path / KEY_DIR / sub
            for path in sorted(folder.glob("*.pem")) if folder.is_dir() else []:
                for cert in chain_from_pem(path.read_bytes())[:1]:
                    who = cert_identity(cert)
                    if who.id != config.id and who.parent:
                        below[who.id] = who.parent
        return cls(config.id, config.parent, below)

    def children(self) -> list[str]:
        """The nodes directly below."""
        return sorted(n for n, up in self.below.items() if up == self.me)

    def is_below(self, node: str) -> bool:
        """Whether ``node`` is in this node's subtree (not this node itself)."""
        return self._child_toward(node) is not None

    def next_hop(self, node: str) -> str | None:
        """The neighbour a bundle for ``node`` goes to next; None for this node itself, or
        when there is nowhere to send it (a root that does not know the node)."""
        if node == self.me:
            return None
        return self._child_toward(node) or self.parent or None

    def hops(self, recipients: tuple[str, ...], came_from: str = "") -> dict[str, list[str]]:
        """Next hop → the recipients reached through it, never back toward ``came_from``."""
        out: dict[str, list[str]] = {}
        for node in recipients:
            hop = self.next_hop(node)
            if hop is not None and hop != came_from:
                out.setdefault(hop, []).append(node)
        return out

    def _child_toward(self, node: str) -> str | None:
        for _ in range(_MAX_DEPTH):
            up = self.below.get(node)
            if up is None:
                return None
            if up == self.me:
                return node
            node = up
        return None
