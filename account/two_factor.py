"""The second factor: codes from an authenticator app (TOTP, RFC 6238), each accepted only once, and one-time
recovery codes for when the phone is lost, kept only as hashes and shown once. Setting it up: a new secret, signed
into the set-up form so a wrong code keeps the QR code already scanned, and the QR code itself.
Logging in with a second factor is the login view's second step (admin.login_code), which calls
``check_second_factor``. May import account.tables, models and the leaves.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC
from datetime import datetime

import pyotp
from flask import current_app
from itsdangerous import BadSignature
from itsdangerous import URLSafeTimedSerializer
from markupsafe import Markup
from sqlalchemy import delete
from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value

from account.tables import RecoveryCode
from account.tables import User
from database import db

RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o or 1/l/i to misread
RECOVERY_CODE_LENGTH = 12  # about 59 bits: a leaked hash cannot be searched back to its code
SETUP_SECONDS = 60 * 60


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
    """Forget the secret and the recovery codes: the password alone logs in again. The caller commits."""
    user.totp_secret, user.totp_last_step, user.recovery_codes = None, 0, []


# Setting it up: the new secret travels signed in the form, so a wrong code keeps the QR code already scanned.


def new_secret() -> str:
    """Return a new random secret for an authenticator app (base32, as the apps expect)."""
    return pyotp.random_base32()


def signed_secret(secret: str) -> str:
    """Return ``secret`` signed, to travel in the set-up form until a code shows the app holds it."""
    return _setup_serializer().dumps(secret)


def secret_from_form(signed: str | None) -> str | None:
    """Return the secret the set-up form carried, or ``None`` when it is forged or the page was open too long."""
    try:
        secret = _setup_serializer().loads(signed or "", max_age=SETUP_SECONDS)
    except BadSignature:
        return None
    return secret if isinstance(secret, str) else None


def _setup_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="inkwell-two-factor-setup")


def setup_uri(secret: str, username: str) -> str:
    """Return the ``otpauth://`` address an authenticator app reads from the QR code, naming the blog and account."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=current_app.config["BLOG_TITLE"])


def qr_code_svg(text: str) -> Markup:
    """Return `text` as a QR code in inline SVG, dark on white whatever the page's colours, so apps can scan it."""
    import segno  # here: only setting up a second factor draws one, and segno would add 0.7 MB to every worker

    svg = segno.make(text, error="m").svg_inline(scale=5, dark="#000", light="#fff", svgclass="qr-code")
    return Markup(svg.replace("<svg ", '<svg role="img" aria-label="QR code for your authenticator app" ', 1))
