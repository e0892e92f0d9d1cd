"""JSON and YAML documents loaded with the line of every object, and their syntax errors as problems."""

from __future__ import annotations

import bisect
import json
import json.decoder
import json.scanner
import re
from collections.abc import Iterator
from typing import Any

import yaml

from quarterdeck.errors import Problem
from quarterdeck.stories import markup

__all__ = ["LineDict", "Loaded", "load_json", "load_yaml_node", "mapping_items", "object_lines", "scalar"]

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACE = re.compile(r"[^{\n]+")
_NEWLINE = re.compile("\n")
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LineDict(dict[str, Any]):
    """A JSON object that remembers the 1-based line of its opening brace."""

    line: int = 0


class Loaded:
    """A parsed document, or the problem that stopped it (never both)."""

    __slots__ = ("problem", "value")

    def __init__(self, value: Any = None, problem: Problem | None = None) -> None:
        self.value = value
        self.problem = problem


def load_json(text: str, path: str, *, parsed: Loaded | None = None) -> Loaded:
    """Parse JSON, recording each object's line; a syntax error becomes ``path:line: invalid JSON: …``.

    ``parsed`` is the plain ``json.loads`` of ``text`` when the caller already has it (it is not parsed again).
    """
    if parsed is not None:
        data = parsed.value
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            return Loaded(problem=Problem(path, exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})"))
        except RecursionError:
            return Loaded(problem=Problem(path, 1, "invalid JSON: nested too deeply"))
    # Objects are decoded in text order, so the n-th "{" outside strings opens the n-th object met
    # in a pre-order walk -- unless a duplicated key dropped one, which the count check catches.
    lines = iter(object_lines(text))
    try:
        located = _with_lines(data, lines)
    except (StopIteration, RecursionError):
        located = None
    if located is None or next(lines, None) is not None:
        return _load_json_slowly(text, path)
    return Loaded(located)


def object_lines(text: str) -> list[int]:
    """The line of every ``{`` outside strings in valid JSON ``text``, in text order.

    Valid JSON strings hold no raw newline, so dropping them keeps every line; then everything but
    braces and newlines goes too (both in C), and the few short rows left are counted.  Without a
    backslash no string holds a quote, so splitting at quotes drops them fastest.
    """
    outside = "".join(text.split('"')[::2]) if "\\" not in text else _STRING.sub("", text)
    skeleton = _NOT_BRACE.sub("", outside)
    return [number for number, row in enumerate(skeleton.split("\n"), 1) if row for _ in row]


def _with_lines(value: Any, lines: Iterator[int]) -> Any:
    if isinstance(value, dict):
        obj = LineDict()
        obj.line = next(lines)
        for key, item in value.items():
            obj[key] = _with_lines(item, lines)
        return obj
    if isinstance(value, list):
        return [_with_lines(item, lines) for item in value]
    return value


def _load_json_slowly(text: str, path: str) -> Loaded:
    """The pure-Python decoder with a hook on every object: exact even when keys repeat."""
    newlines = [m.start() for m in _NEWLINE.finditer(text)]
    decoder: Any = json.JSONDecoder()
    scanner: Any = json.scanner
    json_object: Any = vars(json.decoder)["JSONObject"]

    def parse_object(s_and_end: tuple[str, int], *args: Any) -> tuple[LineDict, int]:
        pairs, end = json_object(s_and_end, *args)
        obj = LineDict(pairs)
        obj.line = bisect.bisect_left(newlines, s_and_end[1]) + 1
        return obj, end

    decoder.parse_object = parse_object
    decoder.scan_once = scanner.py_make_scanner(decoder)
    try:
        return Loaded(decoder.decode(text))
    except json.JSONDecodeError as exc:
        return Loaded(problem=Problem(path, exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})"))
    except RecursionError:
        return Loaded(problem=Problem(path, 1, "invalid JSON: nested too deeply"))


def load_yaml_node(text: str, path: str) -> Loaded:
    """Compose YAML into nodes (which carry their lines); a syntax error becomes ``path:line: invalid YAML: …``."""
    try:
        return Loaded(yaml.compose(text, Loader=_YAML_LOADER))
    except yaml.YAMLError as exc:
        return Loaded(problem=markup.yaml_problem(path, exc))
    except RecursionError:
        return Loaded(problem=Problem(path, 1, "invalid YAML: nested too deeply"))


def mapping_items(node: Any) -> list[tuple[str, yaml.Node]]:
    """The ``(key, value node)`` pairs of a YAML mapping node with scalar keys (empty for anything else)."""
    if not isinstance(node, yaml.MappingNode):
        return []
    return [(str(k.value), v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]


def scalar(node: Any) -> str | None:
    """A YAML scalar node's text, or None for collections and nulls."""
    if not isinstance(node, yaml.ScalarNode):
        return None
    if node.tag == "tag:yaml.org,2002:null" or (node.style is None and node.value in ("", "~", "null", "Null", "NULL")):
        return None
    return str(node.value)
