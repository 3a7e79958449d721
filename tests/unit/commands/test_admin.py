"""``tickmesh admin user``: add (prompt or stdin), list, disable; mistakes exit 2 saying why."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from typer.testing import CliRunner, Result

from tickmesh.commands.admin import admin_app
from tickmesh.storage import Database
from tickmesh.storage.users import User, UserStore

PASSWORD = "correct horse battery staple"
Invoke = Callable[..., Result]


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tickmesh.db'}"


@pytest.fixture
def invoke(url: str) -> Invoke:
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None) -> Result:
        return runner.invoke(admin_app, ["user", *args, "--db", url], input=stdin)

    return run


def plain(output: str) -> str:
    """The output without the error box's borders and line wrapping."""
    return " ".join(output.replace("│", " ").split())


def stored_users(url: str) -> list[User]:
    async def read() -> list[User]:
        async with Database(url) as db:
            await db.migrate()
            async with db.reader() as repo:
                return await UserStore(repo.conn).list_users()

    return asyncio.run(read())


def test_add_with_password_stdin_stores_an_argon2_hash(invoke: Invoke, url: str) -> None:
    result = invoke("add", "Vera", "--role", "operator", "--password-stdin", stdin=PASSWORD + "\n")

    (user,) = stored_users(url)
    assert result.exit_code == 0, result.output
    assert "added vera (operator)" in result.output
    assert (user.username, user.role.value, user.active) == ("vera", "operator", True)
    assert user.password_hash.startswith("$argon2id$")
    assert PasswordHasher().verify(user.password_hash, PASSWORD)
    assert PASSWORD not in result.output


def test_add_at_the_prompt_asks_twice(invoke: Invoke, url: str) -> None:
    result = invoke("add", "ada", "--role", "admin", stdin=f"{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert result.output.count("Password") == 1
    assert "Repeat for confirmation" in result.output
    assert [u.username for u in stored_users(url)] == ["ada"]


def test_add_with_mismatched_prompts_adds_nobody(invoke: Invoke, url: str) -> None:
    result = invoke("add", "ada", "--role", "admin", stdin=f"{PASSWORD}\n{PASSWORD}x\n")

    assert result.exit_code != 0
    assert "do not match" in result.output
    assert stored_users(url) == []


def test_bad_role_exits_2_naming_the_roles(invoke: Invoke, url: str) -> None:
    result = invoke("add", "vera", "--role", "root", "--password-stdin", stdin=PASSWORD)

    assert result.exit_code == 2
    assert "'root' is not one of 'viewer', 'operator', 'admin'" in plain(result.output)
    assert stored_users(url) == []


def test_duplicate_user_exits_2(invoke: Invoke) -> None:
    invoke("add", "vera", "--role", "viewer", "--password-stdin", stdin=PASSWORD)

    result = invoke("add", "VERA", "--role", "admin", "--password-stdin", stdin=PASSWORD)

    assert result.exit_code == 2
    assert "'vera' already exists" in plain(result.output)


@pytest.mark.parametrize(
    ("name", "stdin", "reason"),
    [
        ("vera", "short\n", "too short"),
        ("vera", "\n", "held no password"),
        ("no spaces", PASSWORD, "invalid username"),
    ],
)
def test_bad_name_or_password_exits_2_saying_why(
    invoke: Invoke, url: str, name: str, stdin: str, reason: str
) -> None:
    result = invoke("add", name, "--role", "viewer", "--password-stdin", stdin=stdin)

    assert result.exit_code == 2
    assert reason in plain(result.output)
    assert stored_users(url) == []


def test_list_shows_every_user_as_json_lines(invoke: Invoke) -> None:
    invoke("add", "otto", "--role", "operator", "--password-stdin", stdin=PASSWORD)
    invoke("add", "ada", "--role", "admin", "--password-stdin", stdin=PASSWORD)

    result = invoke("list", "--json")

    rows = [json.loads(line) for line in result.output.splitlines()]
    assert result.exit_code == 0
    assert [(r["username"], r["role"], r["disabled"]) for r in rows] == [
        ("ada", "admin", None),
        ("otto", "operator", None),
    ]
    assert all("password" not in key for row in rows for key in row)


def test_list_without_users_says_how_to_add_one(invoke: Invoke) -> None:
    result = invoke("list")

    assert result.exit_code == 0
    assert "tickmesh admin user add" in result.output


def test_disable_marks_the_user_disabled(invoke: Invoke, url: str) -> None:
    invoke("add", "vera", "--role", "viewer", "--password-stdin", stdin=PASSWORD)

    result = invoke("disable", "vera")
    listed = invoke("list")

    (user,) = stored_users(url)
    assert result.exit_code == 0
    assert "disabled vera" in result.output
    assert not user.active
    assert "disabled" in listed.output


def test_disable_unknown_user_exits_2(invoke: Invoke) -> None:
    result = invoke("disable", "nobody")

    assert result.exit_code == 2
    assert "no user 'nobody'" in plain(result.output)


def test_cli_role_names_are_the_stored_roles() -> None:
    from typing import get_args

    from tickmesh.commands.admin import RoleName
    from tickmesh.storage.users import ROLES

    assert get_args(RoleName) == ROLES
