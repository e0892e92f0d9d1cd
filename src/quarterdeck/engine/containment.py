"""How one attempt's steps are confined: the sandbox settings resolved for the attempt, or why there is none.

On by default on Linux. ``QUARTERDECK_SANDBOX=off`` runs steps unconfined and every attempt says so in its
events; where the sandbox cannot work (no bubblewrap, no user namespaces) an attempt refuses to start
rather than run an agent unconfined, naming the reason and the opt-out.

Steps get a clean environment: the worker's own variables do not reach them, except the basics (``PATH``,
locale, terminal), the project's ``[sandbox] pass_env``, and for an agent step its provider's variables
(``ANTHROPIC_*`` for Claude Code, …). The project's ``[workspace] env``, the organisation's secrets and the
task's own ``env`` are the step's, as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quarterdeck import sandbox
from quarterdeck.sandbox import confinement as confinement_mod
from quarterdeck.sandbox.policy import SANDBOX_OPTION, Policy, SandboxConfig, StepKind, parse_override
from quarterdeck.settings import Settings

__all__ = ["Containment", "split_options", "step", "step_env"]

#: the worker's variables every step keeps: the basics, the machine's TLS trust (a company CA) and its proxy
_BASICS = (
    *("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM", "COLORTERM", "NO_COLOR"),
    *("SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"),
    *("GIT_SSL_CAINFO", "PIP_CERT"),
    *("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"),
)
#: an agent step's provider: its variables (by prefix) and its default endpoints
_PROVIDERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "claude-code": (("ANTHROPIC_", "CLAUDE_"), ("api.anthropic.com:443",)),
    "codex": (("OPENAI_", "CODEX_"), ("api.openai.com:443", "chatgpt.com:443", "auth.openai.com:443")),
    "gemini": (
        ("GEMINI_", "GOOGLE_"),
        ("generativelanguage.googleapis.com:443", "oauth2.googleapis.com:443", "cloudcode-pa.googleapis.com:443"),
    ),
}

#: what an agent CLI is told when it runs inside Quarterdeck's sandbox: Claude Code accepts
#: ``bypassPermissions`` as root only when ``IS_SANDBOX=1`` says it is confined — here it is
_CONFINED_MARKERS: dict[str, dict[str, str]] = {"claude-code": {"IS_SANDBOX": "1"}}


def split_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the runtime's own options, the task's ``sandbox:`` mapping) — a plan stores the latter with the options."""
    own = dict(options)
    override = own.pop(SANDBOX_OPTION, None)
    return own, override if isinstance(override, dict) else None


def step_env(base: Mapping[str, str], *, pass_env: tuple[str, ...], runtime: str | None) -> dict[str, str]:
    """The part of the worker's environment a step may see (``runtime``: an agent step's runtime)."""
    prefixes = _PROVIDERS.get(runtime or "", ((), ()))[0]
    keep = set(_BASICS) | set(pass_env)
    kept = {k: v for k, v in base.items() if k in keep or k.startswith("LC_") or (prefixes and k.startswith(prefixes))}
    return kept | _CONFINED_MARKERS.get(runtime or "", {})


@dataclass(frozen=True, slots=True)
class Containment:
    """An attempt's sandboxing: ``mode`` is ``on``, ``off`` (opted out) or ``unavailable`` (with ``reason``)."""

    mode: str
    reason: str
    config: SandboxConfig
    override: sandbox.SandboxOverride | None

    @classmethod
    def decide(cls, config: SandboxConfig, raw_override: Mapping[str, Any] | None, *, where: str) -> Containment:
        """Whether this attempt is confined.

        Raises:
            ValueError: the task's ``sandbox:`` mapping is invalid.
        """
        override = parse_override(raw_override, where=where)
        if sandbox.is_opted_out():
            return cls("off", "QUARTERDECK_SANDBOX=off: steps run with the worker's privileges", config, override)
        available = sandbox.availability()
        if config.engine == "bwrap" and not available.ok:
            return cls("unavailable", available.reason, config, override)
        return cls("on", available.describe() if config.engine == "bwrap" else config.engine, config, override)

    @property
    def on(self) -> bool:
        return self.mode == "on"

    def policy(self, kind: StepKind) -> Policy:
        return self.config.policy(kind, self.override)

    def confinement(
        self,
        settings: Settings,
        *,
        worktree: Path,
        area: Path | None,
        earlier: tuple[Path, ...] = (),
        runtime: str,
        options: Mapping[str, Any],
        emit: confinement_mod.Emit,
    ) -> sandbox.Confinement | None:
        """The attempt's confinement (agent policy; ``step`` switches to a check's), or None when off.

        ``area`` is the agent's own area, ``earlier`` the same task's earlier attempts' areas: both read-write
        (a CLI resuming a session follows its index into the earlier area and appends to the session there)."""
        if not self.on:
            return None
        providers = list(_PROVIDERS.get(runtime, ((), ()))[1])
        base_url = options.get("base_url")
        if isinstance(base_url, str):
            providers += confinement_mod.url_hosts(base_url)
        env = options.get("env")
        if isinstance(env, dict):
            providers += confinement_mod.endpoint_hosts({str(k): str(v) for k, v in env.items()})
        state = settings.state_dir.resolve()
        never = [state, settings.resolved_worktree_root()]
        url = settings.resolved_database_url()
        if url.startswith("sqlite:///"):
            never.append(Path(url.removeprefix("sqlite:///")).resolve().parent)
        return sandbox.Confinement(
            policy=self.policy("agent"),
            rw=(worktree, *((area,) if area is not None else ()), *earlier),
            never=tuple(dict.fromkeys(never)),
            not_above=(Path.home(),),
            providers=tuple(dict.fromkeys(providers)),
            emit=emit,
            engine=self.config.engine,
            image=self.config.image,
        )


@contextlib.contextmanager
def step(confinement: sandbox.Confinement | None, policy: Policy | None) -> Iterator[None]:
    """Run the block's processes under ``confinement`` with ``policy`` (nothing when either is None)."""
    if confinement is None or policy is None:
        yield
        return
    with sandbox.confine(confinement.for_step(policy)):
        yield
