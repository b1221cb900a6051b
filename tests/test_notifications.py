"""Email about comments, delivered to a real SMTP server on 127.0.0.1 (aiosmtpd), never a mock."""

from __future__ import annotations

import email
import logging
import re
import time
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy import update

from admin.tables import HeldMail
from audit import AuditEntry
from database import db
from database import now_utc
from helpers import CSRF_FIELD
from helpers import csrf_token
from helpers import free_port
from helpers import log_in
from helpers import page_text
from helpers import post_comment
from models import Comment
from models import CommentStatus

LINK = re.compile(r"https?://\S+")


class Mailbox:
    """An SMTP server's inbox: every message it accepted."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=default))
        return "250 Message accepted"

    def wait_for(self, count: int, timeout: float = 5) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages


@pytest.fixture
def mailbox():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture
def mail_app(make_app, mailbox):
    return make_app(
        MAIL_SERVER="127.0.0.1",
        SITE_URL="http://localhost",
        MAIL_PORT=mailbox.port,
        NOTIFY_EMAIL="owner@example.com",
        COMMENT_MODERATION="first-time",
    )


def body_of(message: EmailMessage) -> str:
    return message.get_content()


def link_in(message: EmailMessage, label: str) -> str:
    line = next(line for line in body_of(message).splitlines() if line.startswith(label))
    return LINK.search(line).group(0).replace("http://localhost", "")


def release_held_mail(app) -> None:
    """Let the Undo of the approvals expire: the emails they held go out with `flask send-mail`, as from cron."""
    with app.app_context():
        db.session.execute(update(HeldMail).values(send_after=now_utc() - timedelta(seconds=1)))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["send-mail"])
    assert result.exit_code == 0, result.output


def status_of(app, comment_id: int) -> CommentStatus:
    with app.app_context():
        return db.session.get(Comment, comment_id).status


def test_owner_is_told_of_a_held_comment_with_approve_and_spam_links(mail_app, mailbox, make_post):
    post = make_post("Mailed")
    post_comment(mail_app.test_client(), post.slug, name="Grace", email="g@example.com", body="Hold me, please")

    (message,) = mailbox.wait_for(1)
    assert message["To"] == "owner@example.com"
    assert message["Subject"] == "[Inkwell] Held comment on “Mailed”"
    text = body_of(message)
    assert "Grace commented on “Mailed” and the comment is waiting for your approval." in text
    assert "Hold me, please" in text and "g@example.com" in text
    assert "Why held: First comment from this commenter" in text
    assert link_in(message, "Approve:").startswith("/admin/comments/quick/")
    assert link_in(message, "Spam:").startswith("/admin/comments/quick/")


def test_one_click_link_moderates_once_without_logging_in(mail_app, mailbox, make_post):
    post = make_post()
    post_comment(mail_app.test_client(), post.slug, body="Approve me from the phone")
    approve = link_in(mailbox.wait_for(1)[0], "Approve:")
    phone = mail_app.test_client()

    confirm = phone.get(approve)
    assert confirm.status_code == 200 and "Approve the comment" in page_text(confirm)
    assert status_of(mail_app, 1) == CommentStatus.pending  # opening the link changes nothing

    done = phone.post(approve, data={"csrf_token": csrf_token(phone, approve)})
    assert "Approved: 1 comment." in page_text(done)
    assert status_of(mail_app, 1) == CommentStatus.approved
    assert "This link has expired" in page_text(phone.get(approve))
    with mail_app.app_context():
        entry = db.session.scalars(select(AuditEntry)).one()
    assert (entry.username, entry.action, entry.detail) == (
        "(email link)",
        "Moderated a comment from an email link",
        "comment 1, action: approve",
    )


def test_one_click_links_cannot_be_forged_or_used_after_seven_days(mail_app, mailbox, make_post, monkeypatch):
    post = make_post()
    post_comment(mail_app.test_client(), post.slug, body="Hmm")
    spam_link = link_in(mailbox.wait_for(1)[0], "Spam:")
    client = mail_app.test_client()

    assert client.get(spam_link[:-4] + "abcd").status_code == 404
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 8 * 24 * 3600)
    expired = client.get(spam_link)
    assert expired.status_code == 403 and "expired" in page_text(expired)


def test_owner_is_told_of_published_comments_too(make_app, mailbox, make_post):
    app = make_app(
        MAIL_SERVER="127.0.0.1", SITE_URL="http://localhost", MAIL_PORT=mailbox.port, NOTIFY_EMAIL="owner@example.com"
    )
    post_comment(app.test_client(), make_post("Open").slug, name="Ken", body="Straight in")
    (message,) = mailbox.wait_for(1)
    assert message["Subject"] == "[Inkwell] New comment on “Open”"
    assert link_in(message, "Read it:") == "/posts/open/comments/1"


def test_a_failing_mail_server_never_loses_the_comment(make_app, make_post, caplog):
    app = make_app(
        MAIL_SERVER="127.0.0.1", SITE_URL="http://localhost", MAIL_PORT=free_port(), NOTIFY_EMAIL="owner@example.com"
    )
    client = app.test_client()
    post = make_post()

    with caplog.at_level(logging.ERROR):
        response = post_comment(client, post.slug, body="Precious words")

    assert response.status_code == 303
    assert "Precious words" in page_text(client.get(f"/posts/{post.slug}"))
    assert "Could not send 1 notification email(s) through 127.0.0.1" in caplog.text


def test_no_mail_is_sent_without_a_mail_server(make_app, mailbox, make_post):
    app = make_app(NOTIFY_EMAIL="owner@example.com")
    post_comment(app.test_client(), make_post().slug)
    assert mailbox.wait_for(1, timeout=0.5) == []


def test_commenter_who_asked_is_told_of_the_approval_and_can_unsubscribe_once(mail_app, mailbox, make_post, make_user):
    post = make_post("Awaited")
    post_comment(
        mail_app.test_client(), post.slug, name="Ada", email="ada@example.com", body="Waiting", notify_approval="y"
    )
    owner = mail_app.test_client()
    make_user("owner")
    log_in(owner, "owner")
    approved = owner.post(
        "/admin/comments/1/moderate", data={"csrf_token": csrf_token(owner, "/admin/comments"), "action": "approve"}
    )
    approved.close()
    release_held_mail(mail_app)

    approval = mailbox.wait_for(2)[1]
    assert approval["To"] == "ada@example.com"
    assert approval["Subject"] == "Your comment on “Awaited” is published"
    unsubscribe = link_in(approval, "To stop:")
    reader = mail_app.test_client()
    assert "Unsubscribe" in page_text(reader.get(unsubscribe))
    done = reader.post(unsubscribe, data={"csrf_token": csrf_token(reader, unsubscribe)})
    assert "You will get no more emails" in page_text(done)
    with mail_app.app_context():
        assert db.session.get(Comment, 1).notify_approval is False
    assert "You will get no more emails" in page_text(reader.get(unsubscribe))
    assert reader.get(unsubscribe[:-3] + "xyz").status_code == 404


def test_readers_are_offered_email_notifications_only_when_the_blog_sends_mail(make_app, mail_app, make_post):
    slug = make_post().slug
    without_mail = page_text(make_app().test_client().get(f"/posts/{slug}"))
    with_mail = page_text(mail_app.test_client().get(f"/posts/{slug}"))

    assert "Email me when" not in without_mail and "Remember my name" in without_mail
    assert "Email me when someone replies to this comment" in with_mail
    assert "Email me when this comment is approved" in with_mail


def test_notification_checkbox_needs_an_email_address(mail_app, make_post):
    response = post_comment(mail_app.test_client(), make_post().slug, notify_replies="y")
    assert response.status_code == 400
    assert "Please enter your email address, so we know where to send notifications." in page_text(response)


def test_reply_notice_goes_to_the_commenter_who_asked_but_not_for_their_own_replies(make_app, mailbox, make_post):
    app = make_app(
        MAIL_SERVER="127.0.0.1", SITE_URL="http://localhost", MAIL_PORT=mailbox.port, COMMENT_MODERATION="off"
    )
    post = make_post("Thread")
    asker, other = app.test_client(), app.test_client()
    post_comment(asker, post.slug, name="Ada", email="ada@example.com", body="Question?", notify_replies="y")
    post_comment(asker, post.slug, name="Ada", body="Adding to my own question", parent_id="1")
    post_comment(other, post.slug, name="Ken", body="An answer!", parent_id="1")

    (message,) = mailbox.wait_for(1)
    time.sleep(0.2)
    assert len(mailbox.messages) == 1
    assert message["To"] == "ada@example.com" and message["Subject"] == "Ken replied to your comment"
    assert "An answer!" in body_of(message)
    assert link_in(message, "To stop emails").startswith("/unsubscribe/")
    with app.app_context():
        assert db.session.scalars(select(Comment.notify_replies).order_by(Comment.id)).all() == [True, False, False]


def stored_comment(app, **fields) -> int:
    """Write a comment straight into the database, as an import or an older version might have."""
    with app.app_context():
        comment = Comment(**({"body": "Words", "status": CommentStatus.pending} | fields))
        db.session.add(comment)
        db.session.commit()
        return comment.id


def logged_in_owner(app, make_user):
    owner = app.test_client()
    make_user("owner")
    assert log_in(owner, "owner").status_code == 302
    return owner


# Names as they might be stored by hand or by an older version: the form refuses all of these now.
BAD_NAMES = ["Mallory\r\nBcc: victim@example.com", "Eve\nX-Injected: yes", "Vee\x0bTab", "Line\u2028Break", "Esc\x1b"]


def test_approving_comments_whose_stored_names_hold_line_breaks_mails_one_line_headers(
    mail_app, mailbox, make_post, make_user
):
    post = make_post("Thread")
    parent = stored_comment(
        mail_app,
        post_id=post.id,
        author_name="Ada",
        author_email="ada@example.com",
        notify_replies=True,
        status=CommentStatus.approved,
    )
    replies = [
        stored_comment(
            mail_app,
            post_id=post.id,
            parent_id=parent,
            author_name=name,
            author_email=f"r{i}@example.com",
            notify_approval=True,
        )
        for i, name in enumerate(BAD_NAMES)
    ]
    owner = logged_in_owner(mail_app, make_user)
    token = csrf_token(owner, "/admin/comments")

    one = owner.post(f"/admin/comments/{replies[0]}/moderate", data={"csrf_token": token, "action": "approve"})
    one.close()
    several = owner.post(
        "/admin/comments/bulk",
        data={"csrf_token": token, "ids": [str(i) for i in replies[1:]], "bulk_action": "approve"},
    )
    several.close()

    assert (one.status_code, several.status_code) == (303, 303)
    assert [status_of(mail_app, i) for i in replies] == [CommentStatus.approved] * len(BAD_NAMES)
    release_held_mail(mail_app)
    messages = mailbox.wait_for(2 * len(BAD_NAMES))  # an approval notice and a reply notice each
    assert len(messages) == 2 * len(BAD_NAMES)
    for message in messages:
        assert message["Bcc"] is None and message["X-Injected"] is None
        assert all(not re.search(r"[\x00-\x1f\x7f-\x9f\u2028]", str(message[h])) for h in ("From", "To", "Subject"))
    reply_notices = sorted(str(m["Subject"]) for m in messages if m["To"] == "ada@example.com")
    assert reply_notices == sorted(
        f"{name} replied to your comment"
        for name in ("Mallory Bcc: victim@example.com", "Eve X-Injected: yes", "Vee Tab", "Line Break", "Esc")
    )


def test_a_stored_address_naming_several_mailboxes_gets_no_mail_and_adds_no_recipient(
    mail_app, mailbox, make_post, make_user
):
    post = make_post()
    comments = [
        stored_comment(mail_app, post_id=post.id, author_name="A", author_email=address, notify_approval=True)
        for address in (
            "a@example.com, victim@example.com",
            "a@example.com\r\nBcc: victim@example.com",
            "b@example.com",
        )
    ]
    owner = logged_in_owner(mail_app, make_user)

    response = owner.post(
        "/admin/comments/bulk",
        data={
            "csrf_token": csrf_token(owner, "/admin/comments"),
            "ids": [str(i) for i in comments],
            "bulk_action": "approve",
        },
    )
    response.close()
    release_held_mail(mail_app)

    assert response.status_code == 303
    (message,) = mailbox.wait_for(1)
    time.sleep(0.2)
    assert len(mailbox.messages) == 1 and message["To"] == "b@example.com"


# Editing after approval (the commenter changes the words the owner approved)


def edit_comment(client, slug: str, comment_id: int, **fields: str):
    url = f"/posts/{slug}/comments/{comment_id}/edit"
    data = {"csrf_token": csrf_token(client, url), "name": "Ada"} | fields
    response = client.post(url, data=data, follow_redirects=True)
    response.close()
    return response


def approve_in_queue(owner, comment_id: int) -> None:
    token = csrf_token(owner, "/admin/comments")
    owner.post(f"/admin/comments/{comment_id}/moderate", data={"csrf_token": token, "action": "approve"}).close()


def test_a_comment_edited_after_its_approval_goes_back_to_the_queue_and_the_owner_is_told(
    mail_app, mailbox, make_post, make_user
):
    post = make_post("Innocent")
    commenter, reader = mail_app.test_client(), mail_app.test_client()
    post_comment(commenter, post.slug, name="Ada", body="What a lovely garden.")
    approve_in_queue(logged_in_owner(mail_app, make_user), 1)
    assert "What a lovely garden." in page_text(reader.get(f"/posts/{post.slug}"))

    edited = edit_comment(commenter, post.slug, 1, body="BUY CHEAP PILLS at https://spam.example")

    assert status_of(mail_app, 1) == CommentStatus.pending
    assert "it is awaiting moderation again and will appear once the author approves it" in page_text(edited)
    assert "BUY CHEAP PILLS" in page_text(edited)  # the commenter still sees their own held comment
    public = page_text(reader.get(f"/posts/{post.slug}"))
    assert "BUY CHEAP PILLS" not in public and "What a lovely garden." not in public
    *_, told = mailbox.wait_for(2)  # held, then edited back into the queue
    assert told["Subject"] == "[Inkwell] Held comment on “Innocent”"
    assert "Ada edited their comment on “Innocent” and the comment is waiting for your approval." in body_of(told)
    assert "BUY CHEAP PILLS" in body_of(told) and link_in(told, "Approve:").startswith("/admin/comments/quick/")


@pytest.mark.parametrize(
    ("policy", "is_known", "expected"),
    [
        ("first-time", False, CommentStatus.pending),  # its own approval does not make the commenter known
        ("first-time", True, CommentStatus.approved),  # another approved comment does
        ("all", True, CommentStatus.pending),
        ("off", False, CommentStatus.approved),
    ],
)
def test_an_edit_of_an_approved_comment_meets_the_moderation_policy_again(
    make_app, make_post, make_user, policy, is_known, expected
):
    app = make_app(COMMENT_MODERATION=policy)
    post = make_post()
    commenter = app.test_client()
    owner = logged_in_owner(app, make_user)
    if is_known:
        post_comment(commenter, post.slug, body="An earlier comment")
        approve_in_queue(owner, 1)
    post_comment(commenter, post.slug, body="Innocent words")
    latest = 2 if is_known else 1
    approve_in_queue(owner, latest)

    edit_comment(commenter, post.slug, latest, body="Different words")

    assert status_of(app, latest) == expected


def test_an_edit_meets_the_same_content_checks_as_a_new_comment(make_app, make_post, make_user):
    app = make_app(COMMENT_MODERATION="off", COMMENT_MAX_LINKS=2)
    post = make_post()
    commenter = app.test_client()
    post_comment(commenter, post.slug, body="Fine words")

    links = " ".join(f"<https://spam{n}.example>" for n in range(3))
    edit_comment(commenter, post.slug, 1, body=f"Now with links {links}")

    with app.app_context():
        comment = db.session.get(Comment, 1)
        assert (comment.status, comment.held_reason) == (CommentStatus.pending, "Contains 3 links (more than 2)")


def test_saving_an_approved_comment_unchanged_keeps_it_published(mail_app, make_post, make_user):
    post = make_post()
    commenter = mail_app.test_client()
    post_comment(commenter, post.slug, name="Ada", email="ada@example.com", body="Same words")
    approve_in_queue(logged_in_owner(mail_app, make_user), 1)

    edited = edit_comment(commenter, post.slug, 1, name="Ada", email="ada@example.org", body="Same words")

    assert status_of(mail_app, 1) == CommentStatus.approved
    assert "Your comment is updated." in page_text(edited) and "awaiting moderation" not in page_text(edited)


def test_an_edit_into_a_repeat_of_another_comment_is_refused_and_the_text_kept(app, make_post):
    post = make_post()
    commenter = app.test_client()
    post_comment(commenter, post.slug, body="My first point")
    post_comment(commenter, post.slug, body="My second point")
    url = f"/posts/{post.slug}/comments/2/edit"

    response = commenter.post(
        url, data={"csrf_token": csrf_token(commenter, url), "name": "Ada", "body": "my first point."}
    )

    assert response.status_code == 400
    assert "You posted this same comment here a few minutes ago" in page_text(response)
    assert "my first point." in page_text(response)
    with app.app_context():
        assert db.session.get(Comment, 2).body == "My second point"


# Moderation links act only on the comment as the owner was shown it


def test_an_approve_link_expires_once_the_comment_is_approved_then_edited_back_into_the_queue(
    mail_app, mailbox, make_post, make_user
):
    post = make_post()
    commenter, phone = mail_app.test_client(), mail_app.test_client()
    post_comment(commenter, post.slug, name="Ada", body="Innocent words")
    old_link = link_in(mailbox.wait_for(1)[0], "Approve:")
    approve_in_queue(logged_in_owner(mail_app, make_user), 1)
    edit_comment(commenter, post.slug, 1, body="Spam, spam, spam")
    assert status_of(mail_app, 1) == CommentStatus.pending  # the same status the old link was made for

    shown = phone.get(old_link)
    used = phone.post(old_link, data={"csrf_token": csrf_token(phone, "/admin/login")})  # the session's token

    assert "This link has expired" in page_text(shown) and "Approve the comment" not in page_text(shown)
    assert "This link has expired" in page_text(used)
    assert status_of(mail_app, 1) == CommentStatus.pending
    new_link = link_in(mailbox.wait_for(2)[-1], "Approve:")  # the owner was sent a link for the edited words
    phone.post(new_link, data={"csrf_token": csrf_token(phone, new_link)})
    assert status_of(mail_app, 1) == CommentStatus.approved


def test_an_approve_link_expires_once_the_comment_went_to_spam_and_back_to_the_queue(
    mail_app, mailbox, make_post, make_user
):
    post = make_post()
    post_comment(mail_app.test_client(), post.slug, body="Borderline words")
    old_link = link_in(mailbox.wait_for(1)[0], "Approve:")
    owner = logged_in_owner(mail_app, make_user)
    token = csrf_token(owner, "/admin/comments")
    for action in ("spam", "pending"):
        owner.post("/admin/comments/1/moderate", data={"csrf_token": token, "action": action})
    assert status_of(mail_app, 1) == CommentStatus.pending

    phone = mail_app.test_client()
    used = phone.post(old_link, data={"csrf_token": csrf_token(phone, "/admin/login")})  # the session's token

    assert "This link has expired" in page_text(used)
    assert status_of(mail_app, 1) == CommentStatus.pending


def test_links_in_emails_point_to_the_blog_whatever_host_a_stranger_sent_their_comment_to(
    make_app, mailbox, make_post, make_user
):
    """A stranger who posts with ``Host: evil.example`` must not get the owner's one-click approve link sent to
    their own server (it would let them approve their own comment), nor a reader's unsubscribe link."""
    app = make_app(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=mailbox.port,
        NOTIFY_EMAIL="owner@example.com",
        COMMENT_MODERATION="first-time",
        SITE_URL="https://blog.example.com",
    )
    post = make_post("Thread")
    stranger = app.test_client()
    page = stranger.get(f"/posts/{post.slug}", headers={"Host": "evil.example"})
    token = CSRF_FIELD.search(page_text(page)).group(1)
    fields = {"name": "Mallory", "email": "m@example.com", "body": "Approve me", "notify_approval": "y"}
    stranger.post(
        f"/posts/{post.slug}/comments", data=fields | {"csrf_token": token}, headers={"Host": "evil.example"}
    ).close()
    (held,) = mailbox.wait_for(1)
    owner = logged_in_owner(app, make_user)
    approve = held.get_content().split("Approve: ")[1].split()[0]
    approve_path = urlsplit(approve).path
    owner.post(approve_path, data={"csrf_token": csrf_token(owner, approve_path)}).close()
    release_held_mail(app)  # then mail goes
    approved = mailbox.wait_for(2)[1]

    links = LINK.findall(body_of(held)) + LINK.findall(body_of(approved))
    assert len(links) == 4
    assert all(link.startswith("https://blog.example.com/") for link in links), links


def mails_about_an_approval(messages: list[EmailMessage]) -> list[tuple[str, str, str]]:
    """Who was told what, with links (each names its own comment and token) left out."""
    return sorted((str(m["To"]), str(m["Subject"]), LINK.sub("<link>", body_of(m))) for m in messages)


def test_approving_from_the_command_line_sends_the_same_emails_as_the_queue(mail_app, mailbox, make_post, make_user):
    post = make_post("Awaited")
    question = stored_comment(
        mail_app,
        post_id=post.id,
        author_name="Ada",
        author_email="ada@example.com",
        notify_replies=True,
        status=CommentStatus.approved,
    )
    answer = {"post_id": post.id, "parent_id": question, "author_name": "Ken", "author_email": "ken@example.com"}
    by_queue = stored_comment(mail_app, notify_approval=True, body="An answer", **answer)
    by_command = stored_comment(mail_app, notify_approval=True, body="An answer", **answer)

    approve_in_queue(logged_in_owner(mail_app, make_user), by_queue)
    release_held_mail(mail_app)
    from_queue = list(mailbox.wait_for(2))
    result = mail_app.test_cli_runner().invoke(args=["comments", "approve", str(by_command)])
    from_command = mailbox.wait_for(4)[len(from_queue) :]

    assert result.exit_code == 0, result.output
    assert status_of(mail_app, by_command) == CommentStatus.approved
    assert [m["To"] for m in sorted(from_queue, key=lambda m: m["To"])] == ["ada@example.com", "ken@example.com"]
    assert mails_about_an_approval(from_command) == mails_about_an_approval(from_queue)


# Held mail: an approval in the queue can be undone for 30 minutes, and so can the emails it calls for


def held_mails(app) -> int:
    with app.app_context():
        return len(db.session.scalars(select(HeldMail.id)).all())


def approved_in_queue_with_a_notice_asked(mail_app, mailbox, make_post, make_user):
    """A held comment whose writer asked to be told of its approval, approved in the queue; the owner's client."""
    post = make_post("Awaited")
    post_comment(mail_app.test_client(), post.slug, email="ada@example.com", body="Waiting", notify_approval="y")
    assert len(mailbox.wait_for(1)) == 1  # the owner's notice of the held comment
    owner = logged_in_owner(mail_app, make_user)
    token = csrf_token(owner, "/admin/comments")
    approved = owner.post("/admin/comments/1/moderate", data={"csrf_token": token, "action": "approve"})
    approved.close()
    return owner, owner.get(approved.location)


def test_an_approval_in_the_queue_holds_its_emails_until_its_undo_expires(mail_app, mailbox, make_post, make_user):
    owner, queue = approved_in_queue_with_a_notice_asked(mail_app, mailbox, make_post, make_user)

    assert "Approved: 1 comment. 1 email goes out in 30 minutes, unless you undo this." in page_text(queue)
    owner.get("/admin/").close()  # admin pages send the held emails that are due: none yet
    time.sleep(0.3)
    assert len(mailbox.messages) == 1 and held_mails(mail_app) == 1

    with mail_app.app_context():
        db.session.execute(update(HeldMail).values(send_after=now_utc() - timedelta(seconds=1)))
        db.session.commit()
    owner.get("/admin/").close()  # the undo expired: the next admin page sends them

    approval = mailbox.wait_for(2)[1]
    assert approval["To"] == "ada@example.com" and approval["Subject"] == "Your comment on “Awaited” is published"
    assert link_in(approval, "To stop:").startswith("/unsubscribe/") and held_mails(mail_app) == 0
    owner.get("/admin/").close()
    time.sleep(0.3)
    assert len(mailbox.messages) == 2  # sent once


def test_undoing_an_approval_deletes_its_emails_unsent(mail_app, mailbox, make_post, make_user):
    owner, queue = approved_in_queue_with_a_notice_asked(mail_app, mailbox, make_post, make_user)
    action = re.search(r'action="(/admin/comments/undo/\d+)"', page_text(queue)).group(1)
    token = csrf_token(owner, "/admin/comments")

    undone = owner.post(action, data={"csrf_token": token})

    message = page_text(owner.get(undone.location))
    assert "everything is back as it was; 1 email about it will not be sent." in message
    assert status_of(mail_app, 1) == CommentStatus.pending and held_mails(mail_app) == 0
    release_held_mail(mail_app)
    time.sleep(0.3)
    assert len(mailbox.messages) == 1  # only the owner's notice of the held comment, long before


def test_a_held_email_whose_news_is_no_longer_true_is_dropped(mail_app, mailbox, make_post, make_user):
    owner, _ = approved_in_queue_with_a_notice_asked(mail_app, mailbox, make_post, make_user)
    token = csrf_token(owner, "/admin/comments")
    owner.post("/admin/comments/1/moderate", data={"csrf_token": token, "action": "spam"}).close()

    release_held_mail(mail_app)

    time.sleep(0.3)
    assert len(mailbox.messages) == 1 and held_mails(mail_app) == 0


def test_send_mail_says_so_when_no_mail_server_is_set(runner):
    result = runner.invoke(args=["send-mail"])
    assert result.exit_code != 0 and "MAIL_SERVER is not set: Inkwell sends no email." in result.output
