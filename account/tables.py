"""The tables only accounts use: recovery codes, failed logins per network and login sessions.

``User`` stays in models.py (posts and comments point at it); these tables add their collections to it below, so
that models.py needs nothing from this package. May import only models.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from database import UTCDateTime
from database import db
from database import now_utc
from models import User


class RecoveryCode(db.Model):
    """A one-time code that stands in for the authenticator app, kept only as a hash (see two_factor.py)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)


class LoginFailures(db.Model):
    """Wrong passwords and codes in a row for one account from one network (a keyed hash, as for comments), so
    a stranger's failures lock out the stranger's network, not the owner elsewhere."""

    __tablename__ = "login_failures"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    network: Mapped[str] = mapped_column(String(32), primary_key=True)
    failed: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginSession(db.Model):
    """One browser's login, named in its session and remember-me cookies: logging out deletes it, so a copy of
    either cookie kept from before no longer logs anyone in. Only a hash of the token is stored."""

    __tablename__ = "login_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


# Each account's rows as collections of its User (``user.recovery_codes``…): the database deletes them with the
# account, and what is taken out of a collection is deleted.
User.recovery_codes = relationship(RecoveryCode, cascade="all, delete-orphan", passive_deletes=True)
User.login_failures = relationship(LoginFailures, cascade="all, delete-orphan", passive_deletes=True)
User.login_sessions = relationship(LoginSession, cascade="all, delete-orphan", passive_deletes=True)
