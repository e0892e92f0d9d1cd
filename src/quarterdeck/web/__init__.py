"""The dashboard: the HTML pages and static assets that ``quarterdeck serve`` serves next to the API.

It imports nothing of the API: ``api/pages.py`` serves the page shells at :data:`PAGES`' paths, and ``create_app``
mounts :data:`STATIC_DIR` at ``/static``.
"""

from __future__ import annotations

from quarterdeck.web.pages import PAGES, STATIC_DIR

__all__ = ["PAGES", "STATIC_DIR"]
