"""The settings page: an administrator changes the blog's title, author, language, footer and comment policy at
/admin/settings, and every page, feed and worker uses the new values at once, with no restart."""

from __future__ import annotations

import html as html_module
import json
import re
import uuid
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select

from account.tables import UserRole
from admin.tables import SiteSetting
from audit import AuditEntry
from database import db
from database import now_utc
from helpers import CSRF_FIELD
from helpers import PASSWORD
from helpers import SETTINGS
from helpers import TEST_REDIS_URL
from helpers import StatementCounter
from helpers import form_in
from helpers import log_in
from helpers import page_text
from helpers import post_comment
from helpers import save
from helpers import settings_form


def saved(app) -> dict[str, object]:
    with app.app_context():
        return {row.key: json.loads(row.value) for row in db.session.scalars(select(SiteSetting))}


def audit_details(app) -> list[str]:
    with app.app_context():
        query = select(AuditEntry.detail).where(AuditEntry.action == "Saved the blog's settings")
        return list(db.session.scalars(query.order_by(AuditEntry.id)))


def test_the_settings_page_shows_the_values_in_use_and_is_linked_for_administrators(make_app, make_user):
    app = make_app(BLOG_TITLE="From the config file", POSTS_PER_PAGE=7)
    make_user("owner", UserRole.admin)
    client = app.test_client()
    log_in(client, "owner")

    form = settings_form(client)

    assert form["blog_title"] == "From the config file" and form["posts_per_page"] == "7"
    assert form["comment_moderation"] == "off" and form["blog_language"] == "en"
    assert f'href="{SETTINGS}"' in page_text(client.get("/admin/"))


def test_only_administrators_may_see_or_change_the_settings(app, make_user):
    make_user("sam", UserRole.author)
    author = app.test_client()
    log_in(author, "sam")

    assert author.get(SETTINGS).status_code == 403
    assert author.post(SETTINGS, data={"blog_title": "Mine now"}).status_code == 403
    assert f'href="{SETTINGS}"' not in page_text(author.get("/admin/"))
    assert app.test_client().get(SETTINGS).status_code == 302  # to the login page
    assert saved(app) == {}


def test_saved_settings_show_on_every_page_and_feed_at_once_even_cached(make_app, make_post, make_user):
    app = make_app(PAGE_CACHE=True)
    make_post("Anonymous words")  # no author: the feeds and search engines name the blog's author
    make_user("owner", UserRole.admin)
    reader, owner = app.test_client(), app.test_client()
    for path in ("/", "/feed.xml", "/posts/anonymous-words"):
        assert "Inkwell" in page_text(reader.get(path))  # now cached
    log_in(owner, "owner")

    response = save(
        owner,
        blog_title="Olive's Garden",
        blog_description="Seeds, soil & sun.",
        blog_author="Olive Owner",
        blog_author_bio="Gardens in Lisbon.",
        blog_language="pt-BR",
        blog_footer="© 2026 Olive Owner\nAll rights reserved.",
    )

    assert response.status_code == 303 and response.headers["Location"] == SETTINGS
    assert "Settings saved" in page_text(owner.get(SETTINGS))
    home = page_text(reader.get("/"))
    assert '<html lang="pt-BR">' in home and "<title>Olive&#39;s Garden</title>" in home
    assert "Seeds, soil &amp; sun." in home and "Inkwell</a>" not in home
    assert "Written by Olive Owner. Gardens in Lisbon." in home
    assert "© 2026 Olive Owner\nAll rights reserved." in home
    feed = page_text(reader.get("/feed.xml"))
    assert "<title>Olive&#39;s Garden</title>" in feed and 'xml:lang="pt-BR"' in feed
    assert "<author><name>Olive Owner</name></author>" in feed
    post = page_text(reader.get("/posts/anonymous-words"))
    assert '"author": {"@type": "Person", "name": "Olive Owner"}' in post.replace("\\u0027", "'")


def test_the_comment_policy_and_paging_saved_here_apply_to_the_next_request(app, admin, client, make_post):
    make_post("Old", published_at=now_utc() - timedelta(days=40))
    make_post("New")

    save(client, comment_moderation="all", comments_close_after_days="30", comment_edit_minutes="5", posts_per_page="1")

    reader = app.test_client()
    post_comment(reader, "new", body="Please wait for me")
    assert "awaiting moderation" in page_text(reader.get("/posts/new"))
    assert "Please wait for me" not in page_text(app.test_client().get("/posts/new"))
    assert "for 5 minutes after posting" in page_text(app.test_client().get("/posts/new"))
    assert "Comments are closed" in page_text(app.test_client().get("/posts/old"))
    listing = page_text(app.test_client().get("/")).split("<main")[1].split("</main>")[0]
    assert "/posts/new" in listing and "/posts/old" not in listing and "?page=2" in listing


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        ("blog_language", "english", "Please enter a language tag"),
        ("blog_language", "en_US", "Please enter a language tag"),
        ("blog_language", "", "Please give the language the blog is written in"),
        ("blog_title", "", "Please give the blog a title."),
        ("blog_title", "T" * 101, "The title can be at most 100 characters long."),
        ("blog_author_bio", "B" * 501, "This can be at most 500 characters long."),
        ("blog_footer", "F" * 501, "The footer can be at most 500 characters long."),
        ("comments_close_after_days", "-1", "Please enter a whole number of days from 0 to 36,500."),
        ("comment_edit_minutes", "ten", "Please enter a whole number of minutes from 0 to 1,440."),
        ("comment_edit_minutes", "", "Please enter a whole number of minutes from 0 to 1,440."),
        ("posts_per_page", "0", "Please enter a whole number of posts from 1 to 100."),
        ("posts_per_page", "100000000000000000000", "Please enter a whole number of posts from 1 to 100."),
        ("comment_moderation", "sometimes", "Not a valid choice."),
        ("blog_author", "Olive\x00Owner", "invisible control characters"),
    ],
)
def test_bad_input_is_refused_beside_its_field_keeping_what_was_typed(app, admin, client, field, typed, message):
    response = save(client, blog_description="Typed and kept", **{field: typed})

    html = page_text(response)
    assert response.status_code == 400
    assert message in html and "Typed and kept" in html
    assert re.search(rf'<p class="error" id="{field}-error">', html)
    if typed and field != "comment_moderation":
        assert html_module.escape(typed.replace("\x00", "")) in html
    assert saved(app) == {}


def test_an_expired_form_keeps_what_was_typed(app, admin, client):
    response = save(client, csrf_token="expired", blog_title="Kept after all")

    assert response.status_code == 400
    assert "This form expired" in page_text(response) and 'value="Kept after all"' in page_text(response)
    assert saved(app) == {}


def test_every_change_is_in_the_audit_log_with_its_old_and_new_value(app, admin, client):
    save(client, blog_title="Second Name", posts_per_page="5", blog_author_bio="L" * 300)
    save(client)

    assert audit_details(app) == [
        "Blog title: “Inkwell” → “Second Name”",
        f"About the author: “” → “{'L' * 120}…”",
        "Posts per page: 10 → 5",
        "Nothing changed",
    ]
    assert "Blog title: “Inkwell” → “Second Name”" in page_text(client.get("/admin/audit"))


def test_a_later_save_from_an_older_form_shows_both_values_and_saves_nothing(app, admin, client, make_user):
    make_user("ada", UserRole.admin, "Ada Admin")
    other = app.test_client()
    log_in(other, "ada")
    shown_to_owner = settings_form(client)
    save(other, blog_title="Ada's Title", comment_moderation="all")

    response = save(client, shown_to_owner, blog_footer="Owner's footer")

    html = page_text(response)
    assert response.status_code == 409
    assert "Nothing was saved: another administrator saved the settings" in html
    assert "Saved meanwhile by Ada Admin" in html and "“Ada&#39;s Title”" in html and "“Every comment”" in html
    assert re.search(r'<input[^>]*aria-describedby="[^"]*blog_title-note[^"]*"[^>]*name="blog_title"', html)
    assert 'value="Inkwell"' in html and "Owner&#39;s footer" in html  # what the owner typed is kept
    assert saved(app) == {"BLOG_TITLE": "Ada's Title", "COMMENT_MODERATION": "all"}

    again = save(client, form_in(html))

    assert again.status_code == 303  # seen both, the owner keeps what was in the form
    assert saved(app) == {"BLOG_TITLE": "Inkwell", "COMMENT_MODERATION": "off", "BLOG_FOOTER": "Owner's footer"}


def test_a_save_that_changes_nothing_stores_nothing(app, admin, client):
    response = save(client)

    assert response.status_code == 303
    assert "Nothing to save" in page_text(client.get(SETTINGS))
    assert saved(app) == {}


def test_saved_settings_outrank_the_config_file_and_only_editable_ones_are_stored(make_app, make_user, tmp_path):
    app = make_app(BLOG_TITLE="Config Title", BLOG_FOOTER="Config footer")
    make_user("owner", UserRole.admin)
    owner = app.test_client()
    log_in(owner, "owner")

    save(owner, blog_title="Saved Title", SECRET_KEY="stolen", DATABASE_URL="sqlite:///elsewhere.db")

    home = page_text(app.test_client().get("/"))
    assert "Saved Title" in home and "Config Title" not in home and "Config footer" in home
    assert set(saved(app)) == {"BLOG_TITLE"}
    with app.app_context():
        assert app.config["SECRET_KEY"] == "test-secret" and app.config["BLOG_TITLE"] == "Saved Title"


def test_a_worker_reads_the_settings_from_the_database_only_after_a_change(make_app, make_user):
    first = make_app(PAGE_CACHE=False)
    second = make_app(PAGE_CACHE=False)  # another worker: the same database and generation store
    make_user("owner", UserRole.admin)
    second.test_client().get("/")

    with StatementCounter(second) as unchanged:
        second.test_client().get("/")
    owner = first.test_client()
    log_in(owner, "owner")
    save(owner, blog_title="Renamed Elsewhere")
    with StatementCounter(second) as changed:
        home = page_text(second.test_client().get("/"))

    assert changed.count == unchanged.count + 1 and "Renamed Elsewhere" in home


@pytest.mark.skipif(not TEST_REDIS_URL, reason="needs TEST_REDIS_URL")
def test_two_servers_sharing_redis_show_a_new_title_at_once(make_app, make_user):
    prefix = f"inkwell-test-{uuid.uuid4().hex}:"
    first = make_app(PAGE_CACHE=True, REDIS_URL=TEST_REDIS_URL, CACHE_KEY_PREFIX=prefix)
    second = make_app(PAGE_CACHE=True, REDIS_URL=TEST_REDIS_URL, CACHE_KEY_PREFIX=prefix)
    make_user("owner", UserRole.admin)
    assert "Inkwell" in page_text(second.test_client().get("/"))
    owner = first.test_client()
    log_in(owner, "owner")

    save(owner, blog_title="Shared Name")

    assert "Shared Name" in page_text(second.test_client().get("/"))
    assert "Shared Name" in page_text(second.test_client().get("/feed.xml"))


def test_every_gunicorn_worker_shows_the_new_title_at_once(live_server):
    url = live_server()
    for _ in range(6):  # both workers cache the home page and the feed
        assert requests.get(f"{url}/", timeout=10).status_code == 200
        assert requests.get(f"{url}/feed.xml", timeout=10).status_code == 200
    owner = requests.Session()
    token = CSRF_FIELD.search(owner.get(f"{url}/admin/login", timeout=10).text).group(1)
    owner.post(f"{url}/admin/login", data={"csrf_token": token, "username": "owner", "password": PASSWORD}, timeout=10)
    html = owner.get(f"{url}{SETTINGS}", timeout=10).text
    form = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html))
    form |= {"blog_title": "Live Title", "comment_moderation": "first-time", "blog_author_bio": "", "blog_footer": ""}

    saved_response = owner.post(f"{url}{SETTINGS}", data=form, timeout=10)

    assert saved_response.status_code == 200 and "Settings saved" in saved_response.text
    for _ in range(6):
        assert "<title>Live Title</title>" in requests.get(f"{url}/", timeout=10).text
        assert "<title>Live Title</title>" in requests.get(f"{url}/feed.xml", timeout=10).text
