"""The dashboard: the HTML pages and static assets that ``quarterdeck serve`` mounts next to the API.

``create_app`` includes :data:`router` (the pages) and mounts :data:`STATIC_DIR` at ``/static``.
"""

from __future__ import annotations

from quarterdeck.web.pages import STATIC_DIR, router

__all__ = ["STATIC_DIR", "router"]
