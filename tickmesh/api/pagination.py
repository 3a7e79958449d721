"""Lists: paging, sorting and filtering, the same way on every list endpoint.

A list answers ``{"items": [...], "limit": L, "offset": O, "total": T}``: ``limit`` 1..1000
(default 100), ``offset`` >= 0, ``total`` the number of items matching the filters. ``sort`` is a
comma-separated list of keys, each optionally prefixed with ``-`` for descending
(``sort=-ts_event,symbol``); the table's primary key breaks ties so pages never overlap or skip.

Each endpoint declares its query model: which keys sort, which parameters filter (equality on the
column of the same name), and which column ``from`` / ``to`` bound (``[from, to)``, ns since the
epoch or ISO 8601, UTC unless the text says otherwise). A parameter the endpoint does not know, or
a sort key it does not allow, is refused with 422 naming the allowed ones: a typo never silently
returns everything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import ColumnElement, FromClause, Row, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tickmesh.adapters.feeds.columns import parse_time_text
from tickmesh.core.errors import DataError
from tickmesh.storage.schema import StrictString, StrictText
from tickmesh.topics import validate_namespace

MAX_LIMIT = 1000
MAX_OFFSET = 1 << 40
_INT64 = 1 << 63
T = TypeVar("T")


def _time_ns(value: Any) -> Any:
    """Epoch nanoseconds (digits) or an ISO 8601 time as ns; other input is left to fail."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return parse_time_text(text)
    except (ValueError, OverflowError, DataError):
        raise ValueError(
            f"{value!r} is not a time: give ns since the epoch or ISO 8601 (2024-01-31T12:00Z)"
        ) from None


# The bounds before the validator, so the schema states them as minimum / exclusiveMaximum.
TimeNs = Annotated[int, Field(ge=-_INT64, lt=_INT64), BeforeValidator(_time_ns)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    limit: int
    offset: int
    total: int


class StrictQuery(BaseModel):
    """Query parameters of one endpoint; unknown ones are refused, naming the allowed ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_parameters(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            allowed = cls.parameter_names()
            unknown = sorted(str(key) for key in data if key not in allowed)
            if unknown:
                raise ValueError(
                    f"unknown query parameter(s) {', '.join(unknown)}; "
                    f"allowed: {', '.join(sorted(allowed))}"
                )
        return data

    @classmethod
    def parameter_names(cls) -> list[str]:
        return [field.alias or name for name, field in cls.model_fields.items()]


class PageQuery(StrictQuery):
    """``limit`` and ``offset``."""

    limit: int = Field(default=100, ge=1, le=MAX_LIMIT, description="items per page")
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET, description="items to skip")


class SortedQuery(PageQuery):
    """A page of a table: ``sort`` among ``sort_keys``, equality ``equal_filters`` on the
    columns of the same name, ``from`` / ``to`` (see :class:`TimeRange`) on ``time_column``."""

    sort_keys: ClassVar[tuple[str, ...]] = ()
    default_sort: ClassVar[str] = ""
    equal_filters: ClassVar[tuple[str, ...]] = ()
    time_column: ClassVar[str | None] = None

    sort: str | None = Field(
        default=None, description="comma-separated sort keys; prefix '-' for descending"
    )

    @field_validator("sort")
    @classmethod
    def _known_sort(cls, value: str | None) -> str | None:
        if value is not None:
            cls._parse_sort(value)
        return value

    @classmethod
    def _parse_sort(cls, text: str) -> list[tuple[str, bool]]:
        keys = [part.strip() for part in text.split(",")]
        parsed = [(key.removeprefix("-"), key.startswith("-")) for key in keys]
        unknown = [name for name, _ in parsed if name not in cls.sort_keys]
        if unknown:
            raise ValueError(
                f"unknown sort key(s) {', '.join(repr(n) for n in unknown)}; allowed: "
                f"{', '.join(cls.sort_keys)} (prefix '-' for descending)"
            )
        return parsed

    def ordering(self) -> list[tuple[str, bool]]:
        """(key, descending) pairs, the endpoint's default when ``sort`` is not given."""
        return self._parse_sort(self.sort or self.default_sort)

    def conditions(self, table: FromClause) -> list[ColumnElement[bool]]:
        """The filters given, as SQL conditions on ``table``."""
        found: list[ColumnElement[bool]] = []
        for name in self.equal_filters:
            value = getattr(self, name)
            if value is not None:
                found.append(table.c[name] == (value.value if isinstance(value, Enum) else value))
        return found + self._time_conditions(table)

    def _time_conditions(self, table: FromClause) -> list[ColumnElement[bool]]:
        start, end = getattr(self, "from_", None), getattr(self, "to", None)
        if self.time_column is None:
            return []
        column = table.c[self.time_column]
        return [
            *([] if start is None else [column >= start]),
            *([] if end is None else [column < end]),
        ]

    def order_by(self, table: FromClause, *, code_point: bool) -> list[ColumnElement[Any]]:
        """ORDER BY terms, the primary key last as tie-breaker (in the first key's direction)."""
        ordering = self.ordering()
        taken = {name for name, _ in ordering}
        tie = [(c.name, ordering[0][1]) for c in table.primary_key if c.name not in taken]
        return [_term(table, name, descending, code_point) for name, descending in ordering + tie]


def _term(table: FromClause, name: str, descending: bool, code_point: bool) -> ColumnElement[Any]:
    """One ORDER BY term that sorts alike on both databases: text by code point when
    ``code_point`` (SQLite's default; PostgreSQL needs "C"), missing values (NULL) last (a
    subquery's columns do not say whether they may be NULL: taken as nullable)."""
    column: ColumnElement[Any] = table.c[name]
    if code_point and isinstance(table.c[name].type, StrictString | StrictText):
        column = column.collate("C")
    term = column.desc() if descending else column.asc()
    return term.nulls_last() if getattr(table.c[name], "nullable", True) else term


class TimeRange(BaseModel):
    """``from`` / ``to`` bounds on the endpoint's ``time_column``."""

    from_: TimeNs | None = Field(
        default=None, alias="from", description="inclusive start: ns since the epoch or ISO 8601"
    )
    to: TimeNs | None = Field(
        default=None, description="exclusive end: ns since the epoch or ISO 8601"
    )

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if self.from_ is not None and self.to is not None and self.from_ >= self.to:
            raise ValueError(f"'from' ({self.from_}) must be before 'to' ({self.to})")
        return self


class Namespaced(BaseModel):
    """``namespace``, validated; None means the configured one."""

    namespace: str | None = Field(
        default=None, description="broker namespace; defaults to the configured one"
    )

    @field_validator("namespace")
    @classmethod
    def _valid(cls, value: str | None) -> str | None:
        return None if value is None else validate_namespace(value)


async def fetch_page(
    conn: AsyncConnection, table: FromClause, query: SortedQuery, *where: ColumnElement[bool]
) -> tuple[Sequence[Row[Any]], int]:
    """One page of ``table`` rows (a table or a subquery) matching ``where`` and the query's
    filters, and the total."""
    conditions = [*where, *query.conditions(table)]
    count = select(func.count()).select_from(table).where(*conditions)
    total = int((await conn.execute(count)).scalar_one())
    code_point = conn.dialect.name == "postgresql"
    page = (
        select(table)
        .where(*conditions)
        .order_by(*query.order_by(table, code_point=code_point))
        .limit(query.limit)
        .offset(query.offset)
    )
    rows: Sequence[Row[Any]] = (await conn.execute(page)).all()
    return rows, total


def slice_page(items: Sequence[T], query: PageQuery) -> tuple[list[T], int]:
    """One page of an in-memory list already filtered and sorted, and the total."""
    return list(items[query.offset : query.offset + query.limit]), len(items)
