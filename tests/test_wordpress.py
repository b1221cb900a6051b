"""Moving in from WordPress: a realistic WXR export becomes Inkwell posts, tags and threads."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from database import db
from helpers import WXR_NAMESPACES
from helpers import count
from helpers import media_folder
from helpers import page_text
from helpers import reset_database
from helpers import wxr
from helpers import wxr_comment
from helpers import wxr_dates
from helpers import wxr_item
from models import Comment
from models import CommentStatus
from models import Post
from models import PostStatus
from transfer import common
from transfer import wordpress
from transfer.common import ImportSummary
from transfer.common import TransferError
from transfer.export import export_json
from transfer.inkwell import import_data
from transfer.inkwell import read_export
from transfer.wxr import NO_DATE

FIXTURE = (Path(__file__).parent / "fixtures" / "wordpress.xml").read_bytes()


def run_import(app, raw: bytes = FIXTURE, **options) -> ImportSummary:
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
        ("/?page_id=2", "/pages/about"),
        ("/about/", "/pages/about"),
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
        (b'{"format": "inkwell-export"}', r"not a WordPress export \(WXR\) file: it is not XML at all"),
        (b"", "The file is empty"),
    ],
    ids=["truncated", "billion laughs", "external entity", "plain RSS", "JSON", "empty"],
)
def test_bad_files_are_refused_with_a_reason_and_nothing_imported(app, raw, message):
    with pytest.raises(TransferError, match=message):
        run_import(app, raw)
    assert count(app, Post.id) == 0 and count(app, Comment.id) == 0


def test_import_wordpress_command_prints_a_summary(app, runner, tmp_path):
    path = tmp_path / "export.xml"
    path.write_bytes(FIXTURE)
    result = runner.invoke(args=["import-wordpress", str(path)])
    assert result.exit_code == 0, result.output
    assert (
        "Imported 3 posts and 1 page from WordPress (1 as drafts); 3 approved, 1 held and 1 spam comments"
        in result.output
    )
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
    assert "set one with `.venv/bin/flask --app app set-password NAME`" in result.output


# Exports as real WordPress installs write them

PRETTY = "https://example.com/2020/03/{slug}/"


@pytest.mark.parametrize(("version", "scheme"), list(WXR_NAMESPACES), ids=["1.0", "1.1", "1.2", "1.2 https"])
def test_every_wxr_version_imports_with_its_excerpt_and_old_addresses(app, client, version, scheme):
    item = wxr_item(
        5,
        "Winter light",
        link=PRETTY.format(slug="winter-light"),
        slug="winter-light",
        body="Short days, long shadows.",
        excerpt="On the shortest day.",
        dates=wxr_dates("2020-03-01 09:00:00"),
    )

    summary = run_import(app, wxr(item, version=version, scheme=scheme))

    assert summary.posts == 1
    assert "On the shortest day." in page_text(client.get("/"))
    html = page_text(client.get("/posts/winter-light"))
    assert "<h1>Winter light</h1>" in html and "Short days, long shadows." in html and "by Ada Byron" in html
    for old in ("/?p=5", "/2020/03/winter-light/"):
        assert client.get(old).headers["Location"] == "/posts/winter-light"


def test_a_blog_in_a_folder_with_plain_permalinks_keeps_its_old_addresses(app, client):
    home = "https://example.com/blog"
    raw = wxr(
        wxr_item(123, "First", link=f"{home}/?p=123", slug="first", dates=wxr_dates("2020-03-01 09:00:00")),
        wxr_item(124, "Second", link=f"{home}/?p=124", slug="second", dates=wxr_dates("2020-03-02 09:00:00")),
        wxr_item(7, "Colophon", kind="page", link=f"{home}/?page_id=7", slug="colophon", dates=""),
        home=home,
    )

    summary = run_import(app, raw)

    assert (summary.posts, summary.pages, summary.redirects) == (2, 1, 3)
    assert "<h1>Second</h1>" in page_text(client.get("/posts/second"))
    for old, new in [
        ("/blog/?p=123", "/posts/first"),
        ("/blog?p=124", "/posts/second"),
        ("/blog/?page_id=7", "/pages/colophon"),
        ("/blog/?p=123&utm_source=newsletter", "/posts/first"),
    ]:
        response = client.get(old)
        assert (response.status_code, response.headers["Location"]) == (301, new), old
    assert client.get("/blog/").status_code == 404  # the old home page is not one of the posts


def test_a_second_wordpress_blog_numbering_its_posts_alike_is_imported_not_skipped(app, client):
    first = wxr(wxr_item(5, "Hello", link="https://one.example/?p=5", slug="hello"), home="https://one.example")
    second = wxr(wxr_item(5, "Bonjour", link="https://two.example/?p=5", slug="bonjour"), home="https://two.example")
    run_import(app, first)

    summary = run_import(app, second)

    assert (summary.posts, summary.already_there) == (1, 0)
    assert summary.adjustments == ["The old address /?p=5 of 'Bonjour' already leads to 'Hello'; it still does."]
    assert client.get("/posts/bonjour").status_code == 200
    assert client.get("/?p=5").headers["Location"] == "/posts/hello"
    assert (run_import(app, second).already_there, run_import(app, first).already_there) == (1, 1)


def test_an_old_address_another_post_already_has_is_reported_and_kept(app, client):
    first = wxr(wxr_item(1, "Hello", link=PRETTY.format(slug="hello"), slug="hello"))
    second_blog = wxr(
        wxr_item(40, "Hello again", link=PRETTY.format(slug="hello"), slug="hello-again"),
        wxr_item(41, "Twin", link=PRETTY.format(slug="hello-again"), slug="twin"),
        wxr_item(42, "Other twin", link=PRETTY.format(slug="hello-again"), slug="other-twin"),
    )
    run_import(app, first)

    summary = run_import(app, second_blog)

    assert summary.posts == 3
    assert summary.adjustments == [
        "The old address /2020/03/hello/ of 'Hello again' already leads to 'Hello'; it still does.",
        "The old address /2020/03/hello-again/ of 'Other twin' already leads to 'Twin'; it still does.",
    ]
    assert client.get("/2020/03/hello/").headers["Location"] == "/posts/hello"
    assert client.get("/2020/03/hello-again/").headers["Location"] == "/posts/twin"
    assert client.get("/?p=40").headers["Location"] == "/posts/hello-again"
    assert "<h1>Other twin</h1>" in page_text(client.get("/posts/other-twin"))


def test_published_items_without_a_date_are_dated_and_the_summary_says_how(app, client):
    raw = wxr(
        wxr_item(
            1,
            "Dated",
            link=PRETTY.format(slug="dated"),
            slug="dated",
            dates=wxr_dates("2020-03-01 09:00:00", "2020-03-01 11:00:00"),
        ),
        wxr_item(
            2,
            "Local only",
            link=PRETTY.format(slug="local"),
            slug="local",
            dates=wxr_dates("0000-00-00 00:00:00", "2020-03-05 11:00:00"),
        ),
        wxr_item(3, "No date at all", link=PRETTY.format(slug="none"), slug="none", dates=""),
        wxr_item(4, "Draft", link="https://example.com/?p=4", status="draft", dates=wxr_dates(None, NO_DATE)),
    )

    summary = run_import(app, raw)

    assert summary.adjustments == [
        "'Local only' has only a local date (2020-03-05 11:00); it is dated 2020-03-05 09:00 UTC, "
        "at the blog's usual offset of +2 hours.",
        "'No date at all' is published but has no date in the file; it is dated 2020-03-05 09:01 UTC, "
        "just after 'Local only', its neighbour in the file.",
    ]
    assert '<time datetime="2020-03-05T09:00:00+00:00">' in page_text(client.get("/posts/local"))
    assert '<time datetime="2020-03-05T09:01:00+00:00">' in page_text(client.get("/posts/none"))
    listed = page_text(client.get("/"))
    assert listed.index("No date at all") < listed.index("Local only") < listed.index("Dated")
    assert "No date at all" in page_text(client.get("/archive/2020/03"))
    with app.app_context():
        draft = db.session.scalar(select(Post).where(Post.title == "Draft"))
        assert draft.status == PostStatus.draft and draft.published_at is None  # as drafts written in Inkwell


def test_a_post_and_a_page_sharing_a_slug_both_come_in(app, client):
    raw = wxr(
        wxr_item(1, "About this blog", link=PRETTY.format(slug="about"), slug="about"),
        wxr_item(2, "About me", kind="page", link="https://example.com/about/", slug="about"),
    )

    summary = run_import(app, raw)

    assert (summary.posts, summary.pages) == (1, 1)
    assert summary.adjustments == [
        "'About me' (page 2) would have had the address /pages/about, which another post already has; "
        "it is at /pages/about-2."
    ]
    assert "<h1>About this blog</h1>" in page_text(client.get("/posts/about"))
    assert "<h1>About me</h1>" in page_text(client.get("/pages/about-2"))
    assert "About me" not in page_text(client.get("/"))  # a page, not a post
    assert client.get("/about/").headers["Location"] == "/pages/about-2"
    assert client.get("/?page_id=2").headers["Location"] == "/pages/about-2"
    assert client.get("/2020/03/about/").headers["Location"] == "/posts/about"


def test_a_reply_whose_parent_is_missing_becomes_a_comment_on_the_post(app, client):
    comments = wxr_comment(11, "Lin", "First!") + wxr_comment(12, "Sam", "Replying to a lost comment.", parent=999)
    raw = wxr(wxr_item(1, "Threads", link=PRETTY.format(slug="threads"), slug="threads", comments=comments))

    summary = run_import(app, raw)

    assert summary.comments["approved"] == 2
    assert summary.adjustments == [
        "Comment 12 by Sam on 'Threads' answers comment 999, which is not in the file; "
        "it is shown as a comment on the post."
    ]
    html = page_text(client.get("/posts/threads"))
    assert "Replying to a lost comment." in html
    assert re.findall(r'<li class="comment depth-(\d)[^"]*" id="comment-\d+">', html) == ["1", "1"]


def test_pingbacks_and_trackbacks_are_skipped_with_their_own_count(app, client):
    comments = (
        wxr_comment(21, "Reader", "Lovely.")
        + wxr_comment(22, "Other blog", "[…] as Ada says […]", kind="pingback")
        + wxr_comment(23, "Planet", "Linked from the planet.", kind="trackback")
    )
    raw = wxr(wxr_item(1, "Linked", link=PRETTY.format(slug="linked"), slug="linked", comments=comments))

    summary = run_import(app, raw)

    assert (summary.comments["approved"], summary.linkbacks_skipped, summary.comments_left_out) == (1, 2, 0)
    assert "(0 trashed left out)" in str(summary)
    assert "2 pingbacks and trackbacks skipped" in str(summary)
    html = page_text(client.get("/posts/linked"))
    assert "Lovely." in html and "as Ada says" not in html and "Linked from the planet" not in html


def test_a_bare_ampersand_is_named_with_its_line_and_column_not_called_cut_short(app, make_post):
    make_post("Already here", slug="already-here")
    raw = wxr(wxr_item(1, "Salt & pepper", link=PRETTY.format(slug="salt"), slug="salt"))
    raw = raw.replace(b"<![CDATA[Salt & pepper]]>", "Salt & pepper, café".encode())
    line = raw[: raw.index(b"Salt & ")].count(b"\n") + 1
    column = len(raw.split(b"\n")[line - 1][: raw.split(b"\n")[line - 1].index(b"&")]) + 1

    with pytest.raises(TransferError) as refused:
        run_import(app, raw)

    assert str(refused.value) == (
        f"The file is not well-formed XML: not well-formed (invalid token) at line {line}, column {column}: "
        "an `&` must be written `&amp;`."
    )
    assert count(app, Post.id) == 1


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (b"<title>&nbsp;Notes</title>", r"`&nbsp;` is an HTML entity that XML does not know; write `&#160;` instead"),
        (b"<title>Notes\x0c</title>", r"the control character U\+000C is not allowed in XML"),
        (b"<title>Notes</titel>", r"</titel> where </title> was expected, to close the <title> of line \d+"),
    ],
    ids=["HTML entity", "control character", "misspelt closing tag"],
)
def test_common_xml_faults_say_what_to_write_instead(app, fault, message):
    raw = wxr(wxr_item(1, "Soup", link=PRETTY.format(slug="soup"))).replace(b"<title>Notes</title>", fault)

    with pytest.raises(TransferError, match=r"at line \d+, column \d+: " + message):
        run_import(app, raw)


def test_a_file_cut_short_says_so_and_changes_nothing(app, client):
    run_import(app)
    posts, comments = count(app, Post.id), count(app, Comment.id)
    raw = wxr(wxr_item(1, "Long read", link=PRETTY.format(slug="long"), body="Once upon a time"))
    cut = raw[: raw.index(b"upon")]

    with pytest.raises(TransferError) as refused:
        run_import(app, cut)

    message, last_line = str(refused.value), len(cut.splitlines())
    assert message.startswith(f"The file is not complete XML (line {last_line}, column ")
    assert "it ends inside <content:encoded>" in message and "<item>, <channel>, <rss> never closed" in message
    assert "cut short" in message
    assert (count(app, Post.id), count(app, Comment.id)) == (posts, comments)
    assert client.get("/posts/long").status_code == 404


def test_the_command_lists_every_change_and_refuses_files_over_the_import_limit(app, runner, tmp_path, monkeypatch):
    path = tmp_path / "export.xml"
    path.write_bytes(
        wxr(
            wxr_item(1, "About this blog", link=PRETTY.format(slug="about"), slug="about"),
            wxr_item(2, "About me", kind="page", link="https://example.com/about/", slug="about"),
        )
    )

    result = runner.invoke(args=["import-wordpress", str(path)])

    assert result.exit_code == 0, result.output
    assert "Changed on the way in (1):\n- 'About me' (page 2) would have had the address /pages/about" in result.output
    monkeypatch.setattr(common, "IMPORT_MAX_BYTES", 1_048_576)
    path.write_bytes(b" " * 2 * 1_048_576)
    for command in ("import-wordpress", "import"):
        refused = runner.invoke(args=[command, str(path)])
        assert refused.exit_code == 1
        assert "Nothing was imported: The file is 2 MB; imports can be at most 1 MB." in refused.output


def test_images_come_from_the_uploads_folder_and_the_posts_link_to_the_copies(app, client, tmp_path):
    uploads = media_folder(tmp_path / "uploads", "2019/05/cafe.jpg")
    summary = run_import(app, uploads=uploads)

    body = page_text(client.get("/posts/cafe-in-zurich"))
    image = re.search(r'<img src="(/uploads/[0-9a-f]+\.jpg)" alt="The café"', body)
    assert image is not None and "marta.example/wp-content" not in body
    assert client.get(image[1]).mimetype == "image/jpeg"
    assert "1 image was brought in from uploads." in str(summary)


def test_an_image_missing_from_a_zipped_uploads_folder_is_listed_and_its_link_kept(app, client, tmp_path):
    with zipfile.ZipFile(tmp_path / "uploads.zip", "w") as archive:
        archive.writestr("wp-content/uploads/2019/06/other.jpg", b"not this one")
    summary = run_import(app, uploads=tmp_path / "uploads.zip")

    assert 'src="https://marta.example/wp-content/uploads/2019/05/cafe.jpg"' in page_text(
        client.get("/posts/cafe-in-zurich")
    )
    assert "The image 2019/05/cafe.jpg was left out: it is not in the media folder." in str(summary)


def test_a_local_date_the_offset_moves_out_of_range_is_dated_by_its_place(app, client):
    raw = wxr(
        wxr_item(
            1,
            "East",
            link=PRETTY.format(slug="east"),
            slug="east",
            dates=wxr_dates("2020-01-01 00:00:00", "2020-01-01 10:00:00"),
        ),
        wxr_item(
            2, "Year one", link=PRETTY.format(slug="one"), slug="one", dates=wxr_dates(NO_DATE, "0001-01-01 00:00:00")
        ),
    )

    summary = run_import(app, raw)

    assert summary.posts == 2
    assert summary.adjustments == [
        "'Year one' has only a local date (0001-01-01 00:00:00), which the blog's usual offset moves past the range "
        "of dates; it is dated by its place in the file instead.",
        "'Year one' is published but has no date in the file; it is dated 2020-01-01 00:01 UTC, "
        "just after 'East', its neighbour in the file.",
    ]
    assert '<time datetime="2020-01-01T00:01:00+00:00">' in page_text(client.get("/posts/one"))


def test_an_undated_item_after_the_last_possible_date_is_dated_otherwise(app):
    raw = wxr(
        wxr_item(1, "Far future", link=PRETTY.format(slug="far"), slug="far", dates=wxr_dates("9999-12-31 23:59:59")),
        wxr_item(2, "Undated", link=PRETTY.format(slug="undated"), slug="undated", dates=""),
        wxr_item(3, "Dated", link=PRETTY.format(slug="dated"), slug="dated", dates=wxr_dates("2020-05-01 12:00:00")),
    )

    summary = run_import(app, raw)

    assert summary.posts == 3
    assert summary.adjustments == [
        "'Undated' is published but has no date in the file; it is dated 2020-05-01 11:59 UTC, "
        "just before 'Dated', its neighbour in the file.",
    ]


def test_an_undated_item_after_the_last_possible_date_alone_is_dated_now(app):
    raw = wxr(
        wxr_item(1, "Far future", link=PRETTY.format(slug="far"), slug="far", dates=wxr_dates("9999-12-31 23:59:59")),
        wxr_item(2, "Undated", link=PRETTY.format(slug="undated"), slug="undated", dates=""),
    )

    summary = run_import(app, raw)

    assert summary.posts == 2
    assert len(summary.adjustments) == 1
    assert summary.adjustments[0].startswith("'Undated' is published but has no date in the file; it is dated ")
    assert summary.adjustments[0].endswith(" UTC, as imported.")


@pytest.mark.parametrize("odd_id", ["²", "1" * 5000])
def test_a_comment_id_that_is_no_plain_number_still_comes_in(app, client, odd_id):
    comments = wxr_comment(11, "Lin", "First!").replace("<wp:comment_id>11<", f"<wp:comment_id>{odd_id}<")
    comments += wxr_comment(12, "Sam", "Second.")
    raw = wxr(wxr_item(1, "Odd ids", link=PRETTY.format(slug="odd"), slug="odd", comments=comments))

    summary = run_import(app, raw)

    assert summary.comments["approved"] == 2
    html = page_text(client.get("/posts/odd"))
    assert "First!" in html and "Second." in html


def test_a_malformed_link_is_listed_and_the_post_comes_in(app, client):
    raw = wxr(
        wxr_item(1, "Broken link", link="http://[::1/x", slug="broken"),
        wxr_item(2, "Fine", link=PRETTY.format(slug="fine"), slug="fine"),
    )

    summary = run_import(app, raw)

    assert summary.posts == 2
    assert summary.adjustments == [
        "The old address 'http://[::1/x' of 'Broken link' is malformed; it does not redirect."
    ]
    assert "<h1>Broken link</h1>" in page_text(client.get("/posts/broken"))
    assert client.get("/2020/03/fine/").headers["Location"] == "/posts/fine"


def test_a_malformed_blog_address_is_listed_and_the_channel_link_used(app, client):
    item = wxr_item(1, "In a folder", link="https://example.com/blog/2020/03/folder/", slug="folder")
    raw = wxr(item, home="https://example.com/blog").replace(
        b"<wp:base_blog_url>https://example.com/blog</wp:base_blog_url>",
        b"<wp:base_blog_url>http://[x</wp:base_blog_url>",
    )

    summary = run_import(app, raw)

    assert summary.posts == 1
    assert summary.adjustments == [
        "The blog's address 'http://[x' (<wp:base_blog_url>) is malformed; it is not used to place old addresses."
    ]
    assert client.get("/blog/2020/03/folder/").headers["Location"] == "/posts/folder"
