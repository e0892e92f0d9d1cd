from __future__ import annotations

import pytest

from quarterdeck.domain import plans
from quarterdeck.domain.conflicts import conflicting_pairs, hints_overlap


@pytest.mark.parametrize(
    ("ours", "theirs", "overlap"),
    [
        (["src/api/**"], ["src/api/users.py"], True),
        (["src/api/**"], ["src/web/app.js"], False),
        (["README.md"], ["README.md"], True),
        (["./README.md"], ["README.md"], True),
        (["src/a*.py"], ["src/b.py"], False),
        (["*.md"], ["docs/guide.md"], True),
        (["docs/", "src/x.py"], ["src/y.py"], False),
        ([], ["anything"], False),
    ],
)
def test_hints_overlap_on_their_literal_prefixes(ours: list[str], theirs: list[str], overlap: bool) -> None:
    assert hints_overlap(ours, theirs) is overlap
    assert hints_overlap(theirs, ours) is overlap


def test_pairs_skip_tasks_that_depend_on_each_other() -> None:
    plan = plans.Plan(
        "p",
        (
            plans.TaskSpec(id="a", title="A", files=("shared.txt",)),
            plans.TaskSpec(id="b", title="B", depends_on=("a",), files=("shared.txt",)),
            plans.TaskSpec(id="c", title="C", depends_on=("a",), files=("shared.txt", "c.txt")),
            plans.TaskSpec(id="d", title="D", depends_on=("b",), files=("shared.txt",)),
            plans.TaskSpec(id="e", title="E", files=("elsewhere/**",)),
            plans.TaskSpec(id="f", title="F"),
        ),
    )
    # a precedes b, c and d; d comes after b; c and d (and b and c) may run at once.
    assert conflicting_pairs(plan) == [("b", "c"), ("c", "d")]
