"""Follow-ups to an agent, as pure rules: how many turns an attempt gives them and how a turn says them."""

from __future__ import annotations

__all__ = ["MAX_HEARD_TURNS", "said_turn"]

# (what a person said and the last message handed over are kept in ``checkpoints.Checkpoint``: ``said``, ``heard``)
#: the most extra turns an attempt gives its agent for follow-ups sent while it worked
MAX_HEARD_TURNS = 5


def said_turn(said: str) -> str:
    """The turn that hands the agent what a person said to it."""
    return (
        "A person following this task sent you this message:\n\n"
        f"{said}\n\n"
        "Take it into account in this worktree, then stop."
    )
