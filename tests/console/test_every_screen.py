"""Every screen a desk can reach at 80×24, walked key by key (issue 16): each tab, then every
key of each tab — the dialogs, forms, toasts and refusals it brings up — read off the screen as
the terminal shows it. Nothing a desk reads is English: Latin letters appear only as keys, ids,
codes and file names. And every key answers: it changes the screen or says why not."""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea
from textual.worker import WorkerCancelled

from console.app import DeskApp
from console.screen.desk import TABS
from console.screen.dialog import Confirm
from tests.console.test_snapshots import desk_app

pytestmark = pytest.mark.anyio

# what may stand in Latin letters on a Chinese screen
KEYS = {"esc", "tab", "enter", "space", "home", "end", "pgup", "pgdn", "ctrl", "shift"}
CODES = {"feeds"}  # a config table a hint names: syncd.toml's [[feeds]]
FORMATS = {"markdown", "word"}  # what an export writes, named as the desk knows them
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.\-+/]*")
# cursor and scroll keys, Enter on an empty list, Esc with no filter: nothing to say
NAVIGATION = r"\((move|jump|page|cursor_\w+|scroll_\w+|select_cursor|choose|clear)\b"
NOT_A_KEY = {"ctrl+q", "ctrl+c", "ctrl+p", "colon", "question_mark"}  # walked on their own


def screen_text(app: DeskApp) -> str:
    """What the terminal shows, line after line (the SVG screenshot's text runs)."""
    svg = app.export_screenshot()
    return "\n".join(html.unescape(t) for t in re.findall(r"<text[^>]*>(.*?)</text>", svg, re.S))


def english(text: str) -> set[str]:
    found = set()
    for word in WORD.findall(text):
        if "/" in word.strip("/") and not word.startswith("Ctrl"):
            continue  # a path (an export's folder)
        parts = [p for p in re.split(r"[+/]", word) if p]
        if all(
            len(p) == 1  # a key: a, E, q
            or p.lower() in KEYS | CODES | FORMATS
            or any(ch.isdigit() for ch in p)  # an id or a code: 140212-2026-00001, F5
            or "." in p  # a file name: syncd.toml
            for p in parts
        ):
            continue
        found.add(word)
    return found


async def settle(pilot: Pilot[None]) -> None:
    """Let the reads a key started (worker threads) finish and reach the screen."""
    for _ in range(3):
        # the reads in threads: a worker awaiting a dialog's answer ends only when it is closed
        reads = [w for w in pilot.app.workers if w._thread_worker]
        with contextlib.suppress(WorkerCancelled):  # one replaced by a newer read
            try:
                await asyncio.wait_for(pilot.app.workers.wait_for_complete(reads), 5)
            except TimeoutError:
                raise AssertionError([(w.name, w.state, w._node) for w in reads]) from None
        await asyncio.wait_for(pilot.pause(), 5)


async def back_to(pilot: Pilot[None], key: str, mode: str) -> None:
    """Close whatever a key opened (Esc; n for a question; out of a text field) and return to
    tab ``mode``."""
    app = pilot.app
    for _ in range(8):
        typing = isinstance(app.focused, Input | TextArea)
        if len(app.screen_stack) > 1 or typing:
            await pilot.press("escape")
            await pilot.pause()
            if isinstance(app.screen, Confirm):
                await pilot.press("n")
        elif app.current_mode != mode:
            await pilot.press(key)
        else:
            return
        await settle(pilot)
    raise AssertionError(f"could not return to {mode}: {app.screen_stack} {app.focused}")


async def test_every_screen_dialog_and_toast_is_chinese(tmp_path: Path) -> None:
    app = desk_app(tmp_path)
    seen: dict[str, set[str]] = {}
    walked = 0
    silent: list[str] = []  # keys that neither changed the screen nor said anything
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        for tab_key, mode, _ in TABS:
            await back_to(pilot, tab_key, mode)
            seen[f"{mode}"] = english(screen_text(app))
            keys = {
                active.binding.action: key
                for key, active in app.screen.active_bindings.items()
                if active.node is not app
                and active.enabled  # a key switched off where it means nothing is not shown
                and active.binding.description
                and not active.binding.description.isascii()
                and key not in NOT_A_KEY
            }
            for action, key in keys.items():
                now = app.screen.active_bindings.get(key)
                if now is None or not now.enabled:  # off since (a key before changed the view)
                    continue
                before = screen_text(app)
                app.clear_notifications()
                await pilot.press(key)
                await settle(pilot)
                after = screen_text(app)
                seen[f"{mode} {key} ({action})"] = english(after)
                if after == before and not app._notifications:
                    silent.append(f"{mode} {key} ({action})")
                walked += 1
                await back_to(pilot, tab_key, mode)
        for key in ("question_mark", "colon", "ctrl+p", "ctrl+c"):
            await pilot.press(key)
            await settle(pilot)
            seen[key] = english(screen_text(app))
            await back_to(pilot, "1", "inbox")
    bad = {where: words for where, words in seen.items() if words}
    assert not bad, bad
    assert walked > 60, walked
    # a key may be quiet only where there is nothing to move over or clear
    said_nothing = [k for k in silent if not re.search(NAVIGATION, k)]
    assert not said_nothing, said_nothing
