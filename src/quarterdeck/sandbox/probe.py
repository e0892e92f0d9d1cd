"""Whether the sandbox can work on this machine, and why not: asked once per process."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from quarterdeck.sandbox import limits

__all__ = ["Availability", "availability", "is_opted_out"]


@dataclass(frozen=True, slots=True)
class Availability:
    """bubblewrap's path when it works here (``reason`` empty), and where per-step cgroups go."""

    bwrap: str | None
    reason: str
    cgroups: limits.CgroupRoot | None
    cgroup_reason: str

    @property
    def ok(self) -> bool:
        return self.bwrap is not None and not self.reason

    def describe(self) -> str:
        if not self.ok:
            return f"unavailable: {self.reason}"
        bounds = self.cgroups.describe() if self.cgroups else f"rlimits only ({self.cgroup_reason})"
        return f"bubblewrap at {self.bwrap}; {bounds}"


def is_opted_out(value: str | None = None) -> bool:
    """``QUARTERDECK_SANDBOX=off`` (or ``0``, ``false``, ``no``): steps run unconfined, and every run says so."""
    raw = os.environ.get("QUARTERDECK_SANDBOX", "") if value is None else value
    return raw.strip().lower() in ("off", "0", "false", "no")


@functools.cache
def availability() -> Availability:
    """Try a minimal sandbox (own PID and network namespaces, read-only root) once."""
    root, cgroup_reason = limits.find_cgroup_root()
    if not sys.platform.startswith("linux"):
        return Availability(None, f"the sandbox needs Linux (this is {sys.platform})", None, "")
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return Availability(
            None, "bubblewrap (`bwrap`) is not installed (Debian/Ubuntu: apt-get install bubblewrap)", root, ""
        )
    argv = [bwrap, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--unshare-pid", "--unshare-net"]
    try:
        done = subprocess.run(
            [*argv, "--die-with-parent", "true"], capture_output=True, text=True, timeout=30, env={}, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Availability(bwrap, f"bwrap could not start: {exc}", root, cgroup_reason)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        hint = " (user namespaces may be disabled: sysctl kernel.unprivileged_userns_clone=1)"
        return Availability(bwrap, f"bwrap cannot make namespaces here: {detail[0]}{hint}", root, cgroup_reason)
    return Availability(bwrap, "", root, cgroup_reason)
