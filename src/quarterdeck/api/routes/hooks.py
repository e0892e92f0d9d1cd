"""Webhooks from GitHub and GitLab: who asks is proved by the delivery's signature, not a user's credentials."""

from __future__ import annotations

from typing import Literal

from fastapi import Request

from quarterdeck.api import schemas
from quarterdeck.api.errors import Unauthorized
from quarterdeck.api.routes import v1_router
from quarterdeck.api.services import Svc
from quarterdeck.app import intake
from quarterdeck.forges.tokens import ForgeSecrets

__all__ = ["router"]

router = v1_router("hooks")


@router.post("/hooks/{forge}/{project_id}")
async def receive_hook(
    forge: Literal["github", "gitlab"], project_id: str, request: Request, svc: Svc
) -> schemas.HookReceived:
    """A delivery from the project's forge: signed with the project's webhook secret (GitHub:
    ``X-Hub-Signature-256``; GitLab: ``X-Gitlab-Token``), handled once per delivery id."""
    body = await request.body()  # (bounded by the app's body limit, ``api/middleware.py``)
    headers = {name.lower(): value for name, value in request.headers.items()}
    try:
        received = await intake.receive(
            svc.quarterdeck,
            ForgeSecrets(svc.db, svc.keys),
            forge=forge,
            project_id=project_id[:64],
            headers=headers,
            body=body,
        )
    except intake.SignatureError:
        raise Unauthorized("the webhook's signature does not match the project's webhook secret") from None
    follower = getattr(request.app.state, "follower", None)
    if follower is not None:
        follower.wake()
    return schemas.HookReceived(outcome=received.outcome, run_id=received.run_id, duplicate=received.duplicate)
