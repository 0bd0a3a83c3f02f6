"""calltrack-sandbox: one local HTTP server emulating Calltouch, Comagic and CallKeeper.

Each vendor lives under its own prefix (``/calltouch``, ``/comagic``, ``/callkeeper``) so
pointing the three ``api_url`` settings at one port runs the whole tap offline. On top of
the vendor behaviour the server adds what tests and benchmarks need: latency, a
per-client request ceiling answered with 429, injected faults, and counters
(``GET /_sandbox/stats``, ``POST /_sandbox/reset``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.utils
import json
import random
import socket
import struct
import sys
import threading
import time
from collections import Counter, OrderedDict, defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlsplit

from calltrack_sandbox.callkeeper import CallkeeperApp
from calltrack_sandbox.calltouch import CalltouchApp
from calltrack_sandbox.comagic.app import ComagicApp
from calltrack_sandbox.protocol import (
    QUIRKS,
    SandboxOptions,
    SandboxRequest,
    SandboxResponse,
    VendorApp,
)

FAULT_KINDS = ("429", "5xx", "reset", "timeout", "garbage", "html")


def parse_quirks(spec: str | None) -> frozenset[str]:
    """``comagic-stat-data,calltouch-strict-flags``: names from QUIRKS."""
    names = frozenset(filter(None, (part.strip() for part in (spec or "").split(","))))
    unknown = sorted(names - set(QUIRKS))
    if unknown:
        raise ValueError(f"unknown quirk {unknown[0]!r}; known: {', '.join(QUIRKS)}")
    return names


def parse_faults(spec: str | None) -> dict[str, float]:
    """``429=0.05,reset=0.02`` or ``all=0.2`` (spread evenly over every kind)."""
    faults: dict[str, float] = {}
    for part in filter(None, (spec or "").split(",")):
        kind, _, rate = part.partition("=")
        kind = kind.strip()
        value = float(rate)
        if not 0 <= value <= 1:
            raise ValueError(f"fault rate of {kind} must be between 0 and 1")
        if kind == "all":
            faults.update({k: value / len(FAULT_KINDS) for k in FAULT_KINDS})
        elif kind in FAULT_KINDS:
            faults[kind] = value
        else:
            raise ValueError(f"unknown fault kind {kind!r}; known: all, {', '.join(FAULT_KINDS)}")
    return faults


class Sandbox:
    """The vendor apps plus the cross-cutting controls; independent of the HTTP plumbing."""

    def __init__(self, options: SandboxOptions, apps: list[VendorApp]) -> None:
        self.options = options
        self.apps = sorted(apps, key=lambda app: len(app.prefix), reverse=True)
        self.counts: Counter[str] = Counter()
        self.times: dict[str, float] = {}
        self._pages: OrderedDict[tuple[str, str, str], SandboxResponse] = OrderedDict()
        self._recent: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._rng = random.Random(options.seed)
        self._in_flight = 0

    def app_for(self, path: str) -> VendorApp | None:
        for app in self.apps:
            if path == app.prefix or path.startswith(app.prefix + "/"):
                return app
        return None

    def count(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self.counts[key] += 1

    def answer(self, app: VendorApp, request: SandboxRequest) -> SandboxResponse:
        """The app's answer; with --cache-pages, a repeated GET is served from memory (so a
        benchmark measures the client, not the emulator's rendering)."""
        if not self.options.cache_pages or request.method != "GET":
            return app.handle(request)
        key = (app.prefix, request.path, request.raw_query)
        with self._lock:
            cached = self._pages.get(key)
            if cached is not None:
                self._pages.move_to_end(key)
                return cached
        response = app.handle(request)
        if response.ok:
            with self._lock:
                self._pages[key] = response
                while len(self._pages) > self.options.cache_pages:
                    self._pages.popitem(last=False)
        return response

    def arrive(self) -> None:
        """A vendor request is being answered: counts the most answered at once."""
        with self._lock:
            self._in_flight += 1
            self.counts["max_in_flight"] = max(self.counts["max_in_flight"], self._in_flight)

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def mark_time(self) -> None:
        """Wall-clock time of the first and the latest request (for rate benchmarks)."""
        now = time.time()
        with self._lock:
            self.times.setdefault("first_request_at", now)
            self.times["last_request_at"] = now

    def over_limit(self, client: str, vendor: str) -> bool:
        """Sliding one-second window of accepted requests per client and vendor."""
        limit = self.options.rate_limit
        if limit <= 0:
            return False
        now = time.monotonic()
        with self._lock:
            recent = self._recent[(client, vendor)]
            while recent and now - recent[0] >= 1.0:
                recent.popleft()
            if len(recent) >= limit:
                return True
            recent.append(now)
            return False

    def draw_fault(self) -> str | None:
        with self._lock:
            roll = self._rng.random()
        for kind, rate in self.options.faults.items():
            if roll < rate:
                return kind
            roll -= rate
        return None

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {**self.counts, **self.times}

    def tap_config(self, base_url: str) -> dict[str, Any]:
        config: dict[str, Any] = {
            "start_date": self.options.first_day.isoformat(),
            "end_date": (self.options.first_day + dt.timedelta(days=self.options.days - 1)
                         ).isoformat(),
        }
        for app in self.apps:
            config.update(app.tap_config(base_url))
        return config


def _handler_class(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "calltrack-sandbox"

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def log_message(self, format: str, *args: Any) -> None:
            if sandbox.options.access_log:
                sys.stderr.write(f"sandbox: {self.command} {urlsplit(self.path).path}\n")

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)
            if split.path.startswith("/_sandbox/"):
                return self._control(split.path)
            app = sandbox.app_for(split.path)
            if app is None:
                return self._send(SandboxResponse.html("Not Found", 404))
            vendor = app.prefix.strip("/")
            sandbox.count("requests", f"requests_{vendor}")
            sandbox.mark_time()
            sandbox.arrive()
            try:
                self._answer(app, vendor, split, body)
            finally:
                sandbox.leave()

        def _answer(self, app: VendorApp, vendor: str, split: SplitResult, body: bytes) -> None:
            # The ceiling counts arrivals, as a vendor's gateway does; latency comes after.
            limited = sandbox.over_limit(self.client_address[0], vendor)
            if sandbox.options.latency_ms:
                time.sleep(sandbox.options.latency_ms / 1000)
            if limited:
                sandbox.count("429", f"429_{vendor}", "429_rate_limit")
                return self._send(app.too_many_requests("1"))
            fault = sandbox.draw_fault()
            if fault is not None:
                sandbox.count(f"fault_{fault}")
            request = SandboxRequest(
                method=self.command, path=split.path[len(app.prefix):] or "/",
                raw_query=split.query, query=dict(parse_qsl(split.query, keep_blank_values=True)),
                headers={k.lower(): v for k, v in self.headers.items()}, body=body,
                client=self.client_address[0], base_url=f"http://{self.headers.get('Host')}",
            )
            self._send_with_fault(fault, app, request)

        def _send_with_fault(self, fault: str | None, app: VendorApp,
                             request: SandboxRequest) -> None:
            if fault is not None and _is_media(app, request):
                sandbox.count(f"fault_media_{fault}")
                if fault in ("reset", "garbage"):
                    return self._send_media_cut(app, request, reset=fault == "reset")
            if fault == "reset":
                return self._reset()
            if fault == "timeout":
                time.sleep(sandbox.options.timeout_ms / 1000)
            if fault == "429":
                sandbox.count("429", f"429_{app.prefix.strip('/')}")
                return self._send(app.too_many_requests(_retry_after_value(sandbox)))
            if fault == "5xx":
                status = random.choice((500, 502, 503, 504))
                return self._send(SandboxResponse.html(f"{status} Server Error", status))
            if fault == "html":
                return self._send(SandboxResponse.html("502 Bad Gateway (nginx)", 200))
            response = sandbox.answer(app, request)
            if fault == "garbage" and response.ok and response.content_type.startswith("app"):
                response = SandboxResponse(200, response.body[: max(1, len(response.body) // 2)])
            sandbox.count(f"status_{response.status}")
            self._send(response)

        def _control(self, path: str) -> None:
            if path == "/_sandbox/stats":
                return self._send(SandboxResponse.json(sandbox.stats()))
            if path == "/_sandbox/reset" and self.command == "POST":
                with sandbox._lock:
                    sandbox.counts.clear()
                    sandbox.times.clear()
                return self._send(SandboxResponse.json({"reset": True}))
            if path == "/_sandbox/config":
                base = f"http://{self.headers.get('Host')}"
                return self._send(SandboxResponse.json(sandbox.tap_config(base)))
            self._send(SandboxResponse.json({"error": "unknown control path"}, 404))

        def _send(self, response: SandboxResponse) -> None:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)

        def _send_media_cut(self, app: VendorApp, request: SandboxRequest, *,
                            reset: bool) -> None:
            """A recording cut in half: its full Content-Length, half the body, then a
            reset (RST) or a plain close (a truncated download)."""
            response = sandbox.answer(app, request)
            if not response.ok:
                return self._reset() if reset else self._send(response)
            sandbox.count(f"status_{response.status}")
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body[: len(response.body) // 2])
            self.wfile.flush()
            if reset:
                return self._reset()
            self.close_connection = True

        def _reset(self) -> None:
            """Abort the TCP connection (RST) without an answer."""
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True

    return Handler


def _is_media(app: VendorApp, request: SandboxRequest) -> bool:
    """Whether the request is a recording download (the apps that serve some say so)."""
    is_media = getattr(app, "is_media", None)
    return bool(is_media and is_media(request.path))


def _retry_after_value(sandbox: Sandbox) -> str:
    """Alternate the two forms RFC 9110 allows: delta-seconds and an HTTP date."""
    sandbox.count("retry_after_sent")
    if sandbox.counts["retry_after_sent"] % 2:
        return "1"
    return email.utils.format_datetime(
        dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2), usegmt=True)


class SandboxServer:
    """A running sandbox (in a background thread), for in-process tests."""

    def __init__(self, options: SandboxOptions) -> None:
        self.sandbox = Sandbox(options, default_apps(options))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", options.port),
                                         _handler_class(self.sandbox))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def tap_config(self) -> dict[str, Any]:
        return self.sandbox.tap_config(self.url)

    def __enter__(self) -> SandboxServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def default_apps(options: SandboxOptions) -> list[VendorApp]:
    """Every vendor app that exists, one per vendor module."""
    return [CalltouchApp(options), CallkeeperApp(options), ComagicApp(options)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="calltrack-sandbox",
        description="Local emulator of the Calltouch, Comagic and CallKeeper APIs.")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--rate-limit", type=float, default=0.0,
                        help="requests per second per client and vendor; more get 429")
    parser.add_argument("--records", type=int, default=300, help="calls per account")
    parser.add_argument("--faults", default="",
                        help="e.g. 429=0.05,5xx=0.05,reset=0.02,timeout=0.02,garbage=0.03,"
                             "html=0.03 or all=0.2")
    parser.add_argument("--timeout-ms", type=float, default=5000.0,
                        help="how long a 'timeout' fault stalls before answering")
    parser.add_argument("--accounts", type=int, default=2, help="accounts per vendor")
    parser.add_argument("--first-day", type=dt.date.fromisoformat, default=dt.date(2024, 1, 1))
    parser.add_argument("--days", type=int, default=91)
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("--calltouch-points", type=int, default=0,
                        help="daily API points per Calltouch site (one per request); 0 = unlimited")
    parser.add_argument("--cache-pages", type=int, default=0,
                        help="keep this many answers for repeated GETs (benchmarks)")
    parser.add_argument("--quirks", default="",
                        help="comma-separated readings of undocumented behaviour: "
                             + ", ".join(QUIRKS))
    parser.add_argument("--callkeeper-to", choices=("inclusive", "exclusive"),
                        default="inclusive",
                        help="whether CallKeeper's Y-m-d {to} includes that day")
    parser.add_argument("--callkeeper-v1-null-times", action="store_true",
                        help="every tenth legacy v1 row has timeStart null, as the doc's example")
    parser.add_argument("--print-config", action="store_true",
                        help="print a tap config for this sandbox and exit")
    args = parser.parse_args(argv)
    try:
        faults = parse_faults(args.faults)
        quirks = parse_quirks(args.quirks)
    except ValueError as exc:
        parser.error(str(exc))
    options = SandboxOptions(
        port=args.port, seed=args.seed, latency_ms=args.latency_ms, rate_limit=args.rate_limit,
        records=args.records, faults=faults, timeout_ms=args.timeout_ms,
        accounts=args.accounts, first_day=args.first_day, days=args.days,
        access_log=args.access_log, calltouch_points=args.calltouch_points,
        cache_pages=args.cache_pages, quirks=quirks,
        callkeeper_to=args.callkeeper_to,
        callkeeper_v1_null_times=args.callkeeper_v1_null_times,
    )
    server = SandboxServer(options)
    if args.print_config:
        print(json.dumps(server.tap_config(), ensure_ascii=False, indent=2))
        server.httpd.server_close()
        return
    print(f"calltrack-sandbox listening on {server.url}", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()


if __name__ == "__main__":
    main()
