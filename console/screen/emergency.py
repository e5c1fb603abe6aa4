"""紧急: first reports this desk owes, with live countdowns (colour as they near)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Static

from console import itemtext, requests_text
from console.screen.desk import DeskScreen
from console.screen.dialog import Choose
from console.text import fit
from schema import emergency
from schema.desk import Desk


class EmergencyScreen(DeskScreen):
    """The board, read every second in a worker (countdowns move; reports arrive)."""

    TAB = "emergency"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "查看", tooltip="选一条待报首报或近期事件，查看其信息"),
    ]

    def action_open(self) -> None:
        """Pick one of the board's reports (owed first, then the watch span's) and open it."""
        choices = board_items(self.desk)
        if not choices:
            self.notify("紧急界面上没有可查看的信息", severity="warning")
            return
        labels = list(choices)

        def chosen(label: str | None) -> None:
            if label is not None:
                from console.screen.item import ItemScreen

                self.app.push_screen(ItemScreen(self.desk, choices[label]))

        self.app.push_screen(Choose("查看哪一条？", labels, labels[0]), chosen)

    def body(self) -> Iterable[Widget]:
        yield Static(id="board", markup=False)

    def on_mount(self) -> None:
        self.tick()
        self.set_interval(1.0, self.tick)

    def tick(self) -> None:
        self.read(board_text, self.query_one("#board", Static).update, group="board")


def board_items(desk: Desk) -> dict[str, str]:
    """What the board shows that can be opened: a label per report → its item id."""
    now: datetime = desk.clock()
    rules = emergency.shipped_rules()
    found: dict[str, str] = {}
    for d in emergency.due(desk.store, desk.node.id, desk.node.parent, now, rules):
        found.setdefault(f"待报　{d.severity} {d.title}"[:60], d.item_id)
    for reports in emergency.recent(desk.store, now, rules):
        for r in reports:
            kind = r.draft.incident.report if r.draft.incident else ""
            found.setdefault(f"{kind}　{r.draft.title}"[:60], r.id)
    return found


def board_text(desk: Desk) -> Text:
    """The owed first reports, most pressing first, coloured by status."""
    now: datetime = desk.clock()
    owed = emergency.due(desk.store, desk.node.id, desk.node.parent, now, emergency.shipped_rules())
    text = Text("待报首报\n", style="bold")
    if not owed:
        text.append("（没有待报的突发事件首报）\n")
    for d in owed:
        colour = {"超时": "bold red", "即将超时": "yellow"}.get(d.status, "")
        left = requests_text.countdown(d.deadline, now)
        line = (
            f"{fit(d.status, 10)}{fit(left, 14)}{fit(str(d.channel), 6)}"
            f"{fit(itemtext.label(desk.store, d.to_unit), 10)}{d.severity} {d.title}"
        )
        text.append(line + "\n", style=colour)
    threads = emergency.recent(desk.store, now, emergency.shipped_rules())
    marks: dict[str, list[emergency.Mark]] = {}
    for m in emergency.marks(desk.store, now - emergency.shipped_rules().watch):
        marks.setdefault(m.item_id, []).append(m)
    text.append(f"\n近期事件（{len(threads)}）\n", style="bold")
    for reports in threads:
        first = reports[0]
        inc = first.draft.incident
        assert inc is not None
        text.append(f"{inc.severity} {first.draft.title}\n")
        kinds = "　".join(f"{r.draft.incident.report if r.draft.incident else ''}" for r in reports)
        text.append(f"　　发生 {requests_text.when(inc.occurred_at)}　{inc.place}　报告：{kinds}\n")
        for r in reports:
            for m in marks.get(r.id, []):
                unit = itemtext.label(desk.store, m.unit)
                text.append(f"　　{m.kind}：{unit}　{m.note}\n", style="bold red")
    return text
