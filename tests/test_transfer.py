"""The blog's data is its owner's: a lossless export and import, and backups taken while it serves."""

from __future__ import annotations

import base64
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
from test_admin import png_bytes
from test_admin import submit_post

import transfer
from conftest import PASSWORD
from conftest import PASSWORD_HASH
from conftest import ROOT
from conftest import csrf_token
from conftest import log_in
from conftest import post_comment
from conftest import reset_database
from models import Comment
from models import Post
from models import PostStatus
from models import User
from models import UserRole
from models import db
from models import now_utc


@pytest.fixture
def full_blog(app, client, admin, make_post):
    """A blog with a bit of everything: drafts, a schedule, a renamed post, tags, threads, an image."""
    submit_post(
        client,
        title="With an image",
        body="Look",
        tags="Photos, Ünïcode",
        image=(io.BytesIO(png_bytes()), "a.png"),
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


def exported(app, **options) -> str:
    with app.app_context():
        return transfer.export_json(**options)


def wipe(app) -> None:
    with app.app_context():
        reset_database()
    shutil.rmtree(Path(app.instance_path) / "uploads", ignore_errors=True)


def imported(app, text: str) -> dict[str, int]:
    with app.app_context():
        return transfer.import_data(transfer.read_export(text.encode()))


def test_export_then_import_into_an_empty_blog_then_export_gives_the_same_bytes(full_blog):
    first = exported(full_blog)
    wipe(full_blog)

    counts = imported(full_blog, first)

    assert counts == {"users": 1, "tags": 2, "posts": 4, "comments": 2, "images": 1}
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
    imported(full_blog, export)
    client = full_blog.test_client()

    assert client.get("/posts/first-name").headers["Location"] == "/posts/second-name"
    page = client.get("/posts/second-name").get_data(as_text=True)
    assert "<em>level</em>" in page and 'in reply to <a href="#comment-1">Zoë</a>' in page
    assert re.search(r"<h2 id=\"comments-heading\">\d+ comments?</h2>", page)  # counts come back too
    image = json.loads(export)["uploads"][0]
    assert client.get(f"/uploads/{image['name']}").data == base64.b64decode(image["data"])
    assert "Ünïcode" in client.get("/tags/").get_data(as_text=True)
    assert "Renamed" in client.get("/search?q=renamed").get_data(as_text=True)
    assert log_in(client, "owner", PASSWORD).status_code == 302  # accounts came along with --with-users
    post_comment(client, "second-name", body="New after the move")  # ids continue after the imported ones


def test_import_refuses_a_blog_that_already_has_content(full_blog):
    with pytest.raises(transfer.TransferError, match="already has posts or comments"):
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

    with full_blog.app_context(), pytest.raises(transfer.TransferError, match=message):
        transfer.import_data(transfer.read_export(mangle(export).encode()))

    with full_blog.app_context():
        assert db.session.scalar(select(func.count(Post.id))) == 0
        assert db.session.scalar(select(func.count(Comment.id))) == 0


def test_an_oversized_import_is_refused_before_reading_it(full_blog, monkeypatch):
    monkeypatch.setattr(transfer, "IMPORT_MAX_BYTES", 100)
    with pytest.raises(transfer.TransferError, match="imports can be at most 200 MB"):
        transfer.read_export(b" " * 101)


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
    from test_resilience import run_posters

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


def test_backup_of_postgresql_uses_pg_dump_or_says_why_not(app, tmp_path, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL backups")
    with app.app_context():
        if shutil.which("pg_dump"):
            assert transfer.backup(tmp_path).stat().st_size > 0
        else:
            with pytest.raises(transfer.TransferError, match="pg_dump is not installed"):
                transfer.backup(tmp_path)


def test_round_trip_keeps_statuses(full_blog):
    export = exported(full_blog)
    wipe(full_blog)
    imported(full_blog, export)
    with full_blog.app_context():
        assert db.session.scalar(select(Post.status).where(Post.title == "Brouillon")) == PostStatus.draft


def test_zip_export_carries_images_as_files_and_imports_the_same(full_blog, tmp_path):
    with full_blog.app_context():
        archive = transfer.export_zip()
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        names = opened.namelist()
        assert "inkwell-export.json" in names and any(n.startswith("uploads/") and n.endswith(".png") for n in names)
    first = exported(full_blog)
    wipe(full_blog)
    with full_blog.app_context():
        transfer.import_data(transfer.read_export(archive))
    assert exported(full_blog) == first


def test_damaged_zip_is_refused(full_blog):
    with pytest.raises(transfer.TransferError, match="zip file"):
        transfer.read_export(b"PK\x03\x04" + b"\0" * 40)


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
