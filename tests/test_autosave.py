"""Autosave: what an author types is kept by the editor itself until they save, and offered back if they leave."""

from __future__ import annotations

import gzip
import html

from sqlalchemy import func
from sqlalchemy import select

from account.tables import UserRole
from admin.tables import PostAutosave
from audit import AuditEntry
from database import db
from forms import POST_MAX
from helpers import ROOT
from helpers import csrf_token
from helpers import form_fields
from helpers import log_in
from helpers import page_text
from helpers import submit_post
from models import Post
from models import PostStatus


def autosave(client, post_id: int, **words: str):
    """Send the words as the editor's script does: a form with the page's CSRF token."""
    token = csrf_token(client, f"/admin/posts/{post_id}/edit")
    return client.post(f"/admin/posts/{post_id}/autosave", data={"csrf_token": token} | words)


def start(client, **words: str):
    """Send a new post's words as the editor's script does, from the New post page."""
    token = csrf_token(client, "/admin/posts/new")
    return client.post("/admin/posts/new/autosave", data={"csrf_token": token} | words)


def posts(app) -> list[Post]:
    with app.app_context():
        return db.session.scalars(select(Post).order_by(Post.id)).all()


def autosaves(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(PostAutosave))


def test_autosaved_text_is_offered_back_until_the_post_is_saved(app, client, admin, make_post):
    post = make_post(title="Harbour", slug="harbour", body="Saved words.")
    url = f"/admin/posts/{post.id}/edit"
    kept = autosave(client, post.id, title="Harbour", body="Saved words.\n\nAnd words typed since.", tags="")
    assert kept.status_code == 200
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
    assert autosave(client, post.id, title="Calm", body="Nothing new.", excerpt="", tags="sea").status_code == 200
    assert "autosaved on" not in page_text(client.get(f"/admin/posts/{post.id}/edit"))


def test_an_autosave_too_long_or_of_someone_elses_post_is_refused(app, client, make_user, make_post):
    owner = make_user("owner", UserRole.admin, "Olive Owner")
    make_user("writer", UserRole.author)
    theirs = make_post(title="Not yours", slug="not-yours", author=owner)
    log_in(client, "writer")
    token = csrf_token(client, "/admin/posts/new")
    refused = client.post(f"/admin/posts/{theirs.id}/autosave", data={"csrf_token": token, "body": "mine now"})
    assert refused.status_code == 403 and refused.json["error"] == "Not autosaved: you can edit only your own posts."

    owners = app.test_client()
    log_in(owners, "owner")
    too_long = autosave(owners, theirs.id, title="Not yours", body="x" * (POST_MAX + 1))
    assert too_long.status_code == 400 and too_long.json["error"].startswith("Not autosaved: body:")
    assert owners.post(f"/admin/posts/{theirs.id}/autosave", data={"body": "no token"}).status_code == 400
    assert autosaves(app) == 0


def test_two_tabs_autosaving_one_post_are_each_told_of_the_other(app, client, admin, make_post):
    post = make_post(title="Two tabs", slug="two-tabs", body="Saved.")
    first = autosave(client, post.id, title="Two tabs", body="From the first tab.")
    assert first.status_code == 200 and "warning" not in first.json
    second = autosave(client, post.id, title="Two tabs", body="From the second tab.")  # its first autosave
    assert "warning" not in second.json
    again = autosave(client, post.id, title="Two tabs", body="The first tab, later.", since=first.json["since"])
    assert again.status_code == 200
    assert again.json["warning"].startswith("This post is open in another tab or window too, which autosaved it at")
    same_tab = autosave(
        client, post.id, title="Two tabs", body="The first tab, later still.", since=again.json["since"]
    )
    assert "warning" not in same_tab.json
    assert "The first tab, later still." in html.unescape(
        page_text(client.get(f"/admin/posts/{post.id}/edit?autosaved=1"))
    )


def test_a_new_post_is_kept_as_a_draft_that_readers_never_see(app, client, admin):
    started = start(client, title="  Harbour   at dawn ", body="The light came up slowly.", tags="sea, mornings")
    assert started.status_code == 201
    [draft] = posts(app)
    assert started.json["autosave"] == f"/admin/posts/{draft.id}/autosave"  # where the script goes on autosaving
    assert started.json["edit"] == f"/admin/posts/{draft.id}/edit"  # the page's address and the form's, from now on
    assert (draft.title, draft.slug, draft.status) == ("Harbour at dawn", "harbour-at-dawn", PostStatus.draft)

    for address in ("/", "/feed.xml", "/sitemap.xml", "/archive", "/search?q=harbour"):
        assert "Harbour at dawn" not in page_text(client.get(address)), address
    assert client.get("/posts/harbour-at-dawn").status_code == 404
    assert "Harbour at dawn" in page_text(client.get("/admin/posts?status=draft"))

    editor = html.unescape(page_text(client.get(started.json["edit"])))
    assert "The light came up slowly." in editor
    assert "You have text in this post that was autosaved on" in editor  # the tags, kept until it is saved
    with app.app_context():
        started_by = db.session.scalars(select(AuditEntry.action)).all()
    assert "Started a draft by autosave" in started_by


def test_saving_after_the_first_autosave_saves_that_draft_rather_than_a_second_post(app, client, admin):
    edit = start(client, title="One post only", body="Begun.").json["edit"]
    assert autosave(client, posts(app)[0].id, title="One post only", body="Begun, and more.").status_code == 200
    fields = form_fields(client.get(edit), edit)  # the form the script switched to
    saved = submit_post(client, edit, **fields | {"title": "One post only", "body": "Begun, and more."})
    assert saved.status_code == 303
    assert [(post.title, post.status) for post in posts(app)] == [("One post only", PostStatus.published)]
    assert "Begun, and more." in page_text(client.get("/posts/one-post-only"))
    assert autosaves(app) == 0


def test_a_new_post_without_a_title_or_too_long_is_not_kept_and_says_why(app, client, admin):
    untitled = start(client, title="  ", body="Words before a title.")
    assert untitled.status_code == 400
    assert untitled.json["error"] == "Not autosaved yet: a new post is kept as a draft once it has a title."
    too_long = start(client, title="Long", body="x" * (POST_MAX + 1))
    assert too_long.status_code == 400 and too_long.json["error"].startswith("Not autosaved: body:")
    assert start(client, title="x" * 201).status_code == 400
    assert posts(app) == [] and autosaves(app) == 0


def test_without_javascript_the_new_post_form_saves_as_before(app, client, admin):
    form = page_text(client.get("/admin/posts/new"))
    assert 'action="/admin/posts/new"' in form and 'src="/static/autosave.js?v=' in form
    assert submit_post(client, title="Typed without scripts").status_code == 303
    assert [post.title for post in posts(app)] == ["Typed without scripts"]


def test_an_expired_form_token_is_refused_with_a_fresh_one_that_keeps_the_words(app, client, admin, make_post):
    post = make_post(title="Tide", slug="tide", body="Low.")
    stale = csrf_token(app.test_client(), "/admin/login")  # another session's: like one from before logging in again
    refused = client.post(f"/admin/posts/{post.id}/autosave", data={"csrf_token": stale, "body": "High."})
    assert refused.status_code == 400 and "form token expired" in refused.json["error"]
    fresh = refused.json["csrf_token"]
    again = client.post(
        f"/admin/posts/{post.id}/autosave", data={"csrf_token": fresh, "title": "Tide", "body": "High."}
    )
    assert again.status_code == 200 and autosaves(app) == 1


def test_an_autosave_of_a_post_in_the_trash_or_deleted_says_so(app, client, admin, make_post):
    post = make_post(title="Gone", slug="gone")
    token = csrf_token(client, f"/admin/posts/{post.id}/edit")
    trash = f"/admin/posts/{post.id}/delete"
    assert client.post(trash, data=form_fields(client.get(trash), trash)).status_code == 303

    in_trash = client.post(f"/admin/posts/{post.id}/autosave", data={"csrf_token": token, "body": "More."})
    assert in_trash.status_code == 404 and "this post is in the trash" in in_trash.json["error"]
    missing = client.post("/admin/posts/9999/autosave", data={"csrf_token": token, "body": "More."})
    assert missing.status_code == 404 and "there is no such post" in missing.json["error"]
    assert autosaves(app) == 0


def test_the_autosave_script_stays_small():
    script = (ROOT / "static" / "autosave.js").read_bytes()
    assert len(script) < 6_000 and len(gzip.compress(script)) < 2_500


def test_control_characters_pasted_into_the_editor_are_dropped_from_what_is_autosaved(app, client, admin, make_post):
    post = make_post(title="Pasted", slug="pasted", body="Before.")
    kept = autosave(client, post.id, title="Pasted\x0b", body="From a terminal:\x00 done.")
    assert kept.status_code == 200
    brought_back = html.unescape(page_text(client.get(f"/admin/posts/{post.id}/edit?autosaved=1")))
    assert "From a terminal: done." in brought_back
    started = start(client, title="Null\x00 title", body="x\x00y")
    assert started.status_code == 201 and [p.title for p in posts(app)] == ["Pasted", "Null title"]


def test_starting_drafts_by_the_hundred_is_refused_and_makes_no_more_posts(app, client, admin):
    started = [start(client, title=f"Idea {number}").status_code for number in range(21)]

    assert started == [201] * 20 + [429]
    assert len(posts(app)) == 20
