"""Containment: every process an attempt starts runs in a sandbox that holds only its own worktree.

See ``docs/sandbox.md``. ``policy`` says what a step may do, ``bwrap`` builds the bubblewrap command,
``limits`` the cgroup and rlimits, ``egress`` the allow-listing proxy, ``container`` the OCI-engine option,
``probe`` whether any of it works here, and ``confinement`` ties them together behind ``wrap``, which
``runtimes/process.py`` calls for each process it starts.
"""

from __future__ import annotations

from quarterdeck.sandbox.confinement import Confinement, Wrapped, confine, current, wrap
from quarterdeck.sandbox.policy import Network, Policy, SandboxConfig, SandboxOverride
from quarterdeck.sandbox.probe import Availability, availability, is_opted_out

__all__ = [
    "Availability",
    "Confinement",
    "Network",
    "Policy",
    "SandboxConfig",
    "SandboxOverride",
    "Wrapped",
    "availability",
    "confine",
    "current",
    "is_opted_out",
    "wrap",
]
