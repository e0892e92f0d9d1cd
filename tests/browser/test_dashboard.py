"""The dashboard in Chromium against a real server: sign in, run the demo, watch it live, steer it, and roles."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import ADMIN, screenshot, sign_in
from tests.browser.plans import DEMO_PLAN, demo_repo, gated_plan, start_run
from tests.browser.server import Server
from tests.support.gitrepo import shared_dir

pytestmark = pytest.mark.slow

#: the labels of every steering button the dashboard has
STEERING = re.compile(r"^(Cancel|Retry|Priority…|Pause|Resume|Add budget…|Cancel run|New run|Start run)$")


def node(page: Page, task_id: str):  # type: ignore[no-untyped-def]
    return page.locator(f'.dag-node[data-task="{task_id}"]')


def mark_loaded(page: Page) -> None:
    """A flag that a reload would wipe: asserting it later proves the page updated itself."""
    page.evaluate("window.__notReloaded = true")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"


def test_signed_out_pages_go_to_the_login_page(server: Server) -> None:
    for path in ["/", "/runs/r1", "/runs/r1/tasks/t1", "/queue", "/costs", "/audit", "/approvals", "/settings"]:
        response = httpx.get(server.url + path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=")
    assert "Sign in" in httpx.get(server.url + "/login").text


def test_sign_in_through_the_form(new_context: Callable[..., BrowserContext]) -> None:
    page = new_context().new_page()
    page.goto("/queue")
    expect(page).to_have_url("/login?next=%2Fqueue")
    page.fill("#email", ADMIN.email)
    page.fill("#password", "not the password")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_contain_text("do not match")
    screenshot(page, "login")
    page.fill("#password", ADMIN.password)
    page.click("#login-submit")
    expect(page).to_have_url("/queue")
    expect(page.locator("h1")).to_have_text("Queue")
    expect(page.locator("#user")).to_contain_text("Ada Admin · admin")


def test_demo_plan_from_the_form_runs_live_with_its_log_and_diff(admin: Page, tmp_path: Path) -> None:
    repo = demo_repo(tmp_path)
    admin.goto("/")
    admin.click("#new-run-toggle")
    admin.fill("#run-plan_path", str(DEMO_PLAN))
    admin.fill("#run-repo", str(repo))
    admin.fill("#run-branch", "integration")
    admin.click("#start-run")
    expect(admin).to_have_url(re.compile(r"/runs/r\w+$"))
    mark_loaded(admin)
    expect(node(admin, "normalize")).to_be_visible()
    # Every task turns green as the worker finishes it, and the run with them, without a reload.
    for task in ["normalize", "slug", "stats", "cli", "docs", "release"]:
        expect(node(admin, task)).to_have_attribute("data-status", "succeeded")
    expect(admin.locator(".pagehead h1 .status")).to_have_text("succeeded")
    assert_not_reloaded(admin)
    expect(admin.locator(".gantt rect.att")).to_have_count(6)
    screenshot(admin, "run")

    # Keyboard: the first Tab reaches the skip link, with a visible focus ring; graph nodes open with Enter.
    admin.keyboard.press("Tab")
    assert admin.evaluate("document.activeElement.className") == "skip"
    assert admin.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    node(admin, "slug").focus()
    admin.keyboard.press("Enter")
    expect(admin.locator("#task-panel")).to_contain_text("Add URL slugs")

    node(admin, "normalize").click()
    expect(admin.locator("#task-panel")).to_contain_text("Add whitespace and case normalisation")
    admin.click("#task-panel >> text=Open task: log & diff")
    expect(admin.locator("h1")).to_contain_text("Add whitespace and case normalisation")
    log = admin.locator("#log")
    expect(log.locator('[data-type="agent.message"]')).to_contain_text("Writing the normaliser and its tests.")
    expect(log.locator('[data-type="agent.tool"]').first).to_be_visible()
    expect(log.locator('[data-type="verify.result"]')).to_contain_text("python -m unittest")
    expect(admin.locator("ol.criteria li").first).to_contain_text('normalize("  Hello   World ") == "hello world"')
    screenshot(admin, "task-log")

    admin.click("#tab-diff")
    files = admin.locator(".diff-file > summary")
    expect(files.filter(has_text="textkit/normalize.py")).to_have_count(1)
    expect(admin.locator(".diff-table tr.add").first).to_be_visible()
    # Highlighted as Python: keywords in their own spans.
    expect(admin.locator(".diff-table .hljs-keyword").first).to_be_visible()
    expect(admin).to_have_url(re.compile("#diff$"))
    screenshot(admin, "task-diff")


def test_a_task_turns_green_live_and_a_running_task_is_cancelled(admin: Page, tmp_path: Path) -> None:
    signals = tmp_path / "signals"
    repo = demo_repo(tmp_path)
    shared_dir(repo, signals)  # the steps' sandboxes wait on it too
    run = start_run(admin.context, gated_plan(signals), repo)
    admin.goto(f"/runs/{run['id']}")
    mark_loaded(admin)
    expect(node(admin, "gate")).to_have_attribute("data-status", "running")
    expect(node(admin, "hold")).to_have_attribute("data-status", "running")
    expect(node(admin, "after")).to_have_attribute("data-status", "pending")

    # Pause: running tasks go on, nothing new starts (``after`` stays pending once the gate is through).
    admin.click('[data-action="pause-run"]')
    expect(admin.locator(".pagehead h1 .status")).to_have_text("paused")
    node(admin, "after").click()  # waiting for the run, not for a worker
    expect(admin.locator("#paused-note")).to_contain_text("it is paused")
    expect(admin.locator("#task-panel")).to_contain_text("Estimate1 min 30 s")
    expect(node(admin, "after").locator("title")).to_contain_text("estimate 1 min 30 s")
    (signals / "release").touch()
    expect(node(admin, "gate")).to_have_attribute("data-status", "succeeded")
    expect(node(admin, "after")).not_to_have_attribute("data-status", "running")
    admin.click('[data-action="resume-run"]')
    expect(admin.locator(".pagehead h1 .status")).to_have_text("running")
    expect(node(admin, "after")).to_have_attribute("data-status", "succeeded")
    assert_not_reloaded(admin)

    admin.click('[data-action="add-budget"]')
    budget = admin.locator("dialog[open]")
    budget.locator("#prompt-add_usd").fill("3")
    budget.get_by_role("button", name="Add").click()
    expect(admin.locator(".stat").filter(has_text="Cost")).to_contain_text("of $3.00 budget")

    node(admin, "hold").click()
    admin.click('#task-panel [data-action="cancel-task"]')
    dialog = admin.locator("dialog#confirm")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Cancel task hold?")
    screenshot(admin, "confirm-cancel")
    admin.click("#confirm-ok")
    expect(dialog).to_be_hidden()
    expect(node(admin, "hold")).to_have_attribute("data-status", "cancelled")
    expect(admin.locator('tr[data-task="hold"] .status')).to_have_text("cancelled")
    expect(admin.locator(".pagehead h1 .status")).to_have_text("failed")
    assert_not_reloaded(admin)

    # Retry: the cancelled task gets fresh attempts; this time its signal is there, and the run ends well.
    (signals / "hold").touch()
    admin.click('tr[data-task="hold"] [data-action="retry-task"]')
    expect(node(admin, "hold")).to_have_attribute("data-status", "succeeded")
    expect(admin.locator(".pagehead h1 .status")).to_have_text("succeeded")
    assert_not_reloaded(admin)


def test_priorities_are_set_from_the_queue(admin: Page, tmp_path: Path) -> None:
    signals = tmp_path / "signals"
    repo = demo_repo(tmp_path)
    shared_dir(repo, signals)  # the steps' sandboxes wait on it too
    run = start_run(admin.context, gated_plan(signals, name="queued"), repo)
    try:
        admin.goto("/queue")
        # the fleet that serves the queue: the server's own worker, live, offering its runtimes
        fleet = admin.locator("#workers tbody tr")
        expect(fleet.first).to_be_visible()
        expect(fleet.first).to_contain_text("shell")
        waiting = admin.locator(f'#lane-waiting .qitem[data-run="{run["id"]}"][data-task="after"]')
        expect(waiting).to_contain_text("Follow the gate")
        waiting.get_by_role("button", name="Raise after").click()
        expect(waiting.locator("input")).to_have_value("1")
        waiting.locator("input").fill("7")
        waiting.get_by_role("button", name="Set").click()
        expect(waiting.locator("input")).to_have_value("7")
        admin.goto(f"/runs/{run['id']}")
        expect(admin.locator('tr[data-task="after"] td.num').first).to_have_text("7")
    finally:
        (signals / "release").touch()
        (signals / "hold").touch()


def test_a_viewer_sees_no_steering_controls(
    new_context: Callable[..., BrowserContext], viewer: Page, tmp_path: Path
) -> None:
    signals = tmp_path / "signals"
    repo = demo_repo(tmp_path)
    shared_dir(repo, signals)  # the steps' sandboxes wait on it too
    owner = new_context()
    sign_in(owner, ADMIN)
    run = start_run(owner, gated_plan(signals, name="watched"), repo)
    try:
        viewer.goto("/")
        expect(viewer.locator(f'tr[data-run="{run["id"]}"]')).to_be_visible()
        expect(viewer.locator("#new-run-toggle")).to_have_count(0)

        viewer.goto(f"/runs/{run['id']}")
        expect(node(viewer, "hold")).to_have_attribute("data-status", "running")
        node(viewer, "hold").click()
        expect(viewer.locator("#task-panel")).to_contain_text("Hold until cancelled")
        expect(viewer.locator("[data-action]")).to_have_count(0)
        expect(viewer.get_by_role("button", name=STEERING)).to_have_count(0)
        screenshot(viewer, "run-as-viewer")

        viewer.goto(f"/runs/{run['id']}/tasks/hold")
        expect(viewer.locator("h1")).to_contain_text("Hold until cancelled")
        expect(viewer.locator("[data-action]")).to_have_count(0)

        viewer.goto("/queue")
        expect(viewer.locator('.qitem[data-task="hold"]')).to_be_visible()
        expect(viewer.locator(".qitem button")).to_have_count(0)
        expect(viewer.locator("#workers")).to_have_count(0)  # the fleet names the server's hosts: admins only
        viewer.goto("/approvals")
        expect(viewer.get_by_role("button", name=re.compile("^(Approve|Reject)$"))).to_have_count(0)
    finally:
        (signals / "release").touch()
        (signals / "hold").touch()


def test_signing_out_ends_the_session(admin: Page) -> None:
    admin.goto("/login?next=%2Fcosts")
    expect(admin).to_have_url("/costs")  # already signed in: no form
    expect(admin.locator("body")).to_have_attribute("data-role", "admin")  # the shell's script has run
    admin.click("#logout")
    expect(admin).to_have_url("/login")
    expect(admin.locator("#login-submit")).to_be_visible()
    admin.goto("/queue")
    expect(admin).to_have_url("/login?next=%2Fqueue")
    expect(admin.locator("#login-submit")).to_be_visible()
