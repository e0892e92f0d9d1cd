"""The dashboard's pages: which path is which page, and where their static files are.

Each page is an HTML shell (``static/app.html``) and an ES module (``static/js/pages/<name>.js``) that calls the
REST API; ``api/pages.py`` serves the shells at these paths, and ``api/app.py`` mounts ``STATIC_DIR``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PAGES", "STATIC_DIR"]

#: the dashboard's static files (HTML shells, ES modules, CSS, vendored libraries), served at ``/static``
STATIC_DIR = Path(__file__).resolve().parent / "static"

#: path → the page's name (the module ``static/js/pages/<name>.js`` renders it)
PAGES: dict[str, str] = {
    "/": "runs",
    "/runs/{run_id}": "run",
    "/runs/{run_id}/tasks/{task_id}": "task",
    "/queue": "queue",
    "/costs": "costs",
    "/analytics": "analytics",
    "/audit": "audit",
    "/approvals": "approvals",
    "/settings": "settings",
}
