"""``flask --app app ...`` commands: thin click wrappers over plain functions that tests call too."""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import click
import flask_migrate
from flask import Flask
from flask import current_app
from flask.cli import AppGroup
from flask.cli import with_appcontext
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

import account
import audit
import pagecache
import search
import transfer
import wordpress
from account import user_named
from markup import excerpt_of
from markup import render_comment
from markup import render_post
from models import AuditEntry
from models import Comment
from models import CommentStatus
from models import LoginFailures
from models import Post
from models import PostStatus
from models import Tag
from models import User
from models import UserRole
from models import db
from models import now_utc
from models import post_tags
from models import recount_comments
from models import slugify
from safetext import NOT_IN_ONE_LINE

WELCOME_TITLE = "Welcome to Inkwell"
WELCOME_BODY = """\
Inkwell is a small blog you host yourself. This post was written for you when the database was
created, so the home page has something to show. Readers can leave a comment below: try it.

## What readers get

- A home page of recent posts, a page for every post with a permanent address, and tags.
- A comment form that works in any browser, with or without JavaScript. Comments may use a
  little Markdown: *emphasis*, **bold**, `code`, links, quotes and lists.

## Writing and moderating

Create your account with `flask --app app create-admin YOURNAME`, then log in at `/admin/` to write
posts in Markdown, schedule them, and moderate comments.

By default a new commenter's first comment waits for your approval; once you approve one, that
commenter's next comments appear at once. Set `COMMENT_MODERATION` to `off`, `first-time` or `all` to
choose.
"""

BATCH_SIZE = 5_000
DEMO_TAGS = ["Notes", "Travel", "Cooking", "Books", "Code", "Gardening", "Music", "Photography"]
DEMO_WORDS = (
    "morning light river garden window coffee letter quiet city mountain harbour winter summer "
    "notebook kitchen market station bicycle library evening stone forest music paper lantern"
).split()
DEMO_NAMES = ["Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Alan", "Radia", "Dennis", "Frances"]


def init_db() -> bool:
    """Bring the database up to the latest schema (migrations); on a new database, write the welcome post.

    Safe to run again: existing data is kept and upgraded. A database made from the models without
    migrations (the test suite does that) is marked as current. Returns whether the database was new.
    """
    tables = inspect(db.engine).get_table_names()
    is_new = Post.__tablename__ not in tables
    if not is_new and "alembic_version" not in tables:
        flask_migrate.stamp()
    flask_migrate.upgrade()
    if is_new:
        now = now_utc()
        db.session.add(
            Post(title=WELCOME_TITLE, slug="welcome", body=WELCOME_BODY, status=PostStatus.published, published_at=now)
        )
        db.session.commit()
    return is_new


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(DEMO_WORDS) for _ in range(words)).capitalize() + "."


def _demo_post_body(rng: random.Random) -> str:
    paragraphs = [" ".join(_sentence(rng, rng.randint(6, 14)) for _ in range(rng.randint(3, 6))) for _ in range(4)]
    return f"{paragraphs[0]}\n\n## {_sentence(rng, 3)[:-1]}\n\n" + "\n\n".join(paragraphs[1:])


def _rendered_demo_post(body: str) -> tuple[str, str, str]:
    body_html = render_post(body)
    return body, body_html, excerpt_of(body_html)


def _batches(total: int) -> Iterator[range]:
    for start in range(0, total, BATCH_SIZE):
        yield range(start, min(start + BATCH_SIZE, total))


def _demo_tags() -> list[Tag]:
    existing = {tag.name: tag for tag in db.session.scalars(select(Tag).where(Tag.name.in_(DEMO_TAGS)))}
    tags = [existing.get(name) or Tag(name=name, slug=slugify(name)) for name in DEMO_TAGS]
    db.session.add_all(tags)
    db.session.flush()
    return tags


def seed_demo(post_count: int, comment_count: int, seed: int = 1) -> tuple[int, int]:
    """Add realistic published demo posts, tags and approved comments, fast enough for 100,000 posts.

    Markdown is rendered for a small pool of bodies and reused, and rows go in with bulk inserts.
    """
    rng = random.Random(seed)
    bodies = [_rendered_demo_post(_demo_post_body(rng)) for _ in range(25)]
    comment_bodies = [(text, render_comment(text)) for text in (_sentence(rng, rng.randint(5, 30)) for _ in range(40))]
    tag_ids = [tag.id for tag in _demo_tags()]
    first_number = (db.session.scalar(select(func.count(Post.id))) or 0) + 1
    now = now_utc()

    post_ids: list[int] = []
    post_dates = []
    for batch in _batches(post_count):
        rows = []
        for i in batch:
            body, body_html, summary = rng.choice(bodies)
            title = _sentence(rng, rng.randint(2, 6))[:-1]
            published_at = now - timedelta(hours=3 * (post_count - i), minutes=rng.randint(0, 120))
            rows.append(
                {
                    "title": title,
                    "slug": f"{slugify(title, 60)}-{first_number + i}",
                    "body": body,
                    "body_html": body_html,
                    "excerpt": "",
                    "summary": summary,
                    "status": PostStatus.published,
                    "published_at": published_at,
                    "created_at": published_at,
                    "updated_at": published_at,
                }
            )
            post_dates.append(published_at)
        post_ids += db.session.scalars(insert(Post).returning(Post.id, sort_by_parameter_order=True), rows).all()
        db.session.execute(
            insert(post_tags),
            [{"post_id": pid, "tag_id": tid} for pid in post_ids[-len(rows) :] for tid in rng.sample(tag_ids, 2)],
        )

    if not post_ids and comment_count:
        post_ids = list(db.session.scalars(select(Post.id)))
        post_dates = [now - timedelta(days=1)] * len(post_ids)
    for batch in _batches(comment_count if post_ids else 0):
        rows = []
        for _ in batch:
            index = rng.randrange(len(post_ids))
            body, body_html = rng.choice(comment_bodies)
            rows.append(
                {
                    "post_id": post_ids[index],
                    "author_name": rng.choice(DEMO_NAMES),
                    "body": body,
                    "body_html": body_html,
                    "status": CommentStatus.approved,
                    "created_at": min(now, post_dates[index] + timedelta(minutes=rng.randint(5, 60 * 24 * 30))),
                }
            )
        db.session.execute(insert(Comment), rows)
    recount_comments()  # bulk inserts bypass the ORM events that keep counts and the page cache
    pagecache.note_bulk_change(db.session)
    db.session.commit()
    if post_count:
        search.reindex(post_ids)  # bulk inserts bypass the ORM events that keep the index
    return post_count, comment_count if post_ids else 0


PASSWORD_MIN_LENGTH = 10
USERNAME_PATTERN = re.compile(r"^[\w.-]{1,40}$")


def create_user(username: str, password: str, role: UserRole, display_name: str | None = None) -> User:
    """Create an account that can log in to /admin.

    :raise click.ClickException: for a taken or malformed username, a display name with control characters
        (it goes into feeds and pages), or a password under 10 characters.
    """
    if not USERNAME_PATTERN.match(username):
        raise click.ClickException("A username is 1 to 40 letters, digits, dots, hyphens or underscores.")
    if display_name is not None and NOT_IN_ONE_LINE.search(display_name):
        raise click.ClickException("A display name cannot hold control characters such as a line break or a tab.")
    if user_named(username) is not None:
        raise click.ClickException(f"There is already an account named {username!r}.")
    _check_password(password)
    user = User(username=username, display_name=display_name or username, role=role)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def _check_password(password: str) -> None:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise click.ClickException(f"The password must be at least {PASSWORD_MIN_LENGTH} characters long.")


def existing_account(username: str) -> User:
    """:raise click.ClickException: naming the account, when there is none by that name (any case)."""
    user = user_named(username)
    if user is None:
        raise click.ClickException(f"There is no account named {username!r}.")
    return user


def set_password(username: str, password: str) -> User:
    """Give an account a new password (also the way to let in an author imported from WordPress).

    :raise click.ClickException: for an unknown account or a password under 10 characters.
    """
    user = existing_account(username)
    _check_password(password)
    user.set_password(password)
    db.session.commit()
    audit.record("Set a new password from the command line", user)
    return user


@click.command("set-password")
@click.argument("username")
@with_appcontext
def set_password_command(username: str) -> None:
    """Set an account's password. The password comes from a prompt, or from ADMIN_PASSWORD."""
    user = set_password(username, _password_from_environment_or_prompt())
    click.echo(f"The password of {user.username} is changed.")


@click.command("disable-two-factor")
@click.argument("username")
@with_appcontext
def disable_two_factor_command(username: str) -> None:
    """Turn off an account's two-factor authentication, for an owner who lost both the phone and the recovery codes."""
    user = existing_account(username)
    if not user.has_two_factor:
        raise click.ClickException(f"Two-factor authentication is not on for {user.username}.")
    account.turn_off_two_factor(user)
    db.session.commit()
    audit.record("Turned off two-factor authentication from the command line", user)
    click.echo(f"Two-factor authentication is off for {user.username}: the password alone logs in.")


def _password_from_environment_or_prompt() -> str:
    password = os.environ.get("ADMIN_PASSWORD")
    if password is not None:
        return password
    return click.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password")


def pending_comments() -> list[Comment]:
    """Return the comments waiting for the owner's decision, oldest first."""
    query = select(Comment).where(Comment.status == CommentStatus.pending).order_by(Comment.created_at, Comment.id)
    return list(db.session.scalars(query))


def set_comment_status(comment_id: int, status: CommentStatus) -> Comment:
    """Approve a comment or mark it as spam.

    :raise click.ClickException: when there is no comment with this id.
    """
    comment = db.session.get(Comment, comment_id)
    if comment is None:
        raise click.ClickException(f"There is no comment with id {comment_id}.")
    comment.status = status
    db.session.commit()
    return comment


def database_problem() -> str | None:
    """Return why the database cannot be reached, in one line, or ``None`` when it answers."""
    try:
        with db.engine.connect() as connection:
            connection.execute(select(1))
    except SQLAlchemyError as error:
        reason = str(error.orig if getattr(error, "orig", None) else error).strip().splitlines()[0]
        return f"Cannot use the database {db.engine.url.render_as_string(hide_password=True)}: {reason}"
    return None


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create or upgrade the database (and write a welcome post on a new one)."""
    problem = database_problem()
    if problem:
        raise click.ClickException(problem)
    if init_db():
        click.echo(f"Created a new database with the post “{WELCOME_TITLE}”.")
    else:
        click.echo("The database is up to date; existing data was kept.")


upgrade_db_command = click.Command(
    "upgrade-db", callback=init_db_command.callback, help="Same as init-db: bring an existing database up to date."
)


@click.command("seed-demo")
@with_appcontext
@click.option("--posts", "post_count", default=30, show_default=True, type=click.IntRange(min=0), help="Posts to add.")
@click.option(
    "--comments", "comment_count", default=200, show_default=True, type=click.IntRange(min=0), help="Comments to add."
)
def seed_demo_command(post_count: int, comment_count: int) -> None:
    """Fill the blog with demo posts and comments, for trying Inkwell out or measuring it."""
    init_db()
    posts, comments = seed_demo(post_count, comment_count)
    click.echo(f"Added {posts:,} demo posts and {comments:,} comments.")


comments_command = AppGroup(
    "comments", help="Moderate comments: list those waiting, approve them or mark them as spam."
)


@comments_command.command("pending")
def pending_command() -> None:
    """List comments awaiting moderation."""
    comments = pending_comments()
    if not comments:
        click.echo("No comments are awaiting moderation.")
    for comment in comments:
        excerpt = " ".join(comment.body.split())[:60]
        click.echo(
            f"{comment.id}\t{comment.created_at:%Y-%m-%d %H:%M}\t{comment.post.slug}\t{comment.author_name}: {excerpt}"
        )


@comments_command.command("approve")
@click.argument("comment_id", type=int)
def approve_command(comment_id: int) -> None:
    """Publish a held comment (and trust its commenter from now on)."""
    comment = set_comment_status(comment_id, CommentStatus.approved)
    click.echo(f"Approved comment {comment.id} by {comment.author_name}.")


@comments_command.command("spam")
@click.argument("comment_id", type=int)
def spam_command(comment_id: int) -> None:
    """Mark a comment as spam, hiding it from readers."""
    comment = set_comment_status(comment_id, CommentStatus.spam)
    click.echo(f"Marked comment {comment.id} by {comment.author_name} as spam.")


def blog_stats() -> dict[str, object]:
    """Count posts and comments by status and measure the database, for ``flask --app app stats``."""
    posts = dict(db.session.execute(select(Post.status, func.count(Post.id)).group_by(Post.status)).all())
    comments = dict(db.session.execute(select(Comment.status, func.count(Comment.id)).group_by(Comment.status)).all())
    return {
        "posts": {status.value: posts.get(status, 0) for status in PostStatus},
        "comments": {status.value: comments.get(status, 0) for status in CommentStatus},
        "database_bytes": database_size(),
    }


def database_size() -> int | None:
    """Return the size of the database in bytes (SQLite file with its WAL, or PostgreSQL database)."""
    url = db.engine.url
    if url.get_backend_name() == "postgresql":
        return db.session.scalar(text("SELECT pg_database_size(current_database())"))
    if url.database and url.database != ":memory:":
        return sum(os.path.getsize(path) for path in (url.database, url.database + "-wal") if os.path.exists(path))
    return None


@click.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@with_appcontext
def stats_command(as_json: bool) -> None:
    """Show how many posts and comments there are, by status, and how big the database is."""
    stats = blog_stats()
    if as_json:
        click.echo(json.dumps(stats))
        return
    for kind in ("posts", "comments"):
        click.echo(f"{kind.title()}: " + ", ".join(f"{count:,} {status}" for status, count in stats[kind].items()))
    size = stats["database_bytes"]
    click.echo(f"Database: {size / 1_048_576:,.1f} MB" if size is not None else "Database: size unknown")


@click.command("export")
@click.argument("path", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option(
    "--with-users",
    is_flag=True,
    help="Include password hashes and two-factor keys, for an import with --keep-passwords.",
)
@click.option("--zip", "as_zip", is_flag=True, help="Write a zip: the JSON plus the images as files.")
@with_appcontext
def export_command(path: Path, with_users: bool, as_zip: bool) -> None:
    """Write the whole blog (posts, tags, comments, images, settings, accounts) to a JSON (or zip) file."""
    if not inspect(db.engine).has_table(Post.__tablename__):
        raise click.ClickException("This database has no blog in it yet: is DATABASE_URL the right one?")
    data = transfer.export_data(with_users=with_users)
    counts = {kind: len(data[kind]) for kind in ("posts", "comments", "tags", "uploads", "users")}
    if as_zip:
        path.write_bytes(transfer.as_zip(data))
    else:
        path.write_text(transfer.as_json(data), encoding="utf-8")
    click.echo(
        f"Exported {counts['posts']:,} posts, {counts['comments']:,} comments, {counts['tags']:,} tags, "
        f"{counts['uploads']:,} images and {counts['users']:,} accounts to {path}."
    )


def _progress_bar(items: list[object], label: str) -> Iterator[object]:
    with click.progressbar(items, label=f"{label:<9}", show_pos=True) as bar:
        yield from bar


@click.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--keep-passwords",
    is_flag=True,
    help="Keep the accounts' password hashes and two-factor keys from the file (only for a file you made yourself).",
)
@with_appcontext
def import_command(path: Path, keep_passwords: bool) -> None:
    """Load a JSON (or zip) export into an empty blog, all or nothing; accounts come without passwords."""
    init_db()
    try:
        if path.stat().st_size > transfer.IMPORT_MAX_BYTES:
            raise transfer.TransferError("The file is larger than 200 MB, the most an import may be.")
        result = transfer.import_data(
            transfer.read_export(path.read_bytes()), track=_progress_bar, keep_passwords=keep_passwords
        )
    except transfer.TransferError as error:
        raise click.ClickException(f"Nothing was imported: {error}") from None
    click.echo(str(result))


@click.command("import-wordpress")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--pages/--skip-pages", default=True, show_default=True, help="Import WordPress pages as posts.")
@with_appcontext
def import_wordpress_command(path: Path, pages: bool) -> None:
    """Import a WordPress export (WXR file from Tools → Export); safe to run again."""
    init_db()
    try:
        if path.stat().st_size > wordpress.MAX_BYTES:
            raise wordpress.WordPressError("The file is larger than 200 MB, the most an import may be.")
        summary = wordpress.import_wordpress(path.read_bytes(), include_pages=pages, track=_progress_bar)
    except wordpress.WordPressError as error:
        raise click.ClickException(f"Nothing was imported: {error}") from None
    click.echo(str(summary))


@click.command("backup")
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--keep", type=click.IntRange(min=1), help="Keep only the newest N backups in the folder.")
@with_appcontext
def backup_command(folder: Path | None, keep: int | None) -> None:
    """Copy the database into FOLDER (default: instance/backups) while the blog keeps running."""
    folder = folder or Path(current_app.instance_path) / "backups"
    try:
        target = transfer.backup(folder, keep)
    except transfer.TransferError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Backed up the database to {target} ({target.stat().st_size / 1_048_576:,.1f} MB).")


@click.command("reindex")
@with_appcontext
def reindex_command() -> None:
    """Rebuild the search index from the posts (after restoring a backup, say)."""
    click.echo(f"Indexed {search.reindex():,} posts for search.")


def purge_old_comments(older_than_days: int) -> int:
    """Delete held and spam comments older than ``older_than_days``; return how many were deleted."""
    cutoff = now_utc() - timedelta(days=older_than_days)
    query = delete(Comment).where(
        Comment.status.in_([CommentStatus.pending, CommentStatus.spam]), Comment.created_at < cutoff
    )
    deleted = db.session.execute(query).rowcount
    db.session.commit()
    return deleted


def purge_old_audit_entries(older_than_days: int) -> int:
    """Delete audit log entries older than ``older_than_days``; return how many were deleted."""
    cutoff = now_utc() - timedelta(days=older_than_days)
    deleted = db.session.execute(delete(AuditEntry).where(AuditEntry.at < cutoff)).rowcount
    db.session.commit()
    return deleted


def purge_old_login_failures(days: int = 1) -> int:
    """Forget counts of failed logins from networks whose lock ended over ``days`` ago, or that never reached one,
    so strangers' networks do not pile up; return how many were forgotten."""
    cutoff = now_utc() - timedelta(days=days)
    old = LoginFailures.locked_until.is_(None) | (LoginFailures.locked_until < cutoff)
    deleted = db.session.execute(delete(LoginFailures).where(old)).rowcount
    db.session.commit()
    return deleted


def comments_by_email(email: str) -> list[Comment]:
    """Return every comment left with this email address (any case), oldest first."""
    query = select(Comment).where(func.lower(Comment.author_email) == email.strip().lower())
    return list(db.session.scalars(query.order_by(Comment.created_at, Comment.id)))


def exported_comment(comment: Comment) -> dict[str, object]:
    return {
        "id": comment.id,
        "post": comment.post.slug,
        "created_at": comment.created_at.isoformat(),
        "status": comment.status.value,
        "name": comment.author_name,
        "email": comment.author_email,
        "website": comment.author_website,
        "body": comment.body,
    }


@click.command("purge")
@click.option("--days", type=click.IntRange(min=0), help="Age in days (default: PURGE_AFTER_DAYS).")
@with_appcontext
def purge_command(days: int | None) -> None:
    """Delete held and spam comments older than PURGE_AFTER_DAYS days (default 30), and audit log entries older
    than AUDIT_KEEP_DAYS (default 365), and counts of failed logins from networks no longer locked."""
    days = current_app.config["PURGE_AFTER_DAYS"] if days is None else days
    click.echo(f"Deleted {purge_old_comments(days):,} held or spam comments older than {days} days.")
    keep = current_app.config["AUDIT_KEEP_DAYS"]
    click.echo(f"Deleted {purge_old_audit_entries(keep):,} audit log entries older than {keep} days.")
    click.echo(f"Forgot {purge_old_login_failures():,} counts of failed logins from networks no longer locked.")


commenter_command = AppGroup("commenter", help="Answer a person's requests about their data (by email address).")


@commenter_command.command("export")
@click.argument("email")
def commenter_export_command(email: str) -> None:
    """Print, as JSON, every comment left with EMAIL."""
    click.echo(json.dumps([exported_comment(c) for c in comments_by_email(email)], indent=2, ensure_ascii=False))


@commenter_command.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def commenter_erase_command(email: str, yes: bool) -> None:
    """Delete every comment left with EMAIL, after confirmation."""
    comments = comments_by_email(email)
    if not comments:
        click.echo(f"There are no comments with the email address {email}.")
        return
    if not yes:
        click.confirm(f"Delete {len(comments)} comment(s) left with {email}? This cannot be undone", abort=True)
    for comment in comments:
        db.session.delete(comment)
    db.session.commit()
    click.echo(f"Deleted {len(comments)} comment(s) left with {email}.")


def _account_command(name: str, role: UserRole, summary: str) -> click.Command:
    """Build a ``create-admin``/``create-author`` command: same arguments, different role."""

    @click.command(name, help=f"{summary} The password comes from a prompt, or from ADMIN_PASSWORD.")
    @click.argument("username")
    @click.option("--display-name", help="The name readers see on posts (default: the username).")
    @with_appcontext
    def command(username: str, display_name: str | None) -> None:
        init_db()
        user = create_user(username, _password_from_environment_or_prompt(), role, display_name)
        click.echo(
            f"Created the {'administrator' if role == UserRole.admin else 'author'} {user.username}. "
            "Log in at /admin/login."
        )

    return command


create_admin_command = _account_command(
    "create-admin", UserRole.admin, "Create an administrator, who manages everything."
)
create_author_command = _account_command(
    "create-author", UserRole.author, "Create an author, who writes and edits only their own posts."
)


def register_commands(app: Flask) -> None:
    """Add Inkwell's commands to ``flask --app app``."""
    commands = (
        init_db_command,
        upgrade_db_command,
        seed_demo_command,
        comments_command,
        create_admin_command,
        create_author_command,
        purge_command,
        commenter_command,
        reindex_command,
        stats_command,
        export_command,
        import_command,
        backup_command,
        import_wordpress_command,
        set_password_command,
        disable_two_factor_command,
    )
    for command in commands:
        app.cli.add_command(command)
