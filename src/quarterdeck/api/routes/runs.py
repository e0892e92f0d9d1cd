"""Runs: list, create (plan object, upload or server path), detail, cancel, pause, resume, add budget."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from fastapi import Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from quarterdeck import app as app_mod
from quarterdeck.api import convert, repos, schemas
from quarterdeck.api.auth import Member, Principal, Viewer
from quarterdeck.api.pagination import Cursor, Limit, decode_cursor, encode_cursor
from quarterdeck.api.routes import v1_router
from quarterdeck.api.services import Services, Svc
from quarterdeck.app import plans, runs
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.errors import InputError

__all__ = ["read_run_or_404", "router", "run_detail", "split_statuses"]

router = v1_router("runs")


def split_statuses(value: str | None, allowed: Iterable[StrEnum]) -> list[str]:
    """``a,b`` → ``["a", "b"]``, each one of ``allowed``; InputError names the known ones."""
    if not value:
        return []
    wanted = [s.strip() for s in value.split(",") if s.strip()]
    known = {s.value for s in allowed}
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise InputError(f"unknown status {', '.join(unknown)}: use {', '.join(sorted(known))}")
    return wanted


async def read_run_or_404(svc: Services, principal: Principal, run_id: str) -> schemas.RunSummary:
    run, counts = await runs.read_run_counts(svc.db, run_id, org_id=principal.org_id)
    return convert.run_summary(run, counts)


async def run_detail(svc: Services, principal: Principal, run_id: str) -> schemas.RunDetail:
    detail = await runs.read_run_detail(svc.db, run_id, org_id=principal.org_id)
    run, tasks, deps, links = detail.run, detail.tasks, detail.dependencies, detail.links
    counts: dict[str, int] = {}
    for task in tasks:
        counts[task.status] = counts.get(task.status, 0) + 1
    summary = convert.run_summary(run, counts)
    return schemas.RunDetail(
        **summary.model_dump(),
        base_ref=run.base_ref,
        merge_strategy=run.merge_strategy,
        tasks=[convert.task_row(t, deps.get(t.id, []), t.cost_usd) for t in tasks],
        critical_path=convert.critical_path(tasks, deps),
        pull_requests=[
            schemas.PullRequestPublic(
                kind=link.kind,
                forge=link.forge,
                repository=link.repository,
                number=link.number,
                url=link.url,
                state=link.state,
                task_id=link.task_id,
            )
            for link in links
        ],
    )


@router.get("/runs")
async def list_runs(
    principal: Viewer,
    svc: Svc,
    status: Annotated[str | None, Query(description="Comma-separated statuses.", max_length=200)] = None,
    q: Annotated[str | None, Query(description="Matches id, name or goal.", max_length=200)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> schemas.Page[schemas.RunSummary]:
    """The organisation's runs, newest first."""
    before = None
    if cursor:
        created, run_id = decode_cursor(cursor, str, str)
        try:
            before = (datetime.fromisoformat(created), run_id)
        except ValueError:
            raise InputError("invalid cursor: pass back a next_cursor exactly as received") from None
    page = await runs.read_run_page(
        svc.db,
        org_id=principal.org_id,
        statuses=split_statuses(status, RunStatus),
        q=q,
        before=before,
        limit=limit,
    )
    shown = page.runs
    return schemas.Page[schemas.RunSummary](
        items=[convert.run_summary(r, page.counts[r.id]) for r in shown],
        next_cursor=encode_cursor(shown[-1].created_at.isoformat(), shown[-1].id) if page.more else None,
    )


_RUN_CREATE_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": schemas.RunCreate.model_json_schema()},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["plan"],
                "properties": {
                    "plan": {"type": "string", "format": "binary", "description": "A plan file or story document."},
                    **{
                        name: {"type": "string"}
                        for name in ("repo", "project_id", "base", "branch", "merge_strategy", "deps", "goal")
                    },
                    "budget_usd": {"type": "number", "exclusiveMinimum": 0},
                },
            }
        },
    },
}


async def _request_body(request: Request, svc: Services) -> tuple[schemas.RunCreate, Path | None]:
    """The run request, from JSON or from a multipart upload (whose file is kept in the state directory)."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        async with request.form() as form:  # closes the spooled upload files
            upload = form.get("plan")
            if upload is None or isinstance(upload, str):
                raise InputError("the multipart body needs a 'plan' file")
            fields: dict[str, Any] = {k: v for k, v in form.items() if k != "plan" and isinstance(v, str) and v != ""}
            filename, content = upload.filename or "plan", await upload.read()
        try:
            body = schemas.RunCreate.model_validate(fields)
        except ValidationError as exc:
            raise _invalid(exc) from None
        path = plans.save_upload(svc.settings.state_dir, filename, content)
        return body, path
    if content_type and not content_type.startswith("application/json"):
        raise InputError("send the run as application/json or multipart/form-data")
    try:
        data = await request.json()
    except ValueError:
        raise InputError("the request body is not valid JSON") from None
    try:
        return schemas.RunCreate.model_validate(data), None
    except ValidationError as exc:
        raise _invalid(exc) from None


def _invalid(exc: ValidationError) -> RequestValidationError:
    """A body validated by hand answers like one FastAPI validated: 422 with each field's location."""
    return RequestValidationError(
        [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False, include_context=False)]
    )


@router.post("/runs", status_code=status.HTTP_201_CREATED, openapi_extra={"requestBody": _RUN_CREATE_BODY})
async def create_run(request: Request, principal: Member, svc: Svc) -> schemas.RunSummary:
    """Start a run from a plan file object, an uploaded plan or story file, or a path on the server."""
    body, uploaded = await _request_body(request, svc)
    given = [x for x in (body.plan, body.path, uploaded) if x is not None]
    if len(given) != 1:
        raise InputError("give exactly one of: plan (a plan file object), path (on the server), or an upload")
    repo = await repos.run_repository(svc, principal.org_id, body.repo, body.project_id)
    if body.path is not None:
        repos.check_plan_path(svc, body.path, repo)
    if body.plan is not None:
        plan = plans.from_object(body.plan)
    else:
        plan = await plans.from_path(Path(body.path) if body.path else uploaded or Path(), deps=body.deps)
    # What `quarterdeck plan` checks: the agent of tasks naming none, runtimes, agent CLIs and keys.
    plan = await svc.quarterdeck.check(plan, repo=app_mod.repository(repo), agent=body.agent, org_id=principal.org_id)
    record = await svc.quarterdeck.submit(
        plan,
        repo=app_mod.repository(repo),
        base=body.base,
        branch=body.branch,
        budget_usd=body.budget_usd,
        merge_strategy=body.merge_strategy,
        org_id=principal.org_id,
        project_id=body.project_id,
        goal=body.goal,
    )
    return await read_run_or_404(svc, principal, record.id)


@router.get("/runs/{run_id}")
async def read_run(run_id: str, principal: Viewer, svc: Svc) -> schemas.RunDetail:
    """The run with its tasks and critical path."""
    return await run_detail(svc, principal, run_id)


@router.post("/runs/{run_id}/cancel")
async def cancel_run(run_id: str, principal: Member, svc: Svc) -> schemas.SteerResult:
    """Cancel the run: unfinished tasks are cancelled, running agents stopped."""
    await read_run_or_404(svc, principal, run_id)
    cancelled = await svc.quarterdeck.cancel_run(run_id, by=principal.actor)
    run = await read_run_or_404(svc, principal, run_id)
    return schemas.SteerResult(run_id=run_id, status=run.status, tasks=cancelled, budget_usd=run.budget_usd)


@router.post("/runs/{run_id}/pause")
async def pause_run(run_id: str, principal: Member, svc: Svc) -> schemas.SteerResult:
    """Pause the run: running tasks finish, nothing new starts."""
    await read_run_or_404(svc, principal, run_id)
    await svc.quarterdeck.pause_run(run_id, by=principal.actor)
    run = await read_run_or_404(svc, principal, run_id)
    return schemas.SteerResult(run_id=run_id, status=run.status, tasks=[], budget_usd=run.budget_usd)


@router.post("/runs/{run_id}/resume")
async def resume_run(run_id: str, principal: Member, svc: Svc) -> schemas.SteerResult:
    """Let a paused run start tasks again (workers, such as ``quarterdeck serve``'s own, pick them up)."""
    run = await read_run_or_404(svc, principal, run_id)
    if run.status != RunStatus.PAUSED:
        raise InputError(f"run {run_id!r} is {run.status}; only a paused run can be resumed")
    await svc.quarterdeck.unpause_run(run_id, by=principal.actor)
    run = await read_run_or_404(svc, principal, run_id)
    return schemas.SteerResult(run_id=run_id, status=run.status, tasks=[], budget_usd=run.budget_usd)


@router.post("/runs/{run_id}/budget")
async def add_budget(run_id: str, body: schemas.BudgetAdd, principal: Member, svc: Svc) -> schemas.SteerResult:
    """Raise the run's budget by ``add_usd``; a run waiting for budget runs again."""
    await read_run_or_404(svc, principal, run_id)
    limit = await svc.quarterdeck.add_budget(run_id, body.add_usd, by=principal.actor)
    run = await read_run_or_404(svc, principal, run_id)
    return schemas.SteerResult(run_id=run_id, status=run.status, tasks=[], budget_usd=limit)
