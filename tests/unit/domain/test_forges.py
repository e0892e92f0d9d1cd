"""The pure rules of pull requests: commands, readiness, the body, the revision turn."""

from __future__ import annotations

from quarterdeck.domain import forges


def test_a_comment_command_is_found_on_any_line() -> None:
    assert forges.parse_command("Looks good.\n/quarterdeck run please") == "run"
    assert forges.parse_command("/quarterdeck plan") == "plan"
    assert forges.parse_command("/quarterdeck deploy") is None
    assert forges.parse_command("quarterdeck run") is None


def test_ready_needs_success_and_with_waiting_green_checks() -> None:
    assert forges.mark_ready("succeeded", "none", wait_for_checks=False)
    assert not forges.mark_ready("succeeded", "failure", wait_for_checks=False)
    assert not forges.mark_ready("running", "success", wait_for_checks=False)
    assert not forges.mark_ready("succeeded", "pending", wait_for_checks=True)
    assert forges.mark_ready("succeeded", "success", wait_for_checks=True)


def test_the_body_lists_tasks_costs_verdicts_and_escapes_pipes() -> None:
    body = forges.pull_request_body(
        run_id="r_1",
        run_name="shop",
        run_status="running",
        spent_usd=1.5,
        tasks=[forges.PullTask("a", "Add | pipes", "succeeded", 0.25, (("works", "met"), ("fast", "not_met")))],
        dashboard_url="https://qd.example.com/",
        issue=12,
    )
    assert "https://qd.example.com/runs/r_1" in body
    assert "Closes #12" in body
    assert "| `a` Add \\| pipes | ✅ succeeded | $0.25 |" in body
    assert "- [x] works — met" in body
    assert "- [ ] fast — not_met" in body


def test_the_revision_turn_quotes_each_piece_of_feedback_where_it_is() -> None:
    turn = forges.revision_turn(
        [
            forges.Feedback("comment", "Use a constant.\nNot a literal.", author="ana", path="a.py", line=3),
            forges.Feedback("check", "ci: tests failed"),
        ]
    )
    assert "A review comment from ana on `a.py` line 3:" in turn
    assert "> Use a constant.\n> Not a literal." in turn
    assert "A failed CI check:" in turn
