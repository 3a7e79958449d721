"""The REST API as an ASGI app: :func:`create_app` builds it around a connected database.

Serve it with uvicorn from the platform (``uvicorn.Server(uvicorn.Config(app, host=...,
port=...))``) or on its own. The caller owns the database: it connects and migrates it before
serving and closes it afterwards; the app only reads and writes through it.

Routes: ``/health`` and ``/ready`` (open), ``/docs`` and ``/openapi.json`` (open), and under
``/api/v1``: ``token/*`` (open), the read endpoints (viewer and up), ``ops/*`` (operator and
up) and ``audit`` (admin). CORS is off unless ``cors_origins`` lists origins.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, status
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from tickmesh import __version__
from tickmesh.api import dashboard
from tickmesh.api.auth import AccessTokens, Passwords
from tickmesh.api.config import ApiSettings, signing_secret
from tickmesh.api.deps import (
    ApiContext,
    DatabaseUnavailableError,
    PublishCommand,
    StrategySource,
    require_role,
)
from tickmesh.api.ratelimit import LoginLimiter
from tickmesh.api.routes import backtests, health, ops, reads, strategies, tokens
from tickmesh.api.schemas import Reason
from tickmesh.config import Settings
from tickmesh.core.clock import LiveClock
from tickmesh.core.ids import IdGenerator
from tickmesh.storage import Database
from tickmesh.storage.runs import RunStore
from tickmesh.storage.users import Role

log = logging.getLogger(__name__)
API_PREFIX = "/api/v1"


def create_app(
    db: Database,
    settings: Settings,
    *,
    runs_dir: Path | None = None,
    api: ApiSettings | None = None,
    publish_command: PublishCommand | None = None,
    strategies: StrategySource | None = None,
    config_path: str | Path | None = None,
) -> FastAPI:
    """The API over ``db`` (connected and migrated by the caller).

    ``runs_dir`` holds stored backtest runs (default ``<data_dir>/runs``, where ``tickmesh
    backtest`` saves them). ``publish_command`` sends operator commands to the bus; without
    one, ``ops/*`` answers 503. ``config_path`` is the file ``settings`` were loaded from, which
    ``ops/reload-config`` reads again (without one it answers 409). Raises
    :class:`~tickmesh.core.errors.ConfigError` when no JWT signing key is configured (see
    :mod:`tickmesh.api.config`).
    """
    api = api if api is not None else settings.api
    app = FastAPI(
        title="tickmesh",
        version=__version__,
        summary="Read the trading state, run operator actions.",
        docs_url="/docs",
        redoc_url=None,
    )
    context = _context(db, settings, api, runs_dir, publish_command)
    app.state.tickmesh = dataclasses.replace(
        context,
        strategies=strategies,
        config_path=None if config_path is None else Path(config_path),
    )
    _add_error_handlers(app)
    if api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(api.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
            max_age=600,
        )
    app.include_router(health.router)
    app.include_router(_api_router())
    dashboard.install(app)
    return app


def _context(
    db: Database,
    settings: Settings,
    api: ApiSettings,
    runs_dir: Path | None,
    publish_command: PublishCommand | None,
) -> ApiContext:
    clock = LiveClock()
    return ApiContext(
        db=db,
        settings=settings,
        api=api,
        tokens=AccessTokens(
            signing_secret(settings, api), api.issuer, api.audience, api.access_token_ttl_s
        ),
        passwords=Passwords.from_settings(api),
        limiter=LoginLimiter(api.login_max_failures, api.login_window_s),
        runs=RunStore(runs_dir if runs_dir is not None else Path(settings.data_dir) / "runs"),
        publish_command=publish_command,
        clock=clock,
        ids=IdGenerator(clock),
    )


_DENIALS: dict[int | str, dict[str, Any]] = {
    401: {"model": Reason, "description": "no valid access token, with the reason"},
    403: {"model": Reason, "description": "the caller's role is too low, with the reason"},
    422: {"description": "bad parameters: the reason names what is allowed"},
    503: {"model": Reason, "description": "the database is unavailable"},
}


def _api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    viewer = [Depends(require_role(Role.VIEWER))]
    router.include_router(tokens.router)
    router.include_router(reads.router, dependencies=viewer, responses=_DENIALS)
    router.include_router(backtests.router, dependencies=viewer, responses=_DENIALS)
    router.include_router(ops.router, responses=_DENIALS)
    router.include_router(strategies.router, responses=_DENIALS)
    return router


def _add_error_handlers(app: FastAPI) -> None:
    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable serving %s: %s", request.url.path, exc)
        return JSONResponse(
            {"detail": f"database unavailable: {exc}"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("error serving %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(
            {"detail": "internal error; the server log has the details"},
            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    app.add_exception_handler(DatabaseUnavailableError, unavailable)
    app.add_exception_handler(Exception, internal)
