"""A newcomer's pages: a quiet sign-in page, a viewer's quiet Settings, the New run form's example and errors."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, expect

from tests.browser.conftest import ADMIN, VIEWER, sign_in
from tests.browser.plans import demo_repo

pytestmark = pytest.mark.slow


def _console_errors(page: Page) -> list[str]:
    errors: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", seen)
    return errors


def test_the_sign_in_page_and_a_viewers_settings_log_no_errors(new_context: Callable[..., BrowserContext]) -> None:
    page = new_context().new_page()
    errors = _console_errors(page)
    page.goto("/login")
    expect(page.locator("#login-submit")).to_be_visible()
    page.reload()
    expect(page.locator("#email")).to_be_visible()
    assert errors == []  # no probe of the API without a session: no 401s

    viewer = new_context()
    sign_in(viewer, VIEWER)
    settings = viewer.new_page()
    errors = _console_errors(settings)
    settings.goto("/settings")
    expect(settings.locator("h1")).to_have_text("Settings")
    expect(settings.get_by_text("Only admins can see these.")).to_have_count(3)
    assert errors == []  # keys, secrets and users are not even asked for: no 403s


def test_the_new_run_forms_example_runs_and_a_refusal_lists_each_problem_once(
    new_context: Callable[..., BrowserContext], tmp_path: Path
) -> None:
    context = new_context()
    sign_in(context, ADMIN)
    page = context.new_page()
    repo = demo_repo(tmp_path)
    page.goto("/")
    page.click("#new-run-toggle")
    broken = {"name": "x", "tasks": [{"id": "a", "titel": "A", "runtime": "shel"}, {"id": "b", "title": "B"}]}
    page.fill("#run-plan", json.dumps(broken))
    page.fill("#run-repo", str(repo))
    page.click("#start-run")
    problems = page.locator("#new-run-errors li")
    expect(problems.first).to_be_visible()
    texts = problems.all_inner_texts()
    assert len(texts) == len(set(texts)) >= 2, texts
    assert any("unknown task field 'titel' (did you mean 'title'?)" in t for t in texts), texts

    example = page.locator("#run-plan").get_attribute("placeholder")
    assert example is not None
    page.fill("#run-plan", example)
    page.fill("#run-branch", "example")
    page.click("#start-run")
    expect(page).to_have_url(re.compile(r"/runs/r\w+$"))
    expect(page.locator('.dag-node[data-task="hello"]')).to_have_attribute("data-status", "succeeded")
