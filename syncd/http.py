"""The HTTP link: a starlette app served by uvicorn, and the httpx client that talks to it.

Endpoints (``/v1``):

* ``POST /v1/bundles`` — a bundle upload. The body is written to ``spool/in`` durably and its
  sender's chain and signature are checked (:func:`syncd.bundle.verify_outer`) before the
  answer: ``200 {"id": …}`` means the node has taken custody (the hop receipt). Bundles from
  nodes that are not enrolled in this deployment are not kept (403); other refusals are 422
  with the reason code; too large 413; too many uploads from one peer per minute 429.
* ``POST /v1/batch`` — several small bundles in one request: the body is frames of ``u32
  length · bundle`` (at most ``syncd.spool.MAX_BATCH_FRAMES``), signed like ``POST
  /v1/bundles`` (``content-length=N``). It is written once, fsync'd once, and each bundle in
  it checked as one upload is; the good ones are kept together as one batch file in
  ``spool/in`` (the engine splits it) and the answer is per bundle: ``200 {"taken": [{index,
  id}], "refused": [{index, reason, message}]}``. A body that is not a batch (a frame empty,
  cut short or past the bundle limit, too many frames) is refused whole, 400 ``batch-invalid``,
  nothing kept. A daemon pushes small bundles this way (``syncd/daemon.py``: up to
  ``BATCH_BUNDLES`` or ``BATCH_BYTES`` a request) and falls back to one a request for a peer
  that answers 404.
* ``HEAD /v1/uploads/{key}`` and ``PATCH /v1/uploads/{key}`` — a resumable upload of a large
  bundle (``key``: the bundle id). HEAD answers how many bytes the node durably holds
  (``Upload-Offset``; 404 for none); PATCH sends bytes from ``Upload-Offset`` (which must be
  the node's count, else 409 with the right one) of ``Upload-Length`` in all. Bytes that
  arrived before a broken connection are kept (fsync'd), so the next attempt sends only the
  rest. The last PATCH is answered like ``POST /v1/bundles``; partial files left for
  ``limits.partial_ttl`` seconds are deleted.
* ``GET /v1/pull/{peer}`` and ``GET /v1/pull/{peer}/{name}`` — bundles waiting for a child that
  cannot accept connections (pull mode); ``POST /v1/pull/{peer}/ack`` — it took custody of
  them (a JSON body ``{"names": […]}`` of at most :data:`MAX_ACK_BYTES`).
* ``GET /v1/health`` — the node id and its queues.

Every request but ``health`` is signed by the node that makes it, and only a neighbour may make
it: a direct child (its certificate in ``keys/issued``) or the parent (the second certificate of
this node's chain); pulls only a child, for itself. Headers::

    X-Xinbao-Node: 140200                 the sender's node id
    X-Xinbao-Time: 1796000000             Unix seconds; refused beyond the bundle clock skew
    X-Xinbao-Nonce: <32 hex digits>       fresh per request; a nonce seen before is a replay
    X-Xinbao-Signature: <128 hex digits>  Ed25519 by the node's signing key over

    xinbao-request/1 LF node LF METHOD LF path LF time LF nonce [LF field]…

with the fields of the endpoint: ``content-length=N`` for ``POST /v1/bundles`` (its body
cannot be hashed before it is streamed; the bundle inside is signed by its sender anyway),
``upload-offset=N`` and ``upload-length=N`` for ``PATCH``, ``sha256=HEX`` of the body for the
pull acknowledgement, none for ``HEAD`` and the ``GET``s. Unsigned, stale or wrongly signed:
401 (``unauthorized``, ``stale``; a nonce used again: ``replay``) before a byte of the body is
read; not a neighbour, or revoked: 403. Nonces are kept in memory until their time has left
the window; a neighbour with more than ``limits.max_nonces_per_peer`` live ones is answered 429.

Bodies: every endpoint that takes one needs ``Content-Length`` (no chunked bodies: 411) and
answers 413 from it before reading; a body slower than ``limits.min_body_rate`` on average after
``limits.timeout`` seconds, or idle that long, is cut off with 408. Unfinished uploads are kept
per authenticated neighbour (``partial/PEER.KEY.part``) within ``limits.max_partial_bytes_per_peer``
and ``limits.max_partial_uploads_per_peer`` (429 when full). Refusals are JSON ``{"reason",
"message"}`` with the connection closed, one log line each; an unexpected error is a logged 500,
never a traceback.

TLS: give ``tls_cert`` and ``tls_key`` in ``syncd.toml``; uvicorn then serves HTTPS and peers
use ``https://`` URLs (the bundles are end-to-end encrypted and signed either way; TLS hides
the outer headers and the traffic pattern from the wire).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import json
import logging
import math
import os
import re
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schema.itemfile import UNIT_ID
from schema.node import NodeHome
from syncd.bundle import BundleError, Header, Limits, read_header, verify_outer
from syncd.certificate import cert_identity, chain_from_pem
from syncd.config import HttpLimits
from syncd.enrolment import ISSUED_DIR, load_chain
from syncd.error import TrustError
from syncd.keys import KEY_DIR, NodeKeys, fsync_dir
from syncd.spool import (
    BATCH_SUFFIX,
    CHECKED,
    FRAME,
    SUFFIX,
    batch_frames,
    copy_range,
    open_regular,
)

log = logging.getLogger("xinbao.syncd")

PIECE = 1 << 20
MAX_ACK_BYTES = 1 << 20  # a pull acknowledgement names at most 1000 bundles (~70 KB)
MAX_ACK_NAMES = 1000
MAX_EMPTY_PIECES = 1024  # a body that keeps arriving empty makes no progress
# reads the check of an uploaded bundle may make: a sealed bundle needs about three per 64 KiB
# chunk, so this is far above any real one and far below one of millions of tiny frames
CHECK_READS_FREE = 4096
CHECK_BYTES_PER_READ = 1024
SIGNED = "xinbao-request/1"
_KEY = re.compile(r"[0-9A-Za-z_-]{1,64}")
_NONCE = re.compile(r"[0-9a-f]{32}")
_SIGNATURE = re.compile(r"[0-9a-f]{128}")
_DIGITS = re.compile(r"[0-9]{1,19}")
_NAME = re.compile(r"[0-9A-Za-z_.-]{1,128}")
_POST = "post:"  # reservations of POST bodies (no resumable key contains a colon)
BATCH_PATH = "/v1/batch"  # several small bundles in one request body (u32 length · bundle …)
# 403s about the link, not about the bundle: the client keeps the bundle and retries later
_LINK_REASONS = frozenset({"unknown-node", "revoked-node", "expired-node"})


# -- signing (both sides) ---------------------------------------------------------------------


def signed_headers(
    keys: NodeKeys, node: str, method: str, path: str, fields: Sequence[str] = ()
) -> dict[str, str]:
    """Headers that prove a request comes from ``node`` (see the module docstring); each call
    makes a fresh nonce, so a header set is good for one request."""
    moment = str(int(time.time()))
    nonce = secrets.token_hex(16)
    message = _to_sign(node, method, path, moment, nonce, fields)
    return {
        "X-Xinbao-Node": node,
        "X-Xinbao-Time": moment,
        "X-Xinbao-Nonce": nonce,
        "X-Xinbao-Signature": keys.signing.sign(message).hex(),
    }


def length_fields(length: int) -> list[str]:
    """The signed fields of ``POST /v1/bundles``."""
    return [f"content-length={length}"]


def upload_fields(offset: int, total: int) -> list[str]:
    """The signed fields of ``PATCH /v1/uploads/{key}``."""
    return [f"upload-offset={offset}", f"upload-length={total}"]


def body_fields(body: bytes) -> list[str]:
    """The signed fields of a request whose whole (small) body is signed."""
    return [f"sha256={hashlib.sha256(body).hexdigest()}"]


def _to_sign(
    node: str, method: str, path: str, moment: str, nonce: str, fields: Sequence[str]
) -> bytes:
    return "\n".join([SIGNED, node, method.upper(), path, moment, nonce, *fields]).encode()


# -- what the endpoint remembers ----------------------------------------------------------------


class RateLimit:
    """At most ``per_minute`` events per key in any sliding minute."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.events: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        window = self.events.setdefault(key, deque())
        while window and now - window[0] > 60:
            window.popleft()
        if len(window) >= self.per_minute:
            return False
        window.append(now)
        return True


class Nonces:
    """The nonces of each node's signed requests, kept until the request's time has left the
    acceptance window (then a replay is refused as stale anyway). Only nonces of requests whose
    signature checked out are kept, so the memory is bounded by neighbours × ``per_node``."""

    def __init__(self) -> None:
        self.live: dict[str, dict[str, float]] = {}
        self.order: dict[str, list[tuple[float, str]]] = {}  # heap by expiry, per node

    def add(self, node: str, nonce: str, until: float, per_node: int) -> str:
        """``ok`` (remembered), ``replay`` (seen before) or ``full`` (too many live ones)."""
        live = self.live.setdefault(node, {})
        order = self.order.setdefault(node, [])
        now = time.time()
        while order and order[0][0] < now:
            live.pop(heapq.heappop(order)[1], None)
        if nonce in live:
            return "replay"
        if len(live) >= per_node:
            return "full"
        live[nonce] = until
        heapq.heappush(order, (until, nonce))
        return "ok"


@dataclass(frozen=True)
class Refusal:
    """Why a request is not served: the HTTP status, a stable reason code, the Chinese message."""

    status: int
    reason: str
    message: str


class Partials:
    """Unfinished uploads, per authenticated peer: resumable parts (``PEER.KEY.part`` in
    ``folder``: neither a node id nor a key has a dot) and bodies being received, each counted
    at the length it may reach while it is being received."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.active: dict[str, dict[str, int]] = {}

    def path(self, peer: str, key: str) -> Path:
        return self.folder / f"{peer}.{key}.part"

    def busy(self, peer: str, key: str) -> bool:
        return key in self.active.get(peer, {})

    def reserve(self, peer: str, key: str, size: int, limits: HttpLimits) -> Refusal | None:
        """Count ``size`` bytes for ``key`` until :meth:`release`, or why not. No await between
        the count and the reservation: two requests of one peer never both pass."""
        if size > limits.max_partial_bytes_per_peer:
            return Refusal(413, "too-large", "数据包超过本节点为未完成上传保留的空间")
        prefix = f"{peer}."
        held: dict[str, int] = {}
        for part in self.folder.glob(f"{peer}.*.part"):
            try:
                held[part.name[len(prefix) : -len(".part")]] = part.stat().st_size
            except OSError:  # swept meanwhile
                continue
        active = self.active.get(peer, {})
        resumable = set(held) | {k for k in active if not k.startswith(_POST)}
        if (
            not key.startswith(_POST)
            and key not in resumable
            and len(resumable) >= limits.max_partial_uploads_per_peer
        ):
            return Refusal(429, "too-many-uploads", "未完成的上传过多，请稍后再试")
        others = sum(
            max(held.get(k, 0), active.get(k, 0)) for k in set(held) | set(active) if k != key
        )
        if others + size > limits.max_partial_bytes_per_peer:
            return Refusal(429, "quota", "未完成的上传已达本节点的限额，请稍后再试")
        self.active.setdefault(peer, {})[key] = size
        return None

    def release(self, peer: str, key: str) -> None:
        active = self.active.get(peer, {})
        active.pop(key, None)
        if not active:
            self.active.pop(peer, None)


# -- work for the check pool (never the engine's thread) ----------------------------------------


def neighbour_key(home: NodeHome, node: str, parent_too: bool, now: datetime) -> bytes | str:
    """The Ed25519 public key of ``node`` if it is a direct child of this node (or, with
    ``parent_too``, its parent) with a certificate valid now; else the reason code."""
    cert: x509.Certificate | None = None
    try:
        issued = home.path / KEY_DIR / ISSUED_DIR / f"{node}.pem"
        if issued.is_file():
            cert = chain_from_pem(issued.read_bytes())[0]
        elif parent_too:
            chain = load_chain(home) or []
            if len(chain) >= 2 and cert_identity(chain[1]).id == node:
                cert = chain[1]
        if cert is None:
            return "unknown-node"
        identity = cert_identity(cert)
    except (OSError, TrustError, ValueError, IndexError) as exc:
        log.warning("unreadable certificate of neighbour: node=%s error=%s", node, exc)
        return "unknown-node"
    skew = Limits.load().clock_skew
    if not cert.not_valid_before_utc - skew <= now <= cert.not_valid_after_utc + skew:
        return "expired-node"
    return identity.signing_public


def verify_request(
    home: NodeHome,
    node: str,
    parent_too: bool,
    message: bytes,
    signature: bytes,
    revoked: frozenset[str],
) -> str | None:
    """Whether ``node``, a neighbour, signed ``message``: None, or the reason code."""
    if node in revoked:
        return "revoked-node"
    public = neighbour_key(home, node, parent_too, datetime.now(UTC))
    if isinstance(public, str):
        return public
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return "unauthorized"
    return None


def take_custody(
    path: Path, incoming: Path, root: x509.Certificate, revoked: frozenset[str]
) -> Header:
    """What a relay checks of an uploaded file before keeping it (a whole bundle signed by an
    enrolled, unrevoked node), then keep it in ``incoming`` for the engine. Raises
    :class:`BundleError` (the file is left for the caller)."""
    with open(path, "rb") as fh:
        reads = _CappedReads(fh, os.fstat(fh.fileno()).st_size)
        header = verify_outer(cast(IO[bytes], reads), root, datetime.now(UTC), None, revoked)
    # sender and id are signed; two copies of one bundle may differ in their keys (format 3)
    final = incoming / f"{header.sender}-{header.id}-{secrets.token_hex(4)}{SUFFIX}"
    os.replace(path, final)
    fsync_dir(incoming)
    CHECKED.add(os.stat(final))  # the engine relays it without checking it again
    return header


def take_batch(
    path: Path, incoming: Path, root: x509.Certificate, revoked: frozenset[str], max_bundle: int
) -> tuple[list[tuple[int, str]], list[tuple[int, str, str]]]:
    """:func:`take_custody` for an uploaded batch (``syncd.spool.batch_frames``): each bundle
    in it checked as one upload is, the good ones kept in ``incoming`` as one batch file —
    the upload itself when all are good, so custody of a batch costs one fsync, not one a
    bundle. Returns (index, bundle id) of those taken and (index, reason, message) of those
    refused. Raises :class:`BundleError` ``batch-invalid`` for a body that is not a batch."""
    now = datetime.now(UTC)
    taken: list[tuple[int, str, int, int]] = []
    refused: list[tuple[int, str, str]] = []
    with open(path, "rb") as fh:
        try:
            frames = batch_frames(fh, os.fstat(fh.fileno()).st_size, max_bundle)
        except ValueError as exc:
            raise BundleError("batch-invalid", f"批量上传格式不符：{exc}") from exc
        for index, (offset, length) in enumerate(frames):
            reads = _CappedReads(_Region(fh, offset, length), length)
            try:
                header = verify_outer(cast(IO[bytes], reads), root, now, None, revoked)
            except BundleError as exc:
                refused.append((index, exc.reason, exc.message))
                continue
            taken.append((index, header.id, offset, length))
        keep = path
        if taken and refused:  # only the good ones are kept
            keep = path.with_name(path.name + ".good")
            with open(keep, "wb") as out:
                for _, _, offset, length in taken:
                    copy_range(fh, out, offset - FRAME, FRAME + length)
                _sync(out)
    if taken:
        final = incoming / f"batch-{secrets.token_hex(8)}{BATCH_SUFFIX}"
        os.replace(keep, final)
        fsync_dir(incoming)
        CHECKED.add(os.stat(final))  # each of its parts, as the engine splits it
    return [(i, bundle_id) for i, bundle_id, _, _ in taken], refused


class _Region:
    """Reads of one part of an open file, as if it were the whole file."""

    def __init__(self, fh: IO[bytes], start: int, length: int) -> None:
        self.fh, self.start, self.length, self.at = fh, start, length, 0

    def read(self, n: int = -1) -> bytes:
        left = self.length - self.at
        n = left if n < 0 else min(n, left)
        if n <= 0:
            return b""
        self.fh.seek(self.start + self.at)
        data = self.fh.read(n)
        self.at += len(data)
        return data


class _CappedReads:
    """A bundle file as :func:`verify_outer` reads it, with a cap on the number of reads. Every
    chunk frame costs at least one, so a bundle of millions of empty or tiny frames is refused
    after bounded work instead of being walked for seconds (and then kept, for nobody can
    open it)."""

    def __init__(self, fh: IO[bytes] | _Region, size: int) -> None:
        self.fh = fh
        self.left = CHECK_READS_FREE + size // CHECK_BYTES_PER_READ

    def read(self, n: int = -1) -> bytes:
        self.left -= 1
        if self.left < 0:
            raise BundleError("chunk-invalid", "数据包的数据块过小或过多")
        return self.fh.read(n)


def _sync(fh: IO[bytes]) -> None:
    fh.flush()
    os.fsync(fh.fileno())


# -- reading a body within limits -------------------------------------------------------------


class _Cut(Exception):
    """A request body broke a limit while it was being read."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


_TOO_SLOW = Refusal(408, "too-slow", "上传过慢，连接已断开")
_TOO_LARGE = Refusal(413, "too-large", "数据包超过大小限制")


async def _body(request: Request, length: int, limits: HttpLimits) -> AsyncIterator[bytes]:
    """The body of ``request`` in pieces, never more than ``length`` bytes. It must keep up
    with ``limits.min_body_rate`` after a grace of ``limits.timeout`` seconds and may not stall
    for that long: so a trickling or stalled body ends within ``timeout + length / rate``
    seconds, whatever the client does. Raises :class:`_Cut` or ``ClientDisconnect``."""
    loop = asyncio.get_running_loop()
    grace, rate = limits.timeout, limits.min_body_rate
    start = loop.time()
    received = empty = 0
    more = True
    while more:
        wait = min(start + grace + received / rate - loop.time(), grace)
        if wait <= 0:
            raise _Cut(_TOO_SLOW)
        try:
            async with asyncio.timeout(wait):
                message = await request.receive()
        except TimeoutError:
            raise _Cut(_TOO_SLOW) from None
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        piece = message.get("body", b"")
        more = bool(message.get("more_body", False))
        if not piece:
            empty += 1
            if empty > MAX_EMPTY_PIECES:
                raise _Cut(_TOO_SLOW)
            continue
        received += len(piece)
        if received > length:
            raise _Cut(_TOO_LARGE)
        yield piece


def _declared_length(request: Request, limit: int) -> int | Refusal:
    """The body's ``Content-Length``, refused before a byte is read when absent (or chunked)
    or above ``limit``."""
    raw = request.headers.get("content-length")
    if "transfer-encoding" in request.headers or raw is None or not _DIGITS.fullmatch(raw):
        return Refusal(411, "length-required", "请求须注明长度（Content-Length）")
    length = int(raw)
    if length > limit:
        return _TOO_LARGE
    return length


def _show(text: object, limit: int = 120) -> str:
    """Untrusted text for a log line: escaped (one line) and cut short."""
    return repr(str(text)[:limit])


def _refuse(request: Request, refusal: Refusal, peer: str = "", **headers: str) -> Response:
    """A refusal answer and its log line. The connection is closed: the client may still be
    sending a body nobody will read (uvicorn would otherwise read and drop all of it)."""
    client = request.client.host if request.client else "?"
    claimed = peer or _show(request.headers.get("x-xinbao-node", "-"), 40)
    log.warning(
        "http refused: status=%d reason=%s method=%s path=%s peer=%s client=%s",
        refusal.status,
        refusal.reason,
        request.method,
        _show(request.scope["path"]),
        claimed,
        client,
    )
    body = {"reason": refusal.reason, "message": refusal.message}
    return JSONResponse(body, refusal.status, headers={**headers, "Connection": "close"})


# -- the endpoint ------------------------------------------------------------------------------

Run = Callable[..., Awaitable[Any]]


LONG_POLL_SECONDS = 25.0  # the longest a child's pull is held open (its client waits longer)


def make_app(
    run: Run,
    check: Run,
    engine: Any,
    wake: Callable[[], None],
    revoked: Callable[[], frozenset[str]],
    queued: Callable[[], asyncio.Event | None] = lambda: None,
) -> ASGIApp:
    """The node's HTTP endpoint. ``run(fn, *args)`` runs ``fn`` on the engine's thread (only
    the pull-mode queue lookups need it); ``check(fn, *args)`` on a pool of its own (key
    lookups, signature and bundle checks), so a slow drop folder or a bundle being applied
    never holds up an upload. ``revoked()``: the revoked node ids, read on the engine's thread.
    The limits are read from ``engine.settings`` at each request (syncd.toml reloads).
    ``queued()``: an event set when the next pass has queued bundles (None: the daemon is
    stopping) — a child's long poll (``GET /v1/pull/{peer}?wait=S``) waits on it."""
    skew = Limits.load().clock_skew.total_seconds()  # the same tolerance as for bundles
    home: NodeHome = engine.home
    incoming: Path = engine.incoming
    root: x509.Certificate = engine.receiver.root
    partials = Partials(incoming / "partial")
    partials.folder.mkdir(exist_ok=True)
    nonces = Nonces()
    rate = RateLimit(1)

    def limits() -> HttpLimits:
        current: HttpLimits = engine.settings.limits
        return current

    def allowed(peer: str) -> bool:
        rate.per_minute = limits().uploads_per_minute
        return rate.allow(peer)

    async def authenticate(
        request: Request, fields: Sequence[str], parent_too: bool = True
    ) -> str | Refusal:
        """The neighbour that signed ``request`` (headers and ``fields``), or why not."""
        headers = request.headers
        node = headers.get("x-xinbao-node", "")
        moment = headers.get("x-xinbao-time", "")
        nonce = headers.get("x-xinbao-nonce", "")
        signature = headers.get("x-xinbao-signature", "")
        if not (
            UNIT_ID.fullmatch(node)
            and _DIGITS.fullmatch(moment)
            and _NONCE.fullmatch(nonce)
            and _SIGNATURE.fullmatch(signature)
        ):
            return Refusal(401, "unauthorized", "请求未签名")
        if abs(time.time() - int(moment)) > skew:
            return Refusal(401, "stale", "请求时间不符（请核对本机时钟）")
        path = str(request.scope["path"])  # as uvicorn decoded it; what the client signed
        message = _to_sign(node, request.method, path, moment, nonce, fields)
        why = await check(
            verify_request, home, node, parent_too, message, bytes.fromhex(signature), revoked()
        )
        if why == "unauthorized":
            return Refusal(401, why, "请求签名无效")
        if why is not None:
            return Refusal(403, why, "不是本节点的相邻节点，或其证书已失效")
        seen = nonces.add(node, nonce, int(moment) + skew + 1, limits().max_nonces_per_peer)
        if seen == "replay":
            return Refusal(401, "replay", "重复的请求（疑似重放），已拒绝")
        if seen == "full":
            return Refusal(429, "rate-limited", "请求过于频繁，请稍后再试")
        return node

    async def keep(request: Request, path: Path, peer: str) -> Response:
        """Check a whole uploaded file and take custody of it (the hop receipt)."""
        try:
            header = await check(take_custody, path, incoming, root, revoked())
        except BundleError as exc:
            path.unlink(missing_ok=True)
            status = 403 if exc.reason in ("unknown-sender", "revoked-sender") else 422
            return _refuse(request, Refusal(status, exc.reason, exc.message), peer)
        wake()
        log.info("upload taken: bundle=%s sender=%s peer=%s", header.id, header.sender, peer)
        return JSONResponse({"id": header.id})

    async def posted(
        request: Request,
        prefix: str,
        where: str,
        take: Callable[[Path, str], Awaitable[Response]],
    ) -> Response:
        """A POSTed body of bundles from a neighbour: signed, rate-limited, within the
        partial-upload quota, written whole and synced to a temporary file, then ``take``n
        (the file and the peer); the temporary files are gone afterwards whatever happened."""
        length = _declared_length(request, limits().max_upload_bytes)
        if isinstance(length, Refusal):
            return _refuse(request, length)
        peer = await authenticate(request, length_fields(length))
        if isinstance(peer, Refusal):
            return _refuse(request, peer)
        if not allowed(peer):
            return _refuse(request, Refusal(429, "rate-limited", "上传过于频繁"), peer)
        slot = _POST + secrets.token_hex(8)
        full = partials.reserve(peer, slot, length, limits())
        if full is not None:
            return _refuse(request, full, peer)
        tmp = incoming / f".{prefix}-{secrets.token_hex(8)}.part"
        try:
            size = 0
            with open(tmp, "wb") as fh:
                async for piece in _body(request, length, limits()):
                    size += len(piece)
                    fh.write(piece)
                await check(_sync, fh)
            if size != length:
                return _refuse(request, Refusal(400, "incomplete", "上传不完整"), peer)
            return await take(tmp, peer)
        except _Cut as cut:
            return _refuse(request, cut.refusal, peer)
        except ClientDisconnect:
            log.warning("upload broken off: peer=%s path=%s (nothing kept)", peer, where)
            return Response(status_code=400)  # nobody reads it
        finally:
            partials.release(peer, slot)
            for leftover in (tmp, tmp.with_name(tmp.name + ".good")):
                leftover.unlink(missing_ok=True)

    async def upload(request: Request) -> Response:
        return await posted(
            request, "upload", "/v1/bundles", lambda tmp, peer: keep(request, tmp, peer)
        )

    async def batch(request: Request) -> Response:
        """Several bundles in one body (``u32 length · bundle``, repeated): each checked as a
        single upload is, the good ones kept together (one fsync), the answer per bundle."""

        async def take(tmp: Path, peer: str) -> Response:
            # batches are for small bundles: a large one goes alone (resumable)
            largest = min(Limits.load().max_bundle_bytes, max(limits().resume_above, 1 << 20))
            try:
                taken, refused = await check(take_batch, tmp, incoming, root, revoked(), largest)
            except BundleError as exc:
                return _refuse(request, Refusal(400, exc.reason, exc.message), peer)
            if taken:
                wake()
            log.info(
                "batch taken: %d bundles, %d refused %s, peer=%s",
                len(taken),
                len(refused),
                sorted({reason for _, reason, _ in refused}),
                peer,
            )
            return JSONResponse(
                {
                    "taken": [{"index": i, "id": bundle_id} for i, bundle_id in taken],
                    "refused": [
                        {"index": i, "reason": reason, "message": message}
                        for i, reason, message in refused
                    ],
                }
            )

        return await posted(request, "batch", BATCH_PATH, take)

    def upload_key(request: Request) -> str | Refusal:
        key = str(request.path_params["key"])
        if not _KEY.fullmatch(key):
            return Refusal(400, "bad-request", "上传标识不符")
        return key

    async def upload_offset(request: Request) -> Response:
        key = upload_key(request)
        if isinstance(key, Refusal):
            return _refuse(request, key)
        peer = await authenticate(request, ())
        if isinstance(peer, Refusal):
            return _refuse(request, peer)
        path = partials.path(peer, key)
        if not path.exists():
            return Response(status_code=404)
        return Response(headers={"Upload-Offset": str(path.stat().st_size)})

    async def upload_piece(request: Request) -> Response:
        key = upload_key(request)
        if isinstance(key, Refusal):
            return _refuse(request, key)
        offset_raw = request.headers.get("upload-offset", "")
        total_raw = request.headers.get("upload-length", "")
        if not (_DIGITS.fullmatch(offset_raw) and _DIGITS.fullmatch(total_raw)):
            return _refuse(request, Refusal(400, "bad-request", "缺少上传位置"))
        offset, total = int(offset_raw), int(total_raw)
        if total > limits().max_upload_bytes:
            return _refuse(request, _TOO_LARGE)
        length = _declared_length(request, max(total - offset, 0))
        if isinstance(length, Refusal):
            return _refuse(request, length)
        peer = await authenticate(request, upload_fields(offset, total))
        if isinstance(peer, Refusal):
            return _refuse(request, peer)
        if not allowed(peer):
            return _refuse(request, Refusal(429, "rate-limited", "上传过于频繁"), peer)
        path = partials.path(peer, key)
        if partials.busy(peer, key):
            return _refuse(request, Refusal(409, "busy", "该数据包正在上传"), peer)
        held = path.stat().st_size if path.exists() else 0
        if offset != held or offset > total:
            wrong = Refusal(409, "offset", "上传位置不符")
            return _refuse(request, wrong, peer, **{"Upload-Offset": str(held)})
        full = partials.reserve(peer, key, total, limits())
        if full is not None:
            return _refuse(request, full, peer)
        try:
            return await append(request, path, peer, held, length, total)
        finally:
            partials.release(peer, key)

    async def append(
        request: Request, path: Path, peer: str, held: int, length: int, total: int
    ) -> Response:
        size = held
        cut: Refusal | None = None
        with open(path, "ab") as fh:
            try:
                async for piece in _body(request, length, limits()):
                    size += len(piece)
                    fh.write(piece)
            except _Cut as exc:
                cut = exc.refusal  # keep what arrived: it is the peer's, within its quota
            except ClientDisconnect:  # keep what arrived: the next attempt resumes from here
                log.info("upload broken off: peer=%s key=%s held=%d", peer, path.name, size)
            await check(_sync, fh)
        if cut is not None:
            return _refuse(request, cut, peer, **{"Upload-Offset": str(size)})
        if size < total:
            return Response(status_code=204, headers={"Upload-Offset": str(size)})
        return await keep(request, path, peer)

    async def health(request: Request) -> Response:
        return JSONResponse({"node": engine.me, "ok": True})

    def own_pull(request: Request) -> str | Refusal:
        peer = str(request.path_params["peer"])
        if request.headers.get("x-xinbao-node") != peer or not UNIT_ID.fullmatch(peer):
            return Refusal(401, "unauthorized", "请求未签名")
        return peer

    async def child(request: Request, fields: Sequence[str]) -> str | Refusal:
        peer = own_pull(request)
        if isinstance(peer, Refusal):
            return peer
        return await authenticate(request, fields, parent_too=False)

    async def pull_list(request: Request) -> Response:
        """What waits for the child; with ``?wait=S`` (a long poll) and nothing waiting, the
        answer is held until a pass queues something or ``S`` seconds (at most
        ``LONG_POLL_SECONDS``) pass: a record for a child in pull mode leaves at once."""
        peer = await child(request, ())
        if isinstance(peer, Refusal):
            return _refuse(request, peer)
        hops = await run(engine.waiting_for, peer)
        try:
            wait = min(float(request.query_params.get("wait", "0")), LONG_POLL_SECONDS)
        except ValueError:
            wait = 0.0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (wait if math.isfinite(wait) else 0.0)
        while not hops and (event := queued()) is not None and loop.time() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), deadline - loop.time())
            hops = await run(engine.waiting_for, peer)
        return JSONResponse(hops)

    async def pull_one(request: Request) -> Response:
        peer = await child(request, ())
        if isinstance(peer, Refusal):
            return _refuse(request, peer)
        path = await run(engine.waiting_file, peer, request.path_params["name"])
        try:
            # opened here: a push handing the same bundle over may delete it any moment now,
            # and an open file outlives its name
            fh = open_regular(path) if path is not None else None
        except OSError:
            fh = None
        if fh is None:
            return JSONResponse({"reason": "not-found", "message": "没有这个数据包"}, 404)
        size = os.fstat(fh.fileno()).st_size
        return StreamingResponse(
            _file_pieces(fh),
            media_type="application/octet-stream",
            headers={"Content-Length": str(size)},
        )

    async def pull_ack(request: Request) -> Response:
        length = _declared_length(request, MAX_ACK_BYTES)
        if isinstance(length, Refusal):
            return _refuse(request, length)
        claimed = own_pull(request)
        if isinstance(claimed, Refusal):
            return _refuse(request, claimed)
        try:
            body = b"".join([piece async for piece in _body(request, length, limits())])
        except _Cut as cut:
            return _refuse(request, cut.refusal)
        except ClientDisconnect:
            log.info("pull acknowledgement broken off: peer=%s", claimed)
            return Response(status_code=400)
        peer = await authenticate(request, body_fields(body), parent_too=False)
        if isinstance(peer, Refusal):
            return _refuse(request, peer)
        names = _ack_names(body)
        if names is None:
            return _refuse(request, Refusal(400, "bad-request", "确认格式不符"), peer)
        done = await run(engine.pulled, peer, names)
        return JSONResponse({"acknowledged": done})

    app = Starlette(
        routes=[
            Route("/v1/bundles", upload, methods=["POST"]),
            Route(BATCH_PATH, batch, methods=["POST"]),
            Route("/v1/uploads/{key}", upload_offset, methods=["HEAD"]),
            Route("/v1/uploads/{key}", upload_piece, methods=["PATCH"]),
            Route("/v1/health", health, methods=["GET"]),
            Route("/v1/pull/{peer}", pull_list, methods=["GET"]),
            Route("/v1/pull/{peer}/ack", pull_ack, methods=["POST"]),
            Route("/v1/pull/{peer}/{name}", pull_one, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
    )
    return Guard(app)


def _ack_names(body: bytes) -> list[str] | None:
    """The bundle names of a pull acknowledgement, or None when it is not one. A hostile
    body (nested a million deep, huge numbers) is refused, never a crash."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    names = data.get("names") if isinstance(data, dict) else None
    if not isinstance(names, list) or len(names) > MAX_ACK_NAMES:
        return None
    if not all(isinstance(n, str) and _NAME.fullmatch(n) for n in names):
        return None
    return [str(n) for n in names]


_MESSAGES = {404: "没有这个地址", 405: "不支持这种请求方法"}


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such route, wrong method) as JSON with a Chinese message."""
    assert isinstance(exc, HTTPException)
    log.info(
        "http refused: status=%d method=%s path=%s",
        exc.status_code,
        request.method,
        _show(request.scope["path"]),
    )
    body = {"reason": "not-found" if exc.status_code == 404 else "bad-request"}
    body["message"] = _MESSAGES.get(exc.status_code, "请求不符")
    return JSONResponse(body, exc.status_code, headers=exc.headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    """The answer to a bug; :class:`Guard` logs it."""
    body = {"reason": "internal", "message": "节点内部错误，请稍后再试"}
    return JSONResponse(body, 500, headers={"Connection": "close"})


class Guard:
    """The outermost ASGI layer: an exception that escapes a handler becomes one log line (the
    traceback only at debug level) and, if nothing was answered yet, a 500 with a Chinese
    message, so uvicorn never prints a traceback for a request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except ClientDisconnect:
            log.info("http client went away: method=%s path=%s", scope["method"], _where(scope))
        except Exception as exc:
            log.error(
                "http handler failed: method=%s path=%s error=%s %s",
                scope["method"],
                _where(scope),
                type(exc).__name__,
                _show(exc, 300),
            )
            log.debug("http handler traceback", exc_info=True)
            if not started:
                response = await _internal_error(Request(scope), exc)
                await response(scope, receive, send)


def _where(scope: Scope) -> str:
    return _show(scope.get("path", ""))


# -- the client --------------------------------------------------------------------------------


class Refused(Exception):
    """The peer refused a bundle for good (a 4xx about the bundle, not about the link)."""


class NoBatch(Exception):
    """The peer does not take batches (a node of an earlier release): send one by one."""


async def push_batch(
    client: httpx.AsyncClient, url: str, me: str, keys: NodeKeys, paths: list[Path]
) -> list[tuple[str, str]]:
    """Upload several bundle files in one request (``BATCH_PATH``); for each, in order,
    ("taken", bundle id) or (reason, message) when the peer refused it for good, or ("", "")
    when the answer does not say (left for the next try). Raises httpx errors for a transient
    failure of the whole request, :class:`Refused` for a permanent one, :class:`NoBatch`
    when the peer has no such endpoint."""
    sizes = [path.stat().st_size for path in paths]
    total = sum(FRAME + size for size in sizes)
    headers = {
        **signed_headers(keys, me, "POST", BATCH_PATH, length_fields(total)),
        "Content-Type": "application/octet-stream",
        "Content-Length": str(total),
    }
    response = await client.post(
        url.rstrip("/") + BATCH_PATH, content=_frames(paths, sizes), headers=headers
    )
    if response.status_code in (404, 405):
        raise NoBatch(f"{response.status_code}")
    if response.status_code != 200:
        _custody(response)  # raises: Refused, or an httpx error for a transient status
    outcomes = [("", "")] * len(paths)
    try:
        answer = response.json()
        for taken in answer.get("taken", []):
            outcomes[int(taken["index"])] = ("taken", str(taken["id"]))
        for refused in answer.get("refused", []):
            outcomes[int(refused["index"])] = (str(refused["reason"]), str(refused["message"]))
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise httpx.HTTPError(f"unreadable batch answer: {exc}") from exc
    return outcomes


async def _frames(paths: list[Path], sizes: list[int]) -> AsyncIterator[bytes]:
    """Each file as ``u32 length · bytes`` (the length as measured before: a file that
    changed meanwhile makes the body's length wrong, and the peer refuses it whole)."""
    for path, size in zip(paths, sizes, strict=True):
        yield size.to_bytes(FRAME, "big")
        async for piece in _pieces(path):
            yield piece


async def push(
    client: httpx.AsyncClient,
    url: str,
    me: str,
    keys: NodeKeys,
    path: Path,
    resume_above: int = 1 << 62,
) -> str:
    """Upload one bundle file, each request signed by ``me``'s ``keys``; the id the peer took
    custody of. A file larger than ``resume_above`` bytes goes by resumable upload (only what
    the peer lacks is sent). Raises httpx errors for a transient failure (retry later) and
    :class:`Refused` for a permanent one."""
    total = path.stat().st_size
    kind = {"Content-Type": "application/octet-stream"}
    base = url.rstrip("/")
    if total <= resume_above:
        where = "/v1/bundles"
        headers = {
            **signed_headers(keys, me, "POST", where, length_fields(total)),
            **kind,
            "Content-Length": str(total),  # not chunked: the endpoint needs the length
        }
        response = await client.post(base + where, content=_pieces(path), headers=headers)
        return _custody(response)
    with open(path, "rb") as fh:
        key = read_header(fh).id
    where = f"/v1/uploads/{key}"
    for _ in range(3):  # bounded: a 409 tells the right offset
        answer = await client.head(base + where, headers=signed_headers(keys, me, "HEAD", where))
        if answer.status_code not in (200, 404):
            return _custody(answer)
        offset = int(answer.headers.get("upload-offset", "0"))
        headers = {
            **signed_headers(keys, me, "PATCH", where, upload_fields(offset, total)),
            **kind,
            "Upload-Offset": str(offset),
            "Upload-Length": str(total),
            "Content-Length": str(total - offset),
        }
        response = await client.patch(base + where, content=_pieces(path, offset), headers=headers)
        if response.status_code not in (204, 409):
            return _custody(response)
    raise httpx.HTTPError(f"upload of {key} did not complete")


async def _file_pieces(fh: BinaryIO) -> AsyncIterator[bytes]:
    """An open file's bytes in pieces; the file is closed at the end (or when the client
    goes away)."""
    try:
        while piece := fh.read(PIECE):
            yield piece
    finally:
        fh.close()


async def _pieces(path: Path, start: int = 0) -> AsyncIterator[bytes]:
    with open(path, "rb") as fh:
        fh.seek(start)
        while piece := fh.read(PIECE):
            yield piece


def _custody(response: httpx.Response) -> str:
    status = response.status_code
    if status == 200:
        return str(response.json().get("id", ""))
    transient = status in (401, 408, 409, 429) or (
        status == 403 and _reason(response) in _LINK_REASONS
    )
    if 400 <= status < 500 and not transient:
        raise Refused(f"{status} {response.text[:200]}")
    response.raise_for_status()
    raise httpx.HTTPError(f"unexpected status {status}")


def _reason(response: httpx.Response) -> str:
    try:
        return str(response.json().get("reason", ""))
    except (ValueError, AttributeError):
        return ""


async def pull(
    client: httpx.AsyncClient,
    url: str,
    me: str,
    keys: NodeKeys,
    into: Path,
    wait: float = 0.0,
) -> list[Path]:
    """Fetch every bundle the parent holds for this node into ``into`` (durably), then
    acknowledge them; the files fetched. ``wait``: hold the listing that long for something
    to arrive when nothing waits (a long poll; the parent caps it)."""
    base = url.rstrip("/")
    path = f"/v1/pull/{me}"
    query = f"?wait={wait:g}" if wait > 0 else ""
    headers = signed_headers(keys, me, "GET", path)
    listing = await client.get(base + path + query, headers=headers)
    listing.raise_for_status()
    fetched: list[Path] = []
    taken: list[str] = []
    try:
        for entry in listing.json():
            name = str(entry["name"])
            if not name.endswith(SUFFIX) or "/" in name:
                continue
            got = await _fetch(client, base, f"{path}/{name}", me, keys, into)
            if got is not None:  # None: handed over meanwhile (pushed), nothing to take
                fetched.append(got)
                taken.append(name)
    finally:
        # what was fetched is acknowledged even if a later bundle failed (it is not fetched
        # again); what was not fetched is not acknowledged (it stays waiting)
        if taken:
            fsync_dir(into)
            await _acknowledge(client, base, path, me, keys, taken)
    return fetched


async def _fetch(
    client: httpx.AsyncClient, base: str, one: str, me: str, keys: NodeKeys, into: Path
) -> Path | None:
    """One pulled bundle, streamed to a durable file in ``into`` (memory stays flat)."""
    tmp = into / f".pull-{secrets.token_hex(8)}.part"
    digest = hashlib.sha256()
    try:
        headers = signed_headers(keys, me, "GET", one)
        async with client.stream("GET", base + one, headers=headers) as response:
            if response.status_code == 404:
                return None
            response.raise_for_status()
            with open(tmp, "wb") as fh:
                async for piece in response.aiter_bytes():
                    digest.update(piece)
                    fh.write(piece)
                fh.flush()
                os.fsync(fh.fileno())
        final = into / (digest.hexdigest() + SUFFIX)
        os.replace(tmp, final)
        return final
    finally:
        tmp.unlink(missing_ok=True)


async def _acknowledge(
    client: httpx.AsyncClient, base: str, path: str, me: str, keys: NodeKeys, names: list[str]
) -> None:
    body = json.dumps({"names": names}).encode()
    ack = f"{path}/ack"
    headers = signed_headers(keys, me, "POST", ack, body_fields(body))
    response = await client.post(base + ack, content=body, headers=headers)
    response.raise_for_status()
