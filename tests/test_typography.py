"""How pages look: the self-hosted fonts, highlighted code and its "Copy" button, the footer, one search box,
and a post as it prints."""

from __future__ import annotations

import importlib.util
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from database import db
from database import now_utc
from helpers import CHROMIUM
from helpers import CHROMIUM_FLAGS
from helpers import CSRF_FIELD
from helpers import PASSWORD
from helpers import ROOT
from helpers import page_text
from helpers import post_comment
from helpers import submit_post
from highlighting import HIGHLIGHT_CLASSES
from highlighting import HIGHLIGHT_SECONDS
from markup import render_post
from models import Comment
from models import Post

FONTS = ROOT / "static" / "fonts"
STYLESHEET = ROOT / "static" / "style.css"
IMMUTABLE = "public, max-age=31536000, immutable"
PRELOAD = re.compile(r'<link rel="preload" href="([^"]+)" as="font" type="font/woff2" crossorigin>')
FONT_URL = re.compile(r"url\((fonts/[^)]+)\)")
CODE = '```python\ndef greet(name):\n    return f"Hello, {name}"  # kind words\n```'
CODE_JS = re.compile(r'<script src="/static/code\.js\?v=\w+" defer></script>')


def build_script(name: str):
    """Import one of bench/'s build scripts as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Fonts


def test_the_fonts_weigh_under_150_kb_together_and_each_family_has_its_licence_beside_it():
    fonts = sorted(FONTS.glob("*.woff2"))

    assert len(fonts) == 6
    assert sum(font.stat().st_size for font in fonts) < 150_000
    for family in ("literata", "inter"):
        assert any(font.name.startswith(f"{family}-") for font in fonts)
        licence = (FONTS / f"OFL-{family}.txt").read_text()
        assert (
            "SIL OPEN FONT LICENSE Version 1.1" in licence and "Reserved Font Name" not in licence.split("PREAMBLE")[0]
        )


def test_every_font_the_stylesheet_names_is_in_static_with_the_address_that_keeps_it_a_year(client):
    css = STYLESHEET.read_text()
    named = FONT_URL.findall(css)

    files = sorted(f"fonts/{font.name}" for font in FONTS.glob("*.woff2"))
    assert sorted(address.split("?")[0] for address in named) == files
    assert css.count("font-display: swap;") == len(named)
    assert not re.search(r"url\((?!fonts/)|@import|https?:", css)  # nothing from another origin
    for address in named:
        response = client.get(f"/static/{address}")
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "font/woff2"
        assert response.headers["Cache-Control"] == IMMUTABLE  # the ?v= is the file's fingerprint


def test_pages_preload_the_upright_latin_fonts_from_their_own_origin_at_the_stylesheets_address(client):
    html = page_text(client.get("/"))
    preloaded = PRELOAD.findall(html)

    assert [address.split("?")[0] for address in preloaded] == [
        "/static/fonts/literata-latin-normal.woff2",
        "/static/fonts/inter-latin-normal.woff2",
    ]
    named = {f"/static/{address}" for address in FONT_URL.findall(STYLESHEET.read_text())}
    assert set(preloaded) <= named  # the same address, so the browser fetches each font once
    assert html.index('rel="preload"') < html.index('rel="stylesheet"')


def test_the_typography_says_why_at_the_top_of_the_stylesheet():
    reasons = STYLESHEET.read_text().split("*/", 1)[0]
    assert "Literata" in reasons and "Inter" in reasons
    assert "65-75" in reasons and "characters" in reasons and "major third" in reasons


# Highlighted code


def test_a_posts_python_code_is_highlighted_with_classes_and_no_style(client, admin):
    submit_post(client, title="Greeting", body="How to greet:\n\n" + CODE)

    page = page_text(client.get("/posts/greeting"))
    code = page.split('<code class="language-python">', 1)[1].split("</code>", 1)[0]

    assert '<span class="k">def</span>' in code and '<span class="nf">greet</span>' in code
    assert '<span class="c1"># kind words</span>' in code
    assert set(re.findall(r'class="([^"]*)"', code)) <= HIGHLIGHT_CLASSES
    assert "style=" not in page
    assert CODE_JS.search(page)


def test_code_without_a_language_or_in_a_language_not_highlighted_stays_plain(client, admin):
    submit_post(client, title="Plain", body="```\nplain <b>\n```\n\n```brainfuck\n+++.\n```")

    page = page_text(client.get("/posts/plain"))

    assert '<pre tabindex="0"><code>plain &lt;b&gt;\n</code></pre>' in page
    assert '<pre tabindex="0"><code class="language-brainfuck">+++.\n</code></pre>' in page


def test_a_fence_with_a_line_too_long_to_lex_safely_is_shown_plain_and_the_rest_highlighted():
    # One line of 19,000 spaces took an INI lexer 9 s inside a single token, before any budget check could run.
    hostile = "```ini\n[" + " " * 19_000 + "\n```\n\n" + "```python\nx = 1\n```"
    long_but_fine = "```python\n" + "x = 1\n" * 2_000 + "```"

    rendered = render_post(hostile)

    assert "<span" not in rendered.split("language-python")[0] and '<span class="n">x</span>' in rendered
    assert "[" + " " * 19_000 in rendered  # shown, every character kept
    assert render_post(long_but_fine).count('<span class="n">x</span>') == 2_000  # many short lines are fine


def test_code_that_would_take_long_to_highlight_is_shown_plain_at_once():
    slow = "```c\n" + "\n" * 19_000 + "int x;\n```\n\n```python\nx = 1\n```"  # quadratic in C's lexer

    started = time.perf_counter()
    rendered = render_post(slow)

    assert time.perf_counter() - started < HIGHLIGHT_SECONDS + 2  # not the minute it would take
    assert "<span" not in rendered and "int x;" in rendered and "x = 1" in rendered
    assert '<span class="n">x</span>' in render_post("```python\nx = 1\n```")  # the budget is per post


def test_a_comment_with_a_code_fence_is_not_highlighted(app, client, make_post):
    make_post("Talk", slug="talk")

    post_comment(client, "talk", name="Ada", body=CODE)

    with app.app_context():
        comment = db.session.query(Comment).one()
    assert comment.body_html.startswith('<pre tabindex="0"><code>def greet(name):')
    assert "<span" not in comment.body_html and "class=" not in comment.body_html


def test_posts_without_code_load_no_script(client, make_post):
    make_post("Words only", slug="words-only")

    assert "<script src" not in page_text(client.get("/posts/words-only"))


def test_the_code_colours_are_those_of_the_pinned_pygments_and_readable_in_both_schemes():
    css = STYLESHEET.read_text()
    builder = build_script("build_code_css")
    expected = "".join(
        f"@media (prefers-color-scheme:{scheme}){{{builder.rules(style)}}}\n"
        for scheme, style in builder.SCHEMES.items()
    )

    assert expected in css  # else: make code-css
    for block in expected.splitlines():
        background = re.search(r"pre\{background:(#\w+)", block).group(1)
        for colour in re.findall(r"(?<!background-)color:(#\w+)", block):
            assert contrast(colour, background) >= 4.5, (colour, background)


def contrast(first: str, second: str) -> float:
    """The WCAG contrast ratio of two #rrggbb colours."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_rerender_brings_saved_posts_up_to_date_and_keeps_their_updated_date(app, runner, make_post):
    post = make_post("Old code", slug="old-code", body=CODE)
    with app.app_context():
        stored = db.session.get(Post, post.id)
        stored.body_html = "<pre><code>def greet(name):\n</code></pre>"  # as it was saved before
        stored.updated_at = updated = now_utc() - timedelta(days=3)
        db.session.commit()

    result = runner.invoke(args=["rerender"])

    assert result.exit_code == 0 and "1 changed" in result.output
    with app.app_context():
        stored = db.session.get(Post, post.id)
        assert '<span class="nf">greet</span>' in stored.body_html
        assert abs(stored.updated_at - updated) < timedelta(seconds=1)
    assert "0 changed" in runner.invoke(args=["rerender"]).output


# Small things


def test_the_search_page_has_one_search_box_and_other_pages_the_headers(client):
    for path in ("/search", "/search?q=welcome"):
        page = page_text(client.get(path))
        assert page.count('type="search"') == 1 and '<label for="search-q">' in page
    assert page_text(client.get("/")).count('type="search"') == 1


def test_the_footer_names_the_blog_and_inkwell_by_default(make_app):
    page = page_text(make_app(BLOG_TITLE="Harbour Notes").test_client().get("/"))
    footer = page.split('<footer class="site-footer">', 1)[1]

    assert "Harbour Notes · Powered by Inkwell" in footer
    assert "is powered by" not in footer


def test_the_footer_links_to_inkwell_when_its_address_is_set_and_says_the_owners_words_when_written(make_app):
    linked = page_text(make_app(INKWELL_URL="https://inkwell.example/").test_client().get("/"))
    assert 'Powered by <a href="https://inkwell.example/">Inkwell</a>' in linked

    owners = page_text(make_app(BLOG_FOOTER="© 2026 Ada. Words under CC BY 4.0.").test_client().get("/"))
    footer = owners.split('<footer class="site-footer">', 1)[1]
    assert "© 2026 Ada. Words under CC BY 4.0." in footer and "Powered by" not in footer


def test_a_printed_post_is_black_on_white_without_navigation_or_forms_and_shows_link_addresses():
    print_rules = STYLESHEET.read_text().split("@media print {", 1)[1]

    assert "--bg: #fff; --fg: #000;" in print_rules
    for hidden in (".site-header nav", ".site-search", ".comment-form", ".copy-code"):
        assert hidden in print_rules.split("display: none")[0]
    assert 'content: " (" attr(href) ")"' in print_rules


# In Chromium

NO_CHROMIUM = "Chromium is not installed (apt-get install chromium)"


def publish_code_post(url: str) -> None:
    """Log in as the owner over HTTP and publish a post with code at /posts/greeting."""
    owner = requests.Session()
    token = CSRF_FIELD.search(owner.get(f"{url}/admin/login").text).group(1)
    owner.post(f"{url}/admin/login", data={"csrf_token": token, "username": "owner", "password": PASSWORD})
    token = CSRF_FIELD.search(owner.get(f"{url}/admin/posts/new").text).group(1)
    post = {"csrf_token": token, "title": "Greeting", "body": CODE, "status": "published", "action": "save"}
    assert owner.post(f"{url}/admin/posts/new", data=post).status_code == 200


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=NO_CHROMIUM)
def test_the_copy_button_copies_the_code_with_javascript_and_is_absent_without(live_server):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    url = live_server()
    publish_code_post(url)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
            page = context.new_page()
            requested = []
            page.on("request", lambda request: requested.append(request.url))
            page.goto(f"{url}/posts/greeting")
            page.evaluate("document.fonts.ready.then(() => true)")
            button = page.get_by_role("button", name="Copy code")
            playwright_api.expect(button).to_have_count(1)
            button.click()
            playwright_api.expect(button).to_have_text("Copied")
            assert page.evaluate("navigator.clipboard.readText()").startswith("def greet(name):\n")
            assert page.evaluate("document.fonts.check('1em Literata') && document.fonts.check('bold 1em Inter')")
            assert [address for address in requested if not address.startswith(f"{url}/")] == []  # one origin
            assert any("/static/fonts/literata-latin-normal.woff2" in address for address in requested)
            context.close()

            context = browser.new_context(java_script_enabled=False)
            page = context.new_page()
            page.goto(f"{url}/posts/greeting")
            assert page.locator("button", has_text="Copy").count() == 0
            assert page.locator("pre code .nf").inner_text() == "greet"  # highlighted all the same
            context.close()
        finally:
            browser.close()
