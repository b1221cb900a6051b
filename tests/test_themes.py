"""An owner changes the blog's look without forking it: files in instance/theme/ replace the built-in ones one by one,
a custom stylesheet comes last, and a broken theme template never breaks a reader's page."""

from __future__ import annotations

from pathlib import Path

import pytest

import page_version
from helpers import log_in
from models import PostStatus

TAGS_PAGE = """{% extends "base.html" %}
{% block content %}<h1>Every tag, themed</h1>{% endblock %}
"""


@pytest.fixture
def theme(tmp_path: Path) -> Path:
    folder = tmp_path / "theme"
    (folder / "templates" / "blog").mkdir(parents=True)
    (folder / "static").mkdir()
    return folder


def test_a_theme_template_replaces_the_built_in_one_and_only_that_one(make_app, theme, make_user):
    (theme / "templates" / "blog" / "tags.html").write_text(TAGS_PAGE)
    client = make_app(THEME_FOLDER=str(theme)).test_client()
    assert "Every tag, themed" in client.get("/tags/").text
    archive = client.get("/archive")
    assert archive.status_code == 200 and "themed" not in archive.text


def test_a_theme_static_file_is_served_over_the_built_in_one_with_its_own_fingerprint(make_app, theme):
    (theme / "static" / "favicon.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><title>mine</title></svg>')
    themed = make_app(THEME_FOLDER=str(theme)).test_client()
    plain = make_app().test_client()
    themed_icon = themed.get("/").text.split('rel="icon" href="')[1].split('"')[0]
    plain_icon = plain.get("/").text.split('rel="icon" href="')[1].split('"')[0]
    assert themed_icon != plain_icon  # a new ?v=, so browsers that kept the old icon for a year fetch this one
    assert b"<title>mine</title>" in themed.get(themed_icon).data
    assert themed.get("/static/style.css").status_code == 200  # the files the theme lacks stay built in


def test_a_custom_stylesheet_is_linked_after_the_built_in_one(make_app, theme):
    plain = make_app(THEME_FOLDER=str(theme)).test_client().get("/").text
    assert "custom.css" not in plain
    (theme / "static" / "custom.css").write_text("body { background: papayawhip; }")
    page = make_app(THEME_FOLDER=str(theme)).test_client().get("/").text
    assert page.index("/static/style.css") < page.index("/static/custom.css")


def test_a_theme_cannot_reach_outside_its_folders(make_app, theme, tmp_path):
    (tmp_path / "secret.txt").write_text("not for readers")
    client = make_app(THEME_FOLDER=str(theme)).test_client()
    for name in ("../secret.txt", "..%2Fsecret.txt", "%2E%2E/secret.txt"):
        response = client.get(f"/static/{name}")
        assert response.status_code == 404 and b"not for readers" not in response.data


def test_a_broken_theme_template_shows_readers_the_built_in_page_and_the_owner_the_line(
    make_app, theme, make_user, make_post
):
    (theme / "templates" / "blog" / "tags.html").write_text('{% extends "base.html" %}\n{% block content %}\n{% if %}')
    app = make_app(THEME_FOLDER=str(theme))
    client = app.test_client()
    make_post("Tagged", status=PostStatus.published, tags=["travel"])
    reader = client.get("/tags/")
    assert reader.status_code == 200 and "travel" in reader.text.lower()
    make_user("owner", "admin")
    log_in(client, "owner")
    dashboard = client.get("/admin/").text
    assert "theme/templates/blog/tags.html" in dashboard and "line 3" in dashboard


def test_a_theme_changes_the_cached_pages_fingerprint(make_app, theme):
    app = make_app(THEME_FOLDER=str(theme))
    before = page_version.page_version(app)
    (theme / "static" / "custom.css").write_text("h1 { letter-spacing: .02em; }")
    assert page_version.page_version(app) != before  # a restart with a new theme serves no page cached under the old
