"""Test hosts: network namespaces joined by veth links to a bridge, each process in a mount namespace of its own.

A ``Lan`` is a hub namespace holding a bridge and any number of host namespaces linked to it (``10.<a>.<b>.0/24``,
the hub at ``.1``). Nothing leaves it: the hosts reach each other and nothing else. A process started on a
host (``Lan.spawn``) also gets a mount namespace of its own with an empty ``tmpfs`` at ``private``, so two
hosts use the same path for their state and see nothing of each other's files there.

PostgreSQL listens on the machine's loopback only, and the test must not reconfigure a server other tests
share: ``Lan.forward_postgres`` opens a listening socket *inside* a host namespace (a thread that entered it
with ``setns``) and relays each connection to the server from the test's own namespace. Processes on the host
reach the database at ``127.0.0.1:5432`` as they would on a machine that runs it, and see no other address.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

__all__ = ["Lan", "available"]

_CLONE_NEWNET = 0x40000000
_NETNS = Path("/var/run/netns")


def available() -> str | None:
    """Why hosts cannot be made here (None: they can): they need root, ``ip netns`` and ``unshare``."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in (["ip", "-V"], ["unshare", "--version"]):
        try:
            subprocess.run(tool, capture_output=True, check=True)
        except (OSError, subprocess.CalledProcessError):
            return f"{tool[0]} is missing (iproute2, util-linux)"
    return None


def _ip(*args: str, netns: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    subprocess.run([*prefix, "ip", *args], check=True, capture_output=True, text=True)


def _in_netns(name: str, make: type[socket.socket] = socket.socket) -> socket.socket:
    """A TCP socket created inside the network namespace ``name`` (it stays there, whichever thread uses it)."""
    made: list[socket.socket | BaseException] = []

    def enter() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(_NETNS / name, os.O_RDONLY)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {name}")
            finally:
                os.close(fd)
            made.append(make(socket.AF_INET, socket.SOCK_STREAM))
        except BaseException as exc:  # handed to the caller
            made.append(exc)

    thread = threading.Thread(target=enter)  # a thread of its own: the namespace is left with it
    thread.start()
    thread.join()
    result = made[0]
    if isinstance(result, BaseException):
        raise result
    return result


def _relay(a: socket.socket, b: socket.socket) -> None:
    try:
        while chunk := a.recv(65536):
            b.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (a, b):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _connect(inside: socket.socket, outside: socket.socket) -> None:
    """Relay both ways until either side ends, then close both."""
    back = threading.Thread(target=_relay, args=(outside, inside), daemon=True)
    back.start()
    _relay(inside, outside)
    back.join()
    inside.close()
    outside.close()


@dataclass
class Host:
    """One host: its network namespace and address on the LAN."""

    name: str
    netns: str
    address: str


@dataclass
class Lan:
    """A hub namespace with a bridge, and hosts linked to it; removed (every process in it killed) on ``close``."""

    hub: Host
    hosts: dict[str, Host] = field(default_factory=dict)
    _subnet: str = ""
    _tag: str = ""
    _listeners: list[socket.socket] = field(default_factory=list)
    _relays: list[tuple[threading.Thread, socket.socket, socket.socket]] = field(default_factory=list)
    _procs: list[subprocess.Popen[str]] = field(default_factory=list)
    _acceptors: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def create(cls, names: Sequence[str]) -> Lan:
        tag = secrets.token_hex(2)
        subnet = f"10.{200 + secrets.randbelow(50)}.{secrets.randbelow(250)}"
        hub = Host("hub", f"qd{tag}-hub", f"{subnet}.1")
        lan = cls(hub=hub, _subnet=subnet, _tag=tag)
        try:
            _ip("netns", "add", hub.netns)
            _ip("link", "set", "lo", "up", netns=hub.netns)
            _ip("link", "add", "br0", "type", "bridge", netns=hub.netns)
            _ip("addr", "add", f"{hub.address}/24", "dev", "br0", netns=hub.netns)
            _ip("link", "set", "br0", "up", netns=hub.netns)
            for n, name in enumerate(names, start=10):
                lan._add(name, n)
        except BaseException:
            lan.close()
            raise
        return lan

    def _add(self, name: str, n: int) -> None:
        host = Host(name, f"qd{self._tag}-{name}", f"{self._subnet}.{n}")
        _ip("netns", "add", host.netns)
        self.hosts[name] = host
        ours, theirs = f"qd{self._tag}h{n}", f"qd{self._tag}s{n}"
        _ip("link", "add", ours, "type", "veth", "peer", "name", theirs)
        _ip("link", "set", ours, "netns", host.netns)
        _ip("link", "set", theirs, "netns", self.hub.netns)
        _ip("link", "set", theirs, "master", "br0", netns=self.hub.netns)
        _ip("link", "set", theirs, "up", netns=self.hub.netns)
        _ip("link", "set", "lo", "up", netns=host.netns)
        _ip("link", "set", ours, "name", "eth0", netns=host.netns)
        _ip("addr", "add", f"{host.address}/24", "dev", "eth0", netns=host.netns)
        _ip("link", "set", "eth0", "up", netns=host.netns)

    def forward_postgres(self, host: str, port: int = 5432) -> None:
        """Let processes on ``host`` reach the machine's PostgreSQL at their own ``127.0.0.1:port``."""
        listener = _in_netns(self.hosts[host].netns)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        self._listeners.append(listener)

        def accept() -> None:
            while True:
                try:
                    inside, _ = listener.accept()
                except OSError:
                    return  # closed
                try:
                    outside = socket.create_connection(("127.0.0.1", port))
                except OSError:
                    inside.close()
                    continue
                relay = threading.Thread(target=_connect, args=(inside, outside), daemon=True)
                relay.start()
                self._relays.append((relay, inside, outside))

        acceptor = threading.Thread(target=accept, daemon=True)
        acceptor.start()
        self._acceptors.append(acceptor)

    def spawn(
        self,
        host: str,
        argv: Sequence[str],
        *,
        private: Path | None = None,
        env: dict[str, str],
        cwd: Path,
        stdout: IO[str] | int | None = None,
        stderr: IO[str] | int | None = None,
    ) -> subprocess.Popen[str]:
        """Run ``argv`` on ``host``, in a mount namespace of its own where ``private`` is an empty tmpfs."""
        netns = self.hub.netns if host == "hub" else self.hosts[host].netns
        inner = list(argv)
        if private is not None:
            private.mkdir(parents=True, exist_ok=True)
            quoted = " ".join(_quote(a) for a in inner)
            inner = ["sh", "-c", f"mount -t tmpfs tmpfs {_quote(str(private))} && exec {quoted}"]
        full = ["ip", "netns", "exec", netns, "unshare", "--mount", "--propagation", "private", *inner]
        popen = subprocess.Popen(full, env=env, cwd=cwd, stdout=stdout, stderr=stderr, text=True)
        self._procs.append(popen)
        return popen

    def kill_host(self, host: str) -> list[int]:
        """``kill -9`` every process on ``host`` (its network namespace): the machine is gone."""
        pids = self.pids(host)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pids

    def pids(self, host: str) -> list[int]:
        netns = self.hub.netns if host == "hub" else self.hosts[host].netns
        listed = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True, check=False)
        return [int(p) for p in listed.stdout.split()]

    def close(self) -> None:
        for listener in self._listeners:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for acceptor in self._acceptors:
            acceptor.join(timeout=10)
        for relay, inside, outside in self._relays:
            for sock in (inside, outside):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            relay.join(timeout=10)
        for host in [*self.hosts, "hub"]:
            with contextlib.suppress(subprocess.CalledProcessError, KeyError):
                self.kill_host(host)
        for popen in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.communicate(timeout=30)
        for netns in [h.netns for h in self.hosts.values()] + [self.hub.netns]:
            subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


@contextlib.contextmanager
def lan(names: Sequence[str]) -> Iterator[Lan]:
    """A LAN of hosts ``names`` (and its hub), removed with everything in it on exit."""
    made = Lan.create(names)
    try:
        yield made
    finally:
        made.close()
