"""Moving in from a static site: a Jekyll or Hugo folder of Markdown posts becomes Inkwell posts at new addresses."""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from database import db
from helpers import count
from helpers import page_text
from models import Post
from models import Tag
from slugs import LegacyAddress
from transfer.common import ImportSummary
from transfer.common import TransferError
from transfer.static_site import import_static_site

FIXTURES = Path(__file__).parent / "fixtures"
JEKYLL = FIXTURES / "jekyll"
HUGO = FIXTURES / "hugo"


def run_import(app, path: Path) -> ImportSummary:
    with app.app_context():
        return import_static_site(path)


def post_body(client, address: str) -> str:
    return page_text(client.get(address)).split('<div class="post-body">', 1)[1].split("</article>")[0]


def copy_of(site: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(site, tmp_path / site.name))


def test_a_jekyll_post_reads_as_it_did_with_its_date_tags_and_summary(app, client):
    summary = run_import(app, JEKYLL)

    assert (summary.posts, summary.drafts) == (4, 2)
    html = page_text(client.get("/posts/cafe-in-zurich"))
    assert "<h1>Café in Zürich</h1>" in html
    assert '<time datetime="2019-05-10T06:30:00+00:00">10 May 2019</time>' in html  # 08:30 in Zürich
    for slug, name in (("coffee", "coffee"), ("zürich", "Zürich"), ("travel", "travel")):
        assert f'rel="tag">{name}</a>' in html and client.get(f"/tags/{slug}").status_code == 200
    assert "Where to have breakfast near the lake." in page_text(client.get("/"))
    assert "The best breakfast in town" in post_body(client, "/posts/cafe-in-zurich")


def test_a_jekyll_post_without_a_date_in_its_front_matter_takes_the_one_in_its_file_name(app, client):
    run_import(app, JEKYLL)
    html = page_text(client.get("/posts/notes-on-liquid"))
    assert '<time datetime="2020-01-15T00:00:00+00:00">15 January 2020</time>' in html
    assert 'rel="tag">jekyll</a>' in html and 'rel="tag">templates</a>' in html  # Jekyll's "tags: a b"


def test_highlight_blocks_become_code_and_template_tags_stay_visible_and_listed(app, client):
    summary = run_import(app, JEKYLL)

    body = post_body(client, "/posts/cafe-in-zurich")
    assert (
        '<pre tabindex="0"><code class="language-python"><span class="k">def</span>' in body and ">order</span>" in body
    )
    assert "endhighlight" not in body
    assert "<code>{% include figure.html src=&quot;/assets/cafe.jpg&quot;" in body
    assert summary.shortcodes == [
        "_posts/2019-05-10-cafe-in-zurich.md, line 14: "
        '{% include figure.html src="/assets/cafe.jpg" caption="The café" %}'
    ]
    liquid = post_body(client, "/posts/notes-on-liquid")  # Liquid shown as code on purpose is left as it is
    assert "<code>{{ page.title }}</code>" in liquid and "{% for post in site.posts %}" in liquid


def test_drafts_and_unpublished_posts_stay_private(app, client):
    run_import(app, JEKYLL)
    run_import(app, HUGO)
    for slug in ("half-written-thoughts", "not-ready", "unfinished"):
        assert client.get(f"/posts/{slug}").status_code == 404
    assert client.get("/2021/03/01/not-ready.html").status_code == 404
    assert client.get("/posts/unfinished/").status_code == 404
    index = page_text(client.get("/"))
    assert "Half-written" not in index and "Not ready yet" not in index and "Comet notes" not in index


def test_only_posts_are_imported_not_pages_readmes_or_themes(app):
    run_import(app, JEKYLL)
    run_import(app, HUGO)
    with app.app_context():
        titles = set(db.session.scalars(select(Post.title)))
    assert "About" not in titles and "marta.example" not in titles
    assert "A theme's sample post" not in titles and "Clear skies" not in titles


def test_hugo_posts_with_toml_and_yaml_front_matter_and_a_page_bundle(app, client):
    summary = run_import(app, HUGO)

    assert (summary.posts, summary.drafts) == (3, 1)
    html = page_text(client.get("/posts/first-light"))
    assert "<h1>First light</h1>" in html and "Saturn's rings, at last" in html
    assert '<time datetime="2021-06-02T04:30:00+00:00">2 June 2021</time>' in html  # 21:30 in California
    assert 'rel="tag">Astronomy</a>' in html and 'rel="tag">Gear</a>' in html
    assert '<pre tabindex="0"><code class="language-go"><span class="nx">fmt</span>' in post_body(
        client, "/posts/first-light"
    )
    assert summary.shortcodes == [
        'content/posts/first-light.md, line 12: {{< figure src="saturn.jpg" title="Saturn" >}}'
    ]
    bundle = page_text(client.get("/posts/moonrise-over-the-lake"))  # the bundle's folder names it
    assert "<h1>Moonrise over the lake</h1>" in bundle and "came up orange" in bundle
    assert '<time datetime="2021-07-23T20:10:00+00:00">' in bundle and 'rel="tag">Photography</a>' in bundle


@pytest.mark.parametrize(
    ("site", "old", "new"),
    [
        (JEKYLL, "/travel/2019/05/10/cafe-in-zurich.html", "/posts/cafe-in-zurich"),  # Jekyll's default
        (JEKYLL, "/cafe/", "/posts/cafe-in-zurich"),  # redirect_from
        (JEKYLL, "/2019/05/cafe.html", "/posts/cafe-in-zurich"),
        (JEKYLL, "/notes/liquid/", "/posts/notes-on-liquid"),  # permalink
        (JEKYLL, "/notes/liquid", "/posts/notes-on-liquid"),
        (HUGO, "/posts/first-light/", "/posts/first-light"),  # Hugo's default
        (HUGO, "/2021/06/first-light.html", "/posts/first-light"),  # aliases
        (HUGO, "/old/first-light/", "/posts/first-light"),
        (HUGO, "/posts/moonrise-over-the-lake/", "/posts/moonrise-over-the-lake"),
    ],
)
def test_every_old_address_redirects_permanently_to_the_new_post(app, client, site, old, new):
    run_import(app, site)
    response = client.get(old)
    assert response.status_code == 301 and response.headers["Location"] == new


def test_running_the_import_twice_adds_nothing(app):
    run_import(app, JEKYLL)
    run_import(app, HUGO)
    before = count(app, Post.id), count(app, Tag.id), count(app, LegacyAddress.path)
    again = run_import(app, JEKYLL)
    assert (again.posts, again.already_there) == (0, 4)
    assert run_import(app, HUGO).already_there == 3
    assert (count(app, Post.id), count(app, Tag.id), count(app, LegacyAddress.path)) == before


def test_a_post_whose_address_is_taken_gets_a_suffix_and_it_is_said(app, client, make_post):
    make_post(title="Older café", slug="cafe-in-zurich")
    summary = run_import(app, JEKYLL)
    assert any(
        "/posts/cafe-in-zurich was taken; this post is at /posts/cafe-in-zurich-2" in n for n in summary.adjustments
    )
    assert client.get("/cafe/").headers["Location"] == "/posts/cafe-in-zurich-2"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "bad-yaml.md",
            "---\ntitle: Fine\ntags: [one, two\ndate: 2020-01-01\n---\nText.\n",
            r"bad-yaml.md: the YAML front matter does not parse \(line 4, column 5: .*\); left out\.",
        ),
        (
            "bad-toml.md",
            '+++\ntitle = "Fine"\ndate = 2020-01-01\ntags = ["one" "two"]\n+++\nText.\n',
            r"bad-toml.md: the TOML front matter does not parse: .*\(line 4, column \d+\); left out\.",
        ),
        ("unclosed.md", "---\ntitle: Never closed\n\nText.\n", r"opened with --- on line 1 is never closed"),
        ("list.md", "---\n- just\n- a list\n---\nText.\n", r"list.md: the YAML front matter is not a list of keys"),
    ],
    ids=["YAML", "TOML", "unclosed", "not a mapping"],
)
def test_a_file_with_broken_front_matter_is_named_and_left_out_and_the_rest_imported(
    app, client, tmp_path, name, text, message
):
    site = copy_of(HUGO, tmp_path)
    (site / "content" / "posts" / name).write_text(text, encoding="utf-8")
    summary = run_import(app, site)
    assert summary.posts == 3 and len(summary.left_out) == 1
    assert summary.left_out[0].startswith(f"content/posts/{name}: ")
    assert re.search(message, summary.left_out[0]), summary.left_out[0]
    assert client.get("/posts/first-light").status_code == 200


def test_files_that_are_not_utf8_too_large_or_links_out_of_the_folder_are_refused_by_name(app, tmp_path):
    site = copy_of(HUGO, tmp_path)
    posts = site / "content" / "posts"
    (posts / "latin1.md").write_bytes(b"---\ntitle: Caf\xe9\n---\nText.\n")
    (posts / "huge.md").write_text("---\ntitle: Huge\n---\n" + "x" * (3 * 1024 * 1024), encoding="utf-8")
    secret = tmp_path / "secret.md"
    secret.write_text("---\ntitle: Outside\n---\nPrivate.\n", encoding="utf-8")
    os.symlink(secret, posts / "outside.md")
    summary = run_import(app, site)
    assert summary.posts == 3
    assert sorted(summary.left_out) == [
        "content/posts/huge.md: 3.0 MB, over the 2 MB a Markdown file may be; left out.",
        "content/posts/latin1.md: not UTF-8 text (line 2, byte 15); left out.",
        "content/posts/outside.md: a link to a file outside the folder; refused.",
    ]


def test_a_zip_of_the_folder_imports_the_same_posts(app, client, tmp_path):
    archive = Path(shutil.make_archive(str(tmp_path / "site"), "zip", FIXTURES, "jekyll"))
    summary = run_import(app, archive)
    assert (summary.posts, summary.drafts) == (4, 2)
    assert client.get("/cafe/").headers["Location"] == "/posts/cafe-in-zurich"


def test_a_zip_of_just_the_posts_folder_still_reads_as_jekyll(app, client, tmp_path):
    archive = Path(shutil.make_archive(str(tmp_path / "posts"), "zip", JEKYLL, "_posts"))
    assert run_import(app, archive).posts == 3
    assert client.get("/travel/2019/05/10/cafe-in-zurich.html").headers["Location"] == "/posts/cafe-in-zurich"


def test_a_zip_whose_paths_lead_out_of_the_folder_is_refused_for_those_files(app, tmp_path):
    archive = tmp_path / "site.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("posts/good.md", "---\ntitle: Good\ndate: 2020-02-02\n---\nFine.\n")
        out.writestr("../../evil.md", "---\ntitle: Evil\n---\nNo.\n")
    summary = run_import(app, archive)
    assert summary.posts == 1
    assert summary.left_out == ["../../evil.md: a path that leads out of the folder; refused."]


def test_pelican_metadata_headers_are_read(app, client, tmp_path):
    site = tmp_path / "pelican" / "content"
    site.mkdir(parents=True)
    (site / "first.md").write_text(
        "Title: My first review\nDate: 2010-12-03 10:20\nTags: thats, awesome\nSlug: my-super-post\n"
        "Summary: Short version for index and feeds\n\nThis is the content of my super blog post.\n",
        encoding="utf-8",
    )
    (site / "later.md").write_text("Title: Later\nDate: 2011-01-01\nStatus: draft\n\nNot yet.\n", encoding="utf-8")
    summary = run_import(app, site.parent)
    assert (summary.posts, summary.drafts) == (2, 1)
    html = page_text(client.get("/posts/my-super-post"))
    assert "<h1>My first review</h1>" in html and 'rel="tag">awesome</a>' in html
    assert "This is the content of my super blog post." in html
    assert client.get("/my-super-post.html").headers["Location"] == "/posts/my-super-post"
    with app.app_context():  # without a Slug:, Pelican names the post after its title
        assert db.session.get(LegacyAddress, "/later.html").post_id == db.session.scalar(
            select(Post.id).filter_by(slug="later")
        )


def test_a_file_without_front_matter_takes_its_title_from_its_first_heading(app, client, tmp_path):
    site = tmp_path / "notes"
    site.mkdir()
    (site / "plain-notes.md").write_text("# Plain notes\n\nJust Markdown.\n", encoding="utf-8")
    summary = run_import(app, site)
    html = page_text(client.get("/posts/plain-notes"))
    assert "<h1>Plain notes</h1>" in html and "Just Markdown." in html
    assert "plain-notes.md: no date; the post is dated with the time of the import." in summary.adjustments


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing", "is neither a folder nor a zip"),
        (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "has no Markdown files"),
    ],
    ids=["missing", "no Markdown"],
)
def test_a_path_that_is_not_a_site_is_refused_and_nothing_imported(app, tmp_path, make, message):
    with pytest.raises(TransferError, match=message):
        run_import(app, make(tmp_path))
    assert count(app, Post.id) == 0


def test_import_folder_command_prints_a_summary_and_refuses_with_a_message(app, runner, tmp_path):
    result = runner.invoke(args=["import-folder", str(HUGO)])
    assert result.exit_code == 0, result.output
    assert (
        "Imported 3 posts from a static site (1 as drafts); 5 old addresses redirect. Already imported before: 0."
        in result.output
    )
    assert 'content/posts/first-light.md, line 12: {{< figure src="saturn.jpg"' in result.output
    not_a_site = tmp_path / "notes.txt"
    not_a_site.write_text("hello", encoding="utf-8")
    refused = runner.invoke(args=["import-folder", str(not_a_site)])
    assert refused.exit_code == 1 and "Nothing was imported: notes.txt is neither a folder nor a zip" in refused.output


def test_long_lines_of_backticks_or_template_openings_import_in_linear_time(app, client, tmp_path):
    site = copy_of(HUGO, tmp_path)
    long_lines = "`" * 100_000 + "x\n\n" + "{{<" * 33_000 + "\n\n" + "{%" * 50_000 + "\n"
    (site / "content" / "posts" / "long.md").write_text(f"---\ntitle: Long\n---\n{long_lines}", encoding="utf-8")
    summary = run_import(app, site)
    assert summary.posts == 4 and summary.left_out == []
    assert not [tag for tag in summary.shortcodes if tag.startswith("content/posts/long.md")]
    with app.app_context():
        assert db.session.scalar(select(Post.body).where(Post.slug == "long")) == long_lines


@pytest.mark.parametrize(
    ("line", "marked", "tags"),
    [
        ("a `{{ x }}` b {{ y }}", "a `{{ x }}` b `{{ y }}`", ["{{ y }}"]),
        ("``a ` {% b %}`` {% c %}", "``a ` {% b %}`` `{% c %}`", ["{% c %}"]),
        ("`` {{ z }} ` end", "`` `{{ z }}` ` end", ["{{ z }}"]),
        ("{{< figure src=`a` >}} {{% note %}}", "``{{< figure src=`a` >}}`` `{{% note %}}`", None),
        ("{{< open {{ x }}", "`{{< open {{ x }}`", ["{{< open {{ x }}"]),
        ("{{%}} and {{ no end", "`{{%}}` and {{ no end", ["{{%}}"]),
    ],
)
def test_template_tags_outside_code_spans_are_marked_as_written(line, marked, tags):
    from transfer.static_site import _marked_line

    found: list[str] = []
    assert _marked_line(line, found.append) == marked
    if tags is not None:
        assert found == tags


def test_a_named_pipe_or_a_link_to_itself_is_left_out_by_name_and_the_rest_imported(app, tmp_path):
    site = copy_of(HUGO, tmp_path)
    posts = site / "content" / "posts"
    os.mkfifo(posts / "pipe.md")
    os.symlink("loop.md", posts / "loop.md")
    summary = run_import(app, site)
    assert summary.posts == 3
    assert sorted(summary.left_out) == [
        "content/posts/loop.md: a link that leads round in a circle; left out.",
        "content/posts/pipe.md: not a regular file (a pipe, device or socket); left out.",
    ]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("month.md", "---\ntitle: M\ndate: 2020-13-45\n---\nx\n", r"YAML front matter has a value that cannot be read"),
        ("year0.md", "---\ntitle: Y\ndate: 0000-01-01\n---\nx\n", r"YAML front matter has a value that cannot be read"),
        ("zone.md", "---\ntitle: Z\ndate: 2020-01-01 00:00:00 +99:00\n---\nx\n", r"cannot be read"),
        ("deep.md", "+++\ntitle = 'D'\ntags = " + "[" * 5000 + "]" * 5000 + "\n+++\nx\n", r"TOML .* nested too deeply"),
    ],
)
def test_front_matter_values_that_cannot_be_built_leave_the_file_out_by_name(app, tmp_path, name, text, message):
    site = copy_of(HUGO, tmp_path)
    (site / "content" / "posts" / name).write_text(text, encoding="utf-8")
    summary = run_import(app, site)
    assert summary.posts == 3 and len(summary.left_out) == 1
    assert summary.left_out[0].startswith(f"content/posts/{name}: the ")
    assert re.search(message, summary.left_out[0]), summary.left_out[0]


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+05:00", "'9999-12-31T23:00:00-05:00'"])
def test_a_date_that_overflows_in_utc_is_not_used_and_said(app, client, tmp_path, when):
    site = copy_of(HUGO, tmp_path)
    (site / "content" / "posts" / "edge.md").write_text(f"---\ntitle: Edge\ndate: {when}\n---\nx\n", "utf-8")
    summary = run_import(app, site)
    assert summary.posts == 4 and summary.left_out == []
    assert any(note.startswith("content/posts/edge.md: the date ") for note in summary.adjustments)
    assert "content/posts/edge.md: no date; the post is dated with the time of the import." in summary.adjustments
    assert client.get("/posts/edge").status_code == 200


def test_a_malformed_alias_is_skipped_and_said_and_the_others_redirect(app, client, tmp_path):
    site = copy_of(HUGO, tmp_path)
    text = "---\ntitle: Aliased\ndate: 2020-02-02\naliases: ['http://[x/y', '/old/aliased/']\n---\nx\n"
    (site / "content" / "posts" / "aliased.md").write_text(text, encoding="utf-8")
    summary = run_import(app, site)
    assert summary.posts == 4 and summary.left_out == []
    assert (
        "content/posts/aliased.md: the old address 'http://[x/y' is too long or not an address; left out."
        in summary.adjustments
    )
    assert client.get("/old/aliased/").headers["Location"] == "/posts/aliased"


def test_zip_members_that_are_encrypted_oddly_compressed_or_damaged_are_left_out_by_name(app, tmp_path):
    archive = tmp_path / "site.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("posts/good.md", "---\ntitle: Good\ndate: 2020-02-02\n---\nFine.\n")
        for name in ("secret", "odd", "crc", "deflate"):
            out.writestr(f"posts/{name}.md", b"\xff\xff---\ntitle: Bad\n---\nNo.\n")
        members = {info.filename: info for info in out.infolist()}
        members["posts/secret.md"].flag_bits |= 0x1  # encrypted
        members["posts/odd.md"].compress_type = 99  # a method zipfile does not know
        members["posts/crc.md"].CRC ^= 1
        members["posts/deflate.md"].compress_type = zipfile.ZIP_DEFLATED  # stored bytes are not deflate data
    summary = run_import(app, archive)
    assert summary.posts == 1
    crc, deflate, odd, secret = sorted(summary.left_out)
    assert crc.endswith("(its data is damaged: Bad CRC-32 for file 'posts/crc.md'); left out.")
    assert deflate.startswith("posts/deflate.md: cannot be unpacked (its data is damaged: ")  # zlib's own words follow
    assert odd == "posts/odd.md: cannot be unpacked (its compression method is not supported); left out."
    assert secret == "posts/secret.md: cannot be unpacked (it is encrypted); left out."
