"""The live view survives a dropped connection: it shows it, reconnects by itself, and misses nothing.

The API server dies (SIGKILL) while a task is held, the task finishes while it is down (the worker is a
separate process writing to the same database), and the server comes back on the same port: the page,
never reloaded, turns the task green from the events it missed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import ADMIN, screenshot, sign_in
from tests.browser.plans import demo_repo, gated_plan, start_run
from tests.browser.server import Server, start_server, stop
from tests.support.gitrepo import shared_dir

pytestmark = pytest.mark.slow


@pytest.fixture
def api_only(tmp_path: Path) -> Iterator[Server]:
    """A server without its own worker, and a ``quarterdeck worker`` beside it on the same database."""
    server = start_server(tmp_path / "state", "--no-worker")
    server.create_user(ADMIN)
    worker = server.spawn("worker", "--slots", "2")
    try:
        yield server
    finally:
        stop(worker)
        server.stop()


def test_a_dropped_stream_is_shown_and_recovered_without_missing_events(
    api_only: Server, new_context: Callable[..., BrowserContext], tmp_path: Path
) -> None:
    signals = tmp_path / "signals"
    repo = demo_repo(tmp_path)
    shared_dir(repo, signals)  # the steps' sandboxes wait on it too
    context = new_context(base_url=api_only.url)
    sign_in(context, ADMIN)
    run = start_run(context, gated_plan(signals, name="dropped"), repo)
    (signals / "hold").touch()  # only the gate is needed here
    page = context.new_page()
    page.goto(f"/runs/{run['id']}")
    page.evaluate("window.__notReloaded = true")
    gate = page.locator('.dag-node[data-task="gate"]')
    expect(gate).to_have_attribute("data-status", "running")
    live = page.locator("#live")
    expect(live).to_have_attribute("data-state", "live")

    api_only.kill()
    expect(live).not_to_have_attribute("data-state", "live")
    expect(live.locator(".label")).to_have_text(re.compile("^(reconnecting|offline)$"))
    expect(page.locator("#stale")).to_contain_text("Connection to the server lost")
    screenshot(page, "connection-lost")
    (signals / "release").touch()  # the worker finishes the gate while the API is down

    restarted = start_server(api_only.state_dir, "--no-worker", port=api_only.port)
    try:
        expect(gate).to_have_attribute("data-status", "succeeded")
        expect(page.locator('.dag-node[data-task="after"]')).to_have_attribute("data-status", "succeeded")
        expect(live).to_have_attribute("data-state", "live")
        expect(page.locator("#stale")).to_be_hidden()
        assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"
    finally:
        context.close()  # its live stream would hold the server's graceful shutdown open
        restarted.stop()


def test_a_refresh_that_finds_the_server_gone_is_left_to_the_reconnect(
    api_only: Server, new_context: Callable[..., BrowserContext]
) -> None:
    # Pages refresh through debounce(); one that fires just after the server died must not end in an
    # uncaught rejection ("Failed to fetch"): the live stream's reconnect refreshes again. Other failures
    # still surface (the new_context fixture fails the test on any uncaught page error).
    context = new_context(base_url=api_only.url)
    sign_in(context, ADMIN)
    page = context.new_page()
    page.goto("/queue")
    page.evaluate(
        """async () => {
            window.__unhandled = [];
            window.addEventListener("unhandledrejection", (e) => window.__unhandled.push(String(e.reason)));
            const { debounce } = await import("/static/js/dom.js");
            const { get } = await import("/static/js/api.js");
            window.__refresh = (path) => new Promise((settled) => debounce(() => get(path).finally(settled), 0)());
        }"""
    )
    api_only.kill()
    # The refresh settles, then a later task of the page's event loop sees any unhandled rejection.
    unhandled = page.evaluate(
        """async () => {
            await window.__refresh("/queue");
            await new Promise((next) => setTimeout(next, 0));
            return window.__unhandled;
        }"""
    )
    assert unhandled == []
