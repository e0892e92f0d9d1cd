"""Agent runtimes and their health: is each agent CLI installed, new enough, and given credentials?"""

from __future__ import annotations

import asyncio
import time

from quarterdeck.api import schemas
from quarterdeck.api.auth import Viewer
from quarterdeck.api.routes import v1_router
from quarterdeck.api.services import Svc
from quarterdeck.runtimes import base, cli_tools, process

__all__ = ["router"]

router = v1_router("runtimes")

#: checking a CLI spawns it; the answers are kept this long
_CHECK_TTL_S = 60.0
_checked: dict[str, tuple[float, schemas.RuntimeHealth]] = {}


async def _health(cli: cli_tools.AgentCli) -> schemas.RuntimeHealth:
    cached = _checked.get(cli.name)
    if cached is not None and time.monotonic() - cached[0] < _CHECK_TTL_S:
        return cached[1]
    try:
        path, version = await cli_tools.check_cli(cli, cli_tools.CliPaths().path_for(cli), process.base_env())
        health = schemas.RuntimeHealth(ok=True, detail=f"{cli.name} {'.'.join(map(str, version))} at {path}")
    except cli_tools.AgentCliError as exc:
        health = schemas.RuntimeHealth(ok=False, detail=exc.message)
    _checked[cli.name] = (time.monotonic(), health)
    return health


def _cli_of(name: str) -> cli_tools.AgentCli | None:
    return next((cli for cli in cli_tools.CLIS if name.startswith(cli.command)), None)


@router.get("/runtimes")
async def list_runtimes(principal: Viewer, svc: Svc) -> schemas.Page[schemas.RuntimePublic]:
    """Every registered runtime; those that drive an agent CLI say whether it is usable here."""
    runtimes = sorted(svc.quarterdeck.registry, key=lambda r: r.name)
    clis = [_cli_of(r.name) for r in runtimes]
    healths = await asyncio.gather(*(_health(cli) for cli in clis if cli is not None))
    by_cli = dict(zip([cli.name for cli in clis if cli is not None], healths, strict=True))
    return schemas.Page[schemas.RuntimePublic](
        items=[
            schemas.RuntimePublic(
                name=runtime.name,
                needs_workspace=base.needs_workspace(runtime),
                health=by_cli.get(cli.name) if cli is not None else None,
            )
            for runtime, cli in zip(runtimes, clis, strict=True)
        ],
        next_cursor=None,
    )
