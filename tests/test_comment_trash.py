"""Deleting a comment in the moderation queue moves it to the trash: readers see it nowhere, its replies stay, the
counts drop; the owner restores it exactly as it was, or deletes it forever; `purge` empties what has been there
longer than TRASH_KEEP_DAYS. A commenter taking back their own comment still deletes it at once."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy import update

from account.tables import UserRole
from audit import AuditEntry
from database import db
from database import now_utc
from helpers import csrf_token
from helpers import exported
from helpers import form_fields
from helpers import imported
from helpers import log_in
from helpers import page_text
from helpers import post_comment
from helpers import press_undo
from helpers import queue_action
from helpers import send_form_on_page
from helpers import stored_comments
from helpers import wipe
from models import Comment
from models import Post
from notifications import quick_moderation_url

COMPARED = ("id", "post_id", "parent_id", "status", "body", "body_html", "created_at", "edited_at", "revision")


def trash_in_queue(client, *comment_ids: int):
    """Press Delete in the queue (for one comment, or ticked ones), then confirm on the page that asks."""
    if len(comment_ids) == 1:
        action = f"/admin/comments/{comment_ids[0]}/moderate"
        asked = queue_action(client, action, action="delete")
    else:
        action = "/admin/comments/bulk"
        asked = queue_action(client, action, bulk_action="delete", ids=[str(i) for i in comment_ids])
    assert asked.status_code == 200 and "to the trash" in page_text(asked)
    return send_form_on_page(client, asked, action)


def restore(client, comment_id: int):
    """Press "Restore" beside the comment on the Trash page."""
    action = f"/admin/trash/comments/{comment_id}/restore"
    return client.post(action, data=form_fields(client.get("/admin/trash"), action))


def delete_forever(client, comment_id: int):
    page = client.get(f"/admin/trash/comments/{comment_id}/delete")
    return send_form_on_page(client, page, f"/admin/trash/comments/{comment_id}/delete")


def state(app, comment_id: int) -> tuple:
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        return tuple(getattr(comment, name) for name in COMPARED)


def comment_count(app, post_id: int) -> int:
    with app.app_context():
        return db.session.get(Post, post_id).comment_count


def audit_actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_a_trashed_comment_leaves_every_reader_page_and_count_and_comes_back_exactly(app, client, admin, make_post):
    post = make_post("Harbour at dawn", author=admin)
    post_comment(client, post.slug, body="Lovely *boats*.")
    post_comment(client, post.slug, body="Second thoughts.")
    first = stored_comments(app)[0].id
    before = state(app, first)
    reader = app.test_client()
    for address in ("/posts/harbour-at-dawn", "/posts/harbour-at-dawn/comments.xml"):
        assert "Lovely" in page_text(reader.get(address))  # and cached for readers now
    assert "2 comments" in page_text(reader.get("/"))

    response = trash_in_queue(client, first)

    assert response.status_code == 303
    assert "Moved to the trash: 1 comment." in page_text(client.get(response.location))
    for address in ("/posts/harbour-at-dawn", "/posts/harbour-at-dawn/comments.xml"):
        assert "Lovely" not in page_text(reader.get(address)), address
    assert "1 comment" in page_text(reader.get("/")) and comment_count(app, post.id) == 1
    assert reader.get(f"/posts/harbour-at-dawn/comments/{first}").status_code == 404
    assert "Lovely" not in page_text(client.get("/admin/comments"))
    assert "Lovely" not in page_text(client.get("/admin/"))  # nor among the dashboard's latest comments

    restored = restore(client, first)

    assert restored.status_code == 303
    assert "Restored the comment by Ada on “Harbour at dawn”" in page_text(client.get(restored.location))
    assert state(app, first) == before and comment_count(app, post.id) == 2
    assert stored_comments(app)[0].trashed_at is None and stored_comments(app)[0].trashed_by is None
    for address in ("/posts/harbour-at-dawn", "/posts/harbour-at-dawn/comments.xml"):
        assert "Lovely" in page_text(reader.get(address)), address
    assert "2 comments" in page_text(reader.get("/"))
    assert reader.get(f"/posts/harbour-at-dawn/comments/{first}").status_code in (302, 303)
    assert "The trash is empty" in page_text(client.get("/admin/trash"))


def test_the_trash_lists_who_wrote_the_comment_on_which_post_and_who_deleted_it_when(app, client, admin, make_post):
    post = make_post("Quiet corner", author=admin)
    post_comment(client, post.slug, name="Grace Hopper", body="A **bug** in the relay, taped into the log.")
    trash_in_queue(client, stored_comments(app)[0].id)

    listing = page_text(client.get("/admin/trash"))

    section = listing[listing.index('id="trashed-comments"') :]
    assert "Grace Hopper" in section and "“Quiet corner”" in section
    assert "A bug in the relay, taped into the log." in section  # an excerpt, as text
    assert f"{now_utc():%Y}" in section and "by owner" in section and "Approved" in section
    assert "Restore" in section and "Delete forever" in section


def test_a_held_comment_comes_back_held_and_leaves_the_queue_meanwhile(app, client, admin, make_post):
    app.config["COMMENT_MODERATION"] = "all"
    post = make_post("Open house", author=admin)
    post_comment(client, post.slug, body="Waiting for a yes.")
    [comment] = stored_comments(app)
    before = state(app, comment.id)
    assert "1 pending" in page_text(client.get("/admin/"))

    trash_in_queue(client, comment.id)

    assert "1 pending" not in page_text(client.get("/admin/"))
    assert "Waiting for a yes." not in page_text(client.get("/admin/comments"))
    assert "Held" in page_text(client.get("/admin/trash"))
    restore(client, comment.id)
    assert state(app, comment.id) == before and "1 pending" in page_text(client.get("/admin/"))
    assert comment_count(app, post.id) == 0


def depth_shown(page: str, comment_id: int) -> int | None:
    """The level of the thread a comment is shown at on a post page, or None when it is not shown."""
    found = re.search(rf'class="comment depth-(\d)[^"]*" id="comment-{comment_id}"', page)
    return int(found.group(1)) if found else None


def test_replies_to_a_trashed_comment_stay_and_return_under_it_when_it_is_restored(app, client, admin, make_post):
    post = make_post("Busy thread", author=admin)
    post_comment(client, post.slug, body="The question.")
    parent = stored_comments(app)[0].id
    post_comment(client, post.slug, body="An answer.", parent_id=str(parent))
    reply = stored_comments(app)[1].id
    reader = app.test_client()
    assert depth_shown(page_text(reader.get("/posts/busy-thread")), reply) == 2

    trash_in_queue(client, parent)

    page = page_text(reader.get("/posts/busy-thread"))
    assert "The question." not in page and depth_shown(page, reply) == 1
    assert state(app, reply)[2] == parent and comment_count(app, post.id) == 1
    refused = post_comment(client, post.slug, body="Also an answer.", parent_id=str(parent))
    assert refused.status_code == 400 and "does not exist here or is not published" in page_text(refused)

    restore(client, parent)

    assert depth_shown(page_text(reader.get("/posts/busy-thread")), reply) == 2


def test_deleting_forever_asks_first_and_the_replies_stay(app, client, admin, make_post):
    post = make_post("Short lived", author=admin)
    post_comment(client, post.slug, body="Regrettable.")
    parent = stored_comments(app)[0].id
    post_comment(client, post.slug, body="Still worth reading.", parent_id=str(parent))
    trash_in_queue(client, parent)

    confirm = page_text(client.get(f"/admin/trash/comments/{parent}/delete"))
    assert "Delete the comment by Ada forever?" in confirm and "It cannot be undone." in confirm
    assert "<p>Regrettable.</p>" in confirm and len(stored_comments(app)) == 2

    response = delete_forever(client, parent)

    assert response.status_code == 303
    assert "Deleted the comment by Ada on “Short lived” forever." in page_text(client.get(response.location))
    assert [(c.body, c.parent_id) for c in stored_comments(app)] == [("Still worth reading.", None)]
    assert "Still worth reading." in page_text(app.test_client().get("/posts/short-lived"))


def test_purge_deletes_for_good_the_comments_in_the_trash_too_long(app, client, runner, admin, make_post):
    post = make_post("Old news", author=admin)
    for body in ("Long gone.", "Just deleted.", "Staying."):
        post_comment(client, post.slug, body=body)
    old, recent, _ = (c.id for c in stored_comments(app))
    trash_in_queue(client, old, recent)
    with app.app_context():
        db.session.execute(update(Comment).where(Comment.id == old).values(trashed_at=now_utc() - timedelta(days=31)))
        db.session.commit()

    result = runner.invoke(args=["purge"])

    assert "Deleted forever 1 comments in the trash for over 30 days." in result.output
    assert [(c.body, c.is_trashed) for c in stored_comments(app)] == [("Just deleted.", True), ("Staying.", False)]


def test_a_bulk_trash_is_undone_from_the_queue_with_counts_and_cached_pages(app, client, admin, make_post):
    post = make_post("Crowded", author=admin)
    for body in ("One.", "Two.", "Three."):
        post_comment(client, post.slug, body=body)
    ids = [c.id for c in stored_comments(app)]
    before = [state(app, i) for i in ids]
    reader = app.test_client()
    assert "Two." in page_text(reader.get("/posts/crowded"))
    trash_in_queue(client, ids[0], ids[1])
    assert comment_count(app, post.id) == 1 and "Two." not in page_text(reader.get("/posts/crowded"))

    queue, undone = press_undo(client)

    assert "Moved to the trash: 2 comments." in page_text(queue)
    assert "Undone (“Moved to the trash: 2 comments.”)" in page_text(client.get(undone.location))
    assert [state(app, i) for i in ids] == before and comment_count(app, post.id) == 3
    assert "Two." in page_text(reader.get("/posts/crowded"))
    assert "The trash is empty" in page_text(client.get("/admin/trash"))


def test_an_undo_after_the_comment_was_restored_or_deleted_forever_is_refused(app, client, admin, make_post):
    post = make_post("Second guess", author=admin)
    post_comment(client, post.slug, body="Back and forth.")
    [comment] = stored_comments(app)
    trash_in_queue(client, comment.id)
    page = client.get("/admin/comments")
    action = re.search(r'action="(/admin/comments/undo/\d+)"', page_text(page)).group(1)
    restore(client, comment.id)
    trash_in_queue(client, comment.id)  # trashed again since: the first undo no longer says what is there

    refused = client.post(action, data=form_fields(page, action))

    assert f"Not undone: comment {comment.id} was changed or deleted since." in page_text(client.get(refused.location))
    assert stored_comments(app)[0].is_trashed


def test_the_audit_log_names_trashing_restoring_and_deleting_comments_forever(app, client, admin, make_post):
    post = make_post("Logged", author=admin)
    for body in ("One.", "Two.", "Three."):
        post_comment(client, post.slug, body=body)
    first, second, third = (c.id for c in stored_comments(app))
    trash_in_queue(client, first)
    restore(client, first)
    trash_in_queue(client, second, third)
    delete_forever(client, third)

    assert audit_actions(app)[-4:] == [
        "Moved a comment to the trash",
        "Restored a comment from the trash",
        "Moved comments to the trash",
        "Deleted a comment forever",
    ]
    with app.app_context():
        details = db.session.scalars(select(AuditEntry.detail).order_by(AuditEntry.id)).all()[-4:]
    assert details == [
        f"comment_id {first}, action: delete",
        f"comment_id {first}",
        "bulk_action: delete, 2 comments",
        f"comment_id {third}",
    ]


def test_restoring_twice_or_an_unknown_comment_says_it_is_not_in_the_trash(app, client, admin, make_post):
    post = make_post("Once only", author=admin)
    post_comment(client, post.slug, body="Here.")
    [comment] = stored_comments(app)
    trash_in_queue(client, comment.id)
    action = f"/admin/trash/comments/{comment.id}/restore"
    fields = form_fields(client.get("/admin/trash"), action)
    client.post(action, data=fields)

    again = client.post(action, data=fields)

    assert again.status_code == 404 and "There is no such comment in the trash" in page_text(again)
    token = fields["csrf_token"]
    for comment_id in (comment.id, 999):  # live, or never was
        assert client.post(f"/admin/trash/comments/{comment_id}/restore", data={"csrf_token": token}).status_code == 404
        assert client.get(f"/admin/trash/comments/{comment_id}/delete").status_code == 404
        assert client.post(f"/admin/trash/comments/{comment_id}/delete", data={"csrf_token": token}).status_code == 404
    assert not stored_comments(app)[0].is_trashed


def test_restore_and_delete_forever_need_the_form_token(app, client, admin, make_post):
    post = make_post("Protected", author=admin)
    post_comment(client, post.slug, body="Guarded.")
    [comment] = stored_comments(app)
    trash_in_queue(client, comment.id)

    assert client.post(f"/admin/trash/comments/{comment.id}/restore", data={}).status_code == 400
    assert client.post(f"/admin/trash/comments/{comment.id}/delete", data={}).status_code == 400
    assert stored_comments(app)[0].is_trashed


def test_a_comment_whose_post_is_in_the_trash_waits_for_the_post(app, client, admin, make_post):
    post = make_post("Whole thing", author=admin)
    post_comment(client, post.slug, body="Part of it.")
    [comment] = stored_comments(app)
    trash_in_queue(client, comment.id)
    page = client.get(f"/admin/posts/{post.id}/delete")
    send_form_on_page(client, page, f"/admin/posts/{post.id}/delete")
    assert "(in the trash too)" in page_text(client.get("/admin/trash"))

    refused = restore(client, comment.id)

    assert refused.status_code == 303
    message = page_text(client.get(refused.location))
    assert "stays in the trash: its post, “Whole thing”, is in the trash too. Restore the post first" in message
    assert stored_comments(app)[0].is_trashed


def test_a_comment_deleted_forever_with_its_post_is_no_longer_in_the_trash(app, client, admin, make_post):
    post = make_post("All gone", author=admin)
    post_comment(client, post.slug, body="Gone with it.")
    [comment] = stored_comments(app)
    trash_in_queue(client, comment.id)
    restore_form = form_fields(client.get("/admin/trash"), f"/admin/trash/comments/{comment.id}/restore")
    send_form_on_page(client, client.get(f"/admin/posts/{post.id}/delete"), f"/admin/posts/{post.id}/delete")
    send_form_on_page(client, client.get(f"/admin/trash/{post.id}/delete"), f"/admin/trash/{post.id}/delete")

    gone = client.post(f"/admin/trash/comments/{comment.id}/restore", data=restore_form)

    assert gone.status_code == 404 and "deleted forever with its post" in page_text(gone)


def test_an_author_sees_and_restores_only_comments_on_their_own_posts(app, client, make_user, make_post):
    owner, writer = make_user("owner"), make_user("writer", UserRole.author)
    theirs, mine = make_post("Owner post", author=owner), make_post("Writer post", author=writer)
    post_comment(app.test_client(), theirs.slug, body="On the owner post.")
    post_comment(app.test_client(), mine.slug, body="On the writer post.")
    on_theirs, on_mine = (c.id for c in stored_comments(app))
    log_in(client, "owner")
    trash_in_queue(client, on_theirs, on_mine)
    author = app.test_client()
    log_in(author, "writer")

    listing = page_text(author.get("/admin/trash"))

    assert "On the writer post." in listing and "On the owner post." not in listing
    token = csrf_token(author, "/admin/trash", action=f"/admin/trash/comments/{on_mine}/restore")
    assert author.post(f"/admin/trash/comments/{on_theirs}/restore", data={"csrf_token": token}).status_code == 404
    assert author.get(f"/admin/trash/comments/{on_theirs}/delete").status_code == 404
    assert author.post(f"/admin/trash/comments/{on_mine}/restore", data={"csrf_token": token}).status_code == 303


def test_a_commenter_taking_back_their_own_comment_deletes_it_at_once(app, client, admin, make_post):
    # Their choice, made within the edit window: nothing of it is kept, not even in the owner's trash.
    post = make_post("Second thoughts", author=admin)
    reader = app.test_client()
    post_comment(reader, post.slug, body="Said too much.")
    [comment] = stored_comments(app)
    action = f"/posts/second-thoughts/comments/{comment.id}/delete"

    response = reader.post(action, data=form_fields(reader.get("/posts/second-thoughts"), action))

    assert response.status_code == 303 and stored_comments(app) == []
    assert "The trash is empty" in page_text(client.get("/admin/trash"))


def test_a_trashed_comment_cannot_be_edited_by_its_commenter_nor_moderated_by_email(app, client, admin, make_post):
    post = make_post("Out of reach", author=admin)
    reader = app.test_client()
    post_comment(reader, post.slug, body="Mine.")
    [comment] = stored_comments(app)
    trash_in_queue(client, comment.id)

    assert reader.get(f"/posts/out-of-reach/comments/{comment.id}/edit").status_code == 404
    with app.test_request_context():  # the link the owner's email gave before the comment went to the trash
        link = quick_moderation_url(db.session.get(Comment, comment.id), "approve")
    quick = app.test_client().get(link.removeprefix("http://localhost"))
    assert quick.status_code == 404 and "This comment is in the trash" in page_text(quick)


def test_a_comment_in_the_trash_stays_there_through_an_export_and_an_import(app, client, admin, make_post):
    post = make_post("Moving house", author=admin)
    post_comment(client, post.slug, body="Packed away.")
    [comment] = stored_comments(app)
    trash_in_queue(client, comment.id)
    text = exported(app)

    wipe(app)
    imported(app, text)

    [again] = stored_comments(app)
    assert again.trashed_by == "owner" and again.trashed_at is not None
    assert "Packed away." not in page_text(app.test_client().get("/posts/moving-house"))
    assert comment_count(app, post.id) == 0 and exported(app) == text
