"""Model providers behind one neutral conversation format: routing, rate limits, record and replay."""

from __future__ import annotations

__all__: list[str] = []
