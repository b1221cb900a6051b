"""Moving in from WordPress: a realistic WXR export becomes Inkwell posts, tags and threads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from database import db
from helpers import count
from helpers import page_text
from helpers import reset_database
from models import Comment
from models import CommentStatus
from models import Post
from models import PostStatus
from transfer import wordpress
from transfer.export import export_json
from transfer.inkwell import import_data
from transfer.inkwell import read_export

FIXTURE = (Path(__file__).parent / "fixtures" / "wordpress.xml").read_bytes()


def run_import(app, raw: bytes = FIXTURE, **options) -> wordpress.Summary:
    with app.app_context():
        return wordpress.import_wordpress(raw, **options)


def test_import_brings_posts_pages_tags_and_threads(app, client):
    summary = run_import(app)

    assert (summary.posts, summary.pages, summary.drafts) == (3, 1, 1)
    assert summary.comments == {"approved": 3, "pending": 1, "spam": 1} and summary.comments_left_out == 1
    html = page_text(client.get("/posts/cafe-in-zurich"))
    assert "<h1>Café in Zürich</h1>" in html and "by Marta Müller" in html
    assert '<time datetime="2019-05-10T08:30:00+00:00">10 May 2019</time>' in html
    assert 'href="/tags/travel" rel="tag">Travel</a>' in html and 'href="/tags/coffee" rel="tag">Coffee</a>' in html
    depths = re.findall(r'<li class="comment depth-(\d)[^"]*" id="comment-\d+">', html)
    assert depths == ["1", "2", "3"]
    assert "Cheap Pills" not in html and "Binned" not in html and "Waiting for approval" not in html


def test_post_html_is_cleaned_but_keeps_its_structure(app, client):
    run_import(app)
    body = page_text(client.get("/posts/cafe-in-zurich")).split('<div class="post-body">', 1)[1].split("</article>")[0]
    assert "<h2>Morning</h2>" in body and "<li>Bircher muesli</li>" in body
    assert '<a href="https://zuerich.example/cafe">Their website</a>' in body
    assert 'src="https://marta.example/wp-content/uploads/2019/05/cafe.jpg"' in body and 'alt="The café"' in body
    assert "<pre><code>" in body and "onerror" not in body and "<script" not in body


def test_text_inside_an_imported_script_is_dropped_not_shown(app, client):
    run_import(app)
    body = page_text(client.get("/posts/cafe-in-zurich")).split('<div class="post-body">', 1)[1].split("</article>")[0]
    assert "alert(" not in body and "Bircher muesli" in body


def test_drafts_pages_and_statuses_land_where_they_belong(app, client):
    run_import(app)
    with app.app_context():
        statuses = dict(db.session.execute(select(Post.title, Post.status)).all())
        comments = dict(db.session.execute(select(Comment.author_name, Comment.status)).all())
    assert statuses["Half-written thoughts"] == PostStatus.draft and statuses["About"] == PostStatus.published
    assert "Thrown away" not in statuses and "cafe.jpg" not in statuses
    assert comments["Cheap Pills"] == CommentStatus.spam and comments["Newcomer"] == CommentStatus.pending
    assert "Troll" not in comments
    assert "Comments are closed" in page_text(client.get("/posts/hello-world"))


def test_pages_can_be_skipped(app):
    summary = run_import(app, include_pages=False)
    assert summary.pages == 0 and summary.posts == 3


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("/?p=11", "/posts/cafe-in-zurich"),
        ("/2019/05/cafe-in-zurich/", "/posts/cafe-in-zurich"),
        ("/2019/05/cafe-in-zurich", "/posts/cafe-in-zurich"),
        ("/?page_id=2", "/posts/about"),
        ("/about/", "/posts/about"),
    ],
)
def test_old_wordpress_addresses_redirect_permanently(app, client, old, new):
    run_import(app)
    response = client.get(old)
    assert response.status_code == 301 and response.headers["Location"] == new


def test_the_draft_has_no_public_address(app, client):
    run_import(app)
    assert client.get("/?p=20").status_code == 200  # the home page: drafts do not redirect
    assert "Half-written" not in page_text(client.get("/?p=20"))


def test_running_the_import_twice_adds_nothing(app):
    run_import(app)
    posts, comments = count(app, Post.id), count(app, Comment.id)
    again = run_import(app)
    assert again.already_there == 4 and again.posts == 0
    assert (count(app, Post.id), count(app, Comment.id)) == (posts, comments)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<rss><channel><title>&lol2;</title></channel></rss>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<rss><channel><title>&secret;</title></channel></rss>"""


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (FIXTURE[: len(FIXTURE) // 2], r"not complete XML \(line \d+, column \d+\)"),
        (BILLION_LAUGHS, "entity declarations"),
        (EXTERNAL_ENTITY, "entity declarations"),
        (b"<rss><channel><title>Just RSS</title></channel></rss>", "not a WordPress export"),
        (b'{"format": "inkwell-export"}', "not complete XML"),
        (FIXTURE.replace(b"<![CDATA[about]]>", b"<![CDATA[hello-world]]>"), "Two items have the slug 'hello-world'"),
        (
            FIXTURE.replace(
                b"<wp:comment_parent>102</wp:comment_parent>", b"<wp:comment_parent>999</wp:comment_parent>"
            ),
            "answers comment 999, which is not in the file",
        ),
    ],
    ids=["truncated", "billion laughs", "external entity", "plain RSS", "JSON", "duplicate slugs", "missing parent"],
)
def test_bad_files_are_refused_with_a_reason_and_nothing_imported(app, raw, message):
    with pytest.raises(wordpress.WordPressError, match=message):
        run_import(app, raw)
    assert count(app, Post.id) == 0 and count(app, Comment.id) == 0


def test_import_wordpress_command_prints_a_summary(app, runner, tmp_path):
    path = tmp_path / "export.xml"
    path.write_bytes(FIXTURE)
    result = runner.invoke(args=["import-wordpress", str(path)])
    assert result.exit_code == 0, result.output
    assert "Imported 3 posts and 1 pages (1 as drafts); 3 approved, 1 held and 1 spam comments" in result.output
    bad = tmp_path / "bad.xml"
    bad.write_bytes(BILLION_LAUGHS)
    refused = runner.invoke(args=["import-wordpress", str(bad)])
    assert refused.exit_code == 1 and "Nothing was imported:" in refused.output


def test_imported_blog_round_trips_through_export_with_its_old_addresses(app):
    run_import(app)
    with app.app_context():
        first = export_json(with_users=True)
        db.session.remove()  # end the read transaction, or PostgreSQL waits on its locks before dropping tables
        reset_database()
        import_data(read_export(first.encode()))
        assert export_json(with_users=True) == first
    assert app.test_client().get("/?p=11").headers["Location"] == "/posts/cafe-in-zurich"


@pytest.mark.parametrize("website", ["javascript:alert(document.cookie)", "data:text/html,<b>hi</b>", "vbscript:x"])
def test_a_commenters_website_that_is_not_a_web_address_is_left_out(app, client, runner, tmp_path, website):
    path = tmp_path / "export.xml"
    path.write_bytes(FIXTURE.replace(b"https://jonas.example", website.replace("<", "&lt;").encode()))

    result = runner.invoke(args=["import-wordpress", str(path)])

    assert result.exit_code == 0, result.output
    assert "1 commenters' websites were left out: only http:// and https:// addresses are linked." in result.output
    html = page_text(client.get("/posts/cafe-in-zurich"))
    assert '<p class="comment-author">Jonas</p>' in html and website.split(":")[0] + ":" not in html


def test_authors_get_accounts_without_a_password_and_the_summary_says_so(app, runner, tmp_path):
    path = tmp_path / "export.xml"
    path.write_bytes(FIXTURE)

    result = runner.invoke(args=["import-wordpress", str(path)])

    assert re.search(r"\d authors? (was|were) given an account without a password \(marta", result.output)
    assert "set one with `flask --app app set-password NAME`" in result.output
