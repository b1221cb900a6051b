"""The blog's data is its owner's: a lossless export and import, and backups taken while it serves."""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy import select

from account.tables import User
from account.tables import UserRole
from database import db
from database import now_utc
from helpers import DATABASES
from helpers import PASSWORD
from helpers import PASSWORD_HASH
from helpers import ROOT
from helpers import csrf_token
from helpers import exported
from helpers import gif_bomb
from helpers import imported
from helpers import log_in
from helpers import page_text
from helpers import png_bytes
from helpers import post_comment
from helpers import run_posters
from helpers import submit_post
from helpers import wipe
from image_sizes import is_copy
from models import Comment
from models import CommentStatus
from models import Post
from models import PostStatus
from transfer import inkwell
from transfer.backup import backup
from transfer.common import TransferError
from transfer.export import export_zip
from transfer.inkwell import import_data
from transfer.inkwell import read_export


@pytest.fixture
def full_blog(app, client, admin, make_post):
    """A blog with a bit of everything: drafts, a schedule, a renamed post, tags, threads, an image."""
    submit_post(
        client,
        title="With an image",
        body="Look",
        tags="Photos, Ünïcode",
        image=(io.BytesIO(png_bytes()), "a.png"),
        image_alt="A pixel",
    )
    submit_post(client, title="Renamed", slug="first-name", tags="Photos")
    renamed = db_post(app, "Renamed")
    submit_post(client, f"/admin/posts/{renamed.id}/edit", title="Renamed", slug="second-name")
    submit_post(client, title="Brouillon", status="draft", body="Écrit à moitié")
    submit_post(client, title="Later", published_at=(now_utc() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"))
    post_comment(client, "second-name", name="Zoë", email="zoe@example.com", body="Top *level*")
    post_comment(
        client,
        "second-name",
        name="Ken",
        website="https://ken.example",
        body="A reply",
        parent_id="1",
        notify_replies="y",
        email="ken@example.com",
    )
    return app


def db_post(app, title: str) -> Post:
    with app.app_context():
        post = db.session.scalars(select(Post).where(Post.title == title)).one()
        db.session.expunge(post)
        return post


def test_export_then_import_into_an_empty_blog_then_export_gives_the_same_bytes(full_blog):
    first = exported(full_blog)
    wipe(full_blog)

    result = imported(full_blog, first)

    assert result.counts == {"users": 1, "tags": 2, "posts": 4, "comments": 2, "images": 1}
    assert exported(full_blog) == first


def test_the_export_holds_everything_a_move_needs(full_blog):
    data = json.loads(exported(full_blog))
    assert data["format"] == "inkwell-export" and data["version"] == 1
    renamed = next(post for post in data["posts"] if post["title"] == "Renamed")
    assert renamed["slug"] == "second-name" and renamed["old_slugs"] == ["first-name"]
    assert {post["status"] for post in data["posts"]} == {"draft", "published"}
    reply = data["comments"][1]
    assert reply["parent"] == 1 and reply["author_email"] == "ken@example.com" and reply["notify_replies"] is True
    upload = data["uploads"][0]
    assert base64.b64decode(upload["data"]) == (Path(full_blog.instance_path) / "uploads" / upload["name"]).read_bytes()
    assert data["settings"]["BLOG_TITLE"] == "Inkwell"
    assert "password_hash" not in data["users"][0]


def test_imported_blog_works_links_threads_images_and_old_addresses(full_blog):
    export = exported(full_blog, with_users=True)
    wipe(full_blog)
    imported(full_blog, export, keep_passwords=True)
    client = full_blog.test_client()

    assert client.get("/posts/first-name").headers["Location"] == "/posts/second-name"
    page = client.get("/posts/second-name").get_data(as_text=True)
    assert "<em>level</em>" in page and 'in reply to <a href="#comment-1">Zoë</a>' in page
    assert re.search(r"<h2 id=\"comments-heading\">\d+ comments?</h2>", page)  # counts come back too
    image = json.loads(export)["uploads"][0]
    assert client.get(f"/uploads/{image['name']}").data == base64.b64decode(image["data"])
    assert "Ünïcode" in client.get("/tags/").get_data(as_text=True)
    assert "Renamed" in client.get("/search?q=renamed").get_data(as_text=True)
    assert log_in(client, "owner", PASSWORD).status_code == 302  # --with-users, then kept on import
    post_comment(client, "second-name", body="New after the move")  # ids continue after the imported ones


def test_import_refuses_a_blog_that_already_has_content(full_blog):
    with pytest.raises(TransferError, match="already has posts or comments"):
        imported(full_blog, exported(full_blog))


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda text: text[: len(text) // 2], "The file is not complete JSON: .* at line \\d+, column \\d+"),
        (lambda text: "<rss><channel/></rss>", "The file is not complete JSON"),
        (lambda text: json.dumps({"posts": []}), "This is not an Inkwell export"),
        (lambda text: text.replace('"version": 1', '"version": 2'), "made by a newer Inkwell \\(format version 2\\)"),
        (
            lambda text: text.replace('"slug": "with-an-image"', '"slug": "second-name"'),
            "The post slug 'second-name' appears more than once",
        ),
        (lambda text: text.replace('"parent": 1', '"parent": 77'), "answers comment 77, which is not in the file"),
    ],
    ids=["truncated", "wrong kind of file", "not an export", "newer format", "duplicate slugs", "missing parent"],
)
def test_bad_import_files_are_refused_with_a_reason_and_nothing_half_imported(full_blog, mangle, message):
    export = exported(full_blog)
    wipe(full_blog)

    with full_blog.app_context(), pytest.raises(TransferError, match=message):
        import_data(read_export(mangle(export).encode()))

    with full_blog.app_context():
        assert db.session.scalar(select(func.count(Post.id))) == 0
        assert db.session.scalar(select(func.count(Comment.id))) == 0


def test_an_oversized_import_is_refused_before_reading_it(full_blog, monkeypatch):
    monkeypatch.setattr(inkwell, "IMPORT_MAX_BYTES", 100)
    with pytest.raises(TransferError, match="imports can be at most 200 MB"):
        read_export(b" " * 101)


def test_a_zip_that_unpacks_to_more_than_an_import_may_be_is_refused_before_unpacking(full_blog, monkeypatch):
    with full_blog.app_context():
        archive = export_zip()
    monkeypatch.setattr(inkwell, "IMPORT_MAX_BYTES", len(archive) + 100)  # the zip fits, its contents do not
    wipe(full_blog)

    with full_blog.app_context(), pytest.raises(TransferError, match=r"The zip file unpacks to \d+ MB"):
        read_export(archive)


def test_export_and_import_commands(full_blog, runner, tmp_path):
    path = tmp_path / "blog.json"
    result = runner.invoke(args=["export", str(path)])
    assert "Exported 4 posts, 2 comments, 2 tags, 1 images and 1 accounts" in result.output
    refused = runner.invoke(args=["import", str(path)])
    assert refused.exit_code == 1 and "Nothing was imported: This blog already has" in refused.output
    wipe(full_blog)
    done = runner.invoke(args=["import", str(path)])
    assert "Imported 1 users, 2 tags, 4 posts, 2 comments, 1 images." in done.output


def test_backup_while_comments_are_being_posted_is_consistent(live_server, tmp_path):
    url = live_server(COMMENT_MODERATION="off", COMMENT_RATE_LIMIT="100000 per minute")
    env = os.environ | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'live.db'}",
        "SECRET_KEY": "x",
        "INSTANCE_PATH": str(tmp_path / "instance"),
    }
    backups: list[str] = []

    def back_up_repeatedly() -> None:
        for _ in range(3):
            result = subprocess.run(
                [sys.executable, "-m", "flask", "--app", "app", "backup", str(tmp_path / "b"), "--keep", "2"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            backups.append(result.stdout)

    backup_thread = threading.Thread(target=back_up_repeatedly)
    acknowledged, failures = run_posters(url, during=backup_thread.start)
    backup_thread.join(timeout=120)

    assert failures == [] and len(backups) == 3 and "Backed up the database to" in backups[0]
    files = sorted((tmp_path / "b").iterdir())
    assert len(files) == 2  # --keep 2
    with sqlite3.connect(files[-1]) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("SELECT count(*) FROM posts").fetchone()[0] == 1


@pytest.mark.parametrize("database_url", [name for name in DATABASES if name == "postgresql"], indirect=True)
def test_backup_of_postgresql_uses_pg_dump_or_says_why_not(app, tmp_path):
    with app.app_context():
        if shutil.which("pg_dump"):
            assert backup(tmp_path).stat().st_size > 0
        else:
            with pytest.raises(TransferError, match="pg_dump is not installed"):
                backup(tmp_path)


def test_round_trip_keeps_statuses(full_blog):
    export = exported(full_blog)
    wipe(full_blog)
    imported(full_blog, export)
    with full_blog.app_context():
        assert db.session.scalar(select(Post.status).where(Post.title == "Brouillon")) == PostStatus.draft


def test_zip_export_carries_images_as_files_and_imports_the_same(full_blog, tmp_path):
    with full_blog.app_context():
        archive = export_zip()
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        names = opened.namelist()
        assert "inkwell-export.json" in names and any(n.startswith("uploads/") and n.endswith(".png") for n in names)
    first = exported(full_blog)
    wipe(full_blog)
    with full_blog.app_context():
        import_data(read_export(archive))
    assert exported(full_blog) == first


def test_damaged_zip_is_refused(full_blog):
    with pytest.raises(TransferError, match="zip file"):
        read_export(b"PK\x03\x04" + b"\0" * 40)


def test_admin_downloads_the_export_and_imports_it_into_an_empty_blog(full_blog, client):
    token = csrf_token(client, "/admin/data")
    download = client.post("/admin/data/export", data={"csrf_token": token})
    assert download.headers["Content-Disposition"].startswith('attachment; filename="inkwell-')
    assert json.loads(download.data)["format"] == "inkwell-export"

    refused = client.post(
        "/admin/data/import", data={"csrf_token": token, "export": (io.BytesIO(download.data), "b.json")}
    )
    assert refused.status_code == 400 and "Nothing was imported: This blog already has" in refused.get_data(
        as_text=True
    )

    wipe(full_blog)
    with full_blog.app_context():
        db.session.add(User(username="owner", display_name="Olive", role=UserRole.admin, password_hash=PASSWORD_HASH))
        db.session.commit()
    assert client.get("/admin/data").status_code == 302  # a new account, though with the old id: log in again
    log_in(client, "owner")
    token = csrf_token(client, "/admin/data")
    done = client.post(
        "/admin/data/import", data={"csrf_token": token, "export": (io.BytesIO(download.data), "b.json")}
    )
    assert done.status_code == 303
    assert "Imported 0 users, 2 tags, 4 posts, 2 comments, 1 images." in client.get("/admin/").get_data(as_text=True)
    assert client.get("/posts/second-name").status_code == 200


def test_admin_import_of_a_bad_file_says_what_is_wrong(client, admin):
    token = csrf_token(client, "/admin/data")
    response = client.post("/admin/data/import", data={"csrf_token": token, "export": (io.BytesIO(b"{oops"), "x.json")})
    assert response.status_code == 400
    assert "Nothing was imported: The file is not complete JSON" in response.get_data(as_text=True)


def test_only_administrators_export(app, client, make_user):
    make_user("writer", UserRole.author)
    log_in(client, "writer")
    assert client.get("/admin/data").status_code == 403
    token = csrf_token(client, "/admin/posts/new")
    assert client.post("/admin/data/export", data={"csrf_token": token}).status_code == 403


# An import file may come from someone else: nothing in it is trusted more than what a stranger types.

MALLORYS_PASSWORD = "mallory chose this one"


def foreign_export(**parts) -> dict:
    """An export as anyone could write it by hand: one published post, and whatever ``parts`` replace."""
    when = "2024-01-01T00:00:00+00:00"
    post = {
        "id": 1, "legacy_addresses": [], "title": "Hello", "slug": "hello", "old_slugs": [], "body": "Hi there.",
        "excerpt": "", "status": "published", "comments_open": True, "author": None, "tags": [],
        "published_at": when, "created_at": when, "updated_at": when,
    }  # fmt: skip
    data = {"format": "inkwell-export", "version": 1, "settings": {}, "users": [], "tags": [], "posts": [post]}
    return data | {"comments": [], "uploads": []} | parts


def foreign_comment(index: int, name: str, website: str | None) -> dict:
    return {
        "id": index, "post": 1, "parent": None, "status": "approved", "author_name": name, "author_email": None,
        "author_website": website, "body": f"Comment {index}", "ip_hash": None, "commenter_key": None,
        "held_reason": None, "notify_replies": False, "notify_approval": False,
        "created_at": f"2024-01-0{index}T00:00:00+00:00", "edited_at": None,
    }  # fmt: skip


def foreign_upload(name: str, content: bytes) -> dict:
    return {"name": name, "data": base64.b64encode(content).decode()}


def import_on_the_admin_page(client, data: dict, **fields: str):
    """Send ``data`` through the admin area's import form with its CSRF token; return the page shown after."""
    token = csrf_token(client, "/admin/data", "/admin/data/import")
    upload = (io.BytesIO(json.dumps(data).encode()), "from-someone-else.json")
    response = client.post("/admin/data/import", data={"csrf_token": token, "export": upload} | fields)
    assert response.status_code == 303, response.get_data(as_text=True)
    return html.unescape(page_text(client.get(response.headers["Location"])))


def test_an_import_cannot_put_a_page_or_a_script_among_the_images(app, client, admin):
    good = "0123456789abcdef01234567.png"
    data = foreign_export(
        uploads=[
            foreign_upload("x.html", b"GIF89a<p>Log in again</p><script src=/uploads/x.js></script>"),
            foreign_upload("x.js", b"GIF89a=1;alert(document.cookie)"),  # a GIF header is valid JavaScript
            foreign_upload("photo.html", png_bytes()),
            foreign_upload("bomb.gif", gif_bomb(500, 500, 200)),
            foreign_upload(good, png_bytes()),
        ]
    )

    page = import_on_the_admin_page(client, data)

    assert "Imported 0 users, 0 tags, 1 posts, 0 comments, 1 images." in page
    assert "The image x.html was left out: That image could not be read" in page
    assert "The image x.js was left out: That image could not be read" in page
    assert "The image photo.html was left out: Inkwell stores images only under names" in page
    assert "The image bomb.gif was left out: That image has too many pixels to be shown safely" in page
    for refused in ("x.html", "x.js", "photo.html", "bomb.gif"):
        assert client.get(f"/uploads/{refused}").status_code == 404
    stored = (Path(app.instance_path) / "uploads").iterdir()
    assert [path.name for path in stored if not is_copy(path.name)] == [good]
    assert client.get(f"/uploads/{good}").headers["Content-Type"] == "image/png"
    assert client.get("/posts/hello").status_code == 200


UNSAFE_WEBSITES = [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "https://",
]


def test_an_imported_commenters_website_is_linked_only_if_the_comment_form_would_accept_it(app, client, admin):
    websites = [*UNSAFE_WEBSITES, "https://fine.example/blog"]
    comments = [foreign_comment(index, f"Writer {index}", website) for index, website in enumerate(websites, 1)]

    page = import_on_the_admin_page(client, foreign_export(comments=comments))

    assert f"{len(UNSAFE_WEBSITES)} commenters' websites were left out" in page
    post = page_text(client.get("/posts/hello"))
    assert re.findall(r'<p class="comment-author"><a href="([^"]*)"', post) == ["https://fine.example/blog"]
    assert all(f"Writer {index}" in post for index in range(1, len(websites) + 1))
    feed = client.get("/posts/hello/comments.xml").get_data(as_text=True)
    assert re.findall(r"<uri>([^<]*)</uri>", feed) == ["https://fine.example/blog"]


def test_a_website_stored_before_the_rule_existed_is_shown_without_a_link(app, client, make_post):
    post = make_post(title="Old", body="Old post")
    with app.app_context():
        old = Comment(post_id=post.id, author_name="Old Mallory", author_website="javascript:alert(1)", body="Hi")
        old.status = CommentStatus.approved
        db.session.add(old)
        db.session.commit()

    page = page_text(client.get(f"/posts/{post.slug}"))

    assert "Old Mallory" in page and "javascript:" not in page
    assert "javascript:" not in client.get(f"/posts/{post.slug}/comments.xml").get_data(as_text=True)


def mallory(**extra) -> dict:
    from werkzeug.security import generate_password_hash

    hashed = generate_password_hash(MALLORYS_PASSWORD, method="pbkdf2:sha256:1000")
    return (
        {"username": "mallory", "display_name": "Mallory", "role": "admin", "created_at": None}
        | {"password_hash": hashed}
        | extra
    )


def test_imported_accounts_come_without_a_password_and_the_import_says_how_to_set_one(app, client, admin):
    page = import_on_the_admin_page(client, foreign_export(users=[mallory()]))

    assert "Imported 1 users" in page
    assert (
        "1 account was imported without a password (mallory); set one with "
        "`.venv/bin/flask --app app set-password NAME`." in page
    )
    assert log_in(app.test_client(), "mallory", MALLORYS_PASSWORD).status_code != 302


def test_the_owner_may_keep_the_passwords_of_an_export_they_made(app, client, admin):
    page = import_on_the_admin_page(client, foreign_export(users=[mallory()]), keep_passwords="y")

    assert "without a password" not in page
    assert log_in(app.test_client(), "mallory", MALLORYS_PASSWORD).status_code == 302


def test_a_kept_password_hash_must_be_one_inkwell_makes(app, client, admin):
    token = csrf_token(client, "/admin/data", "/admin/data/import")
    data = foreign_export(users=[mallory(password_hash="md5$x$5f4dcc3b5aa765d61d8327deb882cf99")])
    upload = (io.BytesIO(json.dumps(data).encode()), "odd.json")

    response = client.post("/admin/data/import", data={"csrf_token": token, "export": upload, "keep_passwords": "y"})

    assert response.status_code == 400
    assert "Nothing was imported: The password hash of &#39;mallory&#39; is not one Inkwell makes" in page_text(
        response
    )


def test_the_import_command_keeps_passwords_only_when_asked(full_blog, runner, tmp_path):
    path = tmp_path / "blog.json"
    runner.invoke(args=["export", "--with-users", str(path)])
    wipe(full_blog)

    plain = runner.invoke(args=["import", str(path)])

    assert plain.exit_code == 0
    assert (
        "1 account was imported without a password (owner); set one with `.venv/bin/flask --app app set-password NAME`."
        in (plain.output)
    )
    assert log_in(full_blog.test_client(), "owner", PASSWORD).status_code != 302
    wipe(full_blog)

    kept = runner.invoke(args=["import", "--keep-passwords", str(path)])

    assert kept.exit_code == 0 and "without a password" not in kept.output
    assert log_in(full_blog.test_client(), "owner", PASSWORD).status_code == 302


def test_a_file_the_database_refuses_is_refused_with_a_reason(client, admin):
    data = foreign_export(comments=[foreign_comment(1, "Ann", None), foreign_comment(1, "Bob", None)])
    token = csrf_token(client, "/admin/data", "/admin/data/import")
    upload = (io.BytesIO(json.dumps(data).encode()), "twice.json")

    response = client.post("/admin/data/import", data={"csrf_token": token, "export": upload})

    assert response.status_code == 400
    assert "Nothing was imported: The database refused the file&#39;s data" in page_text(response)
