"""Staff sign in over a real OpenSSH sshd (127.0.0.1, an ephemeral port, a host key and a
config made here) with their own keys; the key says who they are (DESIGN.md §2).

sshd and ssh come from the project's test set-up (``make test`` installs openssh-server,
openssh-client and tmux when missing); without them these tests fail, they never skip.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli_helpers import run

SSHD = Path("/usr/sbin/sshd")
ITEM = """\
title = "新荣区完成冬季供暖设施巡查"
category = "工作动态"
author = "李四"
body = "本周完成冬季供暖设施巡查，排查隐患十二处。"
"""
WAIT = 20.0


@dataclass
class Login:
    """A running sshd and the keys of the node's staff."""

    folder: Path
    port: int
    home: Path
    keys: dict[str, Path]  # person → private key file

    def ssh(
        self, person: str, *command: str, stdin: bytes = b"", options: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[bytes]:
        """``ssh`` as ``person`` (their key) to the service account, asking ``command``."""
        argv = [*self.base(self.keys[person]), *options, "--", *command]
        return subprocess.run(argv, input=stdin, capture_output=True, timeout=60, check=False)

    def base(self, key: Path) -> list[str]:
        return [
            shutil.which("ssh") or "ssh",
            "-F",
            "/dev/null",
            "-i",
            str(key),
            "-p",
            str(self.port),
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            f"UserKnownHostsFile={self.folder / 'known_hosts'}",
            "-o",
            "LogLevel=ERROR",
            f"{account()}@127.0.0.1",
        ]


def account() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def keygen(path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
        timeout=30,
    )
    return path.with_suffix(".pub").read_text().strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def login(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Login]:
    assert SSHD.is_file() and shutil.which("ssh"), "make test installs openssh-server/-client"
    folder = tmp_path_factory.mktemp("sshd")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    home = folder / "node"
    args = ["init", "--id", "140212", "--name", "新荣区", "--tier", "county", "--parent", "140200"]
    assert run("xinbao-syncd", *args, home=home).code == 0
    authorized = folder / "authorized_keys"
    env = {**os.environ, "XINBAO_HOME": str(home), "XINBAO_AUTHORIZED_KEYS": str(authorized)}
    keys: dict[str, Path] = {}
    for person, role in (("xiaoli", "信息员"), ("wang", "签发人"), ("stranger", "")):
        keys[person] = folder / f"id_{person}"
        public = keygen(keys[person])
        if role:
            add = ["user", "add", person, "--role", role, "--key", public]
            done = subprocess.run(
                [str(Path(sys.executable).parent / "xinbao-syncd"), *add],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, done.stderr
    host = folder / "host_key"
    keygen(host)
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host}",
                f"AuthorizedKeysFile {authorized}",
                f"PidFile {folder / 'sshd.pid'}",
                "StrictModes no",  # the test's folders are not the account's home
                "UsePAM no",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "AllowTcpForwarding yes",  # on for the server: each key's `restrict` turns it off
                "PermitUserEnvironment no",
                "LogLevel VERBOSE",
                "",
            ]
        )
    )
    log = open(folder / "sshd.log", "wb")  # noqa: SIM115 — closed at teardown
    sshd = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stderr=log)
    made = Login(folder, port, home, keys)
    try:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            assert sshd.poll() is None, (folder / "sshd.log").read_text()
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            raise AssertionError("sshd did not start")
        yield made
    finally:
        sshd.terminate()
        try:
            sshd.wait(10)
        except subprocess.TimeoutExpired:
            sshd.kill()
            sshd.wait(5)
        log.close()


def one_line(done: subprocess.CompletedProcess[bytes]) -> str:
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr.decode(), lines
    return lines[0]


def test_an_officer_submits_and_may_not_sign_off(login: Login) -> None:
    done = login.ssh("xiaoli", "--json", "submit", "-", stdin=ITEM.encode())
    assert done.returncode == 0, done.stderr.decode()
    item_id = json.loads(done.stdout)["id"]
    refused = login.ssh("xiaoli", "signoff", item_id)
    assert refused.returncode == 1 and "签发人" in one_line(refused)
    # the environment a client sends changes nothing (sshd takes none; the key says who)
    tricked = login.ssh("xiaoli", "signoff", item_id, options=("-o", "SetEnv=USER=wang"))
    assert tricked.returncode == 1
    signed = login.ssh("wang", "signoff", item_id)
    assert signed.returncode == 0, signed.stderr.decode()
    shown = json.loads(login.ssh("wang", "--json", "show", item_id).stdout)
    (entry,) = [a for a in shown["audit"] if a["to_state"] == "已报送"]
    assert entry["actor"] == "wang" and entry["key"].startswith("SHA256:")
    assert shown["item"]["signer"] == "wang"


def test_an_unknown_key_is_refused(login: Login) -> None:
    done = login.ssh("stranger", "list")
    assert done.returncode == 255 and b"Permission denied" in done.stderr


@pytest.mark.parametrize(
    "command",
    [
        ("bash",),
        ("bash", "-i"),
        ("xinbao-syncd", "status"),
        ("list;", "id"),
        ("list", "&&", "id"),
        ("$(id)",),
        ("--as", "wang", "list"),
        ("--home", "/", "list"),
        ("submit", "/etc/passwd"),
    ],
)
def test_nothing_but_a_desk_command_runs(login: Login, command: tuple[str, ...]) -> None:
    done = login.ssh("wang", *command)
    assert done.returncode == 2, (done.returncode, done.stderr.decode())
    one_line(done)


def test_forwarding_is_refused(login: Login) -> None:
    done = login.ssh(
        "wang",
        "list",
        options=("-o", "ExitOnForwardFailure=yes", "-R", f"0:127.0.0.1:{login.port}"),
    )
    assert done.returncode == 255, done.stderr.decode()


def test_the_console_opens_over_a_pty_and_names_the_person(login: Login) -> None:
    tmux = shutil.which("tmux")
    assert tmux, "make test installs tmux"
    session = f"xinbao-ssh-{os.getpid()}"
    argv = [*login.base(login.keys["wang"]), "-t"]
    subprocess.run(
        [tmux, "-L", session, "new-session", "-d", "-s", session, "-x", "100", "-y", "30", *argv],
        check=True,
        timeout=30,
    )
    try:
        deadline, screen = time.monotonic() + WAIT, ""
        while time.monotonic() < deadline:
            screen = subprocess.run(
                [tmux, "-L", session, "capture-pane", "-p", "-t", session],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout
            if "wang" in screen and "收件" in screen:
                break
            time.sleep(0.3)
        assert "wang" in screen and "收件" in screen, screen
        subprocess.run([tmux, "-L", session, "send-keys", "-t", session, "C-q"], timeout=10)
    finally:
        subprocess.run([tmux, "-L", session, "kill-server"], timeout=10, check=False)
