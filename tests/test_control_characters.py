"""Control characters (a line break in a name, U+000B, NUL) are refused at the form, with the rest of the text
kept, and whatever is already stored leaves the blog in XML that parses."""

from __future__ import annotations

import html
import json
import re
from xml.etree import ElementTree

import pytest
from sqlalchemy import select

from account.tables import User
from database import db
from helpers import ATOM
from helpers import csrf_token
from helpers import log_in
from helpers import page_text
from helpers import post_comment
from helpers import stored_comments
from models import Comment
from models import CommentStatus
from models import Post

REFUSED = "invisible control characters"
# NUL cannot be stored by PostgreSQL at all, so rows written behind the form's back use the others.
STORABLE_CONTROLS = ["\r\n", "\n", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u2028"]


def field_value(page: str, name: str) -> str:
    """What a browser would show in the form field ``name`` of the page."""
    textarea = re.search(rf'<textarea[^>]*name="{name}"[^>]*>\r?\n?(.*?)</textarea>', page, re.DOTALL)
    if textarea:
        return html.unescape(textarea.group(1))
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page).group(0)
    value = re.search(r'value="([^"]*)"', tag)
    return html.unescape(value.group(1)) if value else ""


def error_beside(page: str, field: str) -> str:
    found = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', page, re.DOTALL)
    return html.unescape(found.group(1)) if found else ""


TYPED = {"name": "Ada", "email": "ada@example.com", "website": "https://ada.example/", "body": "Hello there"}


@pytest.mark.parametrize(
    ("field", "typed", "shown"),
    [
        ("name", "Ada\r\nBcc: victim@example.com", "AdaBcc: victim@example.com"),
        ("name", "Ada\x0bLovelace", "AdaLovelace"),
        ("name", "Ada\x00", "Ada"),
        ("email", "ada@example.com\r\nBcc: victim@example.com", "ada@example.comBcc: victim@example.com"),
        ("email", "ada@exam\x00ple.com", "ada@example.com"),
        ("website", "https://ada.example/\x0bpath", "https://ada.example/path"),
        ("website", "https://ada.example/\x00", "https://ada.example/"),
        ("body", "Hello\x0b there", "Hello there"),
        ("body", "Hello\x00 there", "Hello there"),
        ("body", "Hello\x1b[31m there", "Hello[31m there"),
    ],
)
def test_control_characters_in_the_comment_form_are_refused_beside_the_field_and_the_rest_kept(
    app, client, make_post, field, typed, shown
):
    post = make_post("Open")
    response = post_comment(client, post.slug, **(TYPED | {field: typed}))

    page = page_text(response)
    assert response.status_code == 400
    assert REFUSED in error_beside(page, field)
    assert field_value(page, field) == shown
    for other, value in TYPED.items():
        if other != field:
            assert field_value(page, other) == value, f"{other} was not kept"
    assert stored_comments(app) == []
    if field != "email":  # what was shown can be sent as it is (the email example is no address)
        assert post_comment(client, post.slug, **(TYPED | {field: shown})).status_code == 303


def test_line_breaks_and_tabs_in_a_comment_body_are_text_not_control_characters(app, client, make_post):
    post = make_post("Open")
    assert post_comment(client, post.slug, body="First line\r\n\r\n\tSecond paragraph").status_code == 303
    assert stored_comments(app)[0].body == "First line\r\n\r\n\tSecond paragraph"


def test_editing_a_comment_refuses_control_characters_the_same_way(app, client, make_post):
    post = make_post("Open")
    post_comment(client, post.slug, name="Ada", body="Original words")
    edit = f"/posts/{post.slug}/comments/1/edit"
    data = {"csrf_token": csrf_token(client, edit), "name": "Ada\r\nX", "body": "Changed\x00 words"}

    response = client.post(edit, data=data)

    page = page_text(response)
    assert response.status_code == 400
    assert REFUSED in error_beside(page, "name") and REFUSED in error_beside(page, "body")
    assert (field_value(page, "name"), field_value(page, "body")) == ("AdaX", "Changed words")
    assert (stored_comments(app)[0].author_name, stored_comments(app)[0].body) == ("Ada", "Original words")


@pytest.mark.parametrize(
    ("field", "typed", "shown"),
    [
        ("title", "A title\r\nwith a break", "A titlewith a break"),
        ("title", "Nul\x00title", "Nultitle"),
        ("tags", "travel, no\x0btes", "travel, notes"),
        ("excerpt", "An\x0b excerpt", "An excerpt"),
        ("body", "The owner's\x00 long text", "The owner's long text"),
    ],
)
def test_control_characters_in_the_post_editor_are_refused_beside_the_field_and_the_post_kept(
    app, client, admin, field, typed, shown
):
    fields = {"title": "A new post", "body": "Some *Markdown*.", "tags": "travel", "excerpt": ""} | {field: typed}
    data = fields | {"status": "published", "action": "save", "csrf_token": csrf_token(client, "/admin/posts/new")}

    response = client.post("/admin/posts/new", data=data, content_type="multipart/form-data")

    page = page_text(response)
    assert response.status_code == 400
    assert REFUSED in error_beside(page, field)
    assert field_value(page, field) == shown
    with app.app_context():
        assert db.session.scalars(select(Post)).all() == []


def test_the_owners_comment_correction_refuses_control_characters(client, admin, make_post):
    post = make_post("Open")
    post_comment(client, post.slug, body="Original")
    data = {"csrf_token": csrf_token(client, "/admin/comments/1/edit"), "body": "Fixed\x00 text"}

    response = client.post("/admin/comments/1/edit", data=data)

    assert response.status_code == 400
    assert REFUSED in page_text(response) and "Fixed text" in page_text(response)


def test_a_nul_in_other_forms_is_still_a_clear_400(client):
    response = log_in(client, "\x00")
    assert response.status_code == 400
    assert "no address or form field may contain" in page_text(response)


@pytest.fixture
def poisoned_blog(app, database_url, make_post, make_user):
    """A post, tag, author and comments whose stored text holds control characters, as if written to the
    database by hand or by an older version: the form never let them in."""
    controls = "".join(STORABLE_CONTROLS) + ("\x00" if database_url.startswith("sqlite") else "")
    author = make_user("writer", display_name=f"Wri{controls}ter")
    post = make_post(f"Tab{controls}Title", body=f"Body{controls} text", tags=(f"Ta{controls}g",), author=author)
    with app.app_context():
        stored = db.session.get(Post, post.id)
        stored.excerpt = f"Ex{controls}cerpt"
        db.session.add(
            Comment(
                post_id=post.id,
                author_name=f"Eve{controls}",
                author_website=f"https://eve.example/{controls}",
                body=f"Comment{controls} body",
                status=CommentStatus.approved,
            )
        )
        db.session.commit()
        tag_slug = stored.tags[0].slug
    return post.slug, tag_slug


def parse(response) -> ElementTree.Element:
    assert response.status_code == 200
    return ElementTree.fromstring(response.get_data())


def test_every_feed_and_the_sitemap_parse_as_xml_whatever_is_stored(client, poisoned_blog):
    slug, tag_slug = poisoned_blog

    posts = parse(client.get("/feed.xml"))
    tagged = parse(client.get(f"/tags/{tag_slug}/feed.xml"))
    comments = parse(client.get(f"/posts/{slug}/comments.xml"))
    sitemap = parse(client.get("/sitemap.xml"))

    for feed in (posts, tagged):
        entry = feed.find(f"{ATOM}entry")
        assert entry.find(f"{ATOM}title").text.startswith("Tab") and entry.find(f"{ATOM}title").text.endswith("Title")
        assert "Body" in entry.find(f"{ATOM}content").text
        assert entry.find(f"{ATOM}author/{ATOM}name").text.startswith("Wri")
    assert comments.find(f"{ATOM}entry/{ATOM}author/{ATOM}name").text.startswith("Eve")
    assert len(sitemap) == 3  # home, post, tag


def test_the_export_of_stored_control_characters_is_valid_json(client, admin, poisoned_blog):
    token = csrf_token(client, "/admin/data")
    response = client.post("/admin/data/export", data={"csrf_token": token})

    assert response.status_code == 200
    assert "\r" not in response.headers["Content-Disposition"] and "\n" not in response.headers["Content-Disposition"]
    exported = json.loads(response.get_data(as_text=True))
    assert exported["comments"][0]["author_name"].startswith("Eve\r\n")


def test_a_display_name_with_control_characters_is_refused_by_the_account_commands(app, runner, monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", "correct horse battery staple")
    result = runner.invoke(args=["create-author", "writer", "--display-name", "Wri\nter"])

    assert result.exit_code == 1
    assert "A display name cannot hold control characters" in result.output
    with app.app_context():
        assert db.session.scalars(select(User)).all() == []
