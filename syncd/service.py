"""``xinbao-syncd service``: the node's systemd unit, written in one step.

A unit that says ``ExecStart=/usr/bin/env xinbao-syncd`` finds nothing when xinbao lives in a
venv or a pipx install: systemd's PATH is not the operator's. ``service install`` therefore
writes a unit that names everything by absolute path, found from the program that runs it:

* the program: ``sys.argv[0]`` when it is ``xinbao-syncd`` (the console script that was started,
  kept as given, so a ``/usr/local/bin`` symlink into a venv survives a rebuilt venv), else the
  console script beside ``sys.executable`` (``python -m syncd`` from a venv), else the one on
  ``PATH``; the desk program ``xinbao`` beside it, by the same rules;
* the node home: ``--home``, else ``$XINBAO_HOME``, else the service account's default data dir
  (``--user`` given) or this account's; it must be initialised already (``init`` as the account);
* the service account: ``--user``, else the owner of the node home. The home, its top-level
  files and its keys must belong to it, and it must be able to reach and run the program (by the
  mode bits of every directory on the way), or the daemon could never start.

The unit is ``/etc/systemd/system/xinbao-syncd-<node id>.service`` (``--unit-dir`` elsewhere):
one plain unit per node home, named after the node, so a machine may carry several nodes (a
city office and its departments) and ``systemctl status xinbao-syncd-140212`` says which one. A
template (``xinbao-syncd@.service``) was not chosen: its instance name could only carry a node
id, while the home, the account and the writable paths differ per node and would need a drop-in
each. The unit runs ``<program> --home <home> run`` as ``Type=notify`` with a watchdog
(syncd/notify.py), sandboxed read-only but for the node home and the folders of ``syncd.toml``
that lie outside it (drop folders and folder links, each optional with ``-``); rerun
``service install`` after changing those. Its header names the SSH side: the account's
``~/.ssh/authorized_keys``, whose lines (written by ``xinbao-syncd user add … --key``) force
the desk program with ``ssh``.

The file is written atomically (temp file, fsync, rename); an existing file not written by this
command is never replaced or removed. Nothing calls ``systemctl`` unless asked (``--enable``,
``--disable``); otherwise the next commands are printed. Every refusal is one Chinese line.
"""

from __future__ import annotations

import argparse
import contextlib
import grp
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from schema.commandline import emit_json, resolve_home
from schema.error import reason
from schema.node import NodeHome
from syncd import config as syncconfig
from syncd.error import SyncError
from syncd.keys import KEY_DIR, PASSPHRASE_ENV, SIGNING_FILE, write_durably

PROGRAM = "xinbao-syncd"
DESK_PROGRAM = "xinbao"
UNIT_DIR = Path("/etc/systemd/system")
ENV_DIR = Path("/etc/xinbao")
WANTED_BY = "multi-user.target"
MARKER = "# Written by `xinbao-syncd service install`"
DEFAULT_ACCOUNT = "xinbao"
# PrivateTmp gives the daemon an empty /tmp of its own: a home there would vanish from its view
_PRIVATE_TMP = (Path("/tmp"), Path("/var/tmp"))
_NO_LOGIN_SHELLS = frozenset({"nologin", "false"})


class ServiceError(SyncError):
    """The unit cannot be written or removed as asked."""

    title = "服务安装错误"


@dataclass(frozen=True)
class ServiceSpec:
    """Everything a unit names, resolved to absolute paths and checked."""

    node_id: str
    node_name: str
    program: Path
    desk_program: Path
    home: Path
    user: str
    group: str
    account_home: Path
    writable: tuple[Path, ...] = ()
    private_tmp: bool = True
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def unit(self) -> str:
        """The unit's file name."""
        return unit_name(self.node_id)

    @property
    def authorized_keys(self) -> Path:
        """Where the staff's SSH keys go (written by ``xinbao-syncd user add … --key``)."""
        return self.account_home / ".ssh" / "authorized_keys"

    @property
    def env_file(self) -> Path:
        """The optional root-only file the unit reads variables from (the key passphrase)."""
        return ENV_DIR / f"{self.unit.removesuffix('.service')}.env"


def unit_name(node_id: str) -> str:
    """``xinbao-syncd-<node id>.service``."""
    return f"{PROGRAM}-{node_id}.service"


# --- finding what the unit names -----------------------------------------------------------


def resolve_program(
    name: str, argv0: str | None = None, executable: str | None = None
) -> Path | None:
    """The absolute path of the installed console script ``name``, or None.

    ``argv0`` when it is that script (as started: symlinks kept), else the script beside the
    running interpreter (a venv's ``bin``), else ``name`` on ``PATH``.
    """
    argv0 = sys.argv[0] if argv0 is None else argv0
    executable = sys.executable if executable is None else executable
    candidates: list[str] = []
    if argv0 and os.path.basename(argv0) == name:
        candidates.append(argv0 if os.sep in argv0 else shutil.which(argv0) or "")
    if executable:
        candidates.append(os.path.join(os.path.dirname(executable), name))
    candidates.append(shutil.which(name) or "")
    for candidate in candidates:
        if candidate and _is_program(Path(candidate)):
            return Path(os.path.abspath(candidate))
    return None


def _is_program(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _programs() -> tuple[Path, Path]:
    program = resolve_program(PROGRAM)
    if program is None:
        raise ServiceError(f"找不到已安装的 {PROGRAM} 程序：请先安装 xinbao（见 docs/operator.md）")
    desk = program.with_name(DESK_PROGRAM)
    if not _is_program(desk):
        found = resolve_program(DESK_PROGRAM)
        if found is None:
            raise ServiceError(f"找不到工作台程序 {DESK_PROGRAM}（应与 {program} 在同一目录）")
        desk = found
    return program, desk


def _account(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise ServiceError(
            f"服务账户 {name} 不存在：先创建（adduser --system --group --home /var/lib/xinbao "
            f"--shell /bin/sh {name}，见 docs/operator.md）"
        ) from None


def _owner(home: Path) -> pwd.struct_passwd:
    uid = home.stat().st_uid
    try:
        return pwd.getpwuid(uid)
    except KeyError:
        raise ServiceError(
            f"节点目录 {home} 的所有者 uid {uid} 没有账户：请用 --user 指定服务账户"
        ) from None


def _owner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _home_path(given: Path | None, account: pwd.struct_passwd | None) -> Path:
    """``--home``, ``$XINBAO_HOME``, else the account's default data dir, made absolute."""
    if given is None and not os.environ.get("XINBAO_HOME") and account is not None:
        path = Path(account.pw_dir) / ".local" / "share" / "xinbao"
    else:
        path = resolve_home(given).path
    return Path(os.path.abspath(path.expanduser()))


def _groups_of(account: pwd.struct_passwd) -> set[int]:
    return {account.pw_gid} | {g.gr_gid for g in grp.getgrall() if account.pw_name in g.gr_mem}


def _permits(mode: int, owner: int, group: int, uid: int, gids: set[int], bits: int) -> bool:
    """Whether ``bits`` (of r=4, w=2, x=1) are granted to ``uid`` by the mode bits alone."""
    if owner == uid:
        return mode >> 6 & bits == bits
    if group in gids:
        return mode >> 3 & bits == bits
    return mode & bits == bits


def blocked_at(path: Path, uid: int, gids: set[int]) -> Path | None:
    """The first directory on the way to ``path`` (or ``path`` itself, needing read and
    execute) that ``uid`` may not pass, or None; symlinks are followed as exec would."""
    if uid == 0:
        return None
    for target in dict.fromkeys((Path(os.path.abspath(path)), path.resolve())):
        steps = [(parent, 1) for parent in reversed(target.parents)] + [(target, 5)]
        for step, bits in steps:
            try:
                st = step.stat()
            except OSError:
                return step
            if not _permits(st.st_mode, st.st_uid, st.st_gid, uid, gids, bits):
                return step
    return None


def _interpreter(program: Path) -> Path | None:
    """The interpreter of a ``#!`` script (a console script names its venv's python)."""
    try:
        with program.open("rb") as fh:
            first = fh.readline(4096)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    return Path(words[0]) if words and words[0].startswith("/") else None


def _check_owned(home: Path, account: pwd.struct_passwd) -> None:
    """The home, its top-level entries and its keys belong to the account."""
    paths = [home]
    for folder in (home, home / KEY_DIR):
        with contextlib.suppress(OSError):
            paths.extend(sorted(folder.iterdir()))
    for path in paths:
        try:
            owner = path.lstat().st_uid
        except OSError:
            continue
        if owner != account.pw_uid:
            name = account.pw_name
            raise ServiceError(
                f"{path} 属于 {_owner_name(owner)}，不属于服务账户 {name}：节点须以该账户初始化"
                f"（sudo -u {name} {PROGRAM} --home {home} init …），或 chown -R {name}: {home}"
            )


_UNSAFE = frozenset(" \t\n\r\v\f\"'\\$")


def _check_path(path: Path, what: str) -> None:
    """Paths go into the unit unquoted: no whitespace, quotes, backslashes, ``$`` (a variable in
    ``ExecStart=``), control characters or undecodable bytes; ``%`` is escaped."""
    text = str(path)
    if any(c in _UNSAFE or ord(c) < 32 or ord(c) == 127 for c in text) or not text.isprintable():
        raise ServiceError(
            f"{what} {text!r} 含有空白、引号、反斜杠、$ 或控制字符，不能写入 systemd 单元"
        )


def _keys_encrypted(home: Path) -> bool:
    try:
        with (home / KEY_DIR / SIGNING_FILE).open("rb") as fh:
            return fh.read(64).startswith(b"-----BEGIN ENCRYPTED")
    except OSError:
        return False


def _outside(home: Path, paths: Iterable[Path]) -> tuple[Path, ...]:
    """The folders not inside the home, absolute and without repeats, in order."""
    kept: dict[Path, None] = {}
    for path in paths:
        absolute = Path(os.path.abspath(path))
        if absolute != home and not absolute.is_relative_to(home):
            kept[absolute] = None
    return tuple(kept)


def _in_private_tmp(path: Path) -> bool:
    return any(path == tmp or path.is_relative_to(tmp) for tmp in _PRIVATE_TMP)


def plan(home_arg: Path | None, user: str | None) -> ServiceSpec:
    """Resolve and check everything the unit of a node home names (raises ServiceError)."""
    given_account = _account(user) if user else None
    home = _home_path(home_arg, given_account)
    node_home = NodeHome(home)
    if not node_home.exists():
        name = user or DEFAULT_ACCOUNT
        raise ServiceError(
            f"{home} 不是节点目录：先以服务账户初始化节点（sudo -u {name} {PROGRAM} --home "
            f"{home} init --id … --name … --tier …，见 docs/operator.md）"
        )
    config = node_home.load()
    account = given_account or _owner(home)
    _check_owned(home, account)
    program, desk = _programs()
    settings = syncconfig.load(home)
    writable = _outside(
        home, [*settings.drop, *(k.folder for k in settings.links.values() if k.folder)]
    )
    _check_path(home, "节点目录")
    for path in (program, desk):
        _check_path(path, "程序路径")
    for path in writable:
        _check_path(path, "syncd.toml 中的目录")
    gids = _groups_of(account)
    interpreter = _interpreter(program)
    runs = [p for p in (program, interpreter, desk) if p is not None]
    for path in runs:
        where = blocked_at(path, account.pw_uid, gids)
        if where is not None:
            raise ServiceError(
                f"服务账户 {account.pw_name} 无法运行 {path}（{where} 对它不可访问）：请把 "
                f"xinbao 装到该账户可读的位置，如 /opt/xinbao（见 docs/operator.md）"
            )
    spec = ServiceSpec(
        node_id=config.id,
        node_name=config.name,
        program=program,
        desk_program=desk,
        home=home,
        user=account.pw_name,
        group=_group_name(account.pw_gid),
        account_home=Path(account.pw_dir),
        writable=writable,
        private_tmp=not any(_in_private_tmp(p) for p in (home, *writable, *runs)),
    )
    return _with_warnings(spec, account, _keys_encrypted(home))


def _with_warnings(spec: ServiceSpec, account: pwd.struct_passwd, encrypted: bool) -> ServiceSpec:
    notes: list[str] = []
    if account.pw_uid == 0:
        notes.append("服务将以 root 运行；建议使用专用服务账户（见 docs/operator.md）")
    if os.path.basename(account.pw_shell) in _NO_LOGIN_SHELLS:
        notes.append(
            f"服务账户 {spec.user} 的登录 shell 是 {account.pw_shell}，SSH 密钥的强制命令无法执行，"
            f"员工不能登录：usermod --shell /bin/sh {spec.user}"
        )
    if not spec.private_tmp:
        notes.append(
            "节点目录或程序在 /tmp 或 /var/tmp 下，可能被系统清理；服务因此未启用 PrivateTmp"
        )
    if encrypted and not spec.env_file.exists():
        notes.append(
            f"节点密钥受口令保护：请把 {PASSPHRASE_ENV}=… 写入 {spec.env_file}"
            f"（root 所有，权限 0600），否则服务无法启动"
        )
    return replace(spec, warnings=tuple(notes))


# --- the unit --------------------------------------------------------------------------------


def _esc(text: str) -> str:
    """A value for a unit setting: ``%`` would start a specifier."""
    return text.replace("%", "%%")


def _one_line(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text).strip()


def render(spec: ServiceSpec) -> str:
    """The unit file's text."""
    unit = spec.unit.removesuffix(".service")
    home = _esc(str(spec.home))
    exec_start = " ".join(_esc(w) for w in (str(spec.program), "--home", str(spec.home), "run"))
    writable = (
        '# Drop folders and folder links of syncd.toml outside the home ("-": the service\n'
        "# starts while removable media are not mounted).\n"
        + "".join(f"ReadWritePaths=-{_esc(str(p))}\n" for p in spec.writable)
        if spec.writable
        else "# No drop folder or folder link of syncd.toml lies outside the home.\n"
    )
    private_tmp = (
        "PrivateTmp=yes\n"
        if spec.private_tmp
        else "# PrivateTmp= is off: the node home, a folder or the program lies under /tmp.\n"
    )
    return f"""\
# {spec.unit}: the sync daemon of xinbao (信报) node {spec.node_id}.
{MARKER} for the node home
#   {spec.home}
# Run it again after moving the program or the home, or after adding a folder link or a drop
# folder outside the home. Local changes belong in a drop-in: systemctl edit {unit}
#
# People at the desk log in over SSH as {spec.user}, each with their own key in
#   {spec.authorized_keys}
# whose line (written by `xinbao-syncd user add NAME --role … --key '…'`) forces
#   {spec.desk_program} --home {spec.home} --as NAME --key FINGERPRINT ssh
# so the account's login shell must run commands (/bin/sh, not nologin). See docs/operator.md.
#
# Type=notify: the daemon (syncd/notify.py) sends READY=1 once it is listening, WATCHDOG=1
# every half WatchdogSec while its loop is alive (a hung daemon is killed and restarted), and
# STOPPING=1 when SIGTERM arrives, after which it exits within TimeoutStopSec.
# A key passphrase ({PASSPHRASE_ENV}, if init encrypted the keys) goes in
# {spec.env_file} (owned by root, mode 0600).

[Unit]
Description=xinbao (信报) sync daemon of node {_esc(spec.node_id)} {_esc(_one_line(spec.node_name))}
Wants=network-online.target
After=network-online.target

[Service]
Type=notify
ExecStart={exec_start}
Environment=XINBAO_HOME={home}
EnvironmentFile=-{_esc(str(spec.env_file))}
WorkingDirectory={home}
# Only the main process may send READY/STATUS/WATCHDOG/STOPPING.
NotifyAccess=main
WatchdogSec=30
Restart=on-failure
RestartSec=5
TimeoutStopSec=30
KillSignal=SIGTERM

User={_esc(spec.user)}
Group={_esc(spec.group)}
# Keys, store and spool are private to the node: new files are 0600, directories 0700.
UMask=0077

# --- Hardening (`systemd-analyze security {unit}` scores it) ---
# No setuid escalation, no capabilities (a listen port below 1024 would need
# AmbientCapabilities=CAP_NET_BIND_SERVICE in a drop-in).
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
# The file system is read-only but for the node home; /home, /root and /run/user are read-only
# too, so the account's ~/.ssh/authorized_keys is out of the daemon's reach.
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths={home}
{writable}{private_tmp}PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
# HTTP links need IPv4/IPv6; AF_UNIX for the notify socket and the journal.
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
# RemoveIPC= is left off: the desk sessions of this account (over SSH) share its IPC objects.
# MemoryDenyWriteExecute= is left off: libffi closures (cffi/ctypes callbacks) may need W+X pages.

[Install]
WantedBy={WANTED_BY}
"""


EXAMPLE = ServiceSpec(
    node_id="140212",
    node_name="新荣区人民政府办公室",
    program=Path("/usr/local/bin/xinbao-syncd"),
    desk_program=Path("/usr/local/bin/xinbao"),
    home=Path("/var/lib/xinbao/node"),
    user="xinbao",
    group="xinbao",
    account_home=Path("/var/lib/xinbao"),
    writable=(Path("/media/usb/to-140213"),),
)
EXAMPLE_HEADER = """\
# An example of what `xinbao-syncd service install` writes, here for node 140212 with xinbao in
# the venv /opt/xinbao linked from /usr/local/bin, the node home /var/lib/xinbao/node, the account
# xinbao and one folder link, as /etc/systemd/system/xinbao-syncd-140212.service (the paths of
# docs/operator.md). Do not copy this file: run the command, which names the paths of your
# machine and checks them. Regenerated by
#   .venv/bin/python -c 'import syncd.service as s; print(s.example(), end="")' \\
#     > packaging/xinbao-syncd.service
#
"""


def example() -> str:
    """The text of ``packaging/xinbao-syncd.service``."""
    return EXAMPLE_HEADER + render(EXAMPLE)


# --- writing and removing --------------------------------------------------------------------


def _ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def _home_of_unit(path: Path) -> Path | None:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    prefix = "Environment=XINBAO_HOME="
    found = next((line[len(prefix) :] for line in lines if line.startswith(prefix)), None)
    return Path(found.replace("%%", "%")) if found is not None else None


def _cannot_write(path: Path, exc: OSError) -> ServiceError:
    if isinstance(exc, PermissionError):
        return ServiceError(f"无法写入 {path}：权限不足（请以 root 运行，或用 --print 只输出单元）")
    return ServiceError(f"无法写入 {path}：{reason(exc)}")


def install(spec: ServiceSpec, unit_dir: Path = UNIT_DIR) -> tuple[Path, bool]:
    """Write the unit atomically; returns its path and whether its text changed."""
    path = unit_dir / spec.unit
    text = render(spec)
    if path.exists() or path.is_symlink():
        if not _ours(path):
            raise ServiceError(f"{path} 已存在且不是由 {PROGRAM} service install 写的：未覆盖")
        other = _home_of_unit(path)
        if other is not None and other != spec.home:
            raise ServiceError(
                f"{path} 属于节点目录 {other}：先卸载（{PROGRAM} service uninstall --home {other}）"
            )
        if path.read_text(encoding="utf-8") == text:
            return path, False
    if not unit_dir.is_dir():
        raise ServiceError(f"单元目录 {unit_dir} 不存在")
    try:
        write_durably(path, text.encode("utf-8"), mode=0o644)
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.with_name(path.name + ".tmp").unlink()
        raise _cannot_write(path, exc) from exc
    return path, True


def installed_unit(home: Path, unit_dir: Path = UNIT_DIR) -> Path | None:
    """The unit written for ``home`` in ``unit_dir``: by its node id, else by its home line."""
    node_home = NodeHome(home)
    if node_home.exists():
        path = unit_dir / unit_name(node_home.load().id)
        return path if path.exists() else None
    with contextlib.suppress(OSError):
        for path in sorted(unit_dir.glob(f"{PROGRAM}-*.service")):
            if _ours(path) and _home_of_unit(path) == home:
                return path
    return None


def enabled_links(path: Path) -> list[Path]:
    """The ``*.wants``/``*.requires`` symlinks that enable the unit in its directory."""
    found: list[Path] = []
    with contextlib.suppress(OSError):
        for folder in path.parent.iterdir():
            if folder.suffix in (".wants", ".requires") and folder.is_dir():
                link = folder / path.name
                if link.is_symlink() or link.exists():
                    found.append(link)
    return sorted(found)


def uninstall(path: Path) -> None:
    """Remove a unit this command wrote."""
    if not _ours(path):
        raise ServiceError(f"{path} 不是由 {PROGRAM} service install 写的：未删除")
    try:
        path.unlink()
    except PermissionError as exc:
        raise ServiceError(f"无法删除 {path}：权限不足（请以 root 运行）") from exc
    except OSError as exc:
        raise ServiceError(f"无法删除 {path}：{reason(exc)}") from exc


def systemctl(*args: str) -> None:
    """Run ``systemctl ARGS``; a failure is one line."""
    program = shutil.which("systemctl")
    shown = " ".join(("systemctl", *args))
    if program is None:
        raise ServiceError(f"找不到 systemctl：请手动执行 {shown}")
    try:
        done = subprocess.run(
            [program, *args], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        said = reason(exc) if isinstance(exc, OSError) else "超时"
        raise ServiceError(f"{shown} 未能执行：{said}") from exc
    if done.returncode != 0:
        why = next((line for line in done.stderr.splitlines() if line.strip()), "")
        raise ServiceError(f"{shown} 失败（退出码 {done.returncode}）：{why[:200]}")


# --- the command line ------------------------------------------------------------------------


def add_commands(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """``service install`` and ``service uninstall`` under ``commands`` (a subparsers action)."""
    service = commands.add_parser("service", parents=parents, help="systemd 服务：安装或卸载")
    cmds = service.add_subparsers(dest="service_command", required=True, metavar="命令")
    install_cmd = cmds.add_parser(
        "install", parents=parents, help=f"写入 systemd 单元 {PROGRAM}-<单位代码>.service"
    )
    install_cmd.add_argument("--user", help="服务账户（默认：节点目录的所有者）")
    install_cmd.add_argument(
        "--unit-dir", type=Path, default=UNIT_DIR, help=f"单元目录（默认 {UNIT_DIR}）"
    )
    how = install_cmd.add_mutually_exclusive_group()
    how.add_argument(
        "--print", "--dry-run", dest="print", action="store_true", help="只输出单元内容，不写入"
    )
    how.add_argument(
        "--enable", action="store_true", help="写入后执行 systemctl daemon-reload 与 enable --now"
    )
    remove = cmds.add_parser("uninstall", parents=parents, help="删除本节点的 systemd 单元")
    remove.add_argument(
        "--unit-dir", type=Path, default=UNIT_DIR, help=f"单元目录（默认 {UNIT_DIR}）"
    )
    remove.add_argument(
        "--disable",
        action="store_true",
        help="先执行 systemctl disable --now，删除后 daemon-reload",
    )


def command(args: argparse.Namespace) -> int:
    """Run ``service install`` or ``service uninstall``."""
    if args.service_command == "install":
        return _install(args)
    return _uninstall(args)


def _install(args: argparse.Namespace) -> int:
    spec = plan(args.home, args.user)
    unit = spec.unit.removesuffix(".service")
    steps = ["systemctl daemon-reload", f"systemctl enable --now {unit}"]
    notes = list(spec.warnings)
    legacy = args.unit_dir / f"{PROGRAM}.service"
    if legacy.exists():
        notes.append(
            f"{legacy} 也存在（旧的单元）：一个节点只能运行一个守护进程，"
            f"请先 systemctl disable --now {PROGRAM} 并删除它"
        )
    facts: dict[str, Any] = {
        "unit": spec.unit,
        "program": spec.program,
        "desk_program": spec.desk_program,
        "home": spec.home,
        "user": spec.user,
        "group": spec.group,
        "authorized_keys": spec.authorized_keys,
        "writable": list(spec.writable),
        "warnings": notes,
    }
    if args.print:
        _warn(notes)
        if args.json:
            emit_json({**facts, "text": render(spec)})
        else:
            sys.stdout.write(render(spec))
        return 0
    path, changed = install(spec, args.unit_dir)
    if args.enable:
        try:
            for step in steps:
                systemctl(*step.split()[1:])
        except ServiceError as exc:
            raise ServiceError(f"已写入 {path}，但{exc}") from exc
    _warn(notes)  # only once all went well: a refusal stays one line
    if args.json:
        emit_json({**facts, "path": path, "changed": changed, "enabled": args.enable})
        return 0
    done = "已写入" if changed else "未改变"
    print(f"{done} {path}（节点 {spec.node_id}，服务账户 {spec.user}，程序 {spec.program}）")
    if args.enable:
        print(f"已启用并启动 {unit}：systemctl status {unit}；journalctl -u {unit} -f")
    else:
        print("接下来以 root 执行：")
        for step in [*steps, f"systemctl status {unit}", f"journalctl -u {unit} -f"]:
            print(f"  {step}")
    print(
        f"员工的 SSH 密钥：sudo -u {spec.user} {spec.program} --home {spec.home} user add 姓名 "
        f"--role 信息员 --key 'ssh-ed25519 …'（写入 {spec.authorized_keys}）"
    )
    return 0


def _warn(notes: list[str]) -> None:
    for note in notes:
        print(f"{PROGRAM}: 注意：{note}", file=sys.stderr)


def _uninstall(args: argparse.Namespace) -> int:
    home = _home_path(args.home, None)
    path = installed_unit(home, args.unit_dir)
    if path is None:
        raise ServiceError(f"{args.unit_dir} 中没有为节点目录 {home} 安装的服务")
    unit = path.name.removesuffix(".service")
    links = enabled_links(path)
    if links and not args.disable:
        raise ServiceError(
            f"服务 {unit} 仍处于启用状态：先执行 systemctl disable --now {unit}，或加 --disable"
        )
    if args.disable:
        systemctl("disable", "--now", unit)
    uninstall(path)
    if args.disable:
        systemctl("daemon-reload")
    if args.json:
        emit_json({"unit": path.name, "path": path, "removed": True})
    elif args.disable:
        print(f"已停用并删除 {path}")
    else:
        print(f"已删除 {path}。若服务仍在运行，以 root 执行：")
        print(f"  systemctl stop {unit}")
        print("  systemctl daemon-reload")
    return 0
