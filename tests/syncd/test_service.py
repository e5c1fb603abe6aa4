"""``xinbao-syncd service``: a systemd unit naming the installed program by its absolute path.

The units written here are checked by ``systemd-analyze verify`` (from the Debian package
``systemd``), which fails when ``ExecStart=`` names no executable file. Without the tool these
tests fail: the unit is the point of the command, and a skipped check proves nothing.
"""

from __future__ import annotations

import configparser
import dataclasses
import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from schema import commandline
from schema.node import NodeConfig, NodeHome
from schema.vocabulary import Tier
from syncd import cli, service
from syncd import config as syncconfig
from syncd.home import init_node
from tests.cli_helpers import Result, me, run

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "packaging" / "xinbao-syncd.service"
SCRIPT = Path(sys.executable).parent / "xinbao-syncd"
UNIT = "xinbao-syncd-140212.service"


def make_node(home: Path) -> Path:
    """An initialised county node home, owned by this account."""
    config = NodeConfig(id="140212", name="新荣区人民政府办公室", tier=Tier.COUNTY, parent="140200")
    init_node(NodeHome(home), config, me())
    return home


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return make_node(tmp_path / "node")


@pytest.fixture
def units(tmp_path: Path) -> Path:
    folder = tmp_path / "units"
    folder.mkdir()
    return folder


def module(*args: str) -> Result:
    """``python -m syncd ARGS`` (sys.argv[0] is not the console script there)."""
    return run("xinbao-syncd", *args, user=me())


@pytest.fixture
def syncd(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """``xinbao-syncd ARGS`` in this process (as under ``python -m``: the script is found
    beside the interpreter), with its exit code and output."""

    def call(*args: str) -> Result:
        try:
            code = commandline.run("xinbao-syncd", cli.handle, list(args))
        except SystemExit as exc:  # usage errors
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return call


def script(*args: str) -> Result:
    """The installed console script itself, as an operator starts it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XINBAO_")}
    done = subprocess.run(
        [str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    return Result(done.returncode, done.stdout, done.stderr)


def parse(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.read(path, encoding="utf-8")
    return parser


def settings(path: Path, key: str) -> list[str]:
    """Every value of ``key`` in [Service] (configparser keeps only the last one)."""
    prefix = f"{key}="
    lines = path.read_text("utf-8").splitlines()
    return [line[len(prefix) :] for line in lines if line.startswith(prefix)]


def verify(path: Path) -> None:
    """``systemd-analyze verify`` accepts the unit: exit 0, no line about it."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.fail(
            "systemd-analyze is missing: install the Debian package systemd "
            "(apt-get install --no-install-recommends systemd); make test needs it"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYSTEMD_")}
    done = subprocess.run(
        [tool, "verify", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=path.parent,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    about = [line for line in output.splitlines() if path.name in line or str(path) in line]
    assert about == [], output


def one_error_line(done: Result, *words: str) -> None:
    assert done.code == 1, (done.out, done.err)
    lines = done.err.strip().splitlines()
    assert len(lines) == 1, done.err
    assert lines[0].startswith("xinbao-syncd: 错误：")
    for word in words:
        assert word in lines[0], lines[0]


def test_install_writes_a_unit_with_absolute_paths_that_systemd_accepts(
    home: Path, units: Path
) -> None:
    done = script(
        "service", "install", "--home", str(home), "--user", me(), "--unit-dir", str(units)
    )
    assert done.code == 0, done.err
    path = units / UNIT
    assert str(path) in done.out
    assert "systemctl daemon-reload" in done.out
    assert "systemctl enable --now xinbao-syncd-140212" in done.out
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)

    unit = parse(path)
    words = unit["Service"]["ExecStart"].split()
    program = Path(words[0])
    assert program.is_absolute()
    assert program == SCRIPT  # the console script that ran, not a PATH lookup at start
    assert program.is_file() and os.access(program, os.X_OK)
    assert words[1:] == ["--home", str(home), "run"]
    assert unit["Service"]["Type"] == "notify"
    assert unit["Service"]["NotifyAccess"] == "main"
    assert unit["Service"]["WatchdogSec"].strip()
    assert unit["Service"]["Restart"] == "on-failure"
    assert unit["Service"]["Environment"] == f"XINBAO_HOME={home}"
    assert unit["Service"]["WorkingDirectory"] == str(home)
    assert settings(path, "ReadWritePaths") == [str(home)]
    account = pwd.getpwnam(me())
    assert unit["Service"]["User"] == me()
    assert unit["Service"]["Group"] == grp.getgrgid(account.pw_gid).gr_name
    assert unit["Service"]["UMask"] == "0077"
    assert unit["Service"]["NoNewPrivileges"] == "yes"
    assert unit["Service"]["ProtectSystem"] == "strict"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    # the SSH side: the account's authorized_keys and the desk program, both absolute
    text = path.read_text("utf-8")
    assert f"{account.pw_dir}/.ssh/authorized_keys" in text
    desk = SCRIPT.with_name("xinbao")
    assert desk.is_file() and os.access(desk, os.X_OK)
    assert f"{desk} --home {home} --as NAME --key FINGERPRINT ssh" in text
    verify(path)


def test_the_module_form_finds_the_console_script_beside_the_interpreter(
    home: Path, units: Path
) -> None:
    done = module("service", "install", "--home", str(home), "--unit-dir", str(units), "--json")
    assert done.code == 0, done.err
    facts = done.json()
    assert facts["program"] == str(SCRIPT)
    assert facts["desk_program"] == str(SCRIPT.with_name("xinbao"))
    assert facts["user"] == me()  # the owner of the node home by default
    assert facts["home"] == str(home)
    assert facts["path"] == str(units / UNIT)
    assert facts["changed"] is True and facts["enabled"] is False
    verify(units / UNIT)
    again = module("service", "install", "--home", str(home), "--unit-dir", str(units), "--json")
    assert again.json()["changed"] is False


def test_print_writes_nothing_and_shows_what_install_would_write(
    syncd: Callable[..., Result], home: Path, units: Path
) -> None:
    shown = syncd("service", "install", "--home", str(home), "--unit-dir", str(units), "--print")
    assert shown.code == 0, shown.err
    assert list(units.iterdir()) == []
    assert shown.out.startswith(f"# {UNIT}:")
    dry = syncd("service", "install", "--home", str(home), "--unit-dir", str(units), "--dry-run")
    assert dry.out == shown.out
    assert syncd("service", "install", "--home", str(home), "--unit-dir", str(units)).code == 0
    assert (units / UNIT).read_text("utf-8") == shown.out


def test_print_and_enable_do_not_go_together(syncd: Callable[..., Result], home: Path) -> None:
    done = syncd("service", "install", "--home", str(home), "--print", "--enable")
    assert done.code == 2
    assert "参数错误" in done.err


def test_folders_outside_the_home_are_writable_and_escapes_pass_systemd(
    syncd: Callable[..., Result], tmp_path: Path, units: Path
) -> None:
    home = make_node(tmp_path / "节点%1")
    usb = tmp_path / "usb" / "to-140200"
    link = syncconfig.Link(peer="140200", folder=usb)
    syncconfig.save_link(home, link)
    done = syncd("service", "install", "--home", str(home), "--unit-dir", str(units))
    assert done.code == 0, done.err
    path = units / UNIT
    escaped = str(home).replace("%", "%%")
    assert settings(path, "ReadWritePaths") == [escaped, f"-{usb}"]
    assert settings(path, "ExecStart") == [f"{SCRIPT} --home {escaped} run"]
    # PrivateTmp would hide a home under /tmp from the daemon
    assert settings(path, "PrivateTmp") == []
    assert "注意" in done.err and "PrivateTmp" in done.err
    verify(path)


def test_a_home_outside_tmp_gets_a_private_tmp_and_systemd_accepts_it(units: Path) -> None:
    # the shipped example's unit, with a program that exists here (verify looks for it)
    spec = dataclasses.replace(
        service.EXAMPLE, program=SCRIPT, desk_program=SCRIPT.with_name("xinbao")
    )
    text = service.render(spec)
    assert "\nPrivateTmp=yes\n" in text
    path = units / UNIT
    path.write_text(text, "utf-8")
    assert settings(path, "ReadWritePaths") == ["/var/lib/xinbao/node", "-/media/usb/to-140213"]
    verify(path)


def test_the_shipped_example_is_what_install_writes() -> None:
    assert SHIPPED.read_text("utf-8") == service.example(), (
        "packaging/xinbao-syncd.service is generated: run the command in its header"
    )


def test_an_uninitialised_home_is_refused(
    syncd: Callable[..., Result], tmp_path: Path, units: Path
) -> None:
    done = syncd("service", "install", "--home", str(tmp_path / "none"), "--unit-dir", str(units))
    one_error_line(done, "不是节点目录", "init")
    assert list(units.iterdir()) == []


def test_an_unknown_account_is_refused(
    syncd: Callable[..., Result], home: Path, units: Path
) -> None:
    done = syncd(
        "service", "install", "--home", str(home), "--user", "no-such-xb", "--unit-dir", str(units)
    )
    one_error_line(done, "服务账户 no-such-xb 不存在", "adduser")


def test_a_home_owned_by_another_account_is_refused(
    syncd: Callable[..., Result], home: Path, units: Path
) -> None:
    other = next(p for p in pwd.getpwall() if p.pw_uid != os.getuid())
    done = syncd(
        "service", "install", "--home", str(home), "--user", other.pw_name, "--unit-dir", str(units)
    )
    one_error_line(done, f"不属于服务账户 {other.pw_name}", "chown")
    assert list(units.iterdir()) == []


def test_a_path_with_a_space_is_refused(
    syncd: Callable[..., Result], tmp_path: Path, units: Path
) -> None:
    home = make_node(tmp_path / "a b")
    done = syncd("service", "install", "--home", str(home), "--unit-dir", str(units))
    one_error_line(done, "空白")


def test_a_unit_not_written_by_install_is_never_replaced(
    syncd: Callable[..., Result], home: Path, units: Path
) -> None:
    (units / UNIT).write_text("[Service]\nExecStart=/bin/true\n", "utf-8")
    done = syncd("service", "install", "--home", str(home), "--unit-dir", str(units))
    one_error_line(done, "不是由 xinbao-syncd service install 写的")
    assert (units / UNIT).read_text("utf-8") == "[Service]\nExecStart=/bin/true\n"


def test_a_unit_of_another_home_with_the_same_node_id_is_refused(
    syncd: Callable[..., Result], tmp_path: Path, units: Path
) -> None:
    first, second = make_node(tmp_path / "one"), make_node(tmp_path / "two")
    assert syncd("service", "install", "--home", str(first), "--unit-dir", str(units)).code == 0
    done = syncd("service", "install", "--home", str(second), "--unit-dir", str(units))
    one_error_line(done, f"属于节点目录 {first}", "uninstall")


def test_uninstall_removes_the_unit_and_refuses_while_enabled(
    syncd: Callable[..., Result], home: Path, units: Path
) -> None:
    assert syncd("service", "install", "--home", str(home), "--unit-dir", str(units)).code == 0
    wants = units / "multi-user.target.wants"
    wants.mkdir()
    (wants / UNIT).symlink_to(units / UNIT)
    done = syncd("service", "uninstall", "--home", str(home), "--unit-dir", str(units))
    one_error_line(done, "仍处于启用状态", "systemctl disable --now xinbao-syncd-140212")
    assert (units / UNIT).exists()

    (wants / UNIT).unlink()
    done = syncd("service", "uninstall", "--home", str(home), "--unit-dir", str(units))
    assert done.code == 0, done.err
    assert not (units / UNIT).exists()
    assert "systemctl daemon-reload" in done.out
    again = syncd("service", "uninstall", "--home", str(home), "--unit-dir", str(units))
    one_error_line(again, "没有为节点目录")


def test_uninstall_finds_the_unit_of_a_home_already_deleted(
    syncd: Callable[..., Result], home: Path, units: Path
) -> None:
    assert syncd("service", "install", "--home", str(home), "--unit-dir", str(units)).code == 0
    shutil.rmtree(home)
    done = syncd("service", "uninstall", "--home", str(home), "--unit-dir", str(units), "--json")
    assert done.code == 0, done.err
    assert json.loads(done.out)["unit"] == UNIT
    assert not (units / UNIT).exists()


def test_the_program_is_found_as_started_then_beside_python_then_on_path(tmp_path: Path) -> None:
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    program = bin_dir / "xinbao-syncd"
    program.write_text("#!/bin/sh\n", "utf-8")
    program.chmod(0o755)
    link = tmp_path / "xinbao-syncd"
    link.symlink_to(program)
    # as started, a symlink kept (a rebuilt venv behind /usr/local/bin stays valid)
    assert service.resolve_program("xinbao-syncd", str(link), "/nowhere/python") == link
    # `python -m syncd`: the console script beside the interpreter
    found = service.resolve_program("xinbao-syncd", "/x/syncd/__main__.py", str(bin_dir / "python"))
    assert found == program
    # not executable there: PATH decides; found nowhere: None
    program.chmod(0o644)
    found = service.resolve_program("xinbao-syncd", "/x/syncd/__main__.py", str(bin_dir / "python"))
    assert found != program
    assert service.resolve_program("no-such-program-xb", "", str(bin_dir / "python")) is None


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder every account may enter on the way to (pytest's own tmp folders are 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="xinbao-service-", dir="/var/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def test_a_directory_the_account_cannot_enter_blocks_the_program(open_dir: Path) -> None:
    tmp_path = open_dir
    private = tmp_path / "private"
    (private / "bin").mkdir(parents=True)
    program = private / "bin" / "xinbao-syncd"
    program.write_text("#!/bin/sh\n", "utf-8")
    program.chmod(0o755)
    for folder in (tmp_path, private, private / "bin"):
        folder.chmod(0o755)
    stranger = os.getuid() + 54321
    assert service.blocked_at(program, stranger, {stranger}) is None
    private.chmod(0o700)
    try:
        assert service.blocked_at(program, stranger, {stranger}) == private
        assert service.blocked_at(program, os.getuid(), set()) is None
        assert service.blocked_at(program, 0, set()) is None
    finally:
        private.chmod(0o755)


@pytest.fixture
def fake_systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``systemctl`` first on PATH that records its arguments (exit code from a file)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "systemctl.calls"
    tool = bin_dir / "systemctl"
    tool.write_text(
        f'#!/bin/sh\necho "$*" >> {calls}\n'
        f'[ -f {calls}.fail ] && {{ echo "Failed to connect to bus" >&2; exit 1; }}\nexit 0\n',
        "utf-8",
    )
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return calls


def test_enable_and_disable_drive_systemctl(
    syncd: Callable[..., Result], home: Path, units: Path, fake_systemctl: Path
) -> None:
    done = syncd("service", "install", "--home", str(home), "--unit-dir", str(units), "--enable")
    assert done.code == 0, done.err
    assert fake_systemctl.read_text("utf-8").splitlines() == [
        "daemon-reload",
        "enable --now xinbao-syncd-140212",
    ]
    fake_systemctl.unlink()
    done = syncd("service", "uninstall", "--home", str(home), "--unit-dir", str(units), "--disable")
    assert done.code == 0, done.err
    assert fake_systemctl.read_text("utf-8").splitlines() == [
        "disable --now xinbao-syncd-140212",
        "daemon-reload",
    ]
    assert not (units / UNIT).exists()


def test_a_failing_systemctl_is_one_line(
    syncd: Callable[..., Result], home: Path, units: Path, fake_systemctl: Path
) -> None:
    fake_systemctl.with_name(fake_systemctl.name + ".fail").touch()
    done = syncd("service", "install", "--home", str(home), "--unit-dir", str(units), "--enable")
    one_error_line(done, "已写入", "systemctl daemon-reload 失败", "Failed to connect to bus")
