"""Readers and crawlers find posts: tags, archive, search, feeds, the sitemap, and sharing metadata.

Drafts and scheduled posts appear in none of them.
"""

from __future__ import annotations

import json
import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from xml.etree import ElementTree

import feedparser
import pytest

from database import now_utc
from helpers import csrf_token
from helpers import page_text
from helpers import post_comment
from models import PostStatus

SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


@pytest.fixture
def blog(make_post):
    """Published posts across two months and tags, plus a draft and a scheduled post."""
    may, june = datetime(2025, 5, 10, 12, tzinfo=UTC), datetime(2025, 6, 3, 9, tzinfo=UTC)
    make_post("Spring garden", body="Tulips and **daffodils** in the garden.", published_at=may, tags=("Garden",))
    make_post("Harbour at dawn", body="Boats, gulls and the first ferry.", published_at=june, tags=("Travel", "Garden"))
    make_post("Quiet notes", body="Nothing about plants here.", published_at=june + timedelta(days=1))
    make_post("Secret draft", body="garden plans", status=PostStatus.draft, tags=("Garden",))
    make_post("Future garden", body="garden later", published_at=now_utc() + timedelta(days=3), tags=("Garden",))


def titles(html: str) -> list[str]:
    return re.findall(r'<article class="summary">\s*<h2><a href="[^"]+">(.*?)</a>', html)


def test_tags_page_lists_tags_with_published_post_counts(client, blog):
    html = page_text(client.get("/tags/"))
    assert re.search(r'href="/tags/garden" rel="tag">Garden</a> <span class="count">2 posts</span>', html)
    assert re.search(r'href="/tags/travel" rel="tag">Travel</a> <span class="count">1 post</span>', html)


def test_tag_page_paginates_and_hides_unpublished_posts(client, blog):
    assert titles(page_text(client.get("/tags/garden"))) == ["Harbour at dawn", "Spring garden"]
    assert client.get("/tags/unknown").status_code == 404
    assert client.get("/tags/garden?page=2").status_code == 404


def test_archive_groups_posts_by_year_and_month(client, blog):
    html = page_text(client.get("/archive"))
    assert re.search(r'<a href="/archive/2025/6">June 2025</a>\s*<span class="count">2 posts</span>', html)
    assert re.search(r'<a href="/archive/2025/5">May 2025</a>\s*<span class="count">1 post</span>', html)
    assert html.index("June 2025") < html.index("May 2025")
    assert "Secret draft" not in html and "Future garden" not in html
    assert "Spring garden" in html


def test_archive_month_lists_that_months_posts(client, blog):
    assert titles(page_text(client.get("/archive/2025/6"))) == ["Quiet notes", "Harbour at dawn"]
    assert "<title>June 2025 · Inkwell</title>" in page_text(client.get("/archive/2025/6"))


@pytest.mark.parametrize(
    "path",
    [
        "/archive/2025/13",
        "/archive/2025/0",
        "/archive/99999/1",
        "/archive/2024/1",
        "/archive/abc/1",
        "/archive/2025/-1",
    ],
)
def test_impossible_or_empty_months_are_404(client, blog, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "Traceback" not in page_text(response)


def test_search_finds_title_tag_and_body_matches_ranking_titles_first(client, blog):
    html = page_text(client.get("/search?q=garden"))
    assert titles(html)[0] == "Spring <mark>garden</mark>"
    assert [re.sub("</?mark>", "", t) for t in titles(html)] == ["Spring garden", "Harbour at dawn"]
    assert "Secret draft" not in html and "Future garden" not in html
    assert "2 posts match “garden”." in html


def test_search_highlights_matching_words_in_the_excerpt(client, blog):
    html = page_text(client.get("/search?q=DAFFODILS"))
    assert "Tulips and <mark>daffodils</mark> in the garden." in html


def test_search_highlighting_is_escaped(client, make_post):
    make_post("Ampersands & angles", body="Use &lt;b&gt; & amp carefully: amp.")
    html = page_text(client.get("/search?q=amp"))
    assert "&amp;lt;" not in html.replace("&amp;lt;b&amp;gt;", "")
    assert "<mark>amp</mark>" in html and "<b>" not in html


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '"unbalanced',
        "*",
        "garden*",
        "NEAR",
        "garden NEAR plants",
        "(",
        "garden)",
        "a OR",
        "-garden",
        "^x",
        "title:garden",
        "x" * 10_000,
        "   ",
        "'; DROP TABLE posts; --",
        "%",
        "🌷",
    ],
)
def test_any_query_gets_a_friendly_page(client, blog, query):
    response = client.get("/search", query_string={"q": query})
    assert response.status_code == 200
    assert "Search" in page_text(response)


def test_search_with_nothing_typed_explains_itself(client, blog):
    assert "Type a few words" in page_text(client.get("/search"))
    assert "has none" in page_text(client.get("/search?q=%22%2A%28"))


def test_search_finds_a_post_right_after_it_is_edited(client, admin, make_post):
    post = make_post("Plain title", body="Ordinary words.", author=admin)
    assert "No posts match" in page_text(client.get("/search?q=xylophone"))
    token = csrf_token(client, f"/admin/posts/{post.id}/edit")
    client.post(
        f"/admin/posts/{post.id}/edit",
        data={
            "csrf_token": token,
            "title": "Plain title",
            "slug": post.slug,
            "body": "A xylophone solo.",
            "status": "published",
            "comments_open": "y",
            "action": "save",
        },
    )
    assert titles(page_text(client.get("/search?q=xylophone"))) == ["Plain title"]
    token = csrf_token(client, f"/admin/posts/{post.id}/delete")
    client.post(f"/admin/posts/{post.id}/delete", data={"csrf_token": token})
    assert "No posts match" in page_text(client.get("/search?q=xylophone"))


def test_reindex_command_rebuilds_the_index(client, runner, blog):
    result = runner.invoke(args=["reindex"])
    assert "Indexed 5 posts for search." in result.output
    assert len(titles(page_text(client.get("/search?q=garden")))) == 2


def test_posts_feed_is_valid_atom_with_published_posts_only(client, blog):
    response = client.get("/feed.xml")
    feed = feedparser.parse(response.data)
    assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    assert [e.title for e in feed.entries] == ["Quiet notes", "Harbour at dawn", "Spring garden"]
    entry = feed.entries[1]
    assert entry.id == entry.link == "http://localhost/posts/harbour-at-dawn"
    assert entry.author == "Inkwell" and entry.updated and entry.published
    assert "<p>Boats, gulls and the first ferry.</p>" in entry.content[0].value
    assert feed.feed.links[0].href == "http://localhost/feed.xml"
    assert len({e.id for e in feed.entries}) == len(feed.entries)


def test_tag_feed_lists_that_tags_posts(client, blog):
    feed = feedparser.parse(client.get("/tags/garden/feed.xml").data)
    assert not feed.bozo
    assert [e.title for e in feed.entries] == ["Harbour at dawn", "Spring garden"]
    assert client.get("/tags/nope/feed.xml").status_code == 404


def test_comment_feed_is_valid_atom(client, make_post):
    post = make_post("Discussed")
    post_comment(client, post.slug, body="A *remark*")
    feed = feedparser.parse(client.get(f"/posts/{post.slug}/comments.xml").data)
    assert not feed.bozo and [e.author for e in feed.entries] == ["Ada"]


@pytest.mark.parametrize("path", ["/feed.xml", "/tags/garden/feed.xml", "/sitemap.xml"])
def test_feeds_answer_304_when_the_reader_already_has_them(client, blog, path):
    first = client.get(path)
    assert first.headers["ETag"]
    again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    if "Last-Modified" in first.headers:
        since = client.get(path, headers={"If-Modified-Since": first.headers["Last-Modified"]})
        assert since.status_code == 304


def test_feed_changes_when_a_post_is_published(client, blog, make_post):
    etag = client.get("/feed.xml").headers["ETag"]
    make_post("Brand new")
    assert client.get("/feed.xml", headers={"If-None-Match": etag}).status_code == 200


def test_sitemap_lists_exactly_the_published_addresses(client, blog):
    tree = ElementTree.fromstring(client.get("/sitemap.xml").data)
    locations = {url.find(f"{SITEMAP}loc").text for url in tree.findall(f"{SITEMAP}url")}
    assert locations == {
        "http://localhost/",
        "http://localhost/posts/spring-garden",
        "http://localhost/posts/harbour-at-dawn",
        "http://localhost/posts/quiet-notes",
        "http://localhost/tags/garden",
        "http://localhost/tags/travel",
    }
    post = next(u for u in tree.findall(f"{SITEMAP}url") if u.find(f"{SITEMAP}loc").text.endswith("quiet-notes"))
    assert post.find(f"{SITEMAP}lastmod").text


def test_large_sitemaps_become_an_index_of_parts(make_app, blog):
    client = make_app(SITEMAP_MAX_URLS=4).test_client()
    index = ElementTree.fromstring(client.get("/sitemap.xml").data)
    parts = [s.find(f"{SITEMAP}loc").text for s in index.findall(f"{SITEMAP}sitemap")]
    assert parts == ["http://localhost/sitemap-1.xml", "http://localhost/sitemap-2.xml"]
    counts = [len(ElementTree.fromstring(client.get(p.removeprefix("http://localhost")).data)) for p in parts]
    assert counts == [4, 2]
    assert client.get("/sitemap-3.xml").status_code == 404


def test_robots_txt_names_the_sitemap(client):
    text = client.get("/robots.txt").get_data(as_text=True)
    assert "Sitemap: http://localhost/sitemap.xml" in text and "Disallow: /admin/" in text


def test_post_page_carries_canonical_open_graph_and_json_ld(make_app, make_post):
    client = make_app(SITE_URL="https://blog.example.com/").test_client()
    make_post("Older", published_at=now_utc() - timedelta(days=2))
    post = make_post("Seen from afar", body="![Boats](/uploads/boats.png)\n\n" + "word " * 460, tags=("Travel",))
    make_post("Newer", published_at=now_utc() - timedelta(minutes=1))

    html = page_text(client.get(f"/posts/{post.slug}"))

    assert '<link rel="canonical" href="https://blog.example.com/posts/seen-from-afar">' in html
    assert '<meta property="og:title" content="Seen from afar">' in html
    assert '<meta property="og:type" content="article">' in html
    assert '<meta property="og:image" content="https://blog.example.com/uploads/boats.png">' in html
    assert '<meta name="twitter:card" content="summary_large_image">' in html
    data = json.loads(html.split('<script type="application/ld+json">', 1)[1].split("</script>", 1)[0])
    assert data["@type"] == "BlogPosting" and data["headline"] == "Seen from afar"
    assert data["url"] == "https://blog.example.com/posts/seen-from-afar"
    assert data["image"] == "https://blog.example.com/uploads/boats.png" and data["keywords"] == ["Travel"]
    assert "2 min read" in html
    assert 'rel="prev" href="/posts/older"' in html and 'rel="next" class="next" href="/posts/newer"' in html


def test_json_ld_cannot_break_out_of_its_script_element(client, make_post):
    post = make_post("</script><script>alert(1)</script>", slug="sneaky")
    html = page_text(client.get(f"/posts/{post.slug}"))
    data_block = html.split('<script type="application/ld+json">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data_block
    assert json.loads(data_block)["headline"] == "</script><script>alert(1)</script>"


def test_canonical_falls_back_to_the_request_host_and_keeps_the_page(make_app, make_post):
    client = make_app(POSTS_PER_PAGE=1).test_client()
    make_post("One")
    make_post("Two", published_at=now_utc() - timedelta(days=1))
    html = page_text(client.get("/?page=2"))
    assert '<link rel="canonical" href="http://localhost/?page=2">' in html
    assert '<link rel="prev" href="http://localhost/">' in html
    assert "<title>Page 2 · Inkwell</title>" in html


def test_every_page_has_its_own_title_and_description(client, blog):
    pages = ["/", "/tags/", "/tags/garden", "/archive", "/archive/2025/6", "/posts/spring-garden", "/search?q=x"]
    seen_titles, seen_descriptions = set(), set()
    for path in pages:
        html = page_text(client.get(path))
        seen_titles.add(re.search(r"<title>(.*?)</title>", html).group(1))
        seen_descriptions.add(re.search(r'<meta name="description" content="(.*?)">', html).group(1))
    assert len(seen_titles) == len(pages) and len(seen_descriptions) == len(pages)


def test_language_comes_from_the_setting(make_app):
    assert '<html lang="fr">' in page_text(make_app(BLOG_LANGUAGE="fr").test_client().get("/"))


def test_header_has_a_search_box_and_the_feed_is_advertised(client):
    html = page_text(client.get("/"))
    assert '<form class="site-search" role="search" method="get" action="/search">' in html
    assert '<link rel="alternate" type="application/atom+xml" title="Inkwell" href="http://localhost/feed.xml">' in html


def test_tags_carried_only_by_drafts_or_scheduled_posts_are_not_found_anywhere(client, make_post):
    make_post("Shown", tags=("Public",))
    make_post("Secret draft", status=PostStatus.draft, tags=("Surprise launch",))
    make_post("Scheduled", published_at=now_utc() + timedelta(days=3), tags=("Next week",))

    for slug in ("surprise-launch", "next-week"):
        page, feed = client.get(f"/tags/{slug}"), client.get(f"/tags/{slug}/feed.xml")
        assert (page.status_code, feed.status_code) == (404, 404), slug
        assert "There is no tag by that name." in page_text(page)  # as for a tag that does not exist
        assert "Surprise" not in page_text(page) + page_text(feed) and "Next week" not in page_text(page)
    elsewhere = "".join(
        page_text(client.get(path)) for path in ("/tags/", "/sitemap.xml", "/", "/feed.xml", "/archive")
    )
    elsewhere += page_text(client.get("/search?q=surprise")) + page_text(client.get("/search?q=week"))
    assert "Surprise" not in elsewhere and "surprise-launch" not in elsewhere and "next-week" not in elsewhere
    assert client.get("/tags/public").status_code == 200
