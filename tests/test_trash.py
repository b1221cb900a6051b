"""Deleting a post moves it to the trash: readers see it nowhere, and the owner brings it back exactly as it was, or
deletes it forever; `purge` empties what has been there longer than TRASH_KEEP_DAYS."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy import update

from account.tables import UserRole
from audit import AuditEntry
from database import db
from database import now_utc
from helpers import approve
from helpers import csrf_token
from helpers import exported
from helpers import form_fields
from helpers import imported
from helpers import log_in
from helpers import page_text
from helpers import post_comment
from helpers import queue_action
from helpers import send_form_on_page
from helpers import stored_comments
from helpers import submit_post
from helpers import wipe
from models import Comment
from models import Post
from models import PostStatus


def stored(app, post_id: int) -> Post | None:
    with app.app_context():
        post = db.session.get(Post, post_id)
        if post is not None:
            db.session.expunge(post)
        return post


def trash(client, post_id: int):
    """Delete a post through its confirmation page, as the owner does."""
    page = client.get(f"/admin/posts/{post_id}/delete")
    return send_form_on_page(client, page, f"/admin/posts/{post_id}/delete")


def restore(client, post_id: int):
    """Press "Restore" beside the post on the Trash page."""
    action = f"/admin/trash/{post_id}/restore"
    return client.post(action, data=form_fields(client.get("/admin/trash"), action))


def delete_forever(client, post_id: int):
    page = client.get(f"/admin/trash/{post_id}/delete")
    return send_form_on_page(client, page, f"/admin/trash/{post_id}/delete")


def commented_post(app, client, make_post, **options) -> Post:
    """A published post with an approved comment."""
    post = make_post("Harbour at dawn", body="Boats and xylophones.", tags=("Travel",), **options)
    post_comment(client, post.slug, body="Lovely boats.")
    approve(app, stored_comments(app)[-1].id)
    return post


def test_deleting_asks_first_and_says_the_post_goes_to_the_trash(client, admin, make_post):
    post = make_post("Doomed", author=admin)

    confirm = page_text(client.get(f"/admin/posts/{post.id}/delete"))

    assert "moves the post to the trash" in confirm and "for 30 days" in confirm
    assert "Move to the trash" in confirm


def test_a_trashed_post_and_its_comments_are_gone_from_every_reader_page(app, client, admin, make_post):
    post = commented_post(app, client, make_post, author=admin)
    month = f"/archive/{post.published_at.year}/{post.published_at.month}"
    reader = app.test_client()
    assert "Lovely boats" in page_text(reader.get("/posts/harbour-at-dawn"))  # cached for readers now
    assert "Harbour at dawn" in page_text(reader.get("/"))

    response = trash(client, post.id)

    assert response.status_code == 303
    assert "Moved “Harbour at dawn” and its comments to the trash" in page_text(client.get(response.location))
    assert reader.get("/posts/harbour-at-dawn").status_code == 404
    assert reader.get(f"/posts/harbour-at-dawn/comments/{stored_comments(app)[0].id}").status_code == 404
    assert reader.get("/posts/harbour-at-dawn/comments.xml").status_code == 404
    assert reader.get("/tags/travel").status_code == 404
    assert reader.get(month).status_code == 404
    for address in ("/", "/feed.xml", "/sitemap.xml", "/archive", "/tags/", "/search?q=xylophones"):
        assert "harbour-at-dawn" not in page_text(reader.get(address)), address
    assert "Lovely boats" not in page_text(client.get("/admin/comments"))


def test_the_trash_lists_what_was_deleted_when_and_by_whom(app, client, admin, make_post):
    post = commented_post(app, client, make_post, author=admin)
    trash(client, post.id)

    listing = page_text(client.get("/admin/trash"))

    assert "Harbour at dawn" in listing and "/posts/harbour-at-dawn" in listing
    assert f"{now_utc():%Y}" in listing and "by owner" in listing
    assert "Restore" in listing and "Delete forever" in listing
    assert "Harbour at dawn" not in page_text(client.get("/admin/posts"))
    assert client.get(f"/admin/posts/{post.id}/edit").status_code == 404


def test_restoring_brings_the_post_back_exactly_as_it_was(app, client, admin, make_post):
    post = commented_post(app, client, make_post, author=admin)
    before = stored(app, post.id)
    trash(client, post.id)

    response = restore(client, post.id)

    assert response.status_code == 303
    assert "Restored “Harbour at dawn”" in page_text(client.get(response.location))
    after = stored(app, post.id)
    assert (after.status, after.slug, after.published_at, after.updated_at, after.created_at) == (
        before.status,
        before.slug,
        before.published_at,
        before.updated_at,
        before.created_at,
    )
    assert after.trashed_at is None and after.trashed_by is None and after.comment_count == 1
    page = page_text(app.test_client().get("/posts/harbour-at-dawn"))
    assert "Lovely boats" in page
    assert "harbour-at-dawn" in page_text(app.test_client().get("/feed.xml"))
    assert "The trash is empty" in page_text(client.get("/admin/trash"))


def test_a_restored_draft_stays_a_draft_and_a_scheduled_post_stays_scheduled(app, client, admin, make_post):
    draft = make_post("Half written", status=PostStatus.draft, author=admin)
    later = make_post("Next week", published_at=now_utc() + timedelta(days=7), author=admin)
    for post in (draft, later):
        trash(client, post.id)
    listing = page_text(client.get("/admin/trash"))
    assert "Draft" in listing and "Scheduled" in listing

    for post in (draft, later):
        restore(client, post.id)

    assert stored(app, draft.id).status == PostStatus.draft
    assert stored(app, later.id).published_at == later.published_at
    assert app.test_client().get("/posts/next-week").status_code == 404
    assert "Scheduled" in page_text(client.get("/admin/posts?status=scheduled"))


def test_deleting_forever_asks_first_then_removes_the_post_and_its_comments(app, client, admin, make_post):
    post = commented_post(app, client, make_post, author=admin)
    trash(client, post.id)

    confirm = page_text(client.get(f"/admin/trash/{post.id}/delete"))
    assert "Delete “Harbour at dawn” forever?" in confirm and "its 1 comment for good" in confirm
    assert stored(app, post.id) is not None

    response = delete_forever(client, post.id)

    assert response.status_code == 303
    assert "Deleted “Harbour at dawn” and its comments forever" in page_text(client.get(response.location))
    assert stored(app, post.id) is None and stored_comments(app) == []


def test_a_slug_in_the_trash_still_belongs_to_its_post(app, client, admin, make_post):
    post = make_post("Harbour at dawn", author=admin)
    trash(client, post.id)

    chosen = submit_post(client, title="Another harbour", slug="harbour-at-dawn")
    assert chosen.status_code == 400
    assert "“Harbour at dawn”, in the trash, keeps this address" in page_text(chosen)

    submit_post(client, title="Harbour at dawn")
    with app.app_context():
        assert db.session.scalar(select(Post.slug).where(Post.id != post.id)) == "harbour-at-dawn-2"

    restore(client, post.id)
    assert "Harbour at dawn" in page_text(app.test_client().get("/posts/harbour-at-dawn"))


def test_purge_deletes_for_good_what_was_in_the_trash_too_long(app, client, runner, admin, make_post):
    old, recent = make_post("Long gone", author=admin), make_post("Just deleted", author=admin)
    trash(client, old.id)
    trash(client, recent.id)
    with app.app_context():
        month_ago = now_utc() - timedelta(days=31)
        db.session.execute(update(Post).where(Post.id == old.id).values(trashed_at=month_ago))
        db.session.commit()

    result = runner.invoke(args=["purge"])

    assert "Deleted forever 1 posts in the trash for over 30 days." in result.output
    assert stored(app, old.id) is None and stored(app, recent.id).trashed_at is not None


def test_how_long_the_trash_keeps_posts_is_a_setting(app, client, runner, admin, make_post):
    app.config["TRASH_KEEP_DAYS"] = 7
    post = make_post("Short stay", author=admin)
    trash(client, post.id)
    assert "After 7 days in the trash" in page_text(client.get("/admin/trash"))
    with app.app_context():
        db.session.execute(update(Post).values(trashed_at=now_utc() - timedelta(days=8)))
        db.session.commit()

    assert "Deleted forever 1 posts in the trash for over 7 days." in runner.invoke(args=["purge"]).output


def test_an_author_sees_and_restores_only_their_own_trashed_posts(app, client, make_user, make_post):
    owner = make_user("owner")
    author = make_user("writer", UserRole.author)
    theirs = make_post("Owner post", author=owner)
    mine = make_post("Writer post", author=author)
    log_in(client, "owner")
    trash(client, theirs.id)
    client = app.test_client()
    log_in(client, "writer")
    trash(client, mine.id)

    listing = page_text(client.get("/admin/trash"))

    assert "Writer post" in listing and "Owner post" not in listing
    token = csrf_token(client, "/admin/trash", action=f"/admin/trash/{mine.id}/restore")
    assert client.post(f"/admin/trash/{theirs.id}/restore", data={"csrf_token": token}).status_code == 403
    assert client.get(f"/admin/trash/{theirs.id}/delete").status_code == 403


def test_unknown_or_live_posts_are_not_in_the_trash(app, client, admin, make_post):
    live = make_post("Still here", author=admin)
    token = csrf_token(client, "/admin/posts/new")

    for post_id in (live.id, 999):
        assert client.post(f"/admin/trash/{post_id}/restore", data={"csrf_token": token}).status_code == 404
        assert client.get(f"/admin/trash/{post_id}/delete").status_code == 404
        assert client.post(f"/admin/trash/{post_id}/delete", data={"csrf_token": token}).status_code == 404
    assert stored(app, live.id).trashed_at is None


def test_restoring_twice_says_the_post_is_no_longer_in_the_trash(app, client, admin, make_post):
    post = make_post("Back again", author=admin)
    trash(client, post.id)
    page = client.get("/admin/trash")
    action = f"/admin/trash/{post.id}/restore"
    restore_form = form_fields(page, action)
    client.post(action, data=restore_form)

    again = client.post(action, data=restore_form)

    assert again.status_code == 404 and "no such post in the trash" in page_text(again)


def test_restore_and_delete_need_the_form_token(app, client, admin, make_post):
    post = make_post("Protected", author=admin)
    trash(client, post.id)

    assert client.post(f"/admin/trash/{post.id}/restore", data={}).status_code == 400
    assert client.post(f"/admin/trash/{post.id}/delete", data={}).status_code == 400
    assert stored(app, post.id).trashed_at is not None


def test_the_audit_log_names_trashing_restoring_and_deleting_forever(app, client, admin, make_post):
    post = make_post("Logged", author=admin)
    trash(client, post.id)
    restore(client, post.id)
    trash(client, post.id)
    delete_forever(client, post.id)

    with app.app_context():
        actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-4:] == [
        "Moved a post to the trash",
        "Restored a post from the trash",
        "Moved a post to the trash",
        "Deleted a post forever",
    ]


def test_held_comments_of_a_trashed_post_leave_the_queue_and_come_back_with_it(app, client, admin, make_post):
    app.config["COMMENT_MODERATION"] = "all"
    post = make_post("Quiet corner", author=admin)
    post_comment(client, post.slug, body="Waiting for a yes.")
    assert "1 pending" in page_text(client.get("/admin/"))

    trash(client, post.id)
    assert "1 pending" not in page_text(client.get("/admin/"))
    assert "Waiting for a yes." not in page_text(client.get("/admin/comments"))

    restore(client, post.id)
    assert "Waiting for a yes." in page_text(client.get("/admin/comments"))
    with app.app_context():
        assert db.session.scalar(select(Comment.body)) == "Waiting for a yes."


def test_a_post_in_the_trash_stays_there_through_an_export_and_an_import(app, client, admin, make_post):
    post = commented_post(app, client, make_post, author=admin)
    trash(client, post.id)
    text = exported(app)

    wipe(app)
    imported(app, text)

    assert stored(app, post.id).trashed_by == "owner" and stored(app, post.id).trashed_at is not None
    assert app.test_client().get("/posts/harbour-at-dawn").status_code == 404
    assert exported(app) == text


# Undo in the moderation queue


def held_comments(app, client, post: Post, *bodies: str) -> list[int]:
    """Comments waiting in the queue, by their ids."""
    app.config["COMMENT_MODERATION"] = "all"
    for body in bodies:
        post_comment(client, post.slug, body=body)
    return [comment.id for comment in stored_comments(app)]


def press_undo(client):
    """Press "Undo" on the queue page shown right after a moderation."""
    page = client.get("/admin/comments")
    action = re.search(r'action="(/admin/comments/undo/\d+)"', page_text(page)).group(1)
    return client.post(action, data=form_fields(page, action)), action, form_fields(page, action)


def comment_states(app) -> list[tuple[int, str, int | None, str]]:
    return [(c.id, c.status.value, c.parent_id, c.revision) for c in stored_comments(app)]


def test_undoing_an_approval_puts_the_comment_back_in_the_queue_and_the_count_back(app, client, admin, make_post):
    post = make_post("Open house", author=admin)
    [comment_id] = held_comments(app, client, post, "Let me in.")
    before = comment_states(app)
    queue_action(client, f"/admin/comments/{comment_id}/moderate", action="approve")
    assert stored(app, post.id).comment_count == 1
    assert "Let me in." in page_text(app.test_client().get("/posts/open-house"))

    undone, _, _ = press_undo(client)

    assert undone.status_code == 303
    assert "Undone (“Approved: 1 comment.”)" in page_text(client.get(undone.location))
    assert comment_states(app) == before  # the status, and the revision the owner's email links name
    assert stored(app, post.id).comment_count == 0
    assert "Let me in." not in page_text(app.test_client().get("/posts/open-house"))


def test_undoing_a_bulk_deletion_brings_back_every_comment_with_its_replies(app, client, admin, make_post):
    post = make_post("Busy thread", author=admin)
    app.config["COMMENT_MODERATION"] = "off"
    post_comment(client, post.slug, body="First.")
    post_comment(client, post.slug, body="Second.")
    post_comment(client, post.slug, body="A reply to the first.", parent_id="1")
    before = comment_states(app)
    asked = queue_action(client, "/admin/comments/bulk", bulk_action="delete", ids=["1", "2"])
    send_form_on_page(client, asked, "/admin/comments/bulk")
    assert [c.id for c in stored_comments(app) if not c.is_trashed] == [3]  # the other two are in the trash
    assert stored(app, post.id).comment_count == 1

    press_undo(client)

    assert comment_states(app) == before and not any(c.is_trashed for c in stored_comments(app))
    assert stored(app, post.id).comment_count == 3
    page = page_text(app.test_client().get("/posts/busy-thread"))
    assert "First." in page and "Second." in page and "A reply to the first." in page


def test_undoing_spam_marks_it_as_it_was(app, client, admin, make_post):
    post = make_post("Spam magnet", author=admin)
    ids = held_comments(app, client, post, "One.", "Two.")
    before = comment_states(app)
    queue_action(client, "/admin/comments/bulk", bulk_action="spam", ids=[str(i) for i in ids])

    press_undo(client)

    assert comment_states(app) == before


def test_undoing_twice_says_it_was_already_undone(app, client, admin, make_post):
    post = make_post("Once only", author=admin)
    [comment_id] = held_comments(app, client, post, "Hello.")
    queue_action(client, f"/admin/comments/{comment_id}/moderate", action="approve")
    _, action, fields = press_undo(client)
    after_first = comment_states(app)

    again = client.post(action, data=fields)

    assert "That was already undone." in page_text(client.get(again.location))
    assert comment_states(app) == after_first


def test_an_undo_of_something_changed_since_is_refused(app, client, admin, make_post):
    post = make_post("Changed since", author=admin)
    [comment_id] = held_comments(app, client, post, "Hello.")
    queue_action(client, f"/admin/comments/{comment_id}/moderate", action="approve")
    page = client.get("/admin/comments")
    action = re.search(r'action="(/admin/comments/undo/\d+)"', page_text(page)).group(1)
    queue_action(client, f"/admin/comments/{comment_id}/moderate", action="spam")  # decided again meanwhile
    changed = comment_states(app)

    refused = client.post(action, data=form_fields(page, action))

    assert f"Not undone: comment {comment_id} was changed or deleted since." in page_text(client.get(refused.location))
    assert comment_states(app) == changed


def test_an_unknown_undo_or_another_persons_is_not_found(app, client, admin, make_user, make_post):
    post = make_post("Mine", author=admin)
    [comment_id] = held_comments(app, client, post, "Hello.")
    queue_action(client, f"/admin/comments/{comment_id}/moderate", action="approve")
    page = client.get("/admin/comments")
    action = re.search(r'action="(/admin/comments/undo/\d+)"', page_text(page)).group(1)
    token = form_fields(page, action)["csrf_token"]
    assert client.post("/admin/comments/undo/999", data={"csrf_token": token}).status_code == 404
    assert client.post(action, data={}).status_code == 400  # no form token

    make_user("other")
    other = app.test_client()
    log_in(other, "other")
    other_token = csrf_token(other, "/admin/comments")
    assert other.post(action, data={"csrf_token": other_token}).status_code == 404
    assert stored_comments(app)[0].status.value == "approved"


def test_the_audit_log_names_an_undo(app, client, admin, make_post):
    post = make_post("Logged", author=admin)
    [comment_id] = held_comments(app, client, post, "Hello.")
    queue_action(client, f"/admin/comments/{comment_id}/moderate", action="approve")
    press_undo(client)

    with app.app_context():
        actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-2:] == ["Moderated a comment", "Undid a moderation"]
