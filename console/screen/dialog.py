"""Small modal screens: a line of text, yes/no, the help, a text to read, and the ``:``
command line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from console.text import fit


class AskText(ModalScreen[str | None]):
    """Ask for one line of text (a reason); Esc cancels. With ``required`` (what to say when
    it is left empty, e.g. 退回必须写明理由), an empty answer keeps the dialog open and says so:
    what is typed next still goes into it, not to the screen beneath."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "取消")]

    def __init__(self, prompt: str, value: str = "", required: str = "") -> None:
        super().__init__()
        self.prompt = prompt
        self.value = value
        self.required = required

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.prompt)
            yield Input(self.value, id="answer")
            yield Label("", id="refusal", markup=False)

    def on_mount(self) -> None:
        self.query_one("#refusal", Label).display = False

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.required and not event.value.strip():
            refusal = self.query_one("#refusal", Label)
            refusal.update(Text(self.required, style="bold red"))
            refusal.display = True
            event.input.focus()
            return
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Confirm(ModalScreen[bool]):
    """Yes or no before a destructive action: y confirms, n or Esc does not."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "确定"),
        Binding("n,escape", "answer(False)", "取消"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question)
            yield Label("y 确定　n 取消")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


@dataclass(frozen=True)
class Command:
    """One thing the desk can do from where it is: its key, name, help and action."""

    key: str
    name: str
    help: str
    action: str
    namespace: object  # the node the action runs on (screen or app)

    def matches(self, word: str) -> bool:
        """Whether ``word`` (typed after ``:``) names this command."""
        return word in (self.name, self.action.split("(")[0], self.key)


class HelpScreen(ModalScreen[None]):
    """Every key of the screen the desk was on, generated from its bindings."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "close", "返回")]

    def __init__(self, title: str, commands: list[Command]) -> None:
        super().__init__()
        self.title_text = title
        self.commands = commands

    def compose(self) -> ComposeResult:
        lines = [self.title_text, ""]
        for c in self.commands:
            told = "" if c.help == c.name else c.help  # the name alone, never 清除筛选 twice
            lines.append(f"  {fit(c.key, 12)}{fit(c.name, 10)}{told}".rstrip())
        lines += [
            "",
            f"  {fit('1—8', 12)}切换界面：收件 紧急 约稿 刊物 批示 通报 网络 线索",
            f"  {fit('Ctrl+P', 12)}命令面板（按名称查找任何操作）",
            "  命令行：按 : 后输入名称（如 :采用、:筛选 煤矿），回车执行",
        ]
        with VerticalScroll(id="help"):
            yield Static("\n".join(lines), markup=False)

    def action_close(self) -> None:
        self.dismiss(None)


class ReadText(ModalScreen[None]):
    """A long text to read (a bulletin received): j/k and the page keys scroll, Esc or q
    closes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "返回"),
        Binding("j,down", "scroll(1)", "下移", show=False),
        Binding("k,up", "scroll(-1)", "上移", show=False),
    ]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="read"):
            yield Static(self.text, markup=False)

    def on_mount(self) -> None:
        self.query_one("#read").focus()

    def action_scroll(self, lines: int) -> None:
        self.query_one("#read", VerticalScroll).scroll_relative(y=lines, animate=False)

    def action_close(self) -> None:
        self.dismiss(None)


class CommandLine(ModalScreen[tuple[Command, str] | None]):
    """``:`` — type a command by name (or its key), with an argument after a space."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "取消")]

    def __init__(self, commands: list[Command]) -> None:
        super().__init__()
        self.commands = commands

    def compose(self) -> ComposeResult:
        names = "　".join(dict.fromkeys(c.name for c in self.commands))
        with Vertical(id="commandline"):
            yield Static(fit(names, 200).rstrip(), id="commands", markup=False)
            yield Input(placeholder="命令（如 采用、筛选 煤矿、约稿），回车执行，Esc 取消")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        word, _, rest = event.value.strip().lstrip(":：").partition(" ")
        if not word:
            self.dismiss(None)
            return
        for command in self.commands:
            if command.matches(word):
                self.dismiss((command, rest.strip()))
                return
        self.notify(f"没有“{word}”这个命令（按 ? 看全部）", severity="warning")

    def action_cancel(self) -> None:
        self.dismiss(None)


class Choose(ModalScreen[str | None]):
    """Pick one of a few named things (a publication, a level); Esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "取消"),
        Binding("j", "pick(1)", "下一项", show=False),
        Binding("k", "pick(-1)", "上一项", show=False),
    ]

    def __init__(self, prompt: str, choices: Sequence[str], default: str = "") -> None:
        super().__init__()
        self.prompt = prompt
        self.choices = list(choices)
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.prompt)
            yield OptionList(*(Option(c, id=c) for c in self.choices), id="choices")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if self.default in self.choices:
            options.highlighted = self.choices.index(self.default)
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_pick(self, step: int) -> None:
        options = self.query_one(OptionList)
        options.action_cursor_down() if step > 0 else options.action_cursor_up()

    def action_cancel(self) -> None:
        self.dismiss(None)
