"""网络: whether the sync daemon runs, its links (state, queue, ceiling, last contact and
error), bundles awaiting receipts and in quarantine — read from the status file the daemon
rewrites every second — and, from the store, the records held above a link's classification
ceiling and this desk's records not yet handed to the daemon.

The console never imports syncd: the file is the contract (``Engine.status()`` plus
``written_at`` and ``pid``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from console import rostertext
from console.screen.desk import DeskScreen, store_version
from console.text import cell_width, fit
from schema import resync, roster
from schema.clock import CHINA, from_text
from schema.desk import Desk
from schema.error import reason
from schema.store import Store
from schema.vocabulary import Urgency

# the daemon rewrites its status when it changes and 15 s after the last write; this long
# without a write means trouble
STALE_SECONDS = 30.0
REREAD_SECONDS = 1.0
SCROLLBAR = 2
STATES = {"ok": ("正常", "green"), "waiting": ("未联系", "yellow"), "failing": ("故障", "bold red")}
KINDS = {"http": "HTTP", "folder": "文件夹", "pull": "由对方拉取"}
FEED_STATES = {
    "ok": ("正常", "green"),
    "waiting": ("未读取", "yellow"),
    "failing": ("故障", "bold red"),
}
HELD_LIMIT = 200  # rows of the held table shown (the rest counted)


@dataclass(frozen=True)
class HeldRow:
    """A record the daemon holds back from a neighbour above the link's ceiling."""

    record_id: str
    title: str  # the item's title when the record is an item, else ""
    peer: str
    peer_label: str
    ceiling: str
    since: datetime


@dataclass(frozen=True)
class Pending:
    """This desk's records not yet handed to the daemon (the outbox), by urgency."""

    by_urgency: dict[str, int]
    oldest: datetime | None

    @property
    def total(self) -> int:
        """Every record waiting, whatever its urgency."""
        return sum(self.by_urgency.values())


@dataclass(frozen=True)
class Network:
    """One look at the node: the daemon's status file and the store's queues."""

    now: datetime
    path: Path | None
    status: dict[str, Any] | None  # None: no status file
    problem: str  # why the file could not be read ("" when it could, or is absent)
    held: list[HeldRow]
    held_total: int
    pending: Pending
    book: list[roster.Entry] | None = None  # the 通讯录, when read this time
    resync: dict[str, Any] | None = None  # after a restore (schema/resync.py): how far it is


def read_status(path: Path | None) -> tuple[dict[str, Any] | None, str]:
    """The daemon's status from ``path``: (status, "") or (None, "") when there is no file,
    (None, reason) when it cannot be read."""
    if path is None:
        return None, ""
    try:
        raw = path.read_text("utf-8")
    except FileNotFoundError:
        return None, ""
    except OSError as exc:
        return None, f"状态文件无法读取：{reason(exc)}"
    try:
        status = json.loads(raw)
    except ValueError:
        return None, "状态文件内容无法解析"
    if not isinstance(status, dict):
        return None, "状态文件内容无法解析"
    return status, ""


def held_rows(store: Store, limit: int = HELD_LIMIT) -> tuple[list[HeldRow], int]:
    """The store's ``held`` rows (oldest first, at most ``limit``) and how many there are."""
    total = int(store.one("SELECT COUNT(*) AS n FROM held")["n"])  # type: ignore[index]
    rows = store.query(
        "SELECT h.record_id, h.peer, h.ceiling, h.since, i.title, u.name, u.short FROM held h "
        "LEFT JOIN item i ON i.id = h.record_id LEFT JOIN unit u ON u.id = h.peer "
        "ORDER BY h.since, h.record_id, h.peer LIMIT ?",
        (limit,),
    )
    return [
        HeldRow(
            r["record_id"],
            r["title"] or "",
            r["peer"],
            r["short"] or r["name"] or "",
            r["ceiling"],
            from_text(r["since"]),
        )
        for r in rows
    ], total


def pending_records(store: Store, priority: dict[Urgency, int]) -> Pending:
    """Records in the outbox not yet shipped, counted by the urgency their priority stands
    for (``priority``: the desk rules' urgency → queue priority; a priority between two
    counts as the lower urgency)."""
    ranked = sorted(priority.items(), key=lambda kv: kv[1])
    counts = {u.value: 0 for u, _ in sorted(ranked, key=lambda kv: -kv[1])}
    rows = store.query(
        "SELECT priority, COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox "
        "WHERE shipped_at IS NULL GROUP BY priority"
    )
    oldest: datetime | None = None
    for r in rows:
        urgency = ranked[0][0]
        for u, p in ranked:
            if r["priority"] >= p:
                urgency = u
        counts[urgency.value] += r["n"]
        at = from_text(r["oldest"])
        oldest = at if oldest is None or at < oldest else oldest
    return Pending(counts, oldest)


def look(desk: Desk, path: Path | None, with_book: bool = True) -> Network:
    """Read the status file and the store's queues (in a worker: file and store I/O); with
    ``with_book`` the 通讯录 too (read when the store changed, not every second)."""
    status, problem = read_status(path)
    held, total = held_rows(desk.store)
    return Network(
        desk.clock(),
        path,
        status,
        problem,
        held,
        total,
        pending_records(desk.store, desk.rules.priority),
        roster.book(desk.store, desk.node.id) if with_book else None,
        resync.summary(desk.store),
    )


def book_text(book: list[roster.Entry], width: int) -> Text:
    """通讯录: this office and every unit below, whom to phone; a unit that never sent its
    roster, or names no 信息员 or 分管领导, stands out."""
    lacking = sum(1 for e in book if not e.people or e.missing)
    text = Text()
    text.append(f"\n通讯录（{len(book)} 个单位", style="bold")
    text.append(f"，{lacking} 个未报或不全" if lacking else "", style="bold yellow")
    text.append("）\n", style="bold")
    for entry in rostertext.in_order(book):
        for n, line in enumerate(rostertext.entry_lines(entry)):
            short = not entry.people or bool(entry.missing)
            style = "bold yellow" if n == 0 and short else ("bold" if n == 0 else "")
            text.append(fit(line, width).rstrip() + "\n", style=style)
    return text


def stamp(at: float | int | None, seconds: bool = False) -> str:
    """A unix time as desks read it: 11月21日 15:58 (with seconds: 11月21日 15:58:30)."""
    if not isinstance(at, int | float) or not at:
        return "—"
    local = datetime.fromtimestamp(at, CHINA)
    return f"{local.month}月{local.day}日 {local:%H:%M:%S}" if seconds else when(local)


def when(at: datetime | None) -> str:
    """A stored time: 11月21日 15:58."""
    if at is None:
        return "—"
    local = at.astimezone(CHINA)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def daemon_line(net: Network) -> tuple[str, str]:
    """Whether the daemon runs, as (text, style); judged by ``written_at`` against the desk's
    clock, so a fixed clock gives the same answer every time."""
    if net.problem:
        return f"同步服务状态不明（{net.problem}）", "bold yellow"
    if net.status is None:
        return "同步服务未运行（未找到状态文件）", "bold red"
    written = net.status.get("written_at")
    if not isinstance(written, int | float):
        return "同步服务状态不明（状态文件未注明更新时间）", "bold yellow"
    if net.now.timestamp() - written > STALE_SECONDS:
        return f"同步服务可能已停止（状态更新于 {stamp(written, True)}）", "bold red"
    pid = net.status.get("pid")
    process = f"进程 {pid}，" if isinstance(pid, int) else ""
    return f"同步服务运行中（{process}状态更新于 {stamp(written, True)}）", "bold green"


def _count(value: Any) -> int:
    return value if isinstance(value, int) else 0


def link_text(link: dict[str, Any], width: int) -> Text:
    """One link in three or four lines: state, peer and name; how and where, ceiling; queue,
    oldest, blocked, last contact; last error."""
    text = Text()
    state, style = STATES.get(str(link.get("state", "")), (str(link.get("state", "")), ""))
    peer, name = str(link.get("peer", "")), str(link.get("name", "") or "")
    text.append(fit(state, 8), style=style)
    text.append(fit(f"{peer} {name}".strip(), width - 8).rstrip() + "\n", style="bold")
    indent = " " * 8
    kind = str(link.get("kind", ""))
    # a pulled link's "where" only repeats that the peer pulls
    where = KINDS[kind] if kind == "pull" else f"{KINDS.get(kind, kind)}　{link.get('where', '')}"
    ceiling = f"　密级上限 {link['ceiling']}" if link.get("ceiling") else ""
    room = width - 8 - cell_width(ceiling)
    text.append(indent + fit(where, room).rstrip() + ceiling + "\n")
    depth, blocked = _count(link.get("depth")), _count(link.get("blocked"))
    text.append(indent + f"队列 {depth}", style="bold" if depth else "")
    if depth:
        text.append(f"　最早 {stamp(link.get('oldest'))}")
    if blocked:
        text.append(f"　受密级限制 {blocked}", style="yellow")
    text.append(f"　最近联系 {stamp(link.get('last_contact'))}\n")
    if link.get("last_error"):
        _problem(text, "最近错误", link["last_error"], width, "red")
    return text


def _problem(text: Text, label: str, problem: object, width: int, style: str) -> None:
    """An indented line under a link or feed: its last error on one line, cut to fit."""
    line = " ".join(str(problem).split())
    text.append(" " * 8 + fit(f"{label}：{line}", width - 8).rstrip() + "\n", style=style)


def feed_text(feed: dict[str, Any], width: int) -> Text:
    """One feed source in two or three lines: state and name; leads, last read, next read,
    where; the last problem."""
    text = Text()
    state, style = FEED_STATES.get(str(feed.get("state", "")), (str(feed.get("state", "")), ""))
    text.append(fit(state, 8), style=style)
    text.append(fit(str(feed.get("name", "")), width - 8).rstrip() + "\n", style="bold")
    indent = " " * 8
    line = (
        f"线索 {_count(feed.get('leads'))}　最近读取 {stamp(feed.get('last_ok'))}"
        f"　下次 {stamp(feed.get('next_at'))}　{feed.get('where', '')}"
    )
    text.append(indent + fit(line, width - 8).rstrip() + "\n")
    if feed.get("last_error"):
        colour = "red" if _count(feed.get("failures")) else "yellow"
        _problem(text, "最近问题", feed["last_error"], width, colour)
    return text


def resync_text(sync: dict[str, Any], width: int) -> Text:
    """After a restore: whether the resync runs, and each neighbour's answer."""
    text = Text()
    peers = [p for p in sync.get("peers", []) if isinstance(p, dict)]
    answered = sum(1 for p in peers if p.get("answered_at"))
    running = bool(sync.get("running"))
    text.append("重新同步 ")
    text.append("进行中" if running else "已完成", style="bold yellow" if running else "green")
    text.append(f"：已答复 {answered}/{len(peers)}")
    if _count(sync.get("waiting")):
        text.append(f"　待补齐记录 {_count(sync.get('waiting'))}", style="yellow")
    if _count(sync.get("coming")):
        text.append(f"　待到达数据包 {_count(sync.get('coming'))}", style="yellow")
    text.append("\n")
    for p in peers:
        if p.get("forgotten"):
            line = f"{p.get('peer', '')}　不再等待（操作员）"
        elif p.get("answered_at"):
            line = (
                f"{p.get('peer', '')}　{when(from_text(str(p['answered_at'])))} 答复，"
                f"重发数据包 {_count(p.get('bundles'))}，回传本节点记录 {_count(p.get('records'))}"
            )
        else:
            line = (
                f"{p.get('peer', '')}　等待答复（{when(from_text(str(p.get('asked_at'))))} 请求）"
            )
        text.append(" " * 8 + fit(line, width - 8).rstrip() + "\n")
    return text


def network_text(net: Network, width: int) -> Text:
    """The tab below its status line (whether the daemon runs) in ``width`` cells."""
    width = max(40, width)
    text = Text()
    status = net.status or {}
    if status:
        quarantined = _count(status.get("quarantined"))
        text.append(f"节点 {status.get('node', '')}　待回执数据包 ")
        text.append(str(_count(status.get("awaiting_receipts"))))
        text.append("　隔离区 ")
        text.append(str(quarantined), style="bold red" if quarantined else "")
        taken = status.get("backup")
        at = taken.get("at") if isinstance(taken, dict) else None
        text.append("　最近备份 ")
        text.append(stamp(at) if at else "从未", style="" if at else "yellow")
        if status.get("restored"):
            text.append("　由备份恢复", style="yellow")
        text.append("\n")
    if net.resync:
        text.append_text(resync_text(net.resync, width))
    pending = net.pending
    text.append("本单位待发记录 ")
    text.append(
        "　".join(f"{u} {n}" for u, n in pending.by_urgency.items()),
        style="bold" if pending.total else "",
    )
    if pending.oldest is not None:
        text.append(f"　最早 {when(pending.oldest)}")
    text.append("\n")

    links = status.get("links")
    if isinstance(links, list) and links:
        text.append(f"\n链路（{len(links)}）\n", style="bold")
        for link in links:
            if isinstance(link, dict):
                text.append_text(link_text(link, width))
    elif status:
        text.append("\n（没有链路）\n")

    feeds = status.get("feeds")
    if isinstance(feeds, list) and feeds:
        text.append(f"\n订阅源（{len(feeds)}）\n", style="bold")
        for feed in feeds:
            if isinstance(feed, dict):
                text.append_text(feed_text(feed, width))

    if net.book is not None:
        text.append_text(book_text(net.book, width))
    text.append(f"\n因密级上限暂缓发出（{net.held_total}）\n", style="bold")
    if not net.held:
        text.append("（无）\n")
    else:
        text.append(f"{fit('记录', 22)}{fit('发往', 12)}{fit('上限', 6)}{fit('起始', 16)}标题\n")
        for h in net.held:
            peer = h.peer_label or net.labels.get(h.peer, "") or h.peer
            head = (
                f"{fit(h.record_id, 22)}{fit(peer, 12)}{fit(h.ceiling, 6)}{fit(when(h.since), 16)}"
            )
            text.append(head + fit(h.title, max(4, width - cell_width(head))).rstrip() + "\n")
        if net.held_total > len(net.held):
            text.append(f"（另有 {net.held_total - len(net.held)} 条未列出）\n")
    text.rstrip()
    return text


class NetworkScreen(DeskScreen):
    """网络, read again every second in a worker (the status file and the store)."""

    TAB = "network"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh", "刷新", tooltip="立即重读同步服务状态与待发队列"),
    ]

    def __init__(self, desk: Desk) -> None:
        super().__init__(desk)
        self.shown: Network | None = None
        self.book_version: int | None = None  # the store's version the 通讯录 was read at

    def body(self) -> Iterable[Widget]:
        yield Static("同步服务状态读取中……", id="status", markup=False)
        with VerticalScroll(id="network"):
            yield Static(id="links", markup=False)

    def on_mount(self) -> None:
        self.query_one("#network").focus()
        self.tick()
        self.set_interval(REREAD_SECONDS, self.tick)

    def tick(self) -> None:
        """Read the status file and the queues again."""
        path: Path | None = getattr(self.app, "status_path", None)
        version = store_version(self.desk.store)
        again = version != self.book_version
        self.book_version = version
        # every result is shown: only a read made when the store changed carries the 通讯录,
        # and a later one (a second on) must not drop it if it was slow
        self.read(lambda desk: look(desk, path, again), self._looked, group="network", every=True)

    def action_refresh(self) -> None:
        self.book_version = None  # the 通讯录 too
        self.asked = True  # said when read: a key that redraws the same screen still answers
        self.tick()

    def _looked(self, net: Network) -> None:
        if net.book is None and self.shown is not None:  # kept from the last read
            net = replace(net, book=self.shown.book)
        self.shown = net
        self._draw()
        if getattr(self, "asked", False):
            self.asked = False
            self.notify("已刷新", timeout=2)

    def _draw(self) -> None:
        net = self.shown
        if net is None:
            return
        line, style = daemon_line(net)
        self.query_one("#status", Static).update(Text(line, style=style))
        self.query_one("#links", Static).update(network_text(net, self.size.width - SCROLLBAR))

    def on_resize(self, event: events.Resize) -> None:
        self._draw()
