"""Making accounts and setting passwords (``flask --app app create-admin``, ``create-author``, ``set-password``):
which usernames, display names and passwords an account may have, and what a new password ends.
May import audit, account.logins, models and the leaves.
"""

from __future__ import annotations

import re

import audit
from account.logins import forget_logins
from account.logins import user_named
from account.tables import User
from account.tables import UserRole
from database import db
from safetext import NOT_IN_ONE_LINE

PASSWORD_MIN_LENGTH = 10
USERNAME_PATTERN = re.compile(r"^[\w.-]{1,40}$")


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
    give_password(user, password)
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
    give_password(user, password)
    db.session.commit()
    audit.record("Set a new password from the command line", user)
    return user


def give_password(user: User, password: str) -> None:
    """Set a new password, log this account out everywhere it is logged in, and unlock it everywhere.

    The caller commits.
    """
    user.set_password(password)
    forget_logins(user)
