"""The HTTP API: REST v1 under ``/api/v1``, live event streams, auth, and the dashboard's mount point.

``create_app`` is imported on first use, so that the CLI's account commands (which share
``accounts`` and ``vault``) do not load the web framework.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from quarterdeck.api.app import create_app

        return create_app
    raise AttributeError(name)
