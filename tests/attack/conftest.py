"""The attack suite's harness: an enrolled network, an attacker's tools, and a victim's view.

The attacker model (DESIGN.md §2): the attacker runs a node it enrolled legitimately, so it
holds that node's keys and certificate chain and nothing else. Certificates are public: an
attacker may quote any node's chain. Honest nodes are simulated with their own keys where a
case needs something they made (a county's signed record that the city then abuses).

The network (enrolled once per session, then copied per test module so modules never share
state): the province 140000, the city 140200, the counties 140212 and 140211 under it, and
140213, a spare county that one case revokes; plus a second deployment with the same ids under
its own root (the "foreign" network).

The victim is looked at only from outside: ``xinbao-syncd import`` / ``status`` and the
quarantine notes (``spool/quarantine/*.json``), ``xinbao list --inbox`` / ``show``, and the
daemon's HTTP answers. Bundles are crafted with :func:`syncd.bundle.seal` (a validly signed
bundle from the attacker's own node) or edited at offsets found by parsing the byte layout
documented in syncd/bundle.py (:func:`parse_layout`), independently of the reader under test;
:func:`seal_v1` writes format version 1 from that layout for the downgrade case.

Records are made as the format-2 rule says (DESIGN.md §2 "Authority lives in the records"):
``{"id","kind","version","origin","payload","to","sig"}`` plus an optional ``"chain"``, the
signature by the maker's Ed25519 key over ``RECORD_CONTEXT`` + the canonical JSON of the six
signed fields (:func:`record_message`).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import json
import os
import re
import secrets
import shutil
import socket
import struct
import subprocess
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from schema.clock import to_text
from schema.node import NodeConfig, NodeHome
from schema.vocabulary import Tier
from syncd import bundle, enrolment, http
from syncd.certificate import cert_identity, chain_to_pem
from syncd.home import init_node
from syncd.keys import NodeKeys, load_keys
from tests.cli_helpers import Result, me, run
from tests.syncd.daemons import Daemon

PROVINCE, CITY, COUNTY, SIBLING, SPARE = "140000", "140200", "140212", "140211", "140213"
OURS = [
    (PROVINCE, Tier.PROVINCE, ""),
    (CITY, Tier.CITY, PROVINCE),
    (COUNTY, Tier.COUNTY, CITY),
    (SIBLING, Tier.COUNTY, CITY),
    (SPARE, Tier.COUNTY, CITY),
]
FOREIGN = [
    (PROVINCE, Tier.PROVINCE, ""),
    (CITY, Tier.CITY, PROVINCE),
    (COUNTY, Tier.COUNTY, CITY),
]
RECORD_CONTEXT = b"xinbao-record/2\n"
SIGNED_FIELDS = ("id", "kind", "version", "origin", "payload", "to")
CJK = re.compile(r"[\u4e00-\u9fff]")
WAIT = 20.0  # seconds: the longest a victim may take to show an outcome
FAST = (
    "[intervals]\nsend = 0.2\nfetch = 0.3\nretry_min = 0.2\nretry_max = 1.0\n"
    "resend_after = 60.0\ndrop_poll = 0.2\nstable = 0.2\nabandon = 3600.0\n"
)


# ---------------------------------------------------------------------------------------------
# The network


def enrol(base: Path, nodes: Iterable[tuple[str, Tier, str]], admin: str) -> None:
    """Node homes under ``base`` for (id, tier, parent) in top-down order, each enrolled by its
    parent: the library calls ``xinbao-syncd init`` / ``enroll request|issue|install`` make
    (``admin`` is the user ``init`` makes 管理员), in-process because 17 CLI runs took a third
    of the suite's time budget on a loaded 2-core machine."""
    now = datetime.now(UTC)
    homes: dict[str, NodeHome] = {}
    for node, tier, parent in nodes:
        home = NodeHome(base / node)
        init_node(home, NodeConfig(node, f"单位{node}", tier, parent), admin, now)
        homes[node] = home
        if parent:
            _, pem = enrolment.issue_for(homes[parent], enrolment.request(home), now)
            enrolment.install(home, pem, now)


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both deployments, enrolled once per session; modules work on copies. ``zhangsan`` is
    the desk user of ours (tests.cli_helpers.run acts as him); the foreign one is the
    attacker's own infrastructure."""
    root = tmp_path_factory.mktemp("template")
    enrol(root / "ours", OURS, me())
    enrol(root / "foreign", FOREIGN, "attacker")
    return root


@pytest.fixture(scope="module")
def net(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Net:
    """This module's own copy of the network."""
    base = tmp_path_factory.mktemp("net")
    shutil.copytree(template, base, dirs_exist_ok=True)
    return Net(base)


class Net:
    """One copy of the network: homes, and what each node may do with its own keys."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._keys: dict[tuple[str, bool], NodeKeys] = {}
        self._ids = itertools.count(1)

    def home(self, node: str, *, foreign: bool = False) -> Path:
        return self.base / ("foreign" if foreign else "ours") / node

    def keys(self, node: str, *, foreign: bool = False) -> NodeKeys:
        """The node's own keys (an attacker uses only its own)."""
        key = (node, foreign)
        if key not in self._keys:
            self._keys[key] = load_keys(self.home(node, foreign=foreign), None)
        return self._keys[key]

    def chain(self, node: str, *, foreign: bool = False) -> list[x509.Certificate]:
        chain = enrolment.load_chain(NodeHome(self.home(node, foreign=foreign)))
        assert chain is not None, f"{node} is not enrolled"
        return chain

    def chain_pem(self, node: str, *, foreign: bool = False) -> str:
        """A node's certificate chain, leaf first: public, anyone may quote it."""
        return chain_to_pem(self.chain(node, foreign=foreign)).decode("ascii")

    def encryption_key(self, node: str) -> bytes:
        """A node of ours's X25519 public key, from its certificate."""
        return cert_identity(self.chain(node)[0]).encryption_public

    def item_id(self, prefix: str) -> str:
        """A fresh item id under ``prefix`` (ids far above what desks number)."""
        return f"{prefix}-2026-{70000 + next(self._ids):05d}"

    def seal(
        self,
        sender: str,
        recipients: Iterable[str],
        records: Iterable[dict[str, Any]],
        *,
        foreign: bool = False,
        now: datetime | None = None,
        lifetime: timedelta | None = None,
        attachments: Iterable[tuple[str, Path]] = (),
    ) -> bytes:
        """A bundle validly sealed and signed by ``sender`` with its own keys and chain."""
        targets = list(recipients)
        header = bundle.new_header(sender, targets, now or datetime.now(UTC), lifetime=lifetime)
        out = io.BytesIO()
        bundle.seal(
            header,
            records,
            self.keys(sender, foreign=foreign),
            self.chain(sender, foreign=foreign),
            {r: self.encryption_key(r) for r in targets},
            out,
            None,
            attachments,
        )
        return out.getvalue()

    # -- records ----------------------------------------------------------------------------

    def signed(
        self,
        core: dict[str, Any],
        *,
        key_of: str | None = "",
        chain_of: str | None = "",
        foreign: bool = False,
    ) -> dict[str, Any]:
        """``core`` as a format-2 record: signed with ``key_of``'s key (default: its maker;
        None: no signature) and carrying ``chain_of``'s chain (default: its maker's)."""
        record = {**core, "to": sorted(core["to"])}
        signer = core["origin"] if key_of == "" else key_of
        holder = core["origin"] if chain_of == "" else chain_of
        if signer is not None:
            key = self.keys(signer, foreign=foreign).signing
            record["sig"] = key.sign(record_message(record)).hex()
        if holder is not None:
            record["chain"] = self.chain_pem(holder, foreign=foreign)
        return record


def record_message(record: dict[str, Any]) -> bytes:
    """What a record's maker signs (format 2)."""
    core = {k: record[k] for k in SIGNED_FIELDS}
    text = json.dumps(core, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return RECORD_CONTEXT + text.encode()


def content(title: str, *, emergency: bool = False) -> dict[str, Any]:
    """An item's content as an item file states it."""
    data: dict[str, Any] = {
        "title": title,
        "category": "突发事件" if emergency else "工作动态",
        "body": "本周完成冬季供暖设施巡查，发现隐患三处，已全部整改。",
        "author": "李四",
        "urgency": "特急" if emergency else "平急",
        "classification": "内部",
    }
    if emergency:
        data["incident"] = {
            "severity": "重大",
            "occurred_at": to_text(datetime.now(UTC) - timedelta(hours=1)),
            "place": "某煤矿",
        }
    return data


def item_core(
    maker: str,
    item_id: str,
    to: Iterable[str],
    title: str,
    *,
    item_origin: str | None = None,
    sources: Iterable[str] = (),
    derivation: str = "",
    cites: list[dict[str, Any]] | None = None,
    emergency: bool = False,
    revision: int = 1,
) -> dict[str, Any]:
    """An item record (unsigned) as ``maker`` would make it for ``to``; ``item_origin`` lies
    about whose item it is."""
    targets = sorted(to)
    now = to_text(datetime.now(UTC))
    payload: dict[str, Any] = {
        "item": {
            "id": item_id,
            "origin": item_origin or maker,
            "revision": revision,
            "content": content(title, emergency=emergency),
            "signer": "王五",
            "signed_at": now,
            "created_at": now,
            "sources": list(sources),
            "derivation": derivation,
        },
        "edges": [[maker, t] for t in targets],
    }
    if cites is not None:
        payload["cites"] = cites
    return {
        "id": item_id,
        "kind": "item",
        "version": revision,
        "origin": maker,
        "payload": payload,
        "to": targets,
    }


# ---------------------------------------------------------------------------------------------
# The byte layout (syncd/bundle.py's docstring), parsed independently of the reader


@dataclass(frozen=True)
class Layout:
    version: int
    header: tuple[int, int]  # the header's JSON
    keys: tuple[int, int]  # the whole keys section (count first)
    wrapped: tuple[tuple[int, int], ...]  # each recipient's wrapped key
    chunks: tuple[int, int]  # the whole chunk section
    frames: tuple[tuple[int, int, bool], ...]  # (start of the length word, end, last)
    chain: tuple[int, int]  # the chain PEM
    signature: tuple[int, int]


def parse_layout(data: bytes) -> Layout:
    """Region offsets of a bundle, from the documented layout."""
    assert data[:8] == b"XINBAOB\x00"
    (version,) = struct.unpack_from(">H", data, 8)
    (size,) = struct.unpack_from(">I", data, 10)
    header = (14, 14 + size)
    pos = header[1]
    keys_start = pos
    tree = version >= 3  # u16 index · u8 id length · id · u8 suite · u16 length · key; proof
    pos += 4 if tree else 0  # version 3: the section's u32 length comes first
    (count,) = struct.unpack_from(">H", data, pos)
    pos += 2
    wrapped = []
    for _ in range(count):
        pos += 2 if tree else 0
        pos += 1 + data[pos] + (1 if tree else 0)
        (length,) = struct.unpack_from(">H", data, pos)
        wrapped.append((pos + 2, pos + 2 + length))
        pos += 2 + length
    if tree:
        (hashes,) = struct.unpack_from(">H", data, pos)
        pos += 2 + 32 * hashes
    keys = (keys_start, pos)
    frames = []
    while True:
        (word,) = struct.unpack_from(">I", data, pos)
        end = pos + 4 + (word & 0x7FFF_FFFF)
        frames.append((pos, end, bool(word & 0x8000_0000)))
        pos = end
        if word & 0x8000_0000:
            break
    chunks = (keys[1], pos)
    (chain_size,) = struct.unpack_from(">I", data, pos)
    chain = (pos + 4, pos + 4 + chain_size)
    signature = (chain[1], chain[1] + 64)
    assert signature[1] == len(data), "the layout does not cover the file"
    return Layout(version, header, keys, tuple(wrapped), chunks, tuple(frames), chain, signature)


def flip(data: bytes, offset: int, bit: int = 0) -> bytes:
    return data[:offset] + bytes([data[offset] ^ (1 << bit)]) + data[offset + 1 :]


def _part(data: bytes, span: tuple[int, int]) -> bytes:
    return data[span[0] : span[1]]


def signature_message(
    version: int, header: bytes, keys: bytes, chunks: bytes, chain: bytes
) -> bytes:
    """What the sender signs: the version, then the header, the keys section (version 3: the
    root of the keys' tree, from the header), the chunk section and the chain, each hashed."""
    if version >= 3:
        keys = bytes.fromhex(json.loads(header)["recipient_root"])
    return (
        b"xinbao-bundle-signature\x00"
        + struct.pack(">H", version)
        + b"".join(hashlib.sha256(part).digest() for part in (header, keys, chunks, chain))
    )


def to_be_signed(data: bytes, layout: Layout) -> bytes:
    """What the sender of ``data`` signed."""
    parts = (layout.header, layout.keys, layout.chunks, layout.chain)
    return signature_message(layout.version, *(_part(data, p) for p in parts))


def with_trailer(data: bytes, layout: Layout, chain_pem: bytes, signature: bytes) -> bytes:
    """``data`` with its trailer (chain and signature) replaced."""
    body = data[: layout.chunks[1]]
    return body + struct.pack(">I", len(chain_pem)) + chain_pem + signature


def resigned(data: bytes, keys: NodeKeys, chain_pem: bytes) -> bytes:
    """``data`` signed afresh by ``keys`` with ``chain_pem`` as the sender's chain."""
    layout = parse_layout(data)
    stub = with_trailer(data, layout, chain_pem, bytes(64))
    signature = keys.signing.sign(to_be_signed(stub, parse_layout(stub)))
    return with_trailer(data, layout, chain_pem, signature)


# ---------------------------------------------------------------------------------------------
# Format version 1, written from the documented layout (for the downgrade attack)

_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
CHUNK = 65_536


def seal_v1(
    sender: str,
    recipients: dict[str, bytes],
    records: Iterable[dict[str, Any]],
    keys: NodeKeys,
    chain_pem: bytes,
    now: datetime | None = None,
) -> bytes:
    """A format-1 bundle (records unsigned) from ``sender`` to ``recipients`` (id → X25519)."""
    version, moment = 1, now or datetime.now(UTC)
    bundle_id = secrets.token_hex(16)
    fields = {
        "classification": 1,
        "created": int(moment.timestamp()),
        "expires": int((moment + timedelta(days=30)).timestamp()),
        "hop_limit": 8,
        "id": bundle_id,
        "priority": 0,
        "recipients": list(recipients),
        "sender": sender,
    }
    header = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    key = ChaCha20Poly1305.generate_key()
    keys_section = struct.pack(">H", len(recipients))
    for recipient, public in recipients.items():
        info = b"\x00".join(
            [b"xinbao-bundle-key", b"1", bundle_id.encode(), sender.encode(), recipient.encode()]
        )
        wrapped = _SUITE.encrypt(key, x25519.X25519PublicKey.from_public_bytes(public), info)
        rid = recipient.encode()
        keys_section += struct.pack(">B", len(rid)) + rid + struct.pack(">H", len(wrapped))
        keys_section += wrapped
    lines = b"".join(
        json.dumps(r, ensure_ascii=False, separators=(",", ":")).encode() + b"\n" for r in records
    )
    packed = zlib.compress(lines, 6)
    payload = struct.pack(">BQ", 1, len(packed)) + packed + struct.pack(">BQ", 0, 0)
    pieces = [payload[i : i + CHUNK] for i in range(0, len(payload), CHUNK)] or [b""]
    aead = ChaCha20Poly1305(key)
    chunk_section = b""
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        aad = b"\x00".join([b"xinbao-chunk", b"1", bundle_id.encode(), sender.encode()])
        aad += struct.pack(">QB", index, last)
        sealed = aead.encrypt(struct.pack(">IQ", 0, index), piece, aad)
        chunk_section += struct.pack(">I", len(sealed) | (0x8000_0000 if last else 0)) + sealed
    signed = signature_message(version, header, keys_section, chunk_section, chain_pem)
    return (
        b"XINBAOB\x00"
        + struct.pack(">H", version)
        + struct.pack(">I", len(header))
        + header
        + keys_section
        + chunk_section
        + struct.pack(">I", len(chain_pem))
        + chain_pem
        + keys.signing.sign(signed)
    )


# ---------------------------------------------------------------------------------------------
# The victim, seen from outside


def ok(done: Result) -> Result:
    assert done.code == 0, done.err
    return done


def import_bundles(home: Path, files: dict[str, bytes], carry: Path) -> dict[str, Any]:
    """Carry ``files`` (name → bytes) to ``home`` in a fresh folder and import them there;
    the import report. Files are taken in name order."""
    folder = carry / f"carry-{secrets.token_hex(4)}"
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return dict(ok(run("xinbao-syncd", "--json", "import", str(folder), home=home)).json())


def import_volley(home: Path, files: dict[str, bytes], carry: Path) -> dict[str, Any]:
    """Import ``files`` in one run (name order); should that run fail outright, import them one
    run each, so every file still gets its own outcome. The report, with ``crashed``: file
    name → the last line of a failed run's stderr."""
    folder = carry / f"carry-{secrets.token_hex(4)}"
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    done = run("xinbao-syncd", "--json", "import", str(folder), home=home)
    if done.code == 0:
        return {**done.json(), "crashed": {}}
    merged: dict[str, Any] = {"applied": [], "duplicate": [], "quarantined": [], "records": 0}
    merged["crashed"] = {}
    for name in sorted(files):
        one = carry / f"one-{secrets.token_hex(4)}"
        one.mkdir()
        (one / name).write_bytes(files[name])
        done = run("xinbao-syncd", "--json", "import", str(one), home=home)
        if done.code != 0:
            merged["crashed"][name] = (done.err.strip().splitlines() or ["?"])[-1]
            continue
        report = done.json()
        for key in ("applied", "duplicate", "quarantined"):
            merged[key].extend(report[key])
        merged["records"] += report["records"]
    return merged


def refusals(report: dict[str, Any]) -> dict[str, str]:
    """Quarantined file name → reason, from an import report."""
    return {str(name): str(reason) for name, reason in report["quarantined"]}


def quarantine_notes(home: Path) -> dict[str, dict[str, Any]]:
    """The JSON notes beside quarantined bundles, by the name the file arrived under."""
    notes: dict[str, dict[str, Any]] = {}
    for path in sorted((home / "spool" / "quarantine").glob("*.json")):
        note = json.loads(path.read_text("utf-8"))
        notes[Path(str(note.get("source", ""))).name] = note
    return notes


def status(home: Path) -> dict[str, Any]:
    return dict(ok(run("xinbao-syncd", "--json", "status", home=home)).json())


def inbox(home: Path) -> list[dict[str, Any]]:
    return list(ok(run("xinbao", "--json", "list", "--inbox", "--limit", "1000", home=home)).json())


def inbox_ids(home: Path) -> set[str]:
    return {str(row["item_id"]) for row in inbox(home)}


def show(home: Path, item_id: str) -> Result:
    return run("xinbao", "--json", "show", item_id, home=home)


def assert_refused(
    notes: dict[str, dict[str, Any]], report: dict[str, Any], name: str, reasons: Iterable[str]
) -> str:
    """``name`` was quarantined with one of ``reasons``, and its note says so."""
    wanted = set(reasons)
    crashed = report.get("crashed", {}).get(name)
    assert crashed is None, f"importing {name} failed: {crashed}"
    got = refusals(report).get(name)
    where = next((k for k in ("applied", "duplicate") if name in report.get(k, [])), "neither")
    assert got is not None, f"{name} was not refused (reported {where})"
    assert got in wanted, f"{name} refused as {got!r}, expected one of {sorted(wanted)}"
    note = notes.get(name)
    assert note is not None, f"no quarantine note for {name}"
    assert note.get("reason") == got and note.get("message"), note
    return got


# ---------------------------------------------------------------------------------------------
# HTTP, as an attacker speaks it


def auth(
    net: Net, node: str, method: str, path: str, fields: Iterable[str] = (), *, as_node: str = ""
) -> dict[str, str]:
    """Request-signing headers made with ``node``'s key by the product's own signer
    (syncd.http.signed_headers), claiming to come from ``as_node`` (default: ``node``)."""
    keys = net.keys(node)
    return dict(http.signed_headers(keys, as_node or node, method, path, list(fields)))


def push(net: Net, node: str, url: str, path: Path, resume_above: int = 1 << 62) -> str:
    """Upload a bundle file as node ``node``'s daemon does (syncd.http.push, each request
    signed with its keys); the id the peer took custody of."""

    async def go() -> str:
        async with httpx.AsyncClient(timeout=10) as client:
            return await http.push(client, url, node, net.keys(node), path, resume_above)

    return asyncio.run(go())


def get(url: str, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    with httpx.Client(timeout=5) as client:
        return client.get(url.rstrip("/") + path, headers=headers or {})


def healthy(url: str) -> bool:
    try:
        return get(url, "/v1/health").status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


def raw_http(url: str, head: bytes, body: Iterable[bytes] = (), timeout: float = 5.0) -> Answer:
    """Send a hand-made request over a plain socket and read the answer, all within
    ``timeout`` seconds (an AssertionError if none comes). The server may answer and close
    before the whole body is sent: sending stops there."""
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1" and parts.port
    started = time.monotonic()
    deadline = started + timeout
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        try:
            sock.sendall(head)
            for piece in body:
                if time.monotonic() > deadline:
                    break
                sock.settimeout(max(0.05, deadline - time.monotonic()))
                sock.sendall(piece)
        except OSError:
            pass  # answered (and closed) early, or too slow: read what came back
        return _read_answer(sock, started, deadline)


def _read_answer(sock: socket.socket, started: float, deadline: float) -> Answer:
    data = b""
    while b"\r\n\r\n" not in data:
        left = deadline - time.monotonic()
        assert left > 0, f"no answer within {deadline - started:.0f} s"
        sock.settimeout(left)
        try:
            piece = sock.recv(65536)
        except TimeoutError as exc:
            raise AssertionError(f"no answer within {deadline - started:.0f} s") from exc
        except ConnectionResetError:
            piece = b""
        if not piece:
            assert data, "the connection was closed without an answer"
            break
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    want = int(headers.get("content-length", "0") or 0)
    while len(rest) < want and time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            piece = sock.recv(65536)
        except OSError:
            break
        if not piece:
            break
        rest += piece
    return Answer(status, headers, rest, time.monotonic() - started)


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# ---------------------------------------------------------------------------------------------
# Daemons


def configure(home: Path, extra: str = "") -> None:
    """Fast timers (and ``extra`` TOML) for a victim's daemon."""
    (home / "syncd.toml").write_text(FAST + extra, "utf-8")


@pytest.fixture(scope="module")
def city_daemon(net: Net) -> Iterator[Daemon]:
    """The city's daemon on 127.0.0.1 (an ephemeral port), with a drop folder."""
    home = net.home(CITY)
    configure(home)
    (home / "drop").mkdir(exist_ok=True)
    daemon = Daemon(home)
    try:
        yield daemon
    finally:
        stop(daemon, 10.0)


def stop(daemon: Daemon, seconds: float) -> tuple[int | None, float]:
    """SIGTERM, then SIGKILL after ``seconds``; the exit code of a graceful stop (None if it
    had to be killed) and how long the stop took."""
    started = time.monotonic()
    code: int | None = None
    if daemon.proc.poll() is None:
        daemon.proc.terminate()
        try:
            code = daemon.proc.wait(seconds)
        except subprocess.TimeoutExpired:
            daemon.proc.kill()
            daemon.proc.wait(5)
    else:
        code = daemon.proc.returncode
    if not daemon.log.closed:
        daemon.log.close()
    return code, time.monotonic() - started


def alive(daemon: Daemon) -> bool:
    return daemon.proc.poll() is None


def log_of(daemon: Daemon) -> str:
    return (daemon.home / "daemon.log").read_text("utf-8", errors="replace")


def os_write_atomically(folder: Path, name: str, data: bytes) -> Path:
    """Put a file into ``folder`` under ``name`` in one rename (a carrier's copy finishing)."""
    tmp = folder.parent / f".{secrets.token_hex(4)}.tmp"
    tmp.write_bytes(data)
    target = folder / name
    os.replace(tmp, target)
    return target
