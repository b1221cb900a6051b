"""The database itself: the SQLAlchemy object, SQLite tuned for a web server, times kept in UTC, and whether it answers.

models.py holds the tables; everything that queries imports ``db`` from here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from functools import cache
from typing import Any
from typing import TypeVar

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy.engine import Dialect
from sqlalchemy.engine import Engine
from sqlalchemy.engine import Result
from sqlalchemy.engine import Row
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.sql import Executable
from sqlalchemy.sql import Insert
from sqlalchemy.sql import Select
from sqlalchemy.types import TypeDecorator

from sqlite_writers import QueuedConnection


def now_utc() -> datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Store datetimes as UTC and always hand back timezone-aware values.

    SQLite has no time zones, so values are kept there as naive UTC; PostgreSQL gets ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("Inkwell stores only timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


M = TypeVar("M", bound=Base)

db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})  # a request ends after its commit


@event.listens_for(Engine, "do_connect")
def _queue_sqlite_writers(dialect: Dialect, connection_record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
    """Open SQLite files with connections whose writers take turns rather than sleep (sqlite_writers.py)."""
    if dialect.name == "sqlite":
        cparams.setdefault("factory", QueuedConnection)


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    """Make SQLite fit a web server: concurrent readers (WAL), waits instead of errors, real foreign keys."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def database_problem() -> str | None:
    """Return why the database cannot be reached, in one line, or ``None`` when it answers.

    The one check of "is the database up": ``/healthz``, ``init-db`` and gunicorn's start-up all ask it.
    """
    try:
        with db.engine.connect() as connection:
            connection.execute(select(1))
    except SQLAlchemyError as error:
        reason = str(error.orig if getattr(error, "orig", None) else error).strip().splitlines()[0]
        return f"Cannot use the database {db.engine.url.render_as_string(hide_password=True)}: {reason}"
    return None


MAX_DATABASE_ID = 2**31 - 1  # an INTEGER column on PostgreSQL; SQLite takes more, but no id gets near


def id_from(text: str) -> int | None:
    """Read a database id typed into a form or an address, or ``None`` when it cannot be one.

    PostgreSQL refuses to compare an INTEGER column with a larger number, so such input must stop here.
    """
    if not text.isdecimal() or len(text) > len(str(MAX_DATABASE_ID)):
        return None
    number = int(text)
    return number if 0 < number <= MAX_DATABASE_ID else None


def count_of(query: Select[Any]) -> int:
    """Return how many rows ``query`` gives, counted by the database."""
    return db.session.scalar(select(func.count()).select_from(query.subquery())) or 0


def rows_of(statement: Executable, parameters: dict[str, Any]) -> Result[Any]:
    """Run a statement that reads columns, not objects, on the session's connection and transaction.

    The session's own ``execute`` costs twice as much for such a statement (about 25 µs more), which counts on
    what runs for every comment posted; it also flushes pending changes first, which is left to the caller.
    """
    return db.session.connection().execute(statement, parameters)


def insert_row(instance: Base) -> None:
    """Insert a new object's row with one statement on the session's transaction and keep the object, with its id
    and every default as stored, in the session as if loaded from it.

    The session's flush does the same in ten times as many steps, which counted on the blog's busiest write (a
    comment posted). Its events do not run, so the caller does what they would have done for this row: a comment's
    post is counted (comment_counts.count_new_comment) and its cached pages noted (pagecache.note_new_comment).
    """
    mapper = inspect(type(instance))
    given = {column.key: instance.__dict__[key] for key, column in _columns_of(mapper) if key in instance.__dict__}
    row = db.session.connection().execute(_insert_returning_every_column(mapper.local_table), given).one()
    _keep_as_loaded(instance, zip((key for key, _ in _columns_of(mapper)), row, strict=True))


def object_from_columns(model: type[M], row: Row[Any]) -> M:
    """Return the session's object for a row read by columns (its primary key among them), as if a query had
    loaded it: the columns not read, and its relationships, are read when first used, in one statement.

    The ORM's own query builds a loader for every column of the table each time it runs, and reads them all; a
    view that needs a few columns of one row in the common case (a comment posted needs four of its post's)
    paid for that on every request. The row's labels are the model's attribute names.
    """
    return object_from_values(model, row._asdict())


def loaded_columns(instance: Any) -> dict[str, Any]:
    """The values of the columns of ``instance`` that are loaded (not its relationships, nor deferred columns)."""
    loaded = inspect(instance).dict
    return {
        attribute.key: loaded[attribute.key]
        for attribute in inspect(type(instance)).column_attrs
        if attribute.key in loaded
    }


def object_from_values(model: type[M], values: Mapping[str, Any]) -> M:
    """Return the session's object for column ``values`` (its primary key among them) as :func:`object_from_columns`
    does: for a row's values kept from an earlier request (blog.shown_post)."""
    mapper = inspect(model)
    identity = mapper.identity_key_from_primary_key([values[key] for key in _primary_key_names(mapper)])
    kept = db.session.identity_map.get(identity)
    if kept is not None:
        return kept  # type: ignore[no-any-return]
    instance = mapper.class_manager.new_instance()
    _keep_as_loaded(instance, values.items())
    return instance  # type: ignore[no-any-return]


def _keep_as_loaded(instance: Any, values: Iterable[tuple[str, Any]]) -> None:
    """Set ``values`` on ``instance`` as a query sets what it loads (no change for a flush to write), mark the
    attributes not given to be read when first used, and keep the object in the session."""
    for key, value in values:
        instance.__dict__[key] = value
    make_transient_to_detached(instance)
    db.session.add(instance)


@cache
def _primary_key_names(mapper: Any) -> tuple[str, ...]:
    return tuple(mapper.get_property_by_column(column).key for column in mapper.primary_key)


@cache
def _columns_of(mapper: Any) -> tuple[tuple[str, Any], ...]:
    """A mapped class's attributes and their columns, in the table's order."""
    by_column = {attribute.columns[0]: attribute.key for attribute in mapper.column_attrs}
    return tuple((by_column[column], column) for column in mapper.local_table.columns)


@cache
def _insert_returning_every_column(table: Any) -> Insert:
    return insert(table).returning(*table.columns)
