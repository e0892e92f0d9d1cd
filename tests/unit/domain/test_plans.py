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


def timed(task_id: str, estimate_s: float | None, *deps: str) -> plans.TaskSpec:
    return plans.TaskSpec(id=task_id, title=task_id, depends_on=deps, estimate_s=estimate_s)


def test_path_estimates_add_a_task_s_estimate_to_the_longest_of_its_dependants() -> None:
    # a (1 s) → b (2 s) → d (1 s); a → c (3 s) → d; f alone (0.5 s)
    timed_plan = plan(timed("a", 1), timed("b", 2, "a"), timed("c", 3, "a"), timed("d", 1, "b", "c"), timed("f", 0.5))
    assert plans.path_estimates_ms(timed_plan) == {"a": 5000, "b": 3000, "c": 4000, "d": 1000, "f": 500}


def test_a_plan_without_estimates_has_no_weighted_paths() -> None:
    assert plans.path_estimates_ms(DIAMOND_CHAIN) == dict.fromkeys("abcdef", 0)
    assert plans.path_estimates_ms(plan()) == {}


def test_a_task_without_an_estimate_counts_as_the_median_of_the_plan_s() -> None:
    mixed = plan(timed("a", 1), timed("b", 10), timed("c", 2), timed("x", None, "a"), timed("y", None))
    assert plans.path_estimates_ms(mixed) == {"a": 3000, "b": 10000, "c": 2000, "x": 2000, "y": 2000}
    # 0 is an estimate (a quick step), not a missing one: the median of 0, 1, 2 and 10 is 1.5
    with_zero = plan(*mixed.tasks, timed("z", 0))
    assert plans.path_estimates_ms(with_zero) == {"a": 2500, "b": 10000, "c": 2000, "x": 1500, "y": 1500, "z": 0}


def test_the_critical_path_is_the_longest_in_estimated_time_then_in_tasks() -> None:
    # in tasks a → b → c is longest; in time a → d (1 + 9 s) beats a → b → c (1 + 2 + 2 s)
    weighted = plan(timed("a", 1), timed("b", 2, "a"), timed("c", 2, "b"), timed("d", 9, "a"))
    assert plans.critical_path(weighted) == ["a", "d"]
    unweighted = plan(timed("a", None), timed("b", None, "a"), timed("c", None, "b"), timed("d", None, "a"))
    assert plans.critical_path(unweighted) == ["a", "b", "c"]
