"""Spammers meet layers of defence; people writing normally never notice them."""

from __future__ import annotations

import logging

import pytest
from itsdangerous import BadSignature
from itsdangerous import SignatureExpired
from itsdangerous import TimestampSigner
from sqlalchemy import select

from database import db
from database import now_utc
from forms import form_shown_at
from forms import stamp_form_shown
from helpers import page_text
from helpers import post_comment
from models import Comment
from models import CommentStatus


def stored(app) -> list[Comment]:
    with app.app_context():
        return list(db.session.scalars(select(Comment).order_by(Comment.id)))


def form_started(client, slug: str) -> str:
    """Return the signed time in the comment form, as a browser would send it back."""
    html = page_text(client.get(f"/posts/{slug}"))
    return html.split('name="started" type="hidden" value="', 1)[1].split('"', 1)[0]


def form_shown_seconds_ago(monkeypatch, seconds: int) -> None:
    """Make the next rendered form carry a timestamp from ``seconds`` ago."""
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) - seconds)


@pytest.fixture
def post(make_post):
    return make_post("Target")


def test_comment_sent_faster_than_a_person_types_is_spam(make_app, make_post):
    app = make_app(COMMENT_MIN_SECONDS=3)
    client = app.test_client()
    post = make_post()

    response = post_comment(client, post.slug, body="Instant", started=form_started(client, post.slug))

    assert response.status_code == 303
    (comment,) = stored(app)
    assert comment.status == CommentStatus.spam and "faster than a person types" in comment.held_reason


def test_comment_sent_after_a_human_pause_goes_through(make_app, make_post, monkeypatch):
    app = make_app(COMMENT_MIN_SECONDS=3)
    client = app.test_client()
    post = make_post()
    form_shown_seconds_ago(monkeypatch, 30)
    started = form_started(client, post.slug)
    monkeypatch.undo()

    post_comment(client, post.slug, body="Considered words", started=started)

    assert [c.status for c in stored(app)] == [CommentStatus.approved]


@pytest.mark.parametrize("started", ["", "forged.timestamp.value"])
def test_missing_or_forged_form_timestamp_is_spam(make_app, make_post, started):
    app = make_app(COMMENT_MIN_SECONDS=3)
    client = app.test_client()
    post = make_post()
    post_comment(client, post.slug, started=started)
    (comment,) = stored(app)
    assert comment.status == CommentStatus.spam and "missing or forged" in comment.held_reason


def test_form_older_than_a_day_asks_to_resend_and_keeps_the_text(make_app, make_post, monkeypatch):
    app = make_app(COMMENT_MIN_SECONDS=3)
    client = app.test_client()
    post = make_post()
    form_shown_seconds_ago(monkeypatch, 2 * 24 * 3600)
    started = form_started(client, post.slug)
    monkeypatch.undo()

    response = post_comment(client, post.slug, body="Written yesterday", started=started)

    html = page_text(response)
    assert response.status_code == 400
    assert "opened more than a day ago" in html and "Written yesterday" in html
    assert stored(app) == []
    fresh = html.split('name="started" type="hidden" value="', 1)[1].split('"', 1)[0]
    assert fresh != started


def test_a_form_stamp_tells_when_the_form_was_shown_and_is_refused_when_too_old_or_of_another_kind(app, monkeypatch):
    form_shown_seconds_ago(monkeypatch, 30)
    stamp = stamp_form_shown(app.secret_key, "started")
    monkeypatch.undo()

    with app.app_context():
        assert 30 <= (now_utc() - form_shown_at(stamp, "started", max_age=60)).total_seconds() < 40
        with pytest.raises(SignatureExpired):
            form_shown_at(stamp, "started", max_age=10)
        with pytest.raises(BadSignature):
            form_shown_at(stamp, "comment-csrf", max_age=60)  # a stamp of one kind is no proof of another


def test_comment_with_too_many_links_is_held_with_the_reason(app, client, post):
    post_comment(client, post.slug, body="See https://a.com https://b.com https://c.com")
    post_comment(client, post.slug, body="Two are fine: https://a.com and https://b.com")
    held, fine = stored(app)
    assert held.status == CommentStatus.pending and held.held_reason == "Contains 3 links (more than 2)"
    assert fine.status == CommentStatus.approved


def test_link_limit_can_be_switched_off(make_app, make_post):
    app = make_app(COMMENT_MAX_LINKS=0)
    client = app.test_client()
    post_comment(client, make_post().slug, body=" ".join(f"https://site{n}.com" for n in range(5)))
    assert stored(app)[0].status == CommentStatus.approved


def test_blocklisted_words_hold_the_comment(app, client, post, tmp_path):
    (tmp_path / "instance" / "blocklist.txt").write_text("# words we never want\nviagra\ncheap watches  # phrase\n")

    post_comment(client, post.slug, body="Buy CHEAP  watches here")  # two spaces: not the phrase
    post_comment(client, post.slug, body="Get cheap watches now")
    post_comment(client, post.slug, name="Viagra Vendor", body="Hello")

    statuses = [(c.status, c.held_reason) for c in stored(app)]
    assert statuses == [
        (CommentStatus.approved, None),
        (CommentStatus.pending, "Matches “cheap watches” from the blocklist"),
        (CommentStatus.pending, "Matches “viagra” from the blocklist"),
    ]


def test_unreadable_blocklist_is_logged_and_comments_still_accepted(app, client, post, tmp_path, caplog):
    (tmp_path / "instance" / "blocklist.txt").mkdir()  # a folder where the file should be

    with caplog.at_level(logging.WARNING):
        response = post_comment(client, post.slug, body="Hello")

    assert response.status_code == 303
    assert [c.status for c in stored(app)] == [CommentStatus.approved]
    assert "Comment blocklist" in caplog.text and "could not be read" in caplog.text


def test_same_comment_twice_is_refused_with_a_message(app, client, make_post, post):
    post_comment(client, post.slug, body="Great   post!")
    again = post_comment(client, post.slug, body="Great post!")

    assert again.status_code == 400
    assert "You posted this same comment here a few minutes ago" in page_text(again)
    assert post_comment(client, make_post("Other").slug, body="Great post!").status_code == 303
    assert len(stored(app)) == 2


@pytest.mark.parametrize(
    "again",
    [
        "Great post.",  # a full stop added
        "great POST",  # another case
        "  Great\n\n post  ",  # other whitespace
        "**Great post!!!**",  # punctuation and emphasis at the edges
        "Ｇｒｅａｔ ｐｏｓｔ",  # full-width letters (NFKC)
        "Great post \u200b",  # an invisible character
    ],
)
def test_the_same_comment_written_slightly_differently_is_still_a_repeat(app, client, post, again):
    post_comment(client, post.slug, body="Great post")
    response = post_comment(client, post.slug, body=again)

    assert response.status_code == 400
    assert "You posted this same comment here a few minutes ago" in page_text(response)
    assert len(stored(app)) == 1


def test_comments_that_differ_inside_are_not_repeats(app, client, post):
    for body in ("Great post", "Great post, thanks", "Great, post", "👍", "❤️"):
        assert post_comment(client, post.slug, body=body).status_code == 303, body


def test_comment_that_is_empty_once_sanitized_is_refused(app, client, post):
    for body in ("&nbsp;", "\u200b\u200b", "[](https://example.com)"):
        response = post_comment(client, post.slug, body=body)
        assert response.status_code == 400
        assert "Your comment is empty" in page_text(response)
    assert stored(app) == []


def test_rate_limit_counts_per_address_and_says_when_to_retry(make_app, make_post):
    app = make_app(COMMENT_RATE_LIMIT="5 per minute; 30 per hour")
    client = app.test_client()
    post = make_post()

    statuses = [post_comment(client, post.slug, body=f"Comment {n}").status_code for n in range(5)]
    limited = post_comment(client, post.slug, name="Eager", body="The sixth")

    assert statuses == [303] * 5 and limited.status_code == 429
    html = page_text(limited)
    assert "Please wait" in html and "seconds" in html
    assert "The sixth" in html and 'value="Eager"' in html
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    neighbour = app.test_client()
    neighbour.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert post_comment(neighbour, post.slug, body="Someone else").status_code == 303


def test_comments_are_accepted_when_the_shared_limit_store_is_down(make_app, make_post):
    app = make_app(RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")
    client = app.test_client()
    response = post_comment(client, make_post().slug, body="Still here")
    assert response.status_code == 303
    assert [c.body for c in stored(app)] == ["Still here"]


def test_address_is_stored_only_as_a_hash_of_its_network(app, post):
    for address in ("203.0.113.5", "203.0.113.200", "198.51.100.5", "2001:db8:1:2::1", "2001:db8:1:ffff::9"):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        post_comment(client, post.slug, body=f"From {address}")

    hashes = [c.ip_hash for c in stored(app)]
    assert hashes[0] == hashes[1] != hashes[2]
    assert hashes[3] == hashes[4] != hashes[0]
    assert all("203.0" not in h and len(h) == 32 for h in hashes)


def test_an_edited_blocklist_holds_the_next_comment(app, client, post, tmp_path):
    """The blocklist is read again once it changed, though it is not read for every comment."""
    blocklist = tmp_path / "instance" / "blocklist.txt"
    blocklist.write_text("viagra\n")
    post_comment(client, post.slug, body="cheap watches here")
    blocklist.write_text("viagra\ncheap watches\n")
    post_comment(client, post.slug, body="cheap watches again")
    assert [comment.status for comment in stored(app)] == [CommentStatus.approved, CommentStatus.pending]
