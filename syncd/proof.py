"""Signed records: each record proves who made it and for whom, whoever carries it.

A bundle's signature proves who handed it over; from format version 2 on, each record inside
is signed too, by the node that made it (its ``origin``), over a canonical form that names its
addressees (``to``). A record line in the records stream is::

    {"id", "kind", "version", "origin", "payload", "to", "sig"[, "chain"]}

``sig`` is hex Ed25519 by the maker's signing key over ``CONTEXT`` followed by the canonical
JSON (sorted keys, no spaces, ASCII) of the six other fields; ``chain`` (not signed: it proves
itself up to the pinned root) is the maker's certificate chain, PEM, leaf first — needed when
the maker is not the bundle's sender, e.g. a source item a forward cites. A record received
is kept with ``chain`` added, so whoever cites it later hands over a proof anyone can check.

Verification (:class:`Verifier`) checks the signature against the maker's certificate (the
bundle's own chain when maker and sender are one, else ``chain``, verified to the root and
against revocations), then what the record cites, recursively (bounded in depth and count).
What the record may claim, given its maker, is the domain's rule: ``schema/authority.py``.

A version 1 bundle has unsigned records: each counts as made by the bundle's sender and
addressed to the bundle's recipients, so a record whose origin is another node is refused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from schema import authority
from schema.record import Record
from syncd.bundle import BundleError, verified_chain
from syncd.certificate import NodeIdentity
from syncd.error import TrustError
from syncd.keys import NodeKeys

CONTEXT = b"xinbao-record/2\n"
SIGNED = ("id", "kind", "version", "origin", "payload", "to")
MAX_CITES = 256  # records cited within one record, at every depth together
# levels of nesting in one record with what it cites: an item is about 5 deep, and each
# citation adds its own record's depth plus two
MAX_DEPTH = 8 * (authority.MAX_CITE_DEPTH + 1)


def signed_bytes(record: dict[str, Any]) -> bytes:
    """What the maker signs: the context, then the canonical JSON of the signed fields."""
    body = {name: record[name] for name in SIGNED}
    return CONTEXT + json.dumps(body, sort_keys=True, separators=(",", ":")).encode("ascii")


def sign(record: dict[str, Any], to: Sequence[str], keys: NodeKeys) -> dict[str, Any]:
    """``record`` (id, kind, version, origin, payload) signed for the addressees ``to``."""
    signed = {**record, "to": sorted(to)}
    signed["sig"] = keys.signing.sign(signed_bytes(signed)).hex()
    return signed


class Verifier:
    """Checks the records of one opened bundle from ``sender`` (its chain as in the bundle)."""

    def __init__(
        self,
        sender: NodeIdentity,
        sender_chain: bytes,
        root: x509.Certificate,
        now: datetime,
        revoked: frozenset[str],
    ) -> None:
        self.sender = sender
        self.sender_chain = sender_chain
        self.root = root
        self.now = now
        self.revoked = revoked
        self._cites = 0

    def verify(self, raw: dict[str, Any]) -> tuple[Record, tuple[str, ...]]:
        """A version 2 record as a :class:`~schema.record.Record` with its signed form as
        ``proof`` (chain added), and its addressees. Raises :class:`BundleError`."""
        self._cites = 0
        _shallow(raw)  # once for the record and all it cites
        proof = self._verified(raw, 0)
        record = Record(
            id=proof["id"],
            kind=proof["kind"],
            version=proof["version"],
            origin=proof["origin"],
            payload=proof["payload"],
            proof=proof,
        )
        return record, tuple(proof["to"])

    def _verified(self, raw: dict[str, Any], depth: int) -> dict[str, Any]:
        _shape(raw)
        maker, chain = self._maker(raw)
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(maker.signing_public).verify(
                bytes.fromhex(raw["sig"]), signed_bytes(raw)
            )
        except (InvalidSignature, ValueError) as exc:
            raise BundleError(
                "record-signature", f"记录 {raw['id']} 的签名与编发节点 {raw['origin']} 不符"
            ) from exc
        cites = raw["payload"].get("cites")
        if cites is not None:
            if not isinstance(cites, list) or not all(isinstance(c, dict) for c in cites):
                raise BundleError("record-citation", f"记录 {raw['id']} 引用的记录格式不符")
            if cites and depth >= authority.MAX_CITE_DEPTH:
                raise BundleError("record-citation", f"记录 {raw['id']} 的引用层级过深")
            for cited in cites:
                self._cites += 1
                if self._cites > MAX_CITES:
                    raise BundleError("record-citation", f"记录 {raw['id']} 引用的记录过多")
                try:
                    self._verified(cited, depth + 1)
                except BundleError as exc:  # the record is sound; what it cites is not
                    if exc.reason == "revoked-sender":
                        raise
                    raise BundleError(
                        "record-citation", f"记录 {raw['id']} 引用的记录无法核实：{exc}"
                    ) from exc
                try:
                    authority.check_cited(cited)
                except authority.AuthorityError as exc:
                    raise BundleError(exc.code, exc.message) from exc
        return {**raw, "chain": chain.decode("ascii")}

    def _maker(self, raw: dict[str, Any]) -> tuple[NodeIdentity, bytes]:
        origin = raw["origin"]
        if origin == self.sender.id and "chain" not in raw:
            return self.sender, self.sender_chain
        pem = raw.get("chain")
        if not isinstance(pem, str) or not pem.isascii():
            raise BundleError(
                "record-signature", f"记录 {raw['id']} 的编发节点 {origin} 无法核实（缺少证书）"
            )
        try:
            maker, line = verified_chain(pem.encode("ascii"), self.root, self.now)
        except TrustError as exc:
            raise BundleError(
                "record-signature", f"记录 {raw['id']} 的编发节点证书无效：{exc.message}"
            ) from exc
        if maker.id != origin:
            raise BundleError("record-signature", f"记录 {raw['id']} 的证书不是 {origin} 的")
        cut = [node for node in line if node in self.revoked]
        if cut:
            raise BundleError("revoked-sender", f"记录 {raw['id']} 的编发节点 {cut[0]} 已被吊销")
        return maker, pem.encode("ascii")


def unsigned(raw: dict[str, Any], sender: str) -> Record:
    """A version 1 record: made by the bundle's sender (and addressed to the bundle's
    recipients, which the caller gives as its ``to``)."""
    _shallow(raw)
    record = _as_record(raw)
    if record.origin != sender:
        raise BundleError(
            "record-signature", f"记录 {record.id} 声称由 {record.origin} 编发，但由 {sender} 发送"
        )
    return record


def nesting(value: Any, limit: int) -> bool:
    """Whether ``value`` (parsed JSON) nests at most ``limit`` levels (iteratively: a deep
    document must not cost a recursion error anywhere after it was parsed)."""
    todo: list[tuple[Any, int]] = [(value, 1)]
    while todo:
        current, depth = todo.pop()
        if depth > limit:
            return False
        if isinstance(current, dict):
            todo.extend((v, depth + 1) for v in current.values())
        elif isinstance(current, list):
            todo.extend((v, depth + 1) for v in current)
    return True


def _shallow(raw: dict[str, Any]) -> None:
    if not nesting(raw, MAX_DEPTH):
        raise BundleError("payload-invalid", f"记录 {str(raw.get('id'))[:80]} 嵌套过深")


def _shape(raw: dict[str, Any]) -> None:
    ok = (
        isinstance(raw.get("id"), str)
        and isinstance(raw.get("kind"), str)
        and type(raw.get("version")) is int
        and isinstance(raw.get("origin"), str)
        and isinstance(raw.get("payload"), dict)
        and isinstance(raw.get("to"), list)
        and all(isinstance(t, str) for t in raw["to"])
        and isinstance(raw.get("sig"), str)
    )
    if not ok:
        raise BundleError("record-signature", f"记录 {str(raw.get('id'))[:80]} 未签名或格式不符")


def _as_record(raw: dict[str, Any]) -> Record:
    try:
        return Record(
            id=str(raw["id"]),
            kind=str(raw["kind"]),
            version=int(raw["version"]),
            origin=str(raw["origin"]),
            payload=dict(raw["payload"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError("payload-invalid", "数据包记录缺少字段") from exc
