"""约稿: topic requests, reporting priorities and 批示 feedback requests, both ways.

收到的 (incoming): what upper desks asked of this node, with a live countdown to each deadline
and what this desk did (未读, 已读, 已答复, 已零报告, 迟报, 逾期未报); the themes of the
reporting priorities held here underneath. 发出的 (outgoing): what this node asked of others,
answered n/m; Enter opens the completion matrix of one request. The same operations as
``xinbao requests``, ``zero-report``, ``follow-up`` and ``show`` (schema/request.py).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from console.requests_text import countdown, label, when
from console.screen.desk import DeskScreen
from console.screen.dialog import AskText, Confirm
from console.screen.inbox import short_countdown
from console.text import fit
from schema import desk as ops
from schema import request as requests
from schema import supervise
from schema.clock import CHINA
from schema.datafile import data_text
from schema.desk import Desk
from schema.store import Store

TICK_SECONDS = 5.0  # countdowns move and outcomes turn 未报 without any commit
WIDE = 110  # from this many cells on, lists show the deadline's date and time as well
DEFAULT_WARN_HOURS = 24.0
KIND_NAMES = {
    requests.TOPIC: "约稿",
    requests.PRIORITIES: "报送要点",
    requests.INSTRUCTED: "批示反馈",
    requests.SUPERVISED: "督办",
}
URGENT_STYLE = {"特急": "bold red", "加急": "bold"}
OUTCOME_STYLE = {
    requests.Outcome.ON_TIME: "green",
    requests.Outcome.LATE: "yellow",
    requests.Outcome.MISSING: "bold red",
    requests.Outcome.PENDING: "",
}
INCOMING, OUTGOING = "incoming", "outgoing"
VIEW_NAMES = {INCOMING: "收到的", OUTGOING: "发出的"}

Columns = list[tuple[str, int]]  # (heading, width in cells; 0 takes what is left)
Cells = list[tuple[str, str]]  # (text, rich style), one per column


@cache
def warn_span() -> timedelta:
    """How long before its deadline an unanswered request shows as due soon (yellow):
    ``warn_hours`` in ``requests.toml`` when the office sets it, else a day."""
    raw, _ = data_text("requests.toml")
    return timedelta(hours=float(tomllib.loads(raw).get("warn_hours", DEFAULT_WARN_HOURS)))


# -- what the screens show, read in a worker ---------------------------------------------------


@dataclass(frozen=True)
class Incoming:
    """A request addressed to this node, with what this desk did about it."""

    id: str
    number: str
    kind: str
    urgency: str
    issuer: str  # the issuing unit's label
    topic: str
    deadline: datetime
    own: requests.TargetStatus | None

    @property
    def owed(self) -> bool:
        """Whether this desk still owes an answer."""
        answered = self.own is not None and self.own.answered_at is not None
        return self.kind != requests.PRIORITIES and not answered


@dataclass(frozen=True)
class Outgoing:
    """A request this node issued (or drafted), with how its targets stand."""

    id: str
    number: str
    kind: str
    urgency: str
    topic: str
    deadline: datetime
    state: str
    targets: int
    answered: int

    def missing(self, now: datetime) -> int:
        """Targets that have not answered by a deadline passed at ``now`` (未报)."""
        return self.targets - self.answered if now > self.deadline else 0


@dataclass(frozen=True)
class Board:
    """Everything the 约稿 tab shows, read at ``now``."""

    now: datetime
    incoming: tuple[Incoming, ...]
    outgoing: tuple[Outgoing, ...]
    themes: tuple[str, ...]
    due: tuple[dict[str, Any], ...]  # follow-ups of this node's requests that are due


def load_board(desk: Desk) -> Board:
    """Read the requests this node holds, both ways, at the desk's clock."""
    now = desk.clock()
    me = desk.node.id
    incoming: list[Incoming] = []
    outgoing: list[Outgoing] = []
    for r in requests.listing(desk.store, me, now):
        if r["issuer"] == me:
            outgoing.append(
                Outgoing(
                    id=r["id"],
                    number=r["number"],
                    kind=r["kind"],
                    urgency=r["urgency"],
                    topic=r["topic"],
                    deadline=r["deadline"],
                    state=r["state"],
                    targets=r["targets"],
                    answered=r["answered"],
                )
            )
        else:
            incoming.append(
                Incoming(
                    id=r["id"],
                    number=r["number"],
                    kind=r["kind"],
                    urgency=r["urgency"],
                    issuer=label(desk.store, r["issuer"]),
                    topic=r["topic"],
                    deadline=r["deadline"],
                    own=r.get("own"),
                )
            )
    return Board(
        now=now,
        incoming=tuple(incoming),
        outgoing=tuple(outgoing),
        themes=tuple(requests.themes_held(desk.store)),
        due=tuple(requests.follow_ups_due(desk.store, me, now.astimezone(CHINA).date())),
    )


def own_state(row: Incoming, now: datetime) -> tuple[str, str]:
    """What this desk did about ``row`` (未读 已读 已答复 已零报告 已反馈 迟报 逾期未报),
    and the style it is shown in."""
    own = row.own
    read = own is not None and own.read_at is not None
    if own is not None and own.answered_at is not None and row.kind != requests.PRIORITIES:
        if own.answered_at > row.deadline:
            return "迟报", "yellow"
        if row.kind in requests.WORDED:
            return "已反馈", "green"
        return ("已零报告" if own.zero_report else "已答复"), "green"
    if row.kind != requests.PRIORITIES and now > row.deadline:
        return "逾期未报", "bold red"
    return ("已读", "") if read else ("未读", "bold")


def deadline_style(deadline: datetime, now: datetime, open_: bool) -> str:
    """Red once late, yellow within the warning span, dim when nothing is owed any more."""
    if not open_:
        return "dim"
    if now > deadline:
        return "bold red"
    return "yellow" if deadline - now <= warn_span() else ""


def line(columns: Columns, cells: Cells, width: int) -> Text:
    """``cells`` laid out in ``columns`` (CJK is two cells wide), ``width`` cells in all."""
    used = sum(w for _, w in columns)
    text = Text(no_wrap=True, overflow="crop")
    for (_, w), (value, style) in zip(columns, cells, strict=True):
        text.append(fit(value, w or max(4, width - used)), style=style)
    return text


def heading(columns: Columns, width: int) -> Text:
    """The column headings of a list, dim."""
    text = line(columns, [(title, "") for title, _ in columns], width)
    text.stylize("dim")
    return text


def incoming_columns(width: int) -> Columns:
    """The columns of 收到的 at ``width`` cells."""
    wide = [("截止时间", 15)] if width >= WIDE else []
    return [
        ("", 1),
        ("紧急", 5),
        ("类别", 9),
        ("发文单位", 11),
        *wide,
        ("时限", 9),
        ("本单位", 11),
        ("主题", 0),
    ]


def incoming_line(row: Incoming, width: int, now: datetime) -> Text:
    """One request addressed to this node, as the list shows it."""
    state, state_style = own_state(row, now)
    wide = [(when(row.deadline), "")] if width >= WIDE else []
    cells: Cells = [
        ("", ""),
        (row.urgency if row.urgency in URGENT_STYLE else "", URGENT_STYLE.get(row.urgency, "")),
        (KIND_NAMES.get(row.kind, row.kind), ""),
        (row.issuer, ""),
        *wide,
        (short_countdown(row.deadline, now), deadline_style(row.deadline, now, row.owed)),
        (state, state_style),
        (row.topic, ""),
    ]
    text = line(incoming_columns(width), cells, width)
    if row.own is None or row.own.read_at is None:
        text.stylize("bold")  # unread stands out
    return text


def outgoing_columns(width: int) -> Columns:
    """The columns of 发出的 at ``width`` cells."""
    wide = [("截止时间", 15)] if width >= WIDE else []
    return [
        ("", 1),
        ("紧急", 5),
        ("类别", 9),
        ("文号", 15),
        *wide,
        ("完成", 10),
        ("时限", 9),
        ("主题", 0),
    ]


def outgoing_line(row: Outgoing, width: int, now: datetime) -> Text:
    """One request this node issued, as the list shows it."""
    issued = row.state == requests.RequestState.ISSUED.value
    done = f"已答{row.answered}/{row.targets}" if issued else row.state
    open_ = issued and row.answered < row.targets
    wide = [(when(row.deadline), "")] if width >= WIDE else []
    cells: Cells = [
        ("", ""),
        (row.urgency if row.urgency in URGENT_STYLE else "", URGENT_STYLE.get(row.urgency, "")),
        (KIND_NAMES.get(row.kind, row.kind), ""),
        (row.number, ""),
        *wide,
        (done, "bold red" if row.missing(now) else "green" if issued and not open_ else ""),
        (short_countdown(row.deadline, now), deadline_style(row.deadline, now, open_)),
        (row.topic, ""),
    ]
    return line(outgoing_columns(width), cells, width)


# -- one request in full -----------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """One request as the detail screen shows it, and what the desk may do with it."""

    row: Incoming | None  # None when this node issued it
    text: Text


def replies_here(store: Store, request_id: str, me: str) -> list[dict[str, Any]]:
    """This node's own items linked to ``request_id`` (sent or still drafts)."""
    return store.query(
        "SELECT id, title FROM item WHERE request = ? AND origin = ? ORDER BY seq",
        (request_id, me),
    )


def load_request(desk: Desk, request_id: str) -> Shown:
    """One request in full, as ``xinbao show`` prints it, with this desk's own answer."""
    store, me, now = desk.store, desk.node.id, desk.clock()
    request = requests.get(store, request_id)
    draft = request.draft
    own = None
    if request.issuer != me:
        own = next((s for s in requests.matrix(store, request_id, now) if s.unit == me), None)
    row = (
        None
        if request.issuer == me
        else Incoming(
            id=request.id,
            number=request.number,
            kind=draft.kind,
            urgency=draft.urgency.value,
            issuer=label(store, request.issuer),
            topic=draft.topic,
            deadline=draft.deadline,
            own=own,
        )
    )
    text = Text()
    # markings first, as on paper
    text.append(f"{request.classification}　{draft.urgency}　{draft.kind}\n")
    text.append(f"{label(store, request.issuer)}　{request.number}\n")
    text.append(f"{draft.topic}\n", style="bold")
    text.append(f"\n{draft.guidance}\n\n")
    if draft.themes:
        text.append("报送要点主题：\n")
        for n, theme in enumerate(draft.themes, 1):
            text.append(f"  {n}. {theme}\n")
    owed = row.owed if row is not None else False
    text.append(f"截止 {when(draft.deadline)}（")
    text.append(countdown(draft.deadline, now), style=deadline_style(draft.deadline, now, owed))
    text.append("）\n")
    if draft.publication:
        text.append(f"拟用刊物 {draft.publication}\n")
    if draft.points or draft.penalty:
        text.append(f"计分 采用加{draft.points}分　未报扣{abs(draft.penalty)}分\n")
    if draft.contact:
        text.append(f"联系人 {draft.contact}\n")
    if request.signer:
        text.append(f"签发 {request.signer}　{when(request.signed_at)}\n")
    if request.follows:
        text.append(f"跟踪约稿，原约稿 {request.follows}\n")
    text.append("附件 无\n")  # a request carries none (schema/request.py has no field)
    if row is None:
        text.append(f"\n状态 {request.state}\n")
    else:
        state, style = own_state(row, now)
        text.append("\n本单位 ")
        text.append(state, style=style)
        if own is not None and own.read_at is not None:
            text.append(f"　阅读 {when(own.read_at)}")
        if own is not None and own.answered_at is not None:
            text.append(f"　答复 {when(own.answered_at)}")
        text.append("\n")
        if own is not None and own.note:
            text.append(f"说明 {own.note}\n")
        mine = replies_here(store, request_id, me)
        if mine:
            sent = set(own.replies) if own is not None else set()
            text.append("本单位答复的信息：\n")
            for item in mine:
                where = "已报送" if item["id"] in sent else "未签发"
                text.append(f"  {item['id']}　{item['title']}（{where}）\n")
    return Shown(row, text)


# -- the completion matrix ---------------------------------------------------------------------


@dataclass(frozen=True)
class MatrixView:
    """An issued request, every target's state, and its follow-ups."""

    request: requests.Request
    now: datetime
    targets: tuple[tuple[str, requests.TargetStatus], ...]  # (unit label, status)
    follow_ups: tuple[dict[str, Any], ...]
    interviews: tuple[str, ...] = ()  # 约谈 recorded after a 督办, as lines


def follow_ups(store: Store, request_id: str) -> list[dict[str, Any]]:
    """Every follow-up scheduled for ``request_id``: step, label, due day, and the follow-up
    request made for it (empty until made)."""
    return store.query(
        "SELECT step, label, due, made FROM request_followup WHERE request_id = ? ORDER BY step",
        (request_id,),
    )


def load_matrix(desk: Desk, request_id: str) -> MatrixView:
    """The completion matrix of one of this node's requests at the desk's clock."""
    now = desk.clock()
    statuses = requests.matrix(desk.store, request_id, now)
    return MatrixView(
        request=requests.get(desk.store, request_id),
        now=now,
        targets=tuple((label(desk.store, s.unit), s) for s in statuses),
        follow_ups=tuple(follow_ups(desk.store, request_id)),
        interviews=tuple(
            f"约谈 {label(desk.store, i.unit)}　{when(i.at)}　{i.actor}：{i.note}"
            for i in supervise.interviews(desk.store)
            if i.request_id == request_id
        ),
    )


def matrix_columns(width: int) -> Columns:
    """The columns of the completion matrix at ``width`` cells."""
    unit = 17 if width >= WIDE else 13
    return [
        ("", 1),
        ("单位", unit),
        ("已读", 15),
        ("答复", 10),
        ("答复时间", 15),
        ("结果", 8),
        ("说明", 0),
    ]


def target_line(target: tuple[str, requests.TargetStatus], width: int) -> Text:
    """One target of a request: read, answered how and when, the outcome."""
    name, s = target
    if s.zero_report:
        answer = "零报告"
    elif s.replies:
        answer = f"{len(s.replies)}条信息"
    elif s.answered_at is not None:
        answer = "已反馈"
    else:
        answer = ""
    note = s.note or "、".join(s.replies)
    cells: Cells = [
        ("", ""),
        (name, ""),
        (when(s.read_at) if s.read_at else "未读", "" if s.read_at else "dim"),
        (answer, ""),
        (when(s.answered_at) if s.answered_at else "", ""),
        (s.outcome.value, OUTCOME_STYLE[s.outcome]),
        (note, ""),
    ]
    return line(matrix_columns(width), cells, width)


def matrix_summary(view: MatrixView) -> Text:
    """The head of the matrix: the request, its deadline, and the counts by outcome."""
    r, now = view.request, view.now
    counts = {o: 0 for o in requests.Outcome}
    for _, s in view.targets:
        counts[s.outcome] += 1
    answered = sum(1 for _, s in view.targets if s.answered_at)
    open_ = r.state is requests.RequestState.ISSUED and answered < len(view.targets)
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{r.number}　{KIND_NAMES.get(r.draft.kind, r.draft.kind)}　")
    text.append(r.draft.topic, style="bold")
    text.append(f"\n截止 {when(r.draft.deadline)}（")
    text.append(
        countdown(r.draft.deadline, now), style=deadline_style(r.draft.deadline, now, open_)
    )
    text.append(f"）　已答 {answered}/{len(view.targets)}")
    for outcome in requests.Outcome:
        text.append("　")
        text.append(f"{outcome.value} {counts[outcome]}", style=OUTCOME_STYLE[outcome])
    return text


def day(iso: str, today: date) -> str:
    """A day as desks write it: 11月17日, with the year when it is not this year's."""
    d = date.fromisoformat(iso)
    return f"{d.month}月{d.day}日" if d.year == today.year else f"{d.year}年{d.month}月{d.day}日"


def follow_up_text(view: MatrixView) -> Text:
    """The follow-ups of a request after a major policy: when each falls due, which are due."""
    today = view.now.astimezone(CHINA).date()
    text = Text("跟踪约稿：")
    for f in view.follow_ups:
        due = day(f["due"], today)
        if f["made"]:
            text.append(f"　{f['label']} {due}（已起草 {f['made']}）", style="dim")
        elif f["due"] <= today.isoformat():
            text.append(f"　{f['label']} {due}（到期待发，按 f 起草）", style="bold yellow")
        else:
            text.append(f"　{f['label']} {due}")
    return text


# -- the list widget ---------------------------------------------------------------------------


class RequestList(ScrollView, can_focus=True):
    """A short list drawn line by line by ``draw`` (fitted to the width), with a cursor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "move(1)", "下移", show=False),
        Binding("k,up", "move(-1)", "上移", show=False),
        Binding("pagedown,ctrl+f", "page(1)", "下页", show=False),
        Binding("pageup,ctrl+b", "page(-1)", "上页", show=False),
        Binding("g,home", "jump(0)", "首条", show=False),
        Binding("G,end", "jump(-1)", "末条", show=False),
        Binding("enter", "choose", "打开", tooltip="打开光标所在的一条"),
    ]

    cursor: reactive[int] = reactive(0)

    class Chosen(Message):
        """The desk pressed Enter on a row."""

        def __init__(self, row: Any) -> None:
            super().__init__()
            self.row = row

    def __init__(
        self,
        draw: Callable[[Any, int], Text],
        key: Callable[[Any], str],
        empty: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.draw = draw
        self.key = key
        self.empty = empty
        self.rows: list[Any] = []

    def show(self, rows: Sequence[Any], empty: str | None = None, at: str | None = None) -> None:
        """Show ``rows``, keeping the cursor on the same row (by key), or on key ``at``."""
        here = at if at is not None else (self.key(r) if (r := self.current()) else None)
        self.rows = list(rows)
        if empty is not None:
            self.empty = empty
        keys = [self.key(r) for r in self.rows]
        cursor = keys.index(here) if here in keys else min(self.cursor, len(self.rows) - 1)
        self.virtual_size = Size(self.size.width or 80, max(1, len(self.rows)))
        self.cursor = max(0, cursor)
        self.refresh()

    def current(self) -> Any | None:
        """The row under the cursor."""
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, max(1, len(self.rows)))

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.size.width
        if index < len(self.rows):
            text = self.draw(self.rows[index], width)
            if index == self.cursor:
                text.stylize("reverse")
        else:
            text = Text(self.empty if index == 0 else "", style="dim")
        segments = list(text.render(self.app.console))
        return Strip(segments).adjust_cell_length(width)

    def watch_cursor(self, old: int, new: int) -> None:
        height = max(1, self.size.height)
        top = self.scroll_offset.y
        if new < top:
            self.scroll_to(y=new, animate=False)
        elif new >= top + height:
            self.scroll_to(y=new - height + 1, animate=False)
        self.refresh()

    def action_move(self, step: int) -> None:
        if self.rows:
            self.cursor = max(0, min(len(self.rows) - 1, self.cursor + step))

    def action_page(self, step: int) -> None:
        self.action_move(step * max(1, self.size.height - 1))

    def action_jump(self, where: int) -> None:
        if self.rows:
            self.cursor = where if where >= 0 else len(self.rows) - 1

    def action_choose(self) -> None:
        row = self.current()
        if row is not None:
            self.post_message(self.Chosen(row))


# -- answering (from the list and from the request itself) -------------------------------------


def reply(screen: DeskScreen, row: Incoming, done: Callable[[], None], text: str = "") -> None:
    """答复: a topic request is answered with an item (the compose form, linked to it); a 批示
    feedback request with words. ``done`` reads the screen again after a change."""
    desk = screen.desk
    if not screen.act(lambda: requests.reply_target(desk.store, desk.node.id, row.id)):
        return  # not answerable here: the desk was told why
    if row.kind in requests.WORDED:
        if text:
            _feedback(screen, row, text, done)
            return
        screen.app.push_screen(
            AskText(f"对“{row.topic}”的反馈："),
            lambda said: _feedback(screen, row, said, done) if said and said.strip() else None,
        )
        return
    from console.screen.compose import ComposeScreen  # loaded when first needed

    screen.app.push_screen(ComposeScreen(desk, item_id=None, request_id=row.id))


def _feedback(screen: DeskScreen, row: Incoming, text: str, done: Callable[[], None]) -> None:
    if screen.act(lambda: ops.answer_request(screen.desk, row.id, text), "已反馈"):
        done()


def zero(
    screen: DeskScreen, row: Incoming, done: Callable[[], None], note: str | None = None
) -> None:
    """零报告: ask a note (unless given), confirm, then record it and tell the issuer;
    ``done`` reads the screen again."""
    desk = screen.desk
    if not screen.act(lambda: requests.reply_target(desk.store, desk.node.id, row.id)):
        return
    if row.own is not None and row.own.answered_at is not None:
        screen.notify(
            f"约稿 {row.number} 已于 {when(row.own.answered_at)} 答复",
            title="未能完成",
            severity="error",
        )
        return

    def confirm(said: str | None) -> None:
        if said is None:
            return
        screen.app.push_screen(
            Confirm(f"确定对{row.number}“{row.topic}”作零报告？"),
            lambda yes: record(said.strip()) if yes else None,
        )

    def record(text: str) -> None:
        if screen.act(lambda: ops.zero_report(desk, row.id, text), f"已对{row.number}作零报告"):
            done()

    if note is not None:
        confirm(note)
    else:
        screen.app.push_screen(AskText("零报告说明（如“本单位无相关情况”，可空）："), confirm)


# -- the screens -------------------------------------------------------------------------------


class RequestScreen(DeskScreen):
    """约稿: requests received (with countdowns) and issued (with answered n/m)."""

    TAB = "requests"
    LIVE = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab,t", "switch_view", "收/发", tooltip="在收到的和本单位发出的约稿之间切换"),
        Binding("r", "reply", "答复", tooltip="起草答复约稿的信息；批示反馈则填写反馈内容"),
        Binding("z", "zero", "零报告", tooltip="对约稿作零报告：写明说明，确认后报发文单位"),
        Binding("s", "signoff", "签发", tooltip="签发本单位起草的约稿，下发各对象单位（须确认）"),
    ]

    def __init__(self, desk: Desk) -> None:
        super().__init__(desk)
        self.view = INCOMING
        self.board: Board | None = None
        self.place: dict[str, str] = {}  # the row the cursor was on in each view

    def body(self) -> list[Widget]:
        return [
            Static(id="status", markup=False),
            Static(id="head", markup=False),
            RequestList(self._draw, lambda r: r.id, "读取中……", id="requests"),
            Static(id="notes", markup=False),
        ]

    def on_mount(self) -> None:
        self.query_one(RequestList).focus()
        self.set_interval(TICK_SECONDS, self.tick)

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        self.refresh_view()  # back from a request, the compose form or another tab

    def tick(self) -> None:
        """Move the countdowns on: what is owed and late follows the clock, not the store."""
        if self.board is None:
            return
        now = self.desk.clock()
        if now.astimezone(CHINA).date() != self.board.now.astimezone(CHINA).date():
            self.refresh_view()  # follow-ups fall due by the day
            return
        self.board = replace(self.board, now=now)
        self._show()

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self._show_head)  # once the list has its new width

    def store_changed(self) -> None:
        self.refresh_view()

    def refresh_view(self) -> None:
        """Read the requests again (a worker) and show them."""
        self.read(load_board, self._loaded)

    def _loaded(self, board: Board) -> None:
        self.board = board
        self._show()

    def _draw(self, row: Incoming | Outgoing, width: int) -> Text:
        now = self.board.now if self.board else self.desk.clock()
        if isinstance(row, Incoming):
            return incoming_line(row, width, now)
        return outgoing_line(row, width, now)

    def _show(self, at: str | None = None) -> None:
        board = self.board
        if board is None:
            return
        listing = self.query_one(RequestList)
        if self.view == INCOMING:
            listing.show(board.incoming, "（没有收到约稿或报送要点）", at)
        else:
            listing.show(board.outgoing, "（本单位没有发出约稿）", at)
        self.query_one("#status", Static).update(self._status(board))
        self._show_head()
        notes = self.query_one("#notes", Static)
        text = self._notes(board, max(20, self.size.width))
        notes.update(text)
        notes.display = bool(text.plain)

    def _show_head(self) -> None:
        width = self.query_one(RequestList).size.width or self.size.width or 80
        columns = incoming_columns(width) if self.view == INCOMING else outgoing_columns(width)
        self.query_one("#head", Static).update(heading(columns, width))

    def _status(self, board: Board) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        for view, rows in ((INCOMING, board.incoming), (OUTGOING, board.outgoing)):
            text.append(
                f" {VIEW_NAMES[view]} {len(rows)} ", "reverse bold" if view == self.view else ""
            )
            text.append(" ")
        if self.view == INCOMING:
            unread = sum(1 for r in board.incoming if r.own is None or r.own.read_at is None)
            owed = [r for r in board.incoming if r.owed]
            late = sum(1 for r in owed if board.now > r.deadline)
            text.append(f"　未读 {unread}　待答复 {len(owed)}")
            if late:
                text.append(f"　逾期未报 {late}", style="bold red")
        else:
            drafts = sum(1 for r in board.outgoing if r.state != requests.RequestState.ISSUED)
            missing = sum(1 for r in board.outgoing if r.missing(board.now))
            text.append(f"　待签发 {drafts}")
            if missing:
                text.append(f"　有未报单位 {missing}", style="bold red")
            if board.due:
                text.append(f"　跟踪约稿到期 {len(board.due)}", style="bold yellow")
        text.append("　Tab 切换", style="dim")
        return text

    def _notes(self, board: Board, width: int) -> Text:
        """Under the list: the priorities' themes (收到的), the follow-ups due (发出的)."""
        if self.view == INCOMING:
            if not board.themes:
                return Text()
            themes = "；".join(f"{n}.{t}" for n, t in enumerate(board.themes, 1))
            # two lines at most: the whole list is in the priorities notice itself
            return Text(fit(f"报送要点主题：{themes}", 2 * width - 4).rstrip())
        if not board.due:
            return Text()
        today = board.now.astimezone(CHINA).date()
        due = "；".join(f"{f['number']} {f['label']}（{day(f['due'], today)}）" for f in board.due)
        text = Text("到期待发的跟踪约稿：", style="bold yellow")
        text.append(fit(due, 2 * width - 24).rstrip())
        return text

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("reply", "zero"):
            return self.view == INCOMING
        if action == "signoff":
            return self.view == OUTGOING
        return True

    def action_switch_view(self) -> None:
        listing = self.query_one(RequestList)
        if (here := listing.current()) is not None:
            self.place[self.view] = here.id
        self.view = OUTGOING if self.view == INCOMING else INCOMING
        self.refresh_bindings()
        self._show(at=self.place.get(self.view, ""))

    def _chosen(self) -> Incoming | Outgoing | None:
        return self.query_one(RequestList).current()  # type: ignore[no-any-return]

    def _received(self, what: str) -> Incoming | None:
        """The received request under the cursor, or None after saying why ``what`` cannot be
        done (no request there, or one this node issued)."""
        row = self._chosen()
        if isinstance(row, Incoming):
            return row
        said = "没有收到的约稿" if row is None else "这是本单位发出的约稿"
        self.notify(f"{said}，无从{what}", severity="warning")
        return None

    def on_request_list_chosen(self, message: RequestList.Chosen) -> None:
        row = message.row
        if isinstance(row, Outgoing):
            self.app.push_screen(MatrixScreen(self.desk, row.id))
            return
        # opening is reading: the first time, a read receipt goes to the issuer
        if self.act(lambda: ops.open_request(self.desk, row.id)):
            self.app.push_screen(RequestDetailScreen(self.desk, row.id))

    def action_reply(self) -> None:
        if row := self._received("答复"):
            reply(self, row, self.refresh_view)

    def command_reply(self, text: str) -> None:
        """``:答复 已按要求落实`` answers a 批示 feedback request at once."""
        if row := self._received("答复"):
            reply(self, row, self.refresh_view, text)

    def action_zero(self) -> None:
        if row := self._received("零报告"):
            zero(self, row, self.refresh_view)

    def command_zero(self, text: str) -> None:
        """``:零报告 本县无相关情况`` takes the note from the command line (still confirmed)."""
        if row := self._received("零报告"):
            zero(self, row, self.refresh_view, text)

    def action_signoff(self) -> None:
        row = self._chosen()
        if not isinstance(row, Outgoing):
            said = "没有本单位的约稿" if row is None else "收到的约稿不由本单位签发"
            self.notify(f"{said}，无从签发", severity="warning")
            return
        if row.state != requests.RequestState.AWAITING_SIGNOFF.value:
            self.notify(f"{row.number} 已签发", severity="warning")
            return

        def sign(yes: bool | None) -> None:
            done = f"已签发 {row.number}，排队下发"
            if yes and self.act(lambda: ops.signoff_request(self.desk, row.id), done):
                self.refresh_view()

        self.app.push_screen(Confirm(f"签发{row.number}“{row.topic}”，下发各对象单位？"), sign)


class RequestDetailScreen(DeskScreen):
    """One request in full; the desk answers it from here too."""

    LIVE = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reply", "答复", tooltip="起草答复约稿的信息；批示反馈则填写反馈内容"),
        Binding("z", "zero", "零报告", tooltip="对约稿作零报告：写明说明，确认后报发文单位"),
    ]

    def __init__(self, desk: Desk, request_id: str) -> None:
        super().__init__(desk)
        self.request_id = request_id
        self.row: Incoming | None = None

    def body(self) -> list[Widget]:
        return [VerticalScroll(Static("读取中……", id="request", markup=False))]

    def on_mount(self) -> None:
        self.set_interval(TICK_SECONDS, self.refresh_view)

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        self.refresh_view()

    def store_changed(self) -> None:
        self.refresh_view()

    def refresh_view(self) -> None:
        """Read the request again (a worker) and show it."""
        self.read(lambda desk: load_request(desk, self.request_id), self._loaded)

    def _loaded(self, shown: Shown) -> None:
        self.row = shown.row
        self.query_one("#request", Static).update(shown.text)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("reply", "zero"):
            return self.row is not None and self.row.kind != requests.PRIORITIES
        return True

    def action_reply(self) -> None:
        if self.row is not None:
            reply(self, self.row, self.refresh_view)

    def command_reply(self, text: str) -> None:
        """``:答复 已按要求落实`` answers a 批示 feedback request at once."""
        if self.row is not None:
            reply(self, self.row, self.refresh_view, text)

    def action_zero(self) -> None:
        if self.row is not None:
            zero(self, self.row, self.refresh_view)

    def command_zero(self, text: str) -> None:
        """``:零报告 本县无相关情况`` takes the note from the command line (still confirmed)."""
        if self.row is not None:
            zero(self, self.row, self.refresh_view, text)


class MatrixScreen(DeskScreen):
    """The completion matrix of a request this node issued: every target, on time / late /
    missing / pending, and the follow-ups after a major policy."""

    LIVE = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("v", "text", "全文", tooltip="查看本约稿的全文"),
        Binding("f", "follow_up", "跟踪约稿", tooltip="起草到期的跟踪约稿（待签发，须确认）"),
    ]

    def __init__(self, desk: Desk, request_id: str) -> None:
        super().__init__(desk)
        self.request_id = request_id
        self.view: MatrixView | None = None

    def body(self) -> list[Widget]:
        return [
            Static("读取中……", id="summary", markup=False),
            Static(id="head", markup=False),
            RequestList(target_line, lambda t: t[1].unit, "读取中……", id="matrix"),
            Static(id="followups", markup=False),
        ]

    def on_mount(self) -> None:
        self.query_one(RequestList).focus()
        self.query_one("#followups").display = False
        self.set_interval(TICK_SECONDS, self.refresh_view)

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        self.refresh_view()

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self._show_head)  # once the list has its new width

    def store_changed(self) -> None:
        self.refresh_view()

    def refresh_view(self) -> None:
        """Read the matrix again (a worker) and show it."""
        self.read(lambda desk: load_matrix(desk, self.request_id), self._loaded)

    def _loaded(self, view: MatrixView) -> None:
        self.view = view
        self.query_one("#summary", Static).update(matrix_summary(view))
        self._show_head()
        self.query_one(RequestList).show(view.targets, "（尚未签发，还没有约稿对象）")
        notes = self.query_one("#followups", Static)
        notes.display = bool(view.follow_ups or view.interviews)
        if view.follow_ups or view.interviews:
            shown = follow_up_text(view) if view.follow_ups else Text()
            for talk in view.interviews:
                shown.append(("\n" if shown.plain else "") + talk)
            notes.update(shown)
        self.refresh_bindings()

    def _show_head(self) -> None:
        width = self.query_one(RequestList).size.width or self.size.width or 80
        self.query_one("#head", Static).update(heading(matrix_columns(width), width))

    def _due(self) -> bool:
        if self.view is None:
            return False
        today = self.view.now.astimezone(CHINA).date().isoformat()
        return any(not f["made"] and f["due"] <= today for f in self.view.follow_ups)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "follow_up":
            return self._due()
        return True

    def on_request_list_chosen(self, message: RequestList.Chosen) -> None:
        from console.screen.item import ItemScreen

        _, status = message.row
        if status.replies:  # the first reply; the item view links the rest by request
            self.app.push_screen(ItemScreen(self.desk, status.replies[0]))

    def action_text(self) -> None:
        self.app.push_screen(RequestDetailScreen(self.desk, self.request_id))

    def action_follow_up(self) -> None:
        if not self._due():
            return

        def make(yes: bool | None) -> None:
            if not yes:
                return
            made: list[requests.Request] = []
            if self.act(lambda: made.append(ops.follow_up_request(self.desk, self.request_id))):
                self.notify(f"已起草跟踪约稿 {made[0].number}，待签发（在“发出的”中按 s 签发）")
                self.refresh_view()

        self.app.push_screen(Confirm("起草到期的跟踪约稿（待签发）？"), make)
