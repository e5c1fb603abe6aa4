"""The HTTP link: a starlette app served by uvicorn, and the httpx client that talks to it.

Endpoints (``/v1``):

* ``POST /v1/bundles`` — a bundle upload. The body is written to ``spool/in`` durably and its
  sender's chain and signature are checked (:func:`syncd.bundle.verify_outer`) before the
  answer: ``200 {"id": …}`` means the node has taken custody (the hop receipt). Bundles from
  nodes that are not enrolled in this deployment are not kept (403); other refusals are 422
  with the reason code; too large 413; too many uploads from one peer per minute 429.
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
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from syncd.bundle import BundleError, Limits
from syncd.keys import NodeKeys, fsync_dir
from syncd.spool import SUFFIX

PIECE = 1 << 20


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

    async def upload(request: Request) -> Response:
        peer = request.headers.get("x-xinbao-node") or (
            request.client.host if request.client else "?"
        )
        if not limit.allow(peer):
            return JSONResponse({"reason": "rate-limited", "message": "上传过于频繁"}, 429)
        tmp = incoming / f".upload-{secrets.token_hex(8)}.part"
        digest = hashlib.sha256()
        size = 0
        try:
            with open(tmp, "wb") as fh:
                async for piece in request.stream():
                    size += len(piece)
                    if size > max_upload_bytes:
                        return JSONResponse(
                            {"reason": "too-large", "message": "数据包超过大小限制"}, 413
                        )
                    digest.update(piece)
                    fh.write(piece)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                header = await run(engine.check_upload, tmp, datetime.now(UTC))
            except BundleError as exc:
                status = 403 if exc.reason in ("unknown-sender", "revoked-sender") else 422
                return JSONResponse({"reason": exc.reason, "message": exc.message}, status)
            final = incoming / (digest.hexdigest() + SUFFIX)
            os.replace(tmp, final)
            fsync_dir(incoming)
        finally:
            tmp.unlink(missing_ok=True)
        wake()
        return JSONResponse({"id": header.id})

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
            Route("/v1/health", health, methods=["GET"]),
            Route("/v1/pull/{peer}", pull_list, methods=["GET"]),
            Route("/v1/pull/{peer}/ack", pull_ack, methods=["POST"]),
            Route("/v1/pull/{peer}/{name}", pull_one, methods=["GET"]),
        ]
    )


class Refused(Exception):
    """The peer refused a bundle for good (a 4xx other than 429)."""


async def push(client: httpx.AsyncClient, url: str, me: str, path: Path) -> str:
    """Upload one bundle file; the id the peer took custody of. Raises httpx errors for a
    transient failure (retry later) and :class:`Refused` for a permanent one."""

    async def pieces() -> AsyncIterator[bytes]:
        with open(path, "rb") as fh:
            while piece := fh.read(PIECE):
                yield piece

    response = await client.post(
        url.rstrip("/") + "/v1/bundles",
        content=pieces(),
        headers={"X-Xinbao-Node": me, "Content-Type": "application/octet-stream"},
    )
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
