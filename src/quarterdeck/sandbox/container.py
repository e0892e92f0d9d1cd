"""The container option: the same policy, enforced by an OCI engine (podman or docker) instead of bubblewrap.

For fleets whose workers have a container engine and want each step in an image of their choosing
(``[sandbox] engine = "podman"``, ``image = "…"``). The step runs in a throw-away container (``--rm``) with
only its worktree (and the attempt's agent area) mounted read-write at the same path, no capabilities, no new
privileges, the policy's memory, process, file-size and CPU bounds, and the network: ``none`` → no network,
``open`` → the host's, ``providers`` → no network plus the egress proxy is not reachable: providers-only
egress needs the bubblewrap sandbox (a container with ``providers`` is refused rather than opened).
Environment values are passed by name (``-e NAME``), read by the engine from its own environment, so no
secret appears on a command line.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from quarterdeck.sandbox.policy import Network, Policy

__all__ = ["container_argv"]

_MIB = 1024 * 1024


def container_argv(
    engine: str,
    image: str | None,
    policy: Policy,
    *,
    rw: Sequence[Path],
    cwd: Path,
    env: Mapping[str, str],
    argv: Sequence[str],
) -> list[str]:
    """``podman run …`` / ``docker run …`` for one step; ``OSError`` when it cannot be built."""
    if image is None:
        raise OSError(f"[sandbox] engine = {engine!r} needs an image (set [sandbox] image)")
    if policy.network is Network.PROVIDERS:
        raise OSError(
            f"network 'providers' is enforced by the bubblewrap sandbox only; with engine {engine!r} "
            "set network to 'none' or 'open'"
        )
    out = [shutil.which(engine) or engine, "run", "--rm", "-i", "--init", "--cap-drop=ALL"]
    out += ["--security-opt=no-new-privileges"]
    out += ["--network", "host" if policy.network is Network.OPEN else "none"]
    out += ["--memory", f"{policy.memory_mb}m", "--memory-swap", f"{policy.memory_mb}m"]
    out += ["--pids-limit", str(policy.pids), "--ulimit", f"fsize={policy.file_size_mb * _MIB}"]
    if policy.cpu_s is not None:
        out += ["--ulimit", f"cpu={policy.cpu_s}"]
    out += ["--tmpfs", "/tmp"]
    for writable in dict.fromkeys([*rw, *(Path(p) for p in policy.rw)]):
        out += ["-v", f"{writable}:{writable}:rw"]
    for readable in policy.ro:
        out += ["-v", f"{readable}:{readable}:ro"]
    out += ["-w", str(cwd)]
    for name in sorted(env):
        if name not in ("PATH", "HOME"):
            out += ["-e", name]
    return [*out, image, *argv]
