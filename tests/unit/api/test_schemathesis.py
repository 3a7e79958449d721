"""Schemathesis against the app's own OpenAPI schema, in process over ASGI (no server): every
operation, fed schema-valid and schema-invalid requests with the access token of an admin (so
every role check passes) and of a viewer, answers without a server error and as documented
(status code, content type, headers and body schema).

Not checked: that every schema-valid request is accepted. Query rules OpenAPI cannot state
(``from`` before ``to``, sort keys from an allow-list, known timeframes) refuse some on purpose,
with a 422 that names what is allowed.

The app runs on schemathesis' event-loop thread, not on the test's loop. The database is
prepared in a loop of its own and closed before the app gets it, so every connection the app
uses is opened on that thread; SQLite only, since aiosqlite connections (unlike asyncpg's) may
be closed from another loop at the end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.unit.storage.conftest import make_fill
from tickmesh.api import ApiSettings, create_app
from tickmesh.api.stream import STREAM_PATH, install
from tickmesh.config import Settings
from tickmesh.core.stamp import Stamper
from tickmesh.model import Bar, Command, DenyReason, OrderDenied, Side, Signal
from tickmesh.services.hub import StreamHub
from tickmesh.storage import Database, EquitySample, StoredPosition
from tickmesh.storage.users import Role

from .conftest import CHEAP, SECRET, add_user, with_key

NS = "paper"
MINUTE = 60_000_000_000
USERS = {Role.ADMIN: "ada", Role.VIEWER: "vera"}
EXAMPLES = {Role.ADMIN: 20, Role.VIEWER: 8}
# Never generated: the live stream answers with a body that does not end while the client stays
# (keep-alive comments every 15 s), so each call would wait for the client's read timeout. It
# has its own tests (test_stream.py, test_stream_cookie.py).
EXCLUDED = {("GET", STREAM_PATH)}


@dataclass
class Fuzzed:
    app: FastAPI
    schema: schemathesis.BaseSchema
    published: list[Command]

    def token(self, role: Role) -> str:
        return self.app.state.tickmesh.tokens.issue(USERS[role], role, int(time.time()))


def _operations() -> list[tuple[str, str]]:
    """Every (method, path) of the schema, read from an app over a database never opened."""
    app = _app(Database("sqlite://"), Path("unused"), None, [])
    paths = app.openapi()["paths"]
    found = [(method.upper(), path) for path, item in paths.items() for method in item]
    return sorted(set(found) - EXCLUDED)


def _app(db: Database, data_dir: Path, config: Path | None, published: list[Command]) -> FastAPI:
    async def publish(command: Command) -> None:
        published.append(command)

    settings = Settings(secrets=with_key(SECRET), data_dir=str(data_dir))
    app = create_app(
        db, settings, api=ApiSettings(**CHEAP), publish_command=publish, config_path=config
    )
    install(app, StreamHub())
    return app


async def _prepare(url: str) -> None:
    """Users of both roles and a little of everything, so reads have rows to answer with."""
    stamp = Stamper.deterministic("fuzz", NS)
    bars = [
        Bar(**stamp(t + MINUTE), symbol=symbol, timeframe="1m", ts_open=t, open=1.5,
            high=2.25, low=1.0, close=2.0, volume=10.0, trade_count=3)
        for symbol in ("EURUSD", "SYN1")
        for t in (0, MINUTE)
    ]  # fmt: skip
    signal = Signal(
        **stamp(20, "c-1"), strategy_id="sma-1", strategy="sma_cross", symbol="EURUSD",
        side=Side.BUY, price=1.0845, timeframe="1m", quantity=Decimal("1000.5"),
    )  # fmt: skip
    denial = OrderDenied(
        **stamp(30), signal_id="sig-9", strategy_id="sma-1", symbol="EURUSD", side=Side.SELL,
        reason=DenyReason.PRICE_BAND, detail="too far",
    )  # fmt: skip
    position = StoredPosition("sma-1", "EURUSD", Decimal("0.001"), Decimal("1.1"), Decimal(0), 7)
    async with Database(url) as db:
        await db.migrate()
        for role, name in USERS.items():
            await add_user(db, name, role)
        async with db.transaction() as repo:
            await repo.add_bars(bars)
            await repo.add_signals([signal], NS)
            await repo.add_rejections([denial], NS)
            await repo.add_fills([make_fill(stamp, "f1", 10, price="0.3")], NS)
            await repo.replace_positions(NS, [position], ts=7)
            await repo.set_account(NS, Decimal(100000), Decimal("99934.9999"), ts=7)
            await repo.add_equity_samples(NS, [EquitySample(7, Decimal("100000.1"), Decimal(9))])


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    folder = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{folder / 'tickmesh.db'}"
    asyncio.run(_prepare(url))
    config = folder / "tickmesh.toml"
    config.write_text("[risk]\nmax_order_quantity = 5\n")
    db = Database(url)
    asyncio.run(db.connect())  # makes the engine; connections open later, on the app's thread
    published: list[Command] = []
    app = _app(db, folder / "data", config, published)
    try:
        yield Fuzzed(app, schemathesis.openapi.from_asgi("/openapi.json", app), published)
    finally:
        asyncio.run(db.close())


@pytest.mark.parametrize("role", [Role.ADMIN, Role.VIEWER])
@pytest.mark.parametrize(("method", "path"), _operations())
def test_operation_answers_without_server_error_as_documented(
    fuzzed: Fuzzed, role: Role, method: str, path: str
) -> None:
    operation = fuzzed.schema[path][method]
    headers = {"Authorization": f"Bearer {fuzzed.token(role)}"}
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES[role],
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def answers_as_documented(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    answers_as_documented()


def test_every_operation_but_the_stream_is_fuzzed() -> None:
    fuzzed = {f"{method} {path}" for method, path in _operations()}

    assert "POST /api/v1/ops/reload-config" in fuzzed
    assert "GET /api/v1/stream" not in fuzzed
    assert "POST /api/v1/stream/cookie" in fuzzed
