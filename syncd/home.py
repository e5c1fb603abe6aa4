"""Creating a node home: config, store, keys, and for a parentless node its root certificate."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from schema.error import ConfigError
from schema.network import add_units
from schema.node import NodeConfig, NodeHome
from schema.store import Store
from schema.vocabulary import Role
from syncd.enrolment import make_root
from syncd.keys import NodeKeys, passphrase_from_env, save_keys


def init_node(
    home: NodeHome, config: NodeConfig, admin: str, now: datetime | None = None
) -> NodeConfig:
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
    keys = NodeKeys.generate()
    save_keys(home.path, keys, passphrase_from_env())
    if not config.parent:
        make_root(home, config, keys, now or datetime.now(UTC))
    home.save(config)  # last: a home counts as initialised only once its config is written
    return config
