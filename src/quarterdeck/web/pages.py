"""The dashboard's page routes: each serves the HTML shell, and the page's ES module does the rest.

The pages hold no data: they call the REST API (``/api/v1``) and its event stream from the browser.
A page load without a valid session is sent to ``/login?next=<path>`` (which first tries to refresh it).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from quarterdeck.api import auth
from quarterdeck.api.errors import Unauthorized
from quarterdeck.api.services import Services, services

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

#: the shells are tiny and change with the package: the browser revalidates them on every load
_HEADERS = {"Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


@cache
def _shell(name: str) -> str:
    return (STATIC_DIR / name).read_text(encoding="utf-8")


async def _page(request: Request, svc: Annotated[Services, Depends(services)]) -> Response:
    # The API checks every call the page makes; this spares a signed-out visitor an empty shell.
    # (The browser sends no bearer header on a page load: in practice this checks the session cookie.)
    try:
        await auth.authenticate(svc, request)
    except Unauthorized:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return HTMLResponse(_shell("app.html"), headers=_HEADERS)


@router.api_route("/login", methods=["GET", "HEAD"])
async def login_page() -> HTMLResponse:
    return HTMLResponse(_shell("login.html"), headers=_HEADERS)


for _path, _name in PAGES.items():
    router.add_api_route(_path, _page, methods=["GET", "HEAD"], name=f"page_{_name}", response_class=HTMLResponse)
