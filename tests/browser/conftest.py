"""Browser tests: a real ``quarterdeck serve`` and Debian's Chromium (``/usr/bin/chromium``) driven by Playwright.

One server per session (fresh state directory, SQLite, its own engine worker) with an admin and a viewer
created through the CLI; each test gets its own browser context (cookies), signed in through the API or the form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)

from tests.browser.server import Server, User, start_server

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
ADMIN = User("admin@example.test", "correct horse battery staple", "Ada Admin", "admin")
VIEWER = User("viewer@example.test", "just looking, thanks", "Vic Viewer", "viewer")
#: Playwright's default wait for a condition; live updates arrive well within it
TIMEOUT_MS = 30_000
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Four worker slots: a test's held tasks never wait behind another test's.
    running = start_server(tmp_path_factory.mktemp("dashboard") / "state", "--workers", "4")
    try:
        running.create_user(ADMIN)
        running.create_user(VIEWER)
        yield running
    finally:
        running.stop()


# Package-scoped, not session-scoped: Playwright's sync API keeps an event loop running in this thread
# until it stops, and every asyncio test collected after tests/browser would fail under it.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
    yield chromium
    chromium.close()


@pytest.fixture
def new_context(browser: Browser, server: Server) -> Iterator[Callable[..., BrowserContext]]:
    """Contexts (a fresh cookie jar each) that fail the test on any uncaught error in a page."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def make(*, width: int = 1280, height: int = 900, base_url: str | None = None) -> BrowserContext:
        viewport = ViewportSize(width=width, height=height)
        context = browser.new_context(base_url=base_url or server.url, viewport=viewport)
        context.set_default_timeout(TIMEOUT_MS)
        context.on("page", lambda page: page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}")))
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    assert errors == [], "uncaught errors in the dashboard's pages"


def sign_in(context: BrowserContext, user: User) -> None:
    """Sign in through the API (the form has its own test): the session cookies land in the context."""
    response = context.request.post("/api/v1/auth/login", data={"email": user.email, "password": user.password})
    assert response.ok, response.text()


@pytest.fixture
def admin(new_context: Callable[..., BrowserContext]) -> Page:
    context = new_context()
    sign_in(context, ADMIN)
    return context.new_page()


@pytest.fixture
def viewer(new_context: Callable[..., BrowserContext]) -> Page:
    context = new_context()
    sign_in(context, VIEWER)
    return context.new_page()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
