"""``flask --app app ...`` commands: thin click wrappers over plain functions that tests call too."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from flask.cli import ScriptInfo
from flask.cli import with_appcontext
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.orm.attributes import flag_modified

import audit
import commenters
import demo
import images
import notifications
import search
import transfer.commands
from account import passwords
from account.logins import purge_old_login_failures
from account.tables import User
from account.tables import UserRole
from account.two_factor import turn_off_two_factor
from admin import library
from admin import moderation
from admin import trash
from comment_counts import recount_comments
from database import database_problem
from database import db
from localtime import format_stamp
from models import Comment
from models import CommentStatus
from models import Post
from models import PostStatus
from pagecache import POST_DETAILS
from pagecache import POSTS
from pagecache import forget_generations
from schema import init_db
from schema import use_migrations

CLI = ".venv/bin/flask --app app"  # how a fresh shell runs these commands, with no virtual environment active


@click.command("set-password")
@click.argument("username")
@with_appcontext
def set_password_command(username: str) -> None:
    """Set an account's password. The password comes from a prompt, or from ADMIN_PASSWORD."""
    with _account_rules_as_click_errors():
        user = passwords.set_password(username, _password_from_environment_or_prompt())
    click.echo(f"The password of {user.username} is changed.")


@click.command("disable-two-factor")
@click.argument("username")
@with_appcontext
def disable_two_factor_command(username: str) -> None:
    """Turn off an account's two-factor authentication, for an owner who lost both the phone and the recovery codes."""
    with _account_rules_as_click_errors():
        user = passwords.existing_account(username)
    if not user.has_two_factor:
        raise click.ClickException(f"Two-factor authentication is not on for {user.username}.")
    turn_off_two_factor(user)
    db.session.commit()
    audit.record("Turned off two-factor authentication from the command line", user)
    click.echo(f"Two-factor authentication is off for {user.username}: the password alone logs in.")


@contextmanager
def _account_rules_as_click_errors() -> Iterator[None]:
    """Show a broken account rule as the command's error message, not a traceback."""
    try:
        yield
    except passwords.AccountError as error:
        raise click.ClickException(str(error)) from None


def _password_from_environment_or_prompt() -> str:
    password = os.environ.get("ADMIN_PASSWORD")
    if password is not None:
        return password
    return click.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password")


def moderate_from_command_line(comment_id: int, action: str) -> Comment:
    """Moderate a comment as the queue does (same mails), and note it in the audit log.

    :raise click.ClickException: when there is no comment with this id.
    """
    comment = db.session.get(Comment, comment_id)
    if comment is None:
        raise click.ClickException(f"There is no comment with id {comment_id}.")
    if comment.is_trashed:
        raise click.ClickException(f"Comment {comment_id} is in the trash: restore it at /admin/trash first.")
    moderation.moderate(comment, action, "(command line)")
    audit.record(
        "Moderated a comment from the command line", None, f"comment {comment_id}, action: {action}", "(command line)"
    )
    return comment


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create or upgrade the database (and write a welcome post on a new one)."""
    problem = database_problem()
    if problem:
        raise click.ClickException(problem)
    if init_db():
        click.echo(f"Created a new database with the post “{demo.WELCOME_TITLE}”.")
    else:
        click.echo("The database is up to date; existing data was kept.")


def first_steps(address: str) -> str:
    """Say, in plain words, where the blog is and how its owner gets into the admin area from here."""
    admin = db.session.scalar(select(User).where(User.role == UserRole.admin).order_by(User.id).limit(1))
    lines = [
        "",
        f"Your blog:       {address}/",
        f"The admin area:  {address}/admin/",
        "",
    ]
    if admin is None:
        lines += [
            "There is no account yet. To write posts, create yours in another terminal, in this folder:",
            "",
            f"    {CLI} create-admin YOURNAME",
            "",
            f"It asks for a password; then log in at {address}/admin/",
        ]
    else:
        lines += [
            f"Log in at {address}/admin/ as {admin.username}.",
            f"Forgot the password? {CLI} set-password {admin.username}",
        ]
    lines += ["", "Another port: make run PORT=8080. Stop the blog with Ctrl+C.", ""]
    return "\n".join(lines)


def browser_address(host: str, port: int) -> str:
    """The address to open in a browser for a server listening on ``host``: every address means this machine."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@click.command("first-steps")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address the blog listens on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="Its port.")
@with_appcontext
def first_steps_command(host: str, port: int) -> None:
    """Say where the blog is and how to log in to write (``make run`` prints it before starting)."""
    click.echo(first_steps(browser_address(host, port)))


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
    posts, comments = demo.seed_demo(post_count, comment_count)
    click.echo(f"Added {posts:,} demo posts and {comments:,} comments.")


comments_command = AppGroup(
    "comments", help="Moderate comments: list those waiting, approve them or mark them as spam."
)


@comments_command.command("pending")
def pending_command() -> None:
    """List comments awaiting moderation."""
    comments = moderation.pending_comments()
    if not comments:
        click.echo("No comments are awaiting moderation.")
    for comment in comments:
        excerpt = " ".join(comment.body.split())[:60]
        click.echo(
            f"{comment.id}\t{format_stamp(comment.created_at)}\t{comment.post.slug}\t{comment.author_name}: {excerpt}"
        )


@comments_command.command("approve")
@click.argument("comment_id", type=int)
def approve_command(comment_id: int) -> None:
    """Publish a held comment (and trust its commenter from now on)."""
    comment = moderate_from_command_line(comment_id, "approve")
    click.echo(f"Approved comment {comment.id} by {comment.author_name}.")


@comments_command.command("spam")
@click.argument("comment_id", type=int)
def spam_command(comment_id: int) -> None:
    """Mark a comment as spam, hiding it from readers."""
    comment = moderate_from_command_line(comment_id, "spam")
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


@click.command("reindex")
@with_appcontext
def reindex_command() -> None:
    """Rebuild the search index from the posts (after restoring a backup, say)."""
    click.echo(f"Indexed {search.reindex():,} posts for search.")


@click.command("recount")
@with_appcontext
def recount_command() -> None:
    """Count every post's comments and number its threads again (after changing comments with SQL, say)."""
    recount_comments()
    db.session.commit()
    click.echo("Counted the comments and the threads of every post again.")


def rerender_posts() -> int:
    """Render every post and page again from its text, and return how many now read differently.

    A post's HTML is made when it is saved; after an upgrade that renders differently (code highlighting,
    say), this brings the saved ones up to date. Their "updated" date stays: nobody edited them.
    """
    changed = 0
    for post in db.session.scalars(select(Post)).all():
        before = post.body_html
        post.body = post.body  # the model renders on every assignment
        if post.body_html != before:
            flag_modified(post, "updated_at")
            changed += 1
    db.session.commit()
    return changed


@click.command("rerender")
@with_appcontext
def rerender_command() -> None:
    """Render every post and page again (after an upgrade that changes how posts look, such as highlighting)."""
    click.echo(f"Rendered the posts again: {rerender_posts():,} changed.")


@click.command("image-sizes")
@click.option("--again", is_flag=True, help="Make the copies of every image again, not only of those without.")
@with_appcontext
def image_sizes_command(again: bool) -> None:
    """Make the smaller WebP (and AVIF) copies of uploaded images that have none (uploads from before they existed)."""
    done, written = images.write_missing_copies(again=again)
    if written:  # pages offer the copies, and no row changed to say so
        forget_generations((POSTS, POST_DETAILS))
    click.echo(f"Made {written:,} smaller copies of {done:,} images.")


@click.command("purge")
@click.option("--days", type=click.IntRange(min=0), help="Age in days (default: PURGE_AFTER_DAYS).")
@with_appcontext
def purge_command(days: int | None) -> None:
    """Delete held and spam comments older than PURGE_AFTER_DAYS days (default 30), posts, comments and images in
    the trash for more than TRASH_KEEP_DAYS (default 30), audit log entries older than AUDIT_KEEP_DAYS (default
    365), and counts of failed logins from networks no longer locked."""
    days = current_app.config["PURGE_AFTER_DAYS"] if days is None else days
    click.echo(f"Deleted {moderation.purge_old_comments(days):,} held or spam comments older than {days} days.")
    trashed = current_app.config["TRASH_KEEP_DAYS"]
    click.echo(f"Deleted forever {trash.purge_old_trash(trashed):,} posts in the trash for over {trashed} days.")
    click.echo(f"Deleted forever {library.purge_old_uploads(trashed):,} images in the trash for over {trashed} days.")
    comments = trash.purge_old_trashed_comments(trashed)
    click.echo(f"Deleted forever {comments:,} comments in the trash for over {trashed} days.")
    keep = current_app.config["AUDIT_KEEP_DAYS"]
    click.echo(f"Deleted {audit.purge_old_entries(keep):,} audit log entries older than {keep} days.")
    click.echo(f"Forgot {purge_old_login_failures():,} counts of failed logins from networks no longer locked.")


@click.command("send-mail")
@with_appcontext
def send_mail_command() -> None:
    """Send the emails held since an approval in the queue whose Undo has expired (run it from cron every few
    minutes; the admin pages send them too)."""
    if not current_app.config["MAIL_SERVER"]:
        raise click.ClickException("MAIL_SERVER is not set: Inkwell sends no email.")
    click.echo(f"Sent {notifications.send_due_mail():,} held emails.")


commenter_command = AppGroup("commenter", help="Answer a person's requests about their data (by email address).")


@commenter_command.command("export")
@click.argument("email")
def commenter_export_command(email: str) -> None:
    """Print, as JSON, every comment left with EMAIL."""
    comments = [commenters.exported_comment(c) for c in commenters.comments_by_email(email)]
    click.echo(json.dumps(comments, indent=2, ensure_ascii=False))


@commenter_command.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def commenter_erase_command(email: str, yes: bool) -> None:
    """Delete every comment left with EMAIL, after confirmation."""
    comments = commenters.comments_by_email(email)
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
        with _account_rules_as_click_errors():
            user = passwords.create_user(username, _password_from_environment_or_prompt(), role, display_name)
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


class MigrationCommands(click.Group):
    """``flask db …``: Flask-Migrate's commands, imported when one is used, not by every web worker."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        from flask_migrate.cli import db as flask_migrate_commands

        use_migrations((parent or click.Context(self)).ensure_object(ScriptInfo).load_app())
        return flask_migrate_commands.make_context(info_name, args, parent=parent, **extra)


migration_commands = MigrationCommands("db", help="Perform database migrations (Flask-Migrate, Alembic).")


def register_commands(group: click.Group) -> None:
    """Add Inkwell's commands to ``group``, the app's ``flask --app app`` (app.LazyCommands)."""
    commands = (
        init_db_command,
        upgrade_db_command,
        first_steps_command,
        seed_demo_command,
        comments_command,
        create_admin_command,
        create_author_command,
        purge_command,
        send_mail_command,
        commenter_command,
        reindex_command,
        recount_command,
        rerender_command,
        image_sizes_command,
        stats_command,
        set_password_command,
        disable_two_factor_command,
        migration_commands,
    )
    for command in (*commands, *transfer.commands.COMMANDS):
        group.add_command(command)
