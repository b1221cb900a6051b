"""An account's own security, under /admin/account: two-factor authentication with an authenticator app
(TOTP, RFC 6238) and one-time recovery codes for when the phone is lost; and the account rules: which usernames
and passwords an account may have, and where a login may lead next. It may import audit, forms and models.

The secret lives on the account; recovery codes are kept only as hashes and shown once. Logging in with a
second factor is the login view's second step (admin.login_code), which calls `check_second_factor`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC
from datetime import datetime
from datetime import timedelta
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
from sqlalchemy import delete
from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value

import audit
from commenters import client_ip_hash
from forms import ConfirmPasswordForm
from forms import EnableTwoFactorForm
from models import LoginFailures
from models import RecoveryCode
from models import User
from models import UserRole
from models import db
from models import login_lock
from models import now_utc
from models import record_failed_login
from models import user_for_pending_login
from models import user_named
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
