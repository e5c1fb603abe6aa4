"""The sd_notify client against real AF_UNIX datagram sockets, and the shipped systemd unit."""

from __future__ import annotations

import configparser
import logging
import os
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.notify import Notifier

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "packaging" / "xinbao-syncd.service"
TIMEOUT = 2.0
ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No notify variables leak in from whatever runs the tests (it may be systemd itself)."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A bound datagram socket in tmp_path, announced through NOTIFY_SOCKET."""
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(TIMEOUT)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


def receive(sock: socket.socket) -> str:
    return sock.recv(4096).decode("utf-8")


def assert_nothing_pending(sock: socket.socket) -> None:
    sock.settimeout(0.05)
    with pytest.raises(TimeoutError):
        sock.recv(4096)
    sock.settimeout(TIMEOUT)


def test_without_notify_socket_nothing_is_sent_and_nothing_fails(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "unused.sock"))
        notifier = Notifier.from_env()
        assert not notifier.enabled
        notifier.ready("就绪")
        notifier.status("正在同步")
        notifier.watchdog()
        notifier.stopping()
        assert notifier.send("READY=1") is False
        assert notifier.watchdog_interval() is None
        assert_nothing_pending(sock)


def test_each_message_arrives_as_one_exact_datagram(listener: socket.socket) -> None:
    notifier = Notifier.from_env()
    assert notifier.enabled

    notifier.ready()
    assert receive(listener) == "READY=1"
    notifier.status("正在与 140200 同步：已发送 3 个数据包")
    assert receive(listener) == "STATUS=正在与 140200 同步：已发送 3 个数据包"
    notifier.watchdog()
    assert receive(listener) == "WATCHDOG=1"
    notifier.stopping()
    assert receive(listener) == "STOPPING=1"
    assert_nothing_pending(listener)


def test_ready_with_status_and_multiline_status(listener: socket.socket) -> None:
    notifier = Notifier.from_env()
    notifier.ready("监听 127.0.0.1:8420")
    assert receive(listener) == "READY=1\nSTATUS=监听 127.0.0.1:8420"
    notifier.status("第一行\n第二行")
    assert receive(listener) == "STATUS=第一行 第二行"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux-only")
def test_abstract_namespace_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"xinbao-test-{os.getpid()}-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(TIMEOUT)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        notifier = Notifier.from_env()
        notifier.ready()
        assert receive(sock) == "READY=1"
        notifier.watchdog()
        assert receive(sock) == "WATCHDOG=1"


def test_missing_socket_path_is_logged_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "no-such.sock"))
    notifier = Notifier.from_env()
    with caplog.at_level(logging.WARNING, logger="xinbao.syncd"):
        notifier.ready("就绪")
        notifier.status("状态")
        notifier.watchdog()
        notifier.stopping()
        assert notifier.send("READY=1") is False
    assert len(caplog.records) == 5
    assert all(r.name == "xinbao.syncd" for r in caplog.records)


def test_unsupported_address_disables_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "relative/notify.sock")
    with caplog.at_level(logging.WARNING, logger="xinbao.syncd"):
        notifier = Notifier.from_env()
    assert not notifier.enabled
    assert "NOTIFY_SOCKET" in caplog.text
    notifier.ready()


def test_watchdog_interval_without_pid(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Notifier.from_env().watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert Notifier.from_env().watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_USEC", "1500")
    assert Notifier.from_env().watchdog_interval() == pytest.approx(0.0015)


def test_watchdog_interval_honours_watchdog_pid(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert Notifier.from_env().watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert Notifier.from_env().watchdog_interval() is None


@pytest.mark.parametrize("usec", ["", "0", "-5", "thirty"])
def test_watchdog_interval_ignores_bad_values(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch, usec: str
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", usec)
    assert Notifier.from_env().watchdog_interval() is None


def test_watchdog_interval_is_none_without_notify_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert Notifier.from_env().watchdog_interval() is None


def test_systemd_unit_is_type_notify_with_watchdog() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.read(UNIT, encoding="utf-8")
    service = parser["Service"]
    assert service["Type"] == "notify"
    assert "xinbao-syncd" in service["ExecStart"]
    assert " run" in service["ExecStart"]
    assert service.get("WatchdogSec", "").strip()
    assert service["NotifyAccess"] == "main"
    assert parser["Install"]["WantedBy"] == "multi-user.target"
