"""收件: the windowed inbox (only the rows on screen are read and drawn), its filter, sort,
deadline column, marks and triage."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Input, Static

from console.rows import DEFAULT, FILTER_LIMIT, FIRST_PAINT, SORTS, InboxRows, Row, fetch_ids
from console.screen import triage
from console.screen.desk import REFRESH_SECONDS, DeskScreen
from console.text import cell_width, column, fit
from schema import emergency
from schema.desk import Desk
from schema.store import Store

MARKS = {"公开": "", "内部": "内", "秘密": "密", "机密": "机"}
DEADLINE_WIDTH = 8


def short_countdown(deadline: datetime, now: datetime) -> str:
    """A deadline in a narrow column: 剩4:18, 超0:12, 剩2天."""
    seconds = int((deadline - now).total_seconds())
    span = abs(seconds)
    text = f"{span // 86400}天" if span >= 86400 else f"{span // 3600}:{span % 3600 // 60:02}"
    return ("剩" if seconds >= 0 else "超") + text


def row_head(row: Row) -> str:
    """Markings, source, state and received, in fixed columns."""
    marks = (row.urgency if row.urgency != "平急" else "") + MARKS.get(row.classification, "")
    received = f"{row.received.month:>2}-{row.received.day:02} {row.received:%H:%M}"
    return f"{column(marks, 7)}{column(row.peer, 11)}{column(row.state, 9)}{column(received, 12)}"


def row_text(row: Row, width: int, deadline: str = "") -> str:
    """One inbox line fitted to ``width`` cells: markings, source, state, received, deadline,
    title."""
    head = row_head(row) + column(deadline, DEADLINE_WIDTH)
    return head + fit(row.title, max(4, width - cell_width(head)))


def owed_deadlines(store: Store, desk: Desk, now: datetime) -> dict[str, tuple[datetime, str]]:
    """Item id → (deadline, status) of the first reports this desk still owes."""
    owed = emergency.due(store, desk.node.id, desk.node.parent, now, emergency.shipped_rules())
    found: dict[str, tuple[datetime, str]] = {}
    for d in owed:
        if d.item_id not in found or d.deadline < found[d.item_id][0]:
            found[d.item_id] = (d.deadline, d.status)
    return found


class InboxList(ScrollView, can_focus=True):
    """The windowed inbox: rows come from :class:`InboxRows` as they scroll into view."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "move(1)", "下移", show=False),
        Binding("k,up", "move(-1)", "上移", show=False),
        Binding("pagedown,ctrl+f", "page(1)", "下页", show=False),
        Binding("pageup,ctrl+b", "page(-1)", "上页", show=False),
        Binding("g,home", "jump(0)", "首条", show=False),
        Binding("G,end", "jump(-1)", "末条", show=False),
        Binding("space", "mark", "标记", show=False, tooltip="标记多条后一并采用、退回……"),
        Binding("enter", "open", "查看", show=False, tooltip="查看光标所在的信息"),
    ]

    cursor: reactive[int] = reactive(0)

    class Opened(Message):
        """The desk opened the item under the cursor."""

        def __init__(self, row: Row) -> None:
            super().__init__()
            self.row = row

    class Reloaded(Message):
        """The rows were read again."""

    def __init__(self, rows: InboxRows, desk: Desk, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.rows = rows
        self.desk = desk
        self.marked: set[int] = set()  # edge ids
        self.deadlines: dict[str, tuple[datetime, str]] = {}
        self.now = desk.clock()
        self._strips: dict[tuple[int, int, bool, bool, str], Strip] = {}  # rendered lines
        self._loading = False
        self._to_top = False  # put the cursor on the first row once the owed are read
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
        due = self.deadlines.get(row.item_id)
        left = short_countdown(due[0], self.now) if due else ""
        key = (row.edge_id, width, row.edge_id in self.marked, index == self.cursor, left)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._draw(row, width, key[2], key[3], left, due[1] if due else "")
            if len(self._strips) > 4096:
                self._strips.clear()
            self._strips[key] = strip
        return strip

    def _draw(
        self, row: Row, width: int, marked: bool, here: bool, left: str, status: str
    ) -> Strip:
        base = Style(color="red", bold=True) if row.urgency == "特急" else Style()
        if here:
            base += Style(reverse=True)
        head = ("●" if marked else " ") + row_head(row)
        title = fit(row.title, max(4, width - cell_width(head) - DEADLINE_WIDTH))
        colour = {"超时": Style(color="red", bold=True), "即将超时": Style(color="yellow")}
        segments = [
            Segment(head, base),
            Segment(column(left, DEADLINE_WIDTH), base + colour.get(status, Style())),
            Segment(title, base),
        ]
        return Strip(segments, cell_width(head) + DEADLINE_WIDTH + cell_width(title))

    def tick(self) -> None:
        """Move the countdowns on (once every few seconds)."""
        self.now = self.desk.clock()
        if self.deadlines:
            self.refresh()

    def watch_cursor(self, old: int, new: int) -> None:
        top = self.scroll_offset.y
        self.scroll_to_cursor()
        if self.scroll_offset.y == top:  # only the two lines changed
            self.refresh_line(old - top)
            self.refresh_line(new - top)
        else:
            self.refresh()
        self.call_after_refresh(self._prefetch)

    def _prefetch(self) -> None:
        """After the frame: read the pages a screen above and below, so the next page
        up/down draws from the cache instead of waiting for the store."""
        height = max(1, self.size.height)
        top = self.scroll_offset.y
        for index in (top - height, top + 2 * height - 1):
            self.rows.row(max(0, min(index, len(self.rows) - 1)))

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

    def reload(
        self, background: bool = False, first: int = FIRST_PAINT, deadlines: bool = True
    ) -> None:
        """Read the rows again, keeping the cursor on the same item and the marks; in the
        background (a worker thread with its own connection) for a store of any size. The
        deadlines are read by a worker of their own: the rows never wait for them (and a
        new filter or sort does not read them at all)."""
        if deadlines:
            self.read_deadlines()
        if not background:  # the first thousand now, the rest from a worker
            self._keep_cursor(lambda: self.rows.reload(first))
            if not self.rows.complete:  # after this frame: its thread would hold the GIL
                self.call_after_refresh(self._read_all)
            return
        self._read_all()

    def _read_all(self) -> None:
        """Every id of the box (filter, order), read by a worker on its own connection."""
        if self._loading:
            return  # the next refresh tick looks again
        self._loading = True
        version = self.rows.data_version()
        sql, params = self.rows.ids_query()
        path, owed = self.rows.path(), list(self.rows.owed)
        asked = (sql, params, owed)

        def load() -> None:
            ids = self.rows.arrange(fetch_ids(path, sql, params), owed) if sql else []
            top = max(ids, default=0)  # here, not on the event loop: a pass over the list
            self.app.call_from_thread(self._loaded, ids, version, asked, top)

        self.run_worker(load, thread=True, group="inbox-ids", exit_on_error=False)

    def read_deadlines(self) -> None:
        """The first reports owed, with their deadlines, from a worker (an emergency board
        query: it reads every recent incident)."""
        path, desk, now = self.rows.path(), self.desk, self.desk.clock()

        def load() -> None:
            store = Store.open(path)
            try:
                deadlines = owed_deadlines(store, desk, now)
            finally:
                store.close()
            self.app.call_from_thread(self._deadlines_read, deadlines)

        if not path:  # an in-memory store (tests) is read here
            self._deadlines_read(owed_deadlines(self.desk.store, desk, now))
            return
        self.run_worker(
            load, thread=True, group="inbox-deadlines", exclusive=True, exit_on_error=False
        )

    def _deadlines_read(self, deadlines: dict[str, tuple[datetime, str]]) -> None:
        self.deadlines = deadlines
        self.now = self.desk.clock()
        self._strips.clear()
        owed = sorted(deadlines, key=lambda item_id: (deadlines[item_id][0], item_id))
        if self.rows.set_owed(owed) and self.rows.sort == DEFAULT:  # they come first
            self._to_top = self._to_top or self.cursor == 0
            self.reload(background=True, deadlines=False)
        self.refresh()

    def _loaded(
        self, ids: list[int], version: int, asked: tuple[str, list[object], list[int]], top: int
    ) -> None:
        self._loading = False
        if asked != (*self.rows.ids_query(), self.rows.owed):  # the order or filter changed
            self.reload(background=True, deadlines=False)
            return
        self._keep_cursor(lambda: self.rows.adopt(ids, version, top))
        if self._to_top:  # the most pressing row under the cursor, as on opening
            self._to_top = False
            self.cursor = 0

    def take_new(self) -> None:
        """Rows another process added, put in place now (the cursor stays on its row)."""
        self._keep_cursor(self.rows.take_new)

    def _keep_cursor(self, read: Callable[[], object]) -> None:
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


class InboxScreen(DeskScreen):
    """收件: the inbox with its filter line."""

    TAB = "inbox"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "筛选", tooltip="按标题或正文中的字词筛选（中文全文检索）"),
        Binding("escape", "clear", "清除筛选", show=False, tooltip="清除筛选"),
        Binding("a", "triage('adopt')", "采用", tooltip="采用标记的信息（或光标所在的一条）"),
        Binding("r", "triage('return')", "退回", tooltip="退回，须写明理由"),
        Binding("b", "triage('reserve')", "备用", tooltip="存稿备用"),
        Binding("d", "triage('reject')", "退稿", tooltip="退稿（须确认）"),
        Binding("e", "app.switch_tab('emergency')", "紧急", tooltip="突发事件报告时限看板"),
        Binding("f", "triage('forward')", "转报", tooltip="转报上级（生成待签发的新稿）"),
        Binding(
            "v", "triage('verify')", "核实", show=False, tooltip="要求来源单位核实，或答复核实要求"
        ),
        Binding("m", "merge", "合并", tooltip="将标记的多条信息合并为一条（化零为整）"),
        Binding("c", "compose", "撰写", tooltip="撰写新信息"),
        Binding("E", "edit", "修改", show=False, tooltip="修改本单位的信息（发件中）"),
        Binding("S", "triage('signoff')", "签发", show=False, tooltip="签发本单位待签发的信息"),
        Binding("o", "box", "收/发", tooltip="在收件与发件（本单位的信息、待签发的稿件）间切换"),
        Binding(
            "s",
            "sort",
            "排序",
            tooltip="切换排序：时限→紧急→时间（默认）、最新、来源单位、状态",
        ),
    ]

    def __init__(self, desk: Desk) -> None:
        super().__init__(desk)
        self.rows = InboxRows(desk.store, desk.node.id)
        self._shown = False

    def body(self) -> list[Widget]:
        return [
            Static(self._status(), id="status", markup=False),
            InboxList(self.rows, self.desk, id="inbox"),
            Input(placeholder="筛选：输入标题或正文中的字词，回车确定，Esc 清除", id="filter"),
        ]

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        inbox = self.query_one(InboxList)
        inbox.read_deadlines()
        inbox.focus()
        if not self.rows.complete:  # the first thousand are on screen; the rest in a worker
            inbox.reload(background=True)
        self.set_interval(REFRESH_SECONDS, self._follow_rows)
        self.set_interval(5.0, inbox.tick)

    def on_inbox_list_reloaded(self, message: InboxList.Reloaded) -> None:
        # one line of fixed height: no layout pass over the whole screen (10 ms a filter step)
        self.query_one("#status", Static).update(self._status(), layout=False)

    def _status(self) -> str:
        shown = f"　筛选“{self.rows.filter}”" if self.rows.filter else ""
        if self.rows.filter and len(self.rows) >= FILTER_LIMIT:
            shown += f"（显示最新 {FILTER_LIMIT} 条）"
        order = f"　排序：{SORTS[self.rows.sort]}"
        box = "发件" if self.rows.outgoing else "收件"
        count = f"{len(self.rows)}" if self.rows.complete else f"{len(self.rows)}+"
        return f"{box} {count} 条{shown}{order}"

    def _follow_rows(self) -> None:
        """Show what another process committed (the daemon applying a bundle): new rows at
        once in their places, then the whole list read again in the background."""
        if self.rows.changed():
            inbox = self.query_one(InboxList)
            inbox.take_new()
            inbox.reload(background=True)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def command_filter(self, text: str) -> None:
        """``:筛选 煤矿`` filters at once."""
        self.query_one("#filter", Input).value = text
        self._apply_filter(text)

    def action_clear(self) -> None:
        box = self.query_one("#filter", Input)
        if not box.display and not self.rows.filter:
            return
        box.value = ""
        box.display = False
        self._apply_filter("")
        self.query_one(InboxList).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._apply_filter(event.value)
        self.query_one(InboxList).focus()

    def _apply_filter(self, text: str) -> None:
        self.rows.filter = text.strip()
        inbox = self.query_one(InboxList)
        inbox.cursor = 0
        # the hits for two screens now (the index walks newest first and stops), the rest
        # from the worker
        inbox.reload(first=max(64, 2 * inbox.size.height), deadlines=False)

    def action_sort(self) -> None:
        self.rows.sort = (self.rows.sort + 1) % len(SORTS)
        inbox = self.query_one(InboxList)
        inbox.cursor = 0
        inbox.reload(deadlines=False)
        self.notify(f"排序：{SORTS[self.rows.sort]}")

    def chosen(self) -> list[Row]:
        """The marked rows, or the row under the cursor."""
        inbox = self.query_one(InboxList)
        where = sorted(i for e in inbox.marked if (i := self.rows.index_of(e)) is not None)
        marked = [r for i in where if (r := self.rows.row(i))]
        current = inbox.current()
        return marked or ([current] if current else [])

    def action_triage(self, what: str) -> None:
        triage.triage(self, [r.item_id for r in self.chosen()], what, self._after)

    def action_merge(self) -> None:
        triage.merge(self, [r.item_id for r in self.chosen()], self._after)

    def _after(self) -> None:
        inbox = self.query_one(InboxList)
        inbox.marked.clear()
        inbox.reload()

    def action_compose(self) -> None:
        from console.screen.compose import ComposeScreen

        self.app.push_screen(ComposeScreen(self.desk))

    def action_edit(self) -> None:
        from console.screen.compose import ComposeScreen

        row = self.query_one(InboxList).current()
        if row is not None:
            self.app.push_screen(ComposeScreen(self.desk, row.item_id))

    def action_box(self) -> None:
        self.rows.outgoing = not self.rows.outgoing
        inbox = self.query_one(InboxList)
        inbox.marked.clear()
        inbox.cursor = 0
        inbox.reload()

    def on_screen_resume(self) -> None:
        if self._shown:  # back from the item view or the form: what changed there shows
            self.query_one(InboxList).reload()
        self._shown = True

    def on_inbox_list_opened(self, message: InboxList.Opened) -> None:
        from console.screen.item import ItemScreen

        self.app.push_screen(ItemScreen(self.desk, message.row.item_id))
