"""The egress proxy of ``network: providers``: the sandbox's only way out, allow-listed by host.

A step with ``providers`` network has its own network namespace: nothing but its own loopback. Quarterdeck
runs this proxy (asyncio, in the worker) on a Unix socket that is bind-mounted into the sandbox; inside,
a small forwarder (``FORWARDER``, run by the sandbox's Python before the step) listens on loopback and
relays to that socket:

- on ``127.0.0.1:PROXY_PORT`` an HTTP proxy (``HTTPS_PROXY``/``HTTP_PROXY`` point at it): ``CONNECT host:port``
  and absolute-form ``GET http://host/…`` requests, each checked against the allow-list;
- on each port of a provider that lives on the worker's loopback (a local model server, e.g.
  ``ANTHROPIC_BASE_URL=http://127.0.0.1:8080``), the same port inside, tunnelled with ``CONNECT``, so a client
  that bypasses proxies for loopback still reaches it — and only it.

Nothing else leaves: a direct connection to any other address finds no route. Every contact, allowed or
refused, is reported once per host to ``on_contact`` (the attempt's events).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

__all__ = ["FORWARDER", "PROXY_PORT", "AllowList", "EgressProxy"]

#: the proxy's port inside the sandbox (its own network namespace: no clash with the worker's)
PROXY_PORT = 3128
_HEAD_LIMIT = 64 * 1024

OnContact = Callable[[str, int, bool], Awaitable[None]]


class AllowList:
    """Hosts a step may reach: ``host`` (any port) or ``host:port``; names compared case-insensitively."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.any_port: set[str] = set()
        self.exact: set[tuple[str, int]] = set()
        for entry in entries:
            host, port = split_host_port(entry.strip().lower())
            if port is None:
                self.any_port.add(host)
            else:
                self.exact.add((host, port))

    def allows(self, host: str, port: int) -> bool:
        host = host.lower().strip("[]")
        return host in self.any_port or (host, port) in self.exact

    def __repr__(self) -> str:
        shown = sorted(self.any_port) + sorted(f"{h}:{p}" for h, p in self.exact)
        return ", ".join(shown) or "nothing"


def split_host_port(text: str, default: int | None = None) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]:port`` → (host, port)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else default
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, int(port)
    return text, default


class EgressProxy:
    """An HTTP CONNECT / forward proxy on a Unix socket, letting through only allowed hosts."""

    def __init__(self, socket_path: Path, allow: AllowList, on_contact: OnContact | None = None) -> None:
        self.socket_path = socket_path
        self.allow = allow
        self.on_contact = on_contact
        self.contacted: dict[tuple[str, int], bool] = {}
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.socket_path))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for pipe in list(self._pipes):
            pipe.cancel()
        if self._pipes:
            await asyncio.gather(*self._pipes, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        with contextlib.suppress(OSError):
            self.socket_path.unlink()

    async def _note(self, host: str, port: int, allowed: bool) -> None:
        if (host, port) not in self.contacted:
            self.contacted[host, port] = allowed
            if self.on_contact is not None:
                await self.on_contact(host, port, allowed)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            await self._handle(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            self._pipes.discard(task)
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > _HEAD_LIMIT:
            return
        request_line, _, rest = head.decode("latin-1").partition("\r\n")
        method, target, version = ([*request_line.split(" "), "", ""])[:3]
        if method.upper() == "CONNECT":
            host, port = split_host_port(target, 443)
            forward: bytes | None = None
        elif target.startswith("http://"):
            authority, _, path = target[len("http://") :].partition("/")
            host, port = split_host_port(authority.rpartition("@")[2], 80)
            headers = [h for h in rest.split("\r\n") if h and not h.lower().startswith(("proxy-", "connection:"))]
            lines = "".join(h + "\r\n" for h in headers)
            forward = f"{method} /{path} {version}\r\n{lines}".encode("latin-1")
            forward += b"Connection: close\r\n\r\n"
        else:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\nnot a proxy request\n")
            await writer.drain()
            return
        assert port is not None
        allowed = self.allow.allows(host, port)
        await self._note(host, port, allowed)
        if not allowed:
            body = (
                f"quarterdeck sandbox: {host}:{port} is not an allowed provider (network: providers; "
                f"allowed: {self.allow})\n"
            ).encode()
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n")
            writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), port), 30)
        except (OSError, TimeoutError) as exc:
            writer.write(f"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n{exc}\n".encode())
            await writer.drain()
            return
        if forward is None:
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
        else:
            up_writer.write(forward)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            if writer.can_write_eof():
                writer.write_eof()


#: Run inside the sandbox as ``python3 -I -S -c FORWARDER SOCKET PORT[=HOST]... -- ARGV``: listens on loopback,
#: relays to the proxy's Unix socket, runs ARGV and exits with its status. Standard library only.
FORWARDER = r"""
import os, signal, socket, sys, threading
sock_path = sys.argv[1]
split = sys.argv.index("--")
maps, argv = sys.argv[2:split], sys.argv[split + 1:]
def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass
def relay(conn, target):
    up = socket.socket(socket.AF_UNIX)
    try:
        up.connect(sock_path)
        if target:
            up.sendall(b"CONNECT " + target.encode() + b" HTTP/1.1\r\nHost: " + target.encode() + b"\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = up.recv(1)
                if not chunk:
                    raise OSError("proxy closed")
                head += chunk
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                conn.sendall(head)
                raise OSError("refused")
    except OSError:
        conn.close(); up.close(); return
    threading.Thread(target=pipe, args=(up, conn), daemon=True).start()
    pipe(conn, up)
def serve(listener, target):
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=relay, args=(conn, target), daemon=True).start()
for spec in maps:
    port, _, target = spec.partition("=")
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", int(port)))
    listener.listen(64)
    threading.Thread(target=serve, args=(listener, target), daemon=True).start()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        sys.stderr.write(f"{argv[0]}: {exc.strerror}\n")
        os._exit(127)
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(sig, lambda s, f: os.kill(pid, s))
while True:
    try:
        _, status = os.waitpid(pid, 0)
        break
    except ChildProcessError:
        status = 0
        break
    except InterruptedError:
        continue
os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
"""
