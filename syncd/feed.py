"""Feeds: fetching media and government feeds for the desk's leads (schema/lead.py).

RSS 2.0 and Atom are parsed by feedparser (a well-kept parser that copes with the loose XML
real feeds carry); JSON Feed by its own small spec here. Fetching is a conditional GET with
httpx (ETag / Last-Modified), a size limit read as the body streams in, and a timeout. A
hostile document is refused before any parser sees it: a DTD that declares entities (the
"billion laughs" expansion) or a body above the limit. A bad entry is refused alone with its
reason; nothing here raises past :func:`parse` and :func:`fetch` but :class:`FeedError`.
"""

from __future__ import annotations

import calendar
import html
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser
import httpx

from schema.clock import CHINA
from schema.lead import Entry

_TAG = re.compile(r"<[^>]+>")
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)


class FeedError(Exception):
    """A feed that cannot be read at all: the reason, for the log and the feed's status."""


@dataclass(frozen=True)
class Parsed:
    """What a document gave: the entries, and the entries refused with their reasons."""

    entries: list[Entry]
    refused: list[tuple[str, str]]


@dataclass(frozen=True)
class Fetched:
    """One conditional GET: the body (None when the server said 304 Not Modified) and the
    validators to send next time."""

    body: bytes | None
    content_type: str
    etag: str
    last_modified: str


def text_of(markup: str) -> str:
    """The readable text of an entry's HTML summary."""
    return html.unescape(_TAG.sub("", markup)).strip()


def parse(source: str, body: bytes, content_type: str = "") -> Parsed:
    """The entries of one feed document (RSS 2.0, Atom or JSON Feed)."""
    if _ENTITY_DECLARATION.search(body):
        raise FeedError("文档声明了实体（可能的实体扩展攻击），已拒绝")
    head = body.lstrip()[:1]
    if "json" in content_type or head == b"{":
        return _parse_json(source, body)
    parsed = feedparser.parse(body)
    if not parsed.entries:
        reason = parsed.get("bozo_exception") or "没有条目"
        raise FeedError(f"无法解析：{reason}")
    entries, refused = [], []
    for raw in parsed.entries:
        try:
            entries.append(_entry(source, raw))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            name = str(raw.get("id") or raw.get("title") or "?")[:60]
            refused.append((name, f"条目无法读取（{exc}）"))
    return Parsed(entries, refused)


def _entry(source: str, raw: Any) -> Entry:
    stamp = raw.get("published_parsed") or raw.get("updated_parsed")
    published = (
        datetime.fromtimestamp(calendar.timegm(stamp), UTC).astimezone(CHINA) if stamp else None
    )
    return Entry(
        source=source,
        guid=str(raw.get("id") or raw.get("link") or ""),
        link=str(raw.get("link") or ""),
        title=text_of(str(raw.get("title") or "")),
        summary=text_of(str(raw.get("summary") or "")),
        published=published,
    )


def _parse_json(source: str, body: bytes) -> Parsed:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise FeedError(f"JSON Feed 无法解析：{exc}") from exc
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise FeedError("JSON Feed 没有 items")
    entries, refused = [], []
    for raw in items:
        try:
            if not isinstance(raw, dict):
                raise ValueError("条目不是对象")
            stamp = raw.get("date_published") or raw.get("date_modified")
            published = _json_time(stamp) if stamp else None
            summary = raw.get("content_text") or text_of(raw.get("content_html") or "")
            entries.append(
                Entry(
                    source=source,
                    guid=str(raw.get("id") or raw.get("url") or ""),
                    link=str(raw.get("url") or ""),
                    title=text_of(str(raw.get("title") or "")),
                    summary=str(summary or raw.get("summary") or ""),
                    published=published,
                )
            )
        except (TypeError, ValueError) as exc:
            name = raw.get("id") if isinstance(raw, dict) else "?"
            refused.append((str(name)[:60], str(exc)))
    return Parsed(entries, refused)


def _json_time(stamp: object) -> datetime:
    """A JSON Feed date (RFC 3339), or a ValueError with the reason in Chinese (the desk
    sees why an entry was refused)."""
    try:
        return datetime.fromisoformat(str(stamp)).astimezone(CHINA)
    except ValueError:
        raise ValueError(f"发布时间“{str(stamp)[:40]}”不是 RFC 3339 格式") from None


async def fetch(
    client: httpx.AsyncClient, url: str, etag: str, last_modified: str, limit: int
) -> Fetched:
    """GET ``url`` conditionally; a body above ``limit`` bytes is refused as it streams."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return Fetched(None, "", etag, last_modified)
            if response.status_code != 200:
                raise FeedError(f"服务器返回 {response.status_code}")
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise FeedError(f"文档超过 {limit} 字节，已拒绝")
                chunks.append(chunk)
            return Fetched(
                b"".join(chunks),
                response.headers.get("content-type", ""),
                response.headers.get("etag", ""),
                response.headers.get("last-modified", ""),
            )
    except httpx.HTTPError as exc:
        raise FeedError(f"无法获取：{exc}") from exc
