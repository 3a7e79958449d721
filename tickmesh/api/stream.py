"""``GET /api/v1/stream``: live events as Server-Sent Events; ``/stream/ticket`` and
``/stream/cookie`` authenticate browsers.

Each message is ``id: <n>``, ``event: <stream>`` (one of :data:`~tickmesh.services.hub.STREAMS`)
and ``data: <the event as JSON>`` (money as exact strings); ``?topics=bars,fills`` picks streams
(all by default). A comment line goes out every ``keepalive_s`` of silence so proxies keep the
connection open. Two more events carry no stream item:

- ``reset``: sent first when the id to resume from is no longer buffered (or unknown); reload
  the state over REST. Its ``id`` is the newest id at that moment, so the next reconnect resumes
  from there.
- ``disconnect``: the server ends the stream, ``data`` says why (the client fell too far behind,
  or the server is stopping); reconnect with the last id to resume.

Resuming: the ``Last-Event-ID`` header (browsers send it when ``EventSource`` reconnects by
itself) or ``?last_event_id=`` (when opening a new ``EventSource``); the header wins.

Authentication: ``Authorization: Bearer <access token>``, or, since ``EventSource`` cannot send
headers, ``?ticket=`` with a ticket from ``POST /stream/ticket``: random, bound to the user,
single use and short-lived. Because it is single use, a browser's automatic reconnect with the
same URL is refused (401) and ``EventSource`` gives up; the page then gets a new ticket and opens
a new ``EventSource`` with ``last_event_id``. Tickets live in this process's memory.

Or a cookie: ``POST /stream/cookie`` (bearer) sets ``tickmesh_stream``, HttpOnly, SameSite=Strict,
``Path=/api/v1/stream`` (so no other route ever receives it), Secure over https. It holds a JWT
like an access token but for another audience (``<api audience>/stream``) and a short lifetime
(``cookie_ttl_s``): the stream refuses an access token in the cookie, and every other route
refuses the cookie's token as a bearer token. Unlike a ticket it may be used again until it
expires, so ``EventSource``'s own reconnects work; the page posts again before ``expires_in``.
A bearer token or a ticket, when sent, wins over the cookie. ``DELETE /stream/cookie`` clears
it (no token needed: it only expires the caller's own cookie).

:func:`install` adds these routes to an app made by :func:`tickmesh.api.create_app`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

import anyio
import msgspec
from fastapi import (
    APIRouter,
    Cookie,
    Depends,
    FastAPI,
    Header,
    HTTPException,
    Query,
    Request,
    status,
)
from pydantic import BaseModel
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tickmesh.api.auth import AccessTokens, InvalidTokenError
from tickmesh.api.deps import (
    ApiContext,
    Ctx,
    Principal,
    bearer,
    holder,
    principal,
    reading,
    require_role,
    unauthorized,
)
from tickmesh.api.schemas import Reason
from tickmesh.api.tickets import TICKET_PATH, TicketBook, TicketError, TicketLimitError
from tickmesh.services.hub import STREAMS, HubClosedError, StreamHub, StreamItem, StreamLimitError
from tickmesh.services.hub import Subscription as HubSubscription
from tickmesh.storage.users import Role, UserStore

log = logging.getLogger(__name__)

STREAM_PATH = "/api/v1/stream"
COOKIE_PATH = "/api/v1/stream/cookie"
COOKIE_NAME = "tickmesh_stream"
COOKIE_AUDIENCE = "{audience}/stream"
KEEPALIVE = b": keep-alive\n\n"
MAX_TOPICS_CHARS = 200
MAX_ID_DIGITS = 19
CHUNK_ITEMS = 64


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """Timing of the stream: silence before a keep-alive comment, ticket lifetime, outstanding
    tickets per user, how long a goodbye may wait on a client that does not read, the reconnect
    delay suggested to browsers (``retry:``) and the stream cookie's lifetime."""

    keepalive_s: float = 15.0
    recheck_s: float = 30.0
    ticket_ttl_s: float = 30.0
    max_tickets_per_user: int = 16
    goodbye_timeout_s: float = 1.0
    retry_ms: int = 3000
    cookie_ttl_s: int = 300

    def __post_init__(self) -> None:
        positive = (
            "keepalive_s", "recheck_s", "ticket_ttl_s", "max_tickets_per_user",
            "goodbye_timeout_s",
        )  # fmt: skip
        for name in (*positive, "cookie_ttl_s"):
            if getattr(self, name) <= 0:
                raise ValueError(
                    f"StreamOptions.{name} must be positive, not {getattr(self, name)}"
                )
        if self.retry_ms < 0:
            raise ValueError(f"StreamOptions.retry_ms must not be negative, not {self.retry_ms}")


@dataclass(frozen=True, slots=True)
class StreamState:
    """What :func:`install` keeps on the app for these routes."""

    hub: StreamHub
    options: StreamOptions
    tickets: TicketBook
    cookies: AccessTokens


def install(
    app: FastAPI,
    hub: StreamHub,
    options: StreamOptions | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Serve ``hub`` at :data:`STREAM_PATH` (tickets at :data:`TICKET_PATH`, cookies at
    :data:`COOKIE_PATH`) on ``app``, built by :func:`tickmesh.api.create_app`. ``clock``
    (seconds, monotonic) times tickets."""
    if hasattr(app.state, "tickmesh_stream"):
        raise RuntimeError("the event stream is already installed on this app")
    chosen = options if options is not None else StreamOptions()
    tickets = TicketBook(chosen.ticket_ttl_s, chosen.max_tickets_per_user, clock)
    tokens = _api_context(app).tokens
    cookies = tokens.for_audience(
        COOKIE_AUDIENCE.format(audience=tokens.audience), chosen.cookie_ttl_s
    )
    app.state.tickmesh_stream = StreamState(hub, chosen, tickets, cookies)
    app.include_router(router)


def _api_context(app: FastAPI) -> ApiContext:
    ctx = getattr(app.state, "tickmesh", None)
    if not isinstance(ctx, ApiContext):
        raise TypeError("install the event stream on an app built by tickmesh.api.create_app")
    return ctx


def stream_state(request: Request) -> StreamState:
    state = getattr(request.app.state, "tickmesh_stream", None)
    if not isinstance(state, StreamState):
        raise TypeError("app.state.tickmesh_stream is not set; call tickmesh.api.stream.install")
    return state


State = Annotated[StreamState, Depends(stream_state)]
router = APIRouter(prefix="/api/v1", tags=["stream"])


class TicketOut(BaseModel):
    ticket: str
    expires_in: float


@router.post(
    "/stream/ticket",
    responses={
        401: {"model": Reason, "description": "no valid access token, with the reason"},
        429: {"model": Reason, "description": "too many unused tickets"},
    },
)
async def issue_ticket(
    state: State,
    caller: Annotated[Principal, Depends(require_role(Role.VIEWER))],
    response: Response,
) -> TicketOut:
    """A single-use ticket opening one stream as the caller: ``GET /stream?ticket=...``."""
    try:
        value = state.tickets.issue(caller)
    except TicketLimitError as exc:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, detail=str(exc)) from None
    response.headers["Cache-Control"] = "no-store"
    return TicketOut(ticket=value, expires_in=state.tickets.ttl_s)


class CookieOut(BaseModel):
    expires_in: int


@router.post(
    "/stream/cookie",
    responses={401: {"model": Reason, "description": "no valid access token, with the reason"}},
)
async def issue_cookie(
    request: Request,
    ctx: Ctx,
    state: State,
    caller: Annotated[Principal, Depends(require_role(Role.VIEWER))],
    response: Response,
) -> CookieOut:
    """Set the HttpOnly stream cookie for the caller: ``EventSource`` then needs no ticket."""
    value = state.cookies.issue(caller.username, caller.role, ctx.now_ns() // 1_000_000_000)
    response.set_cookie(
        COOKIE_NAME, value, max_age=state.cookies.ttl_s, **_cookie_attributes(request)
    )
    response.headers["Cache-Control"] = "no-store"
    return CookieOut(expires_in=state.cookies.ttl_s)


@router.delete("/stream/cookie", status_code=status.HTTP_204_NO_CONTENT)
async def clear_cookie(request: Request, response: Response) -> None:
    """Expire the stream cookie (logging out)."""
    response.delete_cookie(COOKIE_NAME, **_cookie_attributes(request))


def _cookie_attributes(request: Request) -> dict[str, Any]:
    secure = request.url.scheme == "https"
    return {"path": STREAM_PATH, "secure": secure, "httponly": True, "samesite": "strict"}


async def stream_caller(
    ctx: Ctx,
    state: State,
    token: Annotated[str | None, Depends(bearer)],
    ticket: Annotated[
        str | None, Query(description=f"single-use ticket from POST {TICKET_PATH}")
    ] = None,
    cookie: Annotated[
        str | None, Cookie(alias=COOKIE_NAME, description=f"set by POST {COOKIE_PATH}")
    ] = None,
) -> Principal:
    """The caller, by access token or by ticket (not both), else by the stream cookie, with
    viewer rights or more."""
    if token and ticket is not None:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail="send either Authorization: Bearer or ?ticket=, not both",
        )
    if ticket is not None:
        caller = await _ticket_holder(ctx, state, ticket)
    elif token:
        caller = await principal(ctx, token)
    elif cookie:
        caller = await _cookie_holder(ctx, state, cookie)
    else:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="not authenticated: send Authorization: Bearer <access token>, or "
            f"?ticket= with a ticket from POST {TICKET_PATH}, or the cookie from POST "
            f"{COOKIE_PATH} (for EventSource)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not caller.role.allows(Role.VIEWER):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="the stream needs viewer or above")
    return caller


async def _cookie_holder(ctx: ApiContext, state: StreamState, value: str) -> Principal:
    try:
        claims = state.cookies.decode(value)
    except InvalidTokenError as exc:
        raise unauthorized(
            f"stream cookie refused ({exc}); get a new one from POST {COOKIE_PATH}"
        ) from None
    return await holder(ctx, claims)


async def _ticket_holder(ctx: Ctx, state: StreamState, value: str) -> Principal:
    try:
        held = state.tickets.redeem(value)
    except TicketError as exc:
        raise unauthorized(str(exc)) from None
    async with reading(ctx) as conn:
        user = await UserStore(conn).get_user(held.username)
    if user is None or not user.active:
        raise unauthorized(f"user {held.username!r} is disabled or no longer exists")
    if user.role is not held.role:
        raise unauthorized("the user's role changed since the ticket was issued; log in again")
    return Principal(user.username, user.role, held.token_id)


@router.get(
    "/stream",
    response_class=Response,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "the live event stream"},
        400: {"model": Reason, "description": "both a token and a ticket were sent"},
        401: {"model": Reason, "description": "no valid token, ticket or cookie, with the reason"},
        422: {"model": Reason, "description": "unknown topic or bad event id, with the reason"},
        429: {"model": Reason, "description": "the user has too many open streams"},
        503: {"model": Reason, "description": "the server is stopping"},
    },
)
async def stream(
    ctx: Ctx,
    state: State,
    caller: Annotated[Principal, Depends(stream_caller)],
    topics: Annotated[
        str | None, Query(description=f"comma-separated streams: {', '.join(STREAMS)}")
    ] = None,
    last_event_id: Annotated[
        str | None, Query(description="resume after this id (the header wins)")
    ] = None,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> Response:
    """Live events of the chosen streams, resuming after the last id seen when given one."""
    streams = parse_topics(topics)
    after = parse_event_id(last_event_id_header or last_event_id)
    try:
        sub = state.hub.subscribe(caller.username, streams, after)
    except StreamLimitError as exc:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, detail=str(exc)) from None
    except HubClosedError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from None
    log.info("event stream opened by %r: %s", caller.username, ",".join(sorted(streams)))
    return EventStream(state.hub, sub, state.options, partial(_refusal, ctx, caller))


async def _refusal(ctx: ApiContext, caller: Principal) -> str | None:
    """Why ``caller`` may no longer read the stream (disabled, gone, role lowered), or None.
    Users are managed from other processes (``tickmesh admin``), so open streams ask again."""
    async with reading(ctx) as conn:
        user = await UserStore(conn).get_user(caller.username)
    if user is None or not user.active:
        return f"user {caller.username!r} is disabled or no longer exists"
    if not user.role.allows(Role.VIEWER):
        return f"user {caller.username!r} may no longer read the stream"
    return None


def parse_topics(raw: str | None) -> frozenset[str]:
    """The streams named in ``raw`` (all when absent); 422 naming the allowed ones otherwise."""
    allowed = ", ".join(STREAMS)
    if raw is None:
        return frozenset(STREAMS)
    if len(raw) > MAX_TOPICS_CHARS:
        raise _unprocessable(f"topics is longer than {MAX_TOPICS_CHARS} characters; use {allowed}")
    names = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in names if name not in STREAMS]
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5])
        raise _unprocessable(f"unknown topics {shown}; choose from {allowed}")
    if not names:
        raise _unprocessable(f"topics names no stream; choose from {allowed}")
    return frozenset(names)


def parse_event_id(raw: str | None) -> int | None:
    """The id to resume after, or None; 422 unless it is a non-negative integer."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS):
        raise _unprocessable(
            "Last-Event-ID / last_event_id must be a non-negative integer id from this stream"
        )
    return int(text)


def _unprocessable(reason: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=reason)


def frame(item: StreamItem) -> bytes:
    """One item as an SSE message (its JSON is a single line: newlines in it are escaped)."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (item.id, item.stream.encode(), item.data)


def notice(event: str, data: dict[str, object], event_id: int | None = None) -> bytes:
    """A message of the server's own (``reset``, ``disconnect``), not a stream item."""
    head = b"" if event_id is None else b"id: %d\n" % event_id
    return head + b"event: %s\ndata: %s\n\n" % (event.encode(), msgspec.json.encode(data))


class EventStream(Response):
    """Writes one subscription until the client leaves or the hub ends it.

    Three things run at once and the first to finish stops the others: the writer, a listener
    for the client's disconnect, and a watch on the subscription's end. The watch matters when
    the writer is stuck on a client that stopped reading: the hub cuts it, the writer is
    cancelled, and a goodbye is tried for ``goodbye_timeout_s``; if the client still does not
    read, the response is left unfinished and the server closes the connection."""

    media_type = "text/event-stream"

    def __init__(
        self,
        hub: StreamHub,
        sub: HubSubscription,
        options: StreamOptions,
        refusal: Callable[[], Awaitable[str | None]] | None = None,
    ) -> None:
        self.status_code = status.HTTP_200_OK
        self.background = None
        self._hub = hub
        self._sub = sub
        self._options = options
        self._refusal = refusal
        self._client_left = False
        self.init_headers({"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            async with anyio.create_task_group() as group:

                async def first(job: Callable[[], Awaitable[object]]) -> None:
                    await job()
                    group.cancel_scope.cancel()

                group.start_soon(first, partial(self._write, send))
                group.start_soon(first, partial(self._until_client_leaves, receive))
                group.start_soon(first, self._sub.ended.wait)
                if self._refusal is not None:
                    group.start_soon(self._recheck, self._refusal)
            reason = self._sub.end_reason
            if reason is not None and not self._client_left:
                await self._goodbye(send, reason)
        finally:
            self._hub.unsubscribe(self._sub)
            log.info("event stream of %r closed: %s", self._sub.user, self._sub.end_reason)

    async def _write(self, send: Send) -> None:
        """Backlog (or reset) first, then live items, a keep-alive after each silence. Servers
        that report a gone client by raising OSError end it like a disconnect."""
        sub = self._sub
        try:
            opening = b"retry: %d\n\n" % self._options.retry_ms
            if sub.reset is not None:
                opening += notice("reset", {"reason": sub.reset}, sub.resume_id)
            await self._body(send, opening)
            await self._items(send, sub.backlog)
            while True:
                batch = await sub.next_batch(self._options.keepalive_s)
                if sub.end_reason is not None:
                    return
                if batch:
                    await self._items(send, batch)
                else:
                    await self._body(send, KEEPALIVE)
        except OSError:
            self._client_left = True

    async def _items(self, send: Send, items: list[StreamItem]) -> None:
        """``items`` in sends of at most :data:`CHUNK_ITEMS`, so a long backlog of large
        snapshots is never joined into one huge buffer."""
        for start in range(0, len(items), CHUNK_ITEMS):
            await self._body(send, b"".join(map(frame, items[start : start + CHUNK_ITEMS])))

    async def _recheck(self, refusal: Callable[[], Awaitable[str | None]]) -> None:
        """Every ``recheck_s``, ask whether the user may still read; if not, end the stream
        with the reason (a failed check, e.g. the database down, keeps it open)."""
        while True:
            await anyio.sleep(self._options.recheck_s)
            try:
                reason = await refusal()
            except Exception as exc:
                log.warning("event stream of %r: access check failed: %s", self._sub.user, exc)
                continue
            if reason is not None:
                self._hub.unsubscribe(self._sub, reason)  # ends it: the goodbye says why
                return

    async def _until_client_leaves(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self._client_left = True

    async def _goodbye(self, send: Send, reason: str) -> None:
        last = notice("disconnect", {"reason": reason})
        with anyio.move_on_after(self._options.goodbye_timeout_s) as waited:
            await send({"type": "http.response.body", "body": last, "more_body": False})
        if waited.cancelled_caught:
            log.info("event stream of %r: client not reading; closing it", self._sub.user)

    @staticmethod
    async def _body(send: Send, data: bytes) -> None:
        await send({"type": "http.response.body", "body": data, "more_body": True})
