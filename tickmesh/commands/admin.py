"""``tickmesh admin user ...``: the API's users, managed on the database the config names.

Passwords are read at a hidden prompt (typed twice) or, for scripts, from the first line of
standard input with ``--password-stdin``; they are never taken as an argument, which would leave
them in the shell history and the process list. Mistakes exit with code 2 and say why.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import typer

from tickmesh.commands.common import ConfigOpt, fail, load

if TYPE_CHECKING:
    from tickmesh.storage.users import User, UserStore

admin_app = typer.Typer(help="Administer the API: users and their roles.", no_args_is_help=True)
user_app = typer.Typer(help="API users: add, list, disable.", no_args_is_help=True)
admin_app.add_typer(user_app, name="user")

T = TypeVar("T")
RoleName = Literal["viewer", "operator", "admin"]
"""The values of :class:`tickmesh.storage.users.Role`, spelled out so the CLI starts without
importing the storage layer (a test keeps the two equal)."""
DbOpt = Annotated[
    str | None, typer.Option("--db", help="Database URL (default from the config: db_url).")
]


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="Login name (stored in lower case).")],
    role: Annotated[RoleName, typer.Option("--role", help="What the user may do.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Create a user with a role; the password is asked for (or read from stdin)."""
    from tickmesh.api.auth import Passwords
    from tickmesh.api.config import ApiSettings
    from tickmesh.storage.users import Role

    settings = load(config, {"db_url": db})
    username = _valid_name(name)

    async def existing(store: UserStore) -> User | None:
        return await store.get_user(username)

    if _run(settings.db_url, existing) is not None:
        raise fail(f"user {username!r} already exists")
    password = _read_password(password_stdin)
    try:
        password_hash = Passwords.from_settings(ApiSettings()).hash(password)
    except ValueError as exc:
        raise fail(str(exc)) from None

    async def add(store: UserStore) -> User:
        return await store.add_user(username, Role(role), password_hash, _now_ns())

    user = _run(settings.db_url, add)
    typer.echo(f"added {user.username} ({user.role.value})")


@user_app.command("list")
def user_list(
    config: ConfigOpt = None,
    db: DbOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Every user with role and status, by name."""
    settings = load(config, {"db_url": db})

    async def everyone(store: UserStore) -> list[User]:
        return await store.list_users()

    found = _run(settings.db_url, everyone)
    if as_json:
        for user in found:
            typer.echo(json.dumps(_described(user), sort_keys=True))
    elif not found:
        typer.echo("no users yet (add one: tickmesh admin user add NAME --role admin)")
    else:
        _print_table(found)


@user_app.command("disable")
def user_disable(
    name: Annotated[str, typer.Argument(help="Login name.")],
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Stop a user logging in and revoke their refresh tokens (access tokens stop working at
    their next request)."""
    settings = load(config, {"db_url": db})

    async def disable(store: UserStore) -> User:
        return await store.disable_user(name, _now_ns())

    user = _run(settings.db_url, disable)
    typer.echo(f"disabled {user.username}; their refresh tokens are revoked")


def _valid_name(name: str) -> str:
    from tickmesh.storage.users import normalize_username

    try:
        return normalize_username(name)
    except ValueError as exc:
        raise fail(str(exc)) from None


def _read_password(from_stdin: bool) -> str:
    if not from_stdin:
        password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return password
    line = sys.stdin.readline()
    password = line.removesuffix("\n").removesuffix("\r")
    if not password:
        raise fail("--password-stdin: standard input held no password (expected one line)")
    return password


def _run(url: str, action: Callable[[UserStore], Awaitable[T]]) -> T:
    """Run ``action`` in one unit of work on the migrated database at ``url``."""
    from sqlalchemy.exc import SQLAlchemyError

    from tickmesh.core.errors import OperatorError

    try:
        return asyncio.run(_in_unit(url, action))
    except (OperatorError, ValueError) as exc:
        raise fail(str(exc)) from None
    except (SQLAlchemyError, OSError) as exc:
        first_line = (str(exc).strip().splitlines() or [""])[0]
        raise fail(f"database: {type(exc).__name__}: {first_line}") from None


async def _in_unit(url: str, action: Callable[[UserStore], Awaitable[T]]) -> T:
    from tickmesh.storage import Database
    from tickmesh.storage.users import UserStore

    async with Database(url) as database:
        await database.migrate()
        async with database.transaction() as repo:
            return await action(UserStore(repo.conn))


def _now_ns() -> int:
    from tickmesh.core.clock import LiveClock

    return LiveClock().now_ns()


def _described(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "role": user.role.value,
        "created": _iso(user.created_at),
        "disabled": None if user.disabled_at is None else _iso(user.disabled_at),
    }


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).isoformat(timespec="seconds")


def _print_table(found: list[User]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="API users")
    for column in ("user", "role", "created", "status"):
        table.add_column(column)
    for user in found:
        row = _described(user)
        status = "active" if row["disabled"] is None else f"disabled {row['disabled']}"
        table.add_row(row["username"], row["role"], row["created"], status)
    Console(width=120).print(table)
