from __future__ import annotations

import pytest

from quarterdeck.domain import plans
from quarterdeck.errors import CycleError, PlanError


def spec(task_id: str, *deps: str, line: int = 0) -> plans.TaskSpec:
    return plans.TaskSpec(id=task_id, title=task_id, depends_on=deps, source=plans.SourceRef("p.yaml", line))


def plan(*tasks: plans.TaskSpec) -> plans.Plan:
    return plans.Plan(name="p", tasks=tasks)


DIAMOND_CHAIN = plan(spec("a"), spec("b", "a"), spec("c", "a"), spec("d", "b", "c"), spec("e", "d"), spec("f"))


def test_levels_group_by_depth_in_plan_order() -> None:
    assert plans.levels(DIAMOND_CHAIN) == [["a", "f"], ["b", "c"], ["d"], ["e"]]


def test_critical_path_is_the_longest_chain() -> None:
    assert plans.critical_path(DIAMOND_CHAIN) == ["a", "b", "d", "e"]


def test_path_lengths_count_tasks_to_the_end() -> None:
    assert plans.path_lengths(DIAMOND_CHAIN) == {"a": 4, "b": 3, "c": 3, "d": 2, "e": 1, "f": 1}


def test_cycle_is_named_in_order() -> None:
    with pytest.raises(CycleError) as caught:
        plans.validate(plan(spec("a", "c", line=1), spec("b", "a", line=2), spec("c", "b", line=3)))
    assert caught.value.cycle == ("a", "c", "b", "a")
    assert str(caught.value) == "p.yaml:1: dependency cycle: a → c → b → a"


def test_every_problem_is_reported_in_one_pass() -> None:
    with pytest.raises(PlanError) as caught:
        plans.validate(plan(spec("a", line=1), spec("a", line=2), spec("b", "zz", "b", line=3), spec("../x", line=4)))
    assert [str(p) for p in caught.value.problems] == [
        "p.yaml:2: duplicate task id 'a' (first at p.yaml:1)",
        "p.yaml:3: task 'b' depends on unknown task 'zz'",
        "p.yaml:3: task 'b' depends on itself",
        "p.yaml:4: unsafe name '../x': task id contains '..'",
    ]


def test_find_cycle_none_for_a_dag() -> None:
    assert plans.find_cycle({"a": [], "b": ["a"], "c": ["a", "b"]}) is None


def test_find_cycle_finds_a_self_loop_reached_late() -> None:
    assert plans.find_cycle({"a": [], "b": ["a", "c"], "c": ["c"]}) == ["c", "c"]


def test_large_chain_does_not_recurse() -> None:
    chain = plan(spec("t0"), *(spec(f"t{i}", f"t{i - 1}") for i in range(1, 20_000)))
    assert plans.validate(chain) is chain
    assert len(plans.levels(chain)) == 20_000
    assert plans.critical_path(chain)[-1] == "t19999"
