"""An account and its security: logging in (passwords, lock-out after repeated failures, login sessions that a
logout ends), the account rules (which usernames and passwords an account may have, where a login may lead next)
and, under /admin/account, two-factor authentication with an authenticator app (TOTP, RFC 6238) and one-time
recovery codes for when the phone is lost. It may import audit, forms and models.

The secret lives on the account; recovery codes are kept only as hashes and shown once. Logging in with a
second factor is the login view's second step (admin.login_code), which calls `check_second_factor`.
May import the rules below it (forms, commenters), models and the leaves; admin.py and cli.py import it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from functools import cache
from urllib.parse import urlsplit

import pyotp
import segno
from flask import Blueprint
from flask import current_app
from flask import flash
from flask import make_response
from flask import redirect
from flask import render_template
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from itsdangerous import BadSignature
from itsdangerous import URLSafeTimedSerializer
from markupsafe import Markup
from sqlalchemy import Table
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql import ColumnElement
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

import audit
from commenters import client_ip_hash
from forms import ConfirmPasswordForm
from forms import EnableTwoFactorForm
from models import LoginFailures
from models import LoginSession
from models import RecoveryCode
from models import User
from models import UserRole
from models import db
from models import id_from
from models import now_utc
from safetext import NOT_IN_ONE_LINE

# Nested in the admin blueprint (see admin.py), whose hooks it shares: login required, the audit log, the nav counts.
bp = Blueprint("account", __name__, url_prefix="/account")

PASSWORD_MIN_LENGTH = 10
USERNAME_PATTERN = re.compile(r"^[\w.-]{1,40}$")
RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o or 1/l/i to misread
RECOVERY_CODE_LENGTH = 12  # about 59 bits: a leaked hash cannot be searched back to its code
PENDING_LOGIN_SECONDS = 5 * 60
SETUP_SECONDS = 60 * 60

WRONG_PASSWORD = "That is not your password. Please try again."
WRONG_SETUP_CODE = (
    "That code does not match. Type the code the app shows now; if it still fails, check that the phone's clock "
    "is set automatically."
)
SETUP_EXPIRED = "This set-up page was open too long, so it has a new key. Please scan the new QR code."


def safe_next(target: str | None) -> str | None:
    """Return ``target`` if it is a path on this site, else ``None``: ``next`` must never lead elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(char) < 32 for char in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


# Logging in: the password, the lock-out after repeated failures, and the login sessions a logout ends.

LOCK_AFTER_FAILURES = 5  # wrong passwords or codes in a row from one network lock that network out
ACCOUNT_LOCK_AFTER_FAILURES = 20  # from all networks together: a password alone no longer logs in
MAX_LOCK_MINUTES = 60
LOGIN_SESSION_DAYS = 365  # as long as a remember-me cookie lasts (Flask-Login's default)


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


# The second factor itself.


def code_step(secret: str, code: str, at: datetime | None = None) -> int | None:
    """Return the 30-second time step whose code `code` is, or ``None``; a phone's clock may be one step off."""
    code = "".join(code.split())  # apps show "123 456"
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(at or datetime.now(UTC))
    for step in (now - 1, now, now + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def check_second_factor(user: User, code: str) -> bool:
    """Accept a code from the app, each only once (an overheard code cannot be replayed), or an unused
    recovery code, which is then used up. The caller commits.

    "Only once" holds for two requests at the same moment too: each use is one conditional statement whose
    row count says whether this request was the one that used the code.
    """
    step = code_step(user.totp_secret or "", code)
    if step is not None:
        return _use_step(user, step)
    return _use_recovery_code(user, code)


def _use_step(user: User, step: int) -> bool:
    later_step = update(User).where(User.id == user.id, User.totp_last_step < step).values(totp_last_step=step)
    if db.session.execute(later_step.execution_options(synchronize_session=False)).rowcount != 1:
        return False
    set_committed_value(user, "totp_last_step", step)
    return True


def _recovery_code_hash(code: str) -> str:
    """SHA-256 is enough: a code is random and long, so there is no dictionary to try (as for API tokens)."""
    normalized = re.sub(r"[^a-z0-9]", "", code.lower())
    return hashlib.sha256(normalized.encode()).hexdigest()


def _use_recovery_code(user: User, code: str) -> bool:
    """Delete the code's row, if it is still there: a lookup by hash reveals nothing of codes by its timing."""
    matching = (RecoveryCode.user_id == user.id) & (RecoveryCode.code_hash == _recovery_code_hash(code))
    used = delete(RecoveryCode).where(matching).execution_options(synchronize_session=False)
    if db.session.execute(used).rowcount != 1:
        return False
    db.session.expire(user, ["recovery_codes"])
    return True


def new_recovery_codes(user: User) -> list[str]:
    """Replace the account's recovery codes with new ones, and return them to be shown once."""
    codes = [
        "".join(secrets.choice(RECOVERY_CODE_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        for _ in range(RECOVERY_CODE_COUNT)
    ]
    user.recovery_codes = [RecoveryCode(code_hash=_recovery_code_hash(code)) for code in codes]
    return ["-".join(code[start : start + 4] for start in range(0, RECOVERY_CODE_LENGTH, 4)) for code in codes]


def turn_off_two_factor(user: User) -> None:
    user.totp_secret, user.totp_last_step, user.recovery_codes = None, 0, []


# The login's second step: a signed, short-lived note of whose password was right.


def _pending_login_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="inkwell-second-factor")


def pending_login_token(user: User) -> str:
    return _pending_login_serializer().dumps(user.get_id())


def user_waiting_for_code(token: str | None) -> User | None:
    """Return whose password was right in the last few minutes, or ``None`` when the token is old or forged."""
    try:
        session_id = _pending_login_serializer().loads(token or "", max_age=PENDING_LOGIN_SECONDS)
    except BadSignature:
        return None
    return user_for_pending_login(session_id) if isinstance(session_id, str) else None


# Setting it up: the new secret travels signed in the form, so a wrong code keeps the QR code already scanned.


def _setup_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="inkwell-two-factor-setup")


def _secret_from_form(signed: str | None) -> str | None:
    try:
        secret = _setup_serializer().loads(signed or "", max_age=SETUP_SECONDS)
    except BadSignature:
        return None
    return secret if isinstance(secret, str) else None


def qr_code_svg(text: str) -> Markup:
    """Return `text` as a QR code in inline SVG, dark on white whatever the page's colours, so apps can scan it."""
    svg = segno.make(text, error="m").svg_inline(scale=5, dark="#000", light="#fff", svgclass="qr-code")
    return Markup(svg.replace("<svg ", '<svg role="img" aria-label="QR code for your authenticator app" ', 1))


def _render_setup(form: EnableTwoFactorForm, secret: str, status: int = 200) -> ResponseReturnValue:
    form.secret.data = _setup_serializer().dumps(secret)
    uri = pyotp.TOTP(secret).provisioning_uri(name=current_user.username, issuer_name=current_app.config["BLOG_TITLE"])
    key = " ".join(secret[start : start + 4] for start in range(0, len(secret), 4))
    return render_template("admin/account.html", setup_form=form, qr_code=qr_code_svg(uri), key=key), status


def _render_recovery_codes(codes: list[str]) -> ResponseReturnValue:
    response = make_response(render_template("admin/recovery_codes.html", codes=codes))
    response.headers["Cache-Control"] = "no-store"
    return response


def _render_two_factor_on(
    codes_form: ConfirmPasswordForm | None = None, off_form: ConfirmPasswordForm | None = None, status: int = 200
) -> ResponseReturnValue:
    """The page for an account with two-factor on; a form given is the one sent, with its errors."""
    codes_form = codes_form or ConfirmPasswordForm(prefix="codes", formdata=None)
    off_form = off_form or ConfirmPasswordForm(prefix="off", formdata=None)
    codes_left = len(current_user.recovery_codes)
    page = render_template("admin/account.html", codes_form=codes_form, off_form=off_form, codes_left=codes_left)
    return page, status


def _password_confirmed(form: ConfirmPasswordForm) -> bool:
    """Validate the form and check its password; a wrong one counts towards the account's lock-out."""
    if not form.validate_on_submit():
        return False
    network = client_ip_hash()
    # Only this network's lock: strangers' failures elsewhere must not stop the owner turning on two-factor.
    locked = login_lock(current_user, network, account_wide=False)
    if locked or not current_user.check_password(form.password.data):
        record_failed_login(current_user, network)
        db.session.commit()
        form.password.errors.append(WRONG_PASSWORD)
        return False
    return True


@bp.get("/")
def security() -> ResponseReturnValue:
    """Show whether two-factor authentication is on, with the QR code to set it up or the ways to change it."""
    if not current_user.has_two_factor:
        return _render_setup(EnableTwoFactorForm(formdata=None), pyotp.random_base32())
    return _render_two_factor_on()


@bp.post("/two-factor")
def enable_two_factor() -> ResponseReturnValue:
    """Turn two-factor on once a code shows the app holds the secret; show the recovery codes once."""
    if current_user.has_two_factor:
        flash("Two-factor authentication is already on.", "info")
        return redirect(url_for(".security"), 303)
    form = EnableTwoFactorForm()
    secret = _secret_from_form(form.secret.data)
    if secret is None:
        flash(SETUP_EXPIRED, "error")
        return _render_setup(EnableTwoFactorForm(formdata=None), pyotp.random_base32(), 400)
    if not _password_confirmed(form):
        return _render_setup(form, secret, 400)
    step = code_step(secret, form.code.data)
    if step is None:
        form.code.errors.append(WRONG_SETUP_CODE)
        return _render_setup(form, secret, 400)
    current_user.totp_secret, current_user.totp_last_step = secret, step
    codes = new_recovery_codes(current_user)
    db.session.commit()
    return _render_recovery_codes(codes)


@bp.post("/recovery-codes")
def replace_recovery_codes() -> ResponseReturnValue:
    """Make new recovery codes, so the old ones (perhaps seen by someone) stop working."""
    form = ConfirmPasswordForm(prefix="codes")
    if not current_user.has_two_factor:
        return redirect(url_for(".security"), 303)
    if not _password_confirmed(form):
        return _render_two_factor_on(codes_form=form, status=400)
    codes = new_recovery_codes(current_user)
    db.session.commit()
    return _render_recovery_codes(codes)


@bp.post("/two-factor/off")
def disable_two_factor() -> ResponseReturnValue:
    """Turn two-factor off (the password is asked again), forgetting the secret and the recovery codes."""
    form = ConfirmPasswordForm(prefix="off")
    if not current_user.has_two_factor:
        return redirect(url_for(".security"), 303)
    if not _password_confirmed(form):
        return _render_two_factor_on(off_form=form, status=400)
    turn_off_two_factor(current_user)
    db.session.commit()
    flash("Two-factor authentication is off: your password alone logs you in.", "success")
    return redirect(url_for(".security"), 303)


# Making accounts and setting passwords (``flask --app app create-admin``, ``create-author``, ``set-password``).


class AccountError(ValueError):
    """An account that cannot be made or changed as asked; the message says why, as a sentence for the person."""


def create_user(username: str, password: str, role: UserRole, display_name: str | None = None) -> User:
    """Create an account that can log in to /admin.

    :raise AccountError: for a taken or malformed username, a display name with control characters
        (it goes into feeds and pages), or a password under 10 characters.
    """
    if not USERNAME_PATTERN.match(username):
        raise AccountError("A username is 1 to 40 letters, digits, dots, hyphens or underscores.")
    if display_name is not None and NOT_IN_ONE_LINE.search(display_name):
        raise AccountError("A display name cannot hold control characters such as a line break or a tab.")
    if user_named(username) is not None:
        raise AccountError(f"There is already an account named {username!r}.")
    check_password(password)
    user = User(username=username, display_name=display_name or username, role=role)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def check_password(password: str) -> None:
    """:raise AccountError: for a password under ``PASSWORD_MIN_LENGTH`` characters."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise AccountError(f"The password must be at least {PASSWORD_MIN_LENGTH} characters long.")


def existing_account(username: str) -> User:
    """:raise AccountError: naming the account, when there is none by that name (any case)."""
    user = user_named(username)
    if user is None:
        raise AccountError(f"There is no account named {username!r}.")
    return user


def set_password(username: str, password: str) -> User:
    """Give an account a new password (also the way to let in an author imported from WordPress).

    :raise AccountError: for an unknown account or a password under 10 characters.
    """
    user = existing_account(username)
    check_password(password)
    user.set_password(password)
    db.session.commit()
    audit.record("Set a new password from the command line", user)
    return user


def purge_old_login_failures(days: int = 1) -> int:
    """Forget counts of failed logins from networks whose lock ended over ``days`` ago, or that never reached one,
    so strangers' networks do not pile up; return how many were forgotten."""
    cutoff = now_utc() - timedelta(days=days)
    old = LoginFailures.locked_until.is_(None) | (LoginFailures.locked_until < cutoff)
    deleted = db.session.execute(delete(LoginFailures).where(old)).rowcount
    db.session.commit()
    return deleted
