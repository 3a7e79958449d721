"""Users, refresh tokens and the audit trail in the store, and migration 0002 that adds them."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, inspect, select, text
from sqlalchemy.exc import IntegrityError

from tickmesh.core.stamp import Stamper
from tickmesh.storage import Database
from tickmesh.storage.schema import metadata
from tickmesh.storage.users import (
    AuditEntry,
    AuditOutcome,
    RefreshToken,
    Role,
    UnknownUserError,
    User,
    UserExistsError,
    UserStore,
    audit,
    normalize_username,
    users,
)

from .conftest import NS, make_fill

USER_TABLES = {"users", "refresh_tokens", "audit"}
HEAD = "0003"


async def add(db: Database, name: str = "vera", role: Role = Role.VIEWER) -> User:
    async with db.transaction() as repo:
        return await UserStore(repo.conn).add_user(name, role, "$argon2id$hash", now=10)


def token(
    name: str, family: str = "fam-1", user: str = "vera", expires: int = 1000
) -> RefreshToken:
    return RefreshToken(
        token_hash=name, family_id=family, username=user, issued_at=1, expires_at=expires
    )


async def add_tokens(db: Database, *tokens: RefreshToken) -> None:
    async with db.transaction() as repo:
        for one in tokens:
            await UserStore(repo.conn).add_refresh_token(one)


async def get_token(db: Database, token_hash: str) -> RefreshToken | None:
    async with db.reader() as repo:
        return await UserStore(repo.conn).get_refresh_token(token_hash)


# --- users ------------------------------------------------------------------------------------


async def test_added_user_reads_back_with_normalized_name(db: Database) -> None:
    await add(db, "  Vera.Smith@Desk ", Role.OPERATOR)

    async with db.reader() as repo:
        user = await UserStore(repo.conn).get_user("vera.smith@desk")

    assert user == User("vera.smith@desk", Role.OPERATOR, "$argon2id$hash", created_at=10)
    assert user is not None
    assert user.active


async def test_adding_an_existing_name_raises_user_exists(db: Database) -> None:
    await add(db, "vera")

    with pytest.raises(UserExistsError, match="'vera' already exists"):
        await add(db, "VERA")


@pytest.mark.parametrize("name", ["", "-vera", "ve ra", "v" * 65, "vera\x00", "véra"])
def test_invalid_username_is_refused_with_the_rule(name: str) -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        normalize_username(name)


async def test_role_outside_the_vocabulary_violates_the_check(db: Database) -> None:
    row = {"username": "x", "role": "root", "password_hash": "h", "created_at": 1}

    with pytest.raises(IntegrityError):
        async with db.transaction() as repo:
            await repo.conn.execute(users.insert().values(**row))


async def test_users_are_listed_by_name(db: Database) -> None:
    for name in ("otto", "ada", "vera"):
        await add(db, name)

    async with db.reader() as repo:
        names = [user.username for user in await UserStore(repo.conn).list_users()]

    assert names == ["ada", "otto", "vera"]


async def test_disabling_a_user_keeps_first_time_and_revokes_their_tokens(db: Database) -> None:
    await add(db, "vera")
    await add(db, "otto")
    await add_tokens(db, token("t-vera"), token("t-otto", family="fam-2", user="otto"))

    async with db.transaction() as repo:
        first = await UserStore(repo.conn).disable_user("vera", now=50)
    async with db.transaction() as repo:
        again = await UserStore(repo.conn).disable_user("Vera", now=60)

    assert (first.disabled_at, again.disabled_at, first.active) == (50, 50, False)
    assert (await get_token(db, "t-vera")).revoked_at == 50  # type: ignore[union-attr]
    assert (await get_token(db, "t-otto")).revoked_at is None  # type: ignore[union-attr]


async def test_disabling_an_unknown_user_raises(db: Database) -> None:
    with pytest.raises(UnknownUserError, match="nobody"):
        async with db.transaction() as repo:
            await UserStore(repo.conn).disable_user("nobody", now=1)


async def test_password_hash_can_be_replaced(db: Database) -> None:
    await add(db, "vera")

    async with db.transaction() as repo:
        await UserStore(repo.conn).set_password_hash("vera", "$argon2id$new")
    async with db.reader() as repo:
        user = await UserStore(repo.conn).get_user("vera")

    assert user is not None
    assert user.password_hash == "$argon2id$new"


def test_roles_allow_what_the_roles_below_them_allow() -> None:
    assert Role.ADMIN.allows(Role.OPERATOR)
    assert Role.ADMIN.allows(Role.VIEWER)
    assert Role.OPERATOR.allows(Role.VIEWER)
    assert not Role.OPERATOR.allows(Role.ADMIN)
    assert not Role.VIEWER.allows(Role.OPERATOR)


# --- refresh tokens ---------------------------------------------------------------------------


async def test_refresh_token_round_trips(db: Database) -> None:
    await add(db)
    stored = token("h1", expires=(1 << 62))

    await add_tokens(db, stored)

    assert await get_token(db, "h1") == stored


async def test_a_token_can_be_used_once_only(db: Database) -> None:
    await add(db)
    await add_tokens(db, token("h1"))

    async with db.transaction() as repo:
        first = await UserStore(repo.conn).use_refresh_token("h1", now=5)
    async with db.transaction() as repo:
        second = await UserStore(repo.conn).use_refresh_token("h1", now=6)

    assert (first, second) == (True, False)
    assert (await get_token(db, "h1")).used_at == 5  # type: ignore[union-attr]


async def test_revoked_token_cannot_be_used(db: Database) -> None:
    await add(db)
    await add_tokens(db, token("h1"))

    async with db.transaction() as repo:
        store = UserStore(repo.conn)
        revoked = await store.revoke_family("fam-1", now=3)
        used = await store.use_refresh_token("h1", now=4)

    assert (revoked, used) == (1, False)


async def test_revoking_a_family_leaves_other_families_alone(db: Database) -> None:
    await add(db)
    await add_tokens(db, token("a1"), token("a2"), token("b1", family="fam-2"))

    async with db.transaction() as repo:
        count = await UserStore(repo.conn).revoke_family("fam-1", now=9)

    assert count == 2
    assert (await get_token(db, "b1")).revoked_at is None  # type: ignore[union-attr]
    assert (await get_token(db, "a2")).revoked_at == 9  # type: ignore[union-attr]


async def test_token_of_unknown_user_violates_foreign_key(db: Database) -> None:
    with pytest.raises(IntegrityError):
        await add_tokens(db, token("h1", user="ghost"))


async def test_expired_tokens_are_deleted_by_housekeeping(db: Database) -> None:
    await add(db)
    await add_tokens(db, token("old", expires=100), token("new", expires=300))

    async with db.transaction() as repo:
        deleted = await UserStore(repo.conn).delete_expired_tokens(now=200)

    assert deleted == 1
    assert await get_token(db, "old") is None
    assert await get_token(db, "new") is not None


# --- audit ------------------------------------------------------------------------------------


async def test_audit_entry_is_written_then_given_its_outcome(db: Database) -> None:
    entry = AuditEntry(
        id="a1", ts=7, actor="otto", role="operator", action="ops.halt",
        outcome=AuditOutcome.PENDING, namespace=NS, detail="sending", client="10.0.0.1",
    )  # fmt: skip

    async with db.transaction() as repo:
        await UserStore(repo.conn).add_audit(entry)
    async with db.transaction() as repo:
        await UserStore(repo.conn).set_audit_outcome("a1", AuditOutcome.OK, "sent X")
    async with db.reader() as repo:
        row = (await repo.conn.execute(select(audit))).one()

    assert (row.actor, row.action, row.namespace, row.client) == (
        "otto", "ops.halt", NS, "10.0.0.1",
    )  # fmt: skip
    assert (row.outcome, row.detail, row.ts) == ("ok", "sent X", 7)


async def test_outcome_of_unknown_audit_entry_raises(db: Database) -> None:
    with pytest.raises(KeyError, match="nope"):
        async with db.transaction() as repo:
            await UserStore(repo.conn).set_audit_outcome("nope", AuditOutcome.OK, "")


# --- migration 0002 ---------------------------------------------------------------------------


async def _tables(db: Database) -> set[str]:
    async with db.reader() as repo:
        return set(await repo.conn.run_sync(lambda conn: inspect(conn).get_table_names()))


async def _version(db: Database) -> str:
    async with db.reader() as repo:
        return str(
            (await repo.conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        )


async def test_user_tables_at_head_match_declared_metadata(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    def diff(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))

    async with db.reader() as repo:
        differences = await repo.conn.run_sync(diff)

    assert await _version(db) == HEAD
    assert set(metadata.tables) >= USER_TABLES
    assert differences == []


async def test_downgrade_to_0001_drops_only_user_tables_and_upgrade_restores_them(
    db: Database, stamper: Stamper
) -> None:
    async with db.transaction() as repo:
        await repo.add_fills([make_fill(stamper, "f1", 10)], NS)
    await add(db)

    await db.downgrade("0001")
    at_0001 = await _tables(db)
    await db.migrate()

    assert not at_0001 & USER_TABLES
    assert "fills" in at_0001
    assert await _tables(db) >= USER_TABLES
    assert await _version(db) == HEAD
    async with db.reader() as repo:
        assert [f.fill_id for f in await repo.load_fills(NS)] == ["f1"]
        assert await UserStore(repo.conn).list_users() == []
