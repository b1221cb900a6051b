"""Autosave: what an author types is kept by the editor itself until they save, and offered back if they leave."""

from __future__ import annotations

import html

from sqlalchemy import func
from sqlalchemy import select

from account.tables import UserRole
from admin.tables import PostAutosave
from database import db
from forms import POST_MAX
from helpers import csrf_token
from helpers import form_fields
from helpers import log_in
from helpers import page_text
from helpers import submit_post


def autosave(client, post_id: int, **words: str):
    """Send the words as the editor's script does: a form with the page's CSRF token."""
    token = csrf_token(client, f"/admin/posts/{post_id}/edit")
    return client.post(f"/admin/posts/{post_id}/autosave", data={"csrf_token": token} | words)


def autosaves(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(PostAutosave))


def test_autosaved_text_is_offered_back_until_the_post_is_saved(app, client, admin, make_post):
    post = make_post(title="Harbour", slug="harbour", body="Saved words.")
    url = f"/admin/posts/{post.id}/edit"
    kept = autosave(client, post.id, title="Harbour", body="Saved words.\n\nAnd words typed since.", tags="")
    assert kept.status_code == 204
    assert "typed since" not in page_text(client.get("/posts/harbour"))  # readers see nothing of it

    offered = page_text(client.get(url))
    assert "You have text in this post that was autosaved on" in offered and "typed since" not in offered
    brought_back = html.unescape(page_text(client.get(f"{url}?autosaved=1")))
    assert "Here is the text that was autosaved" in brought_back and "And words typed since." in brought_back

    fields = form_fields(client.get(f"{url}?autosaved=1"), url)
    saved = submit_post(client, url, **fields | {"body": "Saved words.\n\nAnd words typed since."})
    assert saved.status_code == 303
    assert "typed since" in page_text(client.get("/posts/harbour"))
    assert autosaves(app) == 0 and "autosaved on" not in page_text(client.get(url))


def test_an_autosave_that_says_what_the_post_says_offers_nothing(app, client, admin, make_post):
    post = make_post(title="Calm", slug="calm", body="Nothing new.", tags=("sea",))
    assert autosave(client, post.id, title="Calm", body="Nothing new.", excerpt="", tags="sea").status_code == 204
    assert "autosaved on" not in page_text(client.get(f"/admin/posts/{post.id}/edit"))


def test_an_autosave_too_long_or_of_someone_elses_post_is_refused(app, client, make_user, make_post):
    owner = make_user("owner", UserRole.admin, "Olive Owner")
    make_user("writer", UserRole.author)
    theirs = make_post(title="Not yours", slug="not-yours", author=owner)
    log_in(client, "writer")
    token = csrf_token(client, "/admin/posts/new")
    refused = client.post(f"/admin/posts/{theirs.id}/autosave", data={"csrf_token": token, "body": "mine now"})
    assert refused.status_code == 403

    owners = app.test_client()
    log_in(owners, "owner")
    too_long = autosave(owners, theirs.id, title="Not yours", body="x" * (POST_MAX + 1))
    assert too_long.status_code == 400 and too_long.json["error"].startswith("Not autosaved: body:")
    assert owners.post(f"/admin/posts/{theirs.id}/autosave", data={"body": "no token"}).status_code == 400
    assert autosaves(app) == 0


def test_a_new_post_is_not_autosaved_and_works_as_before(app, client, admin):
    form = page_text(client.get("/admin/posts/new"))
    assert "data-autosave" not in form and 'src="/static/autosave.js?v=' in form
