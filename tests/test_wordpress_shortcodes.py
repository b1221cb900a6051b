"""WordPress shortcodes in imported posts: what has an HTML equivalent shows as it, the rest stays as text, listed."""

from __future__ import annotations

import re

import pytest

from helpers import media_folder
from helpers import page_text
from helpers import wxr
from helpers import wxr_item
from transfer import wordpress
from transfer.common import ImportSummary


def imported_post(app, client, body: str, title: str = "Shortcodes") -> tuple[str, ImportSummary]:
    """Import one post with this body; return the post's body as a reader's page shows it, and the summary."""
    with app.app_context():
        summary = wordpress.import_wordpress(
            wxr(wxr_item(7, title, link="https://example.com/?p=7", slug="post", body=body))
        )
    page = page_text(client.get("/posts/post"))
    return page.split('<div class="post-body">', 1)[1].split("</article>")[0], summary


def test_a_captioned_image_shows_the_image_and_its_caption(app, client):
    body, summary = imported_post(
        app,
        client,
        '[caption id="attachment_5" align="alignleft" width="300"]<img src="https://example.com/wp-content/uploads/'
        '2020/03/cat.jpg" alt="A cat" width="300" height="200" /> Our cat on the <b>mat</b>[/caption]\n\nAfter it.',
    )
    assert '<img src="https://example.com/wp-content/uploads/2020/03/cat.jpg" alt="A cat"' in body
    assert "<p><em>Our cat on the mat</em></p>" in body and "<p>After it.</p>" in body
    assert "[caption" not in body and "[/caption]" not in body and summary.adjustments == []


@pytest.mark.parametrize(
    ("shortcode", "language"),
    [
        ('[code lang="python"]\nif a < b and c:\n\n    print("&")\n[/code]', "python"),
        ('[sourcecode language="python"]\nif a < b and c:\n\n    print("&")\n[/sourcecode]', "python"),
        ('[python]\nif a &lt; b and c:\n\n    print("&amp;")\n[/python]', "python"),
    ],
)
def test_code_shortcodes_become_code_blocks_with_their_language_and_lines(app, client, shortcode, language):
    body, summary = imported_post(app, client, f"Here is some code:\n\n{shortcode}\n\nThat was it.")

    assert f'<pre><code class="language-{language}">if a &lt; b and c:\n\n    print("&amp;")</code></pre>' in body
    assert "<p>Here is some code:</p>" in body and "<p>That was it.</p>" in body and "<br" not in body
    assert summary.adjustments == []


def test_a_code_language_the_page_would_not_allow_is_left_out_not_the_code(app, client):
    body, _ = imported_post(app, client, '[code lang="x onmouseover=alert(1)"]print(1)[/code]')
    assert "<pre><code>print(1)</code></pre>" in body and "onmouseover" not in body


def test_embeds_and_addresses_alone_on_a_line_become_plain_links(app, client):
    body, summary = imported_post(
        app,
        client,
        "Watch this:\n\n[embed]https://www.youtube.com/watch?v=abc&amp;t=5[/embed]\n\nand this\n"
        "https://vimeo.com/123\n\nnot this https://example.org/inline one.",
    )
    assert '<a href="https://www.youtube.com/watch?v=abc&amp;t=5">' in body
    assert '<a href="https://vimeo.com/123">https://vimeo.com/123</a>' in body
    assert "not this https://example.org/inline one." in body and "<iframe" not in body and "[embed]" not in body
    assert summary.adjustments == []


def test_audio_and_video_become_links_to_their_files(app, client):
    body, summary = imported_post(
        app,
        client,
        '[audio src="https://example.com/wp-content/uploads/talk.mp3"]\n\n'
        '[video width="640" mp4="https://example.com/wp-content/uploads/trip.mp4"][/video]',
    )
    assert '<a href="https://example.com/wp-content/uploads/talk.mp3">' in body
    assert '<a href="https://example.com/wp-content/uploads/trip.mp4">' in body
    assert "[audio" not in body and "[video" not in body and "[/video]" not in body and "<audio" not in body
    assert summary.adjustments == []


def test_unknown_shortcodes_and_galleries_of_images_not_in_the_file_stay_as_text_and_are_listed(app, client):
    body, summary = imported_post(
        app,
        client,
        '[gallery ids="1,2,3"]\n\nMore photos: [gallery ids="4,5"]\n\n'
        '[contact-form to="me@example.com"]Hi[/contact-form]',
        title="Holiday",
    )
    assert '[gallery ids="1,2,3"]' in body and '[gallery ids="4,5"]' in body
    assert '[contact-form to="me@example.com"]Hi[/contact-form]' in body
    assert summary.adjustments == [
        "'Holiday': the [gallery] shortcode was kept as text (2 times): its images are not in the export.",
        "'Holiday': the [contact-form] shortcode was kept as text: Inkwell does not know it.",
    ]
    assert "[gallery] shortcode was kept as text (2 times)" in str(summary)


def attachment(attachment_id: int, parent: int, name: str, alt: str) -> str:
    """Return the ``<item>`` a WordPress export lists for an uploaded image attached to the post ``parent``."""
    return f"""
	<item>
		<title><![CDATA[{name}]]></title>
		<wp:post_id>{attachment_id}</wp:post_id>
		<wp:post_parent>{parent}</wp:post_parent>
		<wp:status><![CDATA[inherit]]></wp:status>
		<wp:post_type><![CDATA[attachment]]></wp:post_type>
		<wp:attachment_url><![CDATA[https://example.com/wp-content/uploads/2020/03/{name}]]></wp:attachment_url>
		<wp:postmeta><wp:meta_key><![CDATA[_wp_attachment_image_alt]]></wp:meta_key>
		<wp:meta_value><![CDATA[{alt}]]></wp:meta_value></wp:postmeta>
	</item>"""


def test_a_gallery_shows_its_images_from_the_exports_attachments(app, client, tmp_path):
    uploads = media_folder(tmp_path / "uploads", "2020/03/boat.jpg", "2020/03/pier.jpg", "2020/03/gull.jpg")
    export = wxr(
        wxr_item(
            7, "Harbour", link="https://example.com/?p=7", slug="harbour", body='[gallery]\n\nAnd [gallery ids="33"]'
        ),
        attachment(31, 7, "boat.jpg", "A red boat"),
        attachment(32, 7, "pier.jpg", "The pier at dawn"),
        attachment(33, 9, "gull.jpg", "A gull"),
    )
    with app.app_context():
        summary = wordpress.import_wordpress(export, uploads=uploads)
    body = page_text(client.get("/posts/harbour"))

    shown = re.findall(r'<img src="(/uploads/\w+\.jpg)" alt="([^"]*)">', body)
    assert [alt for _, alt in shown] == ["A red boat", "The pier at dawn", "A gull"]
    assert all(client.get(address).status_code == 200 for address, _ in shown)
    assert "[gallery" not in body and summary.adjustments == []


def test_unsafe_addresses_in_shortcodes_are_kept_as_text_not_linked(app, client):
    body, summary = imported_post(app, client, '[embed]javascript:alert(1)[/embed] [audio src="javascript:alert(2)"]')
    assert "href" not in body and "[embed]javascript:alert(1)[/embed]" in body
    assert summary.adjustments == [
        "'Shortcodes': the [embed] shortcode was kept as text: it holds no web address.",
        "'Shortcodes': the [audio] shortcode was kept as text: it names no file.",
    ]


def test_double_brackets_show_the_shortcode_itself(app, client):
    body, summary = imported_post(app, client, "Write [[gallery]] or [[code]x[/code]] to show them.")
    assert "Write [gallery] or [code]x[/code] to show them." in body and summary.adjustments == []


def test_hostile_bracket_soup_is_read_in_one_pass_and_kept_as_text(app, client):
    soup = "[a [[b " * 5000 + "[code]" * 5000 + "".join(f"[n{i} x=1]" for i in range(4000))

    body, summary = imported_post(app, client, soup)

    assert len(soup) > 100_000
    assert body.count("[a [[b ") == 5000 and body.count("[code]") == 5000 and "[n3999 x=1]" in body
    assert summary.adjustments[0] == (
        "'Shortcodes': the [code] shortcode was kept as text (5000 times): its closing tag is missing."
    )
    assert summary.adjustments[-1] == "'Shortcodes': 3991 more shortcodes of 3991 other kinds were kept as text."
    assert len(summary.adjustments) == 11
