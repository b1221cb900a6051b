"""What every way into the blog shares: its error, its result, its progress hook and the emptiness check."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from sqlalchemy import func
from sqlalchemy import select

from account.tables import User
from account.tables import UserRole
from database import db
from models import Comment
from models import Post

SET_PASSWORD = ".venv/bin/flask --app app set-password NAME"
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


def websites_left_out_note(count: int) -> str:
    """Say how many commenters' websites an import left out, and why (every import keeps only what the comment
    form would accept)."""
    return f"{count:,} commenters' websites were left out: only http:// and https:// addresses are linked."


def accounts_without_password_note(usernames: list[str], *, authors: bool = False) -> str:
    """Say which accounts an import brought in (or, with ``authors``, made for another blog's authors) without a
    password, and how to give them one: no password comes from a file someone else made unless the owner asks."""
    count = len(usernames)
    if authors:
        what = f"{'author was' if count == 1 else 'authors were'} given an account"
    else:
        what = f"{'account was' if count == 1 else 'accounts were'} imported"
    return f"{count:,} {what} without a password ({', '.join(usernames)}); set one with `{SET_PASSWORD}`."


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
            notes.append(websites_left_out_note(self.websites_left_out))
        if self.accounts_without_password:
            notes.append(accounts_without_password_note(self.accounts_without_password))
        return notes

    def __str__(self) -> str:
        return "\n".join([self.summary, *self.notes])


def counted(count: int, noun: str) -> str:
    """Return ``"1 post"``, ``"2 posts"``: a count with its noun."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


@dataclass
class ImportSummary:
    """What one import from another blog did (or, on a dry run, would do), and every change it made on the way.

    WordPress, Ghost and the static-site import fill in the same fields, so the command line and the admin's
    import page show any of them the same way: a headline, then sections of sentences for the owner.
    """

    source: str  # "WordPress", "Ghost", "a static site": where the posts come from
    dry_run: bool = False
    posts: int = 0
    pages: int = 0
    drafts: int = 0
    already_there: int = 0
    redirects: int = 0
    comments: dict[str, int] = field(default_factory=lambda: {"approved": 0, "pending": 0, "spam": 0})
    comments_left_out: int = 0
    linkbacks_skipped: int = 0
    websites_left_out: int = 0
    accounts_without_password: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # what could not come in at all, and why
    adjustments: list[str] = field(default_factory=list)  # what was changed so that it could come in
    shortcodes: list[str] = field(default_factory=list)  # template tags kept as visible text, to redo by hand
    images: list[str] = field(default_factory=list)  # the images brought in, and each one left out with why
    new_uploads: list[str] = field(default_factory=list)  # the image files this import stored (undo removes them)
    import_id: int | None = None  # the record undo starts from, once the import is kept

    @property
    def headline(self) -> str:
        verb = "Would import" if self.dry_run else "Imported"
        things = [counted(self.posts, "post")] + ([counted(self.pages, "page")] if self.pages else [])
        line = f"{verb} {' and '.join(things)} from {self.source} ({self.drafts:,} as drafts)"
        held = self.comments
        if any(held.values()) or self.comments_left_out:
            line += (
                f"; {held['approved']:,} approved, {held['pending']:,} held and {held['spam']:,} spam comments "
                f"({self.comments_left_out:,} trashed left out)"
            )
        moved = "old address redirects" if self.redirects == 1 else "old addresses redirect"
        return f"{line}; {self.redirects:,} {moved}. Already imported before: {self.already_there:,}."

    @property
    def notes(self) -> list[str]:
        """What the owner should know that is not about one item: what was skipped as a kind, what to do next."""
        notes = []
        if self.linkbacks_skipped:
            notes.append(
                f"{self.linkbacks_skipped:,} pingbacks and trackbacks skipped: Inkwell has no mentions yet "
                "(they become mentions once it receives Webmentions)."
            )
        if self.websites_left_out:
            notes.append(websites_left_out_note(self.websites_left_out))
        if self.accounts_without_password:
            notes.append(accounts_without_password_note(self.accounts_without_password, authors=True))
        return notes

    @property
    def sections(self) -> list[tuple[str, list[str]]]:
        """Return the non-empty lists of sentences under their headings, in the order the owner reads them."""
        sections = [
            ("Left out", self.left_out),
            ("Changed on the way in", self.adjustments),
            ("Kept as text, to redo by hand", self.shortcodes),
            ("Images", self.images),
            ("Good to know", self.notes),
        ]
        return [(heading, entries) for heading, entries in sections if entries]

    def __str__(self) -> str:
        lines = [self.headline]
        for heading, entries in self.sections:
            lines += [f"{heading} ({len(entries):,}):", *(f"- {entry}" for entry in entries)]
        return "\n".join(lines)


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

    def account_id(self, username: str, display_name: str) -> int | None:
        """Return the id of :meth:`account`'s account (stored at once if new): a post credited by id does not
        join the account's collection of posts, whose history every later flush would go through again."""
        user = self.account(username, display_name)
        if user is not None and user.id is None:
            db.session.flush([user])
        return user.id if user is not None else None
