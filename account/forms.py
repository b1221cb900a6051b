"""The forms of an account: logging in (the password, then the second factor) and the /admin/account forms that
ask for the password again. Their fields, limits and messages; the shared machinery stays in forms.py."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import HiddenField
from wtforms import PasswordField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import Length

from forms import strip_whitespace


class LoginForm(FlaskForm):
    """The owner's login. ``next`` is where to go afterwards; ``carry`` holds a post form that was
    sent after the session expired, so it can be re-shown instead of lost."""

    username = StringField(
        "Username",
        filters=[strip_whitespace],
        validators=[DataRequired("Please enter your username.")],
        render_kw={"autocomplete": "username", "autocapitalize": "none"},
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired("Please enter your password.")],
        render_kw={"autocomplete": "current-password"},
    )
    remember = BooleanField("Keep me logged in on this device")
    next = HiddenField()
    carry = HiddenField()


def one_time_code_field(label: str, **render_kw: str) -> StringField:
    """A field for a code from an authenticator app, which browsers and phones may fill in themselves."""
    return StringField(
        label,
        filters=[strip_whitespace],
        validators=[
            DataRequired("Please enter the 6-digit code your authenticator app shows."),
            Length(max=40, message="That is longer than any code. Please type the code again."),
        ],
        render_kw={"autocomplete": "one-time-code", "spellcheck": "false", **render_kw},
    )


class SecondFactorForm(FlaskForm):
    """The second step of logging in to an account with two-factor authentication. ``pending`` is a signed,
    short-lived token saying whose password was right; the other hidden fields come from the login form."""

    code = one_time_code_field("Code from your authenticator app, or a recovery code", autocapitalize="none")
    pending = HiddenField()
    remember = HiddenField()
    next = HiddenField()
    carry = HiddenField()


class ConfirmPasswordForm(FlaskForm):
    """A change to the account's security asks for its password again, so a session left open is not enough."""

    password = PasswordField(
        "Your password",
        validators=[DataRequired("Please enter your password.")],
        render_kw={"autocomplete": "current-password"},
    )


class EnableTwoFactorForm(ConfirmPasswordForm):
    """Turning two-factor authentication on: a code proves the app holds the secret. ``secret`` is signed."""

    code = one_time_code_field("6-digit code from the app", inputmode="numeric")
    secret = HiddenField()
