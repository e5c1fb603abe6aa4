"""The bundle: the sealed, signed file nodes exchange (DESIGN.md §2), format version 3.

Layout (all integers big-endian)::

    magic "XINBAOB\\0" · version u16
    header   u32 length · canonical JSON {classification, created, expires, hop_limit, id,
             priority, recipient_count, recipient_root, sender}      (no title, no content)
    keys     u32 length of what follows · u16 count · per key: u16 index · u8 id length ·
             id · u8 suite · u16 length · HPKE(bundle key) · u16 count · that many 32-byte
             hashes (the proof)
    chunks   per chunk: u32 (bit 31 = last, bits 0–30 = length) · AEAD ciphertext
    trailer  u32 length · sender's certificate chain (PEM, leaf first) · Ed25519 signature (64)

The plaintext payload is a sequence of sections, each ``u8 kind · u64 length · body``:

    1 records     a piece of the record stream: the bodies of all records sections, in order,
                  form one zlib stream of JSON lines, one record each
    2 attachment  SHA-256 of the file (32) · its bytes, uncompressed (attachments are referred
                  to by that hash from records; they are usually compressed formats already)
    0 end         length 0, last; nothing may follow

**Fan-out by subtree (version 3, ``docs/fanout.md``).** The sender wraps the bundle key for
every recipient once; recipient ``i`` (in the order of the ids) is leaf ``i`` of a Merkle
tree (RFC 6962's shape: leaf = SHA-256(0x00 · index · id · suite · wrapped key), node =
SHA-256(0x01 · left · right)) whose root and leaf count the signed header carries instead of
the recipients' list. A copy of the bundle carries only some of the keys and, as its proof,
the hashes of the largest subtrees it leaves out, so the root can be computed from any copy:
a relay hands each next hop a copy holding the keys of the recipients below that hop only —
without the bundle key and without signing anything, as the header, the chunks and the
trailer are the sender's bytes, unchanged. The bytes of a notice to every county therefore
grow with the number of counties, not with its square, and a recipient learns only the
recipients on its own side of the tree.

Version 2 differs from 3 in the keys: its header lists every recipient, its keys section
holds them all (``u16 count · per recipient: u8 id length · id · u16 length · wrapped``),
and the signature covers the whole section, so it is carried whole over every hop. Version 1
differs from 2 in the records: in version 2 and 3 each is signed by the node that made it,
for the addressees it names (``syncd/proof.py``); in version 1 they are unsigned and count as
the sender's own. The version number is bound into every key derivation, associated data and
the signature, so a bundle cannot be passed off as another version. All three are read; only
version 3 is written.

The payload is cut into fixed-size chunks and
encrypted with ChaCha20-Poly1305 under a random per-bundle key; each chunk's nonce is its
index and its associated data binds the version, bundle id, sender, index and last flag, so
chunks cannot be reordered, dropped, or moved between bundles. The bundle key is wrapped to
each recipient with HPKE — suite 2, the post-quantum hybrid MLKEM768-X25519, for a recipient
whose certificate carries a hybrid key; else suite 1, X25519 (both with HKDF-SHA256 and
ChaCha20-Poly1305; ``docs/pq.md``) — its info binding version, id, sender and recipient, and
for suite 2 the suite. The signature covers the header, the keys (version 3: the
recipients' root; before: the keys section), the SHA-256 of the chunk section and the
sender's chain, so sender, recipients, id and expiry cannot be changed or re-addressed
(Davis, "Defective Sign & Encrypt"). Opening verifies everything before a record or an
attachment is given out; attachments stream to files, so memory stays flat.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import json
import os
import queue
import re
import secrets
import shutil
import stat
import struct
import tempfile
import threading
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from syncd.certificate import (
    NodeIdentity,
    cert_identity,
    chain_from_pem,
    chain_to_pem,
    trust_data,
    verify_chain,
)
from syncd.error import SyncError, TrustError
from syncd.keys import NodeKeys, hybrid_public_key

MAGIC = b"XINBAOB\x00"
VERSION = 3
SUPPORTED_VERSIONS = frozenset({1, 2, 3})  # retired versions stay listed here with their readers
TREE_VERSION = 3  # the first version whose keys hang in a Merkle tree (fan-out by subtree)
SUITE_X25519 = 1  # a key entry's wrap: HPKE X25519, HKDF-SHA256, ChaCha20-Poly1305
SUITE_HYBRID = 2  # HPKE MLKEM768-X25519 (post-quantum hybrid), HKDF-SHA256, ChaCha20-Poly1305
LAST = 0x8000_0000
SIGNATURE_BYTES = 64
END, RECORDS, ATTACHMENT = 0, 1, 2  # payload section kinds
_SECTION = struct.Struct(">BQ")
HASH_BYTES = 32
TAG_BYTES = 16  # ChaCha20-Poly1305's tag: the least a chunk frame holds
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
_HYBRID = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


class BundleError(SyncError):
    """A bundle was refused; ``reason`` is a stable machine-readable code."""

    title = "数据包被拒收"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{message}（{reason}）")
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    """What a node accepts (``syncd/data/trust.toml`` [bundle])."""

    max_bundle_bytes: int
    max_header_bytes: int
    max_recipients: int
    max_records: int
    max_decompressed_bytes: int
    max_record_bytes: int
    max_chain_bytes: int
    max_keys_bytes: int
    default_lifetime: timedelta
    chunk_bytes: int
    clock_skew: timedelta
    retired_versions: frozenset[int] = frozenset()  # [policy]: no longer opened

    @classmethod
    def load(cls) -> Limits:
        """The shipped defaults."""
        data = trust_data()
        b = data["bundle"]
        return cls(
            max_bundle_bytes=int(b["max_bundle_bytes"]),
            max_header_bytes=int(b["max_header_bytes"]),
            max_recipients=int(b["max_recipients"]),
            max_records=int(b["max_records"]),
            max_decompressed_bytes=int(b["max_decompressed_bytes"]),
            max_record_bytes=int(b["max_record_bytes"]),
            max_chain_bytes=int(b["max_chain_bytes"]),
            max_keys_bytes=int(b["max_keys_bytes"]),
            default_lifetime=timedelta(days=int(b["default_lifetime_days"])),
            chunk_bytes=int(b["chunk_bytes"]),
            clock_skew=timedelta(seconds=int(data["certificate"]["clock_skew_seconds"])),
            retired_versions=frozenset(int(v) for v in data["policy"]["retired_versions"]),
        )


@dataclass(frozen=True)
class WrapPolicy:
    """Which bundles must wrap their key with the hybrid post-quantum KEM for every recipient
    (``syncd/data/trust.toml`` [policy]): those holding anything at or above ``hybrid_from``
    (a classification rank; None: none), or all of them with ``hybrid_all``."""

    hybrid_from: int | None
    hybrid_all: bool = False

    @classmethod
    def load(cls) -> WrapPolicy:
        from schema.vocabulary import Classification

        policy = trust_data()["policy"]
        threshold = str(policy["hybrid_from"])
        rank = Classification.parse(threshold, "hybrid_from").rank if threshold else None
        return cls(rank, bool(policy["hybrid_all"]))

    def requires_hybrid(self, classification: int) -> bool:
        """Whether a bundle of this classification rank must be hybrid for every recipient."""
        return self.hybrid_all or (
            self.hybrid_from is not None and classification >= self.hybrid_from
        )


class HybridRequired(TrustError):
    """Policy says the bundle must be hybrid, and a recipient has no hybrid key."""


@dataclass(frozen=True)
class Header:
    """The outer header: what relays may read."""

    id: str
    sender: str
    recipients: tuple[str, ...]
    created: int  # Unix seconds
    expires: int
    priority: int = 0
    hop_limit: int = 8
    # rank of the highest classification inside (0 公开 … 3 机密): relays honour link ceilings
    classification: int = 1
    # version 3: how many recipients the sender addressed and the root of their keys' tree;
    # ``recipients`` are then those whose keys this copy carries (all of them at the sender)
    recipient_count: int = 0
    recipient_root: str = ""

    def to_bytes(self) -> bytes:
        """Canonical JSON, as signed (version 3's form once the recipients' root is set)."""
        fields: dict[str, Any] = {
            "classification": self.classification,
            "id": self.id,
            "sender": self.sender,
            "created": self.created,
            "expires": self.expires,
            "priority": self.priority,
            "hop_limit": self.hop_limit,
        }
        if self.recipient_root:
            fields["recipient_count"] = self.recipient_count
            fields["recipient_root"] = self.recipient_root
        else:
            fields["recipients"] = list(self.recipients)
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes, limits: Limits, version: int = VERSION) -> Header:
        """Parse and type-check a header (of version 3, without its recipients: they come
        from the keys section)."""
        tree = version >= TREE_VERSION
        try:
            raw = json.loads(data)
            header = cls(
                id=raw["id"],
                sender=raw["sender"],
                recipients=() if tree else tuple(raw["recipients"]),
                created=raw["created"],
                expires=raw["expires"],
                priority=raw["priority"],
                hop_limit=raw["hop_limit"],
                classification=raw["classification"],
                recipient_count=raw["recipient_count"] if tree else 0,
                recipient_root=raw["recipient_root"] if tree else "",
            )
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise BundleError("header-invalid", "数据包头无法解析") from exc
        ok = (
            isinstance(header.id, str)
            and len(header.id) == 32
            and isinstance(header.sender, str)
            and all(isinstance(r, str) for r in header.recipients)
            and all(
                isinstance(v, int)
                for v in (
                    header.created,
                    header.expires,
                    header.priority,
                    header.hop_limit,
                    header.classification,
                    header.recipient_count,
                )
            )
            and 0 <= header.classification <= 3
            and (not tree or _is_hash_hex(header.recipient_root))
        )
        if not ok or header.to_bytes() != data:
            raise BundleError("header-invalid", "数据包头格式不符")
        count = header.recipient_count if tree else len(header.recipients)
        if not 0 < count <= min(limits.max_recipients, 0xFFFF):
            raise BundleError("header-invalid", "数据包收件节点数不符合限制")
        return header


_HASH_HEX = re.compile(r"[0-9a-f]{64}")


def _is_hash_hex(value: object) -> bool:
    return isinstance(value, str) and _HASH_HEX.fullmatch(value) is not None


@dataclass(frozen=True)
class Opened:
    """A verified bundle read whole: its header, its records and its attachments by hash."""

    header: Header
    records: list[dict[str, Any]]
    attachments: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Staged:
    """An attachment received in a bundle, written to a staging file and checked by hash."""

    sha256: str
    size: int
    path: Path


@dataclass
class Unsealed:
    """A verified bundle being read: records one at a time, attachments as staged files.

    The staged files live until the ``opened_stream`` context ends; move the ones to keep.
    """

    header: Header
    records: Iterator[dict[str, Any]]
    attachments: list[Staged]
    version: int = VERSION
    sender: NodeIdentity | None = None  # who signed it, as its chain says
    chain: bytes = b""  # the sender's certificate chain (PEM), as verified


def _key_info(
    header: Header, recipient: str, version: int = VERSION, suite: int = SUITE_X25519
) -> bytes:
    parts = [
        b"xinbao-bundle-key",
        str(version).encode(),
        header.id.encode(),
        header.sender.encode(),
        recipient.encode(),
    ]
    if suite != SUITE_X25519:  # the wrap's suite is bound too (suite 1 as it always was)
        parts.append(f"suite{suite}".encode())
    return b"\x00".join(parts)


def _chunk_aad(header: Header, index: int, last: bool, version: int = VERSION) -> bytes:
    return b"\x00".join(
        [b"xinbao-chunk", str(version).encode(), header.id.encode(), header.sender.encode()]
    ) + struct.pack(">QB", index, last)


def _nonce(index: int) -> bytes:
    return struct.pack(">IQ", 0, index)


def _to_be_signed(
    header_bytes: bytes,
    keys_section: bytes,
    ciphertext_hash: bytes,
    chain_pem: bytes,
    version: int = VERSION,
) -> bytes:
    return (
        b"xinbao-bundle-signature\x00"
        + struct.pack(">H", version)
        + b"".join(hashlib.sha256(part).digest() for part in (header_bytes, keys_section))
        + ciphertext_hash
        + hashlib.sha256(chain_pem).digest()
    )


# -- the recipients' tree (version 3) ------------------------------------------------------


@dataclass(frozen=True)
class KeyEntry:
    """One recipient's wrapped bundle key: leaf ``index`` of the recipients' tree."""

    index: int
    recipient: str
    suite: int
    wrapped: bytes

    def to_bytes(self) -> bytes:
        rid = self.recipient.encode()
        return (
            struct.pack(">HB", self.index, len(rid))
            + rid
            + struct.pack(">BH", self.suite, len(self.wrapped))
            + self.wrapped
        )

    def leaf(self) -> bytes:
        rid = self.recipient.encode()
        return hashlib.sha256(
            b"\x00"
            + struct.pack(">HB", self.index, len(rid))
            + rid
            + struct.pack(">BH", self.suite, len(self.wrapped))
            + self.wrapped
        ).digest()


def _split_at(size: int) -> int:
    """The left subtree's leaf count: the largest power of two below ``size`` (≥ 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def _tree_root(
    count: int,
    leaves: dict[int, bytes],
    proof: Iterable[bytes],
    keep: frozenset[int] | None = None,
) -> tuple[bytes, list[bytes]]:
    """The root of a tree of ``count`` leaves from the ``leaves`` at hand (index → hash) and
    the ``proof``: the hashes of the largest subtrees without a leaf at hand, left to right.

    With ``keep`` (a non-empty subset of ``leaves``), also the proof of a copy that carries
    only those leaves. Raises :class:`BundleError` when the proof does not fit the tree.
    """
    present = sorted(leaves)
    kept = sorted(keep) if keep is not None else []
    hashes = iter(proof)

    def holds(indices: list[int], lo: int, hi: int) -> bool:
        i = bisect.bisect_left(indices, lo)
        return i < len(indices) and indices[i] < hi

    out: list[bytes] = []

    def walk(lo: int, hi: int, emit: bool) -> bytes:
        if not holds(present, lo, hi):
            found = next(hashes, None)
            if found is None:
                raise BundleError("keys-invalid", "收件节点密钥的校验路径不完整")
            return found
        if hi - lo == 1:
            return leaves[lo]
        mid = lo + _split_at(hi - lo)
        parts = []
        for a, b in ((lo, mid), (mid, hi)):
            if emit and not holds(kept, a, b):
                parts.append(walk(a, b, False))
                out.append(parts[-1])
            else:
                parts.append(walk(a, b, emit))
        return hashlib.sha256(b"\x01" + parts[0] + parts[1]).digest()

    root = walk(0, count, keep is not None)
    if next(hashes, None) is not None:
        raise BundleError("keys-invalid", "收件节点密钥的校验路径有多余数据")
    return root, out


def _keys_section(entries: list[KeyEntry], proof: list[bytes]) -> bytes:
    """A version 3 keys section: its length first, so a reader takes it in one read."""
    body = (
        struct.pack(">H", len(entries))
        + b"".join(e.to_bytes() for e in entries)
        + struct.pack(">H", len(proof))
        + b"".join(proof)
    )
    return struct.pack(">I", len(body)) + body


@dataclass(frozen=True)
class Front:
    """What precedes a bundle's chunks, read and checked for layout (nothing verified)."""

    version: int
    header: Header  # version 3: ``recipients`` are those whose keys this copy carries
    header_bytes: bytes
    signed_keys: bytes  # the keys as signed: version 3 the recipients' root, else the section
    entries: tuple[KeyEntry, ...]
    proof: tuple[bytes, ...]  # version 3 only
    size: int  # bytes from the file's start to its first chunk

    def wrapped_for(self, me: str) -> KeyEntry | None:
        return next((e for e in self.entries if e.recipient == me), None)


def read_front(source: IO[bytes], limits: Limits | None = None) -> Front:
    """The magic, version, header and keys at the start of ``source`` (checked for layout and,
    in version 3, that the keys hang in the tree the header names)."""
    limits = limits or Limits.load()
    return _read_front(_Reader(source, limits.max_bundle_bytes), limits)


def narrowed(front: Front, recipients: Iterable[str]) -> bytes:
    """The front of a copy of a version 3 bundle carrying only ``recipients``' keys (every one
    of them must be in ``front``): magic, version, the same header, the fewer keys and their
    proof. The chunks and the trailer follow unchanged."""
    wanted = set(recipients)
    entries = [e for e in front.entries if e.recipient in wanted]
    if front.version < TREE_VERSION or len(entries) != len(wanted) or not entries:
        raise SyncError("数据包副本的收件节点不在原包之内")
    leaves = {e.index: e.leaf() for e in front.entries}
    keep = frozenset(e.index for e in entries)
    root, proof = _tree_root(front.header.recipient_count, leaves, front.proof, keep)
    if root != front.signed_keys:
        raise SyncError("数据包的收件节点密钥与包头不符")
    return (
        MAGIC
        + struct.pack(">HI", front.version, len(front.header_bytes))
        + front.header_bytes
        + _keys_section(entries, proof)
    )


def new_header(
    sender: str,
    recipients: Iterable[str],
    now: datetime,
    *,
    priority: int = 0,
    lifetime: timedelta | None = None,
    hop_limit: int = 8,
    classification: int = 1,
) -> Header:
    """A header for a new bundle with a random id."""
    life = lifetime or Limits.load().default_lifetime
    return Header(
        id=secrets.token_hex(16),
        sender=sender,
        recipients=tuple(dict.fromkeys(recipients)),
        created=int(now.timestamp()),
        expires=int((now + life).timestamp()),
        priority=priority,
        hop_limit=hop_limit,
        classification=classification,
    )


def seal(
    header: Header,
    records: Iterable[dict[str, Any]],
    sender_keys: NodeKeys,
    sender_chain: list[x509.Certificate],
    recipient_keys: dict[str, bytes],
    out: IO[bytes],
    limits: Limits | None = None,
    attachments: Iterable[tuple[str, Path]] = (),
    version: int = VERSION,
    hybrid_keys: dict[str, bytes] | None = None,
    require_hybrid: bool = False,
) -> Header:
    """Write a sealed, signed bundle of ``records`` to ``out``, streaming; its header as
    written (version 3: with the recipients' root).

    ``hybrid_keys``: recipients' hybrid public keys (``syncd/keys.py``); their bundle key is
    wrapped with HPKE MLKEM768-X25519 (suite 2), the others' with X25519 (suite 1). With
    ``require_hybrid`` (``WrapPolicy``), a recipient without a hybrid key is refused
    (:class:`HybridRequired`) before anything is written: such a bundle is never sealed
    classic.

    ``attachments`` are (SHA-256 hex, file) pairs, read in pieces; a file whose bytes no longer
    match its hash fails the seal (raises :class:`SyncError`). ``records`` go in as given: in
    version 2 each is already signed by its maker (:func:`syncd.proof.sign`); ``version`` 1 is
    written only to make golden files and attack tests.
    """
    if version not in SUPPORTED_VERSIONS:
        raise SyncError(f"不支持的数据包格式版本 {version}")
    limits = limits or Limits.load()
    missing = [r for r in header.recipients if r not in recipient_keys]
    if missing:
        raise TrustError(f"没有收件节点 {'、'.join(missing)} 的加密公钥（需要其证书）")
    if len(header.recipients) > min(limits.max_recipients, 0xFFFF):
        raise SyncError(f"收件节点过多（{len(header.recipients)} 个）")
    hybrid = (hybrid_keys or {}) if version >= TREE_VERSION else {}  # suites: version 3
    if require_hybrid:
        classic = [r for r in header.recipients if r not in hybrid]
        if classic:
            raise HybridRequired(
                f"按加密策略须用抗量子密钥封装，收件节点 {'、'.join(classic)} 的证书尚无抗量子公钥"
            )
    bundle_key = ChaCha20Poly1305.generate_key()
    entries = []
    for index, recipient in enumerate(header.recipients):
        if recipient in hybrid:
            info = _key_info(header, recipient, version, SUITE_HYBRID)
            wrapped = _HYBRID.encrypt(bundle_key, hybrid_public_key(hybrid[recipient]), info)
            entries.append(KeyEntry(index, recipient, SUITE_HYBRID, wrapped))
            continue
        public = x25519.X25519PublicKey.from_public_bytes(recipient_keys[recipient])
        wrapped = _SUITE.encrypt(bundle_key, public, info=_key_info(header, recipient, version))
        entries.append(KeyEntry(index, recipient, SUITE_X25519, wrapped))
    if version >= TREE_VERSION:
        leaves = {e.index: e.leaf() for e in entries}
        root = _tree_root(len(entries), leaves, ())[0]
        header = replace(header, recipient_count=len(entries), recipient_root=root.hex())
        keys_section, signed_keys = _keys_section(entries, []), root
    else:
        keys_section = struct.pack(">H", len(entries))
        for e in entries:
            rid = e.recipient.encode()
            keys_section += struct.pack(">B", len(rid)) + rid + struct.pack(">H", len(e.wrapped))
            keys_section += e.wrapped
        signed_keys = keys_section
    header_bytes = header.to_bytes()
    out.write(MAGIC + struct.pack(">H", version))
    out.write(struct.pack(">I", len(header_bytes)) + header_bytes)
    out.write(keys_section)

    aead = ChaCha20Poly1305(bundle_key)
    index = 0
    pending: bytes | None = None
    with Hashing() as hashing, Flusher(out) as flusher:
        digest = hashing.sha256()

        def emit(plain: bytes, last: bool) -> None:
            nonlocal index
            sealed = aead.encrypt(_nonce(index), plain, _chunk_aad(header, index, last, version))
            frame = struct.pack(">I", len(sealed) | (LAST if last else 0)) + sealed
            digest.update(frame)
            out.write(frame)
            flusher.wrote(len(frame))
            index += 1

        payload = _payload(records, attachments, limits.chunk_bytes, hashing)
        for piece in _chunks(payload, limits.chunk_bytes):
            if pending is not None:
                emit(pending, last=False)
            pending = piece
        emit(pending or b"", last=True)
        ciphertext = digest.digest()

    chain = chain_to_pem(sender_chain)
    signature = sender_keys.signing.sign(
        _to_be_signed(header_bytes, signed_keys, ciphertext, chain, version)
    )
    out.write(struct.pack(">I", len(chain)) + chain + signature)
    return header


def _payload(
    records: Iterable[dict[str, Any]],
    attachments: Iterable[tuple[str, Path]],
    size: int,
    hashing: Hashing,
) -> Iterator[bytes]:
    """The plaintext payload: records sections, then one section per attachment, then end."""
    packer = zlib.compressobj(6)
    pending: list[bytes] = []
    pending_bytes = 0
    offset = 0  # bytes of payload given so far
    for record in records:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        out = packer.compress(line)
        if out:
            pending.append(out)
            pending_bytes += len(out)
            if pending_bytes >= size:
                yield _SECTION.pack(RECORDS, pending_bytes)
                yield from pending
                offset += _SECTION.size + pending_bytes
                pending, pending_bytes = [], 0
    pending.append(packer.flush())
    pending_bytes += len(pending[-1])
    yield _SECTION.pack(RECORDS, pending_bytes)
    yield from pending
    offset += _SECTION.size + pending_bytes
    for sha256, path in attachments:
        for piece in _attachment_section(sha256, path, size, offset, hashing):
            offset += len(piece)
            yield piece
    yield _SECTION.pack(END, 0)


def _attachment_section(
    sha256: str, path: Path, size: int, offset: int, hashing: Hashing
) -> Iterator[bytes]:
    """An attachment's section. Its file is read so that the pieces after the first end on
    chunk boundaries (``offset``: where the section starts in the payload): they are then
    encrypted as read, not copied into chunks."""
    try:
        expected = bytes.fromhex(sha256)
    except ValueError:
        expected = b""
    if len(expected) != HASH_BYTES:
        raise SyncError(f"附件校验值无效：{sha256}")
    with open(path, "rb") as fh:
        length = os.fstat(fh.fileno()).st_size
        yield _SECTION.pack(ATTACHMENT, HASH_BYTES + length) + expected
        digest = hashing.sha256()
        left = length
        step = size - (offset + _SECTION.size + HASH_BYTES) % size
        while left:
            block = fh.read(min(step, left))
            if not block:
                break
            digest.update(block)
            left -= len(block)
            step = size
            yield block
    if left or digest.digest() != expected:
        raise SyncError(f"附件 {sha256[:12]}… 在打包时被改动或已损坏")


def _chunks(stream: Iterator[bytes], size: int) -> Iterator[bytes]:
    buffer = bytearray()
    for data in stream:
        if not buffer and len(data) == size:
            yield data  # an aligned piece passes without a copy
            continue
        buffer += data
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


class _Reader:
    """Exact reads with a running byte budget; running out is truncation."""

    def __init__(self, source: IO[bytes], budget: int) -> None:
        self.source = source
        self.budget = budget
        self.left = budget

    @property
    def used(self) -> int:
        return self.budget - self.left

    def take(self, n: int) -> bytes:
        if n > self.left:
            raise BundleError("too-large", "数据包超过大小限制")
        data = self.source.read(n)
        if len(data) != n:
            raise BundleError("truncated", "数据包不完整（可能传输中断）")
        self.left -= n
        return data

    def u(self, fmt: str) -> int:
        return int(struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0])


def read_header(source: IO[bytes], limits: Limits | None = None) -> Header:
    """Only the outer header (what a relay needs); nothing is decrypted or verified."""
    return read_front(source, limits).header


def _read_front(reader: _Reader, limits: Limits) -> Front:
    if reader.take(len(MAGIC)) != MAGIC:
        raise BundleError("bad-magic", "不是信报数据包")
    version = reader.u(">H")
    if version not in SUPPORTED_VERSIONS:
        raise BundleError("unsupported-version", f"不支持的数据包格式版本 {version}")
    if version in limits.retired_versions:
        raise BundleError("retired-version", f"数据包格式版本 {version} 已按策略停用")
    size = reader.u(">I")
    if size > limits.max_header_bytes:
        raise BundleError("header-invalid", "数据包头过大")
    header_bytes = reader.take(size)
    header = Header.from_bytes(header_bytes, limits, version)
    if version >= TREE_VERSION:
        entries, proof = _read_tree_keys(reader, header, limits)
        header = replace(header, recipients=tuple(e.recipient for e in entries))
        signed_keys = bytes.fromhex(header.recipient_root)
    else:
        signed_keys, entries = _read_keys(reader, header)
        proof = ()
    return Front(version, header, header_bytes, signed_keys, entries, proof, reader.used)


def _read_tree_keys(
    source: _Reader, header: Header, limits: Limits
) -> tuple[tuple[KeyEntry, ...], tuple[bytes, ...]]:
    """The keys a version 3 copy carries and their proof, checked against the header's root.

    A key's suite is not judged here: a relay passes on keys it could not use itself, and
    only the recipient must know how its own key is wrapped."""
    size = source.u(">I")
    if size > limits.max_keys_bytes:
        raise BundleError("keys-invalid", "密钥段过大")
    reader = _Reader(io.BytesIO(source.take(size)), size)  # one read, then parsed in memory
    try:
        return _parse_tree_keys(reader, header)
    except BundleError as exc:
        if exc.reason in ("truncated", "too-large"):  # within the section: not the file's
            raise BundleError("keys-invalid", "密钥段格式不符") from exc
        raise


def _parse_tree_keys(
    reader: _Reader, header: Header
) -> tuple[tuple[KeyEntry, ...], tuple[bytes, ...]]:
    total = header.recipient_count
    count = reader.u(">H")
    if not 0 < count <= total:
        raise BundleError("keys-invalid", "密钥段与收件节点不符")
    entries: list[KeyEntry] = []
    names: set[str] = set()
    for _ in range(count):
        index = reader.u(">H")
        rid = reader.take(reader.u(">B"))
        suite = reader.u(">B")
        wrapped = reader.take(reader.u(">H"))
        try:
            recipient = rid.decode()
        except UnicodeDecodeError as exc:
            raise BundleError("keys-invalid", "密钥段的收件节点编码不符") from exc
        if (
            index >= total
            or (entries and index <= entries[-1].index)
            or not recipient
            or recipient in names
        ):
            raise BundleError("keys-invalid", "密钥段与收件节点不符")
        names.add(recipient)
        entries.append(KeyEntry(index, recipient, suite, wrapped))
    hashes = reader.u(">H")
    if hashes > total:
        raise BundleError("keys-invalid", "收件节点密钥的校验路径过长")
    proof = tuple(reader.take(HASH_BYTES) for _ in range(hashes))
    if reader.left:
        raise BundleError("keys-invalid", "密钥段长度不符")
    root, _ = _tree_root(total, {e.index: e.leaf() for e in entries}, proof)
    if root.hex() != header.recipient_root:
        raise BundleError("keys-invalid", "密钥段与包头的收件节点不符")
    return tuple(entries), proof


def open_bundle(
    source: IO[bytes],
    me: str,
    keys: NodeKeys,
    root: x509.Certificate,
    now: datetime,
    limits: Limits | None = None,
    revoked: frozenset[str] = frozenset(),
) -> Opened:
    """Verify and decrypt a bundle addressed to ``me``, all of it in memory (small bundles)."""
    with opened_stream(source, me, keys, root, now, limits, revoked) as opened:
        records = list(opened.records)
        attachments = {a.sha256: a.path.read_bytes() for a in opened.attachments}
        return Opened(opened.header, records, attachments)


@contextmanager
def opened_stream(
    source: IO[bytes],
    me: str,
    keys: NodeKeys,
    root: x509.Certificate,
    now: datetime,
    limits: Limits | None = None,
    revoked: frozenset[str] = frozenset(),
    staging: Path | None = None,
    front: Front | None = None,
) -> Iterator[Unsealed]:
    """Verify a bundle addressed to ``me``, then give its records one at a time.

    Raises :class:`BundleError` on any fault. Nothing is given out before the signature, the
    sender's chain, every chunk and every attachment hash have been checked. Meanwhile the
    record stream is spooled to a temporary file and attachments are written to files in a
    temporary folder under ``staging`` (put it on the file system where they will be kept,
    so keeping one is a rename); records are inflated lazily within the limits, so memory
    stays flat whatever the size. A fault in the record stream surfaces while iterating:
    apply the records in one transaction. ``front``: what :func:`read_front` read from the
    start of ``source`` under the same ``limits``, where the caller has it (not read again).
    """
    limits = limits or Limits.load()
    reader = _Reader(source, limits.max_bundle_bytes)
    if front is None:
        front = _read_front(reader, limits)
    else:
        source.seek(front.size)
        reader.left -= front.size
    header, version = front.header, front.version
    _check_times(header, now, limits)
    mine = front.wrapped_for(me)
    if mine is None:
        raise BundleError("not-addressed", f"数据包不是发给本节点（{me}）的")
    bundle_key = _unwrap(mine, header, me, keys, version)

    aead = ChaCha20Poly1305(bundle_key)
    with tempfile.SpooledTemporaryFile(max_size=1 << 20) as plain, Hashing() as hashing:
        payload = _PayloadReader(plain, staging, limits, hashing)
        try:
            digest = hashing.sha256()
            try:
                _decrypt_chunks(reader, aead, header, digest, payload, limits, version)
                ciphertext = digest.digest()
            finally:
                payload.close()
                hashing.close()
            chain_pem, signature = _read_trailer(reader, source, limits)
            signed = (front.header_bytes, front.signed_keys, ciphertext, chain_pem, signature)
            sender = _verify_sender(header, *signed, root, now, revoked, version)
            payload.check()
            plain.seek(0)
            budget = limits.max_decompressed_bytes - payload.attachment_bytes
            records = _records(plain, limits, budget)
            yield Unsealed(header, records, payload.attachments, version, sender, chain_pem)
        finally:
            payload.remove_staged()


def _unwrap(mine: KeyEntry, header: Header, me: str, keys: NodeKeys, version: int) -> bytes:
    """The bundle key from this node's key entry (classic or hybrid)."""
    info = _key_info(header, me, version, mine.suite)
    try:
        if mine.suite == SUITE_X25519:
            return _SUITE.decrypt(mine.wrapped, keys.encryption, info=info)
        if mine.suite == SUITE_HYBRID:
            if keys.hybrid is None:
                raise BundleError("unwrap-failed", "本节点没有抗量子密钥，无法解开数据包密钥")
            return _HYBRID.decrypt(mine.wrapped, keys.hybrid.private, info=info)
    except (InvalidTag, ValueError) as exc:
        raise BundleError("unwrap-failed", "无法解开数据包密钥") from exc
    raise BundleError("unwrap-failed", f"不支持的密钥封装方式（{mine.suite}）")


def _read_keys(reader: _Reader, header: Header) -> tuple[bytes, tuple[KeyEntry, ...]]:
    """A version 1 or 2 keys section as signed, and its keys (one per listed recipient)."""
    count = reader.u(">H")
    if count != len(header.recipients):
        raise BundleError("keys-invalid", "密钥段与收件节点不符")
    keys_section = struct.pack(">H", count)
    entries = []
    for index, recipient in enumerate(header.recipients):
        rid = reader.take(reader.u(">B"))
        size = reader.u(">H")
        wrapped = reader.take(size)
        keys_section += struct.pack(">B", len(rid)) + rid + struct.pack(">H", size) + wrapped
        if rid != recipient.encode():
            raise BundleError("keys-invalid", "密钥段与收件节点不符")
        entries.append(KeyEntry(index, recipient, SUITE_X25519, wrapped))
    return keys_section, tuple(entries)


def _read_trailer(reader: _Reader, source: IO[bytes], limits: Limits) -> tuple[bytes, bytes]:
    chain_size = reader.u(">I")
    if chain_size > limits.max_chain_bytes:
        raise BundleError("chain-invalid", "发送节点证书链过大")
    chain_pem = reader.take(chain_size)
    signature = reader.take(SIGNATURE_BYTES)
    if source.read(1):
        raise BundleError("trailing-data", "数据包末尾有多余数据")
    return chain_pem, signature


def verify_outer(
    source: IO[bytes],
    root: x509.Certificate,
    now: datetime,
    limits: Limits | None = None,
    revoked: frozenset[str] = frozenset(),
) -> Header:
    """Check what a relay can check without the bundle key: the layout, validity period, the
    sender's chain and the signature over the header, keys and ciphertext. Its header."""
    limits = limits or Limits.load()
    reader = _Reader(source, limits.max_bundle_bytes)
    front = _read_front(reader, limits)
    header = front.header
    _check_times(header, now, limits)
    digest = hashlib.sha256()
    while True:
        word = reader.u(">I")
        size = word & ~LAST
        _check_chunk(size, bool(word & LAST), limits)
        digest.update(struct.pack(">I", word))
        left = size
        while left:  # hashed in pieces: a relay's memory stays flat too
            piece = reader.take(min(left, 1 << 16))
            digest.update(piece)
            left -= len(piece)
        if word & LAST:
            break
    chain_pem, signature = _read_trailer(reader, source, limits)
    signed = (front.header_bytes, front.signed_keys, digest.digest(), chain_pem, signature)
    _verify_sender(header, *signed, root, now, revoked, front.version)
    return header


def _check_chunk(size: int, last: bool, limits: Limits) -> None:
    """A chunk frame is an AEAD ciphertext: its tag at least, and only the last one may hold
    nothing (millions of empty frames would otherwise cost a relay time for no data)."""
    if (
        size > limits.chunk_bytes + TAG_BYTES
        or size < TAG_BYTES
        or (size == TAG_BYTES and not last)
    ):
        raise BundleError("chunk-invalid", "数据块大小不符")


def fresh(header: Header, now: datetime, limits: Limits) -> bool:
    """Whether ``header`` is within its validity period at ``now`` (with the clock skew)."""
    try:
        _check_times(header, now, limits)
    except BundleError:
        return False
    return True


def _check_times(header: Header, now: datetime, limits: Limits) -> None:
    moment = int(now.timestamp())
    skew = int(limits.clock_skew.total_seconds())
    if moment > header.expires + skew:
        raise BundleError("expired", "数据包已过期")
    if header.created > moment + skew:
        raise BundleError("not-yet-valid", "数据包的创建时间晚于本机时间")


def _decrypt_chunks(
    reader: _Reader,
    aead: ChaCha20Poly1305,
    header: Header,
    digest: Sha256,
    payload: _PayloadReader,
    limits: Limits,
    version: int,
) -> None:
    index = 0
    while True:
        word = reader.u(">I")
        last = bool(word & LAST)
        size = word & ~LAST
        _check_chunk(size, last, limits)
        sealed = reader.take(size)
        digest.update(struct.pack(">I", word))
        digest.update(sealed)
        try:
            chunk = aead.decrypt(_nonce(index), sealed, _chunk_aad(header, index, last, version))
        except InvalidTag as exc:
            raise BundleError("chunk-auth", f"第 {index + 1} 个数据块校验失败") from exc
        payload.feed(chunk)
        index += 1
        if last:
            break
    payload.finish()


THREAD_HASH_FROM = 4 << 20  # after this many bytes a seal's or open's hashing moves to a thread
_HASH_BATCH = 1 << 20  # bytes handed to that thread at a time


class Hashing:
    """The SHA-256 hashing of one seal or open. Each side of a large transfer hashes every byte
    twice — the plaintext for an attachment's address, the ciphertext for the signature — and
    that was most of its time. hashlib releases the GIL, so once ``THREAD_HASH_FROM`` bytes
    have been given, every hash made by :meth:`sha256` is fed on one helper thread, beside the
    encryption (one thread for both: a third runnable thread on two cores was slower). Pieces
    go over a MiB at a time, at most 8 MiB waiting. Use it as a context manager: leaving it
    ends the thread on every path."""

    def __init__(self) -> None:
        self._given = 0
        self._queue: queue.Queue[tuple[Any, list[Any]] | threading.Event | None] | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._failed: BaseException | None = None  # what stopped the thread's hashing

    def __enter__(self) -> Hashing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sha256(self) -> Sha256:
        return Sha256(self)

    def threaded(self, size: int) -> bool:
        """Whether ``size`` more bytes go to the thread (started at the threshold)."""
        if self._queue is not None:
            return True
        if self._closed:  # hash in the caller
            return False
        self._given += size
        if self._given < THREAD_HASH_FROM:
            return False
        self._queue = queue.Queue(maxsize=8)
        self._thread = threading.Thread(
            target=self._run, args=(self._queue,), name="xinbao-hash", daemon=True
        )
        self._thread.start()
        return True

    def put(self, target: Any, pieces: list[Any]) -> None:
        if self._queue is None:
            for piece in pieces:
                target.update(piece)
        else:
            self._queue.put((target, pieces))

    def wait(self) -> None:
        """Return when everything handed over so far has been hashed."""
        if self._queue is not None:
            done = threading.Event()
            self._queue.put(done)
            done.wait()
        self._raise()

    def close(self) -> None:
        self._closed = True
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._queue = None  # what came before the stop has been hashed; later, inline
        self._raise()

    def _raise(self) -> None:
        if self._failed is not None:
            raise SyncError(f"计算校验值失败：{self._failed}") from self._failed

    def _run(self, work: queue.Queue[tuple[Any, list[Any]] | threading.Event | None]) -> None:
        # keeps taking work after a failure, so a producer waiting on the queue never hangs
        while (item := work.get()) is not None:
            if isinstance(item, threading.Event):
                item.set()
                continue
            target, pieces = item
            if self._failed is not None:
                continue
            try:
                for piece in pieces:
                    target.update(piece)
            except BaseException as exc:  # e.g. MemoryError: reported by wait() or close()
                self._failed = exc


FLUSH_EVERY = 32 << 20  # a large file being written is handed to write-back this often


class Flusher:
    """Write-back of a large file while it is still being written: every ``FLUSH_EVERY``
    bytes, a thread of its own calls ``fdatasync`` on it, so the caller's final ``fsync`` finds
    little left and the disk works beside the encryption and hashing instead of after them
    (512 MiB: ~0.3 s less). Durability is still the final ``fsync``'s; this only starts it
    early. Nothing happens for what is not a regular file, or writes under ``FLUSH_EVERY``.
    Use it as a context manager: leaving it ends the thread."""

    def __init__(self, out: IO[bytes]) -> None:
        self._fd: int | None = None
        try:
            fd = out.fileno()
            if stat.S_ISREG(os.fstat(fd).st_mode):
                self._fd = fd
        except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
            pass
        self._since = 0
        self._due = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Flusher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wrote(self, size: int) -> None:
        if self._fd is None:
            return
        self._since += size
        if self._since < FLUSH_EVERY:
            return
        self._since = 0
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, args=(self._fd,), name="xinbao-flush", daemon=True
            )
            self._thread.start()
        self._due.set()

    def close(self) -> None:
        if self._thread is not None:
            self._stop = True
            self._due.set()
            self._thread.join()
            self._thread = None

    def _run(self, fd: int) -> None:
        while True:
            self._due.wait()
            self._due.clear()
            if self._stop:
                return
            try:
                os.fdatasync(fd)
            except OSError:  # the final fsync reports it; write-back is only a head start
                return


class Sha256:
    """A SHA-256 fed through a :class:`Hashing` (inline until its thread starts; on it after)."""

    def __init__(self, hashing: Hashing | None = None) -> None:
        self._hash = hashlib.sha256()
        self._hashing = hashing
        self._pending: list[Any] = []
        self._pending_bytes = 0

    def update(self, data: bytes | memoryview) -> None:
        """Hash ``data`` next (an immutable buffer: it may be read after this returns)."""
        if self._hashing is None or not self._hashing.threaded(len(data)):
            if self._pending and self._hashing is not None:  # the thread has ended: in order
                self._hashing.put(self._hash, self._pending)
                self._pending, self._pending_bytes = [], 0
            self._hash.update(data)
            return
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes >= _HASH_BATCH:
            self._hashing.put(self._hash, self._pending)
            self._pending, self._pending_bytes = [], 0

    def digest(self) -> bytes:
        if self._hashing is not None:
            if self._pending:
                self._hashing.put(self._hash, self._pending)
                self._pending, self._pending_bytes = [], 0
            self._hashing.wait()
        return self._hash.digest()


class _PayloadReader:
    """Splits the decrypted payload into its sections as chunks arrive.

    Record-stream bytes go to ``records``; each attachment streams to its own file in
    ``folder`` while its hash is computed.
    """

    def __init__(
        self, records: IO[bytes], staging: Path | None, limits: Limits, hashing: Hashing
    ) -> None:
        self.records_out = records
        self.staging = staging
        self.folder: Path | None = None  # made at the first attachment
        self.limits = limits
        self.head = b""  # a section header cut by a chunk boundary
        self.kind: int | None = None
        self.left = 0
        self.ended = False
        self.sections = 0
        self.attachment_bytes = 0
        self.attachments: list[Staged] = []
        self.expected = b""
        self.file: IO[bytes] | None = None
        self.flusher: Flusher | None = None
        self.hashing = hashing
        self.digest = hashing.sha256()
        self.error: BundleError | None = None

    def feed(self, data: bytes) -> None:
        """Take the next decrypted chunk. A fault is kept, not raised, until :meth:`check`:
        the payload of a bundle whose signature fails is refused for its signature."""
        if self.error is None:
            try:
                self._feed(data)
            except BundleError as exc:
                self.error = exc
                self.close()

    def check(self) -> None:
        """Raise the first fault found in the payload, if any (after the signature check)."""
        if self.error is not None:
            raise self.error

    def _feed(self, data: bytes) -> None:
        view = memoryview(data)
        pos = 0
        while pos < len(view):
            if self.ended:
                raise BundleError("payload-invalid", "数据包内容在结束标记之后还有数据")
            if self.kind is None:
                take = min(_SECTION.size - len(self.head), len(view) - pos)
                self.head += view[pos : pos + take]
                pos += take
                if len(self.head) == _SECTION.size:
                    kind, length = _SECTION.unpack(self.head)
                    self.head = b""
                    self._begin(kind, length)
                continue
            take = min(self.left, len(view) - pos)
            self._body(view[pos : pos + take])
            pos += take
            self.left -= take
            if not self.left:
                self._end()

    def _end_flusher(self) -> None:
        if self.flusher is not None:
            self.flusher.close()
            self.flusher = None

    def close(self) -> None:
        self._end_flusher()
        if self.file is not None:
            self.file.close()
            self.file = None

    def remove_staged(self) -> None:
        """Delete the staging folder and whatever attachments were not moved out of it."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def finish(self) -> None:
        if self.error is None and (not self.ended or self.head):
            self.error = BundleError("payload-invalid", "数据包内容不完整")

    def _begin(self, kind: int, length: int) -> None:
        self.sections += 1
        if self.sections > self.limits.max_records:
            raise BundleError("too-many-records", "数据包记录数超过限制")
        if kind == END:
            if length:
                raise BundleError("payload-invalid", "数据包结束标记格式不符")
            self.ended = True
        elif kind == RECORDS and length:
            self.kind, self.left = kind, length
        elif kind == ATTACHMENT and length >= HASH_BYTES:
            self.attachment_bytes += length - HASH_BYTES
            if self.attachment_bytes > self.limits.max_decompressed_bytes:
                raise BundleError("decompressed-too-large", "数据包解压后超过大小限制")
            self.kind, self.left = kind, length
            self.expected = b""
            self.digest = self.hashing.sha256()
            if self.folder is None:
                self.folder = Path(tempfile.mkdtemp(prefix=".open-", dir=self.staging))
            self.file = open(self.folder / f"{len(self.attachments)}.part", "wb")  # noqa: SIM115
            self.flusher = Flusher(self.file)
        else:
            raise BundleError("payload-invalid", f"数据包内容分段格式不符（类型 {kind}）")

    def _body(self, data: memoryview) -> None:
        if self.kind == RECORDS:
            self.records_out.write(data)
            return
        if len(self.expected) < HASH_BYTES:
            take = HASH_BYTES - len(self.expected)
            self.expected += data[:take]
            data = data[take:]
        if data:
            self.digest.update(data)
            assert self.file is not None and self.flusher is not None
            self.file.write(data)
            self.flusher.wrote(len(data))

    def _end(self) -> None:
        if self.kind == ATTACHMENT and self.file is not None:
            self._end_flusher()
            self.file.flush()
            os.fsync(self.file.fileno())  # kept by a rename: the bytes must be on disk first
            self.file.close()
            if self.digest.digest() != self.expected:
                raise BundleError("attachment-invalid", "附件内容与其校验值不符")
            path = Path(self.file.name)
            self.attachments.append(Staged(self.expected.hex(), path.stat().st_size, path))
            self.file = None
        self.kind = None


# Verified chains by (chain bytes, root): a sender's chain is the same on every bundle, and
# parsing it and checking three signatures was most of opening a small bundle. An entry is
# used only inside the validity window of every certificate in it.
_CHAINS: dict[tuple[bytes, bytes], tuple[NodeIdentity, list[str], datetime, datetime]] = {}
_CHAINS_MAX = 1024


def verified_chain(
    chain_pem: bytes, root: x509.Certificate, now: datetime
) -> tuple[NodeIdentity, list[str]]:
    """The node a PEM chain (leaf first) certifies up to ``root``, and the ids along it
    (cached; raises :class:`TrustError`)."""
    key = (hashlib.sha256(chain_pem).digest(), root.fingerprint(hashes.SHA256()))
    hit = _CHAINS.get(key)
    if hit is not None and hit[2] <= now <= hit[3]:
        return hit[0], hit[1]
    chain = chain_from_pem(chain_pem)
    sender = verify_chain(chain, root, now)
    line = [cert_identity(c).id for c in chain]
    if len(_CHAINS) >= _CHAINS_MAX:
        _CHAINS.clear()
    _CHAINS[key] = (
        sender,
        line,
        max(c.not_valid_before_utc for c in chain),
        min(c.not_valid_after_utc for c in chain),
    )
    return sender, line


def _verify_sender(
    header: Header,
    header_bytes: bytes,
    keys_section: bytes,
    ciphertext_hash: bytes,
    chain_pem: bytes,
    signature: bytes,
    root: x509.Certificate,
    now: datetime,
    revoked: frozenset[str],
    version: int,
) -> NodeIdentity:
    try:
        sender, line = verified_chain(chain_pem, root, now.astimezone(UTC))
    except TrustError as exc:
        raise BundleError("unknown-sender", f"发送节点证书无效：{exc.message}") from exc
    if sender.id != header.sender:
        raise BundleError("sender-mismatch", "数据包的发送节点与签名证书不符")
    cut = [node for node in line if node in revoked]
    if cut:  # revoking an issuer cuts off everything it certified
        raise BundleError("revoked-sender", f"节点 {cut[0]} 的证书已被吊销")
    signed = _to_be_signed(header_bytes, keys_section, ciphertext_hash, chain_pem, version)
    if not _signature_holds(sender.signing_public, signature, signed):
        raise BundleError("signature", "数据包签名无效")
    return sender


# Signatures this process found good, by the SHA-256 of (key, signature, signed bytes): an
# upload's bundle is checked as it is taken in (syncd/http.py) and again as it is opened, and
# the second Ed25519 check (~140 µs) was pure repetition. Only a good result is kept; the
# same key, signature and bytes always give it again.
_SIGNATURES: set[bytes] = set()
_SIGNATURES_MAX = 8192


def _signature_holds(public: bytes, signature: bytes, signed: bytes) -> bool:
    """Whether ``signature`` by the Ed25519 key ``public`` holds over ``signed`` (cached)."""
    key = hashlib.sha256(b"%d:%d:" % (len(public), len(signature)) + public + signature + signed)
    found = key.digest()
    if found in _SIGNATURES:
        return True
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(public).verify(signature, signed)
    except (InvalidSignature, ValueError):
        return False
    if len(_SIGNATURES) >= _SIGNATURES_MAX:
        _SIGNATURES.clear()
    _SIGNATURES.add(found)
    return True


def _records(plain: IO[bytes], limits: Limits, budget: int) -> Iterator[dict[str, Any]]:
    unpacker = zlib.decompressobj()
    produced = 0
    line: list[bytes] = []  # pieces of the record being inflated, joined at its newline
    line_bytes = 0
    count = 0
    try:
        while not unpacker.eof:
            data = unpacker.unconsumed_tail or plain.read(1 << 16)
            if not data:
                raise BundleError("payload-invalid", "数据包内容不完整")
            # a bounded output per step: a decompression bomb is stopped at the limit
            out = unpacker.decompress(data, 1 << 20)
            produced += len(out)
            _check_inflated(produced, count, limits, budget)
            *complete, rest = out.split(b"\n")
            for piece in complete:
                count += 1
                _check_inflated(produced, count, limits, budget)
                yield _record(b"".join([*line, piece]))
                line, line_bytes = [], 0
            line.append(rest)
            line_bytes += len(rest)
            if line_bytes > limits.max_record_bytes:
                raise BundleError("record-too-large", "数据包中单条记录超过大小限制")
    except zlib.error as exc:
        raise BundleError("payload-invalid", "数据包内容无法解压") from exc
    if line_bytes or unpacker.unused_data or plain.read(1):
        raise BundleError("payload-invalid", "数据包内容格式不符")


def _check_inflated(produced: int, count: int, limits: Limits, budget: int) -> None:
    if produced > budget:
        raise BundleError("decompressed-too-large", "数据包解压后超过大小限制")
    if count > limits.max_records:
        raise BundleError("too-many-records", "数据包记录数超过限制")


def _record(line: bytes) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise BundleError("payload-invalid", "数据包记录格式不符") from exc
    if not isinstance(record, dict):
        raise BundleError("payload-invalid", "数据包记录格式不符")
    return record
