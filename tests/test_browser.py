"""In a real browser (Playwright driving Debian's Chromium): the owner's whole flow, from login to a
published post with an image, and a reader commenting. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pyotp
import pytest

from helpers import CHROMIUM
from helpers import PASSWORD
from helpers import flask_command
from helpers import log_in_as_owner
from helpers import png_bytes
from helpers import screenshot
from helpers import trouble

REMEMBER_ME_COOKIES = ("inkwell_commenter", "inkwell_details")
playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
expect = playwright_api.expect  # waits for the page, unlike is_visible()
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Chromium is not installed (apt-get install chromium)"
)


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=False)
    page = context.new_page()
    yield page
    context.close()


def test_owner_logs_in_writes_a_post_with_an_image_and_publishes_it(live_server, page, tmp_path):
    url = live_server(COMMENT_MODERATION="first-time")
    image = tmp_path / "sunrise.png"
    image.write_bytes(png_bytes(40, 20))

    log_in_as_owner(page, url)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    page.get_by_role("link", name="New post", exact=True).click()
    page.get_by_label("Title").fill("Sunrise over the harbour")
    page.get_by_label("Text (Markdown)").fill("The light came up **slowly**.")
    page.get_by_label("Tags").fill("Photography, mornings")
    page.get_by_label("Upload a new image").set_input_files(str(image))
    page.get_by_label("Describe the image (alt text)").fill("Boats at dawn")
    page.get_by_role("button", name="Insert image").click()
    snippet = page.locator("code.snippet").inner_text()
    assert snippet.startswith("![Boats at dawn](/uploads/")

    body = page.get_by_label("Text (Markdown)")
    assert body.input_value() == "The light came up **slowly**.\n\n" + snippet
    page.get_by_role("button", name="Preview").click()
    expect(page.locator(".preview img[alt='Boats at dawn']")).to_have_count(1)
    screenshot(page, "admin-post-preview")
    assert preview_is(page, "beside")  # 1280 pixels wide
    page.set_viewport_size({"width": 700, "height": 900})
    assert preview_is(page, "below")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_label("Status").select_option("published")
    page.get_by_role("button", name="Save").click()
    assert "“Sunrise over the harbour” is published." in page.locator(".flashes").inner_text()

    page.goto(url)
    page.get_by_role("heading", name="Sunrise over the harbour").get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/posts/sunrise-over-the-harbour$"))
    assert page.locator(".post-body strong").inner_text() == "slowly"
    width = page.locator(".post-body img").evaluate("img => img.naturalWidth")
    assert width == 40
    screenshot(page, "post-with-image")


def preview_is(page, where: str) -> bool:
    """Whether the editor's preview sits beside the text or below the form."""
    text, preview = page.locator("#body").bounding_box(), page.locator(".preview").bounding_box()
    form = page.locator("form.post-form").bounding_box()
    if where == "beside":
        return preview["x"] >= text["x"] + text["width"] and preview["y"] < text["y"] + text["height"]
    return preview["y"] >= form["y"] + form["height"] and abs(preview["x"] - text["x"]) < 40


def test_owner_turns_on_two_factor_and_then_logs_in_with_a_code(live_server, browser, page):
    url = live_server()
    log_in_as_owner(page, url)
    page.get_by_role("link", name="Security").click()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    key = page.locator("code.key").inner_text().replace(" ", "")  # typed into the app instead of scanning
    screenshot(page, "two-factor-set-up")

    page.get_by_label("6-digit code from the app").fill(pyotp.TOTP(key).now())
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    assert page.locator(".recovery-codes li").count() == 10

    other = browser.new_context(java_script_enabled=False).new_page()
    log_in_as_owner(other, url)
    expect(other.get_by_role("heading", name="Enter your code")).to_be_visible()
    next_code = pyotp.TOTP(key).at(time.time() + 30)  # the one shown now worked once already
    other.get_by_label("Code from your authenticator app, or a recovery code").fill(next_code)
    other.get_by_role("button", name="Log in").click()
    expect(other.get_by_role("heading", name="Dashboard")).to_be_visible()
    other.context.close()


def test_reader_browses_pages_tags_and_search_then_opens_a_post(live_server, page, tmp_path):
    url = live_server()
    environment = os.environ | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'live.db'}",
        "INSTANCE_PATH": str(tmp_path / "instance"),
    }
    flask_command(environment, "seed-demo", "--posts", "25", "--comments", "60")

    page.goto(url)
    expect(page.get_by_role("heading", name="Latest posts")).to_be_visible()
    page.get_by_role("link", name="Older posts →").first.click()
    expect(page.get_by_role("heading", name="Older posts, page 2")).to_be_visible()
    screenshot(page, "home-page-2")

    page.locator(".summary a[rel=tag]").first.click()
    expect(page).to_have_url(re.compile("/tags/"))
    expect(page.locator(".summary").first).to_be_visible()
    screenshot(page, "tag")

    page.get_by_role("searchbox", name="Search the blog").fill("welcome")
    page.get_by_role("searchbox", name="Search the blog").press("Enter")
    expect(page.get_by_role("status")).to_contain_text("match “welcome”")
    assert page.locator(".summary mark").first.inner_text().lower() == "welcome"
    screenshot(page, "search")

    page.locator(".summary h2 a").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome to Inkwell")


def test_reader_comments_and_the_owner_approves_it_in_the_queue(live_server, page, browser):
    url = live_server(COMMENT_MODERATION="first-time")

    page.goto(f"{url}/posts/welcome")
    page.get_by_role("textbox", name="Name").fill("Ada")
    page.get_by_role("button", name="Post comment").click()
    assert page.locator("#body-error").inner_text() == "Please write a comment."
    assert page.get_by_role("textbox", name="Name").input_value() == "Ada"  # what was typed is kept
    screenshot(page, "comment-form-error")
    page.get_by_role("textbox", name="Comment").fill("What a *lovely* start.")
    page.get_by_role("button", name="Post comment").click()
    assert "awaiting moderation" in page.locator(".flashes").inner_text()
    screenshot(page, "comment-awaiting-moderation")

    owner = browser.new_context(java_script_enabled=False).new_page()
    owner.goto(f"{url}/admin/login")
    owner.get_by_label("Username").fill("owner")
    owner.get_by_label("Password").fill(PASSWORD)
    owner.get_by_role("button", name="Log in").click()
    owner.get_by_role("navigation", name="Admin").get_by_role("link", name="Comments").click()
    assert "1 pending" in owner.locator(".admin-nav").inner_text()
    screenshot(owner, "admin-comment-queue")
    owner.get_by_role("button", name="Approve").click()
    assert "Approved: 1 comment." in owner.locator(".flashes").inner_text()

    stranger = browser.new_context(java_script_enabled=False).new_page()
    stranger.goto(f"{url}/posts/welcome")
    assert stranger.locator(".comment-body em").inner_text() == "lovely"


def test_reader_replies_previews_posts_and_edits_within_the_window(live_server, page):
    url = live_server(COMMENT_MODERATION="off")

    page.goto(f"{url}/posts/welcome")
    page.get_by_role("textbox", name="Name").fill("Grace")
    page.get_by_role("textbox", name="Comment").fill("First thoughts.")
    page.get_by_role("button", name="Post comment").click()
    assert "your comment is published" in page.locator(".flashes").inner_text()

    page.get_by_role("link", name="Reply to Grace").click()
    expect(page.get_by_role("heading", name="Reply to Grace")).to_be_visible()
    page.get_by_role("textbox", name="Name").fill("Ken")
    page.get_by_role("textbox", name="Comment").fill("I *agree*, Grace.")
    page.get_by_role("button", name="Preview").click()
    assert page.locator(".comment-preview .comment-body em").inner_text() == "agree"
    assert page.get_by_role("textbox", name="Comment").input_value() == "I *agree*, Grace."
    page.get_by_role("button", name="Post comment").click()

    reply = page.locator(".comment.depth-2")
    assert "I agree, Grace." in reply.inner_text() and "in reply to Grace" in reply.inner_text()
    screenshot(page, "comment-thread")

    reply.get_by_role("link", name="Edit").click()
    page.get_by_role("textbox", name="Comment").fill("I *fully* agree, Grace.")
    page.get_by_role("button", name="Save changes").click()
    assert "Your comment is updated." in page.locator(".flashes").inner_text()
    assert page.locator(".comment.depth-2 .comment-body em").inner_text() == "fully"


def test_a_returning_commenter_finds_the_form_filled_in_the_gzip_page_gunicorn_serves(live_server, page, browser):
    url = live_server(COMMENT_MODERATION="off")
    page.goto(f"{url}/posts/welcome")
    page.get_by_role("textbox", name="Name").fill("Ada")
    page.get_by_role("textbox", name="Email").fill("ada@example.com")
    page.get_by_role("textbox", name="Comment").fill("I will be back.")
    page.get_by_role("checkbox", name="Remember my name").check()
    page.get_by_role("button", name="Post comment").click()
    assert "your comment is published" in page.locator(".flashes").inner_text()
    remembered = [cookie for cookie in page.context.cookies() if cookie["name"] in REMEMBER_ME_COOKIES]
    next_day = browser.new_context(java_script_enabled=False)  # her comment is no longer hers to change
    next_day.add_cookies(remembered)
    ada_later = next_day.new_page()

    for reader, may_edit in ((page, True), (ada_later, False)):
        for _ in range(3):  # rendered for her once, then from each worker's cache
            response = reader.goto(f"{url}/posts/welcome")
        assert response.headers["content-encoding"] == "gzip"
        assert reader.get_by_role("textbox", name="Name").input_value() == "Ada"
        assert reader.get_by_role("textbox", name="Email").input_value() == "ada@example.com"
        assert reader.get_by_role("checkbox", name="Remember my name").is_checked()
        assert reader.get_by_role("link", name="Edit your comment").count() == (1 if may_edit else 0)
    ada_later.get_by_role("textbox", name="Comment").fill("Back, as promised.")
    ada_later.get_by_role("button", name="Post comment").click()
    assert "your comment is published" in ada_later.locator(".flashes").inner_text()
    next_day.close()


# With JavaScript on: hostile comments must not run, and the pages must break no rule of their own CSP.

HOSTILE_COMMENTS = [
    "<script>alert('script tag')</script>",
    "<img src=x onerror=alert('img onerror')>",
    "[click me](javascript:alert('markdown link'))",
    "<svg onload=alert('svg onload')><circle r=5></circle></svg>",
    "<svg><script>alert('svg script')</script></svg>",
    "<a href=\"jav&#x61;script:alert('entity protocol')\">encoded</a>",
    "<iframe src=\"javascript:alert('iframe')\"></iframe>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert('noscript mxss')>\">",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert('math mxss')>",
    "![x](x\" onerror=\"alert('markdown image'))",
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data url</a>',
    "<details open ontoggle=alert('details ontoggle')>boo</details>",
    "[hover](https://example.com\" onmouseover=\"alert('attribute break'))",
    "<style>body{background:url(javascript:alert('css'))}</style>`<b onclick=alert(1)>code</b>`",
]

DOM_PROBLEMS = """() => {
  const problems = [];
  for (const script of document.querySelectorAll("script")) {
    const blogs_own = script.parentElement === document.head  // the post's Copy buttons, for its code
      && /^\\/static\\/code\\.js\\?v=[0-9a-f]+$/.test(script.getAttribute("src") || "");
    if (script.type !== "application/ld+json" && !blogs_own) {
      problems.push("script element: " + script.outerHTML.slice(0, 80));
    }
  }
  for (const element of document.querySelectorAll("*")) {
    for (const attribute of element.attributes) {
      const value = attribute.value.trim().toLowerCase();
      if (attribute.name.startsWith("on")) problems.push("handler: " + element.outerHTML.slice(0, 80));
      if (["href", "src", "action", "formaction", "xlink:href"].includes(attribute.name)
          && /^(javascript|data|vbscript):/.test(value.replace(/\\s/g, ""))) {
        problems.push("dangerous address: " + element.outerHTML.slice(0, 80));
      }
    }
  }
  for (const tag of ["iframe", "object", "embed", "svg", "math", "style", "noscript", "base", "form[action^='java']"]) {
    for (const element of document.querySelectorAll(".comment-body " + tag)) problems.push("element: " + tag);
  }
  return problems;
}"""


def test_hostile_comments_run_nothing_and_leave_no_handlers_or_scripts(live_server, js_page):
    url = live_server(COMMENT_MODERATION="off", COMMENT_RATE_LIMIT="100 per minute", COMMENT_MAX_LINKS="10")
    page = js_page
    for number, body in enumerate(HOSTILE_COMMENTS):
        page.goto(f"{url}/posts/welcome")
        page.get_by_role("textbox", name="Name").fill(f"<img src=x onerror=alert('name {number}')>")
        page.get_by_role("textbox", name="Comment").fill(body)
        page.get_by_role("button", name="Post comment").click()
        assert "your comment is published" in page.locator(".flashes").inner_text(), body

    page.goto(f"{url}/posts/welcome")
    for link in page.locator(".comment-body a, .comment-author a").all():
        link.hover()
    for toggle in page.locator(".comment-body details").all():
        toggle.click()

    assert page.locator(".comment-body").count() == len(HOSTILE_COMMENTS)
    assert page.evaluate(DOM_PROBLEMS) == []
    assert trouble(page) == []
    screenshot(page, "hostile-comments")


@pytest.mark.parametrize("path", ["/", "/posts/welcome", "/tags/", "/archive", "/search?q=welcome", "/admin/login"])
def test_pages_break_no_rule_of_their_csp_and_log_no_errors(live_server, js_page, path):
    url = live_server()
    js_page.goto(url + path)
    js_page.get_by_role("link", name="Skip to content").focus()
    assert trouble(js_page) == []


def test_the_editor_autosaves_what_is_typed_and_offers_it_back_after_leaving(live_server, js_page):
    url = live_server()
    log_in_as_owner(js_page, url)
    js_page.goto(f"{url}/admin/posts/1/edit")
    body = js_page.get_by_label("Text (Markdown)")
    body.fill(body.input_value() + "\n\nWords typed just before the tab closed.")
    expect(js_page.locator("#autosave-status")).to_contain_text("Autosaved at", timeout=15_000)

    js_page.goto(f"{url}/admin/posts/1/edit")  # as if the tab had closed and the owner came back
    js_page.get_by_role("link", name="Bring back the autosaved text").click()
    expect(js_page.get_by_label("Text (Markdown)")).to_have_value(re.compile("Words typed just before the tab closed"))
    screenshot(js_page, "autosaved-text-brought-back")
    assert trouble(js_page) == []


def test_on_a_phone_the_header_is_one_line_of_title_and_search_and_one_of_menu(live_server, page):
    url = live_server()
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{url}/posts/welcome")
    screenshot(page, "compact-header")
    page.set_viewport_size({"width": 360, "height": 740})
    header = page.locator(".site-header").bounding_box()
    title = page.locator(".site-title").bounding_box()
    search = page.get_by_role("searchbox", name="Search the blog").bounding_box()
    assert header["height"] < 110, header  # about 200 px before it was made compact
    assert abs((title["y"] + title["height"] / 2) - (search["y"] + search["height"] / 2)) < 12  # one line
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Archive")).to_be_visible()


def test_the_owner_deletes_a_comment_in_the_queue_then_undoes_it(live_server, js_page, browser):
    url = live_server(COMMENT_MODERATION="all")
    reader = browser.new_context(java_script_enabled=False).new_page()
    reader.goto(f"{url}/posts/welcome")
    reader.get_by_role("textbox", name="Name").fill("Ada")
    reader.get_by_role("textbox", name="Comment").fill("Worth keeping after all.")
    reader.get_by_role("button", name="Post comment").click()
    assert "awaiting moderation" in reader.locator(".flashes").inner_text()
    reader.context.close()
    page = js_page
    log_in_as_owner(page, url)
    page.goto(f"{url}/admin/comments")
    item = page.locator(".queue-item", has_text="Worth keeping after all.")

    item.get_by_role("button", name="Delete…").click()
    expect(page.get_by_role("heading", name="Delete this comment?")).to_be_visible()
    page.get_by_role("button", name="Delete the comment").click()
    expect(page.locator(".flashes")).to_contain_text("Moved to the trash: 1 comment.")
    expect(item).to_have_count(0)
    screenshot(page, "queue-with-undo")
    page.get_by_role("button", name="Undo").click()

    expect(page.locator(".flashes")).to_contain_text("Undone (“Moved to the trash: 1 comment.”)")
    expect(item).to_have_count(1)
    expect(item.get_by_role("button", name="Approve")).to_be_visible()  # held, as it was
    page.goto(f"{url}/admin/trash")
    expect(page.get_by_text("The trash is empty.")).to_be_visible()

    page.goto(f"{url}/admin/comments")  # deleted again, it waits in the trash, from where it comes back too
    item.get_by_role("button", name="Delete…").click()
    page.get_by_role("button", name="Delete the comment").click()
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Trash").click()
    expect(page.locator("#trashed-comments + p + .table-scroll")).to_contain_text("Worth keeping after all.")
    screenshot(page, "trash-with-a-comment")
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") == 360  # on a phone the table scrolls, not the page
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="Restore the comment by Ada").click()
    expect(page.locator(".flashes")).to_contain_text("Restored the comment by Ada on “Welcome to Inkwell”")
    assert trouble(page) == []
