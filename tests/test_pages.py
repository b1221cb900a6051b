"""Pages (About, Contact, Now) written in the post editor, and the navigation menu edited on the settings page."""

from __future__ import annotations

import re

from sqlalchemy import select

from database import db
from models import Post
from models import PostKind
from tests.helpers import page_text
from tests.helpers import submit_post


def stored(app, column, slug: str = "about-me"):
    """Read one column of the post or page at ``slug`` from the database."""
    with app.app_context():
        return db.session.scalar(select(column).where(Post.slug == slug))


def write_page(client, title: str = "About me", body: str = "I write about *boats*.", **fields):
    """Write a page through the real post form, ticking "This is a page"."""
    return submit_post(client, title=title, body=body, is_page="y", tags="boats", **fields)


def test_a_page_written_in_the_editor_is_shown_at_its_own_address_without_date_or_comments(client, admin):
    assert write_page(client).status_code == 303
    page = client.get("/pages/about-me")
    assert page.status_code == 200
    html = page_text(page)
    assert "<h1>About me</h1>" in html
    assert "<em>boats</em>" in html
    assert 'id="comment-form"' not in html
    assert "<time" not in html.split('<article class="post">')[1].split("</article>")[0]
    assert stored(client.application, Post.kind) == PostKind.page


def test_a_page_is_in_no_listing_feed_tag_or_search_but_is_in_the_sitemap(client, admin, make_post):
    make_post("A real post", "Boats and more boats.", tags=("boats",))
    write_page(client)
    client.get("/admin/logout")
    for address in ("/", "/archive", "/tags/boats", "/feed.xml", "/tags/boats/feed.xml", "/search?q=boats"):
        response = client.get(address)
        assert response.status_code == 200, address
        assert "A real post" in page_text(response), address
        assert "About me" not in page_text(response), address
    sitemap = page_text(client.get("/sitemap.xml"))
    assert "/pages/about-me</loc>" in sitemap
    assert "/posts/about-me" not in sitemap


def test_a_tag_only_pages_carry_has_no_public_page(client, admin):
    write_page(client)
    assert client.get("/tags/boats").status_code == 404
    assert "boats" not in page_text(client.get("/tags/"))


def test_a_page_and_a_post_each_lead_to_their_own_address(client, admin, make_post):
    make_post("A real post", slug="a-real-post")
    write_page(client)
    moved = client.get("/posts/about-me")
    assert moved.status_code == 301 and moved.location.endswith("/pages/about-me")
    moved = client.get("/pages/a-real-post")
    assert moved.status_code == 301 and moved.location.endswith("/posts/a-real-post")
    assert client.get("/pages/nothing-here").status_code == 404


def test_nobody_can_comment_on_a_page(client, admin):
    write_page(client)
    response = client.post("/posts/about-me/comments", data={"name": "Ada", "body": "Hello"})
    assert response.status_code in (400, 404)
    assert stored(client.application, Post.comment_count) == 0


def test_a_draft_page_is_not_shown(client, admin):
    write_page(client, status="draft")
    client.get("/admin/logout")
    assert client.get("/pages/about-me").status_code == 404


def test_a_renamed_page_keeps_its_old_address(client, admin):
    write_page(client)
    page_id = stored(client.application, Post.id)
    url = f"/admin/posts/{page_id}/edit"
    assert submit_post(client, url, title="About me", slug="about", is_page="y").status_code == 303
    moved = client.get("/pages/about-me")
    assert moved.status_code == 301 and moved.location.endswith("/pages/about")


def test_the_admin_list_filters_pages_and_unticking_makes_a_post_again(client, admin, make_post):
    make_post("A real post")
    write_page(client)
    listed = page_text(client.get("/admin/posts?status=pages"))
    assert "About me" in listed and "A real post" not in listed
    page_id = stored(client.application, Post.id)
    form = page_text(client.get(f"/admin/posts/{page_id}/edit"))
    assert re.search(r'<input checked[^>]* name="is_page"', form)
    submit_post(client, f"/admin/posts/{page_id}/edit", title="About me")  # the box left unticked
    assert "About me" in page_text(client.get("/"))
