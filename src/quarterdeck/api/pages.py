"""The dashboard's page routes: each serves the HTML shell, and the page's ES module does the rest.

The pages and their assets are ``web/``'s (``web/pages.py``: which path is which page); serving them is the API's.

The pages hold no data: they call the REST API (``/api/v1``) and its event stream from the browser.
A page load without a valid session is sent to ``/login?next=<path>`` (which first tries to refresh it).
"""

from __future__ import annotations

from functools import cache
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from quarterdeck.api import auth
from quarterdeck.api.errors import Unauthorized
from quarterdeck.api.services import Services, services
from quarterdeck.app import accounts
from quarterdeck.web import PAGES, STATIC_DIR

__all__ = ["router"]

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


#: what the sign-in page says while nobody can sign in (the command ``quarterdeck serve`` prints too)
_FIRST_USER = (
    '<p class="notice" id="first-user">Nobody can sign in yet. Create the first admin on the server, '
    "then sign in here:<br><code>quarterdeck user create --role admin --email you@example.com "
    "--name 'Your Name'</code></p>"
)


@router.api_route("/login", methods=["GET", "HEAD"])
async def login_page(request: Request, svc: Annotated[Services, Depends(services)]) -> Response:
    # Signed in already: straight on, so the page never probes the API (no 401s in the console).
    try:
        await auth.authenticate(svc, request)
    except Unauthorized:
        pass
    else:
        target = request.query_params.get("next") or "/"
        return RedirectResponse(target if target.startswith("/") and not target.startswith("//") else "/", 303)
    anyone = await accounts.has_users(svc.db)
    html = _shell("login.html")
    if not anyone:
        html = html.replace("<!-- first-user -->", _FIRST_USER)
    return HTMLResponse(html, headers=_HEADERS)


for _path, _name in PAGES.items():
    router.add_api_route(_path, _page, methods=["GET", "HEAD"], name=f"page_{_name}", response_class=HTMLResponse)
