"""The settings an administrator changes at /admin/settings (settings.EDITABLE_SETTINGS), kept in the database and
used by every worker of every server from their next request, without a restart.

``current_app.config`` stays the one place everything reads a setting from: :class:`SiteConfig` answers an
editable setting with its saved value, when it has one, and otherwise with its default (settings.py,
instance/config.py, the environment). Secrets and the database's address are never editable, so never stored.

Reading them costs no SQL on most requests: each worker keeps the values it read with the ``settings``
generation it read first (pagecache.py), and reads them again once that generation has changed. A save renews it
after its commit, on the store every worker and server shares, and every cached page depends on it too.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

from flask import Config
from flask import Flask
from flask import current_app
from flask import g
from flask.globals import _cv_app
from sqlalchemy import false
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from account.tables import User
from admin.tables import SiteSetting
from database import db
from database import now_utc
from pagecache import SETTINGS
from pagecache import generation_of
from settings import EDITABLE_SETTINGS

log = logging.getLogger(__name__)

WORKER_COPY = "inkwell_site_settings"  # app.extensions: (generation, values) as this worker last read them


class SiteConfig(Config):
    """The app's settings, where an editable setting saved at /admin/settings takes the place of its default."""

    def __getitem__(self, key: str) -> Any:
        if key in EDITABLE_SETTINGS:
            # The context itself, not current_app and g: their proxies were most of the cost of a setting read, and
            # a comment posted reads a dozen.
            context = _cv_app.get(None)
            if context is not None and context.app.config is self:
                saved = context.g.__dict__.get("site_settings")
                if saved is None:
                    saved = saved_settings()
                if key in saved:
                    return saved[key]
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default


def init_app(app: Flask) -> None:
    """Read the saved settings afresh in each request, even one sharing an app context with an earlier one."""
    app.before_request(forget_settings_read)


def forget_settings_read() -> None:
    """Returns nothing: a value returned before a request would be its answer (it was: the settings, as JSON,
    to a request made while another ran in the same app context)."""
    g.pop("site_settings", None)


def saved_settings() -> dict[str, Any]:
    """Return the settings saved at /admin/settings, read once a request, and from the database only when the
    ``settings`` generation changed since this worker last read them (or the shared store does not answer)."""
    if "site_settings" in g:
        return g.site_settings
    app = current_app._get_current_object()
    generation = generation_of(SETTINGS)  # before the rows: a save after this point renews it again
    kept = app.extensions.get(WORKER_COPY)
    if generation is not None and kept is not None and kept[0] == generation:
        values = kept[1]
    else:
        read = _read_saved_settings()
        values = read if read is not None else {}  # the defaults for this request only: read again next time
        app.extensions[WORKER_COPY] = (generation, read) if generation is not None and read is not None else None
    g.site_settings = values
    return values


def _read_saved_settings() -> dict[str, Any] | None:
    """Read the rows on a connection of their own: a setting may be read while the session cannot run SQL
    (just after a commit), and a database not yet upgraded (no table) must leave the defaults in place.
    ``None`` when the database does not answer."""
    try:
        with db.engine.connect() as connection:
            rows = connection.execute(select(SiteSetting.key, SiteSetting.value)).all()
    except SQLAlchemyError as error:
        log.warning("Cannot read the saved settings, using the defaults: %s", error)
        return None
    values = {}
    for key, stored in rows:
        value = json.loads(stored)
        if isinstance(value, EDITABLE_SETTINGS.get(key, type(None))):  # a key or type from elsewhere is ignored
            values[key] = value
    return values


def default_settings() -> dict[str, Any]:
    """The editable settings' values from settings.py, instance/config.py and the environment."""
    return {key: dict.__getitem__(current_app.config, key) for key in EDITABLE_SETTINGS}


def current_settings() -> dict[str, Any]:
    """The editable settings' values in use now."""
    return {key: current_app.config[key] for key in EDITABLE_SETTINGS}


@dataclass(frozen=True)
class Change:
    """One setting changed by a save."""

    key: str
    old: Any
    new: Any


@dataclass(frozen=True)
class ChangedMeanwhile:
    """A setting another save changed after the form was shown: its value now, who saved it and when."""

    key: str
    value: Any
    by: str
    at: datetime


class SettingsConflict(Exception):
    """The settings changed after the form was shown; nothing was saved."""

    def __init__(self, changed: list[ChangedMeanwhile], version: str) -> None:
        super().__init__("The settings changed after the form was shown.")
        self.changed = changed
        self.version = version


def settings_version() -> str:
    """Return a mark of the saved settings as they are now, for the form to send back (see :func:`save_settings`).

    The time of the latest save: every save moves it forward (see ``_save_time``).
    """
    latest = db.session.scalar(select(func.max(SiteSetting.updated_at)))
    return latest.isoformat() if latest is not None else ""


def save_settings(values: dict[str, Any], user: User, version: str) -> list[Change]:
    """Save the editable settings that differ from those in use, and return what changed.

    ``version`` is :func:`settings_version` as it was when the form was shown.

    :raise SettingsConflict: when another save came in since then; nothing is saved, so that neither person's
        values are lost without them seeing both.
    """
    _lock_settings()
    version_now = settings_version()
    if version_now != version:
        changed = _changed_since(version)
        db.session.rollback()
        raise SettingsConflict(changed, version_now)
    rows = {row.key: row for row in db.session.scalars(select(SiteSetting))}
    current = default_settings() | {key: json.loads(row.value) for key, row in rows.items()}
    changes = [Change(key, current[key], values[key]) for key in EDITABLE_SETTINGS if values[key] != current[key]]
    stamp = _save_time()
    for change in changes:
        row = rows.get(change.key) or SiteSetting(key=change.key)
        row.value, row.updated_at, row.updated_by = json.dumps(change.new), stamp, user.id
        db.session.add(row)
    db.session.commit()  # renews the settings generation (pagecache.note_changes): every worker reads them again
    g.pop("site_settings", None)
    current_app.extensions.pop(WORKER_COPY, None)  # this one at once, even if the shared store missed the renewal
    return changes


def _lock_settings() -> None:
    """Make saves of the settings wait for each other, so that the check of the version and the save after it are
    one step: two administrators saving at the same moment cannot both pass the check."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("LOCK TABLE site_settings IN SHARE ROW EXCLUSIVE MODE"))
    else:  # SQLite: a write, even of nothing, takes the database's one write lock until the commit
        no_row = update(SiteSetting).where(false()).values(key=SiteSetting.key)
        db.session.execute(no_row, execution_options={"synchronize_session": False})


def _save_time() -> datetime:
    """Now, or just after the latest save if this server's clock is behind: the version must move forward."""
    latest = db.session.scalar(select(func.max(SiteSetting.updated_at)))
    now = now_utc()
    return now if latest is None or now > latest else latest + timedelta(microseconds=1)


def _changed_since(version: str) -> list[ChangedMeanwhile]:
    """The settings saved after ``version`` (all of them, for a version the form did not send)."""
    query = select(SiteSetting).where(SiteSetting.key.in_(EDITABLE_SETTINGS)).order_by(SiteSetting.updated_at)
    shown_at = _time_of(version)
    if shown_at is not None:
        query = query.where(SiteSetting.updated_at > shown_at)
    return [
        ChangedMeanwhile(
            row.key, json.loads(row.value), row.user.display_name if row.user else "someone", row.updated_at
        )
        for row in db.session.scalars(query)
    ]


def _time_of(version: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(version)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
