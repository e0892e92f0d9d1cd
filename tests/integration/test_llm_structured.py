"""Structured output through the router and a real SDK: validated, repaired once, then a clear failure."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from quarterdeck.llm.endpoint import Endpoint
from quarterdeck.llm.router import Router
from quarterdeck.llm.structured import StructuredOutputError, structured
from tests.support.llm_servers import AnthropicServer, Reply, Script


class Verdict(BaseModel):
    approve: bool
    reasons: list[str]


def router_for(url: str) -> Router:
    return Router([Endpoint(model="claude-haiku-4-5", base_url=url)], environ={"ANTHROPIC_API_KEY": "k"})


async def test_a_valid_answer_is_parsed_even_in_a_code_fence() -> None:
    with AnthropicServer(Script(Reply.text('```json\n{"approve": true, "reasons": ["tests pass"]}\n```'))) as server:
        verdict, calls = await structured(router_for(server.url), Verdict, "Review this diff.")
    assert verdict == Verdict(approve=True, reasons=["tests pass"])
    assert len(calls) == 1
    assert '"approve"' in server.model_requests()[0].body["system"]


async def test_a_wrong_answer_is_repaired_once() -> None:
    script = Script(Reply.text('{"approve": "maybe"}'), Reply.text('{"approve": false, "reasons": ["no tests"]}'))
    with AnthropicServer(script) as server:
        verdict, calls = await structured(router_for(server.url), Verdict, "Review this diff.")
    assert verdict.approve is False
    assert len(calls) == 2
    repair = server.model_requests()[1].body["messages"][-1]["content"][0]["text"]
    assert repair.startswith("That answer is invalid (approve: Input should be a valid boolean")


async def test_two_wrong_answers_fail_clearly() -> None:
    script = Script(Reply.text("I approve!"), Reply.text("Yes, approved."))
    with (
        AnthropicServer(script) as server,
        pytest.raises(StructuredOutputError, match="does not match Verdict after a repair") as caught,
    ):
        await structured(router_for(server.url), Verdict, "Review this diff.")
    assert caught.value.answer == "Yes, approved."
