"""Creating a node home: config, store, and the place the node's keys will live."""

from __future__ import annotations

import os

from schema.error import ConfigError
from schema.network import add_units
from schema.node import NodeConfig, NodeHome
from schema.store import Store
from schema.vocabulary import Role


def init_node(home: NodeHome, config: NodeConfig, admin: str) -> NodeConfig:
    """Create a new node home; ``admin`` gets every desk role so a one-person desk works."""
    if home.exists():
        raise ConfigError([f"{home.path} 已经是节点目录（节点 {home.load().id}），不会覆盖"])
    home.path.mkdir(parents=True, exist_ok=True)
    os.chmod(home.path, 0o700)
    config = config.with_user(admin, tuple(Role))
    store = Store.open(home.store_path)
    try:
        add_units(store, [config.unit])
    finally:
        store.close()
    # Keys and certificates (Ed25519 signing, X25519 for HPKE) are created here by the trust
    # layer; until it exists a node can work locally but cannot seal bundles.
    home.save(config)  # last: a home counts as initialised only once its config is written
    return config
