"""The schema stays portable and keeps money exact."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Dialect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateTable

from tickmesh.storage.schema import (
    DecimalText,
    StrictBigInteger,
    StrictInteger,
    StrictString,
    StrictText,
    fills,
    metadata,
)

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


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRES], ids=["sqlite", "pg"])
def test_strict_column_types_keep_plain_ddl(dialect: Dialect) -> None:
    ddl = str(CreateTable(fills).compile(dialect=dialect))

    assert "namespace VARCHAR(32) NOT NULL" in ddl
    assert "ts_event BIGINT NOT NULL" in ddl
    assert "price TEXT NOT NULL" in ddl


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity")])
def test_decimal_text_refuses_non_finite(value: Decimal) -> None:
    with pytest.raises(ValueError, match="finite"):
        DecimalText().process_bind_param(value, SQLITE)


@pytest.mark.parametrize(
    ("value", "error"),
    [("x" * 5, ValueError), ("a\x00b", ValueError), (5, TypeError), (b"ab", TypeError)],
)
def test_strict_string_refuses_what_postgresql_would(value: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        StrictString(4).process_bind_param(value, SQLITE)


def test_strict_string_passes_text_within_length_unchanged() -> None:
    assert StrictString(4).process_bind_param("abcd", POSTGRES) == "abcd"
    assert StrictText().process_bind_param("é" * 10_000, POSTGRES) == "é" * 10_000


@pytest.mark.parametrize(
    ("column", "value", "error"),
    [
        (StrictBigInteger(), 1 << 63, ValueError),
        (StrictBigInteger(), -(1 << 63) - 1, ValueError),
        (StrictInteger(), 1 << 31, ValueError),
        (StrictBigInteger(), 1.0, TypeError),
        (StrictBigInteger(), True, TypeError),
    ],
)
def test_strict_integers_refuse_out_of_range_and_non_int(
    column: StrictBigInteger | StrictInteger, value: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        column.process_bind_param(value, SQLITE)


def test_strict_integers_accept_their_extremes() -> None:
    assert StrictBigInteger().process_bind_param((1 << 63) - 1, POSTGRES) == (1 << 63) - 1
    assert StrictBigInteger().process_bind_param(-(1 << 63), POSTGRES) == -(1 << 63)
    assert StrictInteger().process_bind_param((1 << 31) - 1, POSTGRES) == (1 << 31) - 1
