"""The one error tree of schema.

    XinbaoError                 every error a desk may see; ``str()`` is one Chinese line
    ├── ValidationError         an item file or a field is wrong (names the field)
    ├── TransitionError         an edge may not move from its state to the one asked
    ├── PermissionDenied        the acting user lacks the role an operation needs
    ├── NotFound                no such item, unit or edge at this node
    ├── ConfigError             the node config is missing or wrong (names every key)
    └── StoreError              the store could not be opened or written

No ``sqlite3`` or ``tomllib`` exception escapes a public function of schema: the store and the
config loader translate them here (``raise ... from exc``).
"""

from __future__ import annotations


class XinbaoError(Exception):
    """Base of every error raised by schema; the message is meant for desk staff."""

    title = "错误"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ValidationError(XinbaoError):
    """A value is missing, of the wrong type or not allowed; ``field`` names it."""

    title = "内容有误"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"字段 {field}：{message}" if field else message)
        self.field = field
        self.reason = message


class TransitionError(XinbaoError):
    """An edge cannot move from its current state to the requested one."""

    title = "不能这样操作"


class PermissionDenied(XinbaoError):
    """The acting user does not hold a role the operation needs."""

    title = "无权操作"


class NotFound(XinbaoError):
    """No such item, unit, edge or record at this node."""

    title = "找不到"


class ConfigError(XinbaoError):
    """The node config is missing or invalid; ``problems`` lists every bad key."""

    title = "配置有误"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("节点配置有误：" + "；".join(problems))
        self.problems = problems


class StoreError(XinbaoError):
    """The node store could not be opened, migrated or written."""

    title = "数据库错误"
