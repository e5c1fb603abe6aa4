"""Staff keys in the service account's authorized_keys (syncd/access.py)."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from syncd import access
from tests.cli_helpers import run


def keygen(folder: Path, name: str, kind: str = "ed25519") -> str:
    """A fresh public key line (made by ssh-keygen, as a person would)."""
    path = folder / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"{name}@desk", "-f", str(path)],
        check=True,
        timeout=30,
    )
    return (folder / f"{name}.pub").read_text().strip()


def fingerprint(line: str, folder: Path) -> str:
    pub = folder / "fp.pub"
    pub.write_text(line + "\n")
    out = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(pub)], capture_output=True, text=True, check=True
    ).stdout
    return out.split()[1]


def test_a_key_line_forces_the_desk_as_its_person(tmp_path: Path) -> None:
    keys = tmp_path / "ssh" / "authorized_keys"
    keys.parent.mkdir()
    keys.write_text("# the operator's own key\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOwn op\n")
    public = keygen(tmp_path, "wang")
    key = access.add_key("王某某", public, tmp_path / "node home", keys)
    assert key.fingerprint == fingerprint(public, tmp_path)  # as ssh-keygen -l says
    lines = keys.read_text().splitlines()
    assert lines[:2] == ["# the operator's own key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOwn op"]
    rest = lines[2]
    assert rest.startswith('command="')
    # the forced command, as the account's shell will split it
    command = rest[len('command="') : rest.index('",restrict,pty ')]
    words = shlex.split(command.replace('\\"', '"'))
    assert words[1:] == [
        "--home",
        str((tmp_path / "node home").resolve()),
        "--as",
        "王某某",
        "--key",
        key.fingerprint,
        "ssh",
    ]
    assert Path(words[0]).is_absolute() and Path(words[0]).name == "xinbao"
    assert rest.endswith(f",restrict,pty {public.split()[0]} {public.split()[1]} xinbao:王某某")
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert [(k.name, k.fingerprint) for k in access.staff_keys(keys)] == [
        ("王某某", key.fingerprint)
    ]


def test_keys_are_added_and_removed_alone(tmp_path: Path) -> None:
    keys = tmp_path / ".ssh" / "authorized_keys"
    home = tmp_path / "home"
    first, second = keygen(tmp_path, "a"), keygen(tmp_path, "b", "ecdsa")
    a = access.add_key("xiaoli", first, home, keys)
    b = access.add_key("xiaoli", second, home, keys)
    assert stat.S_IMODE(keys.parent.stat().st_mode) == 0o700
    with pytest.raises(access.AccessError):
        access.add_key("wang", first, home, keys)  # one key, one person
    assert access.remove_keys("xiaoli", a.fingerprint, keys) == [a]
    assert [k.fingerprint for k in access.staff_keys(keys)] == [b.fingerprint]
    assert access.remove_keys("xiaoli", path=keys) == [b]
    assert access.staff_keys(keys) == []


@pytest.mark.parametrize(
    "name", ["", "-rf", "a b", 'a"b', "a'b", "a;b", "$(id)", "a\nb", "../x", "x" * 65]
)
def test_a_name_that_could_break_the_line_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(access.AccessError):
        access.add_key(name, keygen(tmp_path, "k"), tmp_path, tmp_path / "keys")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ssh-ed25519",
        "ssh-dss AAAAB3NzaC1kc3MAAACBAP",
        "ssh-ed25519 not-base64!",
        "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ",  # an RSA blob claiming ed25519
        'command="bash" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOwn',
    ],
)
def test_what_is_not_a_public_key_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(access.AccessError):
        access.parse_key(text, "wang")


def test_staff_are_managed_from_the_command_line(tmp_path: Path) -> None:

    home = tmp_path / "140212"
    args = ["init", "--id", "140212", "--name", "新荣区", "--tier", "county", "--parent", "140200"]
    assert run("xinbao-syncd", *args, home=home).code == 0
    keys = tmp_path / "authorized_keys"
    env = {"XINBAO_AUTHORIZED_KEYS": str(keys)}
    public = keygen(tmp_path, "wang")
    added = cli(home, env, "user", "add", "wang", "--role", "签发人", "--key", public)
    assert added.returncode == 0, added.stderr
    (line,) = keys.read_text().splitlines()
    assert "--as wang" in line and line.endswith("xinbao:wang")
    listed = cli(home, env, "--json", "user", "key", "list")
    assert json.loads(listed.stdout) == [
        {"name": "wang", "type": "ssh-ed25519", "fingerprint": fingerprint(public, tmp_path)}
    ]
    assert json.loads(cli(home, env, "--json", "user", "list").stdout)["wang"] == ["签发人"]
    second = keygen(tmp_path, "wang2")
    assert cli(home, env, "user", "key", "add", "wang", second).returncode == 0
    assert len(keys.read_text().splitlines()) == 2
    bad = cli(home, env, "user", "add", "li", "--role", "信息员", "--key", "ssh-ed25519 x")
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
    assert "li" not in (home / "config.toml").read_text()  # a bad key changes nothing
    assert cli(home, env, "user", "remove", "wang").returncode == 0
    assert keys.read_text() == ""


def cli(home: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("XINBAO_")}
    full.update(env, XINBAO_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "syncd", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
