"""Pages (About, Contact, Now) written in the post editor, and the site header's menu edited on the settings page."""

from __future__ import annotations

import html as html_module
import re

import pytest
from sqlalchemy import select

from account.tables import UserRole
from database import db
from helpers import SETTINGS
from helpers import log_in
from helpers import page_text
from helpers import send_form_on_page
from helpers import settings_form
from helpers import submit_post
from models import Post
from models import PostKind


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
    client = client.application.test_client()  # a reader
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
    assert client.application.test_client().get("/pages/about-me").status_code == 404


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


# The navigation menu


def save_menu(client, menu: str):
    """Type ``menu`` into the settings page's Menu field and save, as a browser would."""
    return client.post(SETTINGS, data=settings_form(client) | {"blog_menu": menu})


def header_links(response) -> list[tuple[str, str]]:
    """The (address, label) of each link in the site header's menu."""
    nav = page_text(response).split('<nav aria-label="Main">')[1].split("</nav>")[0]
    return re.findall(r'<a href="([^"]*)"[^>]*>([^<]*)</a>', nav)


def test_the_menu_starts_with_home_archive_tags_and_feed(client):
    assert header_links(client.get("/")) == [
        ("/", "Home"),
        ("/archive", "Archive"),
        ("/tags/", "Tags"),
        ("/feed.xml", "Feed"),
    ]


def test_the_owner_puts_pages_tags_and_any_address_in_the_menu_in_their_order(client, admin, make_post):
    make_post("A trip", tags=("Travel",))
    write_page(client)
    menu = (
        "Home | /\nAbout me | /pages/about-me\n\nTravel | /tags/travel\nMy code | https://code.example/me?tab=1&x=2\n"
    )
    assert save_menu(client, menu).status_code == 303
    assert "About me | /pages/about-me" in page_text(client.get(SETTINGS))
    page = client.get("/pages/about-me")
    assert header_links(page) == [
        ("/", "Home"),
        ("/pages/about-me", "About me"),
        ("/tags/travel", "Travel"),
        ("https://code.example/me?tab=1&amp;x=2", "My code"),
        ("/admin/", "Admin"),  # for the owner, logged in, after the menu
    ]
    assert '<a href="/pages/about-me" aria-current="page">' in page_text(page)


@pytest.mark.parametrize(
    ("menu", "message"),
    [
        ("Home | /\nEvil | javascript:alert(1)", "Line 2 (“Evil | javascript:alert(1)”): the address must be"),
        ("Pixel | data:text/html,<script>alert(1)</script>", "Line 1 (“Pixel | data:text/html,"),
        ("Elsewhere | //evil.example/", "Line 1 (“Elsewhere | //evil.example/”): the address must be"),
        ("Home /", "Line 1 (“Home /”): please write a label, then |"),
        ("x" * 41 + " | /", "a label can be at most 40 characters long"),
        ("\n".join(f"Link {n} | /pages/{n}" for n in range(13)), "at most 12 links; this one has 13"),
    ],
)
def test_a_bad_menu_line_is_named_beside_the_field_and_what_was_typed_is_kept(client, admin, menu, message):
    response = save_menu(client, menu)
    assert response.status_code == 400
    html = page_text(response)
    error = html.split('id="blog_menu-error"')[1].split("</p>")[0]
    assert html_module.escape(message).replace("&#x27;", "'") in error
    assert html_module.escape(menu) in html.split('name="blog_menu"')[1].split("</textarea>")[0]
    assert header_links(client.get("/"))[0] == ("/", "Home")  # nothing saved


def test_a_label_is_shown_as_text_never_as_markup(client, admin):
    assert save_menu(client, "<b onmouseover=alert(1)>Hi</b> | /").status_code == 303
    html = page_text(client.get("/"))
    assert "&lt;b onmouseover=alert(1)&gt;Hi&lt;/b&gt;" in html and "<b onmouseover" not in html


def test_the_menu_marks_the_page_readers_are_on_and_the_section_they_are_in(client, make_post):
    make_post("A trip", tags=("Travel",))
    html = page_text(client.get("/archive"))
    assert '<a href="/archive" aria-current="page">Archive</a>' in html
    html = page_text(client.get("/tags/travel"))
    assert '<a href="/tags/" aria-current="true">Tags</a>' in html
    assert '<a href="/" aria-current' not in html


def test_a_menu_change_is_in_the_audit_log_and_a_later_save_from_an_older_form_shows_it(client, admin, make_user):
    make_user("ada", UserRole.admin, "Ada Admin")
    other = client.application.test_client()
    log_in(other, "ada")
    shown_to_owner = settings_form(client)
    assert save_menu(other, "Home | /\nAbout | /pages/about").status_code == 303
    audit = page_text(client.get("/admin/audit"))
    assert (
        "Menu: “Home | /; Archive | /archive; Tags | /tags/; Feed | /feed.xml” → “Home | /; About | /pages/about”"
        in (html_module.unescape(audit))
    )

    response = client.post(SETTINGS, data=shown_to_owner | {"blog_footer": "Mine"})

    assert response.status_code == 409
    assert "Saved meanwhile by Ada Admin at" in page_text(response)
    assert "“Home | /; About | /pages/about”" in html_module.unescape(page_text(response))


def test_a_page_in_the_trash_is_gone_from_its_address_and_the_sitemap(app, client, admin):
    write_page(client)
    assert "/pages/about-me" in page_text(client.get("/sitemap.xml"))
    page_id = stored(app, Post.id)

    confirm = client.get(f"/admin/posts/{page_id}/delete")
    assert send_form_on_page(client, confirm, f"/admin/posts/{page_id}/delete").status_code == 303

    assert client.get("/pages/about-me").status_code == 404
    assert "/pages/about-me" not in page_text(client.get("/sitemap.xml"))
