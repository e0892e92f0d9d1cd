"""One input policy for text, the same on SQLite and PostgreSQL.

PostgreSQL refuses a NUL byte in text and JSON (``invalid byte sequence for encoding UTF8: 0x00``)
where SQLite stores it; a control character in a name, a path or a ref is never meant. So, before
anything reaches a database: every string of a request (body fields, nested values and keys of
JSON objects such as a plan or a project's settings, query parameters, the path) is refused with
422 naming the field when it holds NUL or another control character. Tab, newline and carriage
return are allowed in free text (a prompt, a goal, a plan, a secret's value) and refused in
single-line fields (``Line``: names, e-mails, paths, refs). Nested strings are bounded too
(``MAX_NESTED_TEXT``); a field's own ``max_length`` bounds it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import parse_qsl

from pydantic import AfterValidator

__all__ = ["MAX_NESTED_TEXT", "Line", "check_text", "check_tree", "problem_of", "request_problems"]

#: C0 controls but tab, newline and carriage return; DEL and the C1 controls
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_BREAKS = re.compile(r"[\t\n\r]")
#: the longest string inside a JSON object of a request (a plan's prompt, a setting)
MAX_NESTED_TEXT = 100_000
#: how deep a JSON object of a request may nest
_MAX_DEPTH = 32


def problem_of(value: str, *, single_line: bool = False) -> str | None:
    """What is wrong with ``value`` under the policy, or None."""
    found = _CONTROL.search(value) or (_BREAKS.search(value) if single_line else None)
    if found is None:
        return None
    return f"must not contain the control character {found.group()!r} (at offset {found.start()})"


def check_text(value: str) -> str:
    problem = problem_of(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _single_line(value: str) -> str:
    problem = problem_of(value, single_line=True)
    if problem is not None:
        raise ValueError(problem)
    return value


#: a single-line text field: no control character at all
Line = Annotated[str, AfterValidator(_single_line)]


def check_tree(value: Any, depth: int = 0) -> Any:
    """A JSON value whose every string and key passes the policy (ValueError naming where, otherwise)."""
    if depth > _MAX_DEPTH:
        raise ValueError(f"nests deeper than {_MAX_DEPTH} levels")
    if isinstance(value, str):
        if len(value) > MAX_NESTED_TEXT:
            raise ValueError(f"holds a string longer than {MAX_NESTED_TEXT} characters")
        return check_text(value)
    if isinstance(value, dict):
        for key, item in value.items():
            try:
                check_text(str(key))
                check_tree(item, depth + 1)
            except ValueError as exc:
                raise ValueError(f"[{key!r}] {exc}") from None
    elif isinstance(value, list):
        for index, item in enumerate(value):
            try:
                check_tree(item, depth + 1)
            except ValueError as exc:
                raise ValueError(f"[{index}] {exc}") from None
    return value


#: a query string with none of these (no escape, no raw control byte) holds no control character
_MAYBE_CONTROL = re.compile(rb"[%\x00-\x1f\x7f]|\xc2[\x80-\x9f]")


def request_problems(path: str, query_string: bytes) -> list[dict[str, Any]]:
    """The policy's complaints about a request's path and query parameters (as 422 details)."""
    problems: list[dict[str, Any]] = []
    problem = problem_of(path, single_line=True)
    if problem is not None:
        problems.append({"loc": ["path"], "message": problem, "type": "control_character"})
    if not _MAYBE_CONTROL.search(query_string):
        return problems  # the common case, without parsing the query string
    try:
        pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        return [*problems, {"loc": ["query"], "message": "is not UTF-8", "type": "encoding"}]
    for name, value in pairs:
        problem = problem_of(name, single_line=True) or problem_of(value, single_line=True)
        if problem is not None:
            problems.append({"loc": ["query", name], "message": problem, "type": "control_character"})
    return problems
