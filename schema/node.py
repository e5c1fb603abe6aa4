"""A node's home folder and its config: who this office is, and who may do what at its desk.

Both programs read the config; the daemon (``xinbao-syncd``) writes it. Sections other than
``[node]`` and ``[users]`` (links, listen address, …) belong to the daemon and are kept as they
are when the config is saved.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomli_w

from schema.error import ConfigError, ValidationError, reason
from schema.itemfile import UNIT_ID
from schema.record import Unit
from schema.vocabulary import Role, Tier

CONFIG_FILE = "config.toml"
STORE_FILE = "store.db"
FULL_NAME_MAX = 32  # a person's full name, as documents print it


def names_at(store_path: Path | None) -> dict[str, str]:
    """The users' full names of the node whose store is at ``store_path`` (its home's config);
    none for a store outside a node home."""
    if store_path is None:
        return {}
    home = NodeHome(store_path.parent)
    if not home.config_path.exists():
        return {}
    try:
        return home.load().names
    except ConfigError:
        return {}


@dataclass(frozen=True)
class NodeConfig:
    """The parsed ``config.toml`` of a node home."""

    id: str
    name: str
    tier: Tier
    parent: str = ""
    users: dict[str, tuple[Role, ...]] = field(default_factory=dict)
    other: dict[str, Any] = field(default_factory=dict)

    @property
    def unit(self) -> Unit:
        """This node as a unit of the network."""
        return Unit(id=self.id, name=self.name, tier=self.tier, parent=self.parent)

    def roles_of(self, user: str) -> frozenset[Role]:
        """The roles ``user`` holds at this desk (none if not a user here)."""
        return frozenset(self.users.get(user, ()))

    def with_user(self, user: str, roles: tuple[Role, ...]) -> NodeConfig:
        """A copy with ``user`` holding exactly ``roles``."""
        return replace(self, users={**self.users, user: roles})

    def without_user(self, user: str) -> NodeConfig:
        """A copy in which ``user`` is no user of this desk."""
        names = {k: v for k, v in self.names.items() if k != user}
        return replace(
            self,
            users={k: v for k, v in self.users.items() if k != user},
            other={**self.other, "names": names}
            if names
            else {k: v for k, v in self.other.items() if k != "names"},
        )

    @property
    def names(self) -> dict[str, str]:
        """Each user's full name (``[names]``: wang = "王五"), printed where a document names
        the person (签发) instead of the account."""
        raw = self.other.get("names", {})
        return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}

    def with_name(self, user: str, full_name: str) -> NodeConfig:
        """A copy in which ``user`` is called ``full_name`` on documents."""
        return replace(self, other={**self.other, "names": {**self.names, user: full_name}})

    def shown(self, user: str) -> str:
        """How documents name ``user``: the full name if one is set, else the account."""
        return self.names.get(user, user)


@dataclass(frozen=True)
class NodeHome:
    """The folder of one node: config, store and (later) keys and spool."""

    path: Path

    @property
    def config_path(self) -> Path:
        """Where the config lives."""
        return self.path / CONFIG_FILE

    @property
    def store_path(self) -> Path:
        """Where the SQLite store lives."""
        return self.path / STORE_FILE

    @property
    def attachments_path(self) -> Path:
        """The content-addressed attachment folder (schema/attachment.py)."""
        return self.path / "attachments"

    @property
    def status_path(self) -> Path:
        """The daemon's latest status (links, queues, quarantine) as JSON, rewritten each pass;
        the console's 网络 tab reads it."""
        return self.path / "status.json"

    def exists(self) -> bool:
        """Whether a node was initialised here."""
        return self.config_path.is_file()

    def load(self) -> NodeConfig:
        """Read and validate the config."""
        if not self.exists():
            raise ConfigError([f"{self.path} 不是节点目录（先运行 xinbao-syncd init）"])
        try:
            data = tomllib.loads(self.config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError([f"{self.config_path}：{reason(exc)}"]) from exc
        return parse_config(data)

    def save(self, config: NodeConfig) -> None:
        """Write the config atomically (temp file, fsync, rename)."""
        self.path.mkdir(parents=True, exist_ok=True)
        data: dict[str, Any] = dict(config.other)
        data["node"] = {
            "id": config.id,
            "name": config.name,
            "tier": config.tier.name.lower(),
            "parent": config.parent,
        }
        data["users"] = {u: [r.value for r in roles] for u, roles in sorted(config.users.items())}
        tmp = self.config_path.with_suffix(".toml.tmp")
        with open(tmp, "wb") as fh:
            tomli_w.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.config_path)
        dir_fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself must survive a crash
        finally:
            os.close(dir_fd)


def parse_config(data: dict[str, Any]) -> NodeConfig:
    """Validate a config mapping, reporting every problem by its key."""
    problems: list[str] = []
    node = data.get("node")
    if not isinstance(node, dict):
        raise ConfigError(["缺少 [node] 段"])
    node_id = node.get("id")
    if not isinstance(node_id, str) or not UNIT_ID.match(node_id):
        problems.append(f"node.id：“{node_id}”不是有效的单位代码")
    name = node.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append("node.name：必须填写")
    tier: Tier | None = None
    try:
        tier = Tier.parse(node.get("tier", ""), "node.tier")
    except ValidationError as exc:
        problems.append(str(exc))
    parent = node.get("parent", "")
    if not isinstance(parent, str) or (parent and not UNIT_ID.match(parent)):
        problems.append(f"node.parent：“{parent}”不是有效的单位代码")
    users: dict[str, tuple[Role, ...]] = {}
    raw_users = data.get("users", {})
    if not isinstance(raw_users, dict):
        problems.append("users：应为键值表")
        raw_users = {}
    for user, roles in raw_users.items():
        if not isinstance(roles, list):
            problems.append(f"users.{user}：应为角色列表")
            continue
        parsed: list[Role] = []
        for role in roles:
            try:
                parsed.append(Role.parse(role, f"users.{user}"))
            except ValidationError as exc:
                problems.append(str(exc))
        users[user] = tuple(parsed)
    raw_names = data.get("names", {})
    if not isinstance(raw_names, dict):
        problems.append('names：应为键值表（用户名 = "姓名"）')
    else:
        for user, full in raw_names.items():
            if not isinstance(full, str) or not 0 < len(full.strip()) <= FULL_NAME_MAX:
                problems.append(f"names.{user}：应为 1 至 {FULL_NAME_MAX} 字的姓名")
            elif any(ord(ch) < 32 for ch in full):
                problems.append(f"names.{user}：不能包含控制字符")
    if problems:
        raise ConfigError(problems)
    assert tier is not None
    other = {k: v for k, v in data.items() if k not in ("node", "users")}
    return NodeConfig(
        id=str(node_id), name=str(name).strip(), tier=tier, parent=parent, users=users, other=other
    )
