"""Secrets (provider API keys, git credentials): set, list masked, delete, re-seal with the newest key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Response, status

from quarterdeck.api import convert, schemas
from quarterdeck.api.auth import Admin
from quarterdeck.api.pagination import Cursor, Limit, decode_cursor, encode_cursor
from quarterdeck.api.routes import v1_router
from quarterdeck.api.services import Svc
from quarterdeck.app import vault
from quarterdeck.security import sealing

__all__ = ["router"]

router = v1_router("secrets")

SecretName = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/secrets")
async def list_secrets(
    principal: Admin, svc: Svc, limit: Limit = 50, cursor: Cursor = None
) -> schemas.Page[schemas.SecretPublic]:
    """The organisation's secrets, masked; values never leave the server."""
    after = decode_cursor(cursor, str)[0] if cursor else None
    found = await vault.read_secrets(svc.db, org_id=principal.org_id, after=after, limit=limit + 1)
    more = len(found) > limit
    found = found[:limit]
    return schemas.Page[schemas.SecretPublic](
        items=[convert.secret(s) for s in found], next_cursor=encode_cursor(found[-1].name) if more else None
    )


@router.put("/secrets/{name}")
async def set_secret(name: SecretName, body: schemas.SecretSet, principal: Admin, svc: Svc) -> schemas.SecretPublic:
    """Store (or replace) a secret, sealed; the response shows it masked."""
    record = await vault.set_secret(
        svc.db, svc.keys, org_id=principal.org_id, name=name, value=body.value, kind=body.kind
    )
    return convert.secret(record)


@router.delete("/secrets/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_secret(name: SecretName, principal: Admin, svc: Svc) -> Response:
    await vault.delete_secret(svc.db, org_id=principal.org_id, name=name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/secrets/rotate")
async def rotate_secrets(principal: Admin, svc: Svc) -> schemas.RotationPublic:
    """Re-seal the organisation's secrets with the newest key (after adding one to QUARTERDECK_SECRET_KEYS)."""
    count = await vault.rotate(svc.db, svc.keys, org_id=principal.org_id)
    return schemas.RotationPublic(resealed=count, key_id=sealing.newest_key_id(svc.keys))
