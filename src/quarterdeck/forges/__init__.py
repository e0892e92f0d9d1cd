"""Forges (GitHub, GitLab): pull requests from runs, review feedback as revisions, issues as runs.

``open_forge`` chooses the adapter for a project's ``[forge]`` table; ``pulls`` keeps a run's pull
request in step with it, ``reviews`` turns feedback into revisions; webhooks are handled by ``app/intake.py``.
"""

from __future__ import annotations

from quarterdeck.domain.forges import Forge
from quarterdeck.forges.config import ForgeConfig

__all__ = ["Forge", "ForgeConfig", "open_forge"]


def open_forge(config: ForgeConfig, token: str) -> Forge:
    """The adapter for ``config.kind``, authenticated with ``token``."""
    if config.kind == "github":
        from quarterdeck.forges.github import GitHubForge

        return GitHubForge(api_url=config.api, repository=config.repository, token=token)
    from quarterdeck.forges.gitlab import GitLabForge

    return GitLabForge(api_url=config.api, repository=config.repository, token=token)
