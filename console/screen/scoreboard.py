"""通报: the bulletin of a month, quarter or year as the desk reads it — ranking with a bar
per unit, adoptions by level, quota shortfalls, missed and late topic requests and
emergencies, and the units below that sent nothing (纵向到底、横向到边); exported as Markdown
and Word for printing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from console import remote
from console.requests_text import when
from console.screen.desk import DeskScreen
from console.screen.dialog import AskText, Choose, Confirm, ReadText
from console.text import cell_width, fit
from schema import bulletin, people, supervise
from schema import desk as ops
from schema.clock import CHINA
from schema.desk import Desk
from schema.emergency import MarkKind
from schema.error import XinbaoError, reason
from schema.scoring import Period, format_points

SPANS = ("month", "quarter", "year")
SPAN_NAMES = {"month": "按月", "quarter": "按季", "year": "按年"}
SPAN_MONTHS = {"month": 1, "quarter": 3, "year": 12}
LABEL = 14  # cells for a unit's name in every table
SCORE = 8  # cells for a score
COUNT = 6  # cells for a count column
RATE = 9  # cells for 录用率 (100.0%)
VIEWS = ("unit", "person", "section")
VIEW_NAMES = {"unit": "单位", "person": "执笔人", "section": "科室"}
SCROLLBAR = 2  # Textual's vertical scrollbar: kept free so a long bulletin does not re-wrap


def period_text(year: int, month: int, span: str) -> str:
    """The period (as ``schema.scoring.Period.parse`` reads it) of ``span`` holding the month."""
    if span == "month":
        return f"{year}-{month:02d}"
    if span == "quarter":
        return f"{year}-Q{(month - 1) // 3 + 1}"
    return f"{year}"


def period_name(text: str) -> str:
    """A period as a bulletin's title says it: 2026年11月, 2026年第四季度, 2026年度."""
    return Period.parse(text).label


def shift(year: int, month: int, months: int) -> tuple[int, int]:
    """The month ``months`` after (before, when negative) ``year``-``month``."""
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def right(text: str, width: int) -> str:
    """``text`` right-aligned in ``width`` cells (CJK counts two)."""
    return " " * max(0, width - cell_width(text)) + text


def bar(value: float, top: float, width: int) -> str:
    """A horizontal bar of ``value`` out of ``top`` in at most ``width`` cells, in half cells
    (█ a whole cell, ▌ a half); nothing for a score of zero or less."""
    if value <= 0 or top <= 0 or width <= 0:
        return ""
    halves = round(2 * width * min(value, top) / top)
    return "█" * (halves // 2) + "▌" * (halves % 2)


@dataclass(frozen=True)
class Computed:
    """What a worker made of one period: the bulletin, or why there is none."""

    period: str
    now: datetime
    made: bulletin.Bulletin | None
    error: str = ""
    writers: list[people.Row] | None = None  # computed when the desk asked for them
    parts: list[people.Row] | None = None


def compute(desk: Desk, period: str, with_people: bool = False) -> Computed:
    """The bulletin of ``period`` for ``desk``'s office (the node's default scoring rules);
    with ``with_people`` the writers' and sections' rankings too.

    Records the scoring events it finds (``bulletin.sync``), like ``xinbao bulletin``."""
    now = desk.clock()
    try:
        rules = bulletin.load_rules()
        events = bulletin.sync(desk.store, desk.node.id, now)  # read once for both views
        made = bulletin.compute(desk.store, desk.node.id, period, now, rules, events)
        writers, parts = (
            people.tables(desk.store, desk.node.id, period, now, rules, events)
            if with_people
            else (None, None)
        )
    except XinbaoError as exc:
        return Computed(period, now, None, exc.message)
    return Computed(period, now, made, writers=writers, parts=parts)


def people_text(rows: list[people.Row], heading: str, sections: bool, width: int) -> Text:
    """执笔人 (or 科室) ranking in ``width`` cells: points, submissions, adoptions, 录用率,
    instructions and the task; a name the roster does not list (a section not kept) marked."""
    text = Text()
    text.append(heading + "\n", style="bold")
    if not rows:
        text.append("（本期无）\n")
        return text
    name_width = 12 if sections else 8
    head = f"{'':>3} {fit('科室' if sections else '姓名', name_width)}"
    head += "" if sections else fit("单位", LABEL)
    cols = ["得分", "报送", "采用", "批示"]
    text.append(head + "".join(right(c, COUNT) for c in cols))
    text.append(right("录用率", RATE) + right("任务", COUNT + 2) + "\n")
    for n, r in enumerate(rows, 1):
        line = f"{n:>3} {fit(r.name + ('' if r.listed else '*'), name_width)}"
        line += "" if sections else fit(r.label, LABEL)
        counts = [format_points(r.points), str(r.submitted), str(sum(r.adopted.values()))]
        counts.append(str(r.instructions))
        task = f"{r.submitted}/{r.required}" if r.required else "—"
        line += "".join(right(c, COUNT) for c in counts) + right(r.rate_text, RATE)
        text.append(line + right(task, COUNT + 2) + "\n", style="yellow" if r.shortfall else "")
    if any(not r.listed for r in rows):
        text.append("* 未设此科室" if sections else "* 未在该单位通讯录中", style="dim")
        text.append("\n")
    return text


def board_text(made: bulletin.Bulletin, now: datetime, width: int) -> Text:
    """The bulletin laid out in ``width`` cells: title, ranking with bars, adoptions,
    quotas, requests and emergencies, coverage."""
    width = max(40, width)
    text = Text()

    def title(line: str) -> None:
        text.append("\n" + line + "\n", style="bold")

    text.append(f"{made.office}政务信息工作通报（{period_name(made.period)}）\n", style="bold")
    at = now.astimezone(CHINA)
    text.append(f"计分办法：{made.rules}　统计时间：{at.month}月{at.day}日 {at:%H:%M}\n")

    # ranking: the top score fills the width left after name and score
    title(f"得分排名（{len(made.rows)} 个单位）")
    room = width - 4 - LABEL - SCORE - 1
    top = float(max((r.total.score for r in made.rows), default=0))
    for n, r in enumerate(made.rows, 1):
        score = r.total.score
        line = f"{n:>3} {fit(r.label, LABEL)}{right(format_points(score), SCORE)} "
        text.append(line, style="red" if score < 0 else "")
        text.append(bar(float(score), top, room) + "\n", style="bold")
    if not made.rows:
        text.append("（本单位下无计分单位）\n")

    levels = [lv.value for lv in bulletin.LEVELS]
    adopted = [r for r in made.rows if r.adopted or r.instructions]
    title("采用与批示（条）")
    if adopted:
        head = fit("单位", LABEL) + "".join(right(h, COUNT) for h in [*levels, "批示"])
        text.append(head + right("录用率", RATE) + "\n")
        for r in adopted:
            counts = [str(r.adopted.get(lv, 0)) for lv in levels] + [str(r.instructions)]
            line = fit(r.label, LABEL) + "".join(right(c, COUNT) for c in counts)
            text.append(line + right(r.rate_text, RATE) + "\n")
    else:
        text.append("（本期无采用或批示）\n")

    quota = sorted(
        (r for r in made.rows if r.total.required),
        key=lambda r: -r.total.shortfall,
    )
    short = sum(1 for r in quota if r.total.shortfall)
    title(f"报送任务（{short} 个单位未完成）")
    if quota:
        text.append(fit("单位", LABEL) + "".join(right(h, COUNT) for h in ("应报", "实报", "差")))
        text.append("\n")
        for r in quota:
            t = r.total
            line = fit(r.label, LABEL) + "".join(
                right(str(n), COUNT) for n in (t.required, t.submitted, t.shortfall)
            )
            text.append(line + "\n", style="bold red" if t.shortfall else "")
    else:
        text.append("（本期无报送任务）\n")

    marks = [m.value for m in MarkKind]
    flagged = [
        r
        for r in made.rows
        if r.late_requests or r.missed_requests or r.emergencies or r.total.annual_zero
    ]
    title("约稿逾期、未报与突发事件迟报、漏报")
    if flagged:
        heads = ["约稿逾期", "约稿未报", *marks]
        widths = [10, 10] + [COUNT] * len(marks)
        text.append(
            fit("单位", LABEL) + "".join(right(h, w) for h, w in zip(heads, widths, strict=True))
        )
        text.append("\n")
        for r in flagged:
            counts = [r.late_requests, r.missed_requests, *(r.emergencies.get(m, 0) for m in marks)]
            line = fit(r.label, LABEL) + "".join(
                right(str(n), w) for n, w in zip(counts, widths, strict=True)
            )
            text.append(line, style="red")
            if r.total.annual_zero:
                text.append("　全年考核计零分", style="bold red")
            text.append("\n")
    else:
        text.append("（无）\n")

    title(f"本期未报送信息的单位（纵向到底、横向到边）：{len(made.silent)} 个")
    text.append("、".join(made.silent) if made.silent else "（无）", style="yellow")
    return text


def export(
    made: bulletin.Bulletin, answer: str, node: str, number: str = "", issued: date | None = None
) -> tuple[Path, Path]:
    """Write the bulletin as Markdown and .docx. ``answer`` is a folder (files named after
    the office and period) or a file name (its .md/.docx suffix is replaced)."""
    path = Path(answer.strip() or ".").expanduser()
    if path.is_dir() or answer.rstrip().endswith(("/", "\\")):
        path.mkdir(parents=True, exist_ok=True)
        base = path / f"通报-{node}-{made.period}"
    else:
        base = path.with_suffix("") if path.suffix in (".md", ".docx") else path
        base.parent.mkdir(parents=True, exist_ok=True)
    markdown = base.with_name(base.name + ".md")
    word = base.with_name(base.name + ".docx")
    temp = markdown.with_name(f".{markdown.name}.part")
    temp.write_text(bulletin.to_markdown(made), "utf-8")
    temp.replace(markdown)  # no half-written file under the real name
    bulletin.to_docx(made, word, number=number, issued=issued)
    bulletin.to_xlsx(made, base.with_name(base.name + ".xlsx"))  # the tables, as offices keep them
    return markdown, word


class ScoreboardScreen(DeskScreen):
    """通报 of one period (the current month at first), computed in a worker; follows
    commits (an adoption, a decision arriving) by computing again."""

    TAB = "scoreboard"
    LIVE = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "step(-1)", "上期", tooltip="上一个月（季、年）的通报（也可按 [）"),
        Binding("n", "step(1)", "下期", tooltip="下一个月（季、年）的通报（也可按 ]）"),
        # [ and ] as well, undescribed so that the help and palette list p and n once
        Binding("left_square_bracket", "step(-1)", "", show=False),
        Binding("right_square_bracket", "step(1)", "", show=False),
        Binding("t", "span", "月/季/年", tooltip="切换按月、按季、按年通报"),
        Binding(
            "g",
            "period",
            "期间",
            show=False,  # the footer has no room at 80 columns; ? and : list it
            tooltip="输入期间：2026-11、2026-Q4 或 2026（如 :期间 2026-Q4）",
        ),
        Binding("w", "view", "个人/科室", tooltip="按单位、执笔人（先进个人）或本单位科室排名"),
        Binding("x", "export", "导出", tooltip="导出本期通报为 Markdown 与 Word 文件"),
        Binding(
            "S",
            "signoff",
            "签发",
            show=False,
            tooltip="签发本期通报：编号后发往点到的各单位，向未完成任务的单位发出督办",
        ),
        Binding("o", "received", "收到的", show=False, tooltip="查看已签发和收到的通报"),
        Binding("r", "refresh", "重算", show=False, tooltip="重新计算本期通报"),
    ]

    def __init__(self, desk: Desk) -> None:
        super().__init__(desk)
        today = desk.clock().astimezone(CHINA)
        self.year, self.month, self.span = today.year, today.month, "month"
        self.view = "unit"  # or "person", "section"
        self.shown: Computed | None = None  # the latest result of the period on screen
        self.computing = False

    @property
    def period(self) -> str:
        """The period on screen, as ``Period.parse`` reads it."""
        return period_text(self.year, self.month, self.span)

    def body(self) -> Iterable[Widget]:
        yield Static(id="status", markup=False)
        with VerticalScroll(id="scoreboard"):
            yield Static("计算中……", id="bulletin", markup=False)

    def on_mount(self) -> None:
        self.query_one("#scoreboard").focus()
        self.recompute()

    def store_changed(self) -> None:
        self.recompute()

    def recompute(self) -> None:
        """Compute the period on screen in a worker; 计算中…… meanwhile."""
        period = self.period
        self.computing = True
        if self.shown is None or self.shown.period != period:
            self.query_one("#bulletin", Static).update("计算中……")
        self._status()
        with_people = self.view != "unit"
        self.read(lambda desk: compute(desk, period, with_people), self._computed, group="bulletin")

    def _computed(self, result: Computed) -> None:
        if result.period != self.period:
            return  # a period the desk has since left
        self.computing = False
        self.shown = result
        self._draw()
        if getattr(self, "asked", False):
            self.asked = False
            self.notify("已重新计算", timeout=2)

    def _draw(self) -> None:
        shown = self.shown
        board = self.query_one("#bulletin", Static)
        if shown is None or shown.period != self.period:
            return
        width = self.size.width - SCROLLBAR
        rows = shown.writers if self.view == "person" else shown.parts
        if shown.made is None:
            board.update(Text(f"未能计算通报：{shown.error}", style="red"))
        elif self.view != "unit" and rows is not None:
            sections = self.view == "section"
            heading = f"{shown.made.office}政务信息工作{VIEW_NAMES[self.view]}排名"
            board.update(people_text(rows, heading, sections, width))
        elif self.view == "unit":
            board.update(board_text(shown.made, shown.now, width))
        self._status()

    def _status(self) -> None:
        line = f"通报　{period_name(self.period)}　{SPAN_NAMES[self.span]}"
        line += f"　按{VIEW_NAMES[self.view]}" if self.view != "unit" else ""
        if self.computing:
            line += "　计算中……"
        elif self.shown is not None and self.shown.made is not None:
            line += f"　{len(self.shown.made.rows)} 个单位"
        self.query_one("#status", Static).update(line)

    def on_resize(self, event: events.Resize) -> None:
        self._draw()  # the bars are scaled to the width

    def _go(self, year: int, month: int, span: str) -> None:
        self.year, self.month, self.span = year, month, span
        self.recompute()

    def action_step(self, direction: int) -> None:
        self._go(*shift(self.year, self.month, direction * SPAN_MONTHS[self.span]), self.span)

    def action_view(self) -> None:
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]
        self.recompute()

    def action_span(self) -> None:
        span = SPANS[(SPANS.index(self.span) + 1) % len(SPANS)]
        self._go(self.year, self.month, span)

    def action_period(self) -> None:
        self.app.push_screen(
            AskText("期间（如 2026-11、2026-Q4、2026）：", self.period),
            lambda text: self.command_period(text) if text else None,
        )

    def command_period(self, text: str) -> None:
        """``:期间 2026-Q4`` shows that period."""
        try:
            period = Period.parse(text.strip())
        except XinbaoError as exc:
            self.notify(exc.message, title="期间无效", severity="error")
            return
        first = period.start.astimezone(CHINA)
        span = {1: "month", 3: "quarter"}.get(len(period.months), "year")
        self._go(first.year, first.month, span)

    def action_signoff(self) -> None:
        shown = self.shown
        if shown is None or shown.made is None or shown.period != self.period:
            self.notify("本期通报尚未算出，稍候再签发", severity="warning")
            return
        made = shown.made
        question = (
            f"签发{period_name(made.period)}通报？签发后发往点到的 {len(made.rows)} 个单位，"
            f"并向 {sum(1 for r in made.rows if r.total.shortfall)} 个未完成任务的单位发出督办。"
        )

        def sign(yes: bool | None) -> None:
            if not yes:
                return
            done = self.attempt(lambda: ops.signoff_bulletin(self.desk, made))
            if done is not None:
                issued, notices = done
                self.notify(
                    f"已签发通报 {issued.number or issued.id}，发往 {len(issued.units)} 个单位"
                    + (f"，督办 {len(notices)} 个单位" if notices else "")
                )

        self.app.push_screen(Confirm(question), sign)

    def action_received(self) -> None:
        held = supervise.issued(self.desk.store)
        if not held:
            self.notify("还没有已签发或收到的通报", severity="warning")
            return
        labels = {
            f"{'收到' if b.received_at else '签发'}　{b.number or b.id}　{b.title}"[:60]: b
            for b in held
        }

        def chosen(label: str | None) -> None:
            if label is None:
                return
            b = labels[label]
            head = f"{b.number}　{b.title}\n签发 {b.signed_by}　{when(b.at)}"
            read = f"\n送阅：{b.read_by}" if b.read_by else ""
            self.app.push_screen(ReadText(f"{head}{read}\n\n{b.text}"))

        self.app.push_screen(Choose("查看哪一份通报？", list(labels)), chosen)

    def action_refresh(self) -> None:
        self.asked = True  # said when computed: the same figures still answer the key
        self.recompute()

    def action_export(self) -> None:
        shown = self.shown
        if self.computing or shown is None or shown.period != self.period:
            self.notify("通报计算中，请稍后再导出", severity="warning")
            return
        if shown.made is None:
            self.notify(f"本期通报未能计算：{shown.error}", severity="error")
            return
        made = shown.made
        confined: Path | None = getattr(self.app, "exports", None)
        self.app.push_screen(
            AskText(
                f"导出{period_name(made.period)}通报（Markdown、Word 与表格）到：",
                str(confined or Path.cwd()),
            ),
            lambda answer: self._export(made, answer) if answer is not None else None,
        )

    def _export(self, made: bulletin.Bulletin, answer: str) -> None:
        app, node = self.app, self.desk.node.id
        confined: Path | None = getattr(app, "exports", None)
        if confined is not None:
            try:
                answer = remote.inside(confined, answer)
            except remote.Refused as exc:
                app.notify(str(exc), title="导出失败", severity="error")
                return

        now = self.desk.clock()
        try:  # its 发文字号, taken now (a write) for the file the worker makes
            number = bulletin.document_number(self.desk.store, made, now.year)
        except XinbaoError as exc:
            app.notify(exc.message, title="导出失败", severity="error")
            return

        def write() -> None:
            try:
                markdown, word = export(made, answer, node, number, now.date())
            except OSError as exc:
                where = exc.filename or answer
                said = f"无法写入 {where}（{reason(exc)}）"
                app.call_from_thread(app.notify, said, title="导出失败", severity="error")
                return
            sheet = word.with_suffix(".xlsx")
            shown = f"{markdown}\n{word}\n{sheet}"
            app.call_from_thread(app.notify, shown, title="已导出通报", timeout=10)

        self.run_worker(write, thread=True, group="export", exit_on_error=False)
