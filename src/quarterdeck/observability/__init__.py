"""What operators see of the work: traces (``tracing``), correlated logs (``logs``), the ids they share."""

from __future__ import annotations

__all__: list[str] = []
