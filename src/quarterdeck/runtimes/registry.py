"""The runtime registry, fed by ``DEFAULT_RUNTIMES`` and the ``quarterdeck.runtimes`` entry points alike.

An entry point names either a runtime class or a function ``register(register)`` that calls
``register(RuntimeClass)`` for each runtime it provides. Set ``QUARTERDECK_TRACE_PLUGINS=1`` to
see every registration on stderr.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Any

from quarterdeck.errors import UnknownRuntimeError
from quarterdeck.runtimes.base import Runtime

__all__ = ["DEFAULT_RUNTIMES", "ENTRY_POINT_GROUP", "Registry", "default_registry"]

ENTRY_POINT_GROUP = "quarterdeck.runtimes"
#: Built-in runtimes, loaded exactly like third-party entry points.
DEFAULT_RUNTIMES = (
    "quarterdeck.runtimes.shell:ShellRuntime",
    "quarterdeck.runtimes.scripted:ScriptedRuntime",
    "quarterdeck.runtimes.noop:NoopRuntime",
    "quarterdeck.runtimes.claude_code:ClaudeCodeRuntime",
    "quarterdeck.runtimes.codex:CodexRuntime",
    "quarterdeck.runtimes.gemini:GeminiRuntime",
    "quarterdeck.runtimes.api_agent:ApiAgentRuntime",
)


def _trace(message: str) -> None:
    if os.environ.get("QUARTERDECK_TRACE_PLUGINS"):
        print(f"quarterdeck plugins: {message}", file=sys.stderr)


def _import(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


class Registry:
    """Runtimes by name."""

    def __init__(self) -> None:
        self._runtimes: dict[str, type[Runtime]] = {}

    def register(self, runtime: type[Runtime]) -> None:
        """Add (or replace) a runtime under its ``name``."""
        _trace(f"register {runtime.name!r} from {runtime.__module__}")
        self._runtimes[runtime.name] = runtime

    def unregister(self, name: str) -> None:
        self._runtimes.pop(name, None)

    def load(self, obj: Any) -> None:
        """Register a runtime class, or call a ``register(register)`` hook."""
        if isinstance(obj, type) and hasattr(obj, "name") and hasattr(obj, "run"):
            self.register(obj)
        elif callable(obj):
            hook: Callable[[Callable[[type[Runtime]], None]], None] = obj
            hook(self.register)
        else:
            raise TypeError(f"{obj!r} is neither a runtime class nor a register hook")

    def get(self, name: str) -> type[Runtime]:
        """The runtime class called ``name``; UnknownRuntimeError lists the available ones."""
        try:
            return self._runtimes[name]
        except KeyError:
            raise UnknownRuntimeError(name, self.names()) from None

    def names(self) -> list[str]:
        return sorted(self._runtimes)

    def __iter__(self) -> Iterator[type[Runtime]]:
        return iter(self._runtimes.values())


def default_registry() -> Registry:
    """A registry with the built-ins and every installed plugin."""
    registry = Registry()
    for ref in DEFAULT_RUNTIMES:
        registry.load(_import(ref))
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        _trace(f"entry point {entry.name} = {entry.value}")
        registry.load(entry.load())
    return registry
