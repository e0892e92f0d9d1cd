"""The fast paths in story intake give exactly what the straightforward code they replace gave."""

from __future__ import annotations

import bisect
import json
import re
from string import Template
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from quarterdeck.domain import plans
from quarterdeck.stories import documents, markup, planfile, prompt, records

_WHITESPACE = st.sampled_from(list(" \t\n\r\x0b\x0c\x1c\x85\u00a0\u2028\u3000#ab"))


def _heading_by_pattern(text: str) -> tuple[int, str] | None:
    match = markup.HEADING.match(text)
    return (len(match.group(1)), match.group(2)) if match else None


@settings(max_examples=500)
@given(st.text(alphabet=_WHITESPACE | st.characters(), max_size=24))
def test_heading_is_the_heading_pattern(text: str) -> None:
    for candidate in (text, "#" + text, "## " + text):
        assert markup.heading(candidate) == _heading_by_pattern(candidate)


def _brace_lines_by_scan(text: str) -> list[int]:
    braces = [m.start() for m in re.finditer(r'"(?:[^"\\]|\\.)*"|\{', text) if m.group() == "{"]
    newlines = [m.start() for m in re.finditer("\n", text)]
    return [bisect.bisect_left(newlines, b) + 1 for b in braces]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=st.sampled_from(list('ab{}"\\\n x'))),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300)
@given(_JSON, st.sampled_from([None, 0, 2]))
def test_object_lines_match_a_token_scan(value: Any, indent: int | None) -> None:
    text = json.dumps(value, indent=indent)
    assert documents.object_lines(text) == _brace_lines_by_scan(text)


def _shape(located: Any) -> Any:
    value = planfile._plain(located) if isinstance(located, planfile._Leaf) else located.value
    if isinstance(located, planfile._Leaf):
        return ("leaf", located.line, value)
    if isinstance(value, dict):
        return ("dict", located.line, {k: _shape(v) for k, v in value.items()})
    if isinstance(value, list):
        return ("list", located.line, [_shape(v) for v in value])
    return ("value", located.line, value)


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["name", "defaults", "tasks", "x"]), _JSON, max_size=4), st.booleans())
def test_one_walk_locates_like_load_then_wrap(value: dict[str, Any], repeat_a_key: bool) -> None:
    text = json.dumps(value, indent=2)
    if repeat_a_key and text.startswith("{\n"):
        text = '{\n  "x": {"dropped": {}},\n' + text[2:] if value else text
    parsed = documents.Loaded(json.loads(text))
    fast = planfile._located_json(text, parsed)
    slow = planfile._from_json(documents.load_json(text, "p.json").value, 1)
    if fast is not None:
        assert _shape(fast) == _shape(slow)


def _render_by_template(record: records.Record, template: Template, depends_on: tuple[str, ...]) -> str:
    """The renderer as first written: test each chunk with Template, then substitute the kept ones."""
    filled = prompt.values(record, depends_on)
    kept = []
    for chunk in re.split(r"(?m)^(?=#{2,6} |\$sections[ \t]*$)", template.template):
        _, _, rest = chunk.partition("\n")
        body = Template(rest) if chunk.startswith("#") and rest.strip() else None
        if body is None or body.safe_substitute(filled).strip():
            kept.append(chunk)
    text = Template("".join(kept)).safe_substitute(filled)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


_PIECES = st.sampled_from(
    ["## Head\n", "### Sub\n", "$statement", "${title}", "$$", "$", "$ ", "$nope", "${nope}", "$sections\n", "\n", "x"]
    + [f"${name}" for name in prompt.PLACEHOLDERS]
)


@settings(max_examples=300)
@given(st.lists(_PIECES, max_size=14), st.text(max_size=5), st.booleans())
def test_render_matches_template_substitution(pieces: list[str], statement: str, with_criteria: bool) -> None:
    record = records.Record(
        id="1.2",
        title="T",
        format="bmad",
        source=plans.SourceRef("s.md", 3),
        statement=statement,
        acceptance_criteria=(records.Criterion("1", "works"),) if with_criteria else (),
    )
    template = Template("".join(pieces))
    assert prompt.render(record, template, ("1.1",)) == _render_by_template(record, template, ("1.1",))
    assert prompt.render(record) == _render_by_template(record, Template(prompt.DEFAULT_TEMPLATE), ())
