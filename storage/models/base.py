"""Declarative base and the column types every model shares."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, MetaData, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike.

    SQLite has no time zone type and SQLAlchemy returns naive values from it; storing UTC and
    re-attaching UTC on the way out means domain code only ever sees aware datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# What neither database can hold in a text value: NUL (PostgreSQL refuses it) and unpaired
# surrogates (not encodable as UTF-8; a JSON escape such as "\ud800" produces one).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def storable(text: str) -> str:
    """``text`` with every character neither database can hold (NUL, unpaired surrogates)
    replaced by U+FFFD; anything else unchanged. Idempotent, and cheap when nothing is wrong
    (two C-speed checks; the substitution runs only when there is something to replace)."""
    if "\x00" not in text:
        if text.isascii():
            return text
        try:
            text.encode("utf-8")  # fails only on a surrogate
        except UnicodeEncodeError:
            pass
        else:
            return text
    return _UNSTORABLE.sub(REPLACEMENT, text)


class CleanText(TypeDecorator[str]):
    """Text that any client may have written: normalised with :func:`storable` on the way in,
    so an insert or a lookup never fails on content. Where the exact original matters, the
    writer keeps it apart (``InboundMessage.body_original``, ``TelegramUpdate.raw``)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else storable(value)


class CleanString(TypeDecorator[str]):
    """A bounded string any client may have written: normalised like :class:`CleanText` and
    cut to the column's length (PostgreSQL refuses a longer value; SQLite would keep it).
    Fields we act on are checked at the edge first (a 400 with a reason); this is the floor
    under fields we only record."""

    impl = String
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else storable(value[: self.length])


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}
