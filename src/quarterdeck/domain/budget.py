"""Budget arithmetic: what a run may still spend, and whether a reservation fits."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Budget"]


@dataclass(frozen=True, slots=True)
class Budget:
    """A run's money: the limit (None: unlimited), what was spent and what running steps have reserved."""

    limit_usd: float | None
    spent_usd: float = 0.0
    reserved_usd: float = 0.0

    @property
    def remaining_usd(self) -> float | None:
        """What may still be reserved; None when unlimited."""
        if self.limit_usd is None:
            return None
        return max(0.0, self.limit_usd - self.spent_usd - self.reserved_usd)

    def affords(self, amount_usd: float) -> bool:
        remaining = self.remaining_usd
        return remaining is None or amount_usd <= remaining + 1e-9
