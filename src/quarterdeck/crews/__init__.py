"""Crews: a manager plans a goal, workers of several roles build it, a reviewer judges every criterion."""

from __future__ import annotations

__all__: list[str] = []
