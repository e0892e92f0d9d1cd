from __future__ import annotations

import pytest

from quarterdeck.domain import ids
from quarterdeck.errors import UnsafeNameError


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../../etc", "'..'"),
        ("-rf", "starts with '-'"),
        ("a..b", "'..'"),
        ("HEAD@{1}", "'@{'"),
        ("line\nbreak", "control characters"),
        ("x.lock", ".lock"),
        ("", "empty"),
        ("a/b", "may only hold letters"),
        ("a b", "may only hold letters"),
        ("trailing.", "ends with '.'"),
        ("x" * 65, "longer than 64"),
    ],
)
def test_hostile_names_are_refused_with_the_reason(name: str, reason: str) -> None:
    with pytest.raises(UnsafeNameError) as caught:
        ids.check_safe_name(name, what="task id")
    assert reason in str(caught.value)


@pytest.mark.parametrize("name", ["a", "task-1", "1.2", "5.2A", "T001", "gh-12", "x_y"])
def test_ordinary_names_pass(name: str) -> None:
    assert ids.check_safe_name(name) == name


def test_new_ids_sort_by_creation_and_do_not_collide() -> None:
    made = [ids.new_id("a") for _ in range(1000)]
    assert len(set(made)) == 1000
    assert made[0][:11] <= made[-1][:11]


def test_slug_is_never_empty() -> None:
    assert ids.slug("Hello, World!") == "hello-world"
    assert ids.slug("!!!") == "x"
