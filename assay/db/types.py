"""Column types and the UTC time helpers every part shares.

Everything Assay stores is a UTC instant. :class:`UTCDateTime` is the one place that says so for the database:
it stores ``TIMESTAMP WITH TIME ZONE`` (PostgreSQL) or SQLite's text timestamp, and hands back an *aware* UTC
datetime on both (SQLite returns naive values, PostgreSQL returns them in the session's time zone), so code
reading a row never has to repair the time zone itself. :func:`utc_now`, :func:`aware` and :func:`iso_z` are
the helpers the parts used to copy into each module.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["UTCDateTime", "aware", "iso_z", "utc_now"]


def utc_now() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime; a naive one is taken to be UTC already (as everything stored is)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso_z(value: datetime) -> str:
    """``2026-01-31T12:00:00Z``: the second-precision UTC form used in pages, exports and JSON answers."""
    return aware(value).strftime("%Y-%m-%dT%H:%M:%SZ")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp column that stores and returns aware UTC datetimes on SQLite and PostgreSQL alike.

    The schema is unchanged (``DateTime(timezone=True)``, what the migrations create); only the Python values
    are normalised: a naive value bound is taken as UTC, an aware one is converted to UTC, and a value read
    back is aware UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return aware(value) if isinstance(value, datetime) else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return aware(value) if isinstance(value, datetime) else value
