"""``xinbao console``: the desk in a terminal (Textual), keyboard first, in Chinese.

This first cut has the 收件 inbox — a windowed list that renders only the rows on screen, so
a store of 100,000 items opens at once — the item view, a filter (``/``, full-text in
Chinese), and live refresh: records another process (the daemon) commits appear within half
a second without losing the cursor. The other screens of the console issue come next.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Footer, Header, Input, Label, Static

from console import itemtext, requests_text
from console.rows import FILTER_LIMIT, FIRST_PAINT, InboxRows, Row, fetch_ids
from console.text import cell_width, fit
from schema import desk as ops
from schema import emergency, view
from schema.attachment import Attachments
from schema.desk import Desk
from schema.error import XinbaoError
from schema.network import find_unit

REFRESH_SECONDS = 0.5
ACTION_NAMES = {"adopt": "采用", "return": "退回", "reserve": "存稿备用", "reject": "退稿"}
MARKS = {"公开": "", "内部": "内", "秘密": "密", "机密": "机"}


def row_text(row: Row, width: int) -> str:
    """One inbox line fitted to ``width`` cells: markings, source, state, received, title."""
    marks = (row.urgency if row.urgency != "平急" else "") + MARKS.get(row.classification, "")
    received = f"{row.received.month:>2}-{row.received.day:02} {row.received:%H:%M}"
    head = f"{fit(marks, 7)}{fit(row.peer, 10)}{fit(row.state, 8)}{fit(received, 12)}"
    return head + fit(row.title, max(4, width - cell_width(head)))


class InboxList(ScrollView, can_focus=True):
    """The windowed inbox: rows come from :class:`InboxRows` as they scroll into view."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "move(1)", "下移", show=False),
        Binding("k,up", "move(-1)", "上移", show=False),
        Binding("pagedown,ctrl+f", "page(1)", "下页", show=False),
        Binding("pageup,ctrl+b", "page(-1)", "上页", show=False),
        Binding("g,home", "jump(0)", "首条", show=False),
        Binding("G,end", "jump(-1)", "末条", show=False),
        Binding("space", "mark", "标记"),
        Binding("enter", "open", "查看"),
    ]

    cursor: reactive[int] = reactive(0)

    class Opened(Message):
        """The desk opened the item under the cursor."""

        def __init__(self, row: Row) -> None:
            super().__init__()
            self.row = row

    def __init__(self, rows: InboxRows, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.rows = rows
        self.marked: set[int] = set()  # edge ids
        self._strips: dict[tuple[int, int, bool, bool], Strip] = {}  # rendered lines
        self._loading = False
        self._sync_size()

    def _sync_size(self) -> None:
        self.virtual_size = Size(self.size.width or 80, len(self.rows))

    def on_resize(self, event: events.Resize) -> None:
        self._sync_size()

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.size.width
        row = self.rows.row(index)
        if row is None:
            text = "（没有信息）" if index == 0 and not len(self.rows) else ""
            return Strip([Segment(fit(text, width))])
        key = (row.edge_id, width, row.edge_id in self.marked, index == self.cursor)
        strip = self._strips.get(key)
        if strip is None:
            text = ("●" if key[2] else " ") + row_text(row, width - 1)
            style = Style()
            if row.urgency == "特急":
                style += Style(color="red", bold=True)
            if key[3]:
                style += Style(reverse=True)
            strip = Strip([Segment(text, style)], cell_width(text))
            if len(self._strips) > 4096:
                self._strips.clear()
            self._strips[key] = strip
        return strip

    def watch_cursor(self, old: int, new: int) -> None:
        top = self.scroll_offset.y
        self.scroll_to_cursor()
        if self.scroll_offset.y == top:  # only the two lines changed
            self.refresh_line(old - top)
            self.refresh_line(new - top)
        else:
            self.refresh()

    def scroll_to_cursor(self) -> None:
        height = max(1, self.size.height)
        top = self.scroll_offset.y
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False)

    def action_move(self, step: int) -> None:
        if len(self.rows):
            self.cursor = max(0, min(len(self.rows) - 1, self.cursor + step))

    def action_page(self, step: int) -> None:
        self.action_move(step * max(1, self.size.height - 1))

    def action_jump(self, where: int) -> None:
        if len(self.rows):
            self.cursor = where if where >= 0 else len(self.rows) - 1

    def action_mark(self) -> None:
        row = self.rows.row(self.cursor)
        if row is not None:
            self.marked ^= {row.edge_id}
            self.action_move(1)
            self.refresh()

    def action_open(self) -> None:
        row = self.rows.row(self.cursor)
        if row is not None:
            self.post_message(self.Opened(row))

    def current(self) -> Row | None:
        return self.rows.row(self.cursor)

    class Reloaded(Message):
        """The rows were read again."""

    def reload(self, background: bool = False) -> None:
        """Read the rows again, keeping the cursor on the same item and the marks; in the
        background (a worker thread with its own connection) for a store of any size."""
        if not background:  # the first thousand now, the rest from a worker
            self._keep_cursor(lambda: self.rows.reload(FIRST_PAINT))
            if self.rows.complete:
                return
        if self._loading:
            return  # the next refresh tick looks again
        self._loading = True
        version = self.rows.data_version()
        sql, params = self.rows.ids_query()
        path = self.rows.path()

        def load() -> None:
            ids = fetch_ids(path, sql, params) if sql else []
            self.app.call_from_thread(self._loaded, ids, version)

        self.run_worker(load, thread=True, group="inbox-ids", exit_on_error=False)

    def _loaded(self, ids: list[int], version: int) -> None:
        self._loading = False
        self._keep_cursor(lambda: self.rows.adopt(ids, version))

    def _keep_cursor(self, read: Callable[[], None]) -> None:
        here = self.current()
        read()
        self._strips.clear()
        self._sync_size()
        if here is not None:
            moved = self.rows.index_of(here.edge_id)
            self.cursor = moved if moved is not None else min(self.cursor, len(self.rows) - 1)
        self.cursor = max(0, min(self.cursor, max(0, len(self.rows) - 1)))
        self.refresh()
        self.post_message(self.Reloaded())


class AskText(ModalScreen[str | None]):
    """Ask for one line of text (a reason); Esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "取消")]

    def __init__(self, prompt: str) -> None:
        super().__init__()
        self.prompt = prompt

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.prompt)
            yield Input(id="answer")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Confirm(ModalScreen[bool]):
    """Yes or no before a destructive action: y confirms, n or Esc does not."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "确定"),
        Binding("n,escape", "answer(False)", "取消"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.question)
            yield Label("y 确定　n 取消")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class EmergencyScreen(Screen[None]):
    """紧急: first reports this desk owes, with live countdowns (colour as they near)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "app.pop_screen", "返回")]

    def __init__(self, desk: Desk) -> None:
        super().__init__()
        self.desk = desk

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="board", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.tick()
        self.set_interval(1.0, self.tick)

    def tick(self) -> None:
        now = self.desk.clock()
        owed = emergency.due(
            self.desk.store,
            self.desk.node.id,
            self.desk.node.parent,
            now,
            emergency.shipped_rules(),
        )
        board = self.query_one("#board", Static)
        if not owed:
            board.update("（没有待报的突发事件首报）")
            return
        text = Text()
        for d in owed:
            colour = {"超时": "bold red", "即将超时": "yellow"}.get(d.status, "")
            left = requests_text.countdown(d.deadline, now)
            line = (
                f"{fit(d.status, 10)}{fit(left, 14)}{fit(str(d.channel), 6)}"
                f"{fit(itemtext.label(self.desk.store, d.to_unit), 10)}{d.severity} {d.title}"
            )
            text.append(line + "\n", style=colour)
        board.update(text)


class ItemScreen(Screen[None]):
    """One item in full: markings at the top, text, provenance, edges, hints, audit."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "app.pop_screen", "返回")]

    def __init__(self, desk: Desk, attachments: Attachments, item_id: str) -> None:
        super().__init__()
        self.desk = desk
        self.attachments = attachments
        self.item_id = item_id

    def compose(self) -> ComposeResult:
        yield Header()
        shown = view.show(self.desk.store, self.item_id)
        lines = itemtext.item_lines(self.desk.store, shown, self.attachments)
        with VerticalScroll():
            yield Static("\n".join(lines), id="item", markup=False)
        yield Footer()


class InboxScreen(Screen[None]):
    """收件: the inbox with its filter line."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "筛选"),
        Binding("escape", "clear", "清除筛选", show=False),
        Binding("a", "triage('adopt')", "采用"),
        Binding("r", "triage('return')", "退回"),
        Binding("b", "triage('reserve')", "备用"),
        Binding("d", "triage('reject')", "退稿"),
        Binding("e", "emergencies", "紧急"),
    ]

    def __init__(self, desk: Desk) -> None:
        super().__init__()
        self.desk = desk
        self.rows = InboxRows(desk.store, desk.node.id)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self._status(), id="status")
        yield InboxList(self.rows, id="inbox")
        yield Input(placeholder="筛选：输入标题或正文中的字词，回车确定，Esc 清除", id="filter")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        inbox = self.query_one(InboxList)
        inbox.focus()
        if not self.rows.complete:  # the first thousand are on screen; the rest in a worker
            inbox.reload(background=True)
        self.set_interval(REFRESH_SECONDS, self._follow)

    def on_inbox_list_reloaded(self, message: InboxList.Reloaded) -> None:
        self.query_one("#status", Static).update(self._status())

    def _status(self) -> str:
        shown = f"　筛选“{self.rows.filter}”" if self.rows.filter else ""
        if self.rows.filter and len(self.rows) >= FILTER_LIMIT:
            shown += f"（显示最新 {FILTER_LIMIT} 条）"
        return f"收件 {len(self.rows)} 条{shown}"

    def _follow(self) -> None:
        """Show what another process committed (the daemon applying a bundle)."""
        if self.rows.changed():
            self.query_one(InboxList).reload(background=True)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_clear(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        self._apply_filter("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._apply_filter(event.value)
        self.query_one(InboxList).focus()

    def _apply_filter(self, text: str) -> None:
        self.rows.filter = text.strip()
        inbox = self.query_one(InboxList)
        inbox.cursor = 0
        inbox.reload()  # reads the ids for the new filter

    def chosen(self) -> list[Row]:
        """The marked rows, or the row under the cursor."""
        inbox = self.query_one(InboxList)
        marked = [
            r
            for i in range(len(self.rows))
            if (r := self.rows.row(i)) and r.edge_id in inbox.marked
        ]
        current = inbox.current()
        return marked or ([current] if current else [])

    def action_triage(self, what: str) -> None:
        rows = self.chosen()
        if not rows:
            return
        if what == "return":
            self.app.push_screen(
                AskText(f"退回 {len(rows)} 条信息，理由："),
                lambda reason: self._decide(rows, what, reason) if reason else None,
            )
        elif what == "reject":
            self.app.push_screen(
                Confirm(f"确定退稿 {len(rows)} 条信息？"),
                lambda yes: self._decide(rows, what, "") if yes else None,
            )
        else:
            self._decide(rows, what, "")

    def _decide(self, rows: list[Row], what: str, reason: str) -> None:
        calls = {
            "adopt": lambda i: ops.adopt(self.desk, i),
            "return": lambda i: ops.return_item(self.desk, i, reason),
            "reserve": lambda i: ops.reserve(self.desk, i),
            "reject": lambda i: ops.reject(self.desk, i, reason),
        }
        done, failed = 0, []
        for row in rows:
            try:
                calls[what](row.item_id)
                done += 1
            except XinbaoError as exc:
                failed.append(f"{row.item_id}：{exc.message}")
        inbox = self.query_one(InboxList)
        inbox.marked.clear()
        inbox.reload()
        if done:
            self.notify(f"已{ACTION_NAMES[what]} {done} 条")
        if failed:
            self.notify("\n".join(failed[:5]), title="未能处理", severity="error", timeout=10)

    def action_emergencies(self) -> None:
        self.app.push_screen(EmergencyScreen(self.desk))

    def on_inbox_list_opened(self, message: InboxList.Opened) -> None:
        app = self.app
        assert isinstance(app, DeskApp)
        app.push_screen(ItemScreen(self.desk, app.attachments, message.row.item_id))


class DeskApp(App[None]):
    """The desk of one user at one node."""

    CSS_PATH = "desk.tcss"
    TITLE = "信报工作台"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "退出"),
        Binding("question_mark", "help", "帮助"),
    ]

    def __init__(self, desk: Desk, attachments: Attachments) -> None:
        super().__init__()
        self.desk = desk
        self.attachments = attachments
        # the short name the network's unit list gives (the node's own config has the full one)
        known = find_unit(desk.store, desk.node.id)
        self.sub_title = f"{(known or desk.node).label}　{desk.actor}"

    def on_mount(self) -> None:
        self.push_screen(InboxScreen(self.desk))

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The desk's actions in the command palette (Ctrl+P), in Chinese, beside Textual's."""
        if isinstance(screen, InboxScreen):
            for what, name in ACTION_NAMES.items():
                yield SystemCommand(
                    name,
                    f"{name}标记的信息（或光标所在的一条）",
                    partial(screen.action_triage, what),
                )
            yield SystemCommand("紧急", "突发事件报告时限看板", screen.action_emergencies)
            yield SystemCommand("筛选", "按标题或正文中的字词筛选收件", screen.action_filter)
        yield SystemCommand("帮助", "按键一览", self.action_help)
        yield SystemCommand("退出", "退出工作台", self.exit)


HELP = """\
收件
  j / k、↓ / ↑      上下移动          PgDn / PgUp    翻页
  g / G             第一条 / 最后一条  空格           标记（可标记多条后一并处理）
  回车              查看信息          /              筛选（中文全文检索），Esc 清除
  a                 采用              r              退回（须写明理由）
  b                 存稿备用          d              退稿（须确认）
  e                 紧急：突发事件报告时限
任何界面
  Esc / q           返回              Ctrl+P         命令面板
  ?                 本帮助            Ctrl+Q         退出
"""


class HelpScreen(ModalScreen[None]):
    """Every key of the desk, in one place."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss", "返回")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Static(HELP, markup=False)

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)


def run_console(desk: Desk, home_attachments: Path) -> None:
    """Open the console (blocks until the desk quits)."""
    DeskApp(desk, Attachments(home_attachments)).run()
