"""What every desk screen shares: the desk it works for, the tab line, Esc back, reads in a
worker thread, and a live look at the store (another process's commits)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer, Header, Static

from schema.commandline import database_fault
from schema.desk import Desk
from schema.error import XinbaoError
from schema.store import Store

if TYPE_CHECKING:
    from schema.attachment import Attachments

T = TypeVar("T")
REFRESH_SECONDS = 0.5

# the console's modes (Textual MODES): key, name, title — the tab line and the 1–8 keys
TABS: tuple[tuple[str, str, str], ...] = (
    ("1", "inbox", "收件"),
    ("2", "emergency", "紧急"),
    ("3", "requests", "约稿"),
    ("4", "publications", "刊物"),
    ("5", "instructions", "批示"),
    ("6", "scoreboard", "通报"),
    ("7", "network", "网络"),
    ("8", "leads", "线索"),
)


def store_version(store: Store) -> int:
    """Changes whenever another connection commits (SQLite's ``PRAGMA data_version``)."""
    try:
        return int(store.db.execute("PRAGMA data_version").fetchone()[0])
    except sqlite3.Error:
        return -1


class DeskScreen(Screen[None]):
    """A screen of the desk. Subclasses yield their widgets from :meth:`body`, and override
    :meth:`store_changed` to follow commits made by other processes (the daemon)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "返回", tooltip="返回上一界面（在各主界面回到收件）"),
    ]
    TAB: ClassVar[str] = ""  # the mode this screen is the base of ("" for pushed screens)
    LIVE: ClassVar[bool] = False  # call store_changed when another process commits

    def __init__(self, desk: Desk) -> None:
        self._timers_here: list[Timer] = []
        super().__init__()
        self.desk = desk
        self._version = store_version(desk.store)
        self._reads: dict[str, int] = {}  # the latest read started in each group

    @property
    def attachments(self) -> Attachments:
        """The node's attachment folder (the app holds it)."""
        return self.app.attachments  # type: ignore[attr-defined, no-any-return]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(tab_line(self.TAB), classes="tabs")
        yield from self.body()
        # compact: more keys fit an 80-column terminal; the palette is listed as 面板 instead of
        # Textual's English label
        yield Footer(compact=True, show_command_palette=False)

    def body(self) -> Iterable[Widget]:
        """The screen's own widgets, between the tab line and the footer."""
        return ()

    def on_mount(self) -> None:
        # Textual calls every class's on_mount along the MRO by itself: a subclass's own
        # on_mount must not call this one again (it would start a second timer)
        if self.LIVE:
            self.set_interval(REFRESH_SECONDS, self._follow)

    def set_interval(self, *args: Any, **kwargs: Any) -> Timer:  # type: ignore[override]
        """As Textual's, but the timer rests while another tab or screen is in front: every
        tab stays alive once opened, and its countdowns and re-reads must not run behind the
        inbox (each is a store read in a worker, competing with the keystrokes)."""
        timer = super().set_interval(*args, **kwargs)
        if kwargs.get("name") is None:  # ours; Textual's own (screen_update) it manages itself
            self._timers_here.append(timer)
        return timer

    def on_screen_suspend(self) -> None:
        for timer in self._timers_here:
            timer.pause()

    def on_screen_resume(self) -> None:
        for timer in self._timers_here:  # a live screen's next look catches up at once
            timer.resume()

    def _follow(self) -> None:
        version = store_version(self.desk.store)
        if version != self._version:
            self._version = version
            self.store_changed()

    def store_changed(self) -> None:
        """Another process committed to the store: read again what the screen shows."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Esc/q back is offered only where there is somewhere to go back to."""
        if action == "back" and self.TAB == "inbox":
            return len(self.app.screen_stack) > 1
        return True

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        elif self.TAB != "inbox":
            self.app.switch_mode("inbox")

    def read(
        self,
        load: Callable[[Desk], T],
        done: Callable[[T], None],
        group: str = "read",
        every: bool = False,
    ) -> None:
        """Run ``load`` in a worker thread, on a connection of its own when the store is a
        file, and hand its result to ``done`` on the UI thread; a desk error is shown. Only
        the latest read of a ``group`` is handed over: a thread cannot be stopped, and an
        earlier read (the live refresh with the filter before it changed) finishing after a
        later one would otherwise put its stale result on the screen. With ``every``, each
        read's result is (for reads that carry parts the later ones leave out)."""
        desk = self.desk
        app = self.app
        self._reads[group] = number = self._reads.get(group, 0) + 1

        def latest(result: T) -> None:
            if every or self._reads.get(group) == number:
                done(result)

        def work() -> None:
            own = Store.open(desk.store.path) if desk.store.path else None
            try:
                result = load(replace(desk, store=own) if own else desk)
            except (XinbaoError, sqlite3.Error) as exc:
                said = shown(exc)
                app.call_from_thread(app.notify, said, title="读取失败", severity="error")
                return
            finally:
                if own is not None:
                    own.close()
            app.call_from_thread(latest, result)

        if not desk.store.path:  # an in-memory store (tests) cannot be opened twice
            try:
                done(load(desk))
            except (XinbaoError, sqlite3.Error) as exc:
                self.notify(shown(exc), title="读取失败", severity="error")
            return
        self.run_worker(work, thread=True, group=group, exclusive=True, exit_on_error=False)

    def act(self, what: Callable[[], Any], done: str = "") -> bool:
        """Do one desk operation (a local, quick write); show ``done`` or the refusal."""
        return self.attempt(lambda: (what(), True)[1], done) is not None

    def attempt(self, what: Callable[[], T], done: str = "") -> T | None:
        """Do one desk operation and hand back what it returned; None (and the refusal
        shown) when the desk's rules refused it."""
        try:
            result = what()
        except (XinbaoError, sqlite3.Error) as exc:
            self.notify(shown(exc), title="未能完成", severity="error", timeout=10)
            return None
        if done:
            self.notify(done)
        return result


def shown(exc: XinbaoError | sqlite3.Error) -> str:
    """What desk staff are told of a refusal or a database fault (never a traceback)."""
    return exc.message if isinstance(exc, XinbaoError) else database_fault(exc)


def tab_line(current: str) -> Text:
    """The tab line: every mode with its key; the current one stands out."""
    line = Text()
    for key, name, title in TABS:
        line.append(f" {key} {title} ", style="reverse bold" if name == current else "")
        line.append(" ")
    return line
