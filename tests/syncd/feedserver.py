"""A feed server on 127.0.0.1 for the lead tests: the fixture feeds of ``fixtures/feeds`` with
an ETag each (a repeated conditional GET is answered 304), a body above ``LIMIT`` at
``huge.xml``, 404 for anything else; it counts what it answered."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from schema.fixture import fixtures_dir

FEEDS = fixtures_dir() / "feeds"
TYPES = {".xml": "application/xml", ".json": "application/feed+json"}
LIMIT = 1 << 20


class FeedServer(ThreadingHTTPServer):
    """The server, with what it answered: status codes per path."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.answered: Counter[tuple[str, int]] = Counter()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, name: str, status: int) -> int:
        with self.lock:
            return self.answered[(name, status)]


class Handler(BaseHTTPRequestHandler):
    server: FeedServer

    def do_GET(self) -> None:
        name = self.path.strip("/")
        if name == "huge.xml":
            body = b"<rss>" + b" " * (LIMIT + 10) + b"</rss>"
        elif (FEEDS / name).is_file():
            body = (FEEDS / name).read_bytes()
        else:
            self._answered(name, 404)
            self.send_error(404)
            return
        etag = f'"{name}-1"'
        if self.headers.get("If-None-Match") == etag:
            self._answered(name, 304)
            self.send_response(304)
            self.end_headers()
            return
        self._answered(name, 200)
        self.send_response(200)
        self.send_header("Content-Type", TYPES.get(name[name.rfind(".") :], "text/plain"))
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _answered(self, name: str, status: int) -> None:
        with self.server.lock:
            self.server.answered[(name, status)] += 1

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    httpd = FeedServer()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
