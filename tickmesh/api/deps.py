"""What routes depend on: the app's context, a read connection, the caller and their role.

Every denied call gets a JSON reason: 401 (with ``WWW-Authenticate: Bearer``) when the caller is
not authenticated, 403 when they are but their role is too low. A valid token is not enough on
its own: the user must still exist, be enabled and hold the role the token names, so disabling
a user or changing their role takes effect at their next request, not when the token expires.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection

from tickmesh.api.auth import AccessTokens, Claims, InvalidTokenError, Passwords
from tickmesh.api.config import ApiSettings
from tickmesh.api.ratelimit import LoginLimiter
from tickmesh.config import Settings
from tickmesh.core.clock import Clock
from tickmesh.core.ids import IdGenerator
from tickmesh.model import Command
from tickmesh.storage import Database
from tickmesh.storage.runs import RunStore
from tickmesh.storage.users import AuditOutcome, Role, User, UserStore

PublishCommand = Callable[[Command], Awaitable[None]]
LOGIN_PATH = "/api/v1/token/login"


class DatabaseUnavailableError(Exception):
    """The database could not be reached; answered with 503 and the reason."""


StrategySource = Callable[[], list[Any]]
"""The running platform's strategy instances (``StrategyRunner.status``)."""


@dataclass(frozen=True)
class ApiContext:
    """Everything the routes share, built once by :func:`tickmesh.api.create_app`.

    ``config_path`` is the file the platform's settings were loaded from (None: defaults and
    environment only), read again by ``POST /ops/reload-config``."""

    db: Database
    settings: Settings
    api: ApiSettings
    tokens: AccessTokens
    passwords: Passwords
    limiter: LoginLimiter
    runs: RunStore
    publish_command: PublishCommand | None
    clock: Clock
    ids: IdGenerator
    strategies: StrategySource | None = None
    config_path: Path | None = None

    def now_ns(self) -> int:
        return self.clock.now_ns()


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller, as the user table has them now."""

    username: str
    role: Role
    token_id: str


def context(request: Request) -> ApiContext:
    ctx = request.app.state.tickmesh
    if not isinstance(ctx, ApiContext):
        raise TypeError("app.state.tickmesh is not an ApiContext; build the app with create_app")
    return ctx


Ctx = Annotated[ApiContext, Depends(context)]


_UNREACHABLE = (OSError, OperationalError, InterfaceError, DisconnectionError, PoolTimeoutError)


@asynccontextmanager
async def reading(ctx: ApiContext) -> AsyncIterator[AsyncConnection]:
    """A read-only unit of work; see :func:`writing` for failures."""
    async with _unit(ctx, write=False) as conn:
        yield conn


@asynccontextmanager
async def writing(ctx: ApiContext) -> AsyncIterator[AsyncConnection]:
    """A unit of work that commits when the block ends without raising. A closed or unreachable
    database, at connect time or during a statement, raises :class:`DatabaseUnavailableError`
    (answered with 503)."""
    async with _unit(ctx, write=True) as conn:
        yield conn


@asynccontextmanager
async def _unit(ctx: ApiContext, *, write: bool) -> AsyncIterator[AsyncConnection]:
    try:
        ctx.db.engine  # noqa: B018 - raises when the database is closed
    except RuntimeError as exc:
        raise DatabaseUnavailableError("database is closed") from exc
    opener = ctx.db.transaction if write else ctx.db.reader
    try:
        async with opener() as repo:
            yield repo.conn
    except _UNREACHABLE as exc:
        raise DatabaseUnavailableError(describe_failure(exc)) from exc


def describe_failure(exc: BaseException) -> str:
    """A short, secret-free account of a database failure: the error type and its first line."""
    lines = str(exc).strip().splitlines()
    name = type(exc).__name__
    return f"{name}: {lines[0][:200]}" if lines else name


def client_of(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def unauthorized(reason: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail=reason,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


bearer = OAuth2PasswordBearer(tokenUrl=LOGIN_PATH, auto_error=False)


async def principal(ctx: Ctx, token: Annotated[str | None, Depends(bearer)]) -> Principal:
    """The caller of a request bearing a valid access token of an enabled user."""
    if not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="not authenticated: send Authorization: Bearer <access token> "
            f"(get one from POST {LOGIN_PATH})",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        claims = ctx.tokens.decode(token)
    except InvalidTokenError as exc:
        raise unauthorized(str(exc)) from None
    return await holder(ctx, claims)


async def holder(ctx: ApiContext, claims: Claims) -> Principal:
    """The user ``claims`` were issued to, if they are still enabled with the same role."""
    async with reading(ctx) as conn:
        user = await UserStore(conn).get_user(claims.sub)
    return _current(user, claims)


def _current(user: User | None, claims: Claims) -> Principal:
    if user is None or not user.active:
        raise unauthorized(f"user {claims.sub!r} is disabled or no longer exists")
    if user.role is not claims.role:
        raise unauthorized("the user's role changed since the token was issued; log in again")
    return Principal(user.username, user.role, claims.jti)


def require_role(
    minimum: Role, *, audit_action: str | None = None
) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting callers with ``minimum`` or a higher role; others get 403. With
    ``audit_action`` a refusal is also written to the audit trail."""

    async def check(
        request: Request, ctx: Ctx, caller: Annotated[Principal, Depends(principal)]
    ) -> Principal:
        if caller.role.allows(minimum):
            return caller
        reason = f"role {caller.role.value!r} may not do this; it needs {minimum.value} or above"
        if audit_action is not None:
            from tickmesh.api.audit import record

            await record(
                ctx, caller, audit_action, AuditOutcome.DENIED, detail=reason,
                client=client_of(request),
            )  # fmt: skip
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=reason)

    return check
