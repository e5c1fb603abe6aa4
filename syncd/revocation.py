"""Revocation: a notice signed by the issuer of a certificate, travelling down the tree.

After a node has accepted a notice, bundles from the revoked node are refused. A notice is
accepted only if its signer's chain verifies to the pinned root and the signer is this node or
one of its ancestors (who issued the revoked certificate is checked by its issuer at ``revoke``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from schema import outbox
from schema.node import NodeHome
from schema.record import Record
from schema.store import Store
from schema.vocabulary import Classification
from syncd.certificate import cert_identity, chain_from_pem, chain_to_pem, verify_chain
from syncd.enrolment import ISSUED_DIR, load_chain
from syncd.error import TrustError
from syncd.keys import KEY_DIR, load_keys, passphrase_from_env
from syncd.spool import Spool

KIND = "revocation"
PRIORITY = 9  # as urgent as 特急: a compromised node must be cut off first


def _canonical(notice: dict[str, Any]) -> bytes:
    return json.dumps(notice, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def children(home: NodeHome) -> list[str]:
    """Ids of the nodes this node issued certificates to."""
    folder = home.path / KEY_DIR / ISSUED_DIR
    return sorted(p.stem for p in folder.glob("*.pem")) if folder.is_dir() else []


def revoke(home: NodeHome, node_id: str, reason: str, now: datetime) -> Record:
    """Revoke the certificate this node issued to ``node_id`` and queue the notice downward."""
    config = home.load()
    issued = home.path / KEY_DIR / ISSUED_DIR / f"{node_id}.pem"
    if not issued.is_file():
        raise TrustError(f"本节点没有为 {node_id} 签发过证书，不能吊销")
    cert = chain_from_pem(issued.read_bytes())[0]
    chain = load_chain(home)
    assert chain is not None  # a node that issued a certificate is enrolled
    keys = load_keys(home.path, passphrase_from_env())
    notice = {
        "node": node_id,
        "serial": format(cert.serial_number, "x"),
        "issuer": config.id,
        "at": now.isoformat(),
        "reason": reason,
    }
    record = Record(
        id=f"revocation:{node_id}:{notice['serial']}",
        kind=KIND,
        version=1,
        origin=config.id,
        payload={
            "notice": notice,
            "signature": keys.signing.sign(_canonical(notice)).hex(),
            "chain": chain_to_pem(chain).decode("ascii"),
        },
    )
    _remember(home, notice, now)
    store = Store.open(home.store_path)
    try:
        _pass_down(home, record, now, store)
    finally:
        store.close()
    return record


def accept(
    home: NodeHome, record: dict[str, Any], root: x509.Certificate, now: datetime, store: Store
) -> str:
    """Check a received notice, remember it, and queue it for this node's children."""
    try:
        payload = record["payload"]
        notice = payload["notice"]
        chain = chain_from_pem(payload["chain"].encode("ascii"))
        signature = bytes.fromhex(payload["signature"])
        node_id, issuer_id = str(notice["node"]), str(notice["issuer"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TrustError("吊销通知格式不符") from exc
    issuer = verify_chain(chain, root, now)
    if issuer.id != issuer_id:
        raise TrustError("吊销通知的签发节点与证书不符")
    if not _may_revoke(home, node_id, issuer_id):
        raise TrustError(f"节点 {issuer_id} 不是 {node_id} 的上级，不能吊销其证书")
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(issuer.signing_public).verify(
            signature, _canonical(notice)
        )
    except InvalidSignature as exc:
        raise TrustError("吊销通知签名无效") from exc
    _remember(home, notice, now)
    # passed on as this node's own record (records are signed by whoever makes them); the
    # notice inside keeps the issuer's signature, which is what every node below checks
    _pass_down(home, _as_record(record, home.load().id), now, store)
    return node_id


def _may_revoke(home: NodeHome, node_id: str, issuer_id: str) -> bool:
    # Notices come down the tree: the issuer must be this node or one of its ancestors, and
    # nobody may cut off this node or an ancestor.
    line = [cert_identity(c).id for c in load_chain(home) or []]
    return issuer_id in line and node_id not in line


def revoked(home: NodeHome) -> frozenset[str]:
    """Ids of the nodes whose certificates this node knows to be revoked."""
    spool = Spool(home.path)
    try:
        return revoked_in(spool)
    finally:
        spool.close()


def revoked_in(spool: Spool) -> frozenset[str]:
    """:func:`revoked`, read through a spool that is already open."""
    _table(spool)
    return frozenset(r[0] for r in spool.db.execute("SELECT node FROM revoked"))


def _table(spool: Spool) -> None:
    spool.db.execute(
        "CREATE TABLE IF NOT EXISTS revoked (node TEXT NOT NULL, serial TEXT NOT NULL, "
        "issuer TEXT NOT NULL, at TEXT NOT NULL, notice TEXT NOT NULL, "
        "PRIMARY KEY (node, serial))"
    )


def _remember(home: NodeHome, notice: dict[str, Any], now: datetime) -> None:
    spool = Spool(home.path)
    try:
        _table(spool)
        spool.db.execute(
            "INSERT OR IGNORE INTO revoked(node, serial, issuer, at, notice) VALUES (?,?,?,?,?)",
            (
                notice["node"],
                notice["serial"],
                notice["issuer"],
                now.isoformat(),
                json.dumps(notice, ensure_ascii=False),
            ),
        )
    finally:
        spool.close()


def _pass_down(home: NodeHome, record: Record, now: datetime, store: Store) -> None:
    targets = tuple(c for c in children(home) if c != record.payload["notice"]["node"])
    if targets:
        outbox.enqueue(
            store,
            record,
            targets,
            priority=PRIORITY,
            classification=Classification.INTERNAL,
            at=now,
        )


def _as_record(raw: dict[str, Any], me: str) -> Record:
    payload = raw["payload"]
    return Record(
        id=str(raw["id"]),
        kind=KIND,
        version=int(raw["version"]),
        origin=me,
        payload={k: payload[k] for k in ("notice", "signature", "chain")},
    )
