"""Autosave in a real browser (Playwright driving Debian's Chromium, JavaScript on, against gunicorn): what is
typed reaches the server within seconds, a new post survives its tab being closed, a lapsed login keeps the text
and saves it once the author is back, and two tabs saving the same post are warned."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import CHROMIUM
from helpers import PASSWORD
from helpers import log_in_as_owner
from helpers import screenshot
from helpers import trouble

expect = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed").expect
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Chromium is not installed (apt-get install chromium)"
)

AUTOSAVED = re.compile(r"Autosaved at \d")
SECONDS = 15_000  # an autosave is due every five seconds; a loaded machine may take longer


def body_field(page):
    return page.get_by_label("Text (Markdown)")


def csp_violations_and_dialogs(page) -> list[str]:
    """What ``trouble`` reports but the console's errors: refusals (400, 404, 409) are what these tests ask for."""
    return page.evaluate("window.__trouble")


def test_what_is_typed_in_a_post_reaches_the_blog_within_seconds(live_server, js_page):
    url = live_server()
    log_in_as_owner(js_page, url)
    js_page.goto(f"{url}/admin/posts/1/edit")
    body_field(js_page).fill(body_field(js_page).input_value() + "\n\nA line typed a moment ago.")
    expect(js_page.locator("#autosave-status")).to_have_text(AUTOSAVED, timeout=SECONDS)

    js_page.reload()  # the words are on the server, not only in this page
    expect(js_page.get_by_text("You have text in this post that was autosaved on")).to_be_visible()
    expect(body_field(js_page)).not_to_have_value(re.compile("A line typed a moment ago"))
    js_page.get_by_role("link", name="Bring back the autosaved text").click()
    expect(body_field(js_page)).to_have_value(re.compile("A line typed a moment ago"))
    assert trouble(js_page) == []


def test_a_new_post_is_kept_after_its_tab_is_closed_and_saving_it_makes_one_post(live_server, js_page):
    url = live_server()
    log_in_as_owner(js_page, url)
    js_page.goto(f"{url}/admin/posts/new")
    js_page.get_by_label("Title").fill("Sunrise over the harbour")
    body_field(js_page).fill("The light came up slowly.")
    expect(js_page.locator("#autosave-status")).to_have_text(AUTOSAVED, timeout=SECONDS)
    expect(js_page).to_have_url(re.compile(r"/admin/posts/\d+/edit$"))  # the editor now edits the draft
    body_field(js_page).fill("The light came up slowly.\n\nThe boats went out before the tab was closed.")
    context = js_page.context
    js_page.close()  # leaving the page sends what was typed since

    page = context.new_page()
    page.goto(f"{url}/admin/posts?status=draft")
    page.get_by_role("link", name="Sunrise over the harbour", exact=True).click()
    expect(body_field(page)).to_have_value("The light came up slowly.")
    page.get_by_role("link", name="Bring back the autosaved text").click()
    expect(body_field(page)).to_have_value(re.compile("The boats went out before the tab was closed"))
    screenshot(page, "new-post-autosaved-brought-back")

    page.goto(f"{url}/")
    expect(page.get_by_text("Sunrise over the harbour")).to_have_count(0)  # a draft: readers see nothing
    assert page.goto(f"{url}/posts/sunrise-over-the-harbour").status == 404
    assert "Sunrise" not in page.goto(f"{url}/feed.xml").text()

    page.goto(f"{url}/admin/posts/new")  # a second post, saved while its first autosave is on its way
    page.get_by_label("Title").fill("Low tide")
    body_field(page).fill("Sand as far as the eye can see.")
    page.evaluate("window.dispatchEvent(new Event('pagehide'))")  # the autosave that makes the draft starts now
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flashes")).to_contain_text("Draft “Low tide” saved.")
    page.goto(f"{url}/admin/posts")
    expect(page.get_by_role("link", name="Low tide", exact=True)).to_have_count(1)
    assert csp_violations_and_dialogs(page) == []


def test_a_lapsed_login_keeps_the_text_asks_to_log_in_and_saves_it_once_back(live_server, js_page):
    url = live_server()
    log_in_as_owner(js_page, url)
    js_page.goto(f"{url}/admin/posts/1/edit")
    js_page.context.clear_cookies()  # the login ends (and the form's token with it) while the page is open
    words = "Written after the login had ended."
    body_field(js_page).fill(words)

    status = js_page.locator("#autosave-status")
    expect(status).to_contain_text("Not autosaved: your login ended.", timeout=SECONDS)
    expect(body_field(js_page)).to_have_value(words)
    screenshot(js_page, "autosave-login-ended")
    with js_page.context.expect_page() as opened:
        status.get_by_role("link", name="Log in again in a new tab").click()
    login = opened.value
    login.get_by_label("Username").fill("owner")
    login.get_by_label("Password").fill(PASSWORD)
    login.get_by_role("button", name="Log in").click()
    expect(login.get_by_role("heading", name="Dashboard")).to_be_visible()

    js_page.bring_to_front()
    expect(status).to_have_text(AUTOSAVED, timeout=SECONDS)
    login.goto(f"{url}/admin/posts/1/edit?autosaved=1")
    expect(body_field(login)).to_have_value(words)
    assert csp_violations_and_dialogs(js_page) == []


def test_two_tabs_saving_the_same_post_are_warned_rather_than_overwritten(live_server, js_page):
    url = live_server()
    log_in_as_owner(js_page, url)
    first = js_page
    first.goto(f"{url}/admin/posts/1/edit")
    second = first.context.new_page()
    second.goto(f"{url}/admin/posts/1/edit")

    body_field(first).fill("The first tab, autosaved.")
    expect(first.locator("#autosave-status")).to_have_text(AUTOSAVED, timeout=SECONDS)
    body_field(second).fill("The second tab, autosaved.")
    expect(second.locator("#autosave-status")).to_have_text(AUTOSAVED, timeout=SECONDS)
    body_field(first).fill("The first tab, autosaved again.")  # over the second tab's autosave: said, not silent
    expect(first.locator("#autosave-status")).to_contain_text("open in another tab or window too", timeout=SECONDS)

    body_field(second).fill("The second tab's words.")
    second.get_by_role("button", name="Save").click()
    expect(second.locator(".flashes")).to_contain_text("is published")

    body_field(first).fill("The first tab's words.")
    first.get_by_role("button", name="Save").click()
    expect(first.get_by_role("status").filter(has_text="after you opened it")).to_contain_text("nothing was saved")
    expect(body_field(first)).to_have_value("The first tab's words.")
    screenshot(first, "two-tabs-warned")
    first.goto(f"{url}/posts/welcome")
    expect(first.get_by_text("The second tab's words.")).to_be_visible()
    assert csp_violations_and_dialogs(first) == []
