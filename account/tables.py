"""The accounts: ``User`` (someone who writes) and the rows only accounts use: recovery codes, failed logins per
network and login sessions.

A post names its author by the relationship models.py declares by name, so that models.py needs nothing from this
package. May import only models and database.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import Enum
from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from database import UTCDateTime
from database import db
from database import now_utc
from models import Post


class UserRole(StrEnum):
    admin = "admin"
    author = "author"


class User(UserMixin, db.Model):
    """Someone who writes: an ``admin`` manages everything, an ``author`` only their own posts."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(String(80))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[UserRole] = mapped_column(Enum(UserRole, native_enum=False), default=UserRole.author)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    # Part of every login session and remember-me cookie; a new password changes it, ending them all.
    session_version: Mapped[str] = mapped_column(String(32), default=lambda: secrets.token_hex(8), server_default="")
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")  # since the last success
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Two-factor authentication (see account/two_factor.py): the authenticator app's shared secret, when turned on,
    # and the time step of the last code accepted, so that no code works twice.
    totp_secret: Mapped[str | None] = mapped_column(String(32))
    totp_last_step: Mapped[int] = mapped_column(default=0, server_default="0")

    posts: Mapped[list[Post]] = relationship(back_populates="author")
    # The account's own rows, below: the database deletes them with the account, and what is taken out of a
    # collection is deleted.
    recovery_codes: Mapped[list[RecoveryCode]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    login_failures: Mapped[list[LoginFailures]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    login_sessions: Mapped[list[LoginSession]] = relationship(cascade="all, delete-orphan", passive_deletes=True)

    login_token = None  # this request's login session (see start_login_session), not a column

    def set_password(self, password: str) -> None:
        """Set a new password, end every login session's cookies (a new session version) and the account-wide lock.

        account.passwords.give_password also forgets the login sessions and each network's failures: use that.
        """
        self.password_hash = generate_password_hash(password)
        self.session_version = secrets.token_hex(8)
        self.failed_logins, self.locked_until = 0, None

    def is_locked(self) -> bool:
        """Whether the account-wide lock (failures from many networks) is on."""
        return self.locked_until is not None and self.locked_until > now_utc()

    @property
    def has_two_factor(self) -> bool:
        return self.totp_secret is not None

    def get_id(self) -> str:
        """The id Flask-Login keeps in the session and the remember-me cookie: the user, the session version (a new
        password ends every session) and, once logged in, the login session (logging out ends this one)."""
        login = f"{self.id}:{self.session_version}"
        return f"{login}:{self.login_token}" if self.login_token else login

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_admin(self) -> bool:
        return self.role == UserRole.admin

    def can_edit(self, post: Post) -> bool:
        """Admins edit every post; authors only their own."""
        return self.is_admin or post.author_id == self.id

    def __repr__(self) -> str:
        return f"<User {self.username}>"


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
