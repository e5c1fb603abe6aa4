"""One item in full: markings at the top, text, revisions, provenance, edges, instructions,
hints and audit — the same lines as ``xinbao show``."""

from __future__ import annotations

from collections.abc import Iterable

from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from console import itemtext
from console.screen.desk import DeskScreen
from schema import view
from schema.desk import Desk


class ItemScreen(DeskScreen):
    """One item, read in a worker; follows commits (a decision arriving from above)."""

    LIVE = True

    def __init__(self, desk: Desk, item_id: str) -> None:
        super().__init__(desk)
        self.item_id = item_id

    def body(self) -> Iterable[Widget]:
        with VerticalScroll():
            yield Static("读取中……", id="item", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.store_changed()

    def store_changed(self) -> None:
        attachments = self.attachments

        def load(desk: Desk) -> str:
            shown = view.show(desk.store, self.item_id)
            return "\n".join(itemtext.item_lines(desk.store, shown, attachments))

        self.read(load, self.query_one("#item", Static).update)
