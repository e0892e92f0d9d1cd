"""Review policy: commands decide their criteria, the verdict follows the criteria, the revision turn names them."""

from __future__ import annotations

import pytest

from quarterdeck.crews import verdicts
from quarterdeck.crews.schema import CriterionDraft, ReviewDraft, command_of, criterion_text

C1 = {"id": "1", "text": "tests pass (run: `pytest -q`)"}
C2 = {"id": "2", "text": "the README explains it"}


def review(verdict: str, *judged: tuple[str, str]) -> ReviewDraft:
    return ReviewDraft.model_validate(
        {
            "criteria": [{"criterion": c, "status": s, "evidence": f"e{c}"} for c, s in judged],
            "verdict": verdict,
            "summary": "s",
        }
    )


def test_a_criterion_maps_to_the_command_it_carries_or_to_a_verification_command_it_names() -> None:
    assert command_of(C1["text"], ()) == "pytest -q"
    assert command_of("`make check` passes", ("make check",)) == "make check"
    assert command_of("`make check` passes", ()) is None
    assert command_of(C2["text"], ("make",)) is None
    assert criterion_text(CriterionDraft(text="tests pass", command="pytest -q")) == C1["text"]


def test_criteria_are_combined_in_order_with_commands_deciding_theirs() -> None:
    combined = verdicts.combine(
        [(C1, "pytest -q", 1, "1 failed")], [C2], review("accept", ("2", "met")), reviewer="reviewer"
    )
    assert [(c["criterion"], c["status"], c["by"]) for c in combined] == [
        ("1", "not_met", "command"),
        ("2", "met", "reviewer"),
    ]
    assert combined[0]["evidence"] == "`pytest -q` exited 1:\n1 failed"
    # a failing command outweighs a reviewer who would accept
    assert verdicts.decide(combined, "accept") == "revise"


def test_a_criterion_the_reviewer_left_out_cannot_be_told() -> None:
    combined = verdicts.combine([], [C1, C2], review("accept", ("1", "met")), reviewer="r")
    assert [c["status"] for c in combined] == ["met", "cannot_tell"]
    assert verdicts.decide(combined, "accept") == "revise"


@pytest.mark.parametrize(
    ("statuses", "reviewer", "expected"),
    [
        (["met", "met"], "accept", "accept"),
        (["met", "met"], None, "accept"),
        (["met", "not_met"], "accept", "revise"),
        (["met", "met"], "reject", "reject"),
        (["not_met"], "revise", "revise"),
    ],
)
def test_the_verdict_follows_the_criteria(statuses: list[str], reviewer: str | None, expected: str) -> None:
    assert verdicts.decide([{"status": s} for s in statuses], reviewer) == expected


def test_the_revision_turn_names_each_unmet_criterion_with_its_evidence() -> None:
    turn = verdicts.follow_up(
        [
            {"criterion": "1", "text": "a", "status": "met", "evidence": "x"},
            {"criterion": "2", "text": "b", "status": "not_met", "evidence": "b is missing"},
        ],
        "Add b.",
    )
    assert "criterion 2 (b): not_met — b is missing" in turn
    assert "criterion 1" not in turn
    assert "Add b." in turn
