"""A small scripted HTTP server on 127.0.0.1 for hostile-vendor tests.

Each test gives a ``respond(request) -> Reply`` function; the server answers every request
with it, on real sockets, and keeps every request it saw. A reply can be anything a
broken or hostile vendor might send: any status and headers, a JSON or raw body, a body
streamed in chunks, a connection reset after some bytes, a delay, a redirect.

Usage::

    def respond(request: Request) -> Reply:
        if request.path.endswith("/calls-diary/calls"):
            return Reply(json={"page": 1, "pageTotal": 1, "records": []})
        return Reply(status=404, body=b"<html>not here</html>")

    with FakeVendor(respond) as fake:
        config = {"calltouch": {"api_url": fake.url, ...}}
"""

from __future__ import annotations

import json as jsonlib
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return jsonlib.loads(self.body or b"null")

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Reply:
    status: int = 200
    json: Any = None  # a JSON body (wins over ``body`` when not None)
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    chunks: Iterable[bytes] | None = None  # streamed with chunked encoding, no length
    reset_after: int | None = None  # send this many body bytes, then reset the connection
    delay: float = 0.0  # seconds before answering
    content_length: int | None = None  # announce this length instead of the real one

    def payload(self) -> bytes:
        if self.json is not None:
            return jsonlib.dumps(self.json, ensure_ascii=False).encode()
        return self.body.encode() if isinstance(self.body, str) else self.body


def redirect(location: str, status: int = 307) -> Reply:
    return Reply(status=status, headers={"Location": location})


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                          {k: v for k, v in self.headers.items()}, body)
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(request)
        try:
            reply = owner.respond(request)
        except Exception as exc:  # a bug in the test's script: answer 599, keep serving
            reply = Reply(status=599, body=f"fake server script failed: {exc!r}")
        if reply.delay:
            time.sleep(reply.delay)
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        headers = {k.lower(): v for k, v in reply.headers.items()}
        for key, value in reply.headers.items():
            self.send_header(key, value)
        if "content-type" not in headers:
            self.send_header("Content-Type", "application/json" if reply.json is not None
                             else "application/octet-stream")
        if reply.chunks is not None:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._send_chunks(reply)
            return
        payload = reply.payload()
        self.send_header("Content-Length", str(reply.content_length if reply.content_length
                                               is not None else len(payload)))
        self.end_headers()
        if reply.reset_after is not None:
            self.wfile.write(payload[: reply.reset_after])
            self.wfile.flush()
            self._reset()
            return
        self.wfile.write(payload)
        if reply.content_length is not None and reply.content_length != len(payload):
            self.close_connection = True

    def _send_chunks(self, reply: Reply) -> None:
        sent = 0
        assert reply.chunks is not None
        try:
            for chunk in reply.chunks:
                if reply.reset_after is not None and sent + len(chunk) > reply.reset_after:
                    self._reset()
                    return
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. a size cap): fine

    def _reset(self) -> None:
        """Close with RST instead of FIN, as a dropped connection looks to a client."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FakeVendor


class FakeVendor:
    """A scripted vendor on a free port of 127.0.0.1; a context manager."""

    def __init__(self, respond: Callable[[Request], Reply]) -> None:
        self.respond = respond
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeVendor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeVendor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def paths(self) -> list[str]:
        with self.lock:
            return [request.path for request in self.requests]
