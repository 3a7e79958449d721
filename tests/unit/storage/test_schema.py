"""The schema stays portable and keeps money exact."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Dialect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateTable

from tickmesh.storage.schema import DecimalText, fills, metadata

SQLITE: Dialect = sqlite.dialect()
POSTGRES: Dialect = postgresql.dialect()  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRES], ids=["sqlite", "pg"])
def test_every_table_compiles_for_dialect(dialect: Dialect) -> None:
    ddl = [str(CreateTable(table).compile(dialect=dialect)) for table in metadata.sorted_tables]

    assert len(ddl) == len(metadata.tables)


def test_money_columns_are_text_not_numeric_on_sqlite() -> None:
    ddl = str(CreateTable(fills).compile(dialect=SQLITE))

    assert "price TEXT NOT NULL" in ddl
    assert "NUMERIC" not in ddl


def test_upsert_compiles_for_postgresql() -> None:
    statement = postgresql.insert(fills).on_conflict_do_nothing()

    assert "ON CONFLICT DO NOTHING" in str(statement.compile(dialect=POSTGRES))


@pytest.mark.parametrize("value", [0.1, True, "0.1"])
def test_decimal_text_refuses_non_decimal(value: object) -> None:
    with pytest.raises(TypeError, match="Decimal"):
        DecimalText().process_bind_param(value, SQLITE)


def test_decimal_text_round_trips_exact_string() -> None:
    column = DecimalText()
    value = Decimal("-12345678901234567890.12345678")

    stored = column.process_bind_param(value, SQLITE)
    loaded = column.process_result_value(stored, SQLITE)

    assert (stored, loaded) == ("-12345678901234567890.12345678", value)
