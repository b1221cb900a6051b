"""Bringing the database to the latest schema (Alembic migrations), and a new one to its first welcome post."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask
from flask import current_app
from sqlalchemy import inspect

import demo
from database import db
from models import Post

MIGRATIONS = Path(__file__).parent / "migrations"


def use_migrations(app: Flask) -> None:
    """Bind Flask-Migrate (Alembic) to ``app``, importing it only now: it costs a worker 11 MB and 0.1 s to
    start, and only the ``flask`` command and :func:`init_db` migrate, never a request."""
    if "migrate" in app.extensions:
        return
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # a line per plugin, every command
    from flask_migrate import Migrate

    Migrate(app, db, directory=str(MIGRATIONS), render_as_batch=True)


def init_db() -> bool:
    """Bring the database up to the latest schema (migrations); on a new database, write the welcome post.

    Safe to run again: existing data is kept and upgraded. A database made from the models without
    migrations (the test suite does that) is marked as current. Returns whether the database was new.
    """
    use_migrations(current_app)
    import flask_migrate

    tables = inspect(db.engine).get_table_names()
    is_new = Post.__tablename__ not in tables
    if not is_new and "alembic_version" not in tables:
        flask_migrate.stamp()
    flask_migrate.upgrade()
    if is_new:
        demo.add_welcome_post()
    return is_new
