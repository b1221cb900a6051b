"""Moving in from the browser: check an export first (nothing kept), import it, and undo exactly one import."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from sqlalchemy import select

from account.tables import User
from account.tables import UserRole
from audit import AuditEntry
from database import db
from helpers import PASSWORD_HASH
from helpers import count
from helpers import csrf_token
from helpers import form_fields
from helpers import log_in
from helpers import media_folder
from helpers import page_text
from image_sizes import is_copy
from models import Comment
from models import CommentStatus
from models import Post
from models import Tag
from slugs import tags_named
from transfer import common
from transfer import wordpress
from transfer.record import undo_import
from transfer.tables import ImportRecord

FIXTURES = Path(__file__).parent / "fixtures"
WORDPRESS = (FIXTURES / "wordpress.xml").read_bytes()
START = "/admin/import/"


def uploaded_images(app) -> set[str]:
    folder = Path(app.instance_path) / "uploads"
    return {path.name for path in folder.iterdir()} if folder.is_dir() else set()


def check_on_the_page(client, source: str, export: tuple[bytes, str], **fields):
    """Send a file through the import form with its CSRF token, as the owner's browser would; return the page."""
    token = csrf_token(client, START, START)
    data = {"csrf_token": token, "source": source, "export": (io.BytesIO(export[0]), export[1]), "pages": "y"}
    return client.post(START, data=data | fields, content_type="multipart/form-data")


def test_a_dry_run_reports_every_change_and_keeps_nothing(app, client, tmp_path):
    uploads = media_folder(tmp_path / "uploads", "2019/05/cafe.jpg")
    with app.app_context():
        summary = wordpress.import_wordpress(WORDPRESS, uploads=uploads, dry_run=True)

    assert summary.headline.startswith("Would import 3 posts and 1 page from WordPress (1 as drafts)")
    assert "1 image would be brought in from uploads." in summary.images
    assert summary.import_id is None
    assert count(app, Post.id) == 0 and count(app, Comment.id) == 0
    assert count(app, ImportRecord.id) == 0 and uploaded_images(app) == set()
    assert client.get("/posts/cafe-in-zurich").status_code == 404


def test_undo_deletes_what_one_import_created_and_nothing_the_owner_made(app, client, tmp_path, make_post):
    mine = make_post(title="My own travels", slug="my-own-travels", tags=["Travel"])
    uploads = media_folder(tmp_path / "uploads", "2019/05/cafe.jpg")
    with app.app_context():
        kept = wordpress.import_wordpress(WORDPRESS, uploads=uploads, file_name="wordpress.xml")
    assert kept.import_id is not None and len([n for n in uploaded_images(app) if not is_copy(n)]) == 1
    with app.app_context():
        post = db.session.scalar(select(Post).where(Post.slug == "hello-world"))
        db.session.add(Comment(post=post, author_name="Reader", body="Written since", status=CommentStatus.approved))
        db.session.commit()
        undone = undo_import(db.session.get(ImportRecord, kept.import_id))

    assert (undone.posts, undone.comments, undone.comments_since, undone.images) == (4, 6, 1, 1)
    for gone in ("/posts/cafe-in-zurich", "/posts/hello-world", "/posts/about"):
        assert client.get(gone).status_code == 404
    assert client.get("/?p=11").status_code == 200  # the old address is the home page again, not a redirect
    assert client.get(f"/posts/{mine.slug}").status_code == 200
    with app.app_context():
        assert db.session.scalars(select(Tag.name).order_by(Tag.name)).all() == ["Travel"]  # the owner's tag
        assert db.session.scalar(select(User).where(User.username == "marta")) is None
        assert db.session.get(ImportRecord, kept.import_id).undone_at is not None
    assert uploaded_images(app) == set()

    with app.app_context():
        again = wordpress.import_wordpress(WORDPRESS)
    assert (again.posts, again.already_there) == (3, 0)  # undone, it can come in again
    assert client.get("/?p=11").headers["Location"] == "/posts/cafe-in-zurich"


def test_undo_keeps_a_tag_and_an_account_that_are_used_since(app):
    with app.app_context():
        kept = wordpress.import_wordpress(WORDPRESS)
        marta = db.session.scalar(select(User).where(User.username == "marta"))
        marta.password_hash = PASSWORD_HASH  # the owner let Marta log in
        db.session.add(Post(title="Later", slug="later", body="x", tags=tags_named(["Coffee"])))
        db.session.commit()
        undo_import(db.session.get(ImportRecord, kept.import_id))
        assert db.session.scalar(select(User).where(User.username == "marta")) is not None
        assert db.session.scalar(select(User).where(User.username == "guest")) is None
        assert db.session.scalars(select(Tag.name)).all() == ["Coffee"]


def test_the_owner_checks_a_wordpress_export_imports_it_and_undoes_it(app, client, admin):
    checked = check_on_the_page(client, "wordpress", (WORDPRESS, "marta.xml"))

    text = page_text(checked)
    assert checked.status_code == 200
    assert "What importing marta.xml will do" in text
    assert "Would import 3 posts and 1 page from WordPress (1 as drafts)" in text
    assert "authors were given an account without a password (marta, guest)" in text
    assert "<code>.venv/bin/flask --app app set-password NAME</code>" in text
    assert client.get("/posts/cafe-in-zurich").status_code == 404  # nothing kept yet

    done = client.post("/admin/import/run", data=form_fields(checked, "/admin/import/run"))
    assert done.status_code == 303
    record_page = client.get(done.headers["Location"])
    assert "Imported 3 posts and 1 page from WordPress" in page_text(record_page)
    assert client.get("/posts/cafe-in-zurich").status_code == 200
    assert client.get("/?p=11").headers["Location"] == "/posts/cafe-in-zurich"
    again = client.post("/admin/import/run", data=form_fields(checked, "/admin/import/run"))
    assert again.status_code == 303 and again.headers["Location"] == START  # the checked file is used up
    assert "no longer here" in page_text(client.get(START))

    assert "Undoing deletes what this import created and is still here: 4 posts, 5 comments" in page_text(record_page)
    undo_action = done.headers["Location"] + "/undo"
    undone = client.post(undo_action, data=form_fields(record_page, undo_action))
    assert undone.status_code == 303
    assert "The import of marta.xml is undone: deleted 4 posts, 5 comments" in page_text(client.get(START))
    assert client.get("/posts/cafe-in-zurich").status_code == 404
    with app.app_context():
        actions = db.session.scalars(select(AuditEntry.action)).all()
    assert "Imported another blog" in actions and "Undid an import" in actions


def test_cancelling_after_the_check_imports_nothing_and_removes_the_file(app, client, admin):
    checked = check_on_the_page(client, "wordpress", (WORDPRESS, "marta.xml"))
    assert any((Path(app.instance_path) / "imports").iterdir())

    cancelled = client.post("/admin/import/cancel", data=form_fields(checked, "/admin/import/run"))

    assert cancelled.status_code == 303
    assert "Nothing was imported, and the file you checked is removed." in page_text(client.get(START))
    assert not any((Path(app.instance_path) / "imports").iterdir()) and count(app, Post.id) == 0


def test_undoing_twice_deletes_once(app, runner):
    with app.app_context():
        kept = wordpress.import_wordpress(WORDPRESS)
        record = db.session.get(ImportRecord, kept.import_id)
        assert undo_import(record) is not None
        assert undo_import(record) is None
    assert "was undone already" in runner.invoke(args=["undo-import", str(kept.import_id), "--yes"]).output


def test_a_static_site_zip_is_checked_on_the_page(app, client, admin):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in (FIXTURES / "hugo").rglob("*"):
            if path.is_file():
                zipped.write(path, Path("my-site") / path.relative_to(FIXTURES / "hugo"))
    checked = check_on_the_page(client, "folder", (archive.getvalue(), "my-site.zip"))
    assert checked.status_code == 200
    assert "Would import 3 posts from a static site (1 as drafts); 5 old addresses redirect." in page_text(checked)


def test_a_file_that_is_not_what_was_chosen_is_refused_and_the_choice_kept(app, client, admin):
    refused = check_on_the_page(client, "ghost", (WORDPRESS, "marta.xml"))
    text = page_text(refused)
    assert refused.status_code == 400
    assert "Nothing can be imported from this file: The file is not valid JSON: Expecting value at line 1" in text
    assert '<option selected value="ghost">' in text
    assert (
        count(app, ImportRecord.id) == 0
        and not (Path(app.instance_path) / "imports").exists()
        or not any((Path(app.instance_path) / "imports").iterdir())
    )


def test_no_file_or_a_file_over_the_limit_is_refused_with_a_message(app, client, admin, monkeypatch):
    token = csrf_token(client, START, START)
    empty = client.post(START, data={"csrf_token": token, "source": "wordpress"}, content_type="multipart/form-data")
    assert empty.status_code == 400 and "Please choose the file to import." in page_text(empty)

    monkeypatch.setattr(common, "IMPORT_MAX_BYTES", 1_048_576)
    large = check_on_the_page(client, "wordpress", (WORDPRESS + b" " * 2 * 1_048_576, "huge.xml"))
    assert large.status_code == 400
    assert "The file is 2 MB; imports can be at most 1 MB." in page_text(large)


def test_only_administrators_move_a_blog_in(app, client, make_user):
    make_user("writer", UserRole.author)
    log_in(client, "writer")
    assert client.get(START).status_code == 403
    token = csrf_token(client, "/admin/posts/new")
    assert client.post("/admin/import/run", data={"csrf_token": token, "token": "x" * 22}).status_code == 403


def test_the_commands_rehearse_list_and_undo_an_import(app, runner, tmp_path):
    export = tmp_path / "marta.xml"
    export.write_bytes(WORDPRESS)

    rehearsed = runner.invoke(args=["import-wordpress", "--dry-run", str(export)])
    assert rehearsed.exit_code == 0, rehearsed.output
    assert "Would import 3 posts and 1 page from WordPress" in rehearsed.output
    assert "This was a dry run: nothing was kept." in rehearsed.output
    assert count(app, Post.id) == 0

    kept = runner.invoke(args=["import-wordpress", str(export)])
    assert "To take it all out again: .venv/bin/flask --app app undo-import 1" in kept.output
    listed = runner.invoke(args=["imports"])
    assert "WordPress, marta.xml: Imported 3 posts and 1 page from WordPress" in listed.output

    undone = runner.invoke(args=["undo-import", "1", "--yes"])
    assert undone.exit_code == 0, undone.output
    assert "deletes 4 posts, 5 comments" in undone.output and count(app, Post.id) == 0
    assert runner.invoke(args=["undo-import", "1", "--yes"]).exit_code == 1
