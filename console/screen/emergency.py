"""紧急: first reports this desk owes, with live countdowns (colour as they near)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static

from console import itemtext, requests_text
from console.screen.desk import DeskScreen
from console.text import fit
from schema import emergency
from schema.desk import Desk


class EmergencyScreen(DeskScreen):
    """The board, read every second in a worker (countdowns move; reports arrive)."""

    TAB = "emergency"

    def body(self) -> Iterable[Widget]:
        yield Static(id="board", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.tick()
        self.set_interval(1.0, self.tick)

    def tick(self) -> None:
        self.read(board_text, self.query_one("#board", Static).update, group="board")


def board_text(desk: Desk) -> Text:
    """The owed first reports, most pressing first, coloured by status."""
    now: datetime = desk.clock()
    owed = emergency.due(desk.store, desk.node.id, desk.node.parent, now, emergency.shipped_rules())
    if not owed:
        return Text("（没有待报的突发事件首报）")
    text = Text()
    for d in owed:
        colour = {"超时": "bold red", "即将超时": "yellow"}.get(d.status, "")
        left = requests_text.countdown(d.deadline, now)
        line = (
            f"{fit(d.status, 10)}{fit(left, 14)}{fit(str(d.channel), 6)}"
            f"{fit(itemtext.label(desk.store, d.to_unit), 10)}{d.severity} {d.title}"
        )
        text.append(line + "\n", style=colour)
    return text
