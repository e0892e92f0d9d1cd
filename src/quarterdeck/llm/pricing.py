"""A small, dated price table: what a model's tokens cost, for agents that report no cost.

Prices are USD per million tokens as of ``PRICES_VERSION``. A model that is not listed is *unpriced*
(its cost is unknown, not zero: recorded as 0 with source ``unpriced`` and shown as such). The table
is extended, or corrected, without a release: ``QUARTERDECK_PRICES`` (a JSON object of model name to
``{"input": …, "output": …, "cache_read": …, "cache_write": …}``) adds to it and wins over it, and a
task's ``price`` option wins over both for that task.

Where the prices come from (see docs/agents.md, "Prices"):
- Anthropic: the model catalog inside the pinned Claude Code (2.1.330), whose pricing tiers name the
  input and output price (``tier_5_25``) and the cache-read price; cache writes are 1.25 × input.
- OpenAI and Google: the providers' published list prices up to 2025-10; the models the pinned CLIs
  name beyond that (Codex 0.169: ``gpt-5.5``, ``gpt-5.6-*``, ``gpt-6-*``, ``gpt-6.1-*``; Gemini CLI
  0.61: ``gemini-3*``) carry no price in the CLIs, and this machine cannot look them up: they are
  listed in ``ASSUMED`` at the price of their nearest priced sibling, to be checked against the
  provider's page and corrected with ``QUARTERDECK_PRICES`` where they differ.
"""

from __future__ import annotations

import functools
import json
import os
import re

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from quarterdeck.domain.usage import TokenUsage

__all__ = ["ASSUMED", "PRICES", "PRICES_VERSION", "Price", "configured_prices", "cost_of", "price_for"]

PRICES_VERSION = "2026-12-07"


class Price(BaseModel):
    """USD per million tokens; cached reads and cache writes default to the input price."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float | None = Field(default=None, ge=0)
    cache_write: float | None = Field(default=None, ge=0)

    def cost(self, tokens: TokenUsage) -> float:
        """What ``tokens`` cost at this price (reasoning tokens are already part of ``output``)."""
        cache_read = self.input if self.cache_read is None else self.cache_read
        cache_write = self.input if self.cache_write is None else self.cache_write
        total = (
            tokens.input * self.input
            + tokens.output * self.output
            + tokens.cache_read * cache_read
            + tokens.cache_write * cache_write
        )
        return total / 1_000_000


PRICES: dict[str, Price] = {
    # Anthropic (api-agent, Claude Code), from Claude Code 2.1.330's model catalog; cache writes: 5-minute rate
    "claude-opus-5-5": Price(input=4.0, output=20.0, cache_read=0.20, cache_write=5.0),
    "claude-opus-5": Price(input=5.0, output=25.0, cache_read=0.50, cache_write=6.25),
    "claude-opus-4-8": Price(input=5.0, output=25.0, cache_read=0.50, cache_write=6.25),
    "claude-opus-4-7": Price(input=5.0, output=25.0, cache_read=0.50, cache_write=6.25),
    "claude-opus-4-6": Price(input=5.0, output=25.0, cache_read=0.50, cache_write=6.25),
    "claude-opus-4-5": Price(input=5.0, output=25.0, cache_read=0.50, cache_write=6.25),
    "claude-opus-4-1": Price(input=15.0, output=75.0, cache_read=1.50, cache_write=18.75),
    "claude-opus-4": Price(input=15.0, output=75.0, cache_read=1.50, cache_write=18.75),
    "claude-opus-4-0": Price(input=15.0, output=75.0, cache_read=1.50, cache_write=18.75),
    "claude-sonnet-5-5": Price(input=2.0, output=10.0, cache_read=0.10, cache_write=2.50),
    "claude-sonnet-5": Price(input=2.0, output=10.0, cache_read=0.20, cache_write=2.50),
    "claude-sonnet-4-6": Price(input=3.0, output=15.0, cache_read=0.30, cache_write=3.75),  # the crew's default
    "claude-sonnet-4-5": Price(input=3.0, output=15.0, cache_read=0.30, cache_write=3.75),
    "claude-sonnet-4": Price(input=3.0, output=15.0, cache_read=0.30, cache_write=3.75),
    "claude-sonnet-4-0": Price(input=3.0, output=15.0, cache_read=0.30, cache_write=3.75),
    "claude-haiku-4-5": Price(input=1.0, output=5.0, cache_read=0.10, cache_write=1.25),
    "claude-3-5-haiku": Price(input=0.80, output=4.0, cache_read=0.08, cache_write=1.0),
    # OpenAI chat models (api-agent)
    "gpt-4o": Price(input=2.50, output=10.0, cache_read=1.25),
    "gpt-4o-mini": Price(input=0.15, output=0.60, cache_read=0.075),
    "gpt-4.1-nano": Price(input=0.10, output=0.40, cache_read=0.025),
    # OpenAI (Codex)
    "gpt-5": Price(input=1.25, output=10.0, cache_read=0.125),
    "gpt-5-codex": Price(input=1.25, output=10.0, cache_read=0.125),
    "gpt-5-mini": Price(input=0.25, output=2.0, cache_read=0.025),
    "gpt-5-nano": Price(input=0.05, output=0.40, cache_read=0.005),
    "gpt-4.1": Price(input=2.0, output=8.0, cache_read=0.50),
    "gpt-4.1-mini": Price(input=0.40, output=1.60, cache_read=0.10),
    "o3": Price(input=2.0, output=8.0, cache_read=0.50),
    "o4-mini": Price(input=1.10, output=4.40, cache_read=0.275),
    "codex-mini-latest": Price(input=1.50, output=6.0, cache_read=0.375),
    # Google (Gemini CLI); prompts up to 200k tokens
    "gemini-2.5-pro": Price(input=1.25, output=10.0, cache_read=0.31),
    "gemini-2.5-flash": Price(input=0.30, output=2.50, cache_read=0.075),
    "gemini-2.5-flash-lite": Price(input=0.10, output=0.40, cache_read=0.025),
}

#: models the pinned CLIs name whose list price could not be looked up here: priced as their nearest priced
#: sibling (see the module's doc); check them and correct with ``QUARTERDECK_PRICES``
ASSUMED: dict[str, Price] = {
    # Codex 0.169's model catalog
    "gpt-5.5": PRICES["gpt-5"],
    "gpt-5.6-luna": PRICES["gpt-5-mini"],
    "gpt-5.6-sol": PRICES["gpt-5"],
    "gpt-5.6-terra": PRICES["gpt-5"],
    "gpt-6-astra": PRICES["gpt-5"],
    "gpt-6-luna": PRICES["gpt-5-mini"],
    "gpt-6-sol": PRICES["gpt-5"],
    "gpt-6.1-sol": PRICES["gpt-5"],
    "gpt-6.1-terra": PRICES["gpt-5"],
    # Gemini CLI 0.61's models
    "gemini-3-pro": PRICES["gemini-2.5-pro"],
    "gemini-3.1-pro": PRICES["gemini-2.5-pro"],
    "gemini-3-flash": PRICES["gemini-2.5-flash"],
    "gemini-3.5-flash": PRICES["gemini-2.5-flash"],
    "gemini-3.8-flash": PRICES["gemini-2.5-flash"],
    "gemini-3.1-flash-lite": PRICES["gemini-2.5-flash-lite"],
    "gemini-3.5-flash-lite": PRICES["gemini-2.5-flash-lite"],
}
PRICES.update(ASSUMED)


@functools.cache
def configured_prices(raw: str | None) -> dict[str, Price]:
    """``QUARTERDECK_PRICES`` parsed (cached per value); a malformed value is an error naming the setting."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return {str(model).strip().lower(): Price.model_validate(price) for model, price in data.items()}
    except (ValueError, ValidationError) as exc:
        raise ValueError(f"QUARTERDECK_PRICES: {exc}") from None


#: a dated snapshot suffix (``-2025-08-07``, ``-20250807``) or a ``-preview…`` tag
_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|preview.*|latest)$")


def price_for(model: str | None, table: dict[str, Price] | None = None) -> Price | None:
    """The model's price, trying it as named and then without a dated or preview suffix."""
    if not model:
        return None
    prices = {**PRICES, **configured_prices(os.environ.get("QUARTERDECK_PRICES"))} if table is None else table
    name = model.strip().lower().removeprefix("models/")
    while True:
        if name in prices:
            return prices[name]
        stripped = _SUFFIX.sub("", name)
        if stripped == name:
            return None
        name = stripped


def cost_of(model: str | None, tokens: TokenUsage, override: Price | None = None) -> float | None:
    """What ``tokens`` on ``model`` cost, or None when the model is not priced."""
    price = override or price_for(model)
    return None if price is None else price.cost(tokens)
