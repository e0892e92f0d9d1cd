"""The rules of lessons: what one says, which are given, how a prompt hands them over."""

from __future__ import annotations

from quarterdeck.domain import lessons


def test_a_lesson_says_what_failed_and_how_it_was_fixed() -> None:
    end = lessons.TaskEnd(
        title="Add a login rate limit",
        prompt="Throttle sign-in attempts.\n\nUse Redis.",
        succeeded=True,
        attempts=2,
        revisions=1,
        failures=["verification 'pytest' exited 1:\nConnectionRefusedError: redis at 6379"],
        summaries=["first try", "Started redis-server in the CI script before pytest"],
        verdicts=["accept: all criteria met"],
        files=["src/auth/limits.py", ".ci/run"],
    )
    text = lessons.compose(end)
    assert text.splitlines() == [
        "Task: Add a login rate limit. Throttle sign-in attempts. Use Redis.",
        "Outcome: succeeded after 2 attempts, 1 revision.",
        "What failed: verification 'pytest' exited 1: ConnectionRefusedError: redis at 6379",
        "How it was fixed: Started redis-server in the CI script before pytest",
        "Review: accept: all criteria met",
        "Files: src/auth/limits.py, .ci/run",
    ]


def test_a_task_that_failed_for_good_says_so() -> None:
    text = lessons.compose(lessons.TaskEnd("T", "P", succeeded=False, attempts=1, error="boom " * 200))
    assert "Outcome: failed after 1 attempt." in text
    final = next(line for line in text.splitlines() if line.startswith("Final error: "))
    assert len(final) < 420
    assert final.endswith("…")


def _c(i: str, similarity: float, chars: int = 40) -> lessons.Candidate:
    return lessons.Candidate(i, "x" * chars, similarity)


def test_the_nearest_near_enough_lessons_that_fit_the_budget_are_chosen() -> None:
    found = [_c("far", 0.2), _c("b", 0.7, 400), _c("a", 0.9), _c("c", 0.6), _c("d", 0.5)]
    assert [c.id for c in lessons.choose(found, k=3, budget_tokens=60)] == ["a", "c", "d"]  # b does not fit
    assert [c.id for c in lessons.choose(found, k=2, budget_tokens=1000)] == ["a", "b"]
    assert lessons.choose([_c("far", 0.2)]) == []


def test_the_prompt_section_names_its_lessons() -> None:
    assert lessons.section([]) == ""
    text = lessons.section([lessons.Candidate("m1", "line one\nline two", 0.8)])
    assert text.startswith(f"## {lessons.HEADING}")
    assert "- line one\n  line two" in text
