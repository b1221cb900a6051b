"""Returning commenters are served the shared page from the cache, with their own parts filled in: the form
filled by "Remember me", "Edit" and "Delete" on the comment they may still change; their comments awaiting
moderation shown to them alone. Nobody ever sees another's.

Every test runs with the page cache in files and, when ``TEST_REDIS_URL`` is set, in Redis.
"""

from __future__ import annotations

import gc
import gzip
import re
import time
import tracemalloc
import uuid
import zlib
from datetime import timedelta

import brotli
import pytest
from itsdangerous import TimestampSigner
from itsdangerous import URLSafeSerializer

from admin.moderation import moderate
from commenters import MAX_HELD_POSTS
from commenters import client_ip_hash
from database import db
from database import now_utc
from helpers import TEST_REDIS_URL
from helpers import StatementCounter
from helpers import approve
from helpers import form_fields
from helpers import log_in
from helpers import page_text
from helpers import pause_after_render_over
from helpers import post_comment
from helpers import publish_now
from helpers import save
from helpers import settings_form
from helpers import submit_post
from models import Comment
from models import CommentStatus
from models import Post
from models import PostStatus
from personal import ANONYMOUS
from personal import COMMENTER_COOKIE
from personal import DETAILS_COOKIE
from personal import DETAILS_SALT
from personal import EDIT_COOKIE_PREFIX
from personal import EDIT_SALT
from personal import HELD_COOKIE
from personal import Reader
from personal import cut_at_holes
from personal import fill_page
from personal import hole_marker
from personal import hole_tag
from personal import holed_page

ADA = {"name": "Ada <Lovelace>", "email": "ada@example.com", "website": "https://ada.example"}
HOLE = re.compile(r"@@[0-9a-f]{16}:")


def returning_commenter(app, slug: str, **fields: str):
    """A reader who commented once with "Remember me" ticked, and read the thank-you message (no session left)."""
    reader = app.test_client()
    response = post_comment(reader, slug, **(ADA | {"remember": "y"} | fields))
    assert response.status_code == 303
    reader.get(response.headers["Location"])  # shows the flash message and ends the session
    assert reader.get_cookie("inkwell_session") is None
    return reader


def comment_form(response) -> dict[str, str]:
    """The comment form's fields as a browser would send them."""
    action = re.search(r'action="([^"]*/comments#comment-form)"', page_text(response)).group(1)
    return form_fields(response, action)


def test_a_returning_commenter_gets_the_cached_page_with_their_details_and_no_database_query(cached_app, make_post):
    app = cached_app()
    post = make_post("Remembered")
    ada = returning_commenter(app, post.slug)
    ada.get(f"/posts/{post.slug}")  # the page is stored

    with StatementCounter(app) as statements:
        page = ada.get(f"/posts/{post.slug}")

    assert statements.count == 0
    fields = comment_form(page)
    assert (fields["name"], fields["email"], fields["website"]) == (ADA["name"], ADA["email"], ADA["website"])
    assert fields.get("remember") == "y"
    assert 'value="Ada &lt;Lovelace&gt;"' in page_text(page)  # escaped like any attribute
    assert page.headers["Cache-Control"] == "private, no-cache"


def test_another_reader_never_gets_the_details_of_a_returning_commenter(cached_app, make_post):
    app = cached_app()
    post = make_post("Shared page")
    ada = returning_commenter(app, post.slug)
    ada.get(f"/posts/{post.slug}")
    grace = returning_commenter(app, post.slug, name="Grace", email="grace@example.com", website="", body="Hi")

    for reader, name in ((app.test_client(), ""), (grace, "Grace"), (ada, ADA["name"])):
        page = reader.get(f"/posts/{post.slug}")
        assert comment_form(page)["name"] == name
        assert (ADA["email"] in page_text(page)) == (name == ADA["name"])


def test_a_forged_or_foreign_details_cookie_gets_the_anonymous_page(cached_app, make_post):
    app = cached_app()
    post = make_post("Forged")
    app.test_client().get(f"/posts/{post.slug}")
    forger = app.test_client()
    forger.set_cookie(DETAILS_COOKIE, "eyJuYW1lIjoiTWFsbG9yeSJ9.forged")
    stranger = app.test_client()  # a cookie another site signed
    stranger.set_cookie(
        DETAILS_COOKIE, URLSafeSerializer("another-secret", salt=DETAILS_SALT).dumps({"name": "Mallory"})
    )

    for reader in (forger, stranger):
        page = reader.get(f"/posts/{post.slug}")
        assert page.status_code == 200
        assert comment_form(page)["name"] == "" and "Mallory" not in page_text(page)


def test_unticking_remember_me_empties_the_form_next_time(cached_app, make_post):
    app = cached_app()
    post = make_post("Forget me")
    ada = returning_commenter(app, post.slug)
    ada.get(f"/posts/{post.slug}")

    response = post_comment(ada, post.slug, **ADA, body="Second thoughts")  # "Remember me" not ticked
    ada.get(response.headers["Location"])

    assert comment_form(ada.get(f"/posts/{post.slug}"))["name"] == ""


def test_the_commenter_alone_can_edit_or_delete_their_comment_from_the_cached_page(cached_app, make_post):
    app = cached_app()
    post, (ada, ada_id), (grace, grace_id) = ada_and_grace_commented_on_a_cached_page(app, make_post)

    ada_page, grace_page = page_text(ada.get(f"/posts/{post.slug}")), page_text(grace.get(f"/posts/{post.slug}"))
    anonymous_page = page_text(app.test_client().get(f"/posts/{post.slug}"))

    assert f"/comments/{ada_id}/edit" in ada_page and f"/comments/{grace_id}/edit" not in ada_page
    assert f"/comments/{grace_id}/edit" in grace_page and f"/comments/{ada_id}/edit" not in grace_page
    assert "/edit" not in anonymous_page and "Delete<span" not in anonymous_page
    assert ada.get(f"/posts/{post.slug}/comments/{ada_id}/edit").status_code == 200  # their own page, not shared
    assert grace.get(f"/posts/{post.slug}/comments/{ada_id}/edit").status_code == 403
    delete = form_fields(ada.get(f"/posts/{post.slug}"), f"/posts/{post.slug}/comments/{ada_id}/delete")
    assert ada.post(f"/posts/{post.slug}/comments/{ada_id}/delete", data=delete).status_code == 303
    assert "Frist!" not in page_text(app.test_client().get(f"/posts/{post.slug}"))


def test_after_a_new_post_the_page_stored_again_still_gives_the_commenter_their_edit_links(cached_app, make_post):
    app = cached_app()
    post, (ada, ada_id), (grace, grace_id) = ada_and_grace_commented_on_a_cached_page(app, make_post)

    for title in ("Brand new", "Newer still"):  # each stores the page again, its sections as they were
        publish_now(app, title)
        pause_after_render_over(app)  # the page is rendered again at once, not served from its copy before
        assert title in page_text(app.test_client().get(f"/posts/{post.slug}"))
        ada_page, grace_page = page_text(ada.get(f"/posts/{post.slug}")), page_text(grace.get(f"/posts/{post.slug}"))

        assert f"/comments/{ada_id}/edit" in ada_page and f"/comments/{grace_id}/edit" not in ada_page
        assert f"/comments/{grace_id}/edit" in grace_page and f"/comments/{ada_id}/edit" not in grace_page


def test_a_forged_or_expired_edit_cookie_shows_no_edit_links(cached_app, make_post):
    app = cached_app(COMMENT_EDIT_MINUTES=15)
    post = make_post("Expired")
    ada = returning_commenter(app, post.slug, body="Mine")
    comment_id = _comments(app)[0].id
    ada.get(f"/posts/{post.slug}")
    forger = app.test_client()
    forger.set_cookie(f"{EDIT_COOKIE_PREFIX}{comment_id}", f"{comment_id}.forged")
    late = app.test_client()
    late.set_cookie(f"{EDIT_COOKIE_PREFIX}{comment_id}", edit_cookie_signed_ago(comment_id, minutes=16))

    assert f"/comments/{comment_id}/edit" in page_text(ada.get(f"/posts/{post.slug}"))
    for reader in (forger, late):
        page = reader.get(f"/posts/{post.slug}")
        assert page.status_code == 200 and f"/comments/{comment_id}/edit" not in page_text(page)


def test_the_edit_window_saved_at_admin_settings_decides_the_edit_links_on_cached_pages(
    cached_app, make_post, make_user
):
    app = cached_app(COMMENT_EDIT_MINUTES=15)
    post = make_post("Second thoughts")
    returning_commenter(app, post.slug, body="Mine")
    comment_id = _comments(app)[0].id
    ada = app.test_client()
    ada.set_cookie(f"{EDIT_COOKIE_PREFIX}{comment_id}", edit_cookie_signed_ago(comment_id, minutes=6))
    assert f"/comments/{comment_id}/edit" in page_text(ada.get(f"/posts/{post.slug}"))
    make_user("owner")
    owner = app.test_client()
    log_in(owner, "owner")

    save(owner, settings_form(owner), comment_edit_minutes="5")

    for _ in ("rendered after the change", "from the cache"):
        assert f"/comments/{comment_id}/edit" not in page_text(ada.get(f"/posts/{post.slug}"))


def edit_cookie_signed_ago(comment_id: int, minutes: int) -> str:
    original = TimestampSigner.get_timestamp
    try:
        TimestampSigner.get_timestamp = lambda self: int(time.time()) - minutes * 60
        return TimestampSigner("test-secret", salt=EDIT_SALT).sign(str(comment_id)).decode()
    finally:
        TimestampSigner.get_timestamp = original


def test_a_held_comment_shows_to_its_author_alone_until_approved_then_the_cache_serves_them(cached_app, make_post):
    app = cached_app(COMMENT_MODERATION="all")
    post = make_post("Moderated")
    ada = returning_commenter(app, post.slug, body="Awaiting the owner")
    grace = returning_commenter(app, post.slug, name="Grace", body="Me too")
    app.test_client().get(f"/posts/{post.slug}")

    assert ada.get_cookie(HELD_COOKIE) is not None
    assert "Awaiting the owner" in page_text(ada.get(f"/posts/{post.slug}"))
    for reader in (grace, app.test_client()):
        assert "Awaiting the owner" not in page_text(reader.get(f"/posts/{post.slug}"))

    approve(app, _comments(app)[0].id)
    assert "Awaiting the owner" in page_text(ada.get(f"/posts/{post.slug}"))  # and the held cookie is dropped
    assert ada.get_cookie(HELD_COOKIE) is None
    app.test_client().get(f"/posts/{post.slug}")  # the first reader since the approval renders it for everyone
    with StatementCounter(app) as statements:
        page = ada.get(f"/posts/{post.slug}")
    assert statements.count == 0 and "Awaiting the owner" in page_text(page)


def test_a_commenter_sees_their_newest_held_comment_even_with_many_others_awaiting_moderation(cached_app, make_post):
    app = cached_app(COMMENT_MODERATION="all")
    oldest, *others = [make_post(f"Held {number}") for number in range(MAX_HELD_POSTS + 1)]
    ada = app.test_client()
    for post in [*others, oldest]:  # the last comment is on the oldest post
        app.test_client().get(f"/posts/{post.slug}")  # stored for everyone
        post_comment(ada, post.slug, **ADA, body=f"Awaiting the owner on {post.slug}")
        ada.get(f"/posts/{post.slug}")  # reads the thank-you message, which ends the session

    assert f"Awaiting the owner on {oldest.slug}" in page_text(ada.get(f"/posts/{oldest.slug}"))


def test_the_cached_copy_of_a_returning_commenter_is_what_an_uncached_server_renders(cached_app, make_app, make_post):
    cached = cached_app()
    post = make_post("Same page")
    ada = returning_commenter(cached, post.slug, body="Compare me")
    cached.test_client().get(f"/posts/{post.slug}")
    uncached = make_app(PAGE_CACHE=False)
    same_ada = uncached.test_client()
    for cookie in ("inkwell_commenter", DETAILS_COOKIE, f"{EDIT_COOKIE_PREFIX}{_comments(cached)[0].id}"):
        same_ada.set_cookie(cookie, ada.get_cookie(cookie).value)

    from_cache, rendered = ada.get(f"/posts/{post.slug}"), same_ada.get(f"/posts/{post.slug}")

    assert _without_tokens(page_text(from_cache)) == _without_tokens(page_text(rendered))
    assert "Edit<span" in page_text(from_cache) and ADA["email"] in page_text(from_cache)


def test_no_page_ever_shows_a_hole(cached_app, make_post):
    app = cached_app()
    post = make_post("Holes", tags=("notes",))
    ada = returning_commenter(app, post.slug)
    for path in ("/", f"/posts/{post.slug}", f"/posts/{post.slug}?replyto=1", "/tags/notes", "/search?q=holes"):
        for reader in (ada, app.test_client()):
            for _ in range(2):  # rendered, then from the cache
                assert not HOLE.search(page_text(reader.get(path))), path


def test_the_hole_tag_is_no_address_hash_whatever_address_a_proxy_passes_on(cached_app):
    app = cached_app()
    for address in ("inkwell-page-holes", "inkwell-holes", "203.0.113.7"):
        with app.test_request_context(environ_base={"REMOTE_ADDR": address}):
            assert not client_ip_hash().startswith(hole_tag(app.secret_key))


def test_a_returning_commenters_copy_has_its_own_etag_and_answers_304_until_their_details_change(cached_app, make_post):
    app = cached_app()
    post = make_post("Validators")
    ada = returning_commenter(app, post.slug)
    anonymous = app.test_client().get(f"/posts/{post.slug}")
    mine = ada.get(f"/posts/{post.slug}")

    assert mine.headers["ETag"] != anonymous.headers["ETag"]
    assert ada.get(f"/posts/{post.slug}", headers={"If-None-Match": mine.headers["ETag"]}).status_code == 304
    revalidated = ada.get(f"/posts/{post.slug}", headers={"If-None-Match": anonymous.headers["ETag"]})
    assert revalidated.status_code == 200 and comment_form(revalidated)["name"] == ADA["name"]
    response = post_comment(ada, post.slug, **(ADA | {"name": "Ada L.", "remember": "y"}), body="Renamed")
    ada.get(response.headers["Location"])
    changed = ada.get(f"/posts/{post.slug}", headers={"If-None-Match": mine.headers["ETag"]})
    assert changed.status_code == 200 and comment_form(changed)["name"] == "Ada L."


@pytest.mark.skipif(not TEST_REDIS_URL, reason="needs TEST_REDIS_URL")
def test_two_servers_sharing_redis_fill_the_same_reader_alike(make_app, make_post):
    prefix = f"inkwell-test-{uuid.uuid4().hex}:"
    first = make_app(PAGE_CACHE=True, REDIS_URL=TEST_REDIS_URL, CACHE_KEY_PREFIX=prefix, COMMENT_MODERATION="all")
    second = make_app(PAGE_CACHE=True, REDIS_URL=TEST_REDIS_URL, CACHE_KEY_PREFIX=prefix, COMMENT_MODERATION="all")
    post = make_post("Two servers")
    ada = returning_commenter(first, post.slug, body="Held on the first")
    on_second = second.test_client()
    for cookie in ("inkwell_commenter", DETAILS_COOKIE, HELD_COOKIE):
        on_second.set_cookie(cookie, ada.get_cookie(cookie).value)

    page = on_second.get(f"/posts/{post.slug}")
    assert "Held on the first" in page_text(page) and comment_form(page)["name"] == ADA["name"]
    assert "Held on the first" not in page_text(second.test_client().get(f"/posts/{post.slug}"))
    approve(first, _comments(first)[0].id)
    assert "Held on the first" in page_text(second.test_client().get(f"/posts/{post.slug}"))


@pytest.mark.parametrize("encoding", ["identity", "br", "gzip", "br, gzip"])
def test_a_head_request_gets_the_length_and_privacy_of_the_page_a_get_brings(cached_app, make_post, encoding):
    app = cached_app()
    post = make_post("Heads")
    ada = returning_commenter(app, post.slug)
    asks = {"Accept-Encoding": encoding}
    for reader in (app.test_client(), ada):
        for visit in ("first, rendered", "then from the cache"):
            head = reader.head(f"/posts/{post.slug}", headers=asks)
            get = reader.get(f"/posts/{post.slug}", headers=asks)
            assert get.headers["Content-Length"] == str(len(get.data))
            # the same length; compressed, give or take what tokens signed another second compress to
            slack = 0 if encoding == "identity" else len(get.data) // 20
            assert abs(int(head.headers["Content-Length"]) - len(get.data)) <= slack, visit
            assert head.headers["Cache-Control"] == get.headers["Cache-Control"], visit
            assert head.headers.get("Content-Encoding") == get.headers.get("Content-Encoding"), visit
            post_comment(app.test_client(), post.slug, name="Grace", body=f"Changes the page: {visit}")


def test_a_worker_does_not_keep_the_large_cookie_headers_strangers_send(cached_app, make_post):
    app = cached_app()
    post = make_post("Big cookies")
    ada = returning_commenter(app, post.slug)
    ada.get(f"/posts/{post.slug}")
    details = f"{DETAILS_COOKIE}={ada.get_cookie(DETAILS_COOKIE).value}"
    stranger = app.test_client(use_cookies=False)  # sends the Cookie header it is given

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for number in range(300):  # each a header of 8 kB, as large as gunicorn takes, never sent twice
        cookie = f"{details}; padding={number:08d}{'x' * 8000}"
        assert comment_form(stranger.get(f"/posts/{post.slug}", headers={"Cookie": cookie}))["name"] == ADA["name"]
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()

    assert kept < 1_000_000  # the 2.4 MB of headers are not kept


ODD_COOKIE_HEADERS = [
    "theme=caf\xe9",  # Latin-1, not UTF-8: another app on the same host set it
    f"{DETAILS_COOKIE}=\xff\xfe; {EDIT_COOKIE_PREFIX}1=\xe9",
    f"{DETAILS_COOKIE}=a; {DETAILS_COOKIE}=b",
    f'{DETAILS_COOKIE}="a;inkwell_session=b"',
    f"{DETAILS_COOKIE}={'A' * 20_000}",
    "; ".join(f"{EDIT_COOKIE_PREFIX}{number}={number}.AAAAAA.forged" for number in range(2_000)),
    f"{EDIT_COOKIE_PREFIX}\u00b2=2; {EDIT_COOKIE_PREFIX}{'9' * 40}=1",
    f"{HELD_COOKIE}=W10.forged; {HELD_COOKIE}=",
]


@pytest.mark.parametrize("header", ODD_COOKIE_HEADERS)
def test_odd_cookie_headers_get_the_anonymous_page_never_an_error(cached_app, make_post, header):
    app = cached_app()
    post = make_post("Odd cookies")
    stranger = app.test_client(use_cookies=False)
    for path in (f"/posts/{post.slug}", "/", f"/posts/{post.slug}/comments/1/edit"):
        for visit in ("first, rendered", "then from the cache"):
            page = stranger.get(path, headers={"Cookie": header})
            assert page.status_code in (200, 403, 404), (path, visit)
            assert not HOLE.search(page_text(page)) and "Mallory" not in page_text(page)


def test_a_cross_site_form_cannot_delete_a_commenters_comment(cached_app, make_post):
    app = cached_app()
    post = make_post("Cross-site")
    ada = returning_commenter(app, post.slug, body="Keep me")
    comment_id = _comments(app)[0].id
    delete = f"/posts/{post.slug}/comments/{comment_id}/delete"
    fields = form_fields(ada.get(f"/posts/{post.slug}"), delete)

    for forged in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        assert ada.post(delete, data=fields, headers=forged).status_code == 400
    assert ada.post(delete, data={}).status_code == 400  # no token at all
    assert "Keep me" in page_text(app.test_client().get(f"/posts/{post.slug}"))


def ungzipped(response):
    """The response as a browser shows it: its gzip body decoded, by both of Python's decoders alike."""
    assert response.headers["Content-Encoding"] == "gzip"
    body = gzip.decompress(response.data)
    assert zlib.decompress(response.data, wbits=31) == body
    response.set_data(body)
    return response


def later(app, commenter):
    """The same commenter once their comments are no longer theirs to change: their remembered details alone."""
    reader = app.test_client()
    for cookie in (COMMENTER_COOKIE, DETAILS_COOKIE):
        reader.set_cookie(cookie, commenter.get_cookie(cookie).value)
    return reader


@pytest.mark.parametrize("accept_encoding", ["gzip", "br, gzip", "gzip, deflate, br, zstd"])
def test_a_returning_commenters_gzip_copy_is_their_page_with_every_hole_filled(cached_app, make_post, accept_encoding):
    app = cached_app(COMMENT_MODERATION="off")
    post = make_post("Squeezed for one")
    ada = returning_commenter(app, post.slug, body="Mine to change")  # every value, and Edit/Delete of hers
    grace = returning_commenter(app, post.slug, name="Grace", email="grace@example.com", website="", body="Hi")
    ada_later, grace_later = later(app, ada), later(app, grace)
    path = f"/posts/{post.slug}"
    app.test_client().get(path)  # stored

    readers = {
        "Ada": (ada, ADA["name"], True),
        "Grace": (grace, "Grace", True),
        "Ada later": (ada_later, ADA["name"], False),
        "Grace later": (grace_later, "Grace", False),
    }
    for who, (reader, name, may_edit) in readers.items():
        plain = reader.get(path)
        packed = ungzipped(reader.get(path, headers={"Accept-Encoding": accept_encoding}))
        assert _without_tokens(page_text(packed)) == _without_tokens(page_text(plain)), who
        assert comment_form(packed)["name"] == name and comment_form(packed).get("remember") == "y", who
        assert ("Edit<span" in page_text(packed)) == may_edit, who
        assert packed.headers["Cache-Control"] == "private, no-cache" and "Accept-Encoding" in packed.headers["Vary"]
        assert packed.headers["ETag"] == plain.headers["ETag"] != app.test_client().get(path).headers["ETag"]
        fields = comment_form(packed) | {"body": f"Sent by {who} from the gzip copy"}  # its tokens are good
        assert reader.post(f"/posts/{post.slug}/comments", data=fields).status_code == 303, who
    for encoding in ("gzip", "br", "br, gzip"):
        shared = app.test_client().get(path, headers={"Accept-Encoding": encoding})
        shared_text = compression_decoded(shared)
        assert ADA["email"] not in shared_text and "grace@example.com" not in shared_text


def compression_decoded(response) -> str:
    """The body of a shared page in whatever encoding it came."""
    encoding = response.headers.get("Content-Encoding")
    return {"gzip": gzip.decompress, "br": brotli.decompress, None: bytes}[encoding](response.data).decode()


def ada_and_grace_commented_on_a_cached_page(app, make_post):
    """A post whose page is stored, and two returning commenters on it, each with the id of their comment."""
    post = make_post("Second thoughts")
    ada = returning_commenter(app, post.slug, body="Frist!")
    grace = returning_commenter(app, post.slug, name="Grace", body="Hello")
    app.test_client().get(f"/posts/{post.slug}")
    ada_id, grace_id = (comment.id for comment in _comments(app))
    return post, (ada, ada_id), (grace, grace_id)


def _comments(app) -> list[Comment]:
    with app.app_context():
        return list(db.session.scalars(db.select(Comment).order_by(Comment.id)))


def _without_tokens(html: str) -> str:
    html = re.sub(r'name="(csrf_token|started)"[^>]*value="[^"]*"', "TOKEN", html)
    return re.sub(r'value="[^"]*"([^>]*name="(csrf_token|started)")', r"TOKEN\1", html)


def _new_comment(app, post, owner):
    post_comment(app.test_client(), post.slug, name="Grace", body="A new voice")
    return "A new voice", True


def _approval(app, post, owner):
    _comment_by_grace(app, post, "Approved at last", status=CommentStatus.pending)
    approve(app, _comments(app)[-1].id)
    return "Approved at last", True


def _spam(app, post, owner):
    comment = _comment_by_grace(app, post, "Cheap pills here")
    with app.app_context():
        moderate(db.session.get(Comment, comment), "spam")
    return "Cheap pills here", False


def _deletion(app, post, owner):
    comment = _comment_by_grace(app, post, "Soon in the trash")
    with app.app_context():
        moderate(db.session.get(Comment, comment), "delete")
    return "Soon in the trash", False


def _owners_edit(app, post, owner):
    comment = _comment_by_grace(app, post, "Typo hree")
    form = form_fields(owner.get(f"/admin/comments/{comment}/edit"), f"/admin/comments/{comment}/edit")
    owner.post(f"/admin/comments/{comment}/edit", data=form | {"body": "Typo fixed here"})
    return "Typo fixed here", True


def _settings(app, post, owner):
    save(owner, blog_title="A Renamed Blog")
    return "A Renamed Blog", True


def _publishing(app, post, owner):
    submit_post(owner, title="Hot off the press", body="News.", status="published")
    return "Hot off the press", True


def _schedule(app, post, owner):
    goes_live = now_utc() + timedelta(seconds=1)
    with app.app_context():
        db.session.add(
            Post(
                title="Right on time",
                slug="right-on-time",
                body="Hi",
                status=PostStatus.published,
                published_at=goes_live,
            )
        )
        db.session.commit()
    time.sleep(max(0.0, (goes_live - now_utc()).total_seconds()) + 0.1)
    return "Right on time", True


CHANGES = [_new_comment, _approval, _spam, _deletion, _owners_edit, _settings, _publishing, _schedule]


@pytest.mark.parametrize("change", CHANGES, ids=[change.__name__.strip("_") for change in CHANGES])
def test_every_kind_of_change_shows_at_once_to_a_returning_commenter_on_every_server(
    cached_app, make_post, make_user, change
):
    writer, reader = cached_app(COMMENT_MODERATION="off"), cached_app(COMMENT_MODERATION="off")  # two servers
    post = make_post("Busy")
    ada = returning_commenter(reader, post.slug, body="Me first")
    make_user("owner")
    owner = writer.test_client()
    log_in(owner, "owner")
    before = page_text(ada.get(f"/posts/{post.slug}"))

    text, shown = change(writer, post, owner)

    assert text not in before
    page = ada.get(f"/posts/{post.slug}")
    assert (text in page_text(page)) == shown
    assert comment_form(page)["name"] == ADA["name"]


def _comment_by_grace(app, post, body: str, status: CommentStatus = CommentStatus.approved) -> int:
    with app.app_context():
        comment = Comment(post_id=post.id, author_name="Grace", body=body, status=status)
        db.session.add(comment)
        db.session.commit()
        return comment.id


def test_a_thread_kept_between_renders_carries_the_fresh_token_in_its_delete_buttons(cached_app, make_post):
    app = cached_app()
    post = make_post("Kept thread")
    ada = returning_commenter(app, post.slug, body="Mine to delete")
    comment_id = _comments(app)[0].id
    ada.get(f"/posts/{post.slug}")  # the thread is kept
    time.sleep(1 - time.time() % 1 + 0.01)  # tokens carry their second
    make_post("A newer post")  # every page renders again, the thread from where it was kept

    page = ada.get(f"/posts/{post.slug}")

    delete = form_fields(page, f"/posts/{post.slug}/comments/{comment_id}/delete")
    assert delete["csrf_token"] == comment_form(page)["csrf_token"]
    assert ada.post(f"/posts/{post.slug}/comments/{comment_id}/delete", data=delete).status_code == 303


def test_a_page_rendered_for_a_reader_with_nothing_of_theirs_has_every_hole_emptied_and_nobody_elses_edit_links():
    tag = hole_tag("a secret")

    def marker(hole: str) -> bytes:
        return hole_marker(tag, hole).encode()

    page = (
        b"<input name=author value='"
        + marker("name")
        + b"'>"
        + b"<li>Ann"
        + marker("edit-12")
        + b"<a href=/edit/12>Edit</a>"
        + marker("email")
        + marker("end")
        + b"</li>"
        + b"<li>Bob"
        + marker("edit-13")
        + b"<a href=/edit/13>Edit</a>"  # cut short: the rest of the page goes
    )
    emptied = fill_page(page, tag, ANONYMOUS)

    assert emptied == b"<input name=author value=''><li>Ann</li><li>Bob"
    assert emptied == b"".join(holed_page(*cut_at_holes([page], [], tag)).filled_for(ANONYMOUS)[0])
    remembered = Reader(details={"name": "Ann"}, editable=frozenset({12}))
    assert fill_page(page, tag, remembered).startswith(b"<input name=author value='Ann'><li>Ann<a href=/edit/12>Edit")
