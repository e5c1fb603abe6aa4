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

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from console.screen.desk import TABS, DeskScreen
from console.screen.dialog import Command, CommandLine, HelpScreen
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
            ident = (binding.action, id(active.node))
            keys.setdefault(ident, []).append(key)
            found.setdefault(
                ident,
                Command(
                    key="",
                    name=binding.description,
                    help=binding.tooltip or binding.description,
                    action=binding.action,
                    namespace=active.node,
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
            if command.action.split("(")[0] in HIDDEN:
                continue
            yield SystemCommand(
                command.name, command.help, lambda c=command: self.call_later(self.run_command, c)
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
