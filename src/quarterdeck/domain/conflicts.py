"""Which tasks of a plan may touch the same files, so the scheduler runs them one after the other.

Tasks declare the files they expect to touch as ``files`` hints: paths or glob patterns relative to
the repository (``src/api/**``, ``README.md``). Two hints overlap when the literal part of one (up to
its first wildcard) is a prefix of the other's — deliberately conservative: ``*.md`` overlaps
everything, ``src/api/**`` overlaps ``src/api/users.py`` but not ``src/web/app.js``. Tasks that
depend on each other, directly or not, never run at once anyway and are not paired.

Running overlapping tasks apart turns a predicted merge conflict into two clean landings: the
second task starts from the integration branch after the first has landed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

from quarterdeck.domain.plans import Plan

__all__ = ["conflicting_pairs", "hints_overlap"]

_WILDCARDS = "*?["


def _literal(pattern: str) -> str:
    cut = min((i for i, ch in enumerate(pattern) if ch in _WILDCARDS), default=len(pattern))
    return pattern[:cut].removeprefix("./")


def hints_overlap(ours: Sequence[str], theirs: Sequence[str]) -> bool:
    """Whether two tasks' ``files`` hints may name a common file."""
    return any(a.startswith(b) or b.startswith(a) for a in map(_literal, ours) for b in map(_literal, theirs))


def conflicting_pairs(plan: Plan) -> list[tuple[str, str]]:
    """Pairs of task ids (in plan order) whose hints overlap and that may run at the same time."""
    hinted = [t for t in plan.tasks if t.files]
    if len(hinted) < 2:
        return []
    graph = {t.id: t.depends_on for t in plan.tasks}
    ancestors = {t.id: _ancestors(graph, t.id) for t in hinted}
    return [
        (a.id, b.id)
        for a, b in combinations(hinted, 2)
        if a.id not in ancestors[b.id] and b.id not in ancestors[a.id] and hints_overlap(a.files, b.files)
    ]


def _ancestors(graph: Mapping[str, Sequence[str]], node: str) -> set[str]:
    seen: set[str] = set()
    stack = list(graph[node])
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(graph[current])
    return seen
