"""One item in full: markings at the top, text, revisions, provenance, edges, instructions,
hints and audit — the same lines as ``xinbao show``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from console import itemtext
from console.screen import triage
from console.screen.desk import DeskScreen
from schema import view
from schema.desk import Desk


class ItemScreen(DeskScreen):
    """One item, read in a worker; follows commits (a decision arriving from above). The
    decisions of the inbox apply to it, and an own item can be edited and signed off here."""

    LIVE = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "triage('adopt')", "采用", tooltip="采用这条信息"),
        Binding("r", "triage('return')", "退回", tooltip="退回，须写明理由"),
        Binding("b", "triage('reserve')", "备用", tooltip="存稿备用"),
        Binding("d", "triage('reject')", "退稿", tooltip="退稿（须确认）"),
        Binding("f", "triage('forward')", "转报", tooltip="转报上级（生成待签发的新稿）"),
        Binding("v", "triage('verify')", "核实", tooltip="要求来源单位核实，或答复核实要求"),
        Binding("E", "edit", "修改", tooltip="修改本单位的这条信息"),
        Binding("S", "triage('signoff')", "签发", tooltip="签发本单位的这条信息（须确认）"),
        Binding("j,down", "scroll(1)", "下移", show=False),
        Binding("k,up", "scroll(-1)", "上移", show=False),
    ]

    def __init__(self, desk: Desk, item_id: str) -> None:
        super().__init__(desk)
        self.item_id = item_id

    def body(self) -> Iterable[Widget]:
        with VerticalScroll():
            yield Static("读取中……", id="item", markup=False)

    def on_mount(self) -> None:
        self.store_changed()

    def store_changed(self) -> None:
        attachments = self.attachments

        def load(desk: Desk) -> str:
            shown = view.show(desk.store, self.item_id)
            return "\n".join(itemtext.item_lines(desk.store, shown, attachments, desk.node.id))

        self.read(load, self.query_one("#item", Static).update)

    def on_screen_resume(self) -> None:
        self.store_changed()  # back from the form: show the new revision

    def action_triage(self, what: str) -> None:
        triage.triage(self, [self.item_id], what, self.store_changed)

    def action_edit(self) -> None:
        from console.screen.compose import ComposeScreen

        self.app.push_screen(ComposeScreen(self.desk, self.item_id))

    def action_scroll(self, lines: int) -> None:
        self.query_one(VerticalScroll).scroll_relative(y=lines, animate=False)
