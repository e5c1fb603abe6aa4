"""Who acts at the desk (console/remote.py, schema/commandline.py): the OS account locally, the
person of the key over SSH (``xinbao --as NAME ssh``), never what the environment says."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import Result, me, run

ITEM = """\
title = "新荣区完成冬季供暖设施巡查"
category = "工作动态"
author = "李四"
body = "本周完成冬季供暖设施巡查，排查隐患十二处。"
"""


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("remote") / "140212"
    args = ["init", "--id", "140212", "--name", "新荣区", "--tier", "county", "--parent", "140200"]
    assert run("xinbao-syncd", *args, home=home).code == 0
    for name, role in (("xiaoli", "信息员"), ("wang", "签发人")):
        assert run("xinbao-syncd", "user", "add", name, "--role", role, home=home).code == 0
    yield home


def over_ssh(home: Path, person: str, command: str, stdin: bytes = b"") -> Result:
    """``command`` as sshd hands it to the forced command of ``person``'s key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XINBAO_", "SSH_"))}
    env["SSH_ORIGINAL_COMMAND"] = command
    argv = ["--home", str(home), "--as", person, "--key", f"SHA256:key-of-{person}", "ssh"]
    done = subprocess.run(
        [sys.executable, "-m", "console", *argv],
        env=env,
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return Result(done.returncode, done.stdout.decode(), done.stderr.decode())


def submitted(home: Path, person: str) -> str:
    done = over_ssh(home, person, "--json submit -", ITEM.encode())
    assert done.code == 0, done.err
    return str(done.json()["id"])


def test_the_environment_does_not_say_who_acts(county: Path, tmp_path: Path) -> None:
    path = tmp_path / "item.toml"
    path.write_text(ITEM, "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("XINBAO_")}
    env.update(XINBAO_HOME=str(county), USER="wang", LOGNAME="wang")
    done = subprocess.run(
        [sys.executable, "-m", "console", "--json", "submit", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    item_id = __import__("json").loads(done.stdout)["id"]
    shown = run("xinbao", "--json", "show", item_id, home=county).json()
    assert {a["actor"] for a in shown["audit"]} == {me()}
    # --as belongs to the forced command alone
    forged = run("xinbao", "--as", "wang", "signoff", item_id, home=county)
    assert forged.code == 2 and "--as" in forged.err


def test_a_person_acts_as_the_key_says_and_the_audit_names_the_key(county: Path) -> None:
    item_id = submitted(county, "xiaoli")
    refused = over_ssh(county, "xiaoli", f"signoff {item_id}")
    assert refused.code == 1 and "签发人" in refused.err
    assert over_ssh(county, "wang", f"signoff {item_id}").code == 0
    shown = over_ssh(county, "wang", f"--json show {item_id}").json()
    signed = [a for a in shown["audit"] if a["to_state"] == "已报送"]
    assert [(a["actor"], a["key"]) for a in signed] == [("wang", "SHA256:key-of-wang")]
    assert shown["item"]["signer"] == "wang"
    assert over_ssh(county, "nobody", "list").code == 1


@pytest.mark.parametrize(
    ("command", "said"),
    [
        ("bash", "不是工作台命令"),
        ("xinbao-syncd status", "不是工作台命令"),
        ("sh -c 'id'", "不是工作台命令"),
        ("demo --no-console", "不是工作台命令"),
        ("list; rm -rf /", "不是工作台命令"),
        ("$(id)", "不是工作台命令"),
        ("`id`", "不是工作台命令"),
        ("list 'unclosed", "无法解析"),
        ("--home /tmp list", "--home"),
        ("--as wang signoff x", "--as"),
        ("list --key=SHA256:x", "--key"),
        ("submit /etc/passwd", "标准输入"),
        ("bulletin --period 2026-11 --rules /etc/x.toml", "计分办法"),
        ("bulletin --period 2026-11 --out /tmp/x.md", "标准输出"),
        ("issue export 每日要情/1 --out /root/x.md", "标准输出"),
        ("--verbose list", "--json"),
    ],
)
def test_nothing_but_one_desk_command_runs_over_ssh(county: Path, command: str, said: str) -> None:
    done = over_ssh(county, "wang", command)
    assert done.code == 2, (done.code, done.err)
    (line,) = done.err.strip().splitlines()
    assert said in line and "Traceback" not in done.err


def test_an_item_over_ssh_may_not_attach_the_nodes_own_files(county: Path) -> None:
    secret = county / "keys" / "signing.pem"
    assert secret.is_file()
    item = ITEM + f'attachments = ["{secret}"]\n'
    done = over_ssh(county, "xiaoli", "submit -", item.encode())
    assert done.code == 1 and "附件" in done.err
    assert (
        not any((county / "attachments").rglob("*")) if (county / "attachments").exists() else True
    )


def test_output_goes_to_standard_output(county: Path) -> None:
    done = over_ssh(county, "wang", "bulletin --period 2026-11 --out -")
    assert done.code == 0, done.err
    assert "通报" in done.out


def test_only_the_service_account_may_act_for_a_person(county: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    args = ["init", "--id", "140213", "--name", "平城区", "--tier", "county", "--parent", "140200"]
    assert run("xinbao-syncd", *args, home=other).code == 0
    os.chown(other, 65534, 65534)  # the node home of another account
    try:
        done = over_ssh(other, "wang", "list")
    finally:
        os.chown(other, os.getuid(), os.getgid())
    assert done.code == 1 and "服务账户" in done.err


def test_console_exports_over_ssh_stay_in_the_persons_folder(tmp_path: Path) -> None:
    from console import remote

    root = tmp_path / "node" / "exports" / "wang"
    assert remote.inside(root, "") == f"{root.resolve()}/"
    assert remote.inside(root, "通报.md") == str(root.resolve() / "通报.md")
    assert remote.inside(root, str(root / "a" / "b.docx")) == str(root.resolve() / "a" / "b.docx")
    for escape in ("/root/.ssh/authorized_keys", "../../keys/signing.pem", "../wang2/x.md", "/"):
        with pytest.raises(remote.Refused):
            remote.inside(root, escape)
