"""A post knows which format it is in: imported WordPress HTML is shown as HTML, not read as Markdown.

Classic-editor posts keep their paragraphs and line breaks (WordPress's ``wpautop``), block-editor marks stay
invisible, and the owner edits such a post as HTML, or converts it to Markdown when they choose.
"""

from __future__ import annotations

import html
import io
import json
import re
from pathlib import Path

from sqlalchemy import select

from database import db
from helpers import exported
from helpers import form_fields
from helpers import imported
from helpers import page_text
from helpers import png_bytes
from helpers import submit_post
from helpers import wipe
from models import BodyFormat
from models import Comment
from models import Post
from transfer import wordpress
from transfer.wpautop import wpautop

FIXTURE = (Path(__file__).parent / "fixtures" / "wordpress-formats.xml").read_bytes()


def import_fixture(app) -> None:
    with app.app_context():
        wordpress.import_wordpress(FIXTURE)


def text_of_article(page: str) -> str:
    """Return the HTML of the post's text on a page (the post's own, or the editor's preview)."""
    return page.split('<div class="post-body">', 1)[1].split("</article>", 1)[0]


def post_body(client, slug: str) -> str:
    """Return the HTML of a post's text as a reader's browser gets it."""
    return text_of_article(page_text(client.get(f"/posts/{slug}")))


def stored(app, slug: str) -> Post:
    with app.app_context():
        post = db.session.scalars(select(Post).where(Post.slug == slug)).one()
        db.session.expunge(post)
        return post


def test_a_classic_editor_post_reads_as_its_author_wrote_it(app, client):
    import_fixture(app)
    body = post_body(client, "renaming-files")

    assert "The variable is called my_file_name and the command is `rename`, backticks and all.<br>" in body
    assert "<strong>Careful:</strong> it does not ask before overwriting." in body  # indented HTML, not code
    assert "&lt;div" not in body and "<pre tabindex" not in body and "<pre><code>" not in body.split("<pre>for f", 1)[0]
    assert "<li>one_two_three.txt</li>" in body
    assert '<pre>for f in *.txt; do\n\n    mv "$f" "${f%.txt}.md"\ndone</pre>' in body  # no <p> or <br> inside
    assert "<p>That is all.</p>" in body


def test_block_editor_marks_are_invisible_and_its_paragraphs_are_not_doubled(app, client):
    import_fixture(app)
    body = post_body(client, "block-editor")

    assert "wp:" not in body and "<!--" not in body
    assert "<p>Written in the block editor, with <code>snake_case</code> and *stars* left alone.</p>" in body
    assert "<h3>A small heading</h3>" in body and "<p><p>" not in body


def test_the_contents_of_imported_script_and_style_elements_are_gone(app, client):
    import_fixture(app)

    assert "color: red" not in post_body(client, "renaming-files")
    assert "tracking pixel" not in post_body(client, "block-editor")


def test_a_wordpress_comment_keeps_its_line_break_and_its_link_marked_as_the_commenters(app, client):
    import_fixture(app)
    page = page_text(client.get("/posts/renaming-files"))

    assert "Thanks!<br>\nThere is also" in page and "&lt;br" not in page
    assert '<a href="https://mmv.example/docs" rel="nofollow ugc noopener">mmv</a>, which does the same.' in page


def test_the_owner_edits_an_imported_comment_as_the_html_it_is(app, client, admin):
    import_fixture(app)
    with app.app_context():
        comment = db.session.scalars(select(Comment).where(Comment.body.contains("There is also"))).one()
        url, body = f"/admin/comments/{comment.id}/edit", comment.body
    form = page_text(client.get(url))
    assert "Comment (HTML)" in form and "stays HTML" in form

    fields = form_fields(client.get(url), url) | {"body": body.replace("Thanks!", "Thanks, <em>really</em>!")}
    assert client.post(url, data=fields).status_code == 303

    assert "Thanks, <em>really</em>!<br>\nThere is also" in page_text(client.get("/posts/renaming-files"))


def test_an_imported_post_is_found_summarised_counted_and_in_the_feed_as_text(app, client):
    import_fixture(app)

    found = page_text(client.get("/search?q=overwriting"))
    assert "Renaming files in bulk" in found
    assert "my_file_name and the command is `rename`" in page_text(client.get("/"))
    feed = page_text(client.get("/feed.xml"))
    assert html.escape("<strong>Careful:</strong>") in feed and "wp:paragraph" not in feed
    assert stored(app, "block-editor").word_count == 16


def test_an_html_post_and_comment_round_trip_byte_identical_through_the_export(app):
    import_fixture(app)
    first = exported(app)
    data = json.loads(first)
    assert {post["format"] for post in data["posts"]} == {"html"} and data["comments"][0]["format"] == "html"
    wipe(app)

    imported(app, first)

    assert exported(app) == first
    assert stored(app, "block-editor").body_html.count("<p>") == 2


def test_an_export_from_before_formats_imports_as_markdown(app, client):
    import_fixture(app)
    data = json.loads(exported(app))
    for entry in (*data["posts"], *data["comments"]):
        del entry["format"]
    data["posts"][0]["body"] = "Some *Markdown*."
    wipe(app)

    imported(app, json.dumps(data))

    assert stored(app, "renaming-files").format == BodyFormat.markdown
    assert "<p>Some <em>Markdown</em>.</p>" in post_body(client, "renaming-files")
    with app.app_context():
        assert db.session.scalars(select(Comment.format)).all() == [BodyFormat.markdown]


def test_an_html_post_is_edited_as_html_and_keeps_its_format(app, client, admin):
    import_fixture(app)
    post = stored(app, "block-editor")
    url = f"/admin/posts/{post.id}/edit"
    form = page_text(client.get(url))
    assert "Text (HTML)" in form and html.escape("<!-- wp:heading") in form

    fields = form_fields(client.get(url), url)
    body = post.body.replace("The end.", "The end, <em>edited</em>: my_var stays.")
    preview = text_of_article(page_text(submit_post(client, url, **fields | {"body": body, "action": "preview"})))
    assert "<p>The end, <em>edited</em>: my_var stays.</p>" in preview and "wp:" not in preview
    submit_post(client, url, **fields | {"body": body})

    assert stored(app, "block-editor").format == BodyFormat.html
    assert "<p>The end, <em>edited</em>: my_var stays.</p>" in post_body(client, "block-editor")


def test_an_image_inserted_into_an_html_post_is_added_as_html(app, client, admin):
    import_fixture(app)
    url = f"/admin/posts/{stored(app, 'block-editor').id}/edit"
    image = {"action": "upload", "image": (io.BytesIO(png_bytes()), "a.png"), "image_alt": 'A "red" dot'}

    response = page_text(submit_post(client, url, **form_fields(client.get(url), url) | image))
    snippet = re.search(r'<code class="snippet">([^<]*)</code>', response)

    assert snippet is not None
    assert re.fullmatch(r'<img src="/uploads/\w+\.png" alt="A &quot;red&quot; dot">', html.unescape(snippet[1]))
    body = html.unescape(response.split('name="body"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0])
    assert body.endswith("\n\n" + html.unescape(snippet[1]))


def test_the_owner_converts_an_html_post_to_markdown_after_checking_it(app, client, admin):
    import_fixture(app)
    post = stored(app, "renaming-files")
    url = f"/admin/posts/{post.id}/edit"
    before = post_body(client, "renaming-files")
    fields = form_fields(client.get(url), url)

    response = submit_post(client, url, **fields | {"body": post.body, "action": "convert"})
    converted = page_text(response)

    assert "Converted to Markdown" in converted and "Text (Markdown)" in converted
    assert "my\\_file\\_name" in converted and "\\`rename\\`" in converted
    assert stored(app, "renaming-files").format == BodyFormat.html  # nothing saved yet
    markdown = html.unescape(converted.split('name="body"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0])

    submit_post(client, url, **form_fields(response, url) | {"body": markdown})

    assert stored(app, "renaming-files").format == BodyFormat.markdown
    after = post_body(client, "renaming-files")
    assert "my_file_name and the command is `rename`, backticks and all." in after
    assert "<li>one_two_three.txt</li>" in after and before.count("<li>") == after.count("<li>")


def test_a_markdown_post_stays_markdown_and_offers_no_conversion(app, client, admin):
    submit_post(client, title="Typed here", body="Some _Markdown_.")
    post = stored(app, "typed-here")
    page = page_text(client.get(f"/admin/posts/{post.id}/edit"))

    assert post.format == BodyFormat.markdown and "<em>Markdown</em>" in post.body_html
    assert "Text (Markdown)" in page and "Convert to Markdown" not in page


def test_the_html_is_right_whichever_of_body_and_format_is_set_first(app):
    with app.app_context():
        body_first = Post(title="A", slug="a", body="Snake_case_name and *stars*", format=BodyFormat.html)
        format_first = Post(title="B", slug="b", format=BodyFormat.html, body="Snake_case_name and *stars*")
        changed_later = Post(title="C", slug="c", body="Snake_case_name and *stars*")
        changed_later.format = BodyFormat.html
    assert body_first.body_html == format_first.body_html == changed_later.body_html
    assert body_first.body_html == "Snake_case_name and *stars*"


def test_wpautop_makes_paragraphs_and_line_breaks_but_not_inside_pre_or_around_blocks():
    text = "One\ntwo\n\nThree\n<pre>a\n\nb</pre>\n<blockquote>Quoted</blockquote>\n<ul>\n<li>x</li>\n</ul>"
    assert wpautop(text) == (
        "<p>One<br />\ntwo</p>\n<p>Three</p>\n<pre>a\n\nb</pre>\n"
        "<blockquote><p>Quoted</p></blockquote>\n<ul>\n<li>x</li>\n</ul>\n"
    )


def test_wpautop_puts_back_every_one_of_many_pre_blocks():
    text = "Intro\n\n" + "<pre>x</pre>" * 50_000
    assert wpautop(text) == "<p>Intro</p>\n" + "<pre>x</pre>\n" * 50_000
