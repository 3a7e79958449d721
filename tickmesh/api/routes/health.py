"""Liveness and readiness, without authentication, for process managers and load balancers."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from sqlalchemy import select

from tickmesh.api.deps import Ctx, DatabaseUnavailableError, describe_failure, reading
from tickmesh.storage.users import users

router = APIRouter(tags=["health"])
READY_TIMEOUT_S = 2.0


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is up and answering; says nothing about its dependencies."""
    return {"status": "ok"}


@router.get(
    "/ready",
    responses={503: {"description": "the database does not answer, with the reason"}},
)
async def ready(ctx: Ctx) -> JSONResponse:
    """Whether the API can serve: the database answers and holds the users table (migrated)."""
    reason = await _database_problem(ctx)
    if reason is not None:
        return JSONResponse(
            {"status": "unavailable", "detail": f"database: {reason}"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return JSONResponse({"status": "ready"})


async def _database_problem(ctx: Ctx) -> str | None:
    try:
        async with asyncio.timeout(READY_TIMEOUT_S), reading(ctx) as conn:
            await conn.execute(select(users.c.username).limit(1))
    except DatabaseUnavailableError as exc:
        return str(exc)
    except TimeoutError:
        return f"no answer within {READY_TIMEOUT_S:g} s"
    except Exception as exc:  # a readiness probe reports every failure instead of raising
        return describe_failure(exc)
    return None
