"""``xinbao console``: the desk in a terminal (Textual), keyboard first, in Chinese.

Each tab (收件 紧急 约稿 刊物 批示 通报 网络 线索) is a Textual mode with its own screen
stack; 1–8 switch between them. Every action is a binding of its screen, so the footer, the help
(``?``), the command palette (Ctrl+P) and the command line (``:``) list the same things.
"""

from __future__ import annotations

import gc
import importlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from rich.align import Align
from rich.text import Text
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.command import CommandList, CommandPalette
from textual.screen import Screen
from textual.widgets._select import SelectOverlay
from textual.widgets.option_list import Option

from console.screen.desk import TABS, DeskScreen
from console.screen.dialog import Command, CommandLine, HelpScreen
from console.text import line_breaks
from schema.attachment import Attachments
from schema.desk import Desk
from schema.network import find_unit

# each tab's screen: module and class, imported when the tab first opens
SCREENS: dict[str, str] = {
    "inbox": "console.screen.inbox:InboxScreen",
    "emergency": "console.screen.emergency:EmergencyScreen",
    "requests": "console.screen.request:RequestScreen",
    "publications": "console.screen.publication:PublicationScreen",
    "instructions": "console.screen.instruction:InstructionScreen",
    "scoreboard": "console.screen.scoreboard:ScoreboardScreen",
    "network": "console.screen.network:NetworkScreen",
    "leads": "console.screen.lead:LeadScreen",
}


def screen_class(name: str) -> Callable[[Desk], DeskScreen]:
    """The screen class of tab ``name`` (its module imported now: the console starts
    without loading what only other tabs need, such as python-docx)."""
    module, _, cls = SCREENS[name].partition(":")
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


HIDDEN = {"command_palette", "quit", "help", "command_line"}  # not repeated in the palette


class DeskPalette(CommandPalette):
    """Textual's command palette (Ctrl+P) with its own words in Chinese: the search prompt, its
    keys and "no matches". Textual ships them in English with no way to translate them but this.
    """

    BINDINGS: ClassVar[list[BindingType]] = [  # the same keys as Textual's, described in Chinese
        Binding("ctrl+end, shift+end", "command_list('last')", "末条", show=False),
        Binding("ctrl+home, shift+home", "command_list('first')", "首条", show=False),
        Binding("down", "cursor_down", "下一条", show=False),
        Binding("escape", "escape", "关闭命令面板"),
        Binding("pagedown", "command_list('page_down')", "下一页", show=False),
        Binding("pageup", "command_list('page_up')", "上一页", show=False),
        Binding("up", "command_list('cursor_up')", "上一条", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(placeholder="搜索命令…", id="--command-palette")

    def _start_no_matches_countdown(self, search_value: str) -> None:
        # Textual's (8.2.8) method with its English "No matches found" in Chinese: the text is
        # inside it, so the whole short method is repeated here
        self._stop_no_matches_countdown()

        def show_no_matches() -> None:
            if search_value:
                self.query_one(CommandList).add_option(
                    Option(
                        Align.center(Text("没有匹配的命令", style="not bold")),
                        disabled=True,
                        id=self._NO_MATCHES,
                    )
                )
                self._list_visible = True
            else:  # nothing typed: an empty list says enough
                self._list_visible = False

        self._no_matches_timer = self.set_timer(self._NO_MATCHES_COUNTDOWN, show_no_matches)


def translate_textual() -> None:
    """Put the English a desk sees in Textual's own widgets into Chinese where no option does:
    the Select's pop-up list shows ``esc Dismiss menu`` in the footer. Its bindings are merged
    into the class when the class is made, so they are merged again after the change; Select
    builds the overlay itself, so a subclass of the overlay would never be used."""
    if SelectOverlay.BINDINGS[0] != _SELECT_ESCAPE:
        SelectOverlay.BINDINGS = [_SELECT_ESCAPE]
        SelectOverlay._merged_bindings = SelectOverlay._merge_bindings()


_SELECT_ESCAPE = Binding("escape", "dismiss", "收起列表")


def wrap_chinese() -> None:
    """Wrap every text of the console as Chinese is set (:func:`console.text.line_breaks`):
    between any two characters, 避头尾 kept (no line starts with ，。） or ends with “《).
    Rich (a Static, the item view) and the TextArea (the compose form's body) wrap at spaces
    only, so a run of Chinese after a space jumps whole to the next line; neither has an option
    for it, so the module functions they call are replaced, once. A line with a tab keeps the
    TextArea's own wrap (tab stops count from the line's start)."""
    import rich.text
    import textual.content
    import textual.document._wrapped_document as wrapped

    if getattr(rich.text.divide_line, "chinese", False):
        return
    offsets = wrapped.compute_wrap_offsets

    def divide_line(text: str, width: int, fold: bool = True) -> list[int]:
        return line_breaks(text, width)

    def compute_wrap_offsets(
        text: str,
        width: int,
        tab_size: int,
        fold: bool = True,
        precomputed_tab_sections: list[tuple[str, int]] | None = None,
    ) -> list[int]:
        if "\t" in text:
            return offsets(text, width, tab_size, fold, precomputed_tab_sections)
        return line_breaks(text, width)

    divide_line.chinese = True  # type: ignore[attr-defined]
    rich.text.divide_line = divide_line  # type: ignore[assignment]
    textual.content.divide_line = divide_line  # type: ignore[assignment]
    wrapped.compute_wrap_offsets = compute_wrap_offsets  # type: ignore[assignment]


class DeskApp(App[None]):
    """The desk of one user at one node."""

    CSS_PATH = "desk.tcss"
    TITLE = "信报工作台"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "退出", tooltip="退出工作台"),
        Binding("question_mark", "help", "帮助", tooltip="本界面的按键一览"),
        Binding("colon", "command_line", "命令", tooltip="输入命令名称执行（如 :采用）"),
        Binding("ctrl+p", "command_palette", "面板", show=False, tooltip="命令面板"),
        *(
            Binding(key, f"switch_tab('{name}')", title, show=False, tooltip=f"切换到{title}")
            for key, name, title in TABS
        ),
    ]

    def __init__(
        self,
        desk: Desk,
        attachments: Attachments,
        status_path: Path | None = None,
        theme: str = "",
    ) -> None:
        translate_textual()
        wrap_chinese()
        super().__init__()
        self.desk = desk
        self.attachments = attachments
        self.status_path = status_path  # the daemon's status file (the 网络 tab)
        # over SSH, the folder exports are confined to (console/remote.py); None: anywhere
        self.exports: Path | None = None
        # the short name the network's unit list gives (the node's own config has the full one)
        known = find_unit(desk.store, desk.node.id)
        self.sub_title = f"{(known or desk.node).label}　{desk.actor}"
        if theme:
            self.theme = theme
        for _, name, _ in TABS:  # each tab's module is imported when the tab first opens
            self.add_mode(name, lambda name=name: self._tab_screen(name))

    def _tab_screen(self, name: str) -> Screen[Any]:
        return screen_class(name)(self.desk)

    def on_mount(self) -> None:
        self.switch_mode("inbox")
        # what exists after start-up lives as long as the console: keep it out of the cyclic
        # collector, whose full passes over it were the slow keystrokes (80 ms every few s)
        self.call_after_refresh(gc.freeze)

    def action_switch_tab(self, name: str) -> None:
        if self.current_mode != name:
            self.switch_mode(name)

    def commands(self, screen: Screen[Any] | None = None) -> list[Command]:
        """What the desk can do on ``screen`` (default: the current one): its bindings, the
        app's, and the tabs — the same list for the footer, ``?``, Ctrl+P and ``:``."""
        screen = screen or self.screen
        found: dict[tuple[str, int], Command] = {}
        keys: dict[tuple[str, int], list[str]] = {}
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if not binding.description or binding.description.isascii():
                continue  # Textual's own (English) bindings: focus, copy, palette
            # one command per thing done: a screen's ``app.switch_tab('emergency')`` (e) is
            # the app's ``switch_tab('emergency')`` (2), listed once with both keys
            action, node = binding.action, active.node
            if action.startswith("app."):
                action, node = action.removeprefix("app."), self
            ident = (action, id(node))
            keys.setdefault(ident, []).append(key)
            found.setdefault(
                ident,
                # help: the tooltip, or nothing (the name said it all: 上移 is not 上移 上移)
                Command(
                    key="",
                    name=binding.description,
                    help=binding.tooltip,
                    action=action,
                    namespace=node,
                ),
            )
        return [
            Command(
                "/".join(_key_name(k) for k in keys[ident]), c.name, c.help, c.action, c.namespace
            )
            for ident, c in found.items()
        ]

    async def run_command(self, command: Command, argument: str = "") -> None:
        """Run ``command``; an argument goes to the screen's ``command_<action>`` if it has one."""
        method = getattr(command.namespace, f"command_{command.action.split('(')[0]}", None)
        if argument and method is not None:
            method(argument)
            return
        await self.run_action(command.action, command.namespace)  # type: ignore[arg-type]

    def action_command_palette(self) -> None:
        """Textual's command palette, in Chinese."""
        if self.use_command_palette and not CommandPalette.is_open(self):
            self.push_screen(DeskPalette())

    def action_help_quit(self) -> None:
        """Ctrl+C does not quit (it copies in a text field): say how to, in Chinese."""
        keys = [
            _key_name(key)
            for key, active in self.active_bindings.items()
            if active.binding.action in ("quit", "app.quit")
        ]
        if keys:
            self.notify(f"按 [b]{keys[0]}[/b] 退出工作台", title="要退出吗？")

    def action_help(self) -> None:
        title = getattr(self.screen, "TAB", "")
        names = {name: t for _, name, t in TABS}
        self.push_screen(HelpScreen(f"按键一览　{names.get(title, '')}", self.commands()))

    def action_command_line(self) -> None:
        commands = self.commands()

        def chosen(picked: tuple[Command, str] | None) -> None:
            if picked is not None:
                self.call_later(self.run_command, *picked)

        self.push_screen(CommandLine(commands), chosen)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The desk's actions in the command palette (Ctrl+P), in Chinese."""
        for command in self.commands(screen):
            if command.action.split("(")[0] in HIDDEN or not command.help:
                continue  # the palette's own keys, and moving the cursor: not things to find
            yield SystemCommand(
                command.name,
                "" if command.help == command.name else command.help,  # never 清除筛选 twice
                lambda c=command: self.call_later(self.run_command, c),
            )
        yield SystemCommand("帮助", "按键一览", self.action_help)
        yield SystemCommand("退出", "退出工作台", self.exit)


_KEY_NAMES = {
    "slash": "/",
    "question_mark": "?",
    "colon": ":",
    "space": "空格",
    "enter": "回车",
    "escape": "Esc",
    "down": "↓",
    "up": "↑",
    "pagedown": "PgDn",
    "pageup": "PgUp",
    "home": "Home",
    "end": "End",
}


def _key_name(key: str) -> str:
    if key.startswith("ctrl+"):
        return "Ctrl+" + key[5:].upper()
    return _KEY_NAMES.get(key, key)


def terminal_theme(environ: dict[str, str]) -> str:
    """``ansi-dark`` (the terminal's own 16 colours) unless the terminal says it has 24-bit
    colour: a plain SSH terminal keeps its palette and stays readable."""
    if environ.get("XINBAO_THEME"):
        return environ["XINBAO_THEME"]
    return "textual-dark" if environ.get("COLORTERM") in ("truecolor", "24bit") else "ansi-dark"


def run_console(
    desk: Desk,
    home_attachments: Path,
    status_path: Path | None = None,
    exports: Path | None = None,
) -> None:
    """Open the console (blocks until the desk quits); ``exports``: the only folder it may
    write exports to (a person signed in over SSH)."""
    theme = terminal_theme(dict(os.environ))
    app = DeskApp(desk, Attachments(home_attachments), status_path, theme)
    app.exports = exports
    app.run()
