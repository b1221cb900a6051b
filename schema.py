"""Bringing the database to the latest schema (Alembic migrations), and a new one to its first welcome post."""

from __future__ import annotations

import flask_migrate
from sqlalchemy import inspect

import demo
from database import db
from models import Post


def init_db() -> bool:
    """Bring the database up to the latest schema (migrations); on a new database, write the welcome post.

    Safe to run again: existing data is kept and upgraded. A database made from the models without
    migrations (the test suite does that) is marked as current. Returns whether the database was new.
    """
    tables = inspect(db.engine).get_table_names()
    is_new = Post.__tablename__ not in tables
    if not is_new and "alembic_version" not in tables:
        flask_migrate.stamp()
    flask_migrate.upgrade()
    if is_new:
        demo.add_welcome_post()
    return is_new
