"""A provider's HTTP API on 127.0.0.1 in a thread: scripted answers, recorded requests, SSE helpers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

from tests.support.llm_servers.script import Fault, Hang, Reply, Script

__all__ = ["ProviderHandler", "RecordedRequest", "ScriptedServer", "SseWriter"]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    query: str
    #: header names in lower case
    headers: Mapping[str, str]
    body: Any
    #: what the script answered: ``reply``, ``fault:<status>``, ``hang`` or ``other``
    answer: str


class SseWriter:
    """Server-sent events on an open response; False once the client has gone."""

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self.handler = handler
        self.open = True

    def send(self, event: str, data: Mapping[str, Any]) -> bool:
        if not self.open:
            return False
        chunk = f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
        try:
            self.handler.wfile.write(chunk)
            self.handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.open = False
        return self.open


class ScriptedServer:
    """Base of the provider servers: subclasses map a path to a handler and render replies and faults."""

    #: POST paths (without the query) this server answers, mapped to the method name handling them
    routes: ClassVar[dict[str, str]] = {}

    def __init__(self, script: Script | None = None, *, model: str | None = None) -> None:
        self.script = script or Script()
        self.model = model
        self.requests: list[RecordedRequest] = []
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=type(self).__name__, daemon=True)
        self._ids = 0

    # lifecycle -------------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # assertions ------------------------------------------------------------------------------------------
    def wait_for_requests(self, count: int, timeout_s: float = 30.0) -> list[RecordedRequest]:
        """Block until ``count`` requests have arrived (a deadline, not a sleep)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.requests)} of {count} requests after {timeout_s}s")
                self._cond.wait(left)
            return list(self.requests)

    def model_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if self.route_of(r.path) is not None]

    def route_of(self, path: str) -> str | None:
        """The route a request path takes (a key of ``routes``), or None: not one this server answers."""
        return path if path in self.routes else None

    # helpers for subclasses ------------------------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        with self._cond:
            self._ids += 1
            return f"{prefix}_{self._ids:06d}{int(time.time() * 1000) % 100000:05d}"

    def hold(self, hang: Hang, keepalive: Callable[[], bool]) -> None:
        """Keep a stream open until released, the server stops, the client leaves or ``max_s`` passes."""
        deadline = time.monotonic() + hang.max_s
        while not hang.release.is_set() and not self._stopping.is_set() and time.monotonic() < deadline:
            if not keepalive():
                return
            hang.release.wait(0.5)

    def render(self, handler: ProviderHandler, route: str, body: Any, answer: Reply | Fault | Hang) -> None:
        raise NotImplementedError

    def _record(self, handler: ProviderHandler, body: Any, answer: str) -> None:
        split = urlsplit(handler.path)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        request = RecordedRequest(handler.command, split.path, split.query, headers, body, answer)
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()

    def _handler_class(self) -> type[ProviderHandler]:
        return type("Handler", (ProviderHandler,), {"provider": self})


class ProviderHandler(BaseHTTPRequestHandler):
    """Reads the JSON body, asks the script, records the request, and lets the server render the answer."""

    protocol_version = "HTTP/1.1"
    provider: ClassVar[ScriptedServer]

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_POST(self) -> None:
        server = self.provider
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        route = server.route_of(urlsplit(self.path).path)
        if route is None or not isinstance(body, dict):
            server._record(self, body, "other")
            self.send_json(404, {"error": {"type": "not_found_error", "message": f"no route {self.path}"}})
            return
        answer = server.script.next(body)
        label = (
            "reply" if isinstance(answer, Reply) else "hang" if isinstance(answer, Hang) else f"fault:{answer.status}"
        )
        server._record(self, body, label)
        server.render(self, route, body, answer)

    def do_GET(self) -> None:
        self.provider._record(self, None, "other")
        self.send_json(404, {"error": {"type": "not_found_error", "message": "not found"}})

    def send_json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def start_sse(self, headers: Mapping[str, str] | None = None) -> SseWriter:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.close_connection = True
        return SseWriter(self)
