"""批示: leaders' instructions recorded here or received from above, newest first, with the
feedback each asks for (deadline and countdown, coloured as it nears, late flagged); record an
instruction, give this unit's feedback, open the item it is on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar

from rich.text import Text
from textual import events, work
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import DataTable, Static

from console import itemtext, requests_text
from console.screen.desk import DeskScreen
from console.screen.dialog import AskText, Choose
from console.screen.publication import IssueScreen
from console.screen.request import warn_span  # the 约稿 tab's yellow, the same here
from console.screen.table import Rows, table_width
from console.text import fit
from schema import desk as ops
from schema import instruction as instructions
from schema import item as items
from schema import publication as pubs
from schema import request as requests
from schema.clock import CHINA, from_text
from schema.desk import Desk
from schema.itemfile import time_field
from schema.store import Store
from schema.vocabulary import Level, Tier

TICK_SECONDS = 30.0  # countdowns move by the minute
DETAIL_UNITS = 3  # units listed under an instruction this desk asked feedback on
ASK_FEEDBACK, NO_FEEDBACK = "要求反馈落实情况", "不要求反馈"
TIER_LEVEL = {
    Tier.CENTRAL: Level.CENTRAL,
    Tier.PROVINCE: Level.PROVINCE,
    Tier.CITY: Level.CITY,
    Tier.COUNTY: Level.COUNTY,
}


@dataclass(frozen=True)
class Due:
    """The feedback an instruction asks for, as this node sees it."""

    request_id: str
    deadline: datetime
    mine: bool  # this node asked for it: the units' answers are here
    owed: bool  # this node is one of the units that owe it
    answered_at: datetime | None = None
    note: str = ""
    statuses: tuple[requests.TargetStatus, ...] = ()

    def pending(self) -> bool:
        """Whether an answer is still awaited (from this node, or by it from below)."""
        if self.mine:
            return any(s.answered_at is None for s in self.statuses)
        return self.owed and self.answered_at is None


@dataclass(frozen=True)
class InstructionRow:
    """One instruction with what the desk sees beside it."""

    made: instructions.Instruction
    mine: bool  # recorded at this node
    issuer: str  # the issuing office's short name
    subject_title: str
    item_id: str  # an item held here to open, or ""
    issue_id: str  # the issue it is on, when held here, or ""
    due: Due | None
    labels: dict[str, str] = field(default_factory=dict)  # unit → short name


def instruction_rows(store: Store, me: str, now: datetime) -> list[InstructionRow]:
    """Every instruction held here, newest first, with the feedback due on it."""
    found: list[InstructionRow] = []
    for made in reversed(instructions.all_instructions(store)):
        held = [i for i in (made.subject, *made.items) if items.find(store, i) is not None]
        issue_id = next(
            (
                i
                for i in (made.subject, f"{made.issuer}:{made.subject}")
                if store.one("SELECT 1 FROM issue WHERE id = ?", (i,))
            ),
            "",
        )
        if issue_id:
            title = pubs.get(store, issue_id).title
        elif held:
            title = items.get(store, held[0]).title
        else:
            title = ""
        due = _due(store, me, made, now)
        units = {s.unit for s in due.statuses} if due else set()
        found.append(
            InstructionRow(
                made=made,
                mine=made.issuer == me,
                issuer=itemtext.label(store, made.issuer),
                subject_title=title,
                item_id=held[0] if held else "",
                issue_id=issue_id,
                due=due,
                labels={u: itemtext.label(store, u) for u in units},
            )
        )
    return found


def _due(store: Store, me: str, made: instructions.Instruction, now: datetime) -> Due | None:
    if not made.feedback or made.deadline is None:
        return None
    request = requests.find(store, made.request_id) if made.request_id else None
    if request is None:  # asked of other units; the tracking request is not held here
        return Due(made.request_id, made.deadline, mine=False, owed=False)
    deadline = request.draft.deadline
    if request.issuer == me:
        statuses = tuple(requests.matrix(store, request.id, now))
        return Due(request.id, deadline, mine=True, owed=False, statuses=statuses)
    own = store.one(
        "SELECT answered_at, note FROM request_target WHERE request_id = ? AND unit = ?",
        (request.id, me),
    )
    if own is None:
        return Due(request.id, deadline, mine=False, owed=False)
    answered = own["answered_at"]
    return Due(
        request.id,
        deadline,
        mine=False,
        owed=True,
        answered_at=from_text(answered) if answered else None,
        note=own["note"] or "",
    )


def countdown_text(deadline: datetime, now: datetime) -> Text:
    """What is left until a feedback deadline: late in bold red (逾期…), near in yellow."""
    left = requests_text.countdown(deadline, now)
    if deadline < now:
        return Text("逾期" + left.removeprefix("已过"), style="bold red")
    return Text(left, style="yellow" if deadline - now <= warn_span() else "")


def due_cell(due: Due | None, now: datetime) -> Text:
    """The feedback column of one instruction."""
    if due is None:
        return Text("")
    if due.mine:
        if not due.pending():
            return Text("已全部反馈", style="green")
        return countdown_text(due.deadline, now)
    if not due.owed:
        return Text("无需本单位", style="dim")
    if due.answered_at is not None:
        return Text("已反馈", style="green")
    return countdown_text(due.deadline, now)


def detail_text(row: InstructionRow, now: datetime) -> Text:
    """The instruction under the cursor in full, with its feedback."""
    made = row.made
    source = "本单位登记" if row.mine else f"{row.issuer}传达"
    text = Text()
    text.append(f"{made.level}　{made.leader}　{requests_text.when(made.at)}　{source}\n")
    text.append(f"事项 {made.subject}　{row.subject_title}".rstrip() + "\n")
    text.append(f"批示：{made.text}\n")
    due = row.due
    if due is None:
        text.append("不要求反馈")
        return text
    text.append(f"反馈时限 {requests_text.when(due.deadline)}（")
    text.append_text(countdown_text(due.deadline, now))
    text.append("）")
    if due.mine:
        answered = sum(1 for s in due.statuses if s.answered_at is not None)
        text.append(f"　已反馈 {answered}/{len(due.statuses)}")
        for s in due.statuses[:DETAIL_UNITS]:
            note = f"：{s.note}" if s.note else ""
            text.append(f"\n　{row.labels.get(s.unit, s.unit)} {s.outcome}{note}")
        if len(due.statuses) > DETAIL_UNITS:
            text.append(f"\n　……共 {len(due.statuses)} 个单位")
    elif not due.owed:
        text.append("　本单位不在反馈单位之列")
    elif due.answered_at is not None:
        text.append(f"　已反馈（{requests_text.when(due.answered_at)}）：{due.note}")
    else:
        text.append("　待本单位反馈（按 f 反馈）")
    return text


class InstructionTable(Rows):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "查看", tooltip="打开批示所在的信息（或刊物期次）"),
    ]


class InstructionScreen(DeskScreen):
    """批示: the instructions held here and the feedback due on them."""

    TAB = "instructions"
    LIVE = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "record", "登记批示", tooltip="登记领导对一条信息或一期刊物的批示"),
        Binding("f", "feedback", "反馈", tooltip="对光标所在的批示反馈落实情况"),
    ]
    COLUMNS: ClassVar[list[tuple[str, int]]] = [("时间", 11), ("级别", 4), ("领导", 12)]
    WIDE = 110  # from this width on, the subject has a column of its own

    def __init__(self, desk: Desk) -> None:
        super().__init__(desk)
        self.rows: list[InstructionRow] = []
        self.now = desk.clock()

    def body(self) -> Iterable[Widget]:
        yield Static("读取中……", id="status", markup=False)
        with Vertical():
            yield InstructionTable(id="instructions")
        yield Static("", id="detail", markup=False)

    def on_mount(self) -> None:
        self.query_one(InstructionTable).focus()
        self.set_interval(TICK_SECONDS, self.store_changed)

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        self.store_changed()

    def store_changed(self) -> None:
        def load(desk: Desk) -> tuple[list[InstructionRow], datetime]:
            now = desk.clock()
            return instruction_rows(desk.store, desk.node.id, now), now

        self.read(load, self._loaded)

    def _loaded(self, found: tuple[list[InstructionRow], datetime]) -> None:
        self.rows, self.now = found
        self.show()

    def on_resize(self, event: events.Resize) -> None:
        self.show()

    def show(self) -> None:
        """Draw the list from what was read last (again after a resize)."""
        owed = [r.due for r in self.rows if r.due and r.due.owed and r.due.pending()]
        late = sum(1 for d in owed if d.deadline < self.now)
        asked = sum(1 for r in self.rows if r.due and r.due.mine and r.due.pending())
        status = f"批示 {len(self.rows)} 条　待本单位反馈 {len(owed)} 条"
        if late:
            status += f"（逾期 {late} 条）"
        if asked:
            status += f"　待下级反馈 {asked} 条"
        self.query_one("#status", Static).update(status)
        width = self.size.width or self.app.size.width
        columns = [*self.COLUMNS, ("反馈", 12)]
        if width >= self.WIDE:
            columns.append(("事项", 20))
        last = table_width(width, [w for _, w in columns])
        table = self.query_one(InstructionTable)
        table.refill(
            [*columns, ("批示内容", last)],
            [(r.made.id, self._cells(r, last, len(columns) > 4)) for r in self.rows],
        )
        self.show_detail()

    def _cells(self, row: InstructionRow, last: int, wide: bool) -> list[str | Text]:
        made = row.made
        cells: list[str | Text] = [
            f"{made.at.astimezone(CHINA):%m-%d %H:%M}",
            str(made.level),
            fit(made.leader, 12),
            due_cell(row.due, self.now),
        ]
        if wide:  # the id, not the title: titles carry “” (ambiguous width) into a column
            cells.append(fit(made.subject, 20))
        cells.append(fit(made.text, last))
        return cells

    def current(self) -> InstructionRow | None:
        """The instruction under the cursor."""
        key = self.query_one(InstructionTable).current_key()
        return next((r for r in self.rows if r.made.id == key), None)

    def show_detail(self) -> None:
        row = self.current()
        detail = self.query_one("#detail", Static)
        if row is None:
            detail.update("（没有批示：按 r 登记领导批示）" if not self.rows else "")
        else:
            detail.update(detail_text(row, self.now))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        from console.screen.item import ItemScreen

        row = self.current()
        if row is None:
            return
        if row.issue_id:
            self.app.push_screen(IssueScreen(self.desk, row.issue_id))
        elif row.item_id:
            self.app.push_screen(ItemScreen(self.desk, row.item_id))
        else:
            self.notify(f"本单位没有批示所在的信息 {row.made.subject}", severity="warning")

    def owed(self) -> tuple[InstructionRow, Due] | None:
        """The instruction under the cursor and the feedback this node owes on it; if it owes
        none, the desk is told why."""
        row = self.current()
        if row is None:
            self.notify("没有批示，无从反馈", severity="warning")
            return None
        due = row.due
        if due is None:
            self.notify("这条批示不要求反馈", severity="warning")
        elif due.mine:
            self.notify("这条批示由本单位登记，待下级单位反馈", severity="warning")
        elif not due.owed:
            self.notify("本单位不在这条批示的反馈单位之列", severity="warning")
        else:
            return row, due
        return None

    def action_feedback(self) -> None:
        if (found := self.owed()) is not None:
            row, due = found
            self.app.push_screen(
                AskText(f"反馈{row.made.leader}批示的落实情况：", due.note),
                lambda text: self.command_feedback(text) if text else None,
            )

    def command_feedback(self, text: str) -> None:
        """``:反馈 已组织落实……`` answers the instruction under the cursor."""
        if (found := self.owed()) is None:
            return
        request_id = found[1].request_id
        request = self.attempt(lambda: ops.answer_request(self.desk, request_id, text))
        if request is not None:
            self.notify(f"已反馈“{request.draft.topic}”")
            self.store_changed()

    @work(exclusive=True, group="ask")
    async def action_record(self) -> None:
        app = self.app
        subject = await app.push_screen_wait(AskText("登记批示：信息编号或刊物期次（如 专报/3）："))
        if not subject or not subject.strip():
            return
        default = TIER_LEVEL.get(self.desk.node.tier, Level.CITY)
        level = await app.push_screen_wait(
            Choose("批示领导的级别：", [str(v) for v in Level], str(default))
        )
        if level is None:
            return
        leader = await app.push_screen_wait(AskText("批示领导（如 市长王某某）："))
        if leader is None:
            return
        said = await app.push_screen_wait(AskText("批示内容："))
        if said is None:
            return
        ask = await app.push_screen_wait(
            Choose("是否要求反馈落实情况？", [NO_FEEDBACK, ASK_FEEDBACK])
        )
        if ask is None:
            return
        deadline_text, assigned = "", ""
        if ask == ASK_FEEDBACK:
            soon = (self.desk.clock() + timedelta(days=7)).astimezone(CHINA)
            answer = await app.push_screen_wait(
                AskText("反馈时限（如 2026-11-28 18:00）：", f"{soon:%Y-%m-%d} 18:00")
            )
            if answer is None:
                return
            deadline_text = answer
            units = await app.push_screen_wait(
                AskText("责任单位代码（以空格分隔；留空为信息来源各单位）：")
            )
            if units is None:
                return
            assigned = units
        desk = self.desk

        def record() -> instructions.Instruction:
            deadline = time_field(deadline_text, "deadline") if deadline_text.strip() else None
            return ops.instruct(
                desk,
                subject.strip(),
                leader,
                Level.parse(level, "level"),
                said,
                feedback=ask == ASK_FEEDBACK,
                deadline=deadline,
                assigned=assigned.split(),
            )

        made = self.attempt(record)
        if made is not None:
            self.notify(f"已登记批示 {made.id}，传达至相关单位")
            self.store_changed()
