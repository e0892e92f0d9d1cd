"""Durations as people write them: a number of seconds, or ``90s``, ``20m``, ``1h30m``, ``1.5h``, ``2d``, ``4w``."""

from __future__ import annotations

import math
import re

__all__ = ["LONGEST_S", "describe", "parse_seconds", "seconds_in"]

#: the longest duration accepted (30 days): a longer one is a typo (``90h`` for ``90m``), not a plan
LONGEST_S = 30 * 86400.0

_UNITS = {"w": 7 * 86400.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
#: one ``<number><unit>`` part; a duration is one or more, units from the largest down, each at most once
_PART = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*([wdhms])")
_HINT = "a number of seconds or a duration such as 90s, 20m or 1h30m"


def parse_seconds(value: object) -> float:
    """Seconds from a number, a numeric string, or parts with units ``w``, ``d``, ``h``, ``m``, ``s`` (largest first).

    Raises:
        ValueError: with what is accepted (the caller prefixes the field's name), for anything else, a negative
            number or one over :data:`LONGEST_S`.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be {_HINT}")
    if isinstance(value, str):
        seconds = _from_text(value)
    else:
        try:
            seconds = float(value)
        except OverflowError:  # an integer beyond any float
            seconds = math.inf if value > 0 else -math.inf
    if math.isnan(seconds):
        raise ValueError(f"must be {_HINT}")
    if seconds < 0:
        raise ValueError(f"must be 0 or more ({_HINT})")
    if seconds > LONGEST_S:
        raise ValueError("must be at most 30 days")
    return seconds


def _from_text(text: str) -> float:
    stripped = text.strip()
    try:
        return float(stripped) if stripped and stripped[-1].isdigit() else _with_units(stripped)
    except ValueError:
        raise ValueError(f"must be {_HINT}, not {text!r}") from None


def seconds_in(text: str) -> float:
    """Seconds of a duration written with units (``7d``, ``12h``, ``1h30m``), with no upper limit.

    Raises:
        ValueError: anything else.
    """
    return _with_units(text.strip())


def _with_units(text: str) -> float:
    order = list(_UNITS)
    total, position, last = 0.0, 0, -1
    while position < len(text):
        part = _PART.match(text, position)
        if part is None:
            raise ValueError(text)
        rank = order.index(part.group(2))
        if rank <= last:  # a unit after a smaller one (``30m1h``), or twice (``1h1h``)
            raise ValueError(text)
        total += float(part.group(1)) * _UNITS[part.group(2)]
        position, last = part.end(), rank
    if last < 0:  # nothing read: an empty string
        raise ValueError(text)
    return total


def describe(seconds: float) -> str:
    """A duration as :func:`parse_seconds` reads it back: ``1h30m``, ``90s`` → ``1m30s``, ``2.5s``, ``0s``."""
    whole, fraction = divmod(round(seconds, 3), 1)
    parts: list[str] = []
    rest = int(whole)
    for unit in "dhm":
        count, rest = divmod(rest, int(_UNITS[unit]))
        if count:
            parts.append(f"{count}{unit}")
    tail = rest + fraction
    if tail or not parts:
        parts.append(f"{tail:g}s")
    return "".join(parts)
