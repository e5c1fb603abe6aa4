"""The HTTP link: a starlette app served by uvicorn, and the httpx client that talks to it.

Endpoints (``/v1``):

* ``POST /v1/bundles`` — a bundle upload. The body is written to ``spool/in`` durably and its
  sender's chain and signature are checked (:func:`syncd.bundle.verify_outer`) before the
  answer: ``200 {"id": …}`` means the node has taken custody (the hop receipt). Bundles from
  nodes that are not enrolled in this deployment are not kept (403); other refusals are 422
  with the reason code; too large 413; too many uploads from one peer per minute 429.
* ``HEAD /v1/uploads/{key}`` and ``PATCH /v1/uploads/{key}`` — a resumable upload of a large
  bundle (``key``: the bundle id). HEAD answers how many bytes the node durably holds
  (``Upload-Offset``; 404 for none); PATCH sends bytes from ``Upload-Offset`` (which must be
  the node's count, else 409 with the right one) of ``Upload-Length`` in all. Bytes that
  arrived before a broken connection are kept (fsync'd), so the next attempt sends only the
  rest. The last PATCH is answered like ``POST /v1/bundles``; partial files left for
  ``limits.partial_ttl`` seconds are deleted.
* ``GET /v1/pull/{peer}`` and ``GET /v1/pull/{peer}/{name}`` — bundles waiting for a child that
  cannot accept connections (pull mode); ``POST /v1/pull/{peer}/ack`` — it took custody of
  them. Pull requests are signed by the child's key (headers ``X-Xinbao-Node``, ``-Time``,
  ``-Signature`` over method, path, time and the body's hash).
* ``GET /v1/health`` — the node id and its queues.

TLS: give ``tls_cert`` and ``tls_key`` in ``syncd.toml``; uvicorn then serves HTTPS and peers
use ``https://`` URLs (the bundles are end-to-end encrypted and signed either way; TLS hides
the outer headers and the traffic pattern from the wire).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from syncd.bundle import BundleError, Limits, read_header
from syncd.keys import NodeKeys, fsync_dir
from syncd.spool import SUFFIX

PIECE = 1 << 20
_KEY = re.compile(r"[0-9A-Za-z_-]{1,64}")
_RATE_LIMITED = JSONResponse({"reason": "rate-limited", "message": "上传过于频繁"}, 429)
_TOO_LARGE = JSONResponse({"reason": "too-large", "message": "数据包超过大小限制"}, 413)


def sign_headers(keys: NodeKeys, node: str, method: str, path: str, body: bytes) -> dict[str, str]:
    """Headers that prove a request comes from ``node`` (pull mode)."""
    moment = str(int(time.time()))
    message = _signed(method, path, moment, body)
    return {
        "X-Xinbao-Node": node,
        "X-Xinbao-Time": moment,
        "X-Xinbao-Signature": keys.signing.sign(message).hex(),
    }


def _signed(method: str, path: str, moment: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join(["xinbao-pull", method.upper(), path, moment, digest]).encode()


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


Run = Callable[..., Awaitable[Any]]


def make_app(
    run: Run,
    engine: Any,
    wake: Callable[[], None],
    max_upload_bytes: int,
    uploads_per_minute: int,
) -> Starlette:
    """The node's HTTP endpoint. ``run(fn, *args)`` runs ``fn`` on the engine's thread."""
    limit = RateLimit(uploads_per_minute)
    skew = Limits.load().clock_skew.total_seconds()  # the same tolerance as for bundles
    incoming: Path = engine.incoming

    partial = incoming / "partial"
    partial.mkdir(exist_ok=True)
    busy: set[str] = set()

    def _peer(request: Request) -> str:
        return request.headers.get("x-xinbao-node") or (
            request.client.host if request.client else "?"
        )

    async def _keep(tmp: Path) -> Response:
        """Check a whole uploaded file and take custody of it (the hop receipt)."""
        try:
            header = await run(engine.check_upload, tmp, datetime.now(UTC))
        except BundleError as exc:
            tmp.unlink(missing_ok=True)
            status = 403 if exc.reason in ("unknown-sender", "revoked-sender") else 422
            return JSONResponse({"reason": exc.reason, "message": exc.message}, status)
        final = incoming / f"{header.sender}-{header.id}{SUFFIX}"  # both signed
        os.replace(tmp, final)
        fsync_dir(incoming)
        wake()
        return JSONResponse({"id": header.id})

    async def upload(request: Request) -> Response:
        if not limit.allow(_peer(request)):
            return _RATE_LIMITED
        tmp = incoming / f".upload-{secrets.token_hex(8)}.part"
        size = 0
        try:
            with open(tmp, "wb") as fh:
                async for piece in request.stream():
                    size += len(piece)
                    if size > max_upload_bytes:
                        return _TOO_LARGE
                    fh.write(piece)
                fh.flush()
                os.fsync(fh.fileno())
            return await _keep(tmp)
        finally:
            tmp.unlink(missing_ok=True)

    def _partial(request: Request) -> Path | Response:
        key = request.path_params["key"]
        peer = _peer(request)
        if not _KEY.fullmatch(key) or not _KEY.fullmatch(peer):
            return JSONResponse({"reason": "bad-request", "message": "上传标识不符"}, 400)
        return partial / f"{peer}-{key}.part"

    async def upload_offset(request: Request) -> Response:
        path = _partial(request)
        if isinstance(path, Response):
            return path
        if not path.exists():
            return Response(status_code=404)
        return Response(headers={"Upload-Offset": str(path.stat().st_size)})

    async def upload_piece(request: Request) -> Response:
        if not limit.allow(_peer(request)):
            return _RATE_LIMITED
        path = _partial(request)
        if isinstance(path, Response):
            return path
        try:
            offset = int(request.headers["upload-offset"])
            total = int(request.headers["upload-length"])
        except (KeyError, ValueError):
            return JSONResponse({"reason": "bad-request", "message": "缺少上传位置"}, 400)
        if total > max_upload_bytes:
            return _TOO_LARGE
        if path.name in busy:
            return JSONResponse({"reason": "busy", "message": "该数据包正在上传"}, 409)
        held = path.stat().st_size if path.exists() else 0
        if offset != held or offset > total:
            return JSONResponse(
                {"reason": "offset", "message": "上传位置不符"},
                409,
                headers={"Upload-Offset": str(held)},
            )
        busy.add(path.name)
        size = held
        try:
            with open(path, "ab") as fh:
                try:
                    async for piece in request.stream():
                        piece = piece[: total - size]  # never past the announced length
                        size += len(piece)
                        fh.write(piece)
                except ClientDisconnect:
                    pass  # keep what arrived: the next attempt resumes from here
                finally:
                    fh.flush()
                    os.fsync(fh.fileno())
        finally:
            busy.discard(path.name)
        if size < total:
            return Response(status_code=204, headers={"Upload-Offset": str(size)})
        return await _keep(path)

    async def health(request: Request) -> Response:
        return JSONResponse({"node": engine.me, "ok": True})

    async def _child(request: Request, body: bytes) -> str | Response:
        peer = request.path_params["peer"]
        if request.headers.get("x-xinbao-node") != peer:
            return JSONResponse({"reason": "unauthorized", "message": "请求未签名"}, 401)
        moment = request.headers.get("x-xinbao-time", "0")
        if not moment.isdigit() or abs(time.time() - int(moment)) > skew:
            return JSONResponse({"reason": "unauthorized", "message": "请求时间不符"}, 401)
        public = await run(engine.signing_key_of, peer)
        if public is None:
            return JSONResponse({"reason": "unknown-node", "message": "不是本节点的下级"}, 403)
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(public).verify(
                bytes.fromhex(request.headers.get("x-xinbao-signature", "")),
                _signed(request.method, request.url.path, moment, body),
            )
        except (InvalidSignature, ValueError):
            return JSONResponse({"reason": "unauthorized", "message": "请求签名无效"}, 401)
        return str(peer)

    async def pull_list(request: Request) -> Response:
        peer = await _child(request, b"")
        if isinstance(peer, Response):
            return peer
        hops = await run(engine.waiting_for, peer)
        return JSONResponse(hops)

    async def pull_one(request: Request) -> Response:
        peer = await _child(request, b"")
        if isinstance(peer, Response):
            return peer
        path = await run(engine.waiting_file, peer, request.path_params["name"])
        if path is None:
            return JSONResponse({"reason": "not-found", "message": "没有这个数据包"}, 404)
        return FileResponse(path, media_type="application/octet-stream")

    async def pull_ack(request: Request) -> Response:
        body = await request.body()
        peer = await _child(request, body)
        if isinstance(peer, Response):
            return peer
        try:
            names = [str(n) for n in json.loads(body)["names"]]
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"reason": "bad-request", "message": "确认格式不符"}, 400)
        done = await run(engine.pulled, peer, names)
        return JSONResponse({"acknowledged": done})

    return Starlette(
        routes=[
            Route("/v1/bundles", upload, methods=["POST"]),
            Route("/v1/uploads/{key}", upload_offset, methods=["HEAD"]),
            Route("/v1/uploads/{key}", upload_piece, methods=["PATCH"]),
            Route("/v1/health", health, methods=["GET"]),
            Route("/v1/pull/{peer}", pull_list, methods=["GET"]),
            Route("/v1/pull/{peer}/ack", pull_ack, methods=["POST"]),
            Route("/v1/pull/{peer}/{name}", pull_one, methods=["GET"]),
        ]
    )


class Refused(Exception):
    """The peer refused a bundle for good (a 4xx other than 429)."""


async def push(
    client: httpx.AsyncClient, url: str, me: str, path: Path, resume_above: int = 1 << 62
) -> str:
    """Upload one bundle file; the id the peer took custody of. A file larger than
    ``resume_above`` bytes goes by resumable upload (only what the peer lacks is sent).
    Raises httpx errors for a transient failure (retry later) and :class:`Refused` for a
    permanent one."""
    total = path.stat().st_size
    headers = {"X-Xinbao-Node": me, "Content-Type": "application/octet-stream"}
    base = url.rstrip("/")
    if total <= resume_above:
        response = await client.post(base + "/v1/bundles", content=_pieces(path), headers=headers)
        return _custody(response)
    with open(path, "rb") as fh:
        key = read_header(fh).id
    target = f"{base}/v1/uploads/{key}"
    for _ in range(3):  # bounded: a 409 tells the right offset
        answer = await client.head(target, headers=headers)
        if answer.status_code not in (200, 404):
            return _custody(answer)
        offset = int(answer.headers.get("upload-offset", "0"))
        response = await client.patch(
            target,
            content=_pieces(path, offset),
            headers={**headers, "Upload-Offset": str(offset), "Upload-Length": str(total)},
        )
        if response.status_code not in (204, 409):
            return _custody(response)
    raise httpx.HTTPError(f"upload of {key} did not complete")


async def _pieces(path: Path, start: int = 0) -> AsyncIterator[bytes]:
    with open(path, "rb") as fh:
        fh.seek(start)
        while piece := fh.read(PIECE):
            yield piece


def _custody(response: httpx.Response) -> str:
    if response.status_code == 200:
        return str(response.json().get("id", ""))
    if 400 <= response.status_code < 500 and response.status_code != 429:
        raise Refused(f"{response.status_code} {response.text[:200]}")
    response.raise_for_status()
    raise httpx.HTTPError(f"unexpected status {response.status_code}")


async def pull(
    client: httpx.AsyncClient, url: str, me: str, keys: NodeKeys, into: Path
) -> list[Path]:
    """Fetch every bundle the parent holds for this node into ``into`` (durably), then
    acknowledge them; the files fetched."""
    base = url.rstrip("/")
    path = f"/v1/pull/{me}"
    listing = await client.get(base + path, headers=sign_headers(keys, me, "GET", path, b""))
    listing.raise_for_status()
    fetched: list[Path] = []
    for entry in listing.json():
        name = str(entry["name"])
        if not name.endswith(SUFFIX) or "/" in name:
            continue
        one = f"{path}/{name}"
        response = await client.get(base + one, headers=sign_headers(keys, me, "GET", one, b""))
        response.raise_for_status()
        tmp = into / f".pull-{secrets.token_hex(8)}.part"
        with open(tmp, "wb") as fh:
            fh.write(response.content)
            fh.flush()
            os.fsync(fh.fileno())
        final = into / (hashlib.sha256(response.content).hexdigest() + SUFFIX)
        os.replace(tmp, final)
        fetched.append(final)
    if fetched:
        fsync_dir(into)
        body = json.dumps({"names": [str(e["name"]) for e in listing.json()]}).encode()
        ack = f"{path}/ack"
        response = await client.post(
            base + ack, content=body, headers=sign_headers(keys, me, "POST", ack, body)
        )
        response.raise_for_status()
    return fetched
