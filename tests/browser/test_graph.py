"""The task graph of a big run at a laptop's size: it fits the view, its titles stay readable, a node's drawer
opens in view; a long chain folds into bands instead of shrinking to dust."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import ADMIN, screenshot, sign_in
from tests.browser.plans import demo_repo, start_run

pytestmark = pytest.mark.slow

WIDTH, HEIGHT = 1280, 800
#: the smallest title, in CSS pixels on screen, that counts as readable
READABLE_PX = 9.5

#: every node's box and its title's on-screen font size, and the view's box
_MEASURE = """() => {
  const view = document.querySelector('.dag-view').getBoundingClientRect();
  const nodes = [...document.querySelectorAll('.dag-node')].map((n) => {
    const box = n.querySelector('rect.box').getBoundingClientRect();
    const label = n.querySelector('text.label');
    const size = parseFloat(getComputedStyle(label).fontSize) * n.getScreenCTM().a;
    return {id: n.dataset.task, left: box.left, right: box.right, top: box.top, bottom: box.bottom, font: size,
            text: label.textContent};
  });
  return {view: {left: view.left, right: view.right, top: view.top, bottom: view.bottom}, nodes};
}"""


def _layered(levels: int, width: int) -> dict[str, Any]:
    """``levels`` × ``width`` noop tasks, each after one or two of the level before (a realistic big plan)."""
    tasks = []
    for level in range(levels):
        for i in range(width):
            deps = [] if level == 0 else sorted({f"t{level - 1}-{i}", f"t{level - 1}-{(i + 1) % width}"})
            title = f"Implement part {i + 1} of stage {level + 1}"
            tasks.append({"id": f"t{level}-{i}", "title": title, "depends_on": deps})
    return {"name": "big", "defaults": {"runtime": "noop"}, "tasks": tasks}


def _chain(length: int) -> dict[str, Any]:
    tasks = [{"id": f"s{i}", "title": f"Step {i + 1}", "depends_on": [f"s{i - 1}"] if i else []} for i in range(length)]
    return {"name": "chain", "defaults": {"runtime": "noop"}, "tasks": tasks}


def _page(new_context: Callable[..., BrowserContext]) -> Page:
    context = new_context(width=WIDTH, height=HEIGHT)
    sign_in(context, ADMIN)
    return context.new_page()


def _assert_fits_and_reads(page: Page, count: int) -> dict[str, Any]:
    expect(page.locator(".dag-node")).to_have_count(count)
    measured: dict[str, Any] = page.evaluate(_MEASURE)
    view = measured["view"]
    assert view["right"] <= WIDTH
    for n in measured["nodes"]:
        assert view["left"] - 0.5 <= n["left"], n
        assert n["right"] <= view["right"] + 0.5, n
        assert view["top"] - 0.5 <= n["top"], n
        assert n["bottom"] <= view["bottom"] + 0.5, n
        assert n["font"] >= READABLE_PX, n
        assert len(n["text"]) >= 4, n  # a word, not an ellipsis
    return measured


def test_a_60_task_run_fits_at_1280x800_readable_and_a_node_opens_its_drawer_in_view(
    new_context: Callable[..., BrowserContext], tmp_path: Path
) -> None:
    page = _page(new_context)
    run = start_run(page.context, _layered(10, 6), demo_repo(tmp_path))
    page.goto(f"/runs/{run['id']}")
    _assert_fits_and_reads(page, 60)
    screenshot(page, "graph-60")

    # The last node of the graph (bottom right): its drawer opens in the window, whatever the scroll.
    page.locator('.dag-node[data-task="t9-5"]').click()
    drawer = page.locator("#task-panel")
    expect(drawer).to_contain_text("Implement part 6 of stage 10")
    box = drawer.bounding_box()
    assert box is not None
    assert box["y"] >= 0
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= WIDTH
    assert box["y"] < HEIGHT / 2  # its title and actions are on screen, not below the fold
    assert page.evaluate("document.activeElement.closest('#task-panel') !== null")
    page.keyboard.press("Escape")
    expect(drawer).to_have_count(0)
    screenshot(page, "graph-60-drawer-closed")


@pytest.mark.parametrize("length", [60, 200])
def test_a_long_chain_folds_into_bands_and_stays_readable(
    new_context: Callable[..., BrowserContext], tmp_path: Path, length: int
) -> None:
    page = _page(new_context)
    run = start_run(page.context, _chain(length), demo_repo(tmp_path))
    page.goto(f"/runs/{run['id']}")
    measured = _assert_fits_and_reads(page, length)
    rows = {round(n["top"]) for n in measured["nodes"]}
    assert len(rows) > 1  # folded, not one line of nodes
    screenshot(page, f"graph-chain-{length}")


def test_a_200_task_run_fits_readable(new_context: Callable[..., BrowserContext], tmp_path: Path) -> None:
    page = _page(new_context)
    run = start_run(page.context, _layered(10, 20), demo_repo(tmp_path))
    page.goto(f"/runs/{run['id']}")
    _assert_fits_and_reads(page, 200)
    screenshot(page, "graph-200")
