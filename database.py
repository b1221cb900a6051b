"""The database itself: the SQLAlchemy object, SQLite tuned for a web server, times kept in UTC, and whether it answers.

models.py holds the tables; everything that queries imports ``db`` from here.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC
from datetime import datetime
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.engine import Dialect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import Pool
from sqlalchemy.sql import Select
from sqlalchemy.types import TypeDecorator

from sqlite_writers import WriterQueue
from sqlite_writers import is_write

WRITERS = "inkwell_writers"  # the key of a SQLite file connection's WriterQueue in its pool record's info


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


db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})  # a request ends after its commit


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    """Make SQLite fit a web server: concurrent readers (WAL), writers queued rather than asleep
    (sqlite_writers.py), waits instead of errors, real foreign keys."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    database_file = cursor.execute("PRAGMA database_list").fetchone()[2]
    cursor.close()
    if database_file:  # not an in-memory database, which has one connection and nobody to queue with
        connection_record.info[WRITERS] = WriterQueue(database_file)


@event.listens_for(Engine, "before_cursor_execute")
def _queue_sqlite_writer(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    """Wait for this SQLite file's writer before, if any, at a transaction's first write."""
    queue = conn.info.get(WRITERS)
    if queue is not None and not queue.is_holding and is_write(statement):
        queue.wait_turn()


@event.listens_for(Pool, "checkin")
def _end_sqlite_writer_turn(dbapi_connection: Any, connection_record: Any) -> None:
    """End the turn when the connection goes back to the pool, just after its transaction is committed or rolled
    back. (SQLAlchemy's own commit event comes before the commit: the next writer would find SQLite still busy.)"""
    queue = connection_record.info.get(WRITERS) if connection_record is not None else None
    if queue is not None:
        queue.done()


@event.listens_for(Pool, "close")
def _close_writer_queue(dbapi_connection: Any, connection_record: Any) -> None:
    queue = connection_record.info.pop(WRITERS, None)
    if queue is not None:
        queue.close()


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
