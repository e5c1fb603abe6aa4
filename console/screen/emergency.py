"""紧急: first reports this desk owes, with live countdowns (colour as they near)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Static

from console import itemtext, requests_text
from console.screen.desk import DeskScreen
from console.screen.dialog import AskText, Choose
from console.text import fit
from schema import desk as ops
from schema import emergency
from schema.clock import CHINA, from_text
from schema.desk import Desk
from schema.error import ValidationError, XinbaoError
from schema.network import units_below
from schema.vocabulary import Severity

WHEN = "事发时间（如 14:35 或 2026-11-21 14:35）："
WHAT = "报告内容（地点、伤亡、已采取的措施）："


class EmergencyScreen(DeskScreen):
    """The board, read every second in a worker (countdowns move; reports arrive)."""

    TAB = "emergency"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "查看", tooltip="选一条待报首报或近期事件，查看其信息"),
        Binding(
            "h", "phone", "电话", tooltip="登记下级的电话报告（来电单位、来电人、事发时间、内容）"
        ),
    ]

    def action_phone(self) -> None:
        """Take a phone report: the calling unit, the severity, who called, when it happened,
        what they said — one question each, Esc to stop; called now."""
        units = callers(self.desk)
        if not units:
            self.notify("本节点还不知道任何下级单位，无法登记电话报告", severity="warning")
            return
        answers: dict[str, str] = {}
        steps = [
            ("unit", lambda: Choose("哪个单位来电？", list(units))),
            ("severity", lambda: Choose("事件级别：", [s.value for s in Severity], "较大")),
            ("caller", lambda: AskText("来电人：", required="须写明来电人")),
            (
                "occurred",
                lambda: AskText(
                    "事发时间（如 14:35 或 2026-11-21 14:35）：", required="须写明事发时间"
                ),
            ),
            (
                "summary",
                lambda: AskText(
                    "报告内容（地点、伤亡、已采取的措施）：", required="须写明报告内容"
                ),
            ),
        ]

        def ask(n: int) -> None:
            if n == len(steps):
                self._take(units[answers["unit"]], answers)
                return
            key, dialog = steps[n]

            def got(value: str | None) -> None:
                if value is not None and value.strip():
                    answers[key] = value.strip()
                    ask(n + 1)

            self.app.push_screen(dialog(), got)

        ask(0)

    def _take(self, unit: str, answers: dict[str, str]) -> None:
        now = self.desk.clock()
        try:
            occurred = local_time(answers["occurred"], now)
            report = ops.take_phone_report(
                self.desk,
                unit,
                caller=answers["caller"],
                summary=answers["summary"],
                severity=Severity.parse(answers["severity"]),
                occurred_at=occurred,
            )
        except XinbaoError as exc:
            self.notify(exc.message, title="未能登记", severity="error", timeout=10)
            return
        late = f"，迟 {report.late_minutes} 分钟，已记迟报" if report.late_minutes else ""
        follow = requests_text.when(report.written_deadline)
        self.notify(f"已登记电话报告{late}；书面首报应于 {follow} 前送达")
        self.tick()

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


def callers(desk: Desk) -> dict[str, str]:
    """The units that may phone this desk: those below it that it knows (the unit table, or
    that ever sent it an item), label → unit id."""
    store, me = desk.store, desk.node.id
    units = list(units_below(store, me))
    senders = store.query("SELECT DISTINCT from_unit FROM edge WHERE to_unit = ?", (me,))
    units += [r["from_unit"] for r in senders if r["from_unit"] not in units]
    return {f"{itemtext.label(store, u)}（{u}）": u for u in sorted(units)}


def local_time(text: str, now: datetime) -> datetime:
    """A time as a duty officer types it: 14:35 (today, or yesterday when that is still
    ahead), 2026-11-21 14:35, or ISO 8601."""
    text = text.strip().replace("：", ":")
    try:
        if len(text) <= 5 and ":" in text:
            hour, minute = (int(part) for part in text.split(":"))
            local = now.astimezone(CHINA)
            at = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
            return at - timedelta(days=1) if at > local else at
        return from_text(text.replace(" ", "T", 1) if "T" not in text else text)
    except ValueError as exc:
        raise ValidationError("occurred_at", f"“{text}”不是有效时间，如 14:35") from exc


def board_items(desk: Desk) -> dict[str, str]:
    """What the board shows that can be opened: a label per report → its item id."""
    now: datetime = desk.clock()
    rules = emergency.shipped_rules()
    found: dict[str, str] = {}
    for d in emergency.due(desk.store, desk.node.id, desk.node.parent, now, rules):
        if d.item_id:  # a phone report awaiting its written 首报 has no item yet
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
    calls = emergency.phone_reports(desk.store, now - emergency.shipped_rules().watch)
    if calls:
        text.append(f"\n电话报告（{len(calls)}）\n", style="bold")
    for call in calls:
        followed = f"书面首报 {call.item_id}" if call.item_id else "待书面首报"
        late = f"　迟{call.late_minutes}分钟" if call.late_minutes else ""
        line = (
            f"{requests_text.when(call.called_at)}　{itemtext.label(desk.store, call.unit)}"
            f" {call.caller}{late}　{call.severity} {call.summary}　{followed}"
        )
        text.append(fit(line, 200).rstrip() + "\n", style="bold red" if late else "")
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
