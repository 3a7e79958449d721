"""Authentication primitives: password hashing, access tokens (JWT) and refresh-token values.

Access tokens are HS256 JWTs. Decoding pins the algorithm (a token saying ``alg: none`` or any
other algorithm is refused before its signature is looked at) and requires every claim the API
relies on: ``exp iat aud iss sub role jti``; audience and issuer must be the configured ones.
They live minutes: revocation is by refresh token, and the role is checked against the stored
user on every request (:mod:`tickmesh.api.deps`).

Refresh tokens are opaque: 256 random bits, URL-safe text. Only their SHA-256 is stored; a slow
hash buys nothing for a value that cannot be guessed.

Passwords are hashed with argon2id. Hashing and checking take tens of megabytes and a fraction
of a second on purpose, so they run in worker threads, a few at a time, never on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from starlette.concurrency import run_in_threadpool

from tickmesh.api.config import ApiSettings
from tickmesh.storage.users import Role

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("exp", "iat", "aud", "iss", "sub", "role", "jti")
PASSWORD_MIN = 12
PASSWORD_MAX = 1024


class InvalidTokenError(Exception):
    """An access token that must not be honoured; ``str()`` says why, without the token."""


def check_password(password: str) -> str:
    """``password`` if it may be set; raises ValueError saying what is wrong with it."""
    if len(password) < PASSWORD_MIN:
        raise ValueError(f"password too short: use at least {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        raise ValueError(f"password too long: use at most {PASSWORD_MAX} characters")
    if not password.strip():
        raise ValueError("password must not be only blanks")
    return password


class Passwords:
    """argon2id hashing with the configured cost; checks run in threads, ``concurrency`` at once
    (each one holds ``memory_kib`` of memory while it runs)."""

    def __init__(self, hasher: PasswordHasher, concurrency: int = 2) -> None:
        self._hasher = hasher
        self._slots = asyncio.Semaphore(concurrency)
        self._dummy: str | None = None

    @classmethod
    def from_settings(cls, api: ApiSettings) -> Passwords:
        return cls(
            PasswordHasher(
                time_cost=api.argon2_time_cost,
                memory_cost=api.argon2_memory_kib,
                parallelism=api.argon2_parallelism,
            )
        )

    def hash(self, password: str) -> str:
        """The hash to store for a new password (blocking; checks the password rules first)."""
        return self._hasher.hash(check_password(password))

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches. With no hash (unknown user) a dummy hash is checked, so
        the answer takes as long and an attacker cannot tell which names exist."""
        target = password_hash if password_hash is not None else await self._dummy_hash()
        async with self._slots:
            matched = await run_in_threadpool(self._matches, target, password)
        return matched and password_hash is not None

    async def rehashed(self, password_hash: str, password: str) -> str | None:
        """A new hash when ``password_hash`` was made with other costs than the current ones."""
        if not self._hasher.check_needs_rehash(password_hash):
            return None
        async with self._slots:
            return await run_in_threadpool(self._hasher.hash, password)

    def _matches(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = await run_in_threadpool(self._hasher.hash, secrets.token_urlsafe(16))
        return self._dummy


@dataclass(frozen=True, slots=True)
class Claims:
    """What a valid access token says: who (``sub``), as what (``role``), until when (``exp``)."""

    sub: str
    role: Role
    jti: str
    iat: int
    exp: int


class AccessTokens:
    """Issues and checks HS256 access tokens for one issuer and audience."""

    def __init__(self, secret: str, issuer: str, audience: str, ttl_s: int) -> None:
        self._secret = secret
        self.issuer = issuer
        self.audience = audience
        self.ttl_s = ttl_s

    def for_audience(self, audience: str, ttl_s: int) -> AccessTokens:
        """Tokens signed with the same key for another audience and lifetime. Each audience
        refuses the other's tokens, so a token minted for one purpose is useless for another."""
        return AccessTokens(self._secret, self.issuer, audience, ttl_s)

    def issue(self, username: str, role: Role, now_s: int) -> str:
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": username,
            "role": role.value,
            "jti": secrets.token_hex(16),
            "iat": now_s,
            "exp": now_s + self.ttl_s,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str) -> Claims:
        """The claims of a valid token; raises :class:`InvalidTokenError` saying why not."""
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.InvalidTokenError as exc:
            raise InvalidTokenError(_reason(exc)) from None
        return _claims(payload)


def _reason(exc: jwt.InvalidTokenError) -> str:
    reasons: list[tuple[type[jwt.InvalidTokenError], str]] = [
        (jwt.ExpiredSignatureError, "token expired"),
        (jwt.InvalidAlgorithmError, f"token algorithm not allowed (only {ALGORITHM})"),
        (jwt.InvalidSignatureError, "token signature does not verify"),
        (jwt.InvalidAudienceError, "token audience not accepted"),
        (jwt.InvalidIssuerError, "token issuer not accepted"),
        (jwt.ImmatureSignatureError, "token issued in the future"),
        (jwt.MissingRequiredClaimError, f"token lacks a required claim ({exc})"),
    ]
    for kind, reason in reasons:
        if isinstance(exc, kind):
            return reason
    return "token malformed"


def _claims(payload: dict[str, object]) -> Claims:
    sub, role, jti = payload["sub"], payload["role"], payload["jti"]
    iat, exp = payload["iat"], payload["exp"]
    if not (isinstance(sub, str) and isinstance(role, str) and isinstance(jti, str)):
        raise InvalidTokenError("token claims sub, role and jti must be strings")
    if role not in {r.value for r in Role}:
        raise InvalidTokenError(f"token role {role!r} is not a role")
    if not (isinstance(iat, int | float) and isinstance(exp, int | float)):
        raise InvalidTokenError("token claims iat and exp must be numbers")
    return Claims(sub=sub, role=Role(role), jti=jti, iat=int(iat), exp=int(exp))


def new_refresh_value() -> str:
    """A fresh refresh token as handed to the client."""
    return secrets.token_urlsafe(32)


def refresh_hash(value: str) -> str:
    """What is stored for (and looked up by) a refresh token value."""
    return hashlib.sha256(value.encode()).hexdigest()


def new_family_id() -> str:
    return secrets.token_hex(16)
