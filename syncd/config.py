"""The daemon's own config: ``syncd.toml`` in the node home (links, listen address, timers, limits).

``config.toml`` says who the node is and who may act at its desk (``schema/node.py``); this file
says how the daemon moves bundles. A missing file means every default and no links. Every
problem is reported at once, by key (``links.140200.url：不是 http:// 或 https:// 地址``), in
one :class:`SyncConfigError` (a ``ConfigError``) whose message starts with the file's path.
Unknown keys are problems too, so a typo never passes silently; booleans are not numbers.

The format::

    listen = "127.0.0.1:8470"      # optional HOST:PORT (IPv6 as [::1]:8470); port 0 = ephemeral;
                                   # `run --listen` overrides; unset: no HTTP endpoint
    tls_cert = ""                  # optional PEM paths: serve HTTPS when both are set
    tls_key = ""                   # ("" = unset; one without the other is a problem)
    drop = ["/media/usb/xinbao"]   # watched drop folders (default: [HOME/drop]; [] = none)

    [intervals]                    # seconds, all > 0 (integers accepted)
    send = 1.0                     # while bundles wait for a link: how often it is tried (an
                                   # idle daemon sleeps; a commit, upload or drop wakes it)
    fetch = 5.0                    # how often a child pulls from its parent
    retry_min = 1.0                # first retry delay after a failed transfer (<= retry_max)
    retry_max = 300.0              # backoff cap (exponential with jitter between)
    resend_after = 600.0           # resend a bundle with no end-to-end receipt after this
    drop_poll = 2.0                # polling fallback for drop folders (removable media)
    stable = 1.0                   # a dropped file must keep its size this long before import
                                   # (unless the watcher saw its writer close it)
    abandon = 3600.0               # an incomplete dropped file unchanged this long: quarantined
    wake_poll = 0.05               # where the store's folder cannot be watched (inotify): how
                                   # often it is checked for a desk's new sign-off
    feed_backoff_max = 21600.0     # a failing feed is retried at its interval, doubling per
                                   # failure up to this

    [limits]
    max_upload_bytes = 2147483648  # integer > 0
    uploads_per_minute = 60000     # per peer, integer > 0 (a relay's backlog comes in bursts)
    timeout = 30.0                 # HTTP timeout seconds, > 0
    resume_above = 8388608         # bundles larger than this go by resumable upload (bytes)
    partial_ttl = 86400.0          # an interrupted upload not resumed this long is deleted
    max_feed_bytes = 5242880       # a feed document larger than this is refused
    max_partial_bytes_per_peer = 4294967296  # what one neighbour may hold here in unfinished
                                   # uploads (resumable parts and bodies being received), bytes
    max_partial_uploads_per_peer = 32  # resumable parts one neighbour may hold here at once
    max_nonces_per_peer = 100000   # signed requests one neighbour may make within the clock-skew
                                   # window (their nonces are kept that long to refuse replays)
    min_body_rate = 4096           # bytes/s: a request body slower than this on average after
                                   # `timeout` seconds (or idle for `timeout`) is cut off (408)
    header_timeout = 10.0          # seconds a client has to send a request line and headers
    keep_alive = 5                 # seconds an idle connection is kept open, integer > 0
    max_connections = 512          # connections served at once; more are answered 503
    max_header_bytes = 16384       # a request line and headers not complete at this size: 400
    backlog = 128                  # connections waiting to be accepted
                                   # (these five take effect when the daemon starts)

    [links.140200]                 # one table per neighbour, keyed by node id (schema UNIT_ID)
    url = "http://127.0.0.1:8471"  # exactly one of url / folder
    # folder = "/media/usb/to-140200"
    ceiling = "机密"                # highest classification sent on this link (default 机密)
    hybrid = false                 # true: what this node seals for recipients reached over it
                                   # is wrapped post-quantum hybrid (a USB stick, a leased line)

    [[feeds]]                      # media and government feeds read for the desk's leads
    name = "大同日报"               # the source, as the desk sees it (unique)
    url = "https://example.cn/rss"  # RSS 2.0, Atom or JSON Feed; exactly one of url / folder
    # folder = "/media/usb/feeds"  # air-gapped desk: feed files carried into this folder
    interval = 900.0               # seconds between fetches (default 900)
    keywords = ["欠薪", "煤改电"]   # optional; the themes of the reporting priorities held
                                   # here are added by themselves

Relative paths (``drop``, ``tls_cert``, ``tls_key``, ``links.*.folder``, ``feeds.*.folder``)
are relative to the node home. Paths are not checked for existence here (removable media come
and go); the daemon reports a missing one when it needs it. A link folder may not also be a
drop folder: the node would import what it just sent; nor may a feed folder (feed files are
not bundles).

:func:`save_link` and :func:`remove_link` rewrite the file from its parsed TOML, so every value
is kept but comments are not; the result is validated exactly as :func:`load` will read it
before the old file is replaced (temp file, fsync, rename, fsync dir).
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import math
import os
import re
import stat
import tomllib
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomli_w

from schema.error import ConfigError, NotFound, ValidationError, reason
from schema.itemfile import UNIT_ID
from schema.vocabulary import Classification
from syncd.keys import write_durably

SYNC_CONFIG_FILE = "syncd.toml"
DEFAULT_DROP = "drop"
_TOP_KEYS = ("listen", "tls_cert", "tls_key", "drop", "intervals", "limits", "links", "feeds")
_LINK_KEYS = ("url", "folder", "ceiling", "hybrid")
_FEED_KEYS = ("name", "url", "folder", "interval", "keywords")
DEFAULT_FEED_INTERVAL = 900.0
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_PORT = re.compile(r"[0-9]{1,5}")
_LINKS_NOT_TABLE = "links：应为表，每个相邻节点一个 [links.单位代码]"
_HEADER = (
    "# xinbao-syncd 的配置，格式见 syncd/config.py。\n"
    "# 本文件由 xinbao-syncd link add / link remove 改写，各项设置保留，注释不保留。\n\n"
)


class SyncConfigError(ConfigError):
    """``syncd.toml`` is unreadable or wrong; the message names the file, then every bad key."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__(problems)
        self.path = path
        self.message = f"{path} 有误：" + "；".join(problems)
        self.args = (self.message,)


@dataclass(frozen=True)
class Intervals:
    """The daemon's timers, in seconds (all > 0)."""

    send: float = 1.0
    fetch: float = 5.0
    retry_min: float = 1.0
    retry_max: float = 300.0
    resend_after: float = 600.0
    drop_poll: float = 2.0
    stable: float = 1.0
    abandon: float = 3600.0
    wake_poll: float = 0.05
    feed_backoff_max: float = 21600.0


@dataclass(frozen=True)
class HttpLimits:
    """Limits of the HTTP endpoint and client (not the bundle limits of ``syncd.bundle``)."""

    max_upload_bytes: int = 2 * 1024**3
    uploads_per_minute: int = 60000
    timeout: float = 30.0
    resume_above: int = 8 * 1024**2
    partial_ttl: float = 86400.0
    max_feed_bytes: int = 5 * 1024**2
    # the HTTP endpoint's defences (syncd/http.py, syncd/daemon.py)
    max_partial_bytes_per_peer: int = 4 * 1024**3
    max_partial_uploads_per_peer: int = 32
    max_nonces_per_peer: int = 100_000
    min_body_rate: int = 4096
    header_timeout: float = 10.0
    keep_alive: int = 5
    max_connections: int = 512
    max_header_bytes: int = 16 * 1024
    backlog: int = 128


@dataclass(frozen=True)
class Link:
    """A link to one neighbour: over HTTP (``url``) or through a carried folder (``folder``)."""

    peer: str
    url: str | None = None
    folder: Path | None = None
    ceiling: Classification = Classification.CONFIDENTIAL
    hybrid: bool = False  # every bundle over it must be wrapped hybrid (docs/pq.md)

    def carries(self, classification: Classification) -> bool:
        """Whether a record of ``classification`` may travel over this link."""
        return classification <= self.ceiling


@dataclass(frozen=True)
class Feed:
    """A feed read for the desk's leads: a URL fetched, or a folder of carried feed files."""

    name: str
    url: str | None = None
    folder: Path | None = None
    interval: float = DEFAULT_FEED_INTERVAL
    keywords: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        """The URL or the folder, for status lines."""
        return self.url if self.url is not None else str(self.folder)


@dataclass(frozen=True)
class SyncConfig:
    """The parsed ``syncd.toml``; paths are already resolved against the node home."""

    listen: tuple[str, int] | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    drop: tuple[Path, ...] = ()
    intervals: Intervals = field(default_factory=Intervals)
    limits: HttpLimits = field(default_factory=HttpLimits)
    links: dict[str, Link] = field(default_factory=dict)
    feeds: tuple[Feed, ...] = ()

    @property
    def https(self) -> bool:
        """Whether the endpoint serves HTTPS (both TLS paths set)."""
        return self.tls_cert is not None and self.tls_key is not None


def config_path(home: Path) -> Path:
    """Where ``syncd.toml`` lives in a node home."""
    return home / SYNC_CONFIG_FILE


def load(home: Path) -> SyncConfig:
    """Read and validate ``home/syncd.toml``; a missing file gives every default and no links."""
    path = config_path(home)
    return _parse(_read(path), home, path)


def save_link(home: Path, link: Link) -> None:
    """Add or replace the link to ``link.peer``, keeping every other setting."""
    path = config_path(home)
    data = _read(path)
    links = data.get("links", {})
    if not isinstance(links, dict):
        raise SyncConfigError(path, [_LINKS_NOT_TABLE])
    data["links"] = {**links, link.peer: _link_table(link)}
    _rewrite(home, path, data)


def remove_link(home: Path, peer: str) -> None:
    """Remove the link to ``peer``, keeping every other setting; no such link is NotFound."""
    path = config_path(home)
    data = _read(path)
    links = data.get("links", {})
    if not isinstance(links, dict):
        raise SyncConfigError(path, [_LINKS_NOT_TABLE])
    if peer not in links:
        raise NotFound(f"{path} 中没有到 {peer} 的链路")
    rest = {key: value for key, value in links.items() if key != peer}
    if rest:
        data["links"] = rest
    else:
        del data["links"]
    _rewrite(home, path, data)


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (IPv6 as ``[::1]:8470``) as ``(host, port)``, host without brackets."""
    try:
        return _split_listen(text)
    except ValueError as exc:
        raise ConfigError([f"监听地址“{text}”：{exc}"]) from exc


def format_listen(host: str, port: int) -> str:
    """The inverse of :func:`parse_listen`: IPv6 hosts get their brackets back."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- reading -------------------------------------------------------------------------------


def _read(path: Path) -> dict[str, Any]:
    """The raw TOML of ``path``, or ``{}`` when there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as exc:
        raise SyncConfigError(path, ["不是 UTF-8 编码的文本"]) from exc
    except OSError as exc:
        raise SyncConfigError(path, [f"无法读取（{reason(exc)}）"]) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SyncConfigError(path, [f"不是有效的 TOML（{reason(exc)}）"]) from exc


def _parse(data: dict[str, Any], home: Path, path: Path) -> SyncConfig:
    """Validate a raw config, collecting every problem before raising one error."""
    problems: list[str] = []
    _unknown(data, _TOP_KEYS, "", problems)

    listen: tuple[str, int] | None = None
    raw_listen = data.get("listen", "")
    if not isinstance(raw_listen, str):
        problems.append(f"listen：应为“主机:端口”文字，实际为 {_show(raw_listen)}")
    elif raw_listen.strip():
        try:
            listen = _split_listen(raw_listen)
        except ValueError as exc:
            problems.append(f"listen：“{raw_listen}”{exc}")

    tls: dict[str, Path | None] = {}
    for key in ("tls_cert", "tls_key"):
        raw = data.get(key, "")
        tls[key] = None if raw == "" else _path(raw, key, "", home, problems)
    for key, other in (("tls_cert", "tls_key"), ("tls_key", "tls_cert")):
        if data.get(key, "") == "" and data.get(other, "") != "":
            problems.append(f"{key}：设置了 {other} 时也须设置（两者都设置才提供 HTTPS）")

    drop = _drops(data, home, problems)
    intervals = Intervals(**_numbers(data, "intervals", Intervals(), problems))
    limits = HttpLimits(**_numbers(data, "limits", HttpLimits(), problems))
    bad = {problem.split("：", 1)[0] for problem in problems}
    retry_keys = {"intervals.retry_min", "intervals.retry_max"}
    if not bad & retry_keys and intervals.retry_min > intervals.retry_max:
        problems.append(
            f"intervals.retry_min：{_show(intervals.retry_min)} 不能大于 "
            f"intervals.retry_max（{_show(intervals.retry_max)}）"
        )
    links = _links(data, home, drop, problems)
    feeds = _feeds(data, home, drop, problems)

    if problems:
        raise SyncConfigError(path, problems)
    return SyncConfig(
        listen=listen,
        tls_cert=tls["tls_cert"],
        tls_key=tls["tls_key"],
        drop=drop,
        intervals=intervals,
        limits=limits,
        links=links,
        feeds=feeds,
    )


def _drops(data: dict[str, Any], home: Path, problems: list[str]) -> tuple[Path, ...]:
    if "drop" not in data:
        return (home / DEFAULT_DROP,)
    raw = data["drop"]
    if not isinstance(raw, list):
        problems.append(f'drop：应为目录列表，如 ["/media/usb/xinbao"]，实际为 {_show(raw)}')
        return ()
    drops: list[Path] = []
    for number, entry in enumerate(raw, 1):
        folder = _path(entry, "drop", f"第 {number} 项", home, problems)
        if folder is None:
            continue
        if _same(folder, drops):
            problems.append(f"drop：第 {number} 项 {folder} 重复")
            continue
        drops.append(folder)
    return tuple(drops)


def _numbers(
    data: dict[str, Any], section: str, defaults: Intervals | HttpLimits, problems: list[str]
) -> dict[str, Any]:
    """The fields of ``section``; a bad value is reported and its default kept."""
    table = _table(data, section, problems)
    names = [f.name for f in fields(defaults)]
    _unknown(table, names, section, problems)
    values: dict[str, Any] = {}
    for name in names:
        default = getattr(defaults, name)
        values[name] = default
        if name not in table:
            continue
        value = table[name]
        key = f"{section}.{name}"
        if isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                problems.append(f"{key}：应为大于 0 的整数，实际为 {_show(value)}")
                continue
            values[name] = value
        else:
            if not _seconds(value):
                problems.append(f"{key}：应为大于 0 的秒数，实际为 {_show(value)}")
                continue
            values[name] = float(value)
    return values


def _links(
    data: dict[str, Any], home: Path, drops: tuple[Path, ...], problems: list[str]
) -> dict[str, Link]:
    raw = data.get("links", {})
    if not isinstance(raw, dict):
        problems.append(_LINKS_NOT_TABLE)
        return {}
    links: dict[str, Link] = {}
    for peer, entry in raw.items():
        key = f"links.{peer}"
        ok = True
        if not UNIT_ID.fullmatch(peer):
            problems.append(f"{key}：“{peer}”不是有效的单位代码")
            ok = False
        if not isinstance(entry, dict):
            problems.append(f"{key}：应为表（[{key}]，含 url 或 folder），实际为 {_show(entry)}")
            continue
        _unknown(entry, _LINK_KEYS, key, problems)
        where = _url_or_folder(entry, key, home, drops, problems, query=False)
        ok = ok and where is not None
        url, folder = where or (None, None)
        ceiling = Classification.CONFIDENTIAL
        try:
            ceiling = Classification.parse(entry.get("ceiling", ceiling), f"{key}.ceiling")
        except ValidationError as exc:
            problems.append(f"{exc.field}：{exc.reason}")
            ok = False
        hybrid = entry.get("hybrid", False)
        if not isinstance(hybrid, bool):
            problems.append(f"{key}.hybrid：应为 true 或 false，实际为 {_show(hybrid)}")
            ok = False
        if ok:
            links[peer] = Link(peer, url, folder, ceiling, bool(hybrid))
    return links


def _feeds(
    data: dict[str, Any], home: Path, drops: tuple[Path, ...], problems: list[str]
) -> tuple[Feed, ...]:
    raw = data.get("feeds", [])
    if not isinstance(raw, list):
        problems.append(f"feeds：应为表的数组，每个来源一个 [[feeds]]，实际为 {_show(raw)}")
        return ()
    feeds: list[Feed] = []
    names: set[str] = set()
    for number, entry in enumerate(raw, 1):
        key = f"feeds 第 {number} 项"
        if not isinstance(entry, dict):
            problems.append(f"{key}：应为表（[[feeds]]，含 name 与 url 或 folder）")
            continue
        ok = True
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{key}.name：应为来源名称文字，如“大同日报”")
            ok = False
        else:
            name = name.strip()
            key = f"feeds.{name}"
            if name in names:
                problems.append(f"{key}：来源名称重复")
                ok = False
            names.add(name)
        _unknown(entry, _FEED_KEYS, key, problems)
        where = _url_or_folder(entry, key, home, drops, problems, query=True)
        ok = ok and where is not None
        url, folder = where or (None, None)
        interval = entry.get("interval", DEFAULT_FEED_INTERVAL)
        if not _seconds(interval):
            problems.append(f"{key}.interval：应为大于 0 的秒数，实际为 {_show(interval)}")
            ok = False
        words = entry.get("keywords", [])
        if not isinstance(words, list) or not all(
            isinstance(word, str) and word.strip() for word in words
        ):
            problems.append(f'{key}.keywords：应为关键词列表，如 ["欠薪", "煤改电"]')
            ok = False
        if ok:
            feeds.append(
                Feed(
                    name=str(name),
                    url=url,
                    folder=folder,
                    interval=float(interval),
                    keywords=tuple(dict.fromkeys(word.strip() for word in words)),
                )
            )
    return tuple(feeds)


def _url_or_folder(
    entry: dict[str, Any],
    key: str,
    home: Path,
    drops: tuple[Path, ...],
    problems: list[str],
    query: bool,
) -> tuple[str | None, Path | None] | None:
    """A link's or a feed's ``url`` or ``folder`` (exactly one; a folder that is not a drop
    folder), or None after reporting why not; ``query``: whether a URL may carry ``?…``."""
    if ("url" in entry) == ("folder" in entry):
        problems.append(f"{key}：url 与 folder 须填且只填一个")
        return None
    if "url" in entry:
        problem = _url_problem(entry["url"], query)
        if problem:
            problems.append(f"{key}.url：{problem}")
            return None
        return entry["url"], None
    folder = _path(entry["folder"], f"{key}.folder", "", home, problems)
    if folder is None:
        return None
    if _same(folder, drops):
        why = "订阅文件不是数据包" if query else "本节点会把发出的数据包再导入"
        problems.append(f"{key}.folder：{folder} 也是接收目录（drop），{why}")
        return None
    return None, folder


def _seconds(value: object) -> bool:
    """Whether ``value`` is a finite number of seconds above 0 (a boolean is not)."""
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and value > 0
    )


def _table(data: dict[str, Any], name: str, problems: list[str]) -> dict[str, Any]:
    value = data.get(name, {})
    if isinstance(value, dict):
        return value
    problems.append(f"{name}：应为表（[{name}]），实际为 {_show(value)}")
    return {}


def _unknown(
    table: dict[str, Any], known: tuple[str, ...] | list[str], where: str, problems: list[str]
) -> None:
    """Report every key of ``table`` not in ``known``, suggesting the nearest known one."""
    for key in table:
        if key in known:
            continue
        name = f"{where}.{key}" if where else key
        guess = difflib.get_close_matches(key, known, n=1)
        hint = f"（是否应为 {guess[0]}？）" if guess else f"（可用：{'、'.join(known)}）"
        problems.append(f"{name}：未知的设置项{hint}")


def _path(value: object, key: str, item: str, home: Path, problems: list[str]) -> Path | None:
    """A path setting resolved against ``home``, or None after reporting why it is bad."""
    if not isinstance(value, str):
        problems.append(f"{key}：{item}应为路径文字，实际为 {_show(value)}")
        return None
    if not value.strip():
        problems.append(f"{key}：{item}不能为空")
        return None
    if "\0" in value:
        problems.append(f"{key}：{item}含有非法字符")
        return None
    if value.startswith("~"):
        problems.append(f"{key}：{item}不支持 ~，请写完整路径")
        return None
    path = Path(value)
    return path if path.is_absolute() else home / path


def _same(path: Path, others: tuple[Path, ...] | list[Path]) -> bool:
    """Whether ``path`` names one of ``others`` (lexically: the folders need not exist)."""
    norm = os.path.normpath(path)
    return any(os.path.normpath(other) == norm for other in others)


def _url_problem(value: object, query: bool = False) -> str | None:
    """Why ``value`` is not a usable peer URL (or, with ``query``, feed URL: those often
    carry ``?…``), or None."""
    if not isinstance(value, str):
        return f"应为地址文字，实际为 {_show(value)}"
    try:
        parts = urlsplit(value)
    except ValueError:
        return f"“{value}”不是有效的地址"
    if parts.scheme.lower() not in ("http", "https"):
        return "不是 http:// 或 https:// 地址"
    if any(ch.isspace() for ch in value):
        return "地址中不能有空白"
    if not parts.hostname:
        return "缺少主机名"
    try:
        if parts.port == 0:
            return "端口应为 1–65535 的整数"
    except ValueError:
        return "端口应为 1–65535 的整数"
    if parts.username is not None or parts.password is not None:
        return "地址中不能含用户名或口令"
    if not query and (parts.query or parts.fragment):
        return "地址中不能带 ? 或 # 部分"
    return None


def _split_listen(text: str) -> tuple[str, int]:
    """Split ``HOST:PORT``; a ValueError carries the Chinese reason."""
    text = text.strip()
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError("IPv6 地址缺少右方括号，应写作 [::1]:8470")
        host, rest = text[1:close], text[close + 1 :]
        if not rest.startswith(":"):
            raise ValueError("缺少端口，应写作 [IPv6 地址]:端口，如 [::1]:8470")
        port_text = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"“{host}”不是有效的 IPv6 地址") from None
    else:
        host, colon, port_text = text.rpartition(":")
        if not colon:
            raise ValueError("缺少端口，应写作 主机:端口，如 127.0.0.1:8470")
        if ":" in host:
            raise ValueError("IPv6 地址须写在方括号中，如 [::1]:8470")
        if not host:
            raise ValueError("缺少主机，如 127.0.0.1 或 0.0.0.0")
        if not _HOSTNAME.fullmatch(host) or len(host) > 253:
            raise ValueError(f"“{host}”不是有效的主机名或 IPv4 地址")
        if re.fullmatch(r"[0-9.]+", host):
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise ValueError(f"“{host}”不是有效的 IPv4 地址") from None
    if not _PORT.fullmatch(port_text) or int(port_text) > 65535:
        raise ValueError(f"端口“{port_text}”应为 0–65535 的整数（0 表示临时端口）")
    return host, int(port_text)


def _show(value: object) -> str:
    """A value as the operator wrote it in TOML, for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"“{value}”"
    if isinstance(value, dict):
        return "一个表"
    if isinstance(value, list):
        return "一个列表"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


# --- writing -------------------------------------------------------------------------------


def _link_table(link: Link) -> dict[str, Any]:
    table: dict[str, Any] = {}
    if link.url is not None:
        table["url"] = link.url
    if link.folder is not None:
        table["folder"] = str(link.folder)
    table["ceiling"] = Classification(link.ceiling).value
    if link.hybrid:
        table["hybrid"] = True
    return table


def _rewrite(home: Path, path: Path, data: dict[str, Any]) -> None:
    """Validate ``data`` exactly as :func:`load` will read it, then replace the file durably."""
    text = _HEADER + tomli_w.dumps(data)
    _parse(tomllib.loads(text), home, path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o644
    except OSError as exc:
        raise SyncConfigError(path, [f"无法读取（{reason(exc)}）"]) from exc
    try:
        write_durably(path, text.encode("utf-8"), mode)
    except OSError as exc:
        # write_durably writes beside the file first; leave no half-written temp behind
        with contextlib.suppress(OSError):
            path.with_name(path.name + ".tmp").unlink(missing_ok=True)
        raise SyncConfigError(path, [f"无法写入（{reason(exc)}）"]) from exc
