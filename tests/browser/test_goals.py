"""A goal from the dashboard: the New goal form, the plan shown whole and edited before it is approved, the run
watched, a re-plan approved — the manager and reviewer are local servers speaking the Anthropic wire format, and
the `quarterdeck serve` process's own supervisor drives the goal."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import ADMIN, screenshot, sign_in
from tests.browser.plans import demo_repo
from tests.browser.server import Server, start_server
from tests.integration.test_supervisor import ACCEPT, PLAN, REPLAN, SCRIPTED, _crew
from tests.support.llm_servers import AnthropicServer, Reply, Script


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own: the goal's tasks and costs stay out of the other pages' counts."""
    running = start_server(tmp_path_factory.mktemp("goals") / "state", "--workers", "2")
    try:
        running.create_user(ADMIN)
        yield running
    finally:
        running.stop()


def test_a_goal_is_started_its_edited_plan_approved_and_its_re_plan_approved_from_the_dashboard(
    new_context: Callable[..., BrowserContext], own_server: Server, tmp_path: Path
) -> None:
    repo = demo_repo(tmp_path)
    with (
        AnthropicServer(Script(Reply.text(json.dumps(PLAN)), Reply.text(json.dumps(REPLAN)))) as boss,
        AnthropicServer(Script(then=Reply.text(json.dumps(ACCEPT)))) as review,
    ):
        _crew(repo, boss.url, review.url, SCRIPTED)
        context = new_context(base_url=own_server.url)
        sign_in(context, ADMIN)
        page = context.new_page()
        page.goto("/")
        page.locator("#new-goal-toggle").click()
        page.locator("#goal-goal").fill("Say hello")
        page.locator("#goal-repo").fill(str(repo))
        page.locator("#start-goal").click()
        expect(page).to_have_url(re.compile(r"/runs/r\w+$"))
        run_id = page.url.rsplit("/", 1)[1]
        # planning, then waiting for the plan's approval: the page follows the run's events
        expect(page.locator("#run-waiting")).to_contain_text("decide its plan")

        page.goto("/approvals")
        row = page.locator(f'tr[data-approval]:has(a[href="/runs/{run_id}"])')
        expect(row).to_contain_text("1 tasks, estimate $0.01")
        plan = row.locator("table.plan-tasks")
        expect(plan).to_contain_text("it says hello (run: `true`)")
        expect(plan).to_contain_text("grep -qx hello hello.txt")
        screenshot(page, "approvals-plan")
        row.locator('[data-action="edit"]').click()
        editor = page.locator("#plan-edit-text")
        editor.fill(editor.input_value().replace('"Write hello"', '"Write hello, as edited"', 1))
        page.locator("#plan-edit-save").click()
        expect(row.locator("table.plan-tasks")).to_contain_text("Write hello, as edited")
        row.locator('[data-action="approve"]').click()

        # the task fails for good: a re-plan approval arrives, showing the failure and the change
        replan = page.locator(f'tr[data-approval]:has(a[href="/runs/{run_id}"])', has_text="failed for good")
        expect(replan).to_contain_text("replace hello → hello-v2")
        expect(replan).to_contain_text(REPLAN["reason"])
        replan.locator('[data-action="approve"]').click()
        expect(replan.locator(".status")).to_have_text("approved")

        page.goto(f"/runs/{run_id}")
        expect(page.locator("h1 .status")).to_have_text("succeeded")
        assert len(boss.model_requests()) == 2
