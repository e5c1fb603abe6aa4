"""线索: the leads the daemon keeps from media and government feeds (schema/lead.py), most
relevant first — matched keywords (the source's rules and the reporting priorities held here)
weigh as hours of recency. The desk keeps a lead, dismisses it, brings it back, or turns it
into a draft item (the compose form, prefilled); one already drafted opens its item. A lead
never leaves the node: nothing here queues anything."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Static

from console.requests_text import when
from console.screen.desk import DeskScreen
from console.screen.dialog import AskText
from console.screen.table import Rows, table_width
from console.text import fit
from schema import lead as leads
from schema.clock import CHINA
from schema.desk import Desk
from schema.store import Store

HIT = "bold yellow"  # a matched keyword, in the table and in the detail
SHOWN = (leads.NEW, leads.KEPT)  # the states listed until 全部 (a) is asked for
STATE_STYLES = {
    leads.NEW: "bold",
    leads.KEPT: "cyan",
    leads.DISMISSED: "dim",
    leads.DRAFTED: "green",
}
NO_LEADS = "没有线索。线索由守护进程按 syncd.toml 的 [[feeds]] 抓取。"


@dataclass(frozen=True)
class LeadView:
    """One read of the store: the leads listed, how many there are in each state, and the
    feeds' health ("" when the store cannot say)."""

    leads: list[leads.Lead]
    counts: dict[str, int]
    feeds: str


def state_counts(store: Store) -> dict[str, int]:
    """How many leads are held in each state."""
    rows = store.query("SELECT state, COUNT(*) AS n FROM lead GROUP BY state", ())
    return {r["state"]: int(r["n"]) for r in rows}


def feed_health(store: Store) -> str:
    """The feeds in one phrase (订阅源 3，出错 1：某网), as the daemon last recorded them."""
    found = leads.feed_states(store)
    if not found:  # no source read yet (or none configured): the empty list says where from
        return ""
    failing = [state.source for state in found if state.failures]
    text = f"订阅源 {len(found)}"
    if failing:
        text += f"，出错 {len(failing)}：" + "、".join(failing)
    return text


def highlighted(text: str, words: Sequence[str], style: str = "") -> Text:
    """``text`` with every occurrence of ``words`` in :data:`HIT`."""
    shown = Text(text, style=style)
    if any(words):  # rich makes no words a pattern that matches everywhere
        shown.highlight_words([w for w in words if w], HIT)
    return shown


def detail_text(lead: leads.Lead) -> Text:
    """The lead under the cursor in full, its matched keywords highlighted."""
    text = Text()
    text.append_text(highlighted(lead.title, lead.matched, "bold"))
    text.append(f"\n来源 {lead.source}　时间 {when(lead.at)}　状态 ")
    text.append(lead.state, style=STATE_STYLES.get(lead.state, ""))
    if lead.state == leads.DRAFTED:
        text.append(f"（信息 {lead.item_id}，回车打开）")
    text.append(f"\n链接 {lead.link or '（无）'}")
    text.append("\n命中 ")
    if lead.matched:
        text.append("、".join(lead.matched), style=HIT)
    else:
        text.append("（无）", style="dim")
    if lead.summary:
        text.append("\n\n")
        text.append_text(highlighted(lead.summary, lead.matched))
    return text


class LeadTable(Rows):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter",
            "select_cursor",
            "成稿",
            show=False,
            tooltip="将光标所在的线索写成信息稿（已成稿的打开所成信息）",
        ),
    ]


class LeadScreen(DeskScreen):
    """线索: the leads kept here, to keep, dismiss or turn into a draft item."""

    TAB = "leads"
    LIVE = True  # the daemon adds leads from another process
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "draft", "成稿", tooltip="将线索写成信息稿（已成稿的打开所成信息）"),
        Binding("s", "keep", "保留", tooltip="保留光标所在的线索，留待以后"),
        Binding("x", "ignore", "忽略", tooltip="忽略光标所在的线索"),
        Binding("u", "restore", "恢复", tooltip="将保留或已忽略的线索恢复为新线索"),
        Binding("slash", "filter", "筛选", tooltip="按标题或摘要中的字词筛选线索（留空清除）"),
        Binding("a", "show_all", "全部", tooltip="显示全部线索（含已忽略、已成稿），再按恢复"),
        Binding("J", "scroll_detail(1)", "详情下翻", show=False, tooltip="详情向下翻一页"),
        Binding("K", "scroll_detail(-1)", "详情上翻", show=False, tooltip="详情向上翻一页"),
    ]
    DEFAULT_CSS = """
    #leads {
        height: 1fr;
    }
    #lead-detail-box {
        height: 40%;
        border-top: solid $panel-lighten-2;
    }
    #lead-detail {
        padding: 0 1;
    }
    """
    COLUMNS: ClassVar[list[tuple[str, int]]] = [("状态", 6), ("时间", 11), ("来源", 10)]
    HITS = 12  # the 命中 column

    def __init__(self, desk: Desk) -> None:
        super().__init__(desk)
        self.match = ""
        self.states: tuple[str, ...] = SHOWN
        self.view = LeadView([], {}, "")
        self.loaded = False
        self.detail_of: int | None = None  # the lead the detail shows (its scroll kept)

    def body(self) -> Iterable[Widget]:
        yield Static("读取中……", id="lead-status", classes="status", markup=False)
        yield LeadTable(id="leads")
        with VerticalScroll(id="lead-detail-box"):
            yield Static("", id="lead-detail", markup=False)

    def on_mount(self) -> None:  # DeskScreen's own on_mount (the live timer) runs as well
        self.query_one(LeadTable).focus()

    def on_screen_resume(self) -> None:
        self.store_changed()  # first shown, or back from the form: a lead may be drafted now

    def store_changed(self) -> None:
        match, states = self.match, self.states

        def load(desk: Desk) -> LeadView:
            found = leads.ranked(desk.store, desk.clock(), match=match, states=states)
            return LeadView(found, state_counts(desk.store), feed_health(desk.store))

        self.read(load, self._loaded)

    def _loaded(self, view: LeadView) -> None:
        self.view = view
        self.loaded = True
        self.show()

    def on_resize(self, event: events.Resize) -> None:
        self.show()

    # -- drawing -----------------------------------------------------------------------------

    def status_text(self) -> str:
        """The status line: counts, the filter, which states are shown, the feeds."""
        counts = self.view.counts
        parts = [
            f"{leads.NEW} {counts.get(leads.NEW, 0)}",
            f"{leads.KEPT} {counts.get(leads.KEPT, 0)}",
        ]
        if self.states != SHOWN:
            parts += [f"{s} {counts.get(s, 0)}" for s in leads.STATES if s not in SHOWN]
            parts.append("显示全部")
        if self.match:
            parts.append(f"筛选：{self.match}（{len(self.view.leads)} 条）")
        if self.view.feeds:
            parts.append(self.view.feeds)
        return "　".join(parts)

    def show(self) -> None:
        """Draw the list from what was read last (again after a resize)."""
        if not self.loaded:
            return
        width = self.size.width or self.app.size.width
        self.query_one("#lead-status", Static).update(fit(self.status_text(), width - 2).rstrip())
        columns = [*self.COLUMNS, ("命中", self.HITS)]
        last = table_width(width, [w for _, w in columns])
        self.query_one(LeadTable).refill(
            [*columns, ("标题", last)],
            [(str(lead.id), self._cells(lead, last)) for lead in self.view.leads],
        )
        self.show_detail()

    def _cells(self, lead: leads.Lead, last: int) -> list[str | Text]:
        return [
            Text(fit(lead.state, 6), style=STATE_STYLES.get(lead.state, "")),
            f"{lead.at.astimezone(CHINA):%m-%d %H:%M}",
            fit(lead.source, 10),
            fit("、".join(lead.matched), self.HITS),
            highlighted(fit(lead.title, last), lead.matched),
        ]

    def current(self) -> leads.Lead | None:
        """The lead under the cursor."""
        key = self.query_one(LeadTable).current_key()
        return next((lead for lead in self.view.leads if str(lead.id) == key), None)

    def show_detail(self) -> None:
        detail = self.query_one("#lead-detail", Static)
        lead = self.current()
        if lead is not None:
            detail.update(detail_text(lead))
        elif self.match:
            detail.update(f"没有含“{self.match}”的线索（按 / 修改或清除筛选）。")
        elif self.states == SHOWN and sum(self.view.counts.values()):
            detail.update("没有新的或保留的线索（按 a 显示全部）。")
        else:
            detail.update(NO_LEADS)
        if (lead.id if lead else None) != self.detail_of:  # another lead: from its top
            self.detail_of = lead.id if lead else None
            self.query_one("#lead-detail-box", VerticalScroll).scroll_home(animate=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_draft()

    # -- actions -----------------------------------------------------------------------------

    def action_draft(self) -> None:
        lead = self.current()
        if lead is None:
            self.notify("没有线索，无从写成信息", severity="warning")
            return
        if lead.state == leads.DRAFTED:
            from console.screen.item import ItemScreen

            self.app.push_screen(ItemScreen(self.desk, lead.item_id))
            return
        from console.screen.compose import ComposeScreen

        self.app.push_screen(ComposeScreen(self.desk, lead_id=lead.id))

    def action_keep(self) -> None:
        self.set_state(leads.KEPT, "已保留")

    def action_ignore(self) -> None:
        self.set_state(leads.DISMISSED, "已忽略")

    def action_restore(self) -> None:
        self.set_state(leads.NEW, "已恢复")

    def set_state(self, state: str, done: str) -> None:
        """Put the lead under the cursor in ``state``; a refusal (a drafted lead) is shown."""
        lead = self.current()
        if lead is None:
            self.notify("没有线索", severity="warning")
            return
        store, lead_id = self.desk.store, lead.id
        if self.act(lambda: leads.set_state(store, lead_id, state), f"{done}线索 {lead_id}"):
            self.store_changed()

    def action_filter(self) -> None:
        self.app.push_screen(
            AskText("筛选线索：标题或摘要中的字词（留空清除筛选）：", self.match),
            lambda text: self.command_filter(text) if text is not None else None,
        )

    def command_filter(self, text: str) -> None:
        """``:筛选 欠薪`` filters at once; an empty text clears the filter."""
        self.match = text.strip()
        self.store_changed()

    def action_show_all(self) -> None:
        self.states = SHOWN if self.states != SHOWN else leads.STATES
        self.store_changed()

    def action_scroll_detail(self, pages: int) -> None:
        box = self.query_one("#lead-detail-box", VerticalScroll)
        box.scroll_relative(y=pages * max(1, box.size.height - 1), animate=False)
