"""Backups of a node (issue 21, first part): a consistent snapshot taken while the daemon runs,
checked without restoring it, and restored into a new home.

A backup folder ``DIR`` holds snapshots and the attachments they share::

    DIR/attachments/AB/ABCD…            by content hash: a later snapshot adds only what is new
    DIR/20261207T030000Z/manifest.json  written last: a snapshot without one is incomplete
    DIR/20261207T030000Z/store.db       the store, by VACUUM INTO (online, consistent)
    DIR/20261207T030000Z/spool/state.db the seen-set, custody and receipts, likewise
    …/config.toml, syncd.toml           the node's settings
    …/keys/chain.pem, root.pem, issued/, known/   certificates
    …/keys/signing.pem, encryption.pem, hybrid.pem  private keys, encrypted under the backup
                                        passphrase (``XINBAO_BACKUP_PASSPHRASE``), never in clear
    …/spool/out/*.xbb                   bundles in this node's custody

The manifest lists every file with its SHA-256 and size, the attachments by hash, the node and
the time. ``verify`` checks all of it (and SQLite's own integrity check on the databases)
without writing anything; ``restore`` verifies first, then writes a new home. After a restore
the node must be resynced from its neighbours for what happened since the snapshot — that
part (issue 21's resync) is not built yet: ``restore`` says so and records the snapshot's
time in ``run/restored.json``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from schema.node import CONFIG_FILE, STORE_FILE, NodeHome
from syncd import resync
from syncd.error import SyncError
from syncd.keys import (
    ENCRYPTION_FILE,
    HYBRID_FILE,
    KEY_DIR,
    SIGNING_FILE,
    fsync_dir,
    load_keys,
    passphrase_from_env,
    save_keys,
    write_durably,
)

FORMAT = 1
MANIFEST = "manifest.json"
PASSPHRASE_ENV = "XINBAO_BACKUP_PASSPHRASE"
ATTACHMENTS = "attachments"
KEEP = 7  # snapshots kept by default (``--keep``)
LAST = "backup.json"  # in the home's run/: the last snapshot taken
PRIVATE = (SIGNING_FILE, ENCRYPTION_FILE, HYBRID_FILE)
# the spool's state first: a bundle applied between the two copies is then in the store and
# not in the seen-set, so it is applied again (idempotently) when resent — never the reverse,
# which would take it for a duplicate and lose it
_DATABASES = ("spool/state.db", STORE_FILE)
_NAMES = re.compile(
    r"(store\.db|config\.toml|syncd\.toml|spool/state\.db|keys/[a-z]+\.pem|"
    r"keys/(issued|known)/[0-9A-Za-z-]+\.pem|spool/out/[0-9a-f]{64}\.xbb)"
)
_SETTINGS = (CONFIG_FILE, "syncd.toml")
_CERTS = ("keys/chain.pem", "keys/root.pem")
_CERT_DIRS = ("keys/issued", "keys/known")


class BackupError(SyncError):
    title = "备份出错"


@dataclass(frozen=True)
class Snapshot:
    """A snapshot taken: where, and how many files and new attachments it wrote."""

    path: Path
    files: int
    attachments_added: int


def passphrase() -> bytes:
    value = os.environ.get(PASSPHRASE_ENV, "")
    if not value:
        raise BackupError(f"备份中的私钥须以口令加密：请设置环境变量 {PASSPHRASE_ENV}")
    return value.encode("utf-8")


def take(home: NodeHome, folder: Path, now: datetime, keep: int = KEEP) -> Snapshot:
    """A snapshot of ``home`` in ``folder`` (made if need be), the oldest beyond ``keep``
    removed. Safe while the daemon and desks write: the databases are copied by SQLite."""
    secret = passphrase()
    config = home.load()
    keys = load_keys(home.path, passphrase_from_env())
    folder.mkdir(parents=True, exist_ok=True)
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = folder / stamp
    partial = folder / f".{stamp}.part"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    files: dict[str, dict[str, Any]] = {}
    try:
        for name in _DATABASES:
            source = home.path / name
            if source.is_file():
                out = partial / name
                out.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True, timeout=30)
                try:
                    db.execute("VACUUM INTO ?", (str(out),))
                finally:
                    db.close()
                files[name] = _entry(out)
        names = [*_SETTINGS, *_CERTS]
        for sub in (*_CERT_DIRS, "spool/out"):
            names += [
                f"{sub}/{p.name}"
                for p in sorted((home.path / sub).glob("*"))
                if p.is_file() and not p.name.startswith(".")
            ]
        for name in names:
            source = home.path / name
            if source.is_file():
                out = partial / name
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, out)
                files[name] = _entry(out)
        protection = serialization.BestAvailableEncryption(secret)
        pkcs8 = (serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, protection)
        parts: list[tuple[str, list[Any]]] = [
            (SIGNING_FILE, [keys.signing]),
            (ENCRYPTION_FILE, [keys.encryption]),
        ]
        if keys.hybrid is not None:
            parts.append((HYBRID_FILE, [keys.hybrid.mlkem, keys.hybrid.x25519]))
        for name, private in parts:
            out = partial / KEY_DIR / name
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(b"".join(k.private_bytes(*pkcs8) for k in private))
            os.chmod(out, 0o600)
            files[f"{KEY_DIR}/{name}"] = _entry(out)
        shared = folder / ATTACHMENTS
        held, added = [], 0
        for path in sorted((home.attachments_path).glob("*/*")):
            if not path.is_file() or path.name.startswith("."):
                continue
            kept = shared / path.parent.name / path.name
            if not kept.is_file() or kept.stat().st_size != path.stat().st_size:
                kept.parent.mkdir(parents=True, exist_ok=True)
                temp = kept.with_name(f".{kept.name}.part")
                shutil.copyfile(path, temp)
                with open(temp, "rb") as fh:
                    os.fsync(fh.fileno())
                os.replace(temp, kept)  # never a half-copied file under its hash
                fsync_dir(kept.parent)
                added += 1
            held.append(path.name)
        manifest = {
            "format": FORMAT,
            "node": config.id,
            "created": now.astimezone(UTC).isoformat(),
            "files": files,
            "attachments": held,
        }
        manifest["mac"] = _mac(manifest, secret)
        _sync_tree(partial)
        write_durably(partial / MANIFEST, json.dumps(manifest, indent=1).encode())
        os.replace(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    for old in snapshots(folder)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    run = home.path / "run"  # what status and the 网络 tab show
    run.mkdir(exist_ok=True)
    note = {"snapshot": str(target), "at": now.astimezone(UTC).timestamp()}
    write_durably(run / LAST, json.dumps(note, ensure_ascii=False).encode())
    return Snapshot(target, len(files), added)


def last(home: NodeHome) -> dict[str, Any]:
    """The last backup taken of ``home`` (snapshot, at) and, after a restore, from which
    snapshot (restored); empty where none."""
    out: dict[str, Any] = {}
    for key, name in (("backup", LAST), ("restored", "restored.json")):
        try:
            found = json.loads((home.path / "run" / name).read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(found, dict):
            out[key] = found
    return out


def snapshots(folder: Path) -> list[Path]:
    """The complete snapshots in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and (p / MANIFEST).is_file())


def _mac(manifest: dict[str, Any], secret: bytes) -> str:
    """HMAC-SHA256 of the manifest (without its mac) under a key from the backup passphrase:
    a snapshot changed by someone without the passphrase (a root certificate swapped, a store
    replaced) is refused even where its hashes were made to match."""
    body = {k: v for k, v in manifest.items() if k != "mac"}
    key = hashlib.sha256(b"xinbao-backup-manifest\x00" + secret).digest()
    data = json.dumps(body, sort_keys=True, ensure_ascii=False).encode()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def verify(where: Path) -> tuple[Path, dict[str, Any]]:
    """Check a snapshot (``where``, or the newest in the backup folder ``where``) without
    restoring it: the manifest, every file's hash and size, every attachment, the databases'
    integrity, the private keys encrypted. The snapshot and its manifest; raises
    :class:`BackupError` naming every problem."""
    snapshot = where if (where / MANIFEST).is_file() else next(reversed(snapshots(where)), None)
    if snapshot is None:
        raise BackupError(f"{where} 中没有完整的备份（缺少 {MANIFEST}）")
    secret = passphrase()
    problems: list[str] = []
    try:
        manifest = json.loads((snapshot / MANIFEST).read_text("utf-8"))
        files = dict(manifest["files"])
        held = [str(h) for h in manifest["attachments"]]
        if manifest.get("format") != FORMAT:
            problems.append(f"不支持的备份格式 {manifest.get('format')}")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BackupError(f"备份清单 {snapshot / MANIFEST} 无法读取：{exc}") from exc
    if not hmac.compare_digest(str(manifest.get("mac", "")), _mac(manifest, secret)):
        raise BackupError("备份清单的校验码不符：备份被改动过，或备份口令不对")
    strange = [n for n in files if not _NAMES.fullmatch(str(n))]
    strange += [h for h in held if not re.fullmatch(r"[0-9a-f]{64}", h)]
    if strange:
        raise BackupError(f"备份清单中有不应有的文件名：{strange[0]!r}")
    for name in (STORE_FILE, CONFIG_FILE, f"{KEY_DIR}/{SIGNING_FILE}"):
        if name not in files:
            problems.append(f"备份缺少 {name}")
    for name, expected in sorted(files.items()):
        path = snapshot / name
        if ".." in Path(name).parts or not path.is_file():
            problems.append(f"{name} 缺失")
            continue
        if _entry(path) != expected:
            problems.append(f"{name} 已损坏（校验值或大小与清单不符）")
    for name in _DATABASES:
        if name in files and (snapshot / name).is_file():
            problems += _integrity(snapshot / name, name)
    for name in PRIVATE:
        path = snapshot / KEY_DIR / name
        if path.is_file() and b"ENCRYPTED PRIVATE KEY" not in path.read_bytes():
            problems.append(f"私钥 {name} 未加密")
    shared = snapshot.parent / ATTACHMENTS
    for digest in held:
        path = shared / str(digest)[:2] / str(digest)
        if not path.is_file():
            problems.append(f"附件 {str(digest)[:12]}… 缺失")
        elif _entry(path)["sha256"] != digest:
            problems.append(f"附件 {str(digest)[:12]}… 已损坏")
    if problems:
        raise BackupError("；".join(problems))
    return snapshot, manifest


def restore(where: Path, home: NodeHome, ask: bool = True) -> dict[str, Any]:
    """Verify a snapshot, then write it as a new node home (which must not exist yet); the
    private keys are re-encrypted under this machine's key passphrase, if one is set; then
    (with ``ask``; not for a rehearsal) ask the neighbours to resync (queued for the daemon).
    The manifest, with ``resync``: the neighbours asked."""
    if home.exists() or (home.path.exists() and any(home.path.iterdir())):
        raise BackupError(f"{home.path} 不是空目录：恢复只写入新的节点目录")
    secret = passphrase()
    snapshot, manifest = verify(where)
    home.path.mkdir(parents=True, exist_ok=True)
    os.chmod(home.path, 0o700)
    for name in manifest["files"]:
        if Path(name).parts[0] == KEY_DIR and Path(name).name in PRIVATE:
            continue
        out = home.path / name
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(snapshot / name, out)
    (home.path / KEY_DIR).chmod(0o700)
    keys = _backup_keys(snapshot, secret)
    save_keys(home.path, keys, passphrase_from_env())
    shared = snapshot.parent / ATTACHMENTS
    for digest in manifest["attachments"]:
        out = home.attachments_path / digest[:2] / digest
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared / digest[:2] / digest, out)
    run = home.path / "run"
    run.mkdir(exist_ok=True)
    note = {"snapshot": snapshot.name, "created": manifest["created"]}
    write_durably(run / "restored.json", json.dumps(note).encode())
    # the node's last backup is the one it came from (status: not "never")
    taken = datetime.fromisoformat(manifest["created"])
    last = {"snapshot": str(snapshot), "at": taken.timestamp()}
    write_durably(run / LAST, json.dumps(last, ensure_ascii=False).encode())
    # what happened after the backup comes back from the neighbours (syncd/resync.py)
    asked = resync.ask(home, taken, datetime.now(UTC)) if ask else []
    _sync_tree(home.path)
    return {**manifest, "resync": asked}


def _backup_keys(snapshot: Path, secret: bytes) -> Any:
    """The node's keys from a snapshot, decrypted with the backup passphrase."""
    try:
        return load_keys(snapshot, secret)
    except SyncError as exc:
        raise BackupError(f"备份中的私钥无法解开（备份口令错误？）：{exc.message}") from exc


def _entry(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return {"sha256": digest.hexdigest(), "size": path.stat().st_size}


def _integrity(path: Path, name: str) -> list[str]:
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)
        try:
            found = [r[0] for r in db.execute("PRAGMA integrity_check")]
        finally:
            db.close()
    except sqlite3.Error as exc:
        return [f"{name} 不是可用的数据库：{exc}"]
    return [] if found == ["ok"] else [f"{name} 数据库完整性检查未通过：{found[0]}"]


def _sync_tree(root: Path) -> None:
    """fsync every file and folder under ``root`` (a snapshot is durable before it is named)."""
    for folder, _, names in os.walk(root):
        for name in names:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
