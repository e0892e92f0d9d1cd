"""The HTTP server's composition root: the ASGI application ``quarterdeck serve`` hands to uvicorn.

The CLI reaches the API only through here (``cli/serve.py`` parses and presents; ``api/`` is the transport),
and imports it only when it serves: every other command starts without loading the web stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from quarterdeck.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["http_app"]


def http_app(settings: Settings, *, worker_slots: int = 0, event_relay: Path | None = None) -> FastAPI:
    """The REST API, its event streams, the dashboard and the MCP endpoint, with ``worker_slots`` engine slots
    in this process (``api/app.py``'s ``create_app``); ``event_relay``: where separate workers push events."""
    from quarterdeck.api.app import create_app

    return create_app(settings, worker_slots=worker_slots, event_relay=event_relay)
