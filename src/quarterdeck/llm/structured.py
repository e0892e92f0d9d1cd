"""Structured output: a call whose answer must be JSON matching a pydantic model, with one repair retry."""

from __future__ import annotations

import json
import re
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from quarterdeck.errors import RuntimeFailure
from quarterdeck.llm.messages import Message, Request
from quarterdeck.llm.router import Call, Router

__all__ = ["StructuredOutputError", "structured"]

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"^```(?:json)?\s*\n(.*?)\n```\s*$", re.DOTALL)


class StructuredOutputError(RuntimeFailure):
    """The model's answer was not valid JSON for the schema, even after one repair."""

    def __init__(self, message: str, *, answer: str) -> None:
        super().__init__(message)
        self.answer = answer


def _parse(text: str, schema: type[T]) -> T:
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    return schema.model_validate_json(body)


async def structured(
    router: Router, schema: type[T], prompt: str, *, system: str = "", max_tokens: int = 4096
) -> tuple[T, list[Call]]:
    """Ask for ``schema`` as JSON; a wrong answer is shown its errors and asked once more.

    Returns the validated value and the calls it took (for their costs).

    Raises:
        StructuredOutputError: the second answer was wrong too.
    """
    instructions = (
        "Answer with one JSON value and nothing else: no prose, no code fence. "
        f"It must match this JSON schema:\n{json.dumps(schema.model_json_schema())}"
    )
    messages = [Message.user(prompt)]
    calls: list[Call] = []
    for attempt in (1, 2):
        request = Request(
            model=router.endpoints[0].model,
            system=f"{system}\n\n{instructions}".strip(),
            messages=tuple(messages),
            max_tokens=max_tokens,
        )
        call = await router.complete(request)
        calls.append(call)
        answer = call.response.text()
        try:
            return _parse(answer, schema), calls
        except ValidationError as exc:
            if attempt == 2:
                raise StructuredOutputError(
                    f"the model's answer does not match {schema.__name__} after a repair: {exc.errors()[0]['msg']}",
                    answer=answer,
                ) from None
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
            messages += [
                call.response.message(),
                Message.user(f"That answer is invalid ({problems}). Reply again with only the corrected JSON."),
            ]
    raise AssertionError("unreachable")
