"""The owner sets up and tends the blog from the command line (``flask --app app ...``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import func
from sqlalchemy import select

from audit import AuditEntry
from database import db
from database import now_utc
from demo import WELCOME_BODY
from demo import WELCOME_TITLE
from helpers import ROOT
from helpers import count
from helpers import csrf_token
from helpers import page_text
from helpers import post_comment
from models import Comment
from models import CommentStatus
from models import Post
from models import PostStatus
from models import Tag


def test_init_db_creates_a_welcome_post_once(make_app):
    app = make_app()
    with app.app_context():
        db.drop_all()
    runner = app.test_cli_runner()

    first = runner.invoke(args=["init-db"])
    second = runner.invoke(args=["init-db"])

    assert first.exit_code == 0 and "Created a new database" in first.output
    assert second.exit_code == 0 and "The database is up to date; existing data was kept." in second.output
    assert count(app, Post.id) == 1
    html = page_text(app.test_client().get("/"))
    assert WELCOME_TITLE in html
    assert app.test_client().get("/posts/welcome").status_code == 200


def test_first_steps_say_where_the_blog_is_and_how_to_create_the_first_account(runner):
    result = runner.invoke(args=["first-steps", "--port", "8080"])

    assert result.exit_code == 0, result.output
    assert "Your blog:       http://127.0.0.1:8080/" in result.output
    assert "There is no account yet." in result.output
    assert ".venv/bin/flask --app app create-admin YOURNAME" in result.output
    assert "then log in at http://127.0.0.1:8080/admin/" in result.output


def test_once_there_is_an_administrator_first_steps_give_the_admin_address(runner, make_user):
    make_user("olive")

    output = runner.invoke(args=["first-steps", "--host", "0.0.0.0", "--port", "5000"]).output

    assert "Log in at http://127.0.0.1:5000/admin/ as olive." in output
    assert "create-admin" not in output


def test_make_run_says_the_address_and_first_steps_on_the_port_asked_for():
    commands = subprocess.run(
        ["make", "--no-print-directory", "--dry-run", "--always-make", "run", "PORT=8080"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()

    assert ".venv/bin/flask --app app first-steps --host 127.0.0.1 --port 8080" in commands
    assert commands[-1] == ".venv/bin/flask --app app run --host 127.0.0.1 --port 8080"


TYPED_COMMAND = re.compile(r"(?P<prefix>\S*)flask --app app (?P<words>[a-z][a-z-]*(?: [a-z][a-z-]*)?)")


def typed_commands(markdown: str) -> list[tuple[str, list[str]]]:
    """The ``flask --app app`` commands a Markdown text tells its reader to type, in code spans and shell blocks:
    each with what comes before ``flask`` and its command words (a group's subcommand included)."""
    blocks = re.findall(r"```sh\n(.*?)```", markdown, flags=re.DOTALL)
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", markdown, flags=re.DOTALL))
    return [(m["prefix"], m["words"].split()) for text in blocks + spans for m in TYPED_COMMAND.finditer(text)]


def assert_every_command_exists(runner, commands: list[tuple[str, list[str]]]) -> None:
    for _, words in commands:
        help_text = runner.invoke(args=[words[0], "--help"])
        assert help_text.exit_code == 0, f"flask --app app {words[0]} does not exist"
        if "Commands:" in help_text.output and len(words) > 1:  # a group: its subcommand must exist too
            assert runner.invoke(args=[*words, "--help"]).exit_code == 0, f"flask --app app {' '.join(words)}"


def test_every_command_the_welcome_post_names_exists_and_works_from_a_fresh_shell(runner):
    commands = typed_commands(WELCOME_BODY)

    assert [words for _, words in commands] == [["create-admin"]]
    assert {prefix for prefix, _ in commands} == {".venv/bin/"}  # no virtual environment needs to be active
    assert_every_command_exists(runner, commands)


def test_every_command_the_readme_names_exists_and_works_from_a_fresh_shell(runner):
    commands = typed_commands((ROOT / "README.md").read_text())

    assert len(commands) > 20
    assert {prefix for prefix, _ in commands} == {".venv/bin/"}
    assert_every_command_exists(runner, commands)


def test_init_db_keeps_existing_posts(app, runner, make_post):
    make_post("Precious")
    runner.invoke(args=["init-db"])
    with app.app_context():
        assert db.session.scalars(select(Post.title)).all() == ["Precious"]


def test_seed_demo_adds_published_posts_tags_and_comments(app, runner, client):
    """Ten posts a page: 120 posts make twelve pages."""
    result = runner.invoke(args=["seed-demo", "--posts", "120", "--comments", "900"])

    assert result.exit_code == 0, result.output
    assert "Added 120 demo posts and 900 comments." in result.output
    assert count(app, Post.id) == 120
    assert count(app, Comment.id) == 900
    with app.app_context():
        statuses = set(db.session.scalars(select(Post.status).distinct()))
        assert statuses == {PostStatus.published}
        assert db.session.scalar(select(func.count(Tag.id))) >= 5
    assert client.get("/?page=12").status_code == 200
    assert client.get("/?page=13").status_code == 404


def test_seed_demo_can_run_twice_without_slug_clashes(app, runner):
    runner.invoke(args=["seed-demo", "--posts", "20", "--comments", "0"])
    result = runner.invoke(args=["seed-demo", "--posts", "20", "--comments", "10"])
    assert result.exit_code == 0, result.output
    assert count(app, Post.id) == 40


def test_seed_demo_uses_a_tag_the_blog_already_has_in_another_case(app, runner, make_post):
    make_post("Before the demo", tags=("travel",))

    result = runner.invoke(args=["seed-demo", "--posts", "30", "--comments", "0"])

    assert result.exit_code == 0, result.output
    with app.app_context():
        travel = db.session.scalars(select(Tag).where(func.lower(Tag.name) == "travel")).all()
        assert [tag.name for tag in travel] == ["travel"]
        assert len(travel[0].posts) > 1  # the demo's posts share the owner's tag


def test_seed_demo_comments_include_replies_so_posts_show_conversations(app, runner, client):
    result = runner.invoke(args=["seed-demo", "--posts", "3", "--comments", "200"])

    assert result.exit_code == 0, result.output
    with app.app_context():
        comments = {comment.id: comment for comment in db.session.scalars(select(Comment))}
        replies = [comment for comment in comments.values() if comment.parent_id]
        assert len(comments) == 200 and len(replies) == 80
        for reply in replies:
            parent = comments[reply.parent_id]
            assert reply.post_id == parent.post_id and reply.created_at >= parent.created_at
        assert any(comments[reply.parent_id].parent_id for reply in replies)  # replies to replies too
        slug = db.session.get(Post, replies[0].post_id).slug
    html = client.get(f"/posts/{slug}").get_data(as_text=True)
    assert 'class="comment depth-2' in html and 'class="comment depth-3' in html
    assert "in reply to" in html


def test_seed_demo_refuses_negative_counts(runner):
    result = runner.invoke(args=["seed-demo", "--posts", "-5"])
    assert result.exit_code == 2
    assert "-5 is not in the range x>=0" in result.output


def test_comment_commands_list_approve_and_mark_spam(make_app, make_post):
    app = make_app(COMMENT_MODERATION="all")
    client, runner = app.test_client(), app.test_cli_runner()
    post = make_post("Moderated")
    post_comment(client, post.slug, name="Grace", body="Approve me please")
    post_comment(client, post.slug, name="Spammer", body="Cheap watches")

    listing = runner.invoke(args=["comments", "pending"])
    assert "Grace: Approve me please" in listing.output and "Spammer: Cheap watches" in listing.output

    assert "Approved comment 1 by Grace." in runner.invoke(args=["comments", "approve", "1"]).output
    assert "Marked comment 2 by Spammer as spam." in runner.invoke(args=["comments", "spam", "2"]).output

    assert "No comments are awaiting moderation." in runner.invoke(args=["comments", "pending"]).output
    with app.app_context():
        assert db.session.scalars(select(Comment.status).order_by(Comment.id)).all() == [
            CommentStatus.approved,
            CommentStatus.spam,
        ]
    html = page_text(app.test_client().get(f"/posts/{post.slug}"))
    assert "Approve me please" in html and "Cheap watches" not in html


def test_moderating_from_the_command_line_is_in_the_audit_log_as_the_queue_is(app, client, admin, make_post):
    post = make_post("Audited")
    post_comment(app.test_client(), post.slug, body="One")
    post_comment(app.test_client(), post.slug, body="Two")
    token = csrf_token(client, "/admin/comments")
    client.post("/admin/comments/1/moderate", data={"csrf_token": token, "action": "spam"})

    app.test_cli_runner().invoke(args=["comments", "spam", "2"])

    html = page_text(client.get("/admin/audit"))
    assert re.search(r"<td>owner</td>\s*<td>Moderated a comment</td>\s*<td>comment_id 1, action: spam</td>", html)
    assert re.search(
        r"<td>\(command line\)</td>\s*<td>Moderated a comment from the command line</td>\s*"
        r"<td>comment 2, action: spam</td>",
        html,
    )


def test_moderating_an_unknown_comment_says_so(runner):
    result = runner.invoke(args=["comments", "approve", "999"])
    assert result.exit_code == 1
    assert "There is no comment with id 999." in result.output


def test_purge_removes_old_held_and_spam_comments_only(app, runner, client, make_post):
    post = make_post()
    for body in ("Old held", "Old spam", "Old approved", "New held"):
        post_comment(client, post.slug, body=body)
    with app.app_context():
        statuses = [CommentStatus.pending, CommentStatus.spam, CommentStatus.approved, CommentStatus.pending]
        for comment, status in zip(db.session.scalars(select(Comment).order_by(Comment.id)), statuses, strict=True):
            comment.status = status
            if comment.body.startswith("Old"):
                comment.created_at = now_utc() - timedelta(days=31)
        db.session.commit()

    result = runner.invoke(args=["purge"])

    assert "Deleted 2 held or spam comments older than 30 days." in result.output
    with app.app_context():
        assert db.session.scalars(select(Comment.body).order_by(Comment.id)).all() == ["Old approved", "New held"]


def test_purge_removes_audit_log_entries_older_than_a_year(app, runner, admin):
    with app.app_context():
        db.session.add(AuditEntry(username="owner", action="Saved a post", at=now_utc() - timedelta(days=366)))
        db.session.commit()

    result = runner.invoke(args=["purge"])

    assert "Deleted 1 audit log entries older than 365 days." in result.output
    with app.app_context():
        assert db.session.scalars(select(AuditEntry.action)).all() == ["Logged in"]  # the admin fixture's login


def test_commenter_export_gives_a_person_their_comments(runner, client, make_post):
    post = make_post("Mine")
    post_comment(client, post.slug, name="Ada", email="Ada@Example.com", body="My words")
    post_comment(client, post.slug, name="Ken", email="ken@example.com", body="Not Ada's")

    result = runner.invoke(args=["commenter", "export", "ada@example.com"])

    exported = json.loads(result.output)
    assert [(c["post"], c["name"], c["body"], c["status"]) for c in exported] == [
        ("mine", "Ada", "My words", "approved")
    ]


def test_commenter_erase_asks_first_then_removes_their_comments(app, runner, client, make_post):
    post = make_post()
    post_comment(client, post.slug, email="ada@example.com", body="Erase me")
    post_comment(client, post.slug, email="ken@example.com", body="Keep me")

    declined = runner.invoke(args=["commenter", "erase", "ada@example.com"], input="n\n")
    assert declined.exit_code == 1 and "Delete 1 comment(s) left with ada@example.com?" in declined.output
    assert count(app, Comment.id) == 2

    confirmed = runner.invoke(args=["commenter", "erase", "ada@example.com"], input="y\n")
    assert "Deleted 1 comment(s) left with ada@example.com." in confirmed.output
    with app.app_context():
        assert db.session.scalars(select(Comment.body)).all() == ["Keep me"]
    assert "There are no comments" in runner.invoke(args=["commenter", "erase", "ada@example.com", "--yes"]).output


def test_flask_db_commands_work_from_a_fresh_shell(tmp_path):
    result = subprocess.run(
        [str(ROOT / ".venv/bin/flask"), "--app", "app", "db", "heads"],
        cwd=ROOT,
        env=os.environ | {"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'blog.db'}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    newest = sorted(path.name[:4] for path in (ROOT / "migrations" / "versions").glob("0*.py"))[-1]
    assert result.returncode == 0, result.stderr
    assert f"{newest} (head)" in result.stdout


def test_a_web_worker_does_not_load_the_migration_tool(tmp_path):
    """Alembic costs every gunicorn worker 11 MB and a tenth of a second to start, for nothing it serves."""
    code = "import sys; from app import create_app; create_app(); print('alembic' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=os.environ | {"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'blog.db'}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
