"""撰写 / 修改: the form an item is written in — a new item, a revision of an own item, or a
reply to a topic request (约稿). The form only gathers text: the draft is built by the item-file
parser the CLI uses (``schema.itemfile.parse_item``) and saved by the desk operations
(``submit``, ``edit``, ``signoff``), so the console refuses exactly what ``xinbao submit`` does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import HorizontalGroup, VerticalGroup, VerticalScroll
from textual.content import Content
from textual.css.query import NoMatches
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Input, Select, SelectionList, Static, TextArea

from console import requests_text
from console.screen.desk import DeskScreen
from console.screen.dialog import Confirm
from console.text import cell_width, unbroken
from schema import desk as ops
from schema import editorial, people, roster
from schema import item as items
from schema import lead as leads
from schema import request as requests
from schema.clock import CHINA, from_text
from schema.desk import Desk
from schema.error import PermissionDenied, TransitionError, ValidationError, XinbaoError
from schema.itemfile import INCIDENT_OPTIONAL, draft_to_dict, every_problem
from schema.record import Item, ItemDraft
from schema.state import shown
from schema.vocabulary import Category, Classification, EdgeState, Severity, Urgency

# 绝密 is offered so that choosing it is refused with the schema's own explanation.
TOP_SECRET = "绝密"
INCIDENT = Category.INCIDENT.value
INCIDENT_TIMES = ("occurred_at", "learned_at")
ADVICE_MORE = "……另有 {n} 条提示，可在信息详情中查看"
# the markings a new item starts with: the item file's defaults (ItemDraft's own)
DEFAULTS = {
    f.name: str(f.default) for f in fields(ItemDraft) if f.name in ("urgency", "classification")
}
# the fields top to bottom: problems are listed, and the first one focused, in this order
FORM_ORDER = (
    "title",
    "category",
    "urgency",
    "classification",
    "author",
    "phone",
    "section",
    "themes",
    "incident",
    "incident.severity",
    "incident.occurred_at",
    "incident.place",
    *(f"incident.{name}" for name in INCIDENT_OPTIONAL),
    "body",
)
# names the editorial rules' labels (schema/data/editorial.toml) do not carry
LABELS = {
    "urgency": "紧急程度",
    "classification": "密级",
    "themes": "报送要点",
    "request": "约稿",
    "to": "报送对象",
    "attachments": "附件",
    "incident.report": "报告类别",
    "section": "科室",
}


def label(field: str) -> str:
    """The Chinese name of an item-file field (``incident.place`` → 事发地点)."""
    return LABELS.get(field) or editorial.default_rules().label(field)


def form_position(field: str) -> int:
    """Where ``field`` sits in the form, top first."""
    return FORM_ORDER.index(field) if field in FORM_ORDER else len(FORM_ORDER)


def problem_text(field: str, reason: str) -> str:
    """One problem as the desk reads it: the field's name, then what is wrong."""
    return f"{label(field)}：{reason}" if field else reason


def time_text(at: datetime) -> str:
    """A time as a desk types it (2026-11-21 14:35); the item-file parser reads it back."""
    local = at.astimezone(CHINA)
    return f"{local:%Y-%m-%d %H:%M}" + (f":{local:%S}" if local.second else "")


def validate(data: dict[str, Any]) -> tuple[ItemDraft | None, list[tuple[str, str]]]:
    """The draft the item-file parser makes of ``data``, or every problem with it (in form
    order): ``schema.itemfile.every_problem``, as ``xinbao submit`` reports them, and the
    editorial rules that block a submission (``editorial.check``)."""
    draft, problems = every_problem(data)
    if draft is not None:
        seen = {field for field, _ in problems}
        for finding in editorial.check(draft):
            if finding.blocking and finding.field not in seen:
                problems.append((finding.field, finding.message))
    problems.sort(key=lambda p: form_position(p[0]))
    return (None if problems else draft), problems


@dataclass(frozen=True)
class Prefill:
    """What the form starts from, read from the store in a worker."""

    item: Item | None = None
    states: tuple[str, ...] = ()
    returned: str = ""  # why the item was returned for revision, if it was
    request: requests.Request | None = None
    request_from: str = ""
    themes: tuple[str, ...] = ()  # the themes of the reporting priorities held here
    lead: leads.Lead | None = None  # the lead the item is written from
    error: str = ""  # why the form cannot start (no such item or request here)
    writers: tuple[str, ...] = ()  # the people of this unit's 通讯录, offered as 执笔人
    sections: tuple[str, ...] = ()  # this office's sections (科室), if it keeps any


def load_prefill(
    desk: Desk, item_id: str | None, request_id: str, lead_id: int | None = None
) -> Prefill:
    """The item being edited (with its edges' states), the request being answered, the lead
    written from and the themes an item may be tagged with; a refusal (no such item) comes
    back as ``error``."""
    try:
        found = _prefill(desk, item_id, request_id)
        if lead_id is not None and not item_id:
            lead = leads.get(desk.store, lead_id)
            if lead.state == leads.DRAFTED:
                raise TransitionError(f"线索 {lead_id} 已写成信息 {lead.item_id}")
            found = replace(found, lead=lead)
        names = tuple(dict.fromkeys(p.name for p in roster.people_of(desk.store, desk.node.id)))
        parts = tuple(people.sections(desk.store))
        return replace(found, writers=names, sections=parts)
    except XinbaoError as exc:
        return Prefill(error=exc.message)


def _prefill(desk: Desk, item_id: str | None, request_id: str) -> Prefill:
    item, states, returned = None, (), ""
    if item_id:
        item = items.get(desk.store, item_id)
        edges = ops.outgoing_edges(desk.store, item_id, desk.node.id)
        states = tuple(dict.fromkeys(shown(e.state, e.delivered_at) for e in edges))
        returned = "；".join(e.note for e in edges if e.state is EdgeState.RETURNED and e.note)
    request, issuer = None, ""
    if request_id:
        request = requests.get(desk.store, request_id)
    elif item is not None and item.draft.request:  # an edited reply: what it answers
        request = requests.find(desk.store, item.draft.request)
    if request is not None:
        issuer = requests_text.label(desk.store, request.issuer)
    return Prefill(item, states, returned, request, issuer, tuple(requests.themes_held(desk.store)))


class Form(VerticalScroll, can_focus=False):
    """The fields above the body; scrolls (Tab brings the focused field into view)."""


class ComposeScreen(DeskScreen):
    """The compose form: Ctrl+S saves (a new item goes to the signer, an own item gets a new
    revision), 签发 saves and signs off, Esc asks before unsaved changes are dropped."""

    TAB = ""
    LIVE = True  # the item's state may change under the form (a return arriving from above)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "保存", tooltip="保存：新信息提交待签发，已有信息存为新稿"),
        Binding("ctrl+o", "signoff", "签发", tooltip="保存后签发，排队报送（须签发人角色）"),
        Binding("escape", "back", "返回", tooltip="返回上一界面（有未保存的修改时先确认）"),
        Binding("q", "stay", "", show=False),  # q is a letter here, not 返回
    ]

    def __init__(
        self,
        desk: Desk,
        item_id: str | None = None,
        request_id: str = "",
        lead_id: int | None = None,
    ) -> None:
        super().__init__(desk)
        self.item_id = item_id or ""
        self.request_id = request_id
        self.lead_id = lead_id  # a new item written from this lead (线索)
        self.revision = 0
        self.base: dict[str, Any] = {}  # what the form does not show, kept on save
        self.saved: dict[str, Any] = {}  # the form's values when last saved or loaded
        self.loaded = False
        self.signed = False
        self.themes: tuple[str, ...] = ()
        self.states: tuple[str, ...] = ()
        self.request_number = ""

    # -- the widgets -------------------------------------------------------------------------

    def body(self) -> Iterable[Widget]:
        yield Static("读取中……", id="status", classes="status", markup=False)
        yield Static("", id="context", markup=False)
        with Form(id="form"):
            yield self._input("title", "一事一报：标题写明何地、何事、结果")
            with HorizontalGroup():
                yield self._select("category", [c.value for c in Category])
                yield self._select("urgency", [u.value for u in Urgency], DEFAULTS["urgency"])
                yield self._select(
                    "classification",
                    [*(c.value for c in Classification), TOP_SECRET],
                    DEFAULTS["classification"],
                )
            with HorizontalGroup():
                yield self._input("author", "执笔人姓名")
                yield self._input("phone", "如 0352-1234567")
                yield self._select("section", [], id="section")  # shown where sections are kept
            themes: SelectionList[str] = SelectionList(id="themes")
            themes.border_title = "报送要点（空格选择）"
            yield themes
            with VerticalGroup(id="incident"):
                yield self._select("incident.severity", [s.value for s in Severity], id="severity")
                yield self._input("incident.occurred_at", "如 2026-11-21 14:35", id="occurred_at")
                yield self._input("incident.place", "如 新荣区某煤矿", id="place")
                for name in INCIDENT_OPTIONAL:
                    hint = "如 2026-11-21 14:50" if name in INCIDENT_TIMES else "可不填"
                    if name == "report":
                        hint = "首报、续报一、续报二……终报"
                    elif name == "thread":
                        hint = "续报、终报填首报的信息编号"
                    yield self._input(f"incident.{name}", hint, id=name)
        text = TextArea(id="body", soft_wrap=True)
        text.border_title = "正文"
        yield text
        yield Static("", id="problems", markup=False)

    @staticmethod
    def _input(field: str, placeholder: str, id: str = "") -> Input:
        box = Input(placeholder=placeholder, id=id or field)
        box.border_title = label(field)
        return box

    @staticmethod
    def _select(field: str, values: list[str], default: str = "", id: str = "") -> Select[str]:
        """A choice; without a default it starts blank (请选择), so the desk must choose."""
        return Select(
            [(v, v) for v in values],
            prompt="请选择",
            allow_blank=not default,
            value=default or Select.NULL,
            id=id or field,
            name=label(field),  # the border title, set once the select has its parts
        )

    def on_mount(self) -> None:
        for select in self.query(Select):
            select.children[0].border_title = select.name  # the shown part carries the border
        self.query_one("#incident").display = False
        self.query_one("#themes").display = False
        self.query_one("#context").display = False
        self.query_one("#problems").display = False
        self.query_one("#title", Input).focus()
        item_id, request_id, lead_id = self.item_id, self.request_id, self.lead_id
        self.read(lambda desk: load_prefill(desk, item_id, request_id, lead_id), self._prefill)

    def _prefill(self, found: Prefill) -> None:
        """Fill the form from the store (edit, reply) or with the desk's defaults."""
        if found.error:  # nothing can be saved: the form would write over the unknown
            self.query_one("#status", Static).update(f"无法打开：{found.error}")
            self._show([("bold red", "✗ " + found.error)])
            return
        context: list[str] = []
        selected: tuple[str, ...] = ()
        self._set("author", self.desk.actor)
        section = self.query_one("#section", Select)
        section.display = bool(found.sections)
        if found.sections:
            section.set_options([(name, name) for name in found.sections])
        if found.writers:  # a writer is named as the 通讯录 names them: typed, then completed
            author = self.query_one("#author", Input)
            author.suggester = SuggestFromList(found.writers, case_sensitive=False)
            author.placeholder = "执笔人姓名（通讯录：" + "、".join(found.writers[:4]) + "）"
        if found.request is not None:
            request = found.request
            self.request_number = request.number
            self._set("urgency", request.draft.urgency.value)
            self._set("classification", request.classification.value)
            if request.draft.kind == requests.PRIORITIES:  # answered by tagging, not replying
                selected = request.draft.themes
                context.append(f"{request.draft.kind} {request.number}　{found.request_from}")
            else:
                self.base["request"] = request.id
                selected = request.draft.themes
                deadline = request.draft.deadline
                left = requests_text.countdown(deadline, self.desk.clock())
                context.append(
                    f"答复{request.draft.kind} {request.number}　{found.request_from}　"
                    f"截止 {requests_text.when(deadline)}（{left}）"
                )
            context.append(f"主题：{request.draft.topic}")
            if request.draft.guidance:
                context.append(f"要求：{request.draft.guidance}")
        if found.lead is not None:
            lead = found.lead
            draft = leads.draft_of(lead, self.desk.actor)
            self._set("title", draft.title)
            self._set("category", str(draft.category))
            body = self.query_one("#body", TextArea)
            body.load_text(draft.body)
            body.border_subtitle = self._count(draft.body)
            selected = tuple(word for word in lead.matched if word in found.themes)
            context.append(f"据线索 {lead.id} 起草　来源：{lead.source}")
            context.append("请核实后改写：线索只是线索，信息须写明何地、何事、结果")
        if found.item is not None:
            self._fill(found.item)
            selected = found.item.draft.themes
            if found.returned:
                context.append(f"退回理由：{found.returned}")
        self.states = found.states
        self.themes = tuple(dict.fromkeys([*found.themes, *selected]))
        themes = self.query_one("#themes", SelectionList)
        themes.add_options((Content(theme), theme, theme in selected) for theme in self.themes)
        themes.display = bool(self.themes)
        box = self.query_one("#context", Static)
        box.update("\n".join(context))
        box.display = bool(context)
        self.saved = self.values()
        self.loaded = True
        self._show_incident()
        self._refresh_status()

    def _fill(self, item: Item) -> None:
        draft = item.draft
        self.revision = item.revision
        self.base = {k: v for k, v in draft_to_dict(draft).items() if k != "to"}
        for field in ("title", "author", "phone"):
            self._set(field, getattr(draft, field))
        for field in ("category", "urgency", "classification", "section"):
            self._set(field, str(getattr(draft, field)))
        body = self.query_one("#body", TextArea)
        body.load_text(draft.body)
        body.border_subtitle = self._count(draft.body)
        incident = self.base.get("incident", {})
        for name in ("severity", "occurred_at", "place", *INCIDENT_OPTIONAL):
            value = str(incident.get(name, ""))
            self._set(
                name, time_text(from_text(value)) if name in INCIDENT_TIMES and value else value
            )

    def _set(self, id: str, value: str) -> None:
        widget = self.query_one(f"#{id}")
        if isinstance(widget, Select):
            if value:
                widget.value = value
        elif isinstance(widget, Input):
            widget.value = value

    # -- what the form holds -----------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """Every field as typed (the body, themes and incident fields included)."""
        out: dict[str, Any] = {}
        for box in self.query(Input):
            out[box.id or ""] = box.value
        for select in self.query(Select):
            value = select.value
            out[select.id or ""] = "" if value is Select.NULL else str(value)
        out["body"] = self.query_one("#body", TextArea).text
        out["themes"] = tuple(self.query_one("#themes", SelectionList).selected)
        return out

    def dirty(self) -> bool:
        """Whether the form holds changes not yet saved."""
        return self.loaded and self.values() != self.saved

    def item_data(self) -> dict[str, Any]:
        """The form as an item file's mapping (the keys ``xinbao submit`` reads)."""
        typed = self.values()
        data = dict(self.base)
        data.update(
            title=typed["title"],
            body=typed["body"],
            author=typed["author"],
            phone=typed["phone"],
            urgency=typed["urgency"],
            classification=typed["classification"],
        )
        data.pop("category", None)
        if typed["category"]:
            data["category"] = typed["category"]
        data.pop("section", None)
        if typed["section"]:
            data["section"] = typed["section"]
        data.pop("themes", None)
        if typed["themes"]:
            data["themes"] = list(typed["themes"])
        incident = dict(data.pop("incident", {}))  # keys the form does not show are kept
        if typed["category"] == INCIDENT:
            for name in ("severity", "occurred_at", "place", *INCIDENT_OPTIONAL):
                incident.pop(name, None)
                if typed[name].strip():
                    incident[name] = typed[name]
            data["incident"] = incident
        return data

    # -- feedback while typing ---------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        event.input.remove_class("-invalid")
        if event.input.id == "title":
            event.input.border_subtitle = self._count(event.value)
        self._refresh_status()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in a one-line field goes on to the next field, as on a paper form."""
        event.stop()
        self.focus_next()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        event.text_area.border_subtitle = self._count(event.text_area.text)
        self._refresh_status()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "category":
            self._show_incident()
        self._refresh_status()

    def on_selection_list_selected_changed(self, event: SelectionList.SelectedChanged[str]) -> None:
        self._refresh_status()

    @staticmethod
    def _count(text: str) -> str:
        rules = editorial.default_rules()
        return f"{editorial.count_chars(text, rules.count_punctuation)} 字" if text.strip() else ""

    def _show_incident(self) -> None:
        self.query_one("#incident").display = self.values()["category"] == INCIDENT

    def _refresh_status(self) -> None:
        if not self.loaded:
            return
        if self.item_id:
            what = f"修改 {self.item_id}　第{self.revision}稿"
            if self.states:
                what += "　" + "、".join(self.states)
        elif self.request_number and "request" in self.base:
            what = f"答复约稿 {self.request_number}　新信息"
        else:
            what = "撰写新信息"
        if self.signed:
            what += "　已签发"
        elif self.dirty():
            what += "　（未保存）"
        self.query_one("#status", Static).update(what)

    def store_changed(self) -> None:
        if self.item_id:
            self._read_states()

    def _read_states(self) -> None:
        """Read again where the item's edges stand (after a save or a sign-off)."""
        item_id = self.item_id

        def load(desk: Desk) -> tuple[str, ...]:
            edges = ops.outgoing_edges(desk.store, item_id, desk.node.id)
            return tuple(dict.fromkeys(shown(e.state, e.delivered_at) for e in edges))

        def done(states: tuple[str, ...]) -> None:
            self.states = states
            self._refresh_status()

        self.read(load, done, group="states")

    def _show(self, lines: list[tuple[str, str]], more: str = "……另有 {n} 条") -> None:
        """Problems (✗), advice (提示) or the outcome under the form; empty hides the panel.

        The panel takes at most a quarter of the screen, so the body stays usable at 80×24;
        advice beyond that is counted (the item view lists every hint)."""
        width = max(20, self.app.size.width)
        room = max(3, self.app.size.height // 4)
        text = Text()
        for n, (style, line) in enumerate(lines):
            rows = -(-cell_width(line) // width)
            if n and rows > room - (n < len(lines) - 1):
                text.append(more.format(n=len(lines) - n), style="dim")
                break
            room -= rows
            text.append(line + "\n", style=style)
        text.rstrip()
        box = self.query_one("#problems", Static)
        box.update(text)
        box.display = bool(lines)

    def _show_problems(self, problems: list[tuple[str, str]]) -> None:
        for box in self.query(Input):
            box.remove_class("-invalid")
        first: Widget | None = None
        for field, _ in problems:
            widget = self._widget_of(field)
            if isinstance(widget, Input):
                widget.add_class("-invalid")
            first = first or widget
        self._show([("bold red", "✗ " + problem_text(f, r)) for f, r in problems])
        if first is not None:
            first.focus()

    def _widget_of(self, field: str) -> Widget | None:
        name = field.removeprefix("incident.")
        if not name.replace("_", "").isalnum():
            return None
        try:
            return self.query_one(f"#{name}")
        except NoMatches:
            return None

    # -- the actions -------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """签发 is offered only to a desk holding the signer role."""
        if action == "signoff":
            try:
                self.desk.require("signoff")
            except PermissionDenied:
                return False
        return True

    def action_stay(self) -> None:
        """q on a field that takes no text: nothing (返回 is Esc here)."""

    def action_save(self) -> None:
        self.save()

    def save(self) -> bool:
        """Save the form: a new item is submitted (待签发), an own item gets a new revision.
        On a refusal every problem is shown and the form keeps what was typed."""
        if not self.loaded:
            self.notify("正在读取，请稍候", severity="warning")
            return False
        if self.item_id and not self.dirty():
            self.notify("没有需要保存的修改")
            return True
        draft, problems = validate(self.item_data())
        if draft is None:
            self._show_problems(problems)
            self.notify(f"有 {len(problems)} 处需要修改，未保存", severity="error")
            return False
        item_id = self.item_id
        try:
            if item_id:
                item = ops.edit(self.desk, item_id, draft)
            elif self.lead_id is not None:  # the lead remembers the item it became
                item = leads.to_item(self.desk, self.lead_id, draft)
            else:
                item = ops.submit(self.desk, draft)
        except ValidationError as exc:
            self._show_problems([(exc.field, exc.reason)])
            self.notify(exc.message, title="未能保存", severity="error", timeout=10)
            return False
        except XinbaoError as exc:
            self._show([("bold red", "✗ " + exc.message)])
            self.notify(exc.message, title="未能保存", severity="error", timeout=10)
            return False
        done = (
            f"已修改 {item.id}，现为第{item.revision}稿"
            if item_id
            else f"已提交 {item.id}「{item.title}」，待签发"
        )
        self.item_id, self.revision = item.id, item.revision
        self.base = {k: v for k, v in draft_to_dict(item.draft).items() if k != "to"}
        self.saved = self.values()
        self._read_states()
        for box in self.query(Input):
            box.remove_class("-invalid")
        advice = [("yellow", f"提示 {unbroken(f.message)}") for f in editorial.check(item.draft)]
        self._show([("bold", done), *advice], ADVICE_MORE)  # no toast: it would cover these
        self._refresh_status()
        return True

    def action_signoff(self) -> None:
        try:
            self.desk.require("signoff")
        except PermissionDenied as exc:
            self.notify(exc.message, title="无权操作", severity="error", timeout=10)
            return
        if not self.loaded:
            self.notify("正在读取，请稍候", severity="warning")
            return
        if not self.item_id or self.dirty():
            _, problems = validate(self.item_data())
            if problems:  # shown before asking: the desk fixes them first
                self._show_problems(problems)
                self.notify(f"有 {len(problems)} 处需要修改，未签发", severity="error")
                return
        self.app.push_screen(
            Confirm("保存并签发：签发后即排队报送，不能撤回。确定签发？"),
            lambda yes: self._sign() if yes else None,
        )

    def _sign(self) -> None:
        if (not self.item_id or self.dirty()) and not self.save():
            return
        item_id = self.item_id
        signed: list[Item] = []
        if self.act(lambda: signed.append(ops.signoff(self.desk, item_id))):
            item = signed[0]
            self.signed = True
            self._read_states()
            done = f"已签发 {item.id}「{item.title}」，排队报送"
            advice = [
                ("yellow", f"提示 {unbroken(f.message)}") for f in editorial.check(item.draft)
            ]
            self._show([("bold", done), *advice], ADVICE_MORE)  # no toast over them
            self._refresh_status()

    def action_back(self) -> None:
        if not self.dirty():
            super().action_back()
            return
        self.app.push_screen(
            Confirm("有未保存的修改，确定放弃并返回？"),
            lambda yes: DeskScreen.action_back(self) if yes else None,
        )
