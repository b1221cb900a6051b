"""Properties of the sanitizer, searched for counter-examples with Hypothesis rather than listed by hand.

For any text, HTML fragment or Markdown built from a grammar of dangerous pieces, the HTML Inkwell renders for
comments and posts, parsed as a browser would (html5lib), holds only allowed elements and attributes, no
``on*`` attribute, and no address whose scheme (after entities and whitespace are decoded) is not http, https
or mailto; and sanitizing the output again changes nothing.

``HYPOTHESIS_PROFILE=fuzz`` (``make fuzz``) runs many more examples than `make test` does.
"""

from __future__ import annotations

import html
import os
import re

import bleach
import html5lib
from hypothesis import HealthCheck
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from helpers import parsed
from helpers import problems
from markup import COMMENT_ATTRIBUTES
from markup import COMMENT_TAGS
from markup import POST_ATTRIBUTES
from markup import POST_TAGS
from markup import SAFE_PROTOCOLS
from markup import plain_text
from markup import render_comment
from markup import render_post
from markup import text_of_rendered_comment
from sanitizer import KeepLeadingNewlineInPre

settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=20_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


TAGS = [
    "script", "img", "a", "svg", "math", "iframe", "object", "embed", "style", "noscript", "template", "textarea",
    "title", "xmp", "form", "input", "button", "details", "video", "audio", "base", "meta", "link", "table",
    "mglyph", "mtext", "select", "option", "p", "em", "code", "pre", "blockquote", "b", "i", "div", "span",
]  # fmt: skip
ATTRIBUTES = [
    "onerror", "onload", "onclick", "onmouseover", "ontoggle", "onfocus", "href", "src", "style", "srcset",
    "formaction", "action", "xlink:href", "title", "alt", "rel", "class", "id", "autofocus", "open", "data",
]  # fmt: skip
PROTOCOLS = [
    "javascript:", "JaVaScRiPt:", "java\tscript:", "java\nscript:", " javascript:", "jav&#x61;script:",
    "jav&#97;script:", "&#106;avascript:", "javascript&colon;", "vbscript:", "data:text/html,", "data:image/svg+xml,",
    "livescript:", "http://", "https://", "mailto:", "//", "/", "#", "",
]  # fmt: skip
PAYLOADS = ["alert(1)", "alert`1`", "x", "evil.example/a?b=c", "<script>alert(1)</script>", "'\"><img src=x>"]
BREAKERS = [
    "<", ">", "\"", "'", "`", "</", "-->", "<!--", "<![CDATA[", "]]>", "&", "&#", "&#x", ";", "\x00", "\u2028",
    "\\", "=", "/", " ", "\n", "\t", "](", "[", "![", "**", "`", "> ", "* ", "1. ", "    ",
]  # fmt: skip

attribute_value = st.builds(lambda p, v: p + v, st.sampled_from(PROTOCOLS), st.sampled_from(PAYLOADS))
quote = st.sampled_from(['"', "'", ""])
attribute = st.builds(
    lambda name, q, value: f" {name}={q}{value}{q}", st.sampled_from(ATTRIBUTES), quote, attribute_value
)
open_tag = st.builds(
    lambda tag, attributes, close: f"<{tag}{''.join(attributes)}{close}>",
    st.sampled_from(TAGS),
    st.lists(attribute, max_size=3),
    st.sampled_from(["", "/", " /"]),
)
close_tag = st.builds(lambda tag: f"</{tag}>", st.sampled_from(TAGS))
markdown_link = st.builds(
    lambda text, address, title: f"[{text}]({address}{title})",
    st.sampled_from(["x", "click", "<b>x</b>"]),
    attribute_value,
    st.sampled_from(["", ' "title"', " 'x\" onerror=\"alert(1)'"]),
)
markdown_image = st.builds(
    lambda alt, address: f"![{alt}]({address})", st.sampled_from(["x", 'a" onerror="b']), attribute_value
)
autolink = st.builds(lambda address: f"<{address}>", attribute_value)
reference = st.builds(
    lambda label, address: f"[x][{label}]\n\n[{label}]: {address}\n", st.sampled_from(["a", "1"]), attribute_value
)
entity = st.sampled_from(
    ["&lt;", "&gt;", "&amp;", "&quot;", "&#60;", "&#x3C;", "&#0;", "&#xD800;", "&nbsp;", "&bogus;"]
)
piece = st.one_of(
    open_tag, close_tag, markdown_link, markdown_image, autolink, reference, entity,
    st.sampled_from(BREAKERS), st.text(max_size=12),
)  # fmt: skip
hostile_text = st.lists(piece, max_size=12).map("".join)


@given(hostile_text)
def test_rendered_comments_hold_only_allowed_elements_attributes_and_addresses(text):
    rendered = render_comment(text)
    assert problems(rendered, COMMENT_TAGS, COMMENT_ATTRIBUTES) == []


@given(hostile_text)
def test_rendered_posts_hold_only_allowed_elements_attributes_and_addresses(text):
    rendered = render_post(text)
    assert problems(rendered, POST_TAGS, POST_ATTRIBUTES) == []


def as_a_browser_reads_it(fragment: str) -> str:
    """The document a browser builds from ``fragment``, written out again (``<pre>\n`` and ``<pre>`` are the same)."""
    return html5lib.serialize(parsed(fragment), tree="etree", quote_attr_values="always", omit_optional_tags=False)


@given(hostile_text)
@example("<pre><details><details>")  # lost a newline each time it was cleaned, before KeepLeadingNewlineInPre
def test_sanitizing_rendered_html_again_changes_nothing(text):
    for rendered, tags, attributes in (
        (render_comment(text), COMMENT_TAGS, COMMENT_ATTRIBUTES),
        (render_post(text), POST_TAGS, POST_ATTRIBUTES),
    ):
        cleaner = bleach.Cleaner(
            tags=tags, attributes=attributes, protocols=SAFE_PROTOCOLS, strip=True, filters=[KeepLeadingNewlineInPre]
        )
        again = cleaner.clean(rendered)
        assert as_a_browser_reads_it(again) == as_a_browser_reads_it(rendered)


@given(st.one_of(hostile_text, st.text(max_size=200)))
@example("[a](https://example.com 'ti>t<l') &amp;lt; <b title=\"x>y\">z</b>")
def test_the_text_of_a_rendered_comment_is_read_without_parsing_it_again(text):
    """The comment form's check for visible text takes the tags out of the sanitizer's HTML rather than parsing it
    again: it must read the same text as a parser does."""
    rendered = render_comment(text)
    assert text_of_rendered_comment(rendered) == plain_text(rendered)


@given(st.text(max_size=200))
def test_any_text_at_all_renders_without_error_and_keeps_its_words(text):
    rendered = render_comment(text)
    assert isinstance(rendered, str)
    for word in re.findall(r"[A-Za-z]{4,}", text)[:3]:
        assert word in html.unescape(rendered) or word.lower() in ("http", "https", "mailto")
