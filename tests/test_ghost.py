"""Moving in from Ghost: a Ghost 5 export (with a Ghost 0.x post in it) becomes Inkwell posts and redirects."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest
from PIL import Image

import images
from helpers import count
from helpers import media_folder
from helpers import page_text
from image_sizes import is_copy
from models import Post
from transfer import ghost
from transfer.common import ImportSummary
from transfer.common import TransferError

FIXTURE = (Path(__file__).parent / "fixtures" / "ghost.json").read_bytes()


def run_import(app, raw: bytes = FIXTURE, **options) -> ImportSummary:
    with app.app_context():
        return ghost.import_ghost(raw, **options)


def post_body(client, slug: str) -> str:
    """The text of the post (or, following its redirect, the page) at ``slug``."""
    html = page_text(client.get(f"/posts/{slug}", follow_redirects=True))
    return html.split('<div class="post-body">', 1)[1].split("</article>")[0]


def test_a_ghost_export_brings_posts_pages_drafts_tags_and_authors(app, client):
    summary = run_import(app)

    assert (summary.posts, summary.pages, summary.drafts) == (4, 1, 1)
    html = page_text(client.get("/posts/notes-from-the-harbour"))
    assert "<h1>Notes from the harbour</h1>" in html and "by Ines Navarro" in html
    assert '<time datetime="2023-08-31T08:00:00+00:00">31 August 2023</time>' in html
    assert html.index('href="/tags/harbour"') < html.index('href="/tags/mornings"')  # Ghost's order
    assert "newsletter" not in html  # an internal tag is Ghost's own, not the readers'
    assert summary.accounts_without_password == ["ines", "old-writer"]


def test_ghost_html_is_shown_as_html_not_read_as_markdown(app, client):
    run_import(app)
    body = post_body(client, "notes-from-the-harbour")
    assert "<code>6_00</code>" in body and "*not* emphasis" in body and "<pre>" not in body
    assert '<img src="/content/images/2023/08/boats.jpg"' in body and 'alt="Boats at dawn"' in body
    assert '<a href="https://market.example/">the market</a>' in body
    assert "<script" not in body and "alert(" not in body


def test_a_ghost_0x_post_keeps_its_markdown_and_its_author(app, client):
    run_import(app)
    html = page_text(client.get("/posts/from-the-old-days"))
    assert "<strong>Ghost 0.x</strong>" in html and "by Old Ghost Writer" in html
    assert '<time datetime="2014-01-01T00:00:00+00:00">' in html


def test_drafts_stay_private_and_scheduled_posts_wait(app, client):
    run_import(app)
    assert client.get("/posts/half-written-thoughts").status_code == 404
    assert client.get("/posts/tide-tables").status_code == 404
    assert "Tide tables" not in page_text(client.get("/"))


def test_every_ghost_address_redirects_to_the_imported_post_or_page(app, client):
    run_import(app)
    for slug, new in (("notes-from-the-harbour", "/posts"), ("about", "/pages"), ("from-the-old-days", "/posts")):
        for old in (f"/{slug}/", f"/{slug}"):
            response = client.get(old)
            assert response.status_code == 301 and response.headers["Location"] == f"{new}/{slug}"


def test_a_ghost_page_comes_in_as_a_page(app, client):
    run_import(app)
    assert client.get("/pages/about").status_code == 200
    assert 'href="/pages/about"' not in page_text(client.get("/"))


def test_importing_the_same_export_twice_adds_nothing(app):
    run_import(app)
    second = run_import(app)
    assert (second.posts, second.pages, second.already_there) == (0, 0, 5)
    assert count(app, Post.id) == 5


def test_a_slug_already_taken_gets_a_suffix_and_is_reported(app, client, make_post):
    make_post("About me", slug="about")
    summary = run_import(app)
    assert "/pages/about-2" in str(summary)  # Ghost's About is a page
    assert client.get("/about/").headers["Location"] == "/pages/about-2"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"db": [{"data": {"posts": [}]}', "not valid JSON: Expecting value at line 1, column 29"),
        (b'{"posts": []}', "not a Ghost export"),
        (json.dumps({"data": {"posts": [], "tags": "none"}}).encode(), "“tags” is not a list of records"),
        (b"\xff\xfe", "not text in UTF-8"),
    ],
)
def test_a_file_that_is_not_a_ghost_export_is_refused_with_a_reason_and_nothing_changes(app, raw, message):
    with pytest.raises(TransferError, match=message):
        run_import(app, raw)
    assert count(app, Post.id) == 0


def test_images_come_from_the_content_images_folder_and_the_links_follow(app, client, tmp_path):
    folder = media_folder(tmp_path / "images", "2023/08/boats.jpg", "2023/01/portrait.png")
    summary = run_import(app, images=folder)

    image = re.search(
        r'<img src="(/uploads/[0-9a-f]+\.jpg)" alt="Boats at dawn"',
        post_body(client, "notes-from-the-harbour"),
    )
    assert image is not None
    served = client.get(image[1])
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    about = post_body(client, "about")
    assert re.search(r'<p><img src="/uploads/[0-9a-f]+\.png" alt="The author on a boat"></p>', about)
    notes = str(summary)
    assert "2 images were brought in from images." in notes
    assert "The image 2023/01/not-an-image.jpg was left out: That file is not a PNG, JPEG, GIF or WebP image" in notes


def test_an_image_path_that_leads_out_of_the_folder_is_never_read(app, client, tmp_path):
    (tmp_path / "etc").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "etc/secret.jpg", "JPEG")
    run_import(app, images=media_folder(tmp_path / "site/images"))
    assert 'src="/content/images/../../../etc/secret.jpg"' in post_body(client, "about")


def test_importing_twice_with_images_stores_each_image_once(app, tmp_path):
    folder = media_folder(tmp_path / "images", "2023/08/boats.jpg", "2023/01/portrait.png")
    run_import(app, images=folder)
    with app.app_context():
        stored = sorted(images.uploads_folder().iterdir())
        run_import(app, images=folder)
        assert sorted(images.uploads_folder().iterdir()) == stored
        assert len([path for path in stored if not is_copy(path.name)]) == 2


def test_import_ghost_command_brings_the_images_and_prints_every_adjustment(app, runner, tmp_path):
    export = tmp_path / "ghost.json"
    export.write_bytes(FIXTURE)
    folder = media_folder(tmp_path / "images", "2023/08/boats.jpg")
    result = runner.invoke(args=["import-ghost", str(export), "--images", str(folder)])
    assert result.exit_code == 0, result.output
    assert "Imported 4 posts and 1 page from Ghost (1 as drafts)" in result.output
    assert "The image 2023/01/portrait.png was left out: it is not in the media folder." in result.output
    export.write_bytes(b"{not json")
    refused = runner.invoke(args=["import-ghost", str(export)])
    assert refused.exit_code == 1 and "Nothing was imported: The file is not valid JSON" in refused.output


def ghost_export(post: dict, **tables) -> bytes:
    """A minimal Ghost export holding one post (and any other tables given)."""
    entry = {"id": "1", "title": "Odd", "slug": "odd", "html": "<p>Odd.</p>", "type": "post", "status": "published"}
    return json.dumps({"db": [{"data": {"posts": [entry | post], **tables}}]}).encode()


@pytest.mark.parametrize(
    "published_at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "not a date", True, -(10**20)]
)
def test_a_date_ghost_could_not_have_written_is_treated_as_missing(app, client, published_at):
    summary = run_import(app, ghost_export({"published_at": published_at, "created_at": "2020-02-02T00:00:00Z"}))
    assert "had no publication date, so it is dated when it was created" in str(summary)
    assert '<time datetime="2020-02-02T00:00:00+00:00">' in page_text(client.get("/posts/odd"))


def test_tags_in_an_order_of_mixed_kinds_still_come_in(app, client):
    tags = [{"id": "a", "name": "Alpha"}, {"id": "b", "name": "Beta"}]
    links = [{"post_id": "1", "tag_id": "a", "sort_order": "first"}, {"post_id": "1", "tag_id": "b", "sort_order": 1}]
    run_import(app, ghost_export({}, tags=tags, posts_tags=links))
    html = page_text(client.get("/posts/odd"))
    assert 'href="/tags/alpha"' in html and 'href="/tags/beta"' in html


def test_json_nested_deeper_than_any_export_is_refused_with_a_reason(app):
    with pytest.raises(TransferError, match="nests its JSON deeper"):
        run_import(app, b'{"data": {"posts": [' + b"[" * 100_000)
    assert count(app, Post.id) == 0


def test_image_links_that_cannot_be_read_are_listed_and_left_as_they_were(app, client, tmp_path):
    with zipfile.ZipFile(tmp_path / "images.zip", "w") as archive:
        archive.writestr("images/2020/a.png", b"\x89PNG\r\n\x1a\n" + b"x" * 100)
    raw = bytearray((tmp_path / "images.zip").read_bytes())
    raw[raw.index(b"xxxx")] = ord("y")  # the member's bytes no longer match its checksum
    (tmp_path / "images.zip").write_bytes(bytes(raw))
    html = (
        '<p><img src="/content/images/2020/a.png" alt="Corrupt"><img src="http://[x/content/images/b.png" alt="Odd">'
        f'<img src="/content/images/{"a" * 5000}.png" alt="Long"><img src="/content/images/c%00.png" alt="Nul"></p>'
    )
    summary = run_import(app, ghost_export({"html": html}), images=tmp_path / "images.zip")

    body = post_body(client, "odd")
    assert body.count("<img") == 4 and "/uploads/" not in body
    notes = str(summary)
    assert "The image 2020/a.png was left out: it could not be read (BadZipFile)." in notes
    assert "c\x00.png was left out" in notes
