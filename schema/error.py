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

import errno
import json
import re
import tomllib


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


# -- library errors in a desk's words --------------------------------------------------------
# Python's file and parser errors speak English (``No such file or directory``, ``Illegal
# character '\n' (at line 1, column 12)``); a desk reads them through :func:`reason`.

_ERRNO = {
    "ENOENT": "文件或目录不存在",
    "EACCES": "没有权限",
    "EPERM": "不允许的操作",
    "EISDIR": "这是一个目录，不是文件",
    "ENOTDIR": "路径中有一段不是目录",
    "EEXIST": "已经存在",
    "ENOSPC": "磁盘空间不足",
    "EDQUOT": "超出磁盘配额",
    "EROFS": "文件系统只读",
    "EBUSY": "正被占用",
    "ENAMETOOLONG": "文件名过长",
    "ELOOP": "符号链接层数过多",
    "EMFILE": "打开的文件过多",
    "ENFILE": "打开的文件过多",
    "EIO": "读写出错（磁盘或设备故障）",
    "ENOTEMPTY": "目录不为空",
    "EXDEV": "不能跨文件系统移动",
    "EFBIG": "文件过大",
    "EINVAL": "参数无效",
    "ETIMEDOUT": "连接超时",
    "ECONNREFUSED": "连接被拒绝",
    "ECONNRESET": "连接被重置",
    "EHOSTUNREACH": "无法到达主机",
    "ENETUNREACH": "网络不可达",
    "EADDRINUSE": "端口已被占用",
}

# tomllib's messages (CPython 3.11–3.13), by how they begin
_TOML = (
    ("Illegal character", "含有不允许的字符"),
    ("Invalid value", "值无效"),
    ("Invalid statement", "语句无效"),
    ("Invalid initial character for a key", "键名以不允许的字符开头"),
    ("Invalid date or datetime", "日期或时间无效"),
    ("Invalid hex value", "十六进制转义无效"),
    ("Expected '=' after a key", "键名后缺少“=”"),
    ("Expected ']]'", "数组表声明缺少“]]”"),
    ("Expected ']'", "表声明缺少“]”"),
    ("Expected newline or end of document", "一条语句之后应换行"),
    ("Expected", "缺少应有的符号"),
    ("Unclosed array", "数组缺少“]”"),
    ("Unclosed inline table", "内联表缺少“}”"),
    ("Unterminated string", "字符串缺少结束引号"),
    ("Unescaped '\\'", "字符串中的“\\”未转义"),
    ("Escaped character is not a Unicode scalar value", "转义字符无效"),
    ("Found invalid character", "转义序列中有无效字符"),
    ("Cannot overwrite a value", "重复赋值"),
    ("Cannot declare", "重复声明同一个表"),
    ("Cannot redefine namespace", "重复定义同一个表"),
    ("Cannot mutate immutable namespace", "不能修改已定义的表"),
    ("Duplicate inline table key", "内联表中键名重复"),
)

# json's messages, by how they begin
_JSON = (
    ("Expecting value", "缺少值"),
    ("Expecting property name", "键名须用双引号括起"),
    ("Expecting ',' delimiter", "缺少逗号"),
    ("Expecting ':' delimiter", "缺少冒号"),
    ("Unterminated string", "字符串缺少结束引号"),
    ("Invalid control character", "字符串中有控制字符"),
    ("Invalid \\escape", "转义无效"),
    ("Invalid \\uXXXX escape", "转义无效"),
    ("Extra data", "末尾有多余内容"),
)

_AT = re.compile(r" \(at line (\d+), column (\d+)\)$|\(at end of document\)$")


def reason(exc: BaseException) -> str:
    """What went wrong, in Chinese, for an error raised by the standard library: a file
    operation (by its errno), a TOML or JSON parse (with the line and column), a text that is
    not UTF-8. Anything else keeps its own message."""
    if isinstance(exc, tomllib.TOMLDecodeError):
        text = str(exc)
        where = ""
        if found := _AT.search(text):
            text = text[: found.start()].rstrip()
            where = f"第 {found[1]} 行第 {found[2]} 列：" if found[1] else "文件末尾："
        said = next((zh for en, zh in _TOML if text.startswith(en)), "格式错误")
        return f"{where}{said}"
    if isinstance(exc, json.JSONDecodeError):
        said = next((zh for en, zh in _JSON if exc.msg.startswith(en)), "格式错误")
        return f"第 {exc.lineno} 行第 {exc.colno} 列：{said}"
    if isinstance(exc, UnicodeDecodeError):
        return "不是 UTF-8 编码的文本"
    if isinstance(exc, OSError):
        name = errno.errorcode.get(exc.errno or 0, "")
        return _ERRNO.get(name, f"系统错误 {name}" if name else "系统错误")
    return str(exc)
