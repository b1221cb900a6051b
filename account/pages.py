"""The account's own pages under /admin/account: whether two-factor authentication is on, turning it on with the
QR code and a first code, turning it off, and new recovery codes; each change asks for the password again.

A blueprint nested in the admin blueprint (see admin/dashboard.py), whose hooks it shares: login required, the
audit log, the nav counts. May import the account's rules, commenters and models.
"""

from __future__ import annotations

from flask import Blueprint
from flask import flash
from flask import make_response
from flask import redirect
from flask import render_template
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from account.forms import ConfirmPasswordForm
from account.forms import EnableTwoFactorForm
from account.logins import login_lock
from account.logins import record_failed_login
from account.two_factor import code_step
from account.two_factor import new_recovery_codes
from account.two_factor import new_secret
from account.two_factor import qr_code_svg
from account.two_factor import secret_from_form
from account.two_factor import setup_uri
from account.two_factor import signed_secret
from account.two_factor import turn_off_two_factor
from commenters import client_ip_hash
from database import db

bp = Blueprint("account", __name__, url_prefix="/account")

WRONG_PASSWORD = "That is not your password. Please try again."
WRONG_SETUP_CODE = (
    "That code does not match. Type the code the app shows now; if it still fails, check that the phone's clock "
    "is set automatically."
)
SETUP_EXPIRED = "This set-up page was open too long, so it has a new key. Please scan the new QR code."


def _render_setup(form: EnableTwoFactorForm, secret: str, status: int = 200) -> ResponseReturnValue:
    form.secret.data = signed_secret(secret)
    uri = setup_uri(secret, current_user.username)
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
        return _render_setup(EnableTwoFactorForm(formdata=None), new_secret())
    return _render_two_factor_on()


@bp.post("/two-factor")
def enable_two_factor() -> ResponseReturnValue:
    """Turn two-factor on once a code shows the app holds the secret; show the recovery codes once."""
    if current_user.has_two_factor:
        flash("Two-factor authentication is already on.", "info")
        return redirect(url_for(".security"), 303)
    form = EnableTwoFactorForm()
    secret = secret_from_form(form.secret.data)
    if secret is None:
        flash(SETUP_EXPIRED, "error")
        return _render_setup(EnableTwoFactorForm(formdata=None), new_secret(), 400)
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
