"""A post's history: every save keeps the words, the owner sees what changed, and brings back any version."""

from __future__ import annotations

import html

from sqlalchemy import select

from account.tables import UserRole
from admin.tables import PostVersion
from audit import AuditEntry
from database import db
from helpers import csrf_token
from helpers import form_fields
from helpers import log_in
from helpers import page_text
from helpers import submit_post
from models import Post


def versions_of(app, post_id: int) -> list[PostVersion]:
    with app.app_context():
        versions = db.session.scalars(select(PostVersion).where(PostVersion.post_id == post_id)).all()
        db.session.expunge_all()
        return list(versions)


def edit(client, post_id: int, **fields) -> None:
    url = f"/admin/posts/{post_id}/edit"
    response = submit_post(client, url, **form_fields(client.get(url), url) | fields)
    assert response.status_code == 303, page_text(response)


def test_each_save_keeps_a_version_and_the_history_shows_who_changed_what(app, client, admin):
    assert submit_post(client, title="Harbour", body="Boats.\n\nGulls.", tags="sea").status_code == 303
    post_id = versions_of(app, 1)[0].post_id
    edit(client, post_id, body="Boats.\n\nGulls, loud ones.\n\nA pier.")
    edit(client, post_id, body="Boats.\n\nGulls, loud ones.\n\nA pier.")  # the same words: no new version

    kept = versions_of(app, post_id)
    assert [version.body for version in kept] == ["Boats.\n\nGulls.", "Boats.\n\nGulls, loud ones.\n\nA pier."]
    listing = page_text(client.get(f"/admin/posts/{post_id}/history"))
    assert listing.count("<td>Olive Owner</td>") == 2 and "Text (+3 −1)" in listing

    shown = html.unescape(page_text(client.get(f"/admin/posts/{post_id}/history/{kept[1].id}")))
    assert '<del><span class="visually-hidden">Removed: </span>Gulls.</del>' in shown
    assert '<ins><span class="visually-hidden">Added: </span>Gulls, loud ones.</ins>' in shown
    assert "This is how the post reads now." in shown


def test_bringing_back_a_version_restores_its_words_and_is_itself_a_version(app, client, admin):
    submit_post(client, title="Harbour", body="First words.", tags="sea, boats")
    post_id = versions_of(app, 1)[0].post_id
    edit(client, post_id, title="Harbour at night", body="Second words.", tags="night")
    first = versions_of(app, post_id)[0]

    page = client.get(f"/admin/posts/{post_id}/history/{first.id}")
    action = f"/admin/posts/{post_id}/history/{first.id}/restore"
    restored = client.post(action, data=form_fields(page, action))

    assert restored.status_code == 303
    assert "is back as it was on" in page_text(client.get(restored.headers["Location"]))
    reader = page_text(client.get("/posts/harbour"))
    assert "First words." in reader and ">Harbour<" in reader and "/tags/boats" in reader
    kept = versions_of(app, post_id)
    assert len(kept) == 3 and kept[-1].note.startswith("Restored the version of ")
    with app.app_context():
        assert "Restored an earlier version of a post" in db.session.scalars(select(AuditEntry.action)).all()


def test_a_post_from_before_versions_keeps_its_old_words_on_its_first_save(app, client, admin, make_post):
    post = make_post(title="Old", slug="old", body="Written long ago.")
    edit(client, post.id, body="Rewritten today.")

    assert [version.body for version in versions_of(app, post.id)] == ["Written long ago.", "Rewritten today."]


def test_a_missing_post_or_version_and_someone_elses_post_are_refused(app, client, make_user, make_post):
    owner = make_user("owner", UserRole.admin, "Olive Owner")
    make_user("writer", UserRole.author)
    post = make_post(title="Not yours", slug="not-yours", author=owner)
    log_in(client, "writer")
    assert client.get(f"/admin/posts/{post.id}/history").status_code == 403
    token = csrf_token(client, "/admin/posts/new")
    assert client.post(f"/admin/posts/{post.id}/history/1/restore", data={"csrf_token": token}).status_code == 403

    owners = app.test_client()
    log_in(owners, "owner")
    assert owners.get(f"/admin/posts/{post.id}/history/999").status_code == 404
    with app.app_context():
        db.session.delete(db.session.get(Post, post.id))
        db.session.commit()
    token = csrf_token(owners, "/admin/posts/new")
    gone = owners.post(f"/admin/posts/{post.id}/history/1/restore", data={"csrf_token": token})
    assert gone.status_code == 404 and "was it deleted?" in page_text(gone)


def test_saving_over_a_newer_save_from_another_tab_warns_and_keeps_both(app, client, admin, make_post):
    post = make_post(title="Shared", slug="shared", body="The first words.")
    url = f"/admin/posts/{post.id}/edit"
    first_tab, second_tab = form_fields(client.get(url), url), form_fields(client.get(url), url)
    assert submit_post(client, url, **first_tab | {"body": "Words from the first tab."}).status_code == 303

    refused = submit_post(client, url, **second_tab | {"body": "Words from the second tab."})

    text = html.unescape(page_text(refused))
    assert refused.status_code == 409
    assert "Olive Owner saved this post at" in text and "Press “Save” again to replace theirs with yours." in text
    assert "Words from the second tab." in text
    assert "Words from the first tab." in page_text(client.get("/posts/shared"))

    again = submit_post(client, url, **form_fields(refused, url) | {"body": "Words from the second tab."})
    assert again.status_code == 303
    assert "Words from the second tab." in page_text(client.get("/posts/shared"))
    bodies = [version.body for version in versions_of(app, post.id)]
    assert bodies == ["The first words.", "Words from the first tab.", "Words from the second tab."]
