"""Logging in, rotating refresh tokens and logging out.

A login checks the password (throttled per username and client, see
:mod:`tickmesh.api.ratelimit`) and hands out a short-lived access token and a refresh token that
starts a new family. A refresh trades a refresh token for a new pair in the same family and marks
the old one used; presenting a used token again revokes the family, because one of the two
parties presenting it is not the user. Every refusal says why, except a failed login, which
never says whether the name or the password was wrong.
"""

from __future__ import annotations

import logging

from fastapi import HTTPException, status

from tickmesh.api.auth import new_family_id, new_refresh_value, refresh_hash
from tickmesh.api.deps import ApiContext, reading, unauthorized, writing
from tickmesh.api.schemas import TokenOut
from tickmesh.storage.users import USERNAME_MAX, RefreshToken, User, UserStore, normalize_username

log = logging.getLogger(__name__)
NS_PER_S = 1_000_000_000
BAD_CREDENTIALS = "invalid username or password"


async def login(ctx: ApiContext, username: str, password: str, client: str) -> TokenOut:
    """A token pair for valid credentials; 429 with Retry-After while throttled, else 401."""
    key = username.strip().lower()[:USERNAME_MAX]
    wait = ctx.limiter.retry_after(key, client)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"too many failed logins for this user from this client; retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    user = await _find(ctx, username)
    matched = await ctx.passwords.verify(None if user is None else user.password_hash, password)
    if user is None or not matched or not user.active:
        ctx.limiter.failed(key, client)
        log.info("login refused for %r from %s", key, client)
        raise unauthorized(BAD_CREDENTIALS)
    ctx.limiter.succeeded(key, client)
    new_hash = await ctx.passwords.rehashed(user.password_hash, password)
    async with writing(ctx) as conn:
        store = UserStore(conn)
        if new_hash is not None:
            await store.set_password_hash(user.username, new_hash)
        pair = await _issue(ctx, store, user, new_family_id())
    log.info("login of %r (%s) from %s", user.username, user.role.value, client)
    return pair


async def refresh(ctx: ApiContext, value: str) -> TokenOut:
    """A new pair for a valid refresh token, which is used up; 401 saying why otherwise. A
    refusal that revokes tokens commits the revocation before answering."""
    async with writing(ctx) as conn:
        store = UserStore(conn)
        outcome = await _rotate(store, refresh_hash(value), ctx.now_ns())
        if isinstance(outcome, str):
            refusal = outcome
        else:
            return await _issue(ctx, store, *outcome)
    raise unauthorized(refusal)


async def logout(ctx: ApiContext, value: str) -> None:
    """Revoke every token of the refresh token's family; an unknown token changes nothing."""
    async with writing(ctx) as conn:
        store = UserStore(conn)
        token = await store.get_refresh_token(refresh_hash(value))
        if token is not None:
            await store.revoke_family(token.family_id, ctx.now_ns())


async def _find(ctx: ApiContext, username: str) -> User | None:
    try:
        name = normalize_username(username)
    except ValueError:
        return None
    async with reading(ctx) as conn:
        return await UserStore(conn).get_user(name)


async def _rotate(store: UserStore, token_hash: str, now: int) -> tuple[User, str] | str:
    """The user and family to issue a new pair to, or why not (revoking when it must)."""
    token = await store.get_refresh_token(token_hash)
    if token is None:
        return "refresh token not recognised; log in again"
    if token.revoked_at is not None:
        return "refresh token revoked; log in again"
    if token.used_at is None and token.expires_at <= now:
        return "refresh token expired; log in again"
    if token.used_at is not None or not await store.use_refresh_token(token_hash, now):
        await store.revoke_family(token.family_id, now)
        log.warning("refresh token reused for %r: its whole family is revoked", token.username)
        return "refresh token already used: every token of this login is revoked; log in again"
    user = await store.get_user(token.username)
    if user is None or not user.active:
        await store.revoke_family(token.family_id, now)
        return f"user {token.username!r} is disabled or no longer exists"
    return user, token.family_id


async def _issue(ctx: ApiContext, store: UserStore, user: User, family_id: str) -> TokenOut:
    now = ctx.now_ns()
    value = new_refresh_value()
    ttl = ctx.api.refresh_token_ttl_s
    await store.add_refresh_token(
        RefreshToken(
            token_hash=refresh_hash(value),
            family_id=family_id,
            username=user.username,
            issued_at=now,
            expires_at=now + ttl * NS_PER_S,
        )
    )
    return TokenOut(
        access_token=ctx.tokens.issue(user.username, user.role, now // NS_PER_S),
        expires_in=ctx.tokens.ttl_s,
        refresh_token=value,
        refresh_expires_in=ttl,
    )
