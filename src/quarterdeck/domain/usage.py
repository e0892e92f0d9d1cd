"""What a model call or an agent run used, in tokens: shared by runtimes, the LLM router and the price table."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TokenUsage"]


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Tokens one agent run used; ``input`` excludes the cached reads and writes counted beside it."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    #: reasoning tokens, already included in ``output`` where the provider bills them as output
    reasoning: int = 0

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.input + other.input,
            self.output + other.output,
            self.cache_read + other.cache_read,
            self.cache_write + other.cache_write,
            self.reasoning + other.reasoning,
        )
