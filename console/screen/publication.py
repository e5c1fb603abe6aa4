"""刊物: the issues of this office's publications (and those received from others), one issue
open with its entries in order, and what a desk does to an issue: place adopted items, take one
out, move entries up and down, sign the issue off and export it as Markdown or Word."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import ClassVar, TypeVar

from rich.text import Text
from textual import events, work
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import DataTable, Static

from console import itemtext, remote, requests_text
from console.screen.desk import DeskScreen
from console.screen.dialog import AskText, Choose, Confirm
from console.screen.inbox import MARKS
from console.screen.table import Rows, table_width
from console.text import fit
from schema import desk as ops
from schema import issuefile
from schema import item as items
from schema import publication as pubs
from schema.clock import CHINA, from_text
from schema.desk import Desk
from schema.error import XinbaoError, reason
from schema.node import names_at
from schema.store import Store
from schema.vocabulary import EdgeState

T = TypeVar("T")
STATE_STYLE = {pubs.EDITING: "yellow", pubs.ISSUED: "green"}
CHOSEN = "选"  # a marked row: a wide character, where ● is ambiguous and may shift columns


def marks(urgency: str, classification: str) -> str:
    """Urgency (unless routine) and a one-character classification: 加急内, 特急密."""
    return (urgency if urgency != "平急" else "") + MARKS.get(classification, "")


# -- reads ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssueRow:
    """One issue in the tab's list."""

    id: str
    publication: str
    year: int
    number: int
    cumulative: int
    state: str
    date: date
    items: int
    publisher: str  # the unit's short name ("" for this office)


def issue_rows(store: Store, me: str) -> list[IssueRow]:
    """Every issue held here, newest first; a received issue counts the entries it came with
    (``publication.listing`` counts only placed ones, which a received issue has none of)."""
    rows = store.query(
        "SELECT i.id, i.publication, i.year, i.number, i.cumulative, i.publisher, i.state, "
        "i.date, CASE WHEN i.entries IS NOT NULL THEN json_array_length(i.entries) "
        "ELSE (SELECT COUNT(*) FROM issue_item x WHERE x.issue_id = i.id) END AS items "
        "FROM issue i ORDER BY i.created_at DESC, i.id DESC"
    )
    return [
        IssueRow(
            id=r["id"],
            publication=r["publication"],
            year=r["year"],
            number=r["number"],
            cumulative=r["cumulative"],
            state=r["state"],
            date=date.fromisoformat(r["date"]),
            items=r["items"],
            publisher="" if r["publisher"] == me else itemtext.label(store, r["publisher"]),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class Adopted:
    """A received item this desk adopted and has not yet placed in the publication."""

    item_id: str
    title: str
    urgency: str
    classification: str
    source: str
    adopted_at: datetime


def adopted_rows(store: Store, me: str, publication: str) -> list[Adopted]:
    """Received items in 已采用 that no issue of ``publication`` holds yet, newest first."""
    rows = store.query(
        "SELECT e.item_id, e.from_unit, e.updated_at, i.title, i.urgency, i.classification "
        "FROM edge e JOIN item i ON i.id = e.item_id WHERE e.to_unit = ? AND e.state = ? "
        "AND e.item_id NOT IN (SELECT x.item_id FROM issue_item x JOIN issue s "
        "ON s.id = x.issue_id WHERE s.publication = ?) ORDER BY e.updated_at DESC, e.id DESC",
        (me, EdgeState.ADOPTED.value, publication),
    )
    return [
        Adopted(
            r["item_id"],
            r["title"],
            r["urgency"],
            r["classification"],
            itemtext.label(store, r["from_unit"]),
            from_text(r["updated_at"]),
        )
        for r in rows
    ]


def next_issue_ref(store: Store, me: str, name: str, today: date) -> str:
    """The ref of a new issue of ``name``: the latest one being edited if nothing is in it
    yet (no pile of blank issues), else the next number of this year."""
    blank = store.one(
        "SELECT id FROM issue i WHERE publication = ? AND publisher = ? AND state = ? AND NOT "
        "EXISTS (SELECT 1 FROM issue_item x WHERE x.issue_id = i.id) "
        "ORDER BY year DESC, number DESC LIMIT 1",
        (name, me, pubs.EDITING),
    )
    if blank is not None:
        return str(blank["id"])
    row = store.one(
        "SELECT MAX(number) AS last FROM issue WHERE publication = ? AND publisher = ? "
        "AND year = ?",
        (name, me, today.year),
    )
    last = (row or {}).get("last") or 0
    return f"{name}/{today.year}/{last + 1}"


def file_name(issue: pubs.Issue, publisher: str, suffix: str) -> str:
    """A file name for an exported issue: 每日要情2026年第3期.md (another office's issue
    carries its name first)."""
    name = f"{publisher}{issue.publication}{issue.year}年第{issue.number}期{suffix}"
    return re.sub(r'[/\\:*?"<>|]', "_", name)


def export_target(answer: str, name: str, suffix: str) -> Path:
    """Where an export goes: into a folder the desk named (under the default file name), or
    the file it named (``suffix`` added when it has none)."""
    text = answer.strip() or "."
    path = Path(text).expanduser()
    if path.is_dir() or text.endswith(("/", "\\")):
        path = path / name
    elif not path.suffix:
        path = path.with_suffix(suffix)
    return path.absolute()


def write_export(
    issue: pubs.Issue, office: str, path: Path, kind: str, names: dict[str, str] | None = None
) -> Path:
    """Write the issue to ``path`` as ``md``, ``docx`` or ``xlsx`` (each atomically); ``names``:
    the users' full names (签发)."""
    if kind == "docx":
        return issuefile.to_docx(issue, office, path, names=names)
    if kind == "xlsx":
        return issuefile.to_xlsx(issue, office, path)
    part = path.with_name(f".{path.name}.part")
    part.write_text(issuefile.to_markdown(issue, office, names=names), "utf-8")
    part.replace(path)
    return path


# -- the tab: every issue -------------------------------------------------------------------------


class IssueTable(Rows):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "打开", tooltip="打开光标所在的一期"),
    ]


class PublicationScreen(DeskScreen):
    """刊物: the issues held here, newest first; Enter opens one."""

    TAB = "publications"
    LIVE = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new_issue", "新一期", tooltip="新开一期刊物（选择刊物）"),
        Binding("p", "add_publication", "增加刊物", tooltip="增加本单位的刊物（如 特刊、内参）"),
    ]
    COLUMNS: ClassVar[list[tuple[str, int]]] = [
        ("刊物", 10),
        ("期次", 12),
        ("总期", 8),
        ("日期", 10),
        ("状态", 6),
        ("条数", 4),
    ]

    def __init__(self, desk: Desk) -> None:
        super().__init__(desk)
        self.rows: list[IssueRow] = []
        self.names: list[str] = []

    def body(self) -> Iterable[Widget]:
        yield Static("读取中……", id="status", markup=False)
        with Vertical():
            yield IssueTable(id="issues")

    def on_mount(self) -> None:
        self.query_one(IssueTable).focus()

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        self.store_changed()

    def store_changed(self) -> None:
        def load(desk: Desk) -> tuple[list[IssueRow], list[str]]:
            return issue_rows(desk.store, desk.node.id), list(pubs.publications(desk.store))

        self.read(load, self._loaded)

    def _loaded(self, found: tuple[list[IssueRow], list[str]]) -> None:
        self.rows, self.names = found
        self.show()

    def on_resize(self, event: events.Resize) -> None:
        self.show()

    def show(self) -> None:
        """Draw the list from what was read last (again after a resize)."""
        editing = sum(1 for r in self.rows if r.state == pubs.EDITING)
        issued = sum(1 for r in self.rows if r.state == pubs.ISSUED)
        received = sum(1 for r in self.rows if r.state == pubs.RECEIVED)
        status = f"共 {len(self.rows)} 期　编辑中 {editing}　已印发 {issued}"
        if received:
            status += f"　收到 {received}"
        status += "　刊物：" + "、".join(self.names)
        self.query_one("#status", Static).update(status)
        fixed = [w for _, w in self.COLUMNS]
        last = table_width(self.size.width or self.app.size.width, fixed)
        self.query_one(IssueTable).refill(
            [*self.COLUMNS, ("编发", last)],
            [(r.id, self._cells(r, last)) for r in self.rows],
        )

    def _cells(self, r: IssueRow, last: int) -> list[str | Text]:
        state = r.state if r.state != pubs.RECEIVED else "收到"
        return [
            fit(r.publication, 10),
            f"{r.year}年第{r.number}期",
            f"总第{r.cumulative}期",
            r.date.isoformat(),
            Text(state, style=STATE_STYLE.get(r.state, "")),
            f"{r.items:>3}",
            fit(r.publisher or "本单位", last),
        ]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.app.push_screen(IssueScreen(self.desk, str(event.row_key.value)))

    def action_new_issue(self) -> None:
        names = list(pubs.publications(self.desk.store))
        self.app.push_screen(
            Choose("新开一期：选择刊物（回车确定，Esc 取消）", names, names[0]),
            lambda name: self.command_new_issue(name) if name else None,
        )

    def command_new_issue(self, text: str) -> None:
        """``:新一期 专报`` opens a new issue of that publication at once."""
        desk = self.desk

        def make() -> pubs.Issue:
            desk.require("publish")
            at = desk.clock()
            ref = next_issue_ref(
                desk.store, desk.node.id, text.strip(), at.astimezone(CHINA).date()
            )
            return pubs.open_issue(desk.store, desk.node.id, ref, desk.actor, at)

        issue = self.attempt(make)
        if issue is not None:
            self.notify(f"已开{issue.title}")
            self.app.push_screen(IssueScreen(self.desk, issue.id))

    @work(exclusive=True, group="ask")
    async def action_add_publication(self) -> None:
        name = await self.app.push_screen_wait(AskText("增加本单位的刊物，名称（如 特刊）："))
        if not name or not name.strip():
            return
        copies = await self.app.push_screen_wait(AskText("每期印数（份）：", "30"))
        if copies is None:
            return
        desk = self.desk

        def add() -> None:
            try:
                count = int(copies.strip())
            except ValueError:
                count = 0  # the schema refuses it with its own words
            pubs.add_publication(desk.store, name, count)

        if self.act(add, f"已增加刊物“{name.strip()}”，每期印数 {copies.strip()}"):
            self.store_changed()


# -- one issue ---------------------------------------------------------------------------------


class EntryTable(Rows):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "查看", tooltip="查看光标所在的信息"),
    ]


@dataclass(frozen=True)
class IssueView:
    """One issue as read for the screen."""

    issue: pubs.Issue
    office: str  # the publishing office's name as printed on the issue
    labels: dict[str, str]  # entry origin → short name
    held: frozenset[str]  # entries whose item this node holds (they can be opened)


def issue_view(store: Store, issue_id: str) -> IssueView:
    """The issue ``issue_id`` with what the screen shows beside it."""
    issue = pubs.get(store, issue_id)
    origins = {e.origin for e in issue.entries}
    return IssueView(
        issue,
        itemtext.label(store, issue.publisher),
        {o: itemtext.label(store, o) for o in origins},
        frozenset(e.item_id for e in issue.entries if items.find(store, e.item_id)),
    )


class IssueScreen(DeskScreen):
    """One issue: its markings and state, the entries in order; edit, sign off, export."""

    LIVE = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "pick", "编入", tooltip="从已采用、尚未编入本刊的信息中选取编入本期"),
        Binding("i", "add_ids", "编号编入", tooltip="输入信息编号编入本期（可多条）"),
        Binding("x", "remove", "撤出", tooltip="把光标所在的信息撤出本期（须确认）"),
        Binding("K", "move(-1)", "上移", tooltip="把光标所在的信息上移一位（调整顺序）"),
        Binding("J", "move(1)", "下移", tooltip="把光标所在的信息下移一位（调整顺序）"),
        Binding("s", "signoff", "签发", tooltip="签发本期（已印发），报上级并告知来源单位"),
        Binding("e", "export('md')", "导出文本", tooltip="导出为 Markdown 文本（.md）"),
        Binding("w", "export('docx')", "导出Word", tooltip="导出为 Word 文件（.docx）"),
        Binding("t", "export('xlsx')", "导出表格", tooltip="导出本期目录为表格（.xlsx）"),
    ]
    COLUMNS: ClassVar[list[tuple[str, int]]] = [("序", 3), ("标记", 6), ("来源", 8)]

    def __init__(self, desk: Desk, issue_id: str) -> None:
        super().__init__(desk)
        self.issue_id = issue_id
        self.view: IssueView | None = None
        self.keep: str | None = None  # the entry the cursor follows after a move
        self.said = ""  # what the last operation here said (the status line)

    def body(self) -> Iterable[Widget]:
        yield Static("读取中……", id="head", markup=False)
        with Vertical():
            yield EntryTable(id="entries")
        yield Static("", id="status", markup=False)

    def on_mount(self) -> None:
        self.query_one(EntryTable).focus()

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        self.store_changed()

    def store_changed(self) -> None:
        issue_id = self.issue_id
        self.read(lambda desk: issue_view(desk.store, issue_id), self._loaded)

    def _loaded(self, view: IssueView) -> None:
        self.view = view
        self.show()

    def on_resize(self, event: events.Resize) -> None:
        self.show()

    def show(self) -> None:
        """Draw the issue from what was read last."""
        if self.view is None:
            return
        issue, labels = self.view.issue, self.view.labels
        self.query_one("#head", Static).update(head_text(issue, self.view.office))
        fixed = [w for _, w in self.COLUMNS]
        last = table_width(self.size.width or self.app.size.width, fixed)
        rows = [
            (
                e.item_id,
                [
                    f"{n:>2}",
                    marks(e.urgency.value, e.classification.value),
                    fit(labels.get(e.origin, e.origin), 8),
                    fit(e.title, last),
                ],
            )
            for n, e in enumerate(issue.entries, 1)
        ]
        self.query_one(EntryTable).refill([*self.COLUMNS, ("标题", last)], rows, self.keep)
        self.keep = None
        # what the last operation said stays; else the keys that apply now
        self.query_one("#status", Static).update(self.said or hint(issue))

    def current(self) -> pubs.Entry | None:
        """The entry under the cursor."""
        key = self.query_one(EntryTable).current_key()
        if self.view is None or key is None:
            return None
        return next((e for e in self.view.issue.entries if e.item_id == key), None)

    def editable(self) -> bool:
        """Whether the issue may still be edited; if not, the desk is told why."""
        if self.view is None:
            return False
        issue = self.view.issue
        if issue.state != pubs.EDITING:
            self.notify(
                f"{issue.title}当前为“{issue.state}”，不能再编辑",
                title="未能完成",
                severity="error",
            )
            return False
        return True

    def changed(self, issue: pubs.Issue | None, message: str) -> None:
        """After an operation: say what it did and show the issue as it now is."""
        if issue is None:
            return
        self.notify(message)
        self.say(message)
        self.store_changed()

    def say(self, message: str) -> None:
        """Keep ``message`` on the status line."""
        self.said = message
        self.query_one("#status", Static).update(message)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        from console.screen.item import ItemScreen

        item_id = str(event.row_key.value)
        if self.view is not None and item_id in self.view.held:
            self.app.push_screen(ItemScreen(self.desk, item_id))
        else:
            self.notify(f"本单位没有信息 {item_id} 的全文", severity="warning")

    def action_pick(self) -> None:
        if self.editable() and self.view is not None:
            self.app.push_screen(PickScreen(self.desk, self.view.issue))

    def action_add_ids(self) -> None:
        if self.editable():
            self.app.push_screen(
                AskText("编入本期：信息编号（多条以空格分隔）："),
                lambda text: self.command_add_ids(text) if text else None,
            )

    def command_add_ids(self, text: str) -> None:
        """``:编号编入 ID ID`` places the items named."""
        ids = [i for i in re.split(r"[\s,，、；;]+", text) if i]
        if not ids:
            return
        issue = self.attempt(lambda: ops.place_in_issue(self.desk, self.issue_id, ids))
        if issue is not None:
            self.changed(issue, f"已编入{issue.title}，共 {len(issue.entries)} 条")

    def action_remove(self) -> None:
        entry = self.current()
        if entry is None or self.view is None or not self.editable():
            return

        def answered(yes: bool | None) -> None:
            if yes:
                issue = self.attempt(
                    lambda: ops.remove_from_issue(self.desk, self.issue_id, entry.item_id)
                )
                if issue is not None:
                    self.changed(issue, f"已从{issue.title}撤出 {entry.item_id}")

        n = self.view.issue.entries.index(entry) + 1
        self.app.push_screen(Confirm(f"把第 {n} 条撤出本期？\n{entry.title}"), answered)

    def action_move(self, step: int) -> None:
        entry = self.current()
        if entry is None or self.view is None or not self.editable():
            return
        order = [e.item_id for e in self.view.issue.entries]
        at = order.index(entry.item_id)
        to = at + step
        if not 0 <= to < len(order):
            return
        order[at], order[to] = order[to], order[at]
        issue = self.attempt(lambda: ops.order_issue(self.desk, self.issue_id, order))
        if issue is not None:
            self.keep = entry.item_id
            self.changed(issue, f"已{'上' if step < 0 else '下'}移至第 {to + 1} 条")

    def action_signoff(self) -> None:
        if self.view is None or not self.editable():
            return
        if not self.act(lambda: self.desk.require("signoff")):
            return  # refused before asking: this desk may not sign
        title = self.view.issue.title

        def answered(yes: bool | None) -> None:
            if yes:
                issue = self.attempt(lambda: ops.signoff_issue(self.desk, self.issue_id))
                self.changed(issue, f"已签发{title}（已印发），排队报送上级并告知来源单位")

        self.app.push_screen(Confirm(f"签发{title}？签发后即印发，不能再修改。"), answered)

    def action_export(self, kind: str) -> None:
        if self.view is None:
            return
        view = self.view
        suffix = f".{kind}"
        other = view.issue.publisher != self.desk.node.id
        name = file_name(view.issue, view.office if other else "", suffix)
        what = {"docx": "Word 文件", "xlsx": "表格（本期目录）"}.get(kind, "Markdown 文本")

        confined: Path | None = getattr(self.app, "exports", None)

        def answered(text: str | None) -> None:
            if text is None:
                return
            if confined is not None:
                try:
                    text = remote.inside(confined, text)
                except remote.Refused as exc:
                    self.app.notify(str(exc), title="导出失败", severity="error")
                    return
            self.export(view, export_target(text, name, suffix), kind)

        self.app.push_screen(
            AskText(
                f"导出为 {what}，写入文件夹或文件：\n（写文件夹时文件名为 {name}）",
                str(confined or Path.cwd()),
            ),
            answered,
        )

    def export(self, view: IssueView, path: Path, kind: str) -> None:
        """Write the file in a worker thread (a .docx takes a while); tell the desk where."""
        app = self.app
        names = names_at(self.desk.store.path)  # who signed it off, by name

        def write() -> None:
            try:
                written = write_export(view.issue, view.office, path, kind, names)
            except (OSError, ValueError, XinbaoError) as exc:
                app.call_from_thread(self._failed, path, write_failure(exc))
                return
            app.call_from_thread(self._exported, written)

        self.say(f"正在导出 {path} ……")
        self.run_worker(write, thread=True, group="export", exit_on_error=False)

    def _exported(self, path: Path) -> None:
        self.notify(f"已导出 {path}")
        self.say(f"已导出 {path}")

    def _failed(self, path: Path, reason: str) -> None:
        self.notify(f"{path}：{reason}", title="未能导出", severity="error", timeout=10)
        self.say(f"未能导出 {path}：{reason}")


def write_failure(exc: Exception) -> str:
    """Why a file could not be written, in the desk's words."""
    if isinstance(exc, FileNotFoundError):
        return "文件夹不存在"
    if isinstance(exc, PermissionError):
        return "没有写入权限"
    if isinstance(exc, IsADirectoryError):
        return "这是一个文件夹，请写文件名"
    if isinstance(exc, OSError):
        return f"无法写入（{reason(exc)}）"
    return str(exc)


def hint(issue: pubs.Issue) -> str:
    """The keys that apply to the issue as it stands (the footer is cut short at 80 columns)."""
    if issue.state != pubs.EDITING:
        return f"{issue.state}：e 导出文本　w 导出Word　t 导出表格　回车 查看信息"
    if not issue.entries:
        return "尚未编入信息：a 从已采用的信息中选取　i 输入编号编入"
    return "a 编入　i 编号编入　x 撤出　K/J 上移/下移　s 签发　e/w/t 导出"


def head_text(issue: pubs.Issue, office: str) -> str:
    """The issue's head: markings first (GB/T 9704 §7.2, as on paper), the title, its state."""
    first, last = issue.copies
    lines = [
        f"{issue.classification}　{issue.urgency}",
        issue.title,
        f"{issue.state}　{office}　{issue.date.isoformat()}　编辑 {issue.editor}"
        f"　印 {last - first + 1} 份　共 {len(issue.entries)} 条",
    ]
    if issue.signer:
        lines[-1] += f"　签发 {issue.signer} {requests_text.when(issue.signed_at)}"
    return "\n".join(lines)


# -- choosing adopted items ----------------------------------------------------------------------


class PickTable(Rows):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "编入", tooltip="把标记的信息（或光标所在的一条）编入"),
    ]


class PickScreen(DeskScreen):
    """The adopted items not yet in this publication: mark some, Enter places them."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "mark", "标记", tooltip="标记多条后一并编入"),
    ]
    COLUMNS: ClassVar[list[tuple[str, int]]] = [("", 2), ("标记", 6), ("来源", 8), ("采用", 11)]

    def __init__(self, desk: Desk, issue: pubs.Issue) -> None:
        super().__init__(desk)
        self.issue = issue
        self.rows: list[Adopted] = []
        self.marked: set[str] = set()

    def body(self) -> Iterable[Widget]:
        yield Static(
            f"编入{self.issue.title}：已采用、尚未编入{self.issue.publication}的信息"
            "（空格标记，回车编入）",
            id="head",
            markup=False,
        )
        with Vertical():
            yield PickTable(id="adopted")

    def on_mount(self) -> None:
        self.query_one(PickTable).focus()
        me, publication = self.desk.node.id, self.issue.publication
        self.read(lambda desk: adopted_rows(desk.store, me, publication), self._loaded)

    def _loaded(self, rows: list[Adopted]) -> None:
        self.rows = rows
        if not rows:
            self.query_one("#head", Static).update(
                f"（没有已采用、尚未编入{self.issue.publication}的信息；按 Esc 返回）"
            )
        self.show()

    def on_resize(self, event: events.Resize) -> None:
        self.show()

    def show(self) -> None:
        fixed = [w for _, w in self.COLUMNS]
        last = table_width(self.size.width or self.app.size.width, fixed)
        self.query_one(PickTable).refill(
            [*self.COLUMNS, ("标题", last)],
            [
                (
                    r.item_id,
                    [
                        CHOSEN if r.item_id in self.marked else "",
                        marks(r.urgency, r.classification),
                        fit(r.source, 8),
                        f"{r.adopted_at.astimezone(CHINA):%m-%d %H:%M}",
                        fit(r.title, last),
                    ],
                )
                for r in self.rows
            ],
        )

    def action_mark(self) -> None:
        table = self.query_one(PickTable)
        key = table.current_key()
        if key is None:
            return
        self.marked ^= {key}
        table.update_cell(key, "_0", CHOSEN if key in self.marked else "")
        table.action_cursor_down()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        chosen = [r.item_id for r in self.rows if r.item_id in self.marked]
        ids = chosen or [str(event.row_key.value)]
        issue = self.attempt(lambda: ops.place_in_issue(self.desk, self.issue.id, ids))
        if issue is not None:
            self.notify(f"已编入{issue.title} {len(ids)} 条，共 {len(issue.entries)} 条")
            self.app.pop_screen()
