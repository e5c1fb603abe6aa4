"""Enrolment over an air gap: a child's request, its parent's certificate, the child's install.

On disk (in ``home/keys``): ``chain.pem`` — this node's certificate then its issuers' up to the
root — ``root.pem`` — the pinned root of the deployment — ``issued/ID.pem``, the
certificates this node issued to its children, and ``known/ID.pem``, certificates of nodes
further down, which travel upward as records so an upper tier can seal to its whole
subtree. A node with no parent is its own root and has ``chain.pem`` and ``root.pem`` from
``init``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cryptography import x509

from schema import outbox
from schema.network import add_units, find_unit
from schema.node import NodeConfig, NodeHome
from schema.record import Record, Unit
from schema.store import Store
from schema.vocabulary import Classification
from syncd.certificate import (
    NodeIdentity,
    cert_identity,
    chain_from_pem,
    chain_to_pem,
    fingerprint,
    issue,
    make_request,
    read_request,
    self_signed_root,
    verify_chain,
)
from syncd.error import TrustError
from syncd.keys import KEY_DIR, NodeKeys, load_keys, passphrase_from_env, write_durably

CHAIN_FILE = "chain.pem"
ROOT_FILE = "root.pem"
ISSUED_DIR = "issued"  # certificates this node issued to its children
KNOWN_DIR = "known"  # certificates of nodes further down, learnt from certificate records
CERT_KIND = "certificate"


def identity(config: NodeConfig, keys: NodeKeys) -> NodeIdentity:
    """This node's identity as its config and keys state it."""
    return NodeIdentity(
        id=config.id,
        name=config.name,
        tier=config.tier,
        parent=config.parent,
        signing_public=keys.signing_public,
        encryption_public=keys.encryption_public,
        hybrid_public=keys.hybrid_public,
    )


def make_root(home: NodeHome, config: NodeConfig, keys: NodeKeys, now: datetime) -> None:
    """Make this parentless node the root of its deployment."""
    root = self_signed_root(identity(config, keys), keys, now)
    _save(home, [root], root)


def request(home: NodeHome) -> bytes:
    """This node's enrolment request (PEM), for its parent."""
    config = home.load()
    if not config.parent:
        raise TrustError("本节点没有上级，是本网络的根节点，无需申请入网")
    keys = load_keys(home.path, passphrase_from_env())
    return make_request(identity(config, keys), keys)


def issue_for(home: NodeHome, request_pem: bytes, now: datetime) -> tuple[NodeIdentity, bytes]:
    """Certify a direct child's request; returns who it is and the certificate chain (PEM)."""
    chain = load_chain(home)
    if chain is None:
        raise TrustError("本节点尚未入网（没有证书），不能为下级签发证书")
    child = read_request(request_pem)
    keys = load_keys(home.path, passphrase_from_env())
    issued = issue(child, keys, chain, now)
    folder = home.path / KEY_DIR / ISSUED_DIR
    folder.mkdir(exist_ok=True)
    write_durably(folder / f"{child.id}.pem", chain_to_pem(issued[:1]))
    store = Store.open(home.store_path)
    try:
        _pass_up(home, issued, now, store)
    finally:
        store.close()
    return child, chain_to_pem(issued)


def learn(
    home: NodeHome, record: dict[str, Any], root: x509.Certificate, now: datetime, store: Store
) -> str:
    """Keep a certificate of a node below, received from a child, and queue it upward."""
    try:
        chain = chain_from_pem(str(record["payload"]["chain"]).encode("ascii"))
    except (KeyError, TypeError, UnicodeEncodeError) as exc:
        raise TrustError("证书记录格式不符") from exc
    node = verify_chain(chain, root, now)
    mine = home.load().id
    if mine not in [cert_identity(c).id for c in chain[1:]]:
        raise TrustError(f"节点 {node.id} 不在本节点之下，不接收其证书")
    folder = home.path / KEY_DIR / KNOWN_DIR
    folder.mkdir(exist_ok=True)
    write_durably(folder / f"{node.id}.pem", chain_to_pem(chain[:1]))
    _pass_up(home, chain, now, store)
    return node.id


def _know_units(store: Store, chain: list[x509.Certificate]) -> None:
    """Name the nodes of a verified chain in the store's unit table (desks show names, not
    codes); units already there (e.g. from a fixture with short names) are left as they are."""
    units = [
        Unit(id=who.id, name=who.name, tier=who.tier, parent=who.parent)
        for who in map(cert_identity, chain)
        if find_unit(store, who.id) is None
    ]
    add_units(store, units)


def _pass_up(home: NodeHome, chain: list[x509.Certificate], now: datetime, store: Store) -> None:
    """Queue a subtree node's certificate chain to this node's parent, if it has one."""
    _know_units(store, chain)
    config = home.load()
    if not config.parent:
        return
    leaf = cert_identity(chain[0])
    record = Record(
        id=f"certificate:{leaf.id}:{chain[0].serial_number:x}",
        kind=CERT_KIND,
        version=1,
        origin=config.id,
        payload={"chain": chain_to_pem(chain).decode("ascii")},
    )
    outbox.enqueue(
        store,
        record,
        (config.parent,),
        priority=0,
        classification=Classification.INTERNAL,
        at=now,
    )


def install(home: NodeHome, chain_pem: bytes, now: datetime) -> tuple[NodeIdentity, str]:
    """Check and install this node's certificate chain; pins its root. Returns root fingerprint."""
    config = home.load()
    keys = load_keys(home.path, passphrase_from_env())
    chain = chain_from_pem(chain_pem)
    if len(chain) < 2:
        raise TrustError("证书文件应包含本节点证书及上级证书链")
    pinned = load_root(home)
    root = pinned or chain[-1]
    leaf = verify_chain(chain, root, now)
    if leaf != identity(config, keys):
        raise TrustError(f"证书是为节点 {leaf.id} 签发的，与本节点（{config.id}）或本节点密钥不符")
    _save(home, chain, root)
    store = Store.open(home.store_path)
    try:
        _know_units(store, chain)
    finally:
        store.close()
    return cert_identity(root), fingerprint(root)


def encryption_keys(home: NodeHome) -> dict[str, bytes]:
    """X25519 public keys of the nodes this node can seal to: its ancestors and its subtree."""
    certs = list(load_chain(home) or [])
    for sub in (KNOWN_DIR, ISSUED_DIR):  # a direct child's own certificate wins
        folder = home.path / KEY_DIR / sub
        for path in sorted(folder.glob("*.pem")) if folder.is_dir() else []:
            certs.extend(chain_from_pem(path.read_bytes()))
    return {(who := cert_identity(c)).id: who.encryption_public for c in certs}


def hybrid_keys(home: NodeHome) -> dict[str, bytes]:
    """The hybrid public keys of the nodes this node can seal to whose certificates carry one
    (:func:`encryption_keys`' nodes; those without are classic-only)."""
    certs = list(load_chain(home) or [])
    for sub in (KNOWN_DIR, ISSUED_DIR):
        folder = home.path / KEY_DIR / sub
        for path in sorted(folder.glob("*.pem")) if folder.is_dir() else []:
            certs.extend(chain_from_pem(path.read_bytes()))
    found = {(who := cert_identity(c)).id: who.hybrid_public for c in certs}
    return {node: key for node, key in found.items() if key}


def load_chain(home: NodeHome) -> list[x509.Certificate] | None:
    """This node's installed chain, leaf first, if enrolled."""
    path = home.path / KEY_DIR / CHAIN_FILE
    return chain_from_pem(path.read_bytes()) if path.is_file() else None


def load_root(home: NodeHome) -> x509.Certificate | None:
    """The pinned root certificate, if any."""
    path = home.path / KEY_DIR / ROOT_FILE
    return chain_from_pem(path.read_bytes())[0] if path.is_file() else None


def _save(home: NodeHome, chain: list[x509.Certificate], root: x509.Certificate) -> None:
    folder = home.path / KEY_DIR
    write_durably(folder / ROOT_FILE, chain_to_pem([root]))
    write_durably(folder / CHAIN_FILE, chain_to_pem(chain))
