"""What every use case of ``Quarterdeck`` reaches: the settings, the database and the runtimes.

``Quarterdeck`` (``facade.py``) is composed of the use cases named for what they act on (``submission``,
``approvals``, ``steering``, ``runs``, ``fleet``, ``notifications``, ``memories``); each is a class of
methods over these parts, which the facade sets up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quarterdeck.settings import Settings
from quarterdeck.store.database import Database

if TYPE_CHECKING:
    from quarterdeck.runtimes.registry import Registry

__all__ = ["Parts"]


class Parts:
    """The settings, the database and the runtime registry (loaded on first use)."""

    settings: Settings
    db: Database
    _registry: Registry | None

    @property
    def registry(self) -> Registry:
        """The runtimes (the built-in ones and the entry points'), loaded on first use."""
        if self._registry is None:
            from quarterdeck.runtimes.registry import default_registry

            self._registry = default_registry()
        return self._registry
