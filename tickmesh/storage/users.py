"""API users, their refresh tokens and the audit trail of operator actions.

The tables are declared here, on the same :data:`tickmesh.storage.schema.metadata` as the trading
tables, and built by migration 0002. Passwords are never stored, only their argon2 hashes (made
by :mod:`tickmesh.api.auth`); refresh tokens are never stored either, only the SHA-256 of the
random value handed out, so a copy of the database does not let anyone log in.

Refresh tokens come in families: the token a login hands out starts one, and every rotation adds
the next token to it and marks the presented one used. Presenting a used token again means it
was copied, so the caller revokes the whole family (:meth:`UserStore.revoke_family`). Marking a
token used is one conditional ``UPDATE``, so of two concurrent rotations of the same token only
one wins, on both databases.

Every time is integer nanoseconds since the epoch, passed in by the caller: storage never reads
the clock.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Row, Table, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tickmesh.core.errors import OperatorError
from tickmesh.storage.schema import StrictBigInteger, StrictString, StrictText, metadata


class Role(StrEnum):
    """What a user may do; each role may do everything the roles before it may."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, required: Role) -> bool:
        return self.rank >= required.rank


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}
ROLES = tuple(role.value for role in Role)


class AuditOutcome(StrEnum):
    """``PENDING`` is written before the action runs, so no action goes unrecorded."""

    PENDING = "pending"
    OK = "ok"
    FAILED = "failed"
    DENIED = "denied"


OUTCOMES = tuple(outcome.value for outcome in AuditOutcome)
USERNAME_MAX = 64
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.@-]{0,63}$")

users = Table(
    "users",
    metadata,
    Column("username", StrictString(USERNAME_MAX), primary_key=True),
    Column("role", StrictString(16), nullable=False),
    Column("password_hash", StrictText, nullable=False),
    Column("created_at", StrictBigInteger, nullable=False),
    Column("disabled_at", StrictBigInteger, nullable=True),
    CheckConstraint(f"role IN {ROLES!r}", name="role"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", StrictString(64), primary_key=True),
    Column("family_id", StrictString(64), nullable=False),
    Column("username", StrictString(USERNAME_MAX), ForeignKey("users.username"), nullable=False),
    Column("issued_at", StrictBigInteger, nullable=False),
    Column("expires_at", StrictBigInteger, nullable=False),
    Column("used_at", StrictBigInteger, nullable=True),
    Column("revoked_at", StrictBigInteger, nullable=True),
    Index(None, "family_id"),
    Index(None, "username"),
)

audit = Table(
    "audit",
    metadata,
    Column("id", StrictString(64), primary_key=True),
    Column("ts", StrictBigInteger, nullable=False),
    Column("actor", StrictString(USERNAME_MAX), nullable=False),
    Column("role", StrictString(16), nullable=False),
    Column("action", StrictString(64), nullable=False),
    Column("namespace", StrictString(32), nullable=False, default=""),
    Column("outcome", StrictString(16), nullable=False),
    Column("detail", StrictText, nullable=False, default=""),
    Column("client", StrictString(64), nullable=False, default=""),
    CheckConstraint(f"outcome IN {OUTCOMES!r}", name="outcome"),
    Index(None, "ts"),
)

TABLES = (users, refresh_tokens, audit)


class UserExistsError(OperatorError):
    """A user of that name already exists."""


class UnknownUserError(OperatorError):
    """No user of that name exists."""


def normalize_username(name: str) -> str:
    """The stored form of ``name`` (lower case, surrounding blanks dropped); raises ValueError
    naming the rule when the name cannot be a username."""
    candidate = name.strip().lower()
    if not _USERNAME.match(candidate):
        raise ValueError(
            f"invalid username {name!r}: use 1-{USERNAME_MAX} letters, digits, '_', '.', '@' "
            "or '-', starting with a letter or digit"
        )
    return candidate


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: Role
    password_hash: str
    created_at: int
    disabled_at: int | None = None

    @property
    def active(self) -> bool:
        return self.disabled_at is None


@dataclass(frozen=True, slots=True)
class RefreshToken:
    token_hash: str
    family_id: str
    username: str
    issued_at: int
    expires_at: int
    used_at: int | None = None
    revoked_at: int | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who (``actor`` with ``role``, from ``client``) did what (``action`` in ``namespace``),
    when (``ts``), and how it ended (``outcome``, ``detail``)."""

    id: str
    ts: int
    actor: str
    role: str
    action: str
    outcome: AuditOutcome
    namespace: str = ""
    detail: str = ""
    client: str = ""


class UserStore:
    """Users, refresh tokens and audit entries over one connection, inside one unit of work:
    ``async with db.transaction() as repo: store = UserStore(repo.conn)``."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # --- users ------------------------------------------------------------------------------

    async def add_user(self, username: str, role: Role, password_hash: str, now: int) -> User:
        """Create a user; the name is normalized first. Raises :class:`UserExistsError`."""
        user = User(normalize_username(username), Role(role), password_hash, now)
        if await self.get_user(user.username) is not None:
            raise UserExistsError(f"user {user.username!r} already exists")
        try:
            await self.conn.execute(users.insert().values(**_user_row(user)))
        except IntegrityError:  # created concurrently since the check above
            raise UserExistsError(f"user {user.username!r} already exists") from None
        return user

    async def get_user(self, username: str) -> User | None:
        query = select(users).where(users.c.username == username)
        row = (await self.conn.execute(query)).first()
        return None if row is None else _user_from_row(row)

    async def list_users(self) -> list[User]:
        """Every user, by name."""
        rows = (await self.conn.execute(select(users).order_by(users.c.username))).all()
        return [_user_from_row(row) for row in rows]

    async def set_password_hash(self, username: str, password_hash: str) -> None:
        await self._update_user(username, password_hash=password_hash)

    async def disable_user(self, username: str, now: int) -> User:
        """Stop ``username`` logging in and revoke its refresh tokens; disabling a disabled user
        keeps the first time. Raises :class:`UnknownUserError`."""
        user = await self._require_user(username)
        if user.active:
            await self._update_user(user.username, disabled_at=now)
            user = replace(user, disabled_at=now)
        await self.revoke_user_tokens(user.username, now)
        return user

    async def _require_user(self, username: str) -> User:
        user = await self.get_user(normalize_username(username))
        if user is None:
            raise UnknownUserError(f"no user {username!r}")
        return user

    async def _update_user(self, username: str, **values: Any) -> None:
        statement = update(users).where(users.c.username == username).values(**values)
        if (await self.conn.execute(statement)).rowcount != 1:
            raise UnknownUserError(f"no user {username!r}")

    # --- refresh tokens -----------------------------------------------------------------------

    async def add_refresh_token(self, token: RefreshToken) -> None:
        await self.conn.execute(refresh_tokens.insert().values(**asdict(token)))

    async def get_refresh_token(self, token_hash: str) -> RefreshToken | None:
        query = select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
        row = (await self.conn.execute(query)).first()
        return None if row is None else RefreshToken(**row._asdict())

    async def use_refresh_token(self, token_hash: str, now: int) -> bool:
        """Mark the token used; False when it was already used or revoked (by a concurrent
        rotation, say): exactly one caller gets True for a token."""
        table = refresh_tokens
        statement = (
            update(table)
            .where(
                table.c.token_hash == token_hash,
                table.c.used_at.is_(None),
                table.c.revoked_at.is_(None),
            )
            .values(used_at=now)
        )
        return bool((await self.conn.execute(statement)).rowcount == 1)

    async def revoke_family(self, family_id: str, now: int) -> int:
        """Revoke every token of the family not yet revoked; returns how many."""
        return await self._revoke(refresh_tokens.c.family_id == family_id, now)

    async def revoke_user_tokens(self, username: str, now: int) -> int:
        return await self._revoke(refresh_tokens.c.username == username, now)

    async def _revoke(self, where: Any, now: int) -> int:
        table = refresh_tokens
        statement = update(table).where(where, table.c.revoked_at.is_(None)).values(revoked_at=now)
        return int((await self.conn.execute(statement)).rowcount)

    async def delete_expired_tokens(self, now: int) -> int:
        """Housekeeping: drop tokens past their expiry, which can no longer be used at all."""
        statement = refresh_tokens.delete().where(refresh_tokens.c.expires_at <= now)
        return int((await self.conn.execute(statement)).rowcount)

    # --- audit ----------------------------------------------------------------------------------

    async def add_audit(self, entry: AuditEntry) -> None:
        row = {**asdict(entry), "outcome": entry.outcome.value}
        await self.conn.execute(audit.insert().values(**row))

    async def set_audit_outcome(self, entry_id: str, outcome: AuditOutcome, detail: str) -> None:
        statement = (
            update(audit).where(audit.c.id == entry_id).values(outcome=outcome.value, detail=detail)
        )
        if (await self.conn.execute(statement)).rowcount != 1:
            raise KeyError(f"no audit entry {entry_id!r}")


def _user_row(user: User) -> dict[str, Any]:
    return {**asdict(user), "role": user.role.value}


def _user_from_row(row: Row[Any]) -> User:
    return User(**{**row._asdict(), "role": Role(row.role)})


__all__ = [
    "ROLES",
    "TABLES",
    "AuditEntry",
    "AuditOutcome",
    "RefreshToken",
    "Role",
    "UnknownUserError",
    "User",
    "UserExistsError",
    "UserStore",
    "audit",
    "normalize_username",
    "refresh_tokens",
    "users",
]
