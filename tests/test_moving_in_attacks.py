"""Moving in from the browser, attacked: strangers, careless owners, double clicks and interrupted imports."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import select

from account.tables import UserRole
from admin import moving_in
from database import db
from helpers import count
from helpers import csrf_token
from helpers import form_fields
from helpers import log_in
from helpers import media_folder
from helpers import page_text
from helpers import submit_post
from models import Post
from transfer import wordpress
from transfer.tables import ImportRecord

START = "/admin/import/"
RUN = "/admin/import/run"
WORDPRESS = (Path(__file__).parent / "fixtures" / "wordpress.xml").read_bytes()


def check(client, content: bytes = WORDPRESS, name: str = "marta.xml"):
    """Send an export through the import form with its CSRF token; return the page showing the dry run."""
    token = csrf_token(client, START, START)
    data = {"csrf_token": token, "source": "wordpress", "export": (io.BytesIO(content), name), "pages": "y"}
    return client.post(START, data=data, content_type="multipart/form-data")


def uploaded_images(app) -> set[str]:
    folder = Path(app.instance_path) / "uploads"
    return {path.name for path in folder.iterdir()} if folder.is_dir() else set()


@pytest.mark.parametrize("who", ["stranger", "author"])
def test_a_large_upload_from_anyone_but_an_administrator_does_not_show_the_import_page(make_app, make_user, who):
    app = make_app(UPLOAD_MAX_BYTES=1024)
    owner = app.test_client()
    make_user("owner", UserRole.admin)
    log_in(owner, "owner")
    owner.post(RUN, data=form_fields(check(owner, name="private-diary.xml"), RUN))
    visitor = app.test_client()
    if who == "author":
        make_user("writer", UserRole.author)
        log_in(visitor, "writer")

    # Past what the page takes from this visitor: the admin area's own limit for someone logged in, a reader's
    # limit for a stranger (the admin area's larger one is only for those logged in).
    size = 10_000 if who == "author" else app.config["MAX_CONTENT_LENGTH"] + 10_000
    large = {"source": "wordpress", "export": (io.BytesIO(b"x" * size), "big.xml")}
    response = visitor.post(START, data=large, content_type="multipart/form-data")

    assert "private-diary.xml" not in page_text(response)
    assert "Move in from another blog" not in page_text(response)
    then = visitor.get(response.headers["Location"])
    assert then.status_code == 403 if who == "author" else "/admin/login" in then.headers["Location"]


def test_undo_does_not_delete_a_post_the_owner_wrote_after_deleting_an_imported_one(app, client, admin):
    client.post(RUN, data=form_fields(check(client), RUN))
    with app.app_context():
        last = db.session.scalar(select(Post).order_by(Post.id.desc()).limit(1))
        last_id, record_id = last.id, db.session.scalar(select(ImportRecord.id))
    delete_page = client.get(f"/admin/posts/{last_id}/delete")
    client.post(f"/admin/posts/{last_id}/delete", data=form_fields(delete_page, f"/admin/posts/{last_id}/delete"))
    submit_post(client, title="Mine, written since")  # SQLite gives it the deleted post's id again

    record_page = client.get(f"/admin/import/{record_id}")
    undo = f"/admin/import/{record_id}/undo"
    client.post(undo, data=form_fields(record_page, undo))

    with app.app_context():
        assert db.session.scalars(select(Post.title)).all() == ["Mine, written since"]


def test_a_second_import_works_after_the_owner_deleted_a_post_of_the_first(app, client, admin):
    client.post(RUN, data=form_fields(check(client), RUN))
    with app.app_context():
        last_id = db.session.scalar(select(Post.id).order_by(Post.id.desc()).limit(1))
    delete_page = client.get(f"/admin/posts/{last_id}/delete")
    client.post(f"/admin/posts/{last_id}/delete", data=form_fields(delete_page, f"/admin/posts/{last_id}/delete"))
    other = WORDPRESS.replace(b"example.com", b"other.example").replace(b"<wp:post_id>", b"<wp:post_id>9")

    done = client.post(RUN, data=form_fields(check(client, other, "other.xml"), RUN))

    assert done.status_code == 303, page_text(done)
    assert count(app, ImportRecord.id) == 2


def test_an_interrupted_import_leaves_no_images_behind(app, tmp_path):
    uploads = media_folder(tmp_path / "uploads", "2019/05/cafe.jpg")

    def interrupted(items, label):  # the owner presses Ctrl-C during `flask import-wordpress`
        yield from items[:2]
        raise KeyboardInterrupt

    with app.app_context(), pytest.raises(KeyboardInterrupt):
        wordpress.import_wordpress(WORDPRESS, uploads=uploads, track=interrupted)

    assert count(app, Post.id) == 0
    assert uploaded_images(app) == set()


def test_pressing_import_twice_imports_once_and_says_so(app, client, admin, monkeypatch):
    checked = check(client)
    second = app.test_client()
    second.set_cookie("inkwell_session", client.get_cookie("inkwell_session").value)
    answers, run = [], moving_in._run

    def double_click(folder, dry_run):  # the second click arrives while the first import is running
        if not answers:
            answers.append(None)
            answers.append(second.post(RUN, data=form_fields(checked, RUN)))
        return run(folder, dry_run)

    monkeypatch.setattr(moving_in, "_run", double_click)
    first = client.post(RUN, data=form_fields(checked, RUN))

    assert first.status_code == 303 and answers[1].status_code == 303
    assert count(app, ImportRecord.id) == 1
    assert count(app, Post.id) == 4


def test_an_export_whose_name_holds_control_characters_imports_on_every_database(app, client, admin):
    checked = check(client, name="notes\x00\x1b.xml")

    done = client.post(RUN, data=form_fields(checked, RUN))

    assert done.status_code == 303, page_text(done)
    assert "Import of notes .xml" in page_text(client.get(done.headers["Location"]))
