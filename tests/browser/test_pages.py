"""Every main page, at a desktop width and a phone width: it renders its data, fits the screen, and is saved
as a screenshot in tests/browser/artifacts/ to be looked at."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from quarterdeck.crews import gates
from quarterdeck.store import crews as crew_store
from quarterdeck.store import forges as forge_store
from quarterdeck.store.database import Database
from quarterdeck.store.types import utcnow
from tests.browser.conftest import ADMIN, screenshot, sign_in
from tests.browser.plans import DEMO_PLAN, demo_repo, gated_plan
from tests.browser.server import Server
from tests.support.gitrepo import shared_dir

pytestmark = pytest.mark.slow

WIDTHS = {"desktop": 1280, "phone": 390}


@dataclass(frozen=True)
class Populated:
    run_id: str
    approval_id: str
    held_run_id: str


async def _crew_records(url: str, run_id: str, attempt_id: str, held_run_id: str) -> str:
    """What a crew leaves behind, written through the store as the crews do: costs, messages, a verdict, a gate."""
    db = Database(url)
    try:
        async with db.transaction() as conn:
            spent = [("claude-sonnet-4", 52_000, 0.41, "manager"), ("gpt-5-mini", 18_000, 0.06, "manager"),
                     ("my-local-llama", 9_000, 0.0, "unpriced")]  # fmt: skip
            for model, tokens, cost, source in spent:
                await crew_store.create_cost(
                    conn, run_id, provider="test", model=model, input_tokens=tokens, output_tokens=tokens // 10,
                    cost_usd=cost, source=source, task_id="normalize",
                )  # fmt: skip
            await forge_store.create_link(
                conn, run_id=run_id, kind="pull", forge="github", repository="acme/textkit", number=42,
                url="https://github.example/acme/textkit/pull/42", head="integration", state="ready", now=utcnow(),
            )  # fmt: skip
            await crew_store.create_message(
                conn, run_id, sender="manager", recipient="worker-1", type="assign", task_id="normalize",
                content="Normalise whitespace first: slug and stats build on it.",
            )  # fmt: skip
            await crew_store.create_verdict(
                conn, run_id=run_id, task_id="normalize", attempt_id=attempt_id, revision=0, verdict="accept",
                criteria=[
                    {"criterion": "1", "text": "normalize", "status": "met", "evidence": "passes", "by": "command"},
                    {"criterion": "2", "text": "tests", "status": "met", "evidence": "2 tests", "by": "reviewer"},
                ],
                summary="Both criteria are met.", reviewer="reviewer",
            )  # fmt: skip
            approval = await gates.request(
                conn, org_id="default", kind="budget", payload={"add_usd": 5, "reason": "another review pass"},
                requested_by="manager", run_id=held_run_id,
            )  # fmt: skip
            await gates.request(
                conn, org_id="default", kind="budget", payload={"add_usd": 500, "reason": "try a bigger model"},
                requested_by="manager", run_id=held_run_id,
            )  # fmt: skip
        return approval.id
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def populated(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Populated]:
    """A finished demo run with a crew's costs, messages, a verdict and a pending budget approval."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        client.post("/api/v1/auth/login", json={"email": ADMIN.email, "password": ADMIN.password}).raise_for_status()
        repo = demo_repo(tmp_path_factory.mktemp("pages"))
        created = client.post(
            "/api/v1/runs",
            json={"path": str(DEMO_PLAN), "repo": str(repo), "branch": "integration", "budget_usd": 2.5},
            headers={"X-CSRF-Token": client.cookies["qd_csrf"]},
        )
        assert created.status_code == 201, created.text
        run_id = created.json()["id"]
        deadline = time.monotonic() + 90
        while (run := client.get(f"/api/v1/runs/{run_id}").json())["status"] == "running":
            assert time.monotonic() < deadline, f"the demo run did not finish:\n{server.output()[-3000:]}"
            time.sleep(0.1)  # polling a condition under a deadline
        assert run["status"] == "succeeded", run
        task = client.get(f"/api/v1/runs/{run_id}/tasks/normalize").json()
        # A run that stays running until the module ends, for the budget raise to approve.
        signals = shared_dir(repo, tmp_path_factory.mktemp("signals"))  # the steps' sandboxes wait on it too
        held = client.post(
            "/api/v1/runs",
            json={"plan": gated_plan(signals, name="held"), "repo": str(repo), "branch": "held"},
            headers={"X-CSRF-Token": client.cookies["qd_csrf"]},
        )
        assert held.status_code == 201, held.text
        attempt_id = task["attempts_detail"][0]["id"]
        records = _crew_records(server.env["QUARTERDECK_DATABASE_URL"], run_id, attempt_id, held.json()["id"])
        # Playwright's sync API keeps an event loop on this thread: the store's coroutines run on their own.
        with ThreadPoolExecutor(1) as pool:
            approval_id = pool.submit(asyncio.run, records).result()
        csrf = {"X-CSRF-Token": client.cookies["qd_csrf"]}
        secret = {"value": "sk-ant-test-0123456789abcdef", "kind": "provider_key"}
        client.put("/api/v1/secrets/ANTHROPIC_API_KEY", json=secret, headers=csrf).raise_for_status()
        client.post(
            "/api/v1/projects", json={"name": "textkit", "repo_path": str(repo)}, headers=csrf
        ).raise_for_status()
        yield Populated(run_id, approval_id, held.json()["id"])
        (signals / "release").touch()
        (signals / "hold").touch()


def fits(page: Page) -> None:
    """Nothing sticks out sideways: the page scrolls only down (wide tables and graphs scroll in their card)."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the screen"


@pytest.fixture(params=list(WIDTHS), ids=list(WIDTHS))
def page(request: pytest.FixtureRequest, new_context: Callable[..., BrowserContext]) -> Page:
    context = new_context(width=WIDTHS[request.param], height=900)
    sign_in(context, ADMIN)
    page = context.new_page()
    page.size_name = request.param  # type: ignore[attr-defined]
    return page


def shot(page: Page, name: str) -> Path:
    fits(page)
    return screenshot(page, f"{name}-{page.size_name}")  # type: ignore[attr-defined]


def test_runs_page(page: Page, populated: Populated) -> None:
    page.goto("/")
    row = page.locator(f'tr[data-run="{populated.run_id}"]')
    expect(row).to_contain_text("textkit-demo")
    expect(row.locator(".progress-label")).to_have_text("6/6")
    page.fill('input[type="search"]', "no such run")
    expect(page.locator("#runs tbody")).to_contain_text("No run matches.")
    page.fill('input[type="search"]', "textkit")
    expect(row).to_be_visible()
    shot(page, "runs")


def test_run_page(page: Page, populated: Populated) -> None:
    page.goto(f"/runs/{populated.run_id}")
    expect(page.locator(".dag-node")).to_have_count(6)
    expect(page.locator(".dag-node.critical")).to_have_count(5)
    expect(page.locator(".stat").filter(has_text="Cost")).to_contain_text("$0.47")
    expect(page.locator(".gantt rect.att")).to_have_count(6)
    link = page.locator("#pull-requests a")
    expect(link).to_have_text("pull request #42")
    expect(link).to_have_attribute("href", "https://github.example/acme/textkit/pull/42")
    expect(page.locator("#pull-requests")).to_contain_text("acme/textkit: pull request #42 · ready")
    shot(page, "run")


def test_task_page(page: Page, populated: Populated) -> None:
    page.goto(f"/runs/{populated.run_id}/tasks/normalize")
    expect(page.locator("ol.criteria .verdict.pass")).to_have_count(2)
    expect(page.locator("#log .entry").first).to_be_visible()
    shot(page, "task")
    page.click("#tab-attempts")
    expect(page.locator("#attempts tbody tr")).to_have_count(1)
    page.click("#tab-diff")
    expect(page.locator(".diff-file")).to_have_count(2)
    shot(page, "task-diff")


def test_queue_page(page: Page, populated: Populated) -> None:
    page.goto("/queue")
    running = page.locator(f'#lane-running .qitem[data-run="{populated.held_run_id}"]')
    expect(running).to_have_count(2)
    expect(running.filter(has_text="Hold until cancelled").get_by_role("button", name="Cancel")).to_be_visible()
    expect(page.locator("#lane-waiting")).to_contain_text("Follow the gate")
    shot(page, "queue")


def test_costs_page(page: Page, populated: Populated) -> None:
    page.goto("/costs")
    # A model missing from the price table is shown as unpriced, never as $0.00.
    expect(page.locator("#cost-total")).to_have_text("$0.47 + 1 unpriced call")
    rows = page.locator(".chart").first.locator(".chart-row")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("claude-sonnet-4")
    expect(rows.filter(has_text="my-local-llama")).to_contain_text("unpriced")
    expect(rows.filter(has_text="my-local-llama")).not_to_contain_text("$0.00")
    shot(page, "costs")


def test_analytics_page(page: Page, populated: Populated) -> None:
    # the server is shared by every browser test: other runs count too, so the demo run is read by its own row
    page.goto("/analytics")
    expect(page.locator("#an-tasks")).not_to_have_text("0")
    expect(page.locator("#an-success .chart-row").first).to_be_visible()
    expect(page.locator("#an-time .seg").first).to_be_visible()
    expect(page.locator("#an-trend .day")).not_to_have_count(0)
    page.select_option('select[aria-label="Group by"]', "run")
    expect(page).to_have_url("/analytics?by=run&since=30d")
    row = page.locator("#an-table tbody tr", has_text=populated.run_id)
    # the demo run's six tasks ended, all on their first attempt (the held run's are still running: not counted)
    expect(row.locator("td").nth(1)).to_have_text("6")
    expect(row.locator("td").nth(2)).to_have_text("100%")
    expect(row.locator("td").nth(3)).to_have_text("100%")
    shot(page, "analytics")


def test_audit_page(page: Page, populated: Populated) -> None:
    page.goto(f"/audit?run_id={populated.run_id}")
    trail = page.locator("#audit tbody")
    expect(trail).to_contain_text("Normalise whitespace first")
    expect(trail).to_contain_text("Both criteria are met.")
    page.select_option('select[aria-label="Kind"]', "verdict")
    expect(trail).not_to_contain_text("Normalise whitespace first")
    shot(page, "audit")


def test_settings_page(page: Page, populated: Populated) -> None:
    page.goto("/settings")
    expect(page.locator(".secret")).to_contain_text("…")
    expect(page.locator("main")).not_to_contain_text("sk-ant-test-0123456789abcdef")
    expect(page.locator("main")).to_contain_text("textkit")
    shot(page, "settings")


def test_settings_page_subscribes_slack_to_notifications(page: Page, populated: Populated) -> None:
    page.goto("/settings")
    width = (page.viewport_size or {"width": 0})["width"]  # each width's page subscribes its own URL
    form = page.locator("form#new-subscription")
    form.locator('select[aria-label="Scope"]').select_option("org")
    form.locator('select[aria-label="Channel"]').select_option("slack")
    form.locator('input[aria-label^="URL or e-mail"]').fill(f"https://hooks.slack.test/services/T0/B{width}/abcdefgh")
    form.locator('input[aria-label^="Kinds"]').fill("run.failed, approval.needed")
    form.locator('button[type="submit"]').click()
    notifications = page.locator("section", has=page.locator("h2", has_text="Notifications"))
    row = notifications.locator("tr", has_text="hooks.slack.test").last
    expect(row).to_contain_text("https://hooks.slack.test/…efgh")  # the URL is a credential: masked
    expect(row).to_contain_text("approval.needed, run.failed")
    expect(notifications).not_to_contain_text("abcdefgh")


def test_task_page_sends_the_agent_a_follow_up(page: Page, populated: Populated) -> None:
    page.goto(f"/runs/{populated.held_run_id}/tasks/hold")
    expect(page.locator("h1 .status")).to_have_text("running")
    page.locator("#say-message").fill("Please also log what you waited for.")
    page.locator('#say-form button[type="submit"]').click()
    expect(page.locator("#flash")).to_contain_text("after its current turn, in the same session")
    page.goto(f"/audit?run_id={populated.held_run_id}")
    expect(page.locator("main")).to_contain_text("Please also log what you waited for.")


def test_run_page_lists_its_notifications(page: Page, populated: Populated) -> None:
    page.goto(f"/runs/{populated.run_id}")
    expect(page.locator("#run-notifications")).to_contain_text("None sent (subscribe under Settings).")


def test_approvals_page_approves_a_budget_raise(
    new_context: Callable[..., BrowserContext], populated: Populated
) -> None:
    context = new_context()
    sign_in(context, ADMIN)
    page = context.new_page()
    page.goto("/approvals")
    row = page.locator(f'tr[data-approval="{populated.approval_id}"]')
    expect(row).to_contain_text("raise by $5 — another review pass")
    expect(page.locator("#approvals-count")).to_have_text("2")
    screenshot(page, "approvals-desktop")
    row.locator('[data-action="approve"]').click()
    expect(page.locator(f'tr[data-approval="{populated.approval_id}"] .status')).to_have_text("approved")
    expect(page.locator("#approvals-count")).to_have_text("1")

    bigger = page.locator("tr", has_text="raise by $500")
    bigger.locator('[data-action="reject"]').click()
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_contain_text("Reject this budget?")
    dialog.locator("#confirm-reason").fill("not for this run")
    dialog.locator("#confirm-ok").click()
    rejected = page.locator("tr", has_text="raise by $500")
    expect(rejected.locator(".status")).to_have_text("rejected")
    expect(rejected).to_contain_text("not for this run")
    expect(page.locator("#approvals-count")).to_be_hidden()
    page.goto(f"/runs/{populated.held_run_id}")
    expect(page.locator(".stat").filter(has_text="Cost")).to_contain_text("of $5.00 budget")
