"""Certificates issued down the tree (X.509, Ed25519-signed), and checking a chain to the root.

A node certificate is a standard X.509 v3 certificate whose subject key is the node's Ed25519
signing key; the node's X25519 (HPKE) key and its place in the tree (id, tier, parent) ride in
two non-critical extensions under xinbao's own OID arc, and its hybrid post-quantum key
(ML-KEM-768 + X25519, ``syncd/keys.py``) in a third where it has one (a certificate without
it is a classic-only node's, as every one issued before). Format version 1; the version is
part of the node extension so later versions can be told apart.
"""

from __future__ import annotations

import json
import secrets
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from schema.itemfile import UNIT_ID
from schema.vocabulary import Tier
from syncd.error import TrustError
from syncd.keys import NodeKeys, hybrid_public_key, raw_public

FORMAT_VERSION = 1
# A UUID-derived arc (ITU-T X.667 2.25): ours without registration.
ARC = "2.25.38991347659215936226698519715450442057"
OID_ENCRYPTION_KEY = x509.ObjectIdentifier(f"{ARC}.1")
OID_NODE = x509.ObjectIdentifier(f"{ARC}.2")
OID_HYBRID_KEY = x509.ObjectIdentifier(f"{ARC}.3")

# Depth of the administrative tiers; departments and correspondents hang under any of them.
LEVEL = {Tier.CENTRAL: 0, Tier.PROVINCE: 1, Tier.CITY: 2, Tier.COUNTY: 3, Tier.TOWNSHIP: 4}


@cache  # read once per process: the shipped file does not change while running
def trust_data() -> dict[str, Any]:
    """The shipped ``syncd/data/trust.toml``: certificate and bundle rules."""
    text = resources.files("syncd").joinpath("data/trust.toml").read_text("utf-8")
    return tomllib.loads(text)


@dataclass(frozen=True)
class TrustRules:
    """Validity periods and tolerated clock skew (``syncd/data/trust.toml``)."""

    validity: timedelta
    root_validity: timedelta
    clock_skew: timedelta

    @classmethod
    def load(cls) -> TrustRules:
        """The shipped defaults."""
        data = trust_data()["certificate"]
        return cls(
            validity=timedelta(days=int(data["validity_days"])),
            root_validity=timedelta(days=int(data["root_validity_days"])),
            clock_skew=timedelta(seconds=int(data["clock_skew_seconds"])),
        )


@dataclass(frozen=True)
class NodeIdentity:
    """Who a certificate or request speaks for, and its two public keys."""

    id: str
    name: str
    tier: Tier
    parent: str
    signing_public: bytes
    encryption_public: bytes
    hybrid_public: bytes = b""  # ML-KEM-768 + X25519 (syncd/keys.py); empty: classic only


# How many leading digits of a GB/T 2260 code name the division at each tier.
DIVISION_DIGITS = {Tier.CENTRAL: 0, Tier.PROVINCE: 2, Tier.CITY: 4, Tier.COUNTY: 6}


def may_issue(issuer: NodeIdentity, child: NodeIdentity) -> None:
    """Raise :class:`TrustError` unless ``issuer`` may certify ``child`` (its direct child).

    The child's id must lie inside the issuer's own: a department or correspondent carries the
    issuer's code with a suffix (140200-fgw), a lower division shares the issuer's leading
    digits (140212 under 140200, 140212100 under 140212). So no node can certify another
    node's id.
    """
    if child.parent != issuer.id:
        raise TrustError(
            f"节点 {child.id} 的上级是 {child.parent or '（无）'}，不是本节点 {issuer.id}"
        )
    if child.id == issuer.id:
        raise TrustError("节点不能为自己签发证书")
    if "-" in child.id:
        if child.id.split("-", 1)[0] != issuer.id:
            raise TrustError(f"部门或特约节点 {child.id} 应以上级代码 {issuer.id}- 开头")
        return
    if child.tier not in LEVEL or issuer.tier not in LEVEL:
        raise TrustError(f"{issuer.tier}节点不能为{child.tier}节点 {child.id} 签发证书")
    if LEVEL[child.tier] <= LEVEL[issuer.tier]:
        raise TrustError(f"{issuer.tier}级节点不能为{child.tier}级节点签发证书")
    digits = DIVISION_DIGITS.get(issuer.tier)
    if digits is None or child.id[:digits] != issuer.id[:digits]:
        raise TrustError(f"节点 {child.id} 不在 {issuer.id} 的行政区划之内")


def _name(identity: NodeIdentity) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.USER_ID, identity.id),
            x509.NameAttribute(NameOID.COMMON_NAME, identity.name),
        ]
    )


def _extensions(identity: NodeIdentity) -> list[x509.ExtensionType]:
    node = {
        "v": FORMAT_VERSION,
        "id": identity.id,
        "tier": identity.tier.name.lower(),
        "parent": identity.parent,
    }
    extensions: list[x509.ExtensionType] = [
        x509.UnrecognizedExtension(OID_ENCRYPTION_KEY, identity.encryption_public),
        x509.UnrecognizedExtension(OID_NODE, json.dumps(node, ensure_ascii=False).encode()),
    ]
    if identity.hybrid_public:
        extensions.append(x509.UnrecognizedExtension(OID_HYBRID_KEY, identity.hybrid_public))
    return extensions


def identity_of(
    subject: Callable[[], x509.Name],
    extensions: Callable[[], x509.Extensions],
    public_key: Callable[[], object],
) -> NodeIdentity:
    """The node identity carried by a certificate's or request's fields (read lazily, so that
    a malformed field is a :class:`TrustError`)."""
    try:
        return _identity(subject(), extensions(), public_key())
    except TrustError:
        raise
    except Exception as exc:  # foreign bytes: any parsing failure is a refusal, never a crash
        raise TrustError("证书或申请缺少信报节点信息或格式不符") from exc


def _identity(subject: x509.Name, extensions: x509.Extensions, public_key: object) -> NodeIdentity:
    try:
        enc = extensions.get_extension_for_oid(OID_ENCRYPTION_KEY).value
        node_ext = extensions.get_extension_for_oid(OID_NODE).value
        assert isinstance(enc, x509.UnrecognizedExtension)
        assert isinstance(node_ext, x509.UnrecognizedExtension)
        node = json.loads(node_ext.value)
        if node.get("v") != FORMAT_VERSION:
            raise TrustError(f"不支持的证书格式版本 {node.get('v')}")
        names = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        name = str(names[0].value) if names else ""
        if not isinstance(public_key, ed25519.Ed25519PublicKey) or len(enc.value) != 32:
            raise TrustError("证书中的公钥类型不符（应为 Ed25519 与 X25519）")
        identity = NodeIdentity(
            id=str(node["id"]),
            name=name,
            tier=Tier.parse(node["tier"]),
            parent=str(node.get("parent", "")),
            signing_public=raw_public(public_key),
            encryption_public=bytes(enc.value),
            hybrid_public=_hybrid(extensions),
        )
    except (x509.ExtensionNotFound, ValueError, KeyError, AssertionError) as exc:
        raise TrustError("证书或申请缺少信报节点信息") from exc
    ids = subject.get_attributes_for_oid(NameOID.USER_ID)
    if not UNIT_ID.match(identity.id) or not ids or ids[0].value != identity.id:
        raise TrustError(f"证书中的节点代码“{identity.id}”无效或与主体不符")
    return identity


def _hybrid(extensions: x509.Extensions) -> bytes:
    """The hybrid public key a certificate or request carries (empty: none); one that is not
    a valid ML-KEM-768 + X25519 key is refused."""
    try:
        found = extensions.get_extension_for_oid(OID_HYBRID_KEY).value
    except x509.ExtensionNotFound:
        return b""
    assert isinstance(found, x509.UnrecognizedExtension)
    try:
        hybrid_public_key(bytes(found.value))
    except ValueError as exc:
        raise TrustError("证书中的抗量子加密公钥格式不符") from exc
    return bytes(found.value)


def cert_identity(cert: x509.Certificate) -> NodeIdentity:
    """The node a certificate is for."""
    return identity_of(lambda: cert.subject, lambda: cert.extensions, cert.public_key)


def make_request(identity: NodeIdentity, keys: NodeKeys) -> bytes:
    """A PEM enrolment request, signed by the node's own signing key (proof of possession)."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(_name(identity))
    for ext in _extensions(identity):
        builder = builder.add_extension(ext, critical=False)
    return builder.sign(keys.signing, None).public_bytes(serialization.Encoding.PEM)


def read_request(pem: bytes) -> NodeIdentity:
    """The identity in an enrolment request, after checking its self-signature."""
    try:
        csr = x509.load_pem_x509_csr(pem)
    except Exception as exc:  # foreign bytes: any parsing failure is a refusal
        raise TrustError("不是有效的入网申请文件") from exc
    if not csr.is_signature_valid:
        raise TrustError("入网申请的签名无效")
    return identity_of(lambda: csr.subject, lambda: csr.extensions, csr.public_key)


def _certificate(
    identity: NodeIdentity,
    issuer_name: x509.Name,
    issuer_key: ed25519.Ed25519PrivateKey,
    now: datetime,
    lifetime: timedelta,
    *,
    ca: bool,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(identity))
        .issuer_name(issuer_name)
        .public_key(ed25519.Ed25519PublicKey.from_public_bytes(identity.signing_public))
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
        .not_valid_before(now)
        .not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    for ext in _extensions(identity):
        builder = builder.add_extension(ext, critical=False)
    return builder.sign(issuer_key, None)


def self_signed_root(identity: NodeIdentity, keys: NodeKeys, now: datetime) -> x509.Certificate:
    """The certificate of a deployment's root node (a node with no parent)."""
    rules = TrustRules.load()
    return _certificate(identity, _name(identity), keys.signing, now, rules.root_validity, ca=True)


def issue(
    request: NodeIdentity, keys: NodeKeys, chain: list[x509.Certificate], now: datetime
) -> list[x509.Certificate]:
    """Certify a direct child: its certificate followed by this node's chain up to the root."""
    issuer = cert_identity(chain[0])
    may_issue(issuer, request)
    if issuer.signing_public != raw_public(keys.signing.public_key()):
        raise TrustError("本节点的证书与本节点密钥不符")
    cert = _certificate(
        request, chain[0].subject, keys.signing, now, TrustRules.load().validity, ca=True
    )
    return [cert, *chain]


def verify_chain(
    chain: list[x509.Certificate], root: x509.Certificate, now: datetime
) -> NodeIdentity:
    """Check ``chain`` (leaf first) link by link up to the pinned ``root``; the leaf's identity."""
    if not chain:
        raise TrustError("证书链为空")
    try:
        return _verify_links(chain, root, now)
    except TrustError:
        raise
    except Exception as exc:  # a malformed certificate from outside is a refusal, never a crash
        raise TrustError("证书链中有无法解析的证书") from exc


def _verify_links(
    chain: list[x509.Certificate], root: x509.Certificate, now: datetime
) -> NodeIdentity:
    skew = TrustRules.load().clock_skew
    if fingerprint(chain[-1]) != fingerprint(root):
        raise TrustError("证书链的根证书不是本网络的根证书")
    for child, parent in zip(chain, [*chain[1:], chain[-1]], strict=True):
        _check_time(child, now, skew)
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature) as exc:
            who = cert_identity(child).id
            raise TrustError(f"节点 {who} 的证书不是由其上级签发的") from exc
        if child is not parent:
            may_issue(cert_identity(parent), cert_identity(child))
    return cert_identity(chain[0])


def _check_time(cert: x509.Certificate, now: datetime, skew: timedelta) -> None:
    if now + skew < cert.not_valid_before_utc:
        raise TrustError(f"节点 {cert_identity(cert).id} 的证书尚未生效")
    if now - skew > cert.not_valid_after_utc:
        raise TrustError(f"节点 {cert_identity(cert).id} 的证书已过期")


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint, hex, for comparing and for reading out over the phone."""
    return cert.fingerprint(hashes.SHA256()).hex()


def chain_to_pem(chain: list[x509.Certificate]) -> bytes:
    """A chain as concatenated PEM certificates, leaf first."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)


def chain_from_pem(pem: bytes) -> list[x509.Certificate]:
    """Certificates from concatenated PEM, in file order."""
    try:
        chain = x509.load_pem_x509_certificates(pem)
    except Exception as exc:  # foreign bytes: any parsing failure is a refusal
        raise TrustError("不是有效的证书文件") from exc
    return chain
