"""The HTTP API: REST v1 under ``/api/v1``, live event streams, auth, and the dashboard's mount point."""

from __future__ import annotations

from quarterdeck.api.app import create_app

__all__ = ["create_app"]
