"""Logging in: the password, the lock-out after repeated failures (per network, and for the account), the login
sessions a logout ends, the signed note that carries a right password to the second step, and where a login may
lead next. admin/dashboard.py's login views call these; ``User`` and the tables are in tables.py.
May import account.tables, models and the leaves.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from datetime import timedelta
from functools import cache
from urllib.parse import urlsplit

from flask import current_app
from itsdangerous import BadSignature
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import Table
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import ColumnElement
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from account.tables import LoginFailures
from account.tables import LoginSession
from account.tables import User
from database import db
from database import id_from
from database import now_utc

LOCK_AFTER_FAILURES = 5  # wrong passwords or codes in a row from one network lock that network out
ACCOUNT_LOCK_AFTER_FAILURES = 20  # from all networks together: a password alone no longer logs in
MAX_LOCK_MINUTES = 60
LOGIN_SESSION_DAYS = 365  # as long as a remember-me cookie lasts (Flask-Login's default)
PENDING_LOGIN_SECONDS = 5 * 60


def safe_next(target: str | None) -> str | None:
    """Return ``target`` if it is a path on this site, else ``None``: ``next`` must never lead elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(char) < 32 for char in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


class AccountLocked(Exception):
    """Too many failed logins in a row: logins are refused until ``until``.

    ``everywhere`` is the account-wide lock (failures from many networks), which a second factor gets through.
    """

    def __init__(self, until: datetime, *, everywhere: bool = False) -> None:
        super().__init__(until)
        self.until = until
        self.everywhere = everywhere


def user_for_session(session_id: str) -> User | None:
    """Return the user a login session belongs to, or ``None`` if it ended (logged out, or a password changed)."""
    user_id, _, token = session_id.rpartition(":")
    user = user_for_pending_login(user_id)
    if user is None or not token:
        return None
    login = db.session.get(LoginSession, _token_hash(token))
    if login is None or login.user_id != user.id:
        return None
    user.login_token = token
    return user


def user_for_pending_login(pending_id: str) -> User | None:
    """Return the user whose password was right (``id:session_version``), or ``None`` if the password changed since."""
    user_id, _, version = pending_id.partition(":")
    number = id_from(user_id)
    user = db.session.get(User, number) if number else None
    if user is None or not version or not hmac.compare_digest(user.session_version, version):
        return None
    return user


def start_login_session(user: User) -> None:
    """Record a new login session for ``user`` (its token goes into the cookies through ``get_id``); forget
    sessions older than any remember-me cookie. The caller commits."""
    token = secrets.token_urlsafe(32)
    db.session.add(LoginSession(token_hash=_token_hash(token), user_id=user.id))
    too_old = now_utc() - timedelta(days=LOGIN_SESSION_DAYS)
    db.session.execute(delete(LoginSession).where(LoginSession.user_id == user.id, LoginSession.started_at < too_old))
    user.login_token = token


def end_login_session(user: User) -> None:
    """Forget this login session, so neither its session cookie nor its remember-me cookie works again."""
    if user.login_token:
        db.session.execute(delete(LoginSession).where(LoginSession.token_hash == _token_hash(user.login_token)))
        user.login_token = None


def forget_logins(user: User) -> None:
    """End every login session of ``user`` and forget its failed logins from every network (a new password does
    both, with ``User.set_password``). The caller commits."""
    user.login_failures.clear()
    user.login_sessions.clear()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_named(username: str) -> User | None:
    """Return the account with this username, matched without regard to case."""
    return db.session.scalar(select(User).where(func.lower(User.username) == username.lower()))


def authenticate(username: str, password: str, network: str) -> User | None:
    """Return the user with this username (any case) and password, or ``None``; record the attempt.

    For an account with two-factor authentication, this is only the first half of logging in.

    An unknown username costs the same password check as a known one, so timing does not reveal which exist.

    :raise AccountLocked: while logins from this network (or, without two-factor, from anywhere) are locked after
        repeated wrong passwords, even for the right one.
    """
    user = user_named(username)
    if user is None:
        check_password_hash(_unknown_user_hash(), password)
        return None
    correct = user.check_password(password)
    if locked := login_lock(user, network):
        raise locked
    if not correct:
        record_failed_login(user, network)
    elif not user.has_two_factor:  # otherwise the count goes on until the second factor is right too
        record_successful_login(user, network)
    db.session.commit()
    return user if correct else None


def login_lock(user: User, network: str, *, account_wide: bool = True) -> AccountLocked | None:
    """Return the lock that stops logging in to ``user`` from ``network`` now, if any.

    A network is locked after its own failures in a row. The account-wide lock (failures from many networks)
    stops a password alone; an account with two-factor still gets in with its password and a code or recovery code,
    so strangers cannot keep its owner out. ``account_wide=False`` leaves it out, for someone already logged in.
    """
    now = now_utc()
    here = db.session.scalar(
        select(LoginFailures.locked_until).where(
            LoginFailures.user_id == user.id, LoginFailures.network == network, LoginFailures.locked_until > now
        )
    )
    if here is not None:
        return AccountLocked(here)
    if account_wide and user.is_locked() and not user.has_two_factor:
        return AccountLocked(user.locked_until, everywhere=True)
    return None


def record_failed_login(user: User, network: str) -> None:
    """Count a wrong password or code for this network and for the account, each with one atomic statement (two
    tries at once count twice); from the 5th in a row from a network, or the 20th from all, lock for 1, 2, 4...
    up to 60 minutes. The caller commits."""
    table = LoginFailures.__table__
    insert = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    count_here = (
        insert(table)
        .values(user_id=user.id, network=network, failed=1)
        .on_conflict_do_update(index_elements=[table.c.user_id, table.c.network], set_={"failed": table.c.failed + 1})
        .returning(table.c.failed)
    )
    failed_here = db.session.execute(count_here).scalar_one()
    here = (table.c.user_id == user.id) & (table.c.network == network)
    _lock(table, here, failed_here, LOCK_AFTER_FAILURES)

    users = User.__table__
    count_all = (
        update(users)
        .where(users.c.id == user.id)
        .values(failed_logins=users.c.failed_logins + 1)
        .returning(users.c.failed_logins)
    )
    failed_all = db.session.execute(count_all).scalar_one()
    _lock(users, users.c.id == user.id, failed_all, ACCOUNT_LOCK_AFTER_FAILURES)
    db.session.expire(user, ["failed_logins", "locked_until"])


def _lock(table: Table, row: ColumnElement[bool], failed: int, threshold: int) -> None:
    """Lock from the ``threshold``th failure on, never shortening a lock a parallel failure set."""
    if failed < threshold:
        return
    minutes = min(2 ** min(failed - threshold, 6), MAX_LOCK_MINUTES)
    until = now_utc() + timedelta(minutes=minutes)
    longer = (table.c.locked_until.is_(None)) | (table.c.locked_until < until)
    db.session.execute(update(table).where(row, longer).values(locked_until=until))


def record_successful_login(user: User, network: str) -> None:
    """Start the counts again for this network and the account (strangers' networks stay locked). The caller commits."""
    db.session.execute(delete(LoginFailures).where(LoginFailures.user_id == user.id, LoginFailures.network == network))
    db.session.execute(update(User).where(User.id == user.id).values(failed_logins=0, locked_until=None))
    db.session.expire(user, ["failed_logins", "locked_until"])


@cache
def _unknown_user_hash() -> str:
    return generate_password_hash(secrets.token_hex(16))


def purge_old_login_failures(days: int = 1) -> int:
    """Forget counts of failed logins from networks whose lock ended over ``days`` ago, or that never reached one,
    so strangers' networks do not pile up; return how many were forgotten."""
    cutoff = now_utc() - timedelta(days=days)
    old = LoginFailures.locked_until.is_(None) | (LoginFailures.locked_until < cutoff)
    deleted = db.session.execute(delete(LoginFailures).where(old)).rowcount
    db.session.commit()
    return deleted


# The login's second step: a signed, short-lived note of whose password was right.


def _pending_login_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="inkwell-second-factor")


def pending_login_token(user: User) -> str:
    """Return a signed note that ``user``'s password was right, for the login's second step to carry."""
    return _pending_login_serializer().dumps(user.get_id())


def user_waiting_for_code(token: str | None) -> User | None:
    """Return whose password was right in the last few minutes, or ``None`` when the token is old or forged."""
    try:
        session_id = _pending_login_serializer().loads(token or "", max_age=PENDING_LOGIN_SECONDS)
    except BadSignature:
        return None
    return user_for_pending_login(session_id) if isinstance(session_id, str) else None
