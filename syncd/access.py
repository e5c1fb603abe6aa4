"""Staff keys: the service account's ``authorized_keys``, one forced-command line per key.

The node runs under one service account and staff never get a shell on it (the model of
gitolite and Gitea). Each person's SSH key is one line::

    command="/abs/xinbao --home /abs/home --as NAME --key SHA256:… ssh",restrict,pty

(one line in the file: ``command="…",restrict,pty ssh-ed25519 AAAA… xinbao:NAME``), so the
key alone says who acts (``xinbao ssh``, console/remote.py). ``restrict`` turns off
port, agent and X11 forwarding and ``~/.ssh/rc``; ``pty`` gives the console its terminal
back. Lines this module did not write (the operator's own keys, comments) are kept exactly as
they are; its own lines end with the comment ``xinbao:NAME``. The file is rewritten
atomically (temporary file, fsync, rename), 0600, in a 0700 ``.ssh``.

Where the file is: ``$XINBAO_AUTHORIZED_KEYS``, else ``.ssh/authorized_keys`` in the passwd
home of the account running ``xinbao-syncd`` (run it as the service account).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import pwd
import re
import shlex
import struct
from dataclasses import dataclass
from pathlib import Path

from syncd.error import SyncError
from syncd.keys import fsync_dir
from syncd.service import resolve_program

MARK = "xinbao:"
KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "sk-ssh-ed25519@openssh.com",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ecdsa-sha2-nistp256@openssh.com",
        "ssh-rsa",
    }
)
# a person's name goes into a shell command line and a key comment: letters (Chinese too),
# digits, dot, underscore and hyphen, not starting with a hyphen
_NAME = re.compile(r"[^\W][\w.-]{0,63}")


class AccessError(SyncError):
    """A key or a name that cannot go into ``authorized_keys``."""

    title = "登录密钥有误"


@dataclass(frozen=True)
class StaffKey:
    """One person's key as ``authorized_keys`` holds it."""

    name: str
    type: str
    blob: str  # base64, as in the public key line
    fingerprint: str  # SHA256:… as ssh-keygen -l shows it

    def line(self, program: Path, home: Path) -> str:
        """The forced-command line of this key."""
        command = shlex.join(
            [str(program), "--home", str(home), "--as", self.name, "--key", self.fingerprint, "ssh"]
        )
        escaped = command.replace("\\", "\\\\").replace('"', '\\"')
        return f'command="{escaped}",restrict,pty {self.type} {self.blob} {MARK}{self.name}'


def check_name(name: str) -> str:
    """``name`` if it may name a person in a key's forced command."""
    if not _NAME.fullmatch(name):
        raise AccessError(
            f"用户名“{name[:40]}”只能由字母、汉字、数字和 . _ - 组成（不超过 64 个字）"
        )
    return name


def parse_key(text: str, name: str) -> StaffKey:
    """A public key line (``ssh-ed25519 AAAA… comment``) for ``name``."""
    check_name(name)
    parts = text.strip().split()
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        kinds = "、".join(sorted(KEY_TYPES))
        raise AccessError(f"不是 SSH 公钥（应以 {kinds} 之一开头，如 ssh-ed25519 AAAA…）")
    kind, blob = parts[0], parts[1]
    try:
        raw = base64.b64decode(blob, validate=True)
        (size,) = struct.unpack(">I", raw[:4])
        inner = raw[4 : 4 + size].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError, ValueError) as exc:
        raise AccessError("SSH 公钥内容无法解析（是否复制完整？）") from exc
    if inner != kind or len(raw) < 4 + size + 16:
        raise AccessError("SSH 公钥内容与其类型不符")
    digest = base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")
    return StaffKey(name, kind, blob, f"SHA256:{digest}")


def keys_file() -> Path:
    """Where the service account's ``authorized_keys`` is."""
    given = os.environ.get("XINBAO_AUTHORIZED_KEYS")
    if given:
        return Path(given)
    # the account's own home, not $HOME (``sudo -u xinbao`` may keep the caller's)
    return Path(pwd.getpwuid(os.getuid()).pw_dir) / ".ssh" / "authorized_keys"


def desk_program() -> Path:
    """The absolute path of the installed ``xinbao`` (the one the service unit names)."""
    found = resolve_program("xinbao")
    if found is None:
        raise AccessError("找不到已安装的 xinbao 程序（请在安装 xinbao 的环境中运行）")
    return found


def staff_keys(path: Path | None = None) -> list[StaffKey]:
    """The keys this module wrote, in file order."""
    found = []
    for line in _lines(path or keys_file()):
        key = _ours(line)
        if key is not None:
            found.append(key)
    return found


def add_key(name: str, text: str, home: Path, path: Path | None = None) -> StaffKey:
    """Let ``name`` sign in with the public key ``text`` (a key already held is refused)."""
    key = parse_key(text, name)
    target = path or keys_file()
    lines = _lines(target)
    for line in lines:
        held = _ours(line)
        if held is not None and held.blob == key.blob:
            raise AccessError(f"此密钥（{key.fingerprint}）已登记给 {held.name}")
        if held is None and f" {key.blob}" in line:
            raise AccessError(f"此密钥（{key.fingerprint}）已在 authorized_keys 中用作他途")
    _write(target, [*lines, key.line(desk_program(), home.resolve())])
    return key


def remove_keys(name: str, fingerprint: str = "", path: Path | None = None) -> list[StaffKey]:
    """Take away ``name``'s keys (only the one with ``fingerprint`` when given); the removed."""
    target = path or keys_file()
    kept, gone = [], []
    for line in _lines(target):
        held = _ours(line)
        if held is not None and held.name == name and fingerprint in ("", held.fingerprint):
            gone.append(held)
        else:
            kept.append(line)
    if gone:
        _write(target, kept)
    return gone


def _ours(line: str) -> StaffKey | None:
    if not line.startswith('command="') or MARK not in line:
        return None
    comment = line.rsplit(" ", 1)[-1]
    if not comment.startswith(MARK):
        return None
    fields = line.rsplit(" ", 3)
    if len(fields) != 4:
        return None
    _, kind, blob, _ = fields
    try:
        return parse_key(f"{kind} {blob}", comment[len(MARK) :])
    except AccessError:
        return None


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text("utf-8").splitlines()
    except FileNotFoundError:
        return []


def _write(path: Path, lines: list[str]) -> None:
    folder = path.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = folder / f".{path.name}.{os.getpid()}.part"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("".join(f"{line}\n" for line in lines))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(folder)
