"""The page cache and HTTP caching: pages come from the cache, never stale, never personal.

Every test runs with the page cache in files (one server, several workers) and, when ``TEST_REDIS_URL``
is set, in Redis (several servers).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from sqlalchemy import update

import cachestores
import page_version
import pageserver
from admin.tables import SiteSetting
from database import db
from database import now_utc
from helpers import ROOT
from helpers import TEST_REDIS_URL
from helpers import HeldRenders
from helpers import StatementCounter
from helpers import anonymous_get
from helpers import approve
from helpers import csrf_token
from helpers import generations_of
from helpers import log_in
from helpers import page_text
from helpers import pause_after_render_over
from helpers import post_comment
from helpers import publish_now
from helpers import queue_action
from helpers import reader_the_page_cache_misses
from helpers import submit_post
from models import Comment
from models import Post
from models import Tag

CSRF_IN_COMMENT_FORM = re.compile(
    r'action="/posts/welcome/comments#comment-form".*?name="csrf_token"[^>]*value="([^"]+)"', re.S
)


def wait_for_the_next_second() -> None:
    """Sleep until the clock's second turns over, so that what came before is in a second that is over.

    HTTP dates and the form tokens count whole seconds: this is the wait they need, half a second on average.
    """
    time.sleep(1 - time.time() % 1 + 0.01)


def sleep_until(moment: datetime) -> None:
    """Sleep until a little after ``moment``."""
    time.sleep(max(0.0, (moment - now_utc()).total_seconds()) + 0.1)


def test_a_second_reader_gets_the_page_from_the_cache_without_touching_the_database(cached_app, make_post):
    app = cached_app()
    post = make_post("Cached")
    first = anonymous_get(app, f"/posts/{post.slug}")

    with StatementCounter(app) as statements:
        second = anonymous_get(app, f"/posts/{post.slug}")

    assert statements.count == 0
    assert second.status_code == 200 and "Cached" in page_text(second)
    assert second.headers["ETag"] == first.headers["ETag"]


def test_a_reader_with_no_cookies_can_comment_from_a_cached_page(cached_app, make_post):
    app = cached_app()
    post = make_post("Talk to me")
    anonymous_get(app, f"/posts/{post.slug}")  # fills the cache
    reader = app.test_client()

    response = post_comment(reader, post.slug, name="Cached reader", body="Sent from a cached page")

    assert response.status_code == 303
    assert "Sent from a cached page" in page_text(anonymous_get(app, f"/posts/{post.slug}"))


def test_cached_pages_give_each_reader_fresh_form_tokens_and_set_no_cookie(cached_app, make_post):
    app = cached_app()
    post = make_post("Tokens")
    anonymous_get(app, f"/posts/{post.slug}")
    wait_for_the_next_second()  # tokens carry the second they were issued

    second = anonymous_get(app, f"/posts/{post.slug}")
    later = anonymous_get(app, f"/posts/{post.slug}")

    assert "Set-Cookie" not in second.headers and "Set-Cookie" not in later.headers
    first_token = csrf_token(app.test_client(), f"/posts/{post.slug}", action=f"/posts/{post.slug}/comments#")
    assert first_token in page_text(later) or first_token in page_text(second)  # same second: same token
    assert 'name="started"' in page_text(second)


def test_a_comment_from_another_site_is_refused_and_its_text_kept(cached_app, make_post):
    app = cached_app()
    post = make_post("Forgery target")
    client = app.test_client()
    token = csrf_token(client, f"/posts/{post.slug}", action=f"/posts/{post.slug}/comments#")
    data = {"csrf_token": token, "name": "Victim", "body": "Words I never wrote"}

    forged = client.post(f"/posts/{post.slug}/comments", data=data, headers={"Origin": "https://evil.example"})
    fetched = client.post(f"/posts/{post.slug}/comments", data=data, headers={"Sec-Fetch-Site": "cross-site"})

    for response in (forged, fetched):
        assert response.status_code == 400
        assert "Words I never wrote" in page_text(response)
    with app.app_context():
        assert db.session.query(Comment).count() == 0
    same_site = client.post(f"/posts/{post.slug}/comments", data=data, headers={"Origin": "http://localhost"})
    assert same_site.status_code == 303


def test_a_new_comment_shows_at_once_on_the_post_and_in_the_counts(cached_app, make_post):
    app = cached_app()
    post = make_post("Popular")
    other = make_post("Quiet")
    for path in ("/", f"/posts/{post.slug}", f"/posts/{other.slug}"):
        anonymous_get(app, path)
    other_etag = anonymous_get(app, f"/posts/{other.slug}").headers["ETag"]

    post_comment(app.test_client(), post.slug, body="Fresh words")

    assert "Fresh words" in page_text(anonymous_get(app, f"/posts/{post.slug}"))
    assert "1 comment" in page_text(anonymous_get(app, "/"))
    with StatementCounter(app) as statements:  # another post's page did not change, so it stays cached
        assert anonymous_get(app, f"/posts/{other.slug}").headers["ETag"] == other_etag
    assert statements.count == 0


def test_a_held_comment_stays_hidden_and_appears_once_approved(cached_app, make_post):
    app = cached_app(COMMENT_MODERATION="all")
    post = make_post("Moderated")
    anonymous_get(app, f"/posts/{post.slug}")
    post_comment(app.test_client(), post.slug, body="Waiting for the owner")
    assert "Waiting for the owner" not in page_text(anonymous_get(app, f"/posts/{post.slug}"))

    approve(app, 1)

    assert "Waiting for the owner" in page_text(anonymous_get(app, f"/posts/{post.slug}"))


def test_an_edited_post_changes_every_page_that_shows_it_including_the_sidebar(cached_app, make_post, make_user):
    app = cached_app()
    post = make_post("Old title")
    other = make_post("Neighbour", published_at=now_utc() - timedelta(days=2))
    paths = ("/", f"/posts/{post.slug}", f"/posts/{other.slug}", "/feed.xml")
    for path in paths:
        assert "Old title" in page_text(anonymous_get(app, path))
    owner = app.test_client()
    make_user("owner")
    log_in(owner, "owner")

    submit_post(owner, f"/admin/posts/{post.id}/edit", title="New title", slug=post.slug)

    for path in paths:
        html = page_text(anonymous_get(app, path))
        assert "New title" in html and "Old title" not in html, path


def test_a_scheduled_post_appears_when_its_time_comes_without_any_request_changing_it(cached_app, make_post):
    app = cached_app()
    make_post("Already out")
    # Far enough ahead that a loaded machine still renders the first page before then.
    goes_live = now_utc() + timedelta(seconds=2.5)
    make_post("Coming soon", published_at=goes_live)
    assert "Coming soon" not in page_text(anonymous_get(app, "/"))

    sleep_until(goes_live)

    assert "Coming soon" in page_text(anonymous_get(app, "/"))


def test_comments_closing_with_age_close_on_the_cached_page_at_that_time(cached_app, make_post):
    app = cached_app(COMMENTS_CLOSE_AFTER_DAYS=30)
    # More than a second ahead (the cached copy's timeout is in whole seconds, at least one), and far enough
    # that a loaded machine still renders the first page before then.
    closes = now_utc() + timedelta(seconds=2.5)
    make_post("Ageing", published_at=closes - timedelta(days=30))
    assert "Comments are closed" not in page_text(anonymous_get(app, "/posts/ageing"))

    sleep_until(closes)

    assert "Comments are closed" in page_text(anonymous_get(app, "/posts/ageing"))


def test_logged_in_views_and_flash_messages_are_never_cached(cached_app, make_post, make_user):
    app = cached_app()
    post = make_post("Mixed audience")
    make_user("owner")
    owner = app.test_client()
    log_in(owner, "owner")
    owner_view = owner.get(f"/posts/{post.slug}")
    commenter = app.test_client()
    post_comment(commenter, post.slug, body="Hello")
    thanked = commenter.get(f"/posts/{post.slug}")

    reader_view = page_text(anonymous_get(app, f"/posts/{post.slug}"))

    assert ">Admin</a>" in page_text(owner_view) and ">Admin</a>" not in reader_view
    assert "Thank you, your comment is published." in page_text(thanked)
    assert "Thank you" not in reader_view
    assert owner_view.headers["Cache-Control"] == thanked.headers["Cache-Control"] == "private, no-cache"


def test_a_form_with_errors_is_not_cached(cached_app, make_post):
    app = cached_app()
    post = make_post("Errors")
    client = app.test_client()
    token = csrf_token(client, f"/posts/{post.slug}", action=f"/posts/{post.slug}/comments#")
    client.post(f"/posts/{post.slug}/comments", data={"csrf_token": token, "name": "Typed name", "body": ""})

    assert "Typed name" not in page_text(anonymous_get(app, f"/posts/{post.slug}"))


def test_pages_answer_304_until_they_change(cached_app, make_post):
    app = cached_app()
    post = make_post("Validated")
    assert "Last-Modified" not in anonymous_get(app, f"/posts/{post.slug}").headers  # its second is not over
    wait_for_the_next_second()
    first = anonymous_get(app, f"/posts/{post.slug}")
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]

    assert anonymous_get(app, f"/posts/{post.slug}", **{"If-None-Match": etag}).status_code == 304
    assert anonymous_get(app, f"/posts/{post.slug}", **{"If-Modified-Since": last_modified}).status_code == 304
    post_comment(app.test_client(), post.slug, body="A change")
    assert anonymous_get(app, f"/posts/{post.slug}", **{"If-None-Match": etag}).status_code == 200


def test_anonymous_pages_may_be_kept_by_a_proxy_for_a_few_seconds(cached_app, make_post):
    app = cached_app(PROXY_CACHE_SECONDS=5)
    post = make_post("Proxied", tags=("notes",))
    for path in ("/", f"/posts/{post.slug}", "/tags/notes", "/feed.xml", "/search?q=proxied", "/archive"):
        response = anonymous_get(app, path)
        assert response.headers["Cache-Control"] == "public, max-age=0, must-revalidate, s-maxage=5", path
        assert "Cookie" in response.headers["Vary"]


def test_unknown_query_arguments_are_answered_but_not_stored(cached_app, make_post):
    app = cached_app()
    make_post("Busting")
    anonymous_get(app, "/?utm_source=x1")

    with StatementCounter(app) as statements:
        assert anonymous_get(app, "/?utm_source=x1").status_code == 200
    assert statements.count > 0


def test_a_stopped_cache_store_means_uncached_pages_and_one_log_line(make_app, make_post, caplog, monkeypatch):
    monkeypatch.setattr(cachestores, "_last_warning", [0.0])  # warnings are once a minute per process
    app = make_app(PAGE_CACHE=True, REDIS_URL="redis://127.0.0.1:1/0", RATELIMIT_STORAGE_URI="memory://")
    post = make_post("Resilient")

    with caplog.at_level(logging.WARNING, logger="pagecache"):
        pages = [anonymous_get(app, f"/posts/{post.slug}") for _ in range(3)]
        commented = post_comment(app.test_client(), post.slug, body="Still works")

    assert [page.status_code for page in pages] == [200, 200, 200] and commented.status_code == 303
    warnings = [r for r in caplog.records if "Page cache unavailable" in r.getMessage()]
    assert len(warnings) == 1


@pytest.mark.skipif(not TEST_REDIS_URL, reason="needs TEST_REDIS_URL")
def test_two_servers_sharing_redis_see_each_others_changes(make_app, make_post):
    prefix = f"inkwell-test-{uuid.uuid4().hex}:"
    first = make_app(PAGE_CACHE=True, REDIS_URL=TEST_REDIS_URL, CACHE_KEY_PREFIX=prefix)
    second = make_app(PAGE_CACHE=True, REDIS_URL=TEST_REDIS_URL, CACHE_KEY_PREFIX=prefix)
    post = make_post("Shared")
    anonymous_get(second, f"/posts/{post.slug}")

    post_comment(first.test_client(), post.slug, body="Posted on the first server")

    assert "Posted on the first server" in page_text(anonymous_get(second, f"/posts/{post.slug}"))


def test_a_post_deleted_from_the_command_line_leaves_every_page(cached_app, make_post):
    app = cached_app()
    post = make_post("Short-lived")
    assert "Short-lived" in page_text(anonymous_get(app, "/"))
    with app.app_context():
        db.session.delete(db.session.get(Post, post.id))
        db.session.commit()

    assert "Short-lived" not in page_text(anonymous_get(app, "/"))
    assert anonymous_get(app, f"/posts/{post.slug}").status_code == 404


def test_static_files_have_fingerprinted_addresses_kept_for_a_year(app):
    client = app.test_client()
    stylesheet = re.search(r'href="(/static/style\.css\?v=([0-9a-f]+))"', page_text(client.get("/")))

    response = client.get(stylesheet.group(1))
    unversioned = client.get("/static/style.css")
    stale = client.get("/static/style.css?v=0000000000")

    content = (ROOT / "static" / "style.css").read_bytes()
    assert stylesheet.group(2) == hashlib.blake2b(content, digest_size=5).hexdigest()
    assert response.data == content and response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "immutable" not in unversioned.headers.get("Cache-Control", "")
    assert "immutable" not in stale.headers.get("Cache-Control", "")


def test_the_stylesheet_stays_small_and_readers_pages_load_no_javascript(client):
    stylesheets = list((ROOT / "static").glob("*.css"))
    # Was 20 KB and 5 KB gzipped. The fonts' six @font-face rules (2 KB), the code colours of two schemes
    # (1.5 KB, bench/build_code_css.py), the print rules (0.8 KB) and the reasons for the type (1.3 KB) came
    # to 21.5 KB and 5.8 KB gzipped: 24 KB and 6.5 KB leave a little room, and the gzipped stylesheet and a
    # post's HTML still arrive in the first round trip (a 14 KB initial congestion window).
    assert len(stylesheets) == 1 and stylesheets[0].stat().st_size < 24 * 1024
    assert len(gzip.compress(stylesheets[0].read_bytes())) < 6.5 * 1024  # as nginx and browsers exchange it
    # Every feature works with plain HTML forms. The enhancements: for authors, the editor's autosave and images
    # pasted or dropped into the text (media.js); for readers, the "Copy" button on a post's code
    # (test_typography.py), loaded only by posts with code.
    assert sorted(path.name for path in (ROOT / "static").glob("*.js")) == ["autosave.js", "code.js", "media.js"]
    assert "<script src" not in page_text(client.get("/"))


def test_every_gunicorn_worker_serves_the_new_comment_at_once(live_server):
    url = live_server(COMMENT_MODERATION="off")
    for _ in range(6):  # both workers cache the page
        assert requests.get(f"{url}/posts/welcome", timeout=10).status_code == 200
    commenter = requests.Session()
    html = commenter.get(f"{url}/posts/welcome", timeout=10).text
    token = CSRF_IN_COMMENT_FORM.search(html).group(1)
    posted = commenter.post(
        f"{url}/posts/welcome/comments",
        data={"csrf_token": token, "name": "Ada", "body": "Seen everywhere"},
        timeout=10,
    )
    assert posted.status_code == 200 and "Seen everywhere" in posted.text

    for _ in range(6):
        assert "Seen everywhere" in requests.get(f"{url}/posts/welcome", timeout=10).text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the page store is the point: one database
def test_a_flood_of_distinct_addresses_evicts_no_generation_and_costs_the_site_nothing_after(make_app, make_post):
    """Four times the store's threshold in addresses of a stranger's making: search words, unknown and ignored
    arguments, made-up hosts and slugs. Afterwards cached pages are still served without the database, and
    changes still show at once.

    The file store is the one a flood could clog (Redis evicts by itself). At this threshold its folders keep
    two pages each, and the flood sends each folder eight on average: stored, any one kind of address would
    outnumber the six pages and seven generations allowed below many times over. (bench/cache_flood.py times a
    flood of 10,000.)
    """
    threshold = 512
    app = make_app(PAGE_CACHE=True, CACHE_THRESHOLD=threshold, SITE_URL="https://blog.example")  # as docs/deploy/
    post = make_post("Steady", tags=("notes",))
    home = anonymous_get(app, "/")
    anonymous_get(app, f"/posts/{post.slug}")
    client = app.test_client()
    flood = [("/tags/", f"flood{n}.example") for n in range(threshold // 2)]
    flood += [(f"/feed.xml?page={n}", "localhost") for n in range(2 * threshold)]
    flood += [(f"/search?q=flood{n}", "localhost") for n in range(threshold // 2)]
    flood += [(f"/?utm_source={n}", "localhost") for n in range(threshold // 2)]
    flood += [(f"/posts/made-up-{n}", "localhost") for n in range(threshold // 2)]
    assert len(flood) == 4 * threshold
    for path, host in flood:
        client.get(path, headers={"Host": host})
    with_a_session = reader_the_page_cache_misses(app)  # their pages rendered, never stored
    for n in range(threshold // 8):
        with_a_session.get(f"/posts/made-up-for-a-session-{n}")

    with StatementCounter(app) as statements:
        again = anonymous_get(app, "/")
        assert anonymous_get(app, f"/posts/{post.slug}").status_code == 200
    assert statements.count == 0  # both pages still come from the cache: their generations survived
    assert again.headers["ETag"] == home.headers["ETag"]
    cache = Path(app.instance_path) / "cache"
    # none of the flood's addresses was stored: the home page, /tags/, the post's page and its three kept pieces
    assert len(list((cache / "pages").glob("??/*"))) <= 6
    generations = [path for path in (cache / "generations").iterdir() if path.is_file()]  # not its locks/
    # site, settings, posts, comments, threads, post-details, this post's: made-up slugs left none
    assert len(generations) <= 7
    post_comment(app.test_client(), post.slug, body="Written after the flood")
    assert "Written after the flood" in page_text(anonymous_get(app, f"/posts/{post.slug}"))
    assert "1 comment" in page_text(anonymous_get(app, "/"))


def test_the_page_store_stays_within_its_threshold_at_a_constant_cost_per_page(tmp_path):
    """Without SITE_URL each host has its own pages: however many there are, a store looks at one small folder."""
    store = cachestores.BoundedFileSystemCache(str(tmp_path / "pages"), threshold=256, default_timeout=3600)
    for n in range(3000):
        store.set(f"inkwell:page:{n}", {"body": n})

    assert len(list((tmp_path / "pages").glob("??/*"))) <= 256
    assert store.get("inkwell:page:2999") == {"body": 2999}  # the newest are kept


def test_a_changed_setting_is_shown_at_once_after_a_restart(cached_app, make_post):
    cached_app(BLOG_TITLE="The Old Name")
    make_post("Ageing", published_at=now_utc() - timedelta(days=2))
    first = cached_app(BLOG_TITLE="The Old Name")
    for path in ("/", "/posts/ageing", "/feed.xml"):
        assert "The Old Name" in page_text(anonymous_get(first, path))
    wait_for_the_next_second()
    kept = anonymous_get(first, "/posts/ageing")
    assert "Last-Modified" in kept.headers

    restarted = cached_app(BLOG_TITLE="The New Name", COMMENTS_CLOSE_AFTER_DAYS=1)  # same instance folder

    for path in ("/", "/posts/ageing", "/feed.xml"):
        html = page_text(anonymous_get(restarted, path))
        assert "The New Name" in html and "The Old Name" not in html, path
    assert "Comments are closed" in page_text(anonymous_get(restarted, "/posts/ageing"))
    since = anonymous_get(restarted, "/posts/ageing", **{"If-Modified-Since": kept.headers["Last-Modified"]})
    assert since.status_code == 200


def test_a_comment_marked_as_spam_leaves_a_readers_copy_of_the_feed(cached_app, make_post, make_user):
    app = cached_app()
    post = make_post("Talked about")
    post_comment(app.test_client(), post.slug, name="Early", body="A fair point")
    wait_for_the_next_second()
    post_comment(app.test_client(), post.slug, name="Spammer", body="Cheap pills here")
    feed = f"/posts/{post.slug}/comments.xml"
    anonymous_get(app, feed)
    wait_for_the_next_second()  # Last-Modified is sent once its second is over
    kept = anonymous_get(app, feed)
    assert "Cheap pills" in page_text(kept) and "Last-Modified" in kept.headers
    make_user("owner")
    owner = app.test_client()
    log_in(owner, "owner")

    queue_action(owner, "/admin/comments/2/moderate", action="spam")

    for attempt in range(2):  # now, and once the new copy's own Last-Modified is sent
        if attempt:
            wait_for_the_next_second()
        since = anonymous_get(app, feed, **{"If-Modified-Since": kept.headers["Last-Modified"]})
        assert since.status_code == 200 and "Cheap pills" not in page_text(since)
    assert anonymous_get(app, feed, **{"If-None-Match": kept.headers["ETag"]}).status_code == 200


@pytest.mark.parametrize("path", ["/feed.xml", "/tags/notes/feed.xml", "/sitemap.xml"])
def test_a_post_taken_back_to_draft_leaves_a_readers_copy_of_the_feeds(cached_app, make_post, make_user, path):
    app = cached_app()
    make_post("Older", tags=("notes",), published_at=now_utc() - timedelta(days=2))
    newest = make_post("Regretted", tags=("notes",))
    anonymous_get(app, path)
    wait_for_the_next_second()
    kept = anonymous_get(app, path)
    assert "regretted" in page_text(kept).lower() and "Last-Modified" in kept.headers
    make_user("owner")
    owner = app.test_client()
    log_in(owner, "owner")

    submit_post(owner, f"/admin/posts/{newest.id}/edit", title="Regretted", slug=newest.slug, status="draft")

    since = anonymous_get(app, path, **{"If-Modified-Since": kept.headers["Last-Modified"]})
    assert since.status_code == 200 and "regretted" not in page_text(since).lower()


def test_servers_with_the_same_code_agree_on_its_fingerprint_whenever_they_checked_it_out(tmp_path):
    """Several app servers share one Redis: the same files, copied at different times, give the same page keys."""
    first, second = tmp_path / "first", tmp_path / "second"
    for checkout, when in ((first, 1_000_000_000), (second, 2_000_000_000)):
        (checkout / "templates").mkdir(parents=True)
        for name in ("app.py", "templates/base.html"):
            (checkout / name).write_text(f"the same {name}")
            os.utime(checkout / name, (when, when))
    assert page_version.code_version(first) == page_version.code_version(second)

    (second / "templates/base.html").write_text("an upgraded base.html")
    assert page_version.code_version(first) != page_version.code_version(second)


def test_an_upgrade_of_a_module_inside_a_package_changes_the_codes_fingerprint(tmp_path):
    """The account pages live in account/: an upgrade there must not serve pages cached by the old code."""
    (tmp_path / "account").mkdir()
    (tmp_path / "account/__init__.py").write_text("")
    (tmp_path / "account/pages.py").write_text("the old account pages")
    before = page_version.code_version(tmp_path)

    (tmp_path / "account/pages.py").write_text("the upgraded account pages")
    assert page_version.code_version(tmp_path) != before


def rendering_elsewhere(app):
    """Hold the lock of the one request rendering a page changed beside its content, as another worker or server
    rendering such a page would."""
    generations = generations_of(app)
    assert cachestores.try_lock(generations, *pageserver.RENDERING_BESIDE)
    return lambda: cachestores.unlock(generations, pageserver.RENDERING_BESIDE[0])


def test_while_another_worker_renders_a_page_after_a_post_elsewhere_readers_get_the_copy_before_it(
    cached_app, make_post
):
    """A new post changes only the sidebar of the other posts' pages: one request at a time renders one again."""
    app = cached_app()
    post = make_post("Storm")
    anonymous_get(app, f"/posts/{post.slug}")
    release = rendering_elsewhere(app)
    publish_now(app, "Breaking news")

    with StatementCounter(app) as statements:
        meanwhile = anonymous_get(app, f"/posts/{post.slug}")
    release()

    assert statements.count == 0 and "Breaking news" not in page_text(meanwhile)  # nobody queues behind it
    assert "Breaking news" in page_text(anonymous_get(app, f"/posts/{post.slug}"))


def test_a_worker_that_rendered_a_page_changed_beside_its_content_leaves_the_next_one_for_a_moment(
    cached_app, make_post
):
    """Such renders take half of one worker's time at most: the lock is given back once as long again as the
    render took has passed, and the other pages are served from their copies before the change meanwhile."""
    app = cached_app()
    first, second = make_post("First"), make_post("Second")
    for post in (first, second):
        anonymous_get(app, f"/posts/{post.slug}")
    publish_now(app, "Breaking news")

    assert "Breaking news" in page_text(anonymous_get(app, f"/posts/{first.slug}"))
    assert not cachestores.try_lock(generations_of(app), *pageserver.RENDERING_BESIDE)
    assert "Breaking news" not in page_text(anonymous_get(app, f"/posts/{second.slug}"))
    pause_after_render_over(app)
    assert "Breaking news" in page_text(anonymous_get(app, f"/posts/{second.slug}"))


def comment_on(app, post: Post) -> None:
    post_comment(app.test_client(), post.slug, body="Breaking news")


def edit(app, post: Post) -> None:
    with app.app_context():
        db.session.get(Post, post.id).title = "Breaking news"
        db.session.commit()


def rename_its_tag(app, post: Post) -> None:
    with app.app_context():
        db.session.scalars(select(Tag)).one().name = "Breaking news"
        db.session.commit()


def retitle_the_blog(app, post: Post) -> None:
    with app.app_context():
        db.session.add(SiteSetting(key="BLOG_TITLE", value=json.dumps("Breaking news")))
        db.session.commit()


@pytest.mark.parametrize("change", [comment_on, edit, rename_its_tag, retitle_the_blog])
def test_after_a_change_to_what_a_post_page_shows_the_next_reader_gets_it_while_another_worker_renders(
    cached_app, make_post, change
):
    app = cached_app()
    post = make_post("Storm", tags=("weather",))
    anonymous_get(app, f"/posts/{post.slug}")
    release = rendering_elsewhere(app)
    change(app, post)

    assert "Breaking news" in page_text(anonymous_get(app, f"/posts/{post.slug}"))
    release()


def test_after_a_new_post_the_next_reader_of_a_listing_gets_it_while_another_worker_renders(cached_app, make_post):
    """The home page lists the posts: a new one is its own content."""
    app = cached_app()
    make_post("Storm")
    anonymous_get(app, "/")
    release = rendering_elsewhere(app)
    publish_now(app, "Breaking news")

    assert "Breaking news" in page_text(anonymous_get(app, "/"))
    release()


def test_a_page_taken_down_is_never_served_again_once_rendered(cached_app, make_post):
    app = cached_app()
    post = make_post("Regretted")
    anonymous_get(app, f"/posts/{post.slug}")
    release = rendering_elsewhere(app)
    with app.app_context():
        db.session.delete(db.session.get(Post, post.id))
        db.session.commit()

    assert anonymous_get(app, f"/posts/{post.slug}").status_code == 404
    assert anonymous_get(app, f"/posts/{post.slug}").status_code == 404  # no copy from before is left to serve
    release()


def test_a_render_lock_nobody_gives_back_lapses(make_app, make_post):
    app = make_app(PAGE_CACHE=True)
    post = make_post("Crashed")
    anonymous_get(app, f"/posts/{post.slug}")
    rendering_elsewhere(app)  # a worker that died while rendering
    publish_now(app, "After the crash")
    lock = next((Path(app.instance_path) / "cache" / "generations" / "locks").iterdir())
    os.utime(lock, (time.time() - 60, time.time() - 60))

    assert "After the crash" in page_text(anonymous_get(app, f"/posts/{post.slug}"))


def test_readers_of_a_post_just_commented_on_get_the_one_render_of_it_another_worker_makes(
    cached_app, make_post, monkeypatch
):
    """A hot post: after a new comment, one request renders its page again while its other readers, on any
    worker or server, wait for that page rather than each render it at once."""
    monkeypatch.setattr(pageserver, "RENDER_WAIT_SECONDS", 10)  # whatever a render takes on a loaded machine
    busy, other = cached_app(), cached_app()
    renders = HeldRenders(busy)
    post = make_post("Hot")
    anonymous_get(busy, f"/posts/{post.slug}")
    post_comment(other.test_client(), post.slug, body="Breaking news")

    with ThreadPoolExecutor(2) as readers, StatementCounter(other) as statements:
        renders.hold()
        first = readers.submit(anonymous_get, busy, f"/posts/{post.slug}")
        assert renders.started.wait(10)
        second = readers.submit(anonymous_get, other, f"/posts/{post.slug}")
        time.sleep(0.1)  # the second reader arrives while the first one's page is rendered
        renders.release()
        pages = [page_text(first.result()), page_text(second.result())]

    assert all("Breaking news" in page for page in pages)
    assert statements.count == 0  # the second reader's worker rendered nothing


def test_a_reader_waits_for_another_workers_render_a_moment_at_most_and_never_gets_the_page_before_the_comment(
    cached_app, make_post, monkeypatch
):
    monkeypatch.setattr(pageserver, "RENDER_WAIT_SECONDS", 0.05)
    busy, other = cached_app(), cached_app()
    renders = HeldRenders(busy)
    post = make_post("Hot")
    anonymous_get(busy, f"/posts/{post.slug}")
    post_comment(other.test_client(), post.slug, body="Breaking news")

    with ThreadPoolExecutor(1) as readers:
        renders.hold()
        stuck = readers.submit(anonymous_get, busy, f"/posts/{post.slug}")
        assert renders.started.wait(10)
        assert "Breaking news" in page_text(anonymous_get(other, f"/posts/{post.slug}"))  # rendered by itself
        renders.release()
        assert "Breaking news" in page_text(stuck.result())


def test_a_change_made_through_one_worker_shows_on_the_next_page_of_every_worker(cached_app, make_post):
    """Each worker keeps the pages it served in its memory: a change made through another shows there at once."""
    workers = [cached_app(), cached_app()]
    post = make_post("Busy")
    for worker in workers * 2:  # each worker serves the page from its memory
        assert anonymous_get(worker, f"/posts/{post.slug}").status_code == 200

    post_comment(workers[0].test_client(), post.slug, body="Seen by both workers")

    for worker in reversed(workers):
        assert "Seen by both workers" in page_text(anonymous_get(worker, f"/posts/{post.slug}"))
    post_comment(workers[1].test_client(), post.slug, body="And back again")
    for worker in workers:
        assert "And back again" in page_text(anonymous_get(worker, f"/posts/{post.slug}"))


def test_changes_show_at_once_where_the_system_cannot_watch_folders(cached_app, make_post, monkeypatch):
    """Without inotify (another system, or none left for this user) every generation's file is looked at."""
    monkeypatch.setattr(cachestores.FolderChanges, "_watch", lambda changes: None)
    app = cached_app()
    post = make_post("Unwatched")
    anonymous_get(app, f"/posts/{post.slug}")
    anonymous_get(app, f"/posts/{post.slug}")

    post_comment(app.test_client(), post.slug, body="Seen without a watch")

    assert "Seen without a watch" in page_text(anonymous_get(app, f"/posts/{post.slug}"))


def test_a_generation_changed_by_another_process_shows_on_the_next_page(make_app, make_post, tmp_path):
    """Another process (a command, a worker of another version) changes a post: the next page shows it."""
    app = make_app(PAGE_CACHE=True)
    post = make_post("Before the command")
    assert "Before the command" in page_text(anonymous_get(app, f"/posts/{post.slug}"))
    assert "Before the command" in page_text(anonymous_get(app, f"/posts/{post.slug}"))
    folder = app.config["CACHE_GENERATIONS_DIR"]

    code = (
        "import sys\nfrom cachelib.file import FileSystemCache\nfrom pagecache import GENERATION_KEY\n"
        "FileSystemCache(sys.argv[1], threshold=0, default_timeout=0).delete(GENERATION_KEY + 'post:' + sys.argv[2])\n"
    )
    subprocess.run([sys.executable, "-c", code, folder, post.slug], cwd=ROOT, check=True)
    with app.app_context():
        db.session.execute(update(Post).where(Post.id == post.id).values(title="After the command"))
        db.session.commit()

    assert "After the command" in page_text(anonymous_get(app, f"/posts/{post.slug}"))


def test_a_worker_keeps_the_pages_it_served_last_within_its_memory_budget():
    kept = cachestores.KeptCopies(limit=100)
    for key in ("home", "post", "feed"):
        kept.keep(key, f"the {key} page", 40)
    assert kept.get("home") is None and kept.get("post") == "the post page"  # the oldest made room

    kept.keep("tag", "the tag page", 40)  # "feed" is now the least recently served
    kept.keep("huge", "a page larger than the budget", 101)

    assert [kept.get(key) for key in ("feed", "huge")] == [None, None]
    assert [kept.get(key) for key in ("post", "tag")] == ["the post page", "the tag page"]
