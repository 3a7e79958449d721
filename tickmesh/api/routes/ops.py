"""Operator actions and their audit trail.

``POST /ops/halt`` and ``/ops/resume`` (operator and up) publish a :class:`Command` on the bus
through the ``publish_command`` the app was built with. Each one is audited: written as pending
before the command is sent, then marked ok or failed; a refusal for too low a role is audited
too. ``GET /audit`` (admin) lists the trail.

``POST /ops/reload-config`` reads the config file the platform started with again, validates it,
and sends its risk limits in a RELOAD command (:mod:`tickmesh.risk.reload`): 422 with the reason
when the file is invalid, 409 when the platform was started without a file; both are audited as
failed and publish nothing. The file is validated with the running process's namespace, database
and bus (which command-line options may have overridden and a reload does not change).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from tickmesh.api import queries
from tickmesh.api.audit import finish, record
from tickmesh.api.deps import ApiContext, Ctx, Principal, client_of, reading, require_role
from tickmesh.api.pagination import Page
from tickmesh.api.schemas import AuditOut, CommandOut, Reason
from tickmesh.config import load_settings
from tickmesh.core.errors import ConfigError
from tickmesh.model import Command, CommandType
from tickmesh.risk.reload import limits_to_args
from tickmesh.services.wiring import risk_limits
from tickmesh.storage.users import AuditOutcome, Role
from tickmesh.topics import validate_namespace

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])
SOURCE = "api"
_NOT_RELOADED = ("namespace", "db_url", "bus_url", "bus_prefix")
"""Settings a reload validates with the running values: command-line options may set them."""


class OpsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    namespace: str | None = Field(default=None, description="defaults to the configured one")
    reason: str = Field(default="", max_length=500, pattern=r"^[^\x00]*$")

    @field_validator("namespace")
    @classmethod
    def _valid(cls, value: str | None) -> str | None:
        return None if value is None else validate_namespace(value)


OPS_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": Reason, "description": "the body is not JSON"},
    503: {"model": Reason, "description": "the command was not sent (no bus, bus down)"},
}


HaltCaller = Annotated[Principal, Depends(require_role(Role.OPERATOR, audit_action="ops.halt"))]
ResumeCaller = Annotated[Principal, Depends(require_role(Role.OPERATOR, audit_action="ops.resume"))]
ReloadCaller = Annotated[Principal, Depends(require_role(Role.OPERATOR, audit_action="ops.reload"))]


@router.post("/ops/halt", status_code=status.HTTP_202_ACCEPTED, responses=OPS_RESPONSES)
async def halt(
    request: Request,
    ctx: Ctx,
    caller: HaltCaller,
    body: OpsIn | None = None,
) -> CommandOut:
    """Stop new orders in a namespace: the risk manager moves to HALTED."""
    return await send_command(ctx, caller, CommandType.HALT, body or OpsIn(), client_of(request))


@router.post("/ops/resume", status_code=status.HTTP_202_ACCEPTED, responses=OPS_RESPONSES)
async def resume(
    request: Request,
    ctx: Ctx,
    caller: ResumeCaller,
    body: OpsIn | None = None,
) -> CommandOut:
    """Let a halted namespace trade again."""
    return await send_command(
        ctx, caller, CommandType.RESUME, body or OpsIn(), client_of(request)
    )


@router.post(
    "/ops/reload-config",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **OPS_RESPONSES,
        409: {"model": Reason, "description": "the platform was started without a config file"},
        422: {"model": Reason, "description": "the config file is invalid: its path and why"},
    },
)
async def reload_config(
    request: Request,
    ctx: Ctx,
    caller: ReloadCaller,
    body: OpsIn | None = None,
) -> CommandOut:
    """Validate the config file again and send its risk limits to the risk manager."""
    body = body or OpsIn()
    client = client_of(request)
    try:
        args = await _reloadable(ctx)
    except HTTPException as refusal:
        await record(
            ctx, caller, "ops.reload", AuditOutcome.FAILED,
            namespace=body.namespace or ctx.settings.namespace,
            detail=_detail(body.reason, str(refusal.detail)), client=client,
        )  # fmt: skip
        raise
    return await send_command(ctx, caller, CommandType.RELOAD, body, client, args)


async def _reloadable(ctx: ApiContext) -> dict[str, str]:
    """The RELOAD arguments from the config file; 409 or 422 saying why not."""
    path = ctx.config_path
    if path is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail="no config file to reload: the platform was started without --config",
        )
    try:
        running = {key: getattr(ctx.settings, key) for key in _NOT_RELOADED}
        settings = await run_in_threadpool(load_settings, path, running)
        return limits_to_args(risk_limits(settings.risk))
    except (ConfigError, ValueError, OSError) as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"cannot reload {path}: {exc}"
        ) from None


@router.get("/audit", dependencies=[Depends(require_role(Role.ADMIN))])
async def audit_trail(ctx: Ctx, query: Annotated[queries.AuditQuery, Query()]) -> Page[AuditOut]:
    """Who did what, when, and how it ended; newest first unless sorted otherwise."""
    async with reading(ctx) as conn:
        return await queries.audit_entries(conn, query)


async def send_command(
    ctx: ApiContext,
    caller: Principal,
    kind: CommandType,
    body: OpsIn,
    client: str,
    args: dict[str, str] | None = None,
) -> CommandOut:
    """Audit, publish and answer one operator command (503 when it cannot be sent)."""
    namespace = body.namespace or ctx.settings.namespace
    action = f"ops.{kind.value.lower()}"
    entry = await record(
        ctx, caller, action, AuditOutcome.PENDING, namespace=namespace,
        detail=_detail(body.reason, "sending"), client=client,
    )  # fmt: skip
    if ctx.publish_command is None:
        await finish(ctx, entry, AuditOutcome.FAILED, _detail(body.reason, "no bus attached"))
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="no bus attached")
    command = _command(ctx, caller, kind, namespace, {**(args or {}), **_reason(body.reason)})
    try:
        await ctx.publish_command(command)
    except Exception as exc:  # any failure to send is reported, audited and answered with 503
        log.exception("%s by %r: publishing the command failed", action, caller.username)
        failure = f"publish failed: {type(exc).__name__}"
        await finish(ctx, entry, AuditOutcome.FAILED, _detail(body.reason, failure))
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=failure) from None
    await finish(ctx, entry, AuditOutcome.OK, _detail(body.reason, f"sent {command.event_id}"))
    log.info("%s in %s by %r (%s)", action, namespace, caller.username, command.event_id)
    return CommandOut(
        command_id=command.event_id, command=kind, namespace=namespace,
        issued_by=caller.username, audit_id=entry,
    )  # fmt: skip


def _reason(reason: str) -> dict[str, str]:
    return {"reason": reason} if reason else {}


def _command(
    ctx: ApiContext, caller: Principal, kind: CommandType, namespace: str, args: dict[str, str]
) -> Command:
    now = ctx.now_ns()
    return Command(
        event_id=ctx.ids.next_id(),
        ts_event=now,
        ts_init=now,
        source=SOURCE,
        namespace=namespace,
        command=kind,
        args=args,
        issued_by=caller.username,
    )


def _detail(reason: str, result: str) -> str:
    return f"{result}; reason: {reason}" if reason else result
