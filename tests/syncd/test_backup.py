"""Backups (syncd/backup.py; issue 21's first part): a snapshot taken while bundles are being
applied opens and verifies; a damaged one is refused by ``backup verify`` and by ``restore``,
naming what is wrong; a restore writes a working home with the keys re-encrypted; snapshots
share their attachments and only N are kept."""

from __future__ import annotations

import io
import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schema.node import NodeHome
from syncd import backup, enrolment
from syncd.bundle import new_header, seal
from syncd.keys import load_keys
from syncd.receive import Receiver
from tests.bench.bench_bundle import NOW, network, small_records
from tests.cli_helpers import run

SECRET = "备份口令-测试"
ENV = {backup.PASSPHRASE_ENV: SECRET}


@pytest.fixture(autouse=True)
def passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(backup.PASSPHRASE_ENV, SECRET)


def bundles(city: NodeHome, folder: Path, count: int) -> list[Path]:
    keys, chain = load_keys(city.path, None), enrolment.load_chain(city) or []
    public = enrolment.encryption_keys(city)
    folder.mkdir()
    out = []
    for i in range(count):
        path = folder / f"{i}.xbb"
        data = io.BytesIO()
        seal(
            new_header("140200", ["140000"], NOW), small_records(i, keys), keys, chain, public, data
        )
        path.write_bytes(data.getvalue())
        out.append(path)
    return out


def items(store: Path) -> int:
    db = sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM item").fetchone()[0])
    finally:
        db.close()


def test_a_snapshot_taken_while_bundles_apply_verifies_and_restores(tmp_path: Path) -> None:
    province, city = network(tmp_path / "net")
    attachment = province.attachments_path / "ab" / ("ab" + "0" * 62)
    files = bundles(city, tmp_path / "in", 400)
    done = threading.Event()

    def apply() -> None:
        with Receiver(province) as receiver:
            for start in range(0, len(files), 50):
                receiver.receive(files[start : start + 50], NOW)
        done.set()

    worker = threading.Thread(target=apply)
    worker.start()
    try:
        taken = backup.take(province, tmp_path / "backups", datetime.now(UTC))
    finally:
        worker.join(60)
    assert done.is_set()
    snapshot, manifest = backup.verify(tmp_path / "backups")
    assert snapshot == taken.path and manifest["node"] == "140000"
    held = items(snapshot / "store.db")
    assert 0 <= held <= 400
    # the private keys are in it only encrypted
    for name in ("signing.pem", "encryption.pem", "hybrid.pem"):
        assert b"ENCRYPTED PRIVATE KEY" in (snapshot / "keys" / name).read_bytes()
    assert not attachment.exists()
    new = NodeHome(tmp_path / "restored")
    backup.restore(tmp_path / "backups", new)
    assert new.load().id == "140000" and items(new.store_path) == held
    assert load_keys(new.path, None).signing_public == load_keys(province.path, None).signing_public
    assert (new.path / "run" / "restored.json").is_file()
    status = run("xinbao-syncd", "--json", "status", home=new.path)
    assert status.code == 0 and status.json()["node"] == "140000"


def test_snapshots_share_attachments_and_only_n_are_kept(tmp_path: Path) -> None:
    province, _ = network(tmp_path / "net")
    blob = province.attachments_path / "cd" / ("cd" + "1" * 62)
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"x")
    folder = tmp_path / "backups"
    first = backup.take(province, folder, NOW, keep=2)
    assert first.attachments_added == 1
    second = backup.take(province, folder, NOW + timedelta(days=1), keep=2)
    assert second.attachments_added == 0  # already there
    backup.take(province, folder, NOW + timedelta(days=2), keep=2)
    assert [p.name for p in backup.snapshots(folder)] == [
        "20261122T080000Z",
        "20261123T080000Z",
    ]


def test_a_damaged_backup_is_refused_by_verify_and_restore_naming_what_is_wrong(
    tmp_path: Path,
) -> None:
    province, _ = network(tmp_path / "net")
    blob = province.attachments_path / "ef" / ("ef" + "2" * 62)
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"y")
    folder = tmp_path / "backups"
    snapshot = backup.take(province, folder, NOW).path
    store = snapshot / "store.db"
    data = bytearray(store.read_bytes())
    data[len(data) // 2] ^= 0xFF
    store.write_bytes(bytes(data))
    (folder / "attachments" / "ef" / blob.name).write_bytes(b"z")
    for check in (
        lambda: backup.verify(folder),
        lambda: backup.restore(folder, NodeHome(tmp_path / "new")),
    ):
        with pytest.raises(backup.BackupError) as refused:
            check()
        assert "store.db 已损坏" in refused.value.message
        assert "附件 ef2222222222… 已损坏" in refused.value.message
    assert not (tmp_path / "new" / "config.toml").exists()  # nothing restored
    # by the command line too
    answer = run("xinbao-syncd", "backup", "verify", str(folder), home=province.path, env_extra=ENV)
    assert answer.code != 0 and "store.db 已损坏" in answer.err
    # no manifest: not a backup
    (snapshot / "manifest.json").unlink()
    with pytest.raises(backup.BackupError, match="没有完整的备份"):
        backup.verify(folder)


def test_a_backup_needs_its_passphrase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    province, _ = network(tmp_path / "net")
    monkeypatch.delenv(backup.PASSPHRASE_ENV)
    with pytest.raises(backup.BackupError, match=backup.PASSPHRASE_ENV):
        backup.take(province, tmp_path / "b", NOW)
    monkeypatch.setenv(backup.PASSPHRASE_ENV, SECRET)
    backup.take(province, tmp_path / "b", NOW)
    monkeypatch.setenv(backup.PASSPHRASE_ENV, "另一个口令")
    with pytest.raises(backup.BackupError, match="备份口令不对"):
        backup.restore(tmp_path / "b", NodeHome(tmp_path / "new"))


def test_backup_and_restore_from_the_command_line(tmp_path: Path) -> None:
    province, _ = network(tmp_path / "net")
    env_dir = tmp_path / "backups"
    made = run("xinbao-syncd", "backup", str(env_dir), home=province.path, env_extra=ENV)
    assert made.code == 0 and "已备份到" in made.out, made.err
    checked = run(
        "xinbao-syncd", "backup", "verify", str(env_dir), home=province.path, env_extra=ENV
    )
    assert checked.code == 0 and "备份完好" in checked.out
    restored = run("xinbao-syncd", "restore", str(env_dir), home=tmp_path / "new", env_extra=ENV)
    assert restored.code == 0 and "已恢复节点 140000" in restored.out, restored.err
    assert "已请求相邻节点重新同步：140200" in restored.out
    again = run("xinbao-syncd", "restore", str(env_dir), home=tmp_path / "new", env_extra=ENV)
    assert again.code != 0 and "不是空目录" in again.err
    # a rehearsal asks nothing of the neighbours: nothing queued, no resync shown
    args = ("restore", str(env_dir), "--no-resync")
    drill = run("xinbao-syncd", *args, home=tmp_path / "drill", env_extra=ENV)
    assert drill.code == 0 and "恢复演练" in drill.out, drill.err
    status = run("xinbao-syncd", "--json", "status", home=tmp_path / "drill").json()
    assert status["resync"] == {} and status["restored"]
    for home, asked in ((tmp_path / "drill", 0), (tmp_path / "new", 1)):
        db = sqlite3.connect(home / "store.db")
        try:
            row = db.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'resync'").fetchone()
        finally:
            db.close()
        assert row[0] == asked


def test_status_tells_the_last_backup_and_a_restore(tmp_path: Path) -> None:
    province, _ = network(tmp_path / "net")
    before = run("xinbao-syncd", "status", home=province.path)
    assert before.code == 0 and "最近备份 （从未）" in before.out
    backup.take(province, tmp_path / "b", NOW)
    status = run("xinbao-syncd", "--json", "status", home=province.path).json()
    assert status["backup"]["snapshot"].endswith("20261121T080000Z")
    done = backup.restore(tmp_path / "b", NodeHome(tmp_path / "new"))
    assert done["resync"] == ["140200"]  # the province's one child is asked to resync
    again = run("xinbao-syncd", "status", home=tmp_path / "new")
    assert "由备份" in again.out and "重新同步 进行中：已答复 0/1" in again.out
    assert "最近备份 11-21 16:00" in again.out  # the backup it came from, not "never"
    assert "140200　等待答复" in again.out


def test_a_manifest_changed_without_the_passphrase_is_refused(tmp_path: Path) -> None:
    """Hashes made to match are not enough: the manifest carries a MAC under the passphrase,
    and it may name only the files a snapshot holds."""
    province, _ = network(tmp_path / "net")
    folder = tmp_path / "backups"
    snapshot = backup.take(province, folder, NOW).path
    manifest_path = snapshot / "manifest.json"
    original = json.loads(manifest_path.read_text("utf-8"))
    # a root certificate swapped, its hash in the manifest made to match
    root = snapshot / "keys" / "root.pem"
    root.write_bytes(root.read_bytes().replace(b"A", b"B", 1))
    changed = {**original, "files": {**original["files"], "keys/root.pem": backup._entry(root)}}
    manifest_path.write_text(json.dumps(changed), "utf-8")
    with pytest.raises(backup.BackupError, match="校验码不符"):
        backup.verify(folder)
    with pytest.raises(backup.BackupError, match="校验码不符"):
        backup.restore(folder, NodeHome(tmp_path / "new"))
    # a name outside what a snapshot holds, even with a valid MAC
    for name in ("/etc/passwd", "../store.db", "keys/../../x"):
        odd = {**original, "files": {**original["files"], name: {"sha256": "0", "size": 0}}}
        odd["mac"] = backup._mac(odd, SECRET.encode())
        manifest_path.write_text(json.dumps(odd), "utf-8")
        with pytest.raises(backup.BackupError, match="不应有的文件名"):
            backup.verify(folder)


def test_an_operator_stops_waiting_for_a_neighbour_taken_out(tmp_path: Path) -> None:
    """``xinbao-syncd resync``: the progress; ``--forget PEER`` ends the wait for one
    neighbour (a county taken out of the network), and the resync completes."""
    province, _ = network(tmp_path / "net")
    backup.take(province, tmp_path / "b", NOW)
    backup.restore(tmp_path / "b", NodeHome(tmp_path / "new"))
    shown = run("xinbao-syncd", "resync", home=tmp_path / "new")
    assert shown.code == 0 and "重新同步 进行中：已答复 0/1" in shown.out
    unknown = run("xinbao-syncd", "resync", "--forget", "140999", home=tmp_path / "new")
    assert unknown.code != 0 and "没有向 140999 请求过重新同步" in unknown.err
    done = run("xinbao-syncd", "resync", "--forget", "140200", home=tmp_path / "new")
    assert done.code == 0 and "重新同步 已完成：已答复 1/1" in done.out
    assert "140200　不再等待（操作员）" in done.out
    state = run("xinbao-syncd", "--json", "resync", home=tmp_path / "new").json()
    assert state["running"] is False and state["peers"][0]["forgotten"] is True
    never = run("xinbao-syncd", "resync", home=province.path)
    assert never.code == 0 and "没有进行中的重新同步" in never.out
