"""What makes the blog pleasant to read: conversations that read down the page (capped indents, "in reply to",
time order, compact dates, the owner marked, a picture per commenter), cards with a real excerpt, a "Leave a
comment" link, an archive that reads as a timeline, and a comment's edit page with the minutes left and a preview.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from account.tables import UserRole
from avatars import COLOURS
from avatars import avatar
from database import db
from excerpts import opening_text
from helpers import CHROMIUM
from helpers import CHROMIUM_FLAGS
from helpers import CSRF_FIELD
from helpers import ROOT
from helpers import log_in
from helpers import page_text
from helpers import parsed
from helpers import post_comment
from models import Comment
from models import CommentStatus
from threads import comment_thread

COMMENTERS = ["Ada", "Ken", "Grace", "Linus", "Barbara", "Edsger", "Margaret", "Alan"]


def comment_items(html: str) -> list:
    """The comments of the page's thread, as a browser parses them: <li class="comment …"> elements, in order."""
    start, end = html.index('<ol class="comment-list">'), html.index('<section class="comment-form"')
    return [li for li in parsed(html[start:end]).iter("li") if "comment" in li.get("class", "").split()]


def depth_of(li) -> int:
    return int(re.search(r"\bdepth-(\d)\b", li.get("class")).group(1))


def id_of(li) -> int:
    return int(li.get("id").removeprefix("comment-"))


def in_reply_to(li):
    span = next((s for s in li.iter("span") if s.get("class") == "in-reply-to"), None)
    return span.find("a") if span is not None else None


def posted_id(response) -> int:
    assert response.status_code == 303, response.status_code
    return int(re.search(r"#comment-(\d+)$", response.headers["Location"]).group(1))


@pytest.fixture
def conversation(app, make_post):
    """A 40-comment conversation of three levels and deeper, by eight commenters (each in their own browser),
    written in an order where deep replies interleave: returns the post, the ids by comment, and their parents."""
    post = make_post("Talk")
    browsers = {name: app.test_client() for name in COMMENTERS}
    parents: dict[int, int | None] = {}
    names: dict[int, str] = {}

    def say(n: int, parent: int | None = None) -> int:
        name = COMMENTERS[n % len(COMMENTERS)]
        fields = {"name": name, "email": f"{name.lower()}@example.org", "body": f"Comment number {n}."}
        comment_id = posted_id(post_comment(browsers[name], post.slug, parent_id=str(parent or ""), **fields))
        parents[comment_id], names[comment_id] = parent, name
        return comment_id

    n = 0
    roots = []
    for _ in range(4):  # 4 roots, each with 2 replies, then replies to those and replies to replies, interleaved
        roots.append(say(n))
        n += 1
    for root in roots:
        first, second = say(n, root), say(n + 1, root)
        n += 2
        a = say(n, first)  # level 3
        b = say(n + 1, first)  # level 3, after a
        c = say(n + 2, a)  # level 4, shown at 3: written after b, so shown after b
        say(n + 3, second)  # level 3 under the second reply
        say(n + 4, c)  # level 5, shown at 3
        say(n + 5, b)  # level 4, shown at 3
        n += 6
    for extra in range(4):  # four late replies, each to the newest reply: 40 in all
        say(n + extra, max(cid for cid, parent in parents.items() if parent is not None))
    assert len(parents) == 40
    return post, parents, names


def expected_order(parents: dict[int, int | None], cap: int = 3) -> list[tuple[int, int]]:
    """The order a reader should see: threads oldest first, replies under what they answer, and below each
    second-level reply all the replies beneath it, oldest first (ids grow with time)."""
    children: dict[int | None, list[int]] = {}
    for cid in sorted(parents):
        children.setdefault(parents[cid], []).append(cid)

    def below(cid: int) -> list[int]:
        found = []
        for child in children.get(cid, []):
            found += [child, *below(child)]
        return found

    order = []
    for root in children[None]:
        order.append((root, 1))
        for reply in children.get(root, []):
            order.append((reply, 2))
            order += [(deeper, cap) for deeper in sorted(below(reply))]
    return order


def test_a_forty_comment_thread_reads_in_time_order_with_capped_indents_and_in_reply_to_links(client, conversation):
    post, parents, names = conversation

    html = page_text(client.get(f"/posts/{post.slug}"))
    items = comment_items(html)

    assert [(id_of(li), depth_of(li)) for li in items] == expected_order(parents)
    assert {depth_of(li) for li in items} == {1, 2, 3}  # never deeper than three levels: two indents
    shown = {id_of(li) for li in items}
    for li in items:
        link = in_reply_to(li)
        if depth_of(li) == 1:
            assert link is None
        else:  # every reply names what it answers, with a link to it on the same page
            parent = parents[id_of(li)]
            assert link.get("href") == f"#comment-{parent}" and parent in shown
            assert link.text == names[parent]
    level_three_runs = re.findall(r"(?:3,)+", ",".join(str(depth_of(li)) for li in items) + ",")
    assert max(len(run) // 2 for run in level_three_runs) >= 4  # deep conversations are there, and flat


def test_level_three_replies_are_in_time_order_whatever_they_answer():
    class Row:
        def __init__(self, id_: int, parent_id: int | None) -> None:
            self.id, self.parent_id = id_, parent_id

    rows = [Row(1, None), Row(2, 1), Row(3, 2), Row(4, 2), Row(5, 3), Row(6, 5), Row(7, 4), Row(8, 1)]

    thread = comment_thread(rows)

    assert [(row.id, depth) for row, depth in thread] == [
        (1, 1),
        (2, 2),
        (3, 3),
        (4, 3),
        (5, 3),
        (6, 3),
        (7, 3),
        (8, 2),
    ]


def test_comments_show_a_compact_date_with_the_full_time_in_the_title(make_app, make_post):
    app = make_app(BLOG_TIMEZONE="Europe/Zurich")
    make_post("Talk")
    client = app.test_client()
    post_comment(client, "talk", body="Winter words.")
    with app.app_context():
        comment = db.session.scalars(select(Comment)).one()
        comment.created_at = datetime(2026, 12, 2, 23, 30, tzinfo=UTC)  # already 3 December in Zurich
        db.session.commit()

    time = next(comment_items(page_text(client.get("/posts/talk")))[0].iter("time"))

    assert time.text == "3 Dec 2026"
    assert time.get("title") == "3 December 2026, 00:30 CET"
    assert time.get("datetime") == "2026-12-02T23:30:00+00:00"


def test_comments_the_owner_posts_while_logged_in_are_marked_and_a_borrowed_name_is_not(
    app, client, make_post, make_user
):
    post = make_post("Talk")
    make_user("owner", UserRole.admin, "Olive Owner")
    owner = app.test_client()
    assert log_in(owner, "owner").status_code == 302
    post_comment(owner, post.slug, name="Olive Owner", body="Thanks for reading.")
    post_comment(client, post.slug, name="Olive Owner", body="I am the owner, honest.")

    items = comment_items(page_text(client.get(f"/posts/{post.slug}")))

    marks = [[span.text for span in li.iter("span") if span.get("class") == "owner-mark"] for li in items]
    assert marks == [["Blog owner"], []]
    assert "by-owner" in items[0].get("class") and "by-owner" not in items[1].get("class")


def test_avatars_are_the_same_for_a_commenter_differ_between_commenters_and_reveal_nothing(client, conversation):
    post, parents, names = conversation

    html = page_text(client.get(f"/posts/{post.slug}"))
    items = comment_items(html)

    pictures: dict[str, set[str]] = {}
    for li in items:
        svg = next(element for element in li.iter() if str(element.tag).endswith("svg"))  # in the SVG namespace
        path = next(element for element in svg if str(element.tag).endswith("path"))
        assert svg.get("aria-hidden") == "true" and set(svg.attrib) == {
            "class",
            "viewBox",
            "width",
            "height",
            "aria-hidden",
        }
        assert set(path.attrib) == {"fill", "d"} and path.get("fill") in COLOURS
        assert re.fullmatch(r"(M\d \dh\dv1h-\dz)+", path.get("d"))  # squares, nothing else
        pictures.setdefault(names[id_of(li)], set()).add(path.get("fill") + path.get("d"))
    assert all(len(drawn) == 1 for drawn in pictures.values())  # one picture per commenter, on every comment
    assert len({next(iter(drawn)) for drawn in pictures.values()}) >= len(COMMENTERS) - 1  # 18 bits: rarely alike
    with client.application.app_context():
        keys = {c.commenter_key for c in db.session.scalars(select(Comment))}
        secret = client.application.secret_key.encode()
    for name in COMMENTERS:
        email = f"{name.lower()}@example.org"
        assert email not in html
        for digest in (hashlib.md5, hashlib.sha256):  # Gravatar's kind of hash, unkeyed
            assert digest(email.encode()).hexdigest() not in html
        assert hmac.new(secret, email.encode(), hashlib.sha256).hexdigest()[:16] not in html
    assert not any(key in html for key in keys)
    assert not re.search(r'<img[^>]+src="(?:https?:)?//', html)  # no picture from another site


def test_avatars_come_from_a_keyed_hash(make_app):
    first, second = make_app(SECRET_KEY="one secret"), make_app(SECRET_KEY="another secret")
    ada = Comment(author_name="Ada", author_email="ada@example.org", commenter_key="browser-1")

    with first.app_context():
        again = avatar(Comment(author_name="Someone", author_email="x@example.org", commenter_key="browser-1"))
        assert avatar(ada) == again  # the browser's key decides, not the name typed
        assert avatar(ada) != avatar(Comment(author_name="Ada", author_email="ada@example.org", commenter_key="b2"))
        mine = avatar(ada)
    with second.app_context():
        assert avatar(ada) != mine  # without the secret, nobody can tell whose picture it is


def test_nothing_a_stranger_types_draws_someone_elses_picture(app, client, make_post):
    # An imported comment has no browser key: were its picture drawn from its email, a stranger's preview with a
    # guessed address would draw the same picture, and confirm the guess.
    post = make_post("Imported talk")
    with app.app_context():
        db.session.add(
            Comment(
                post_id=post.id,
                author_name="Ivy",
                author_email="ivy.secret@example.org",
                body="Hello.",
                status=CommentStatus.approved,
            )
        )
        db.session.commit()
    page = page_text(client.get(f"/posts/{post.slug}"))
    ivy = re.search(r'<svg class="avatar".*?</svg>', page, re.S).group()

    stranger = app.test_client()
    previews = [
        page_text(post_comment(stranger, post.slug, name="Ivy", email="ivy.secret@example.org", action="preview"))
        for _ in range(2)
    ]

    # The preview is the one comment without an address of its own (no id).
    preview_svg = r'<li class="comment [^"]*">\s*<article[^>]*>.*?(<svg class="avatar".*?</svg>)'
    drawn = [re.search(preview_svg, preview, re.S).group(1) for preview in previews]
    assert ivy not in drawn and drawn[0] != drawn[1]  # a preview without a key draws a picture of nobody


def test_the_post_says_how_many_comments_and_links_down_to_the_form(client, make_post):
    post = make_post("Talk")
    for body in ("One.", "Two.", "Three."):
        post_comment(client, post.slug, body=body)
    closed = make_post("Closed", comments_open=False)

    html = page_text(client.get(f"/posts/{post.slug}"))
    closed_html = page_text(client.get(f"/posts/{closed.slug}"))

    meta = html[html.index('<p class="post-meta">') : html.index("</p>", html.index('<p class="post-meta">'))]
    assert re.search(r'>3 comments</a> · <a class="leave-comment" href="#comment-form">Leave a comment</a>', meta)
    assert html.index("Leave a comment</a>") < html.index('class="post-body"')  # under the title, above the text
    assert 'id="comment-form"' in html
    assert "leave-comment" not in closed_html


@pytest.mark.parametrize(
    ("body", "excerpt"),
    [
        ("# Installing\n\n```\n$ pip install inkwell\n```\n\nIt takes a minute.", "It takes a minute."),
        ("## Why\n\n    indented code\n\nBecause **plain** words read best.", "Because plain words read best."),
        ("Short.\n\n## Heading\n\nThen a second paragraph.", "Short. Then a second paragraph."),
        ("- only\n- a list\n\n```\ncode\n```", "only a list"),
        ("A `small` word &amp; more.", "A small word & more."),
    ],
    ids=["heading-and-code-block", "indented-code", "short-first-paragraph", "no-paragraph", "inline-code"],
)
def test_excerpts_skip_headings_and_code(client, make_post, body, excerpt):
    post = make_post("Card", body=body)

    assert post.summary == excerpt
    card = page_text(client.get("/"))
    assert f'<p class="excerpt">{excerpt.replace("&", "&amp;")}</p>' in card
    assert "Installing" not in card and "pip install" not in card


def test_long_excerpts_are_cut_at_a_word_and_the_authors_own_wins(app, make_post):
    words = " ".join(["word"] * 200)
    assert opening_text(f"<h2>Title</h2><p>{words}</p>").endswith("word…")
    assert len(opening_text(f"<p>{words}</p>")) <= 281
    post = make_post("Mine", body="# Heading\n\nText.")
    with app.app_context():
        post = db.session.merge(post)
        post.excerpt = "The author's own words."
        assert post.summary == "The author's own words."


def test_cards_show_title_date_reading_time_comments_and_excerpt_and_no_empty_image(client, make_post):
    make_post("A card", body="Words to read.", published_at=datetime(2026, 3, 4, 12, tzinfo=UTC), tags=("Notes",))

    for path in ("/", "/tags/notes", "/archive/2026/3"):
        html = page_text(client.get(path))
        card = parsed(html[html.index('<article class="summary">') : html.index("</article>") + 10]).find("article")
        text = " ".join("".join(card.itertext()).split())
        assert text.startswith("A card 4 March 2026 · 1 min read ·") and "· No comments Notes" in text
        assert text.endswith("Words to read.")
        assert card.find(".//img") is None and card.find(".//figure") is None  # no feature image: no empty frame


def test_the_archive_is_a_timeline_by_year_and_month_with_counts(client, make_post):
    for title, when in [
        ("Old", datetime(2024, 11, 5, 12, tzinfo=UTC)),
        ("Older", datetime(2024, 11, 2, 12, tzinfo=UTC)),
        ("New year", datetime(2025, 1, 3, 12, tzinfo=UTC)),
        ("Spring", datetime(2025, 4, 9, 12, tzinfo=UTC)),
        ("Spring again", datetime(2025, 4, 20, 12, tzinfo=UTC)),
    ]:
        make_post(title, published_at=when)

    html = page_text(client.get("/archive"))
    main = parsed(html[html.index("<main") : html.index("</main>") + 7])

    years = [
        (
            " ".join("".join(section.find("h2").itertext()).split()),
            [" ".join("".join(month.find("h3").itertext()).split()) for month in section.find("ol").findall("li")],
        )
        for section in main.iter("section")
        if section.get("class") == "timeline-year"
    ]
    assert years == [
        ("2025 3 posts", ["April 2025 2 posts", "January 2025 1 post"]),
        ("2024 2 posts", ["November 2024 2 posts"]),
    ]
    assert "5 posts, newest first." in html
    assert re.search(r'href="/archive/2025/4">April 2025</a>', html)


def test_editing_ones_comment_shows_the_minutes_left_and_a_preview(app, client, make_post):
    post = make_post("Talk")
    post_comment(client, post.slug, body="First words.")
    edit_url = f"/posts/{post.slug}/comments/1/edit"

    page = page_text(client.get(edit_url))
    assert re.search(r'<strong class="minutes-left">1[45] minutes left</strong> to change it', page)

    token = CSRF_FIELD.search(page).group(1)
    form = {"csrf_token": token, "name": "Ada", "body": "Better *words*.", "action": "preview"}
    preview = client.post(edit_url, data=form)

    assert preview.status_code == 200
    html = page_text(preview)
    assert '<section class="comment-preview"' in html and "<em>words</em>" in html
    assert "Better *words*." in html  # still in the text box, to keep editing
    with app.app_context():
        assert db.session.get(Comment, 1).body == "First words."  # a preview saves nothing


# In Chromium, on a phone: the thread does not become a staircase, and a linked comment is fully visible.


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed (apt-get install chromium)")
def test_on_a_phone_a_third_level_reply_is_barely_indented_and_a_linked_comment_is_fully_highlighted(live_server):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    url = live_server(COMMENT_MODERATION="off")
    reader = requests.Session()
    parent = ""
    for n, name in enumerate(["Ada", "Ken", "Grace", "Linus"]):  # four levels: the last is shown at the third
        html = reader.get(f"{url}/posts/welcome").text
        token = CSRF_FIELD.search(html, html.find('action="/posts/welcome/comments#')).group(1)
        form = {"csrf_token": token, "name": name, "body": f"Level {n + 1}, with enough words to wrap the line."}
        response = reader.post(
            f"{url}/posts/welcome/comments", data=form | {"parent_id": parent}, allow_redirects=False
        )
        parent = re.search(r"#comment-(\d+)$", response.headers["Location"]).group(1)

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 360, "height": 740})
        requested = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(f"{url}/posts/welcome#comment-{parent}")
        first = page.locator(".comment.depth-1 .comment-body").first.bounding_box()
        third = page.locator(".comment.depth-3 .comment-body").last.bounding_box()
        target = page.locator(f"#comment-{parent}").bounding_box()
        (ROOT / "test-artifacts").mkdir(exist_ok=True)
        page.screenshot(path=ROOT / "test-artifacts" / "thread-on-a-phone-360.png")
        page.screenshot(path=ROOT / "test-artifacts" / "thread-on-a-phone-360-full.png", full_page=True)
        browser.close()

    assert 0 < third["x"] - first["x"] <= 48  # two capped indents, not a staircase
    assert third["width"] >= 360 * 0.75
    assert target["x"] >= 0 and target["x"] + target["width"] <= 360 and target["y"] >= 0  # highlight not clipped
    assert all(address.startswith(url) for address in requested)  # avatars and all: nothing from another origin
