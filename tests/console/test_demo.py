"""The README's main-job command (``xinbao demo``): a live network of real daemons, then the
console; quitting leaves no process and no folder behind. One test drives it in a real
terminal under tmux and reads the screen."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.cli_helpers import run

REPO = Path(__file__).resolve().parents[2]


def processes_under(root: str) -> list[int]:
    """Processes whose environment points XINBAO_HOME into ``root`` (the demo's daemons)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if f"XINBAO_HOME={root}".encode() in environ:
            found.append(int(entry.name))
    return found


def test_the_demo_runs_a_live_network_and_leaves_nothing_behind() -> None:
    done = run("xinbao", "demo", "--no-console")
    assert done.code == 0, done.err
    assert "新荣区某煤矿" in done.out and "平城区" in done.out  # counties' items at the city
    assert done.out.count("已接收") >= 4
    # the 通讯录: the counties' and, two tiers down, the township's, routed up to the city
    assert "  信息员　张慧敏　信息科科员" in done.out and "  信息员　刘晓燕" in done.out
    root = re.search(r"演示网络 (\S+) 已删除", done.out)
    assert root is not None
    assert not Path(root.group(1)).exists()
    assert processes_under(root.group(1)) == []


def _screen(session: str) -> str:
    shown = subprocess.run(
        ["tmux", "-L", session, "capture-pane", "-p", "-t", session],
        capture_output=True,
        text=True,
        check=False,
    )
    return shown.stdout


def _wait_for(session: str, text: str, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    screen = ""
    while time.monotonic() < deadline:
        screen = _screen(session)
        if text in screen:
            return screen
        time.sleep(0.3)
    raise AssertionError(f"not on screen within {seconds:.0f} s: {text}\n{screen}")


# each tab (its key) and a text only its screen shows
TABS = {
    "2": "书面",  # 紧急: a first report owed in writing
    "3": "收到的",  # 约稿
    "4": "总期",  # 刊物
    "5": "领导",  # 批示
    "6": "计分办法",  # 通报
    "7": "待发记录",  # 网络
    "8": "命中",  # 线索
    "1": "排序：时限→紧急→时间",  # 收件, the default order named
}


def test_the_demo_console_in_a_real_terminal_under_tmux(tmp_path: Path) -> None:
    assert shutil.which("tmux"), "make test installs tmux"
    # a tmux server of its own (-L): another tmux on the machine, or its kill-server, never
    # touches this one
    session = f"xinbao-demo-{os.getpid()}"
    tmux = ["tmux", "-L", session]
    out = tmp_path / "demo.out"
    command = (
        f"cd {REPO} && {sys.executable} -m console demo --keep 2>&1 | tee {out}; "
        "echo DEMO-EXIT; sleep 60"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("XINBAO_")}
    env["TERM"] = "xterm-256color"
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", session, "-x", "100", "-y", "30", command],
        env=env,
        check=True,
    )
    try:
        # the tab line comes first and the inbox's rows a moment later (a worker fills them)
        screen = _wait_for(session, "新荣区", 120)
        assert "大同市" in screen and "收件" in screen  # the city desk, its counties' items
        subprocess.run(["tmux", "-L", session, "send-keys", "-t", session, "e"], check=True)
        board = _wait_for(session, "书面", 10)
        assert "顶板事故" in board  # the county's emergency, owed to the province
        subprocess.run(["tmux", "-L", session, "send-keys", "-t", session, "Escape"], check=True)
        _wait_for(session, "条", 10)  # the inbox's status line (收件 6 条), not the tab line
        subprocess.run(["tmux", "-L", session, "send-keys", "-t", session, "Enter"], check=True)
        item = _wait_for(session, "记录", 10)
        assert "编号" in item
        subprocess.run(["tmux", "-L", session, "send-keys", "-t", session, "Escape"], check=True)
        _wait_for(session, "条", 10)
        for key, shows in TABS.items():  # every tab opens, in a real terminal
            subprocess.run(["tmux", "-L", session, "send-keys", "-t", session, key], check=True)
            _wait_for(session, shows, 20)
        subprocess.run(["tmux", "-L", session, "send-keys", "-t", session, "C-q"], check=True)
        _wait_for(session, "DEMO-EXIT", 60)
    finally:
        subprocess.run(["tmux", "-L", session, "kill-server"], check=False)
    text = out.read_text("utf-8")
    kept = re.search(r"演示网络保留在 (\S+?)（", text)
    assert kept is not None, text[-2000:]
    root = kept.group(1)
    try:
        assert processes_under(root) == []  # every daemon stopped
        assert (Path(root) / "140200" / "store.db").exists()
    finally:
        shutil.rmtree(root, ignore_errors=True)
