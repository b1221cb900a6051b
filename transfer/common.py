"""What every way into the blog shares: its error, its result, its progress hook and the emptiness check."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from sqlalchemy import func
from sqlalchemy import select

from database import db
from models import Comment
from models import Post
from models import User
from models import UserRole

SET_PASSWORD = "flask --app app set-password NAME"
NO_PASSWORD = "!"  # no password's hash: the account cannot log in until an administrator sets a password

IMPORT_MAX_BYTES = 200 * 1024 * 1024  # for every import, whatever its format
Tracker = Callable[[list[Any], str], Iterable[Any]]  # wraps a long loop, e.g. in a progress bar


def untracked(items: list[Any], label: str) -> Iterable[Any]:
    """Run a loop without showing its progress: the default ``Tracker``."""
    return items


class TransferError(ValueError):
    """An import or backup was refused; the message names what is wrong and where."""


def check_import_size(size: int) -> None:
    """Refuse a file larger than an import may be, before reading it.

    :raise TransferError: saying how large the file is and what the limit is.
    """
    if size > IMPORT_MAX_BYTES:
        raise TransferError(
            f"The file is {size / 1_048_576:,.0f} MB; imports can be at most {IMPORT_MAX_BYTES / 1_048_576:,.0f} MB."
        )


@dataclass
class ImportResult:
    """What an import added, and what it left out or changed because the file is not trusted."""

    counts: dict[str, int]
    refused_images: dict[str, str] = field(default_factory=dict)  # name → why
    websites_left_out: int = 0
    accounts_without_password: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return "Imported " + ", ".join(f"{count:,} {kind}" for kind, count in self.counts.items()) + "."

    @property
    def notes(self) -> list[str]:
        """Sentences for the owner about what was left out, and what to do next."""
        notes = [f"The image {name} was left out: {why}" for name, why in self.refused_images.items()]
        if self.websites_left_out:
            notes.append(
                f"{self.websites_left_out:,} commenters' websites were left out: "
                "only http:// and https:// addresses are linked."
            )
        if self.accounts_without_password:
            count = len(self.accounts_without_password)
            notes.append(
                f"{count:,} {'account was' if count == 1 else 'accounts were'} imported without a password "
                f"({', '.join(self.accounts_without_password)}); set one with `{SET_PASSWORD}`."
            )
        return notes

    def __str__(self) -> str:
        return "\n".join([self.summary, *self.notes])


def has_content() -> bool:
    """Tell whether the blog has posts or comments an import could clash with (the welcome post aside).

    Accounts do not count: the administrator importing through the admin area has one.
    """
    posts = db.session.scalars(select(Post.slug).limit(2)).all()
    has_comments = db.session.scalar(select(func.count(Comment.id))) > 0
    return has_comments or posts not in ([], ["welcome"])


class Bylines:
    """The accounts an import credits its posts to: an existing one by its username, else a new author account
    without a password (so a file from someone else cannot bring a login), listed for the owner."""

    def __init__(self) -> None:
        self.users = {user.username.lower(): user for user in db.session.scalars(select(User))}
        self.without_password: list[str] = []

    def account(self, username: str, display_name: str) -> User | None:
        """Return the account named ``username`` (cut to the column's 40 characters), making it if needed."""
        username = username.strip()[:40]
        if not username:
            return None
        if username.lower() not in self.users:
            user = User(
                username=username,
                display_name=(display_name.strip() or username)[:80],
                role=UserRole.author,
                password_hash=NO_PASSWORD,
            )
            db.session.add(user)
            self.users[username.lower()] = user
            self.without_password.append(username)
        return self.users[username.lower()]
