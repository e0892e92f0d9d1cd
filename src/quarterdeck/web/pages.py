"""The dashboard's page routes: each serves the HTML shell, and the page's ES module does the rest.

The pages hold no data: they call the REST API (``/api/v1``) and its event stream from the browser.
A page load without a session cookie is sent to ``/login?next=<path>``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

__all__ = ["PAGES", "STATIC_DIR", "router"]

#: the dashboard's static files (HTML shells, ES modules, CSS, vendored libraries), served at ``/static``
STATIC_DIR = Path(__file__).resolve().parent / "static"

#: path → the page's name (the module ``static/js/pages/<name>.js`` renders it)
PAGES: dict[str, str] = {
    "/": "runs",
    "/runs/{run_id}": "run",
    "/runs/{run_id}/tasks/{task_id}": "task",
    "/queue": "queue",
    "/costs": "costs",
    "/audit": "audit",
    "/approvals": "approvals",
    "/settings": "settings",
}

#: the shells change only with the package; the browser revalidates them on each load (ETag-free, tiny)
_NO_STORE = {"Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


@cache
def _shell(name: str) -> str:
    return (STATIC_DIR / name).read_text(encoding="utf-8")


def _signed_in(request: Request) -> bool:
    # The API authenticates every call the page makes; this only spares a signed-out user an empty shell.
    # (``qd_refresh`` is scoped to /api/v1/auth, so an expired session lands on /login, which refreshes it.)
    return bool(request.cookies.get("qd_access"))


def _page(request: Request) -> Response:
    if not _signed_in(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return HTMLResponse(_shell("app.html"), headers=_NO_STORE)


@router.get("/login")
async def login_page() -> HTMLResponse:
    return HTMLResponse(_shell("login.html"), headers=_NO_STORE)


for _path, _name in PAGES.items():
    router.add_api_route(_path, _page, methods=["GET"], name=f"page_{_name}", response_class=HTMLResponse)
