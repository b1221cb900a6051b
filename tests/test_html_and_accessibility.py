"""Every page type is valid HTML (the Nu HTML Checker) and has no accessibility violation (axe-core in Chromium).

The checker comes from the npm package vnu-jar (``npm ci`` installs it; `make test` runs that) and runs on the
machine's Java; axe-core comes with the PyPI package axe-playwright-python. Each part is reported as skipped,
with the reason, when its tool is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pyotp
import pytest
import requests

from helpers import CHROMIUM
from helpers import CHROMIUM_FLAGS
from helpers import CSRF_FIELD
from helpers import PASSWORD
from helpers import ROOT
from helpers import VNU_JAR
from helpers import flask_command
from helpers import free_port
from helpers import png_bytes
from helpers import publish_post_with_images
from helpers import wait_until_healthy

JAVA = shutil.which("java")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A running blog (gunicorn, its own SQLite file) with demo posts and a threaded conversation on welcome."""
    folder = tmp_path_factory.mktemp("site")
    env = os.environ | {
        "DATABASE_URL": f"sqlite:///{folder / 'site.db'}",
        "INSTANCE_PATH": str(folder / "instance"),
        "SECRET_KEY": "validity",
        "ADMIN_PASSWORD": PASSWORD,
        "COMMENT_MIN_SECONDS": "0",
        "COMMENT_MODERATION": "off",
        "COMMENT_RATE_LIMIT": "100 per minute",
        "LOGIN_RATE_LIMIT": "100 per minute",
    }
    flask_command(env, "init-db")
    flask_command(env, "create-admin", "owner", "--display-name", "Olive Owner")
    flask_command(env, "create-author", "guarded", "--display-name", "Gus Guarded")  # for two-factor pages
    flask_command(env, "seed-demo", "--posts", "12", "--comments", "40")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2", "app:create_app()"],
        cwd=ROOT,
        env=env,
        stdout=(folder / "gunicorn.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_healthy(url, process)
    reader = requests.Session()
    for body in ("A first thought, with *emphasis*.", "A second one."):
        html = reader.get(f"{url}/posts/welcome").text
        token = CSRF_FIELD.search(html, html.find('action="/posts/welcome/comments#')).group(1)
        reader.post(f"{url}/posts/welcome/comments", data={"csrf_token": token, "name": "Ada", "body": body})
    first = reader.get(f"{url}/posts/welcome").text
    ada = re.search(r'id="comment-(\d+)"', first).group(1)  # seed-demo's ids came first
    token = CSRF_FIELD.search(first, first.find('action="/posts/welcome/comments#')).group(1)
    ken = reader.post(
        f"{url}/posts/welcome/comments",
        data={"csrf_token": token, "name": "Ken", "body": "A reply.", "parent_id": ada},
        allow_redirects=False,
    )
    owner = owner_session(url)  # a reply at the third level, from the owner: marked as theirs
    html = owner.get(f"{url}/posts/welcome").text
    token = CSRF_FIELD.search(html, html.find('action="/posts/welcome/comments#')).group(1)
    reply_to = ken.headers["Location"].rpartition("-")[2]
    answer = owner.post(
        f"{url}/posts/welcome/comments",
        data={"csrf_token": token, "name": "Olive Owner", "body": "Thank you both.", "parent_id": reply_to},
        allow_redirects=False,
    )
    assert ken.status_code == answer.status_code == 303
    publish_post_with_images(owner, url)  # a feature image, images in the text: sized, with srcset and sizes
    yield url
    os.kill(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def owner_session(url: str, username: str = "owner") -> requests.Session:
    owner = requests.Session()
    token = CSRF_FIELD.search(owner.get(f"{url}/admin/login").text).group(1)
    owner.post(f"{url}/admin/login", data={"csrf_token": token, "username": username, "password": PASSWORD})
    return owner


def two_factor_pages(url: str) -> dict[str, str]:
    """Turn on two-factor for the author "guarded", keeping each page met on the way."""
    author = owner_session(url, "guarded")
    pages = {"two-factor-set-up": author.get(f"{url}/admin/account/").text}
    html = pages["two-factor-set-up"]
    key = re.search(r'<code class="key">([A-Z2-7 ]+)</code>', html).group(1).replace(" ", "")
    secret = re.search(r'name="secret"[^>]*value="([^"]+)"', html).group(1)
    form = {"csrf_token": CSRF_FIELD.search(html).group(1), "secret": secret, "password": PASSWORD}
    pages["two-factor-wrong-code"] = author.post(f"{url}/admin/account/two-factor", data=form | {"code": "x"}).text
    code = pyotp.TOTP(key).now()
    pages["recovery-codes"] = author.post(f"{url}/admin/account/two-factor", data=form | {"code": code}).text
    pages["two-factor-on"] = author.get(f"{url}/admin/account/").text
    browser = requests.Session()
    token = CSRF_FIELD.search(browser.get(f"{url}/admin/login").text).group(1)
    login = {"csrf_token": token, "username": "guarded", "password": PASSWORD}
    pages["login-code"] = browser.post(f"{url}/admin/login", data=login).text
    assert "Enter your code" in pages["login-code"] and "<strong>On.</strong>" in pages["two-factor-on"]
    return pages


def page_types(url: str) -> dict[str, str]:
    """The HTML of every kind of page a reader or the owner meets, by name."""
    reader, owner = requests.Session(), owner_session(url)
    pages = {
        name: reader.get(url + path).text
        for name, path in {
            "home": "/",
            "home-page-2": "/?page=2",
            "post-with-comments": "/posts/welcome",
            "post-with-images": "/posts/pictures",
            "reply-form": "/posts/welcome?replyto=1",
            "tags": "/tags/",
            "tag": "/tags/notes",
            "archive": "/archive",
            "search": "/search?q=welcome",
            "empty-search": "/search?q=zzzzzz",
            "not-found": "/no-such-page",
            "login": "/admin/login",
        }.items()
    }
    html = reader.get(f"{url}/posts/welcome").text
    token = CSRF_FIELD.search(html, html.find('action="/posts/welcome/comments#')).group(1)
    form = {"csrf_token": token, "name": "Typed name", "body": ""}
    pages["comment-errors"] = reader.post(f"{url}/posts/welcome/comments", data=form).text
    form |= {"body": "A *previewed* comment.", "action": "preview"}
    pages["comment-preview"] = reader.post(f"{url}/posts/welcome/comments", data=form).text
    posted = reader.post(f"{url}/posts/welcome/comments", data=form | {"action": "post"}, allow_redirects=False)
    edit = f"{url}/posts/welcome/comments/{posted.headers['Location'].rpartition('-')[2]}/edit"
    pages["edit-comment"] = reader.get(edit).text
    edit_form = {"csrf_token": CSRF_FIELD.search(pages["edit-comment"]).group(1), "name": "Typed name"}
    pages["edit-comment-preview"] = reader.post(
        edit, data=edit_form | {"body": "Changed *text*.", "action": "preview"}
    ).text
    assert "minutes left" in pages["edit-comment"] and "comment-preview" in pages["edit-comment-preview"]
    assert '<span class="owner-mark">Blog owner</span>' in pages["post-with-comments"]
    assert 'fetchpriority="high"' in pages["post-with-images"] and pages["post-with-images"].count(" sizes=") >= 3
    for name, path in {
        "dashboard": "/admin/",
        "admin-posts": "/admin/posts",
        "new-post": "/admin/posts/new",
        "edit-post": "/admin/posts/1/edit",
        "comment-queue": "/admin/comments",
        "your-data": "/admin/data",
        "audit-log": "/admin/audit",
        "move-in": "/admin/import/",
        "post-history": "/admin/posts/1/history",
        "settings": "/admin/settings",
    }.items():
        pages[name] = owner.get(url + path).text
    queue_token = CSRF_FIELD.search(pages["comment-queue"]).group(1)
    delete = {"csrf_token": queue_token, "bulk_action": "delete", "ids": ["1"]}
    pages["confirm-comment-deletion"] = owner.post(f"{url}/admin/comments/bulk", data=delete).text
    assert "Delete this comment?" in pages["confirm-comment-deletion"]
    approve = {"csrf_token": queue_token, "action": "approve"}  # the queue shown next offers to undo it
    pages["queue-with-undo"] = owner.post(f"{url}/admin/comments/1/moderate", data=approve).text
    assert ">Undo</button>" in pages["queue-with-undo"]
    form = {"csrf_token": CSRF_FIELD.search(pages["settings"]).group(1), "blog_title": "", "blog_language": "en_GB"}
    pages["settings-errors"] = owner.post(f"{url}/admin/settings", data=form).text
    assert "Please enter a language tag" in pages["settings-errors"]
    return (
        pages
        | move_in_pages(owner, url)
        | tag_pages(owner, url)
        | page_and_menu_pages(owner, url)
        | two_factor_pages(url)
        | trash_pages(owner, url)
        | media_pages(owner, url)
    )


def media_pages(owner: requests.Session, url: str) -> dict[str, str]:
    """The editor with an image inserted, the media library listing it, a description refused, the library's trash
    with it, and the question before deleting it forever."""
    token = CSRF_FIELD.search(owner.get(f"{url}/admin/posts/new").text).group(1)
    form = {"csrf_token": token, "title": "Pictured", "body": "Text.", "action": "upload", "image_alt": "A dot"}
    image = {"image": ("dot.png", png_bytes())}
    pages = {"post-image-inserted": owner.post(f"{url}/admin/posts/new", data=form, files=image).text}
    pages["media"] = owner.get(f"{url}/admin/media").text
    name = re.search(r"/uploads/([0-9a-f]+\.png)", pages["media"]).group(1)
    refused = {"csrf_token": token, f"{name.split('.')[0]}-alt": ""}
    pages["media-description-refused"] = owner.post(f"{url}/admin/media/{name}/alt", data=refused).text
    owner.post(f"{url}/admin/media/{name}/delete", data={"csrf_token": token})
    pages["media-trash"] = owner.get(f"{url}/admin/media/trash").text
    pages["media-delete-forever"] = owner.get(f"{url}/admin/media/trash/{name}/delete").text
    assert "![A dot](/uploads/" in pages["post-image-inserted"]
    assert "Please describe" in pages["media-description-refused"]
    assert name in pages["media-trash"] and "forever?" in pages["media-delete-forever"]
    return pages


def trash_pages(owner: requests.Session, url: str) -> dict[str, str]:
    """The question before moving a post to the trash, the trash with it and a comment, and the questions before
    deleting forever (the newest demo post and comment go: the pages above use the welcome post)."""
    post_id = max(
        int(found) for found in re.findall(r"/admin/posts/(\d+)/delete", owner.get(f"{url}/admin/posts").text)
    )
    pages = {"confirm-trash": owner.get(f"{url}/admin/posts/{post_id}/delete").text}
    token = CSRF_FIELD.search(pages["confirm-trash"]).group(1)
    owner.post(f"{url}/admin/posts/{post_id}/delete", data={"csrf_token": token})
    queue = owner.get(f"{url}/admin/comments").text
    comment_id = max(int(found) for found in re.findall(r'id="queue-(\d+)"', queue))
    trash_comment = {"csrf_token": token, "bulk_action": "delete", "ids": [str(comment_id)], "confirmed": "yes"}
    owner.post(f"{url}/admin/comments/bulk", data=trash_comment)
    pages["trash"] = owner.get(f"{url}/admin/trash").text
    pages["confirm-delete-forever"] = owner.get(f"{url}/admin/trash/{post_id}/delete").text
    pages["confirm-delete-comment-forever"] = owner.get(f"{url}/admin/trash/comments/{comment_id}/delete").text
    assert "Restore" in pages["trash"] and "forever?" in pages["confirm-delete-forever"]
    assert f"/admin/trash/comments/{comment_id}/restore" in pages["trash"]
    assert "forever?" in pages["confirm-delete-comment-forever"]
    return pages


def page_and_menu_pages(owner: requests.Session, url: str) -> dict[str, str]:
    """A page written in the post editor, as readers see it, and the settings page refusing a bad menu line."""
    token = CSRF_FIELD.search(owner.get(f"{url}/admin/posts/new").text).group(1)
    page = {"csrf_token": token, "title": "About", "body": "Who *writes* here.", "status": "published"}
    owner.post(f"{url}/admin/posts/new", data=page | {"is_page": "y", "action": "save"})
    pages = {"page": requests.get(f"{url}/pages/about").text}
    token = CSRF_FIELD.search(owner.get(f"{url}/admin/settings").text).group(1)
    menu = {"csrf_token": token, "blog_title": "Inkwell", "blog_language": "en", "blog_menu": "Bad | javascript:x"}
    pages["settings-menu-error"] = owner.post(f"{url}/admin/settings", data=menu).text
    assert "<h1>About</h1>" in pages["page"] and "Line 1" in pages["settings-menu-error"]
    return pages


def move_in_pages(owner: requests.Session, url: str) -> dict[str, str]:
    """The import page after checking a WordPress export (nothing is kept), and after sending no file."""
    html = owner.get(f"{url}/admin/import/").text
    form = {"csrf_token": CSRF_FIELD.search(html).group(1), "source": "wordpress", "pages": "y"}
    export = {"export": ("marta.xml", (Path(__file__).parent / "fixtures" / "wordpress.xml").read_bytes())}
    pages = {
        "move-in-check": owner.post(f"{url}/admin/import/", data=form, files=export).text,
        "move-in-errors": owner.post(f"{url}/admin/import/", data=form, files={"export": ("", b"")}).text,
    }
    assert "What importing marta.xml will do" in pages["move-in-check"]
    assert "Please choose the file to import." in pages["move-in-errors"]
    return pages


def tag_pages(owner: requests.Session, url: str) -> dict[str, str]:
    """The tags' pages: the list, a tag's form, a merge into itself refused, the question before deleting, and
    the tag saved with a description, in the admin area and on its public page."""
    pages = {
        name: owner.get(url + path).text
        for name, path in {"admin-tags": "/admin/tags", "tag-form": "/admin/tags/1"}.items()
    }
    html = pages["tag-form"]
    token = CSRF_FIELD.search(html).group(1)
    name = re.search(r'name="name"[^>]*value="([^"]+)"', html).group(1)
    slug = re.search(r'name="slug"[^>]*value="([^"]+)"', html).group(1)
    refused = owner.post(f"{url}/admin/tags/1/merge", data={"csrf_token": token, "into": name})
    pages["tag-merge-refused"] = refused.text
    pages["tag-delete"] = owner.get(f"{url}/admin/tags/1/delete").text
    described = {"csrf_token": token, "name": name, "slug": slug, "description": "Short <notes> & longer\nthoughts."}
    pages["tag-saved"] = owner.post(f"{url}/admin/tags/1", data=described).text
    pages["tag-with-description"] = requests.get(f"{url}/tags/{slug}").text
    assert refused.status_code == 400 and "cannot be merged into itself" in pages["tag-merge-refused"]
    assert "Short &lt;notes&gt; &amp; longer" in pages["tag-with-description"]
    return pages


@pytest.mark.skipif(JAVA is None, reason="Java is not installed (the Nu HTML Checker runs on it)")
@pytest.mark.skipif(not VNU_JAR.exists(), reason="vnu.jar is missing: run `npm ci` (make test does)")
def test_every_page_type_is_valid_html(site, tmp_path):
    files = []
    for name, html in page_types(site).items():
        path = tmp_path / f"{name}.html"
        path.write_text(html)
        files.append(str(path))

    result = subprocess.run(
        [JAVA, "-jar", str(VNU_JAR), "--errors-only", "--format", "json", *files],
        capture_output=True,
        text=True,
        timeout=300,
    )

    messages = json.loads(result.stderr or '{"messages": []}')["messages"]
    errors = [f"{Path(m['url']).stem}: {m['message']} ({m.get('extract', '').strip()[:80]})" for m in messages]
    assert errors == []


axe_module = pytest.importorskip("axe_playwright_python.sync_playwright", reason="axe-playwright-python is missing")


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


ACCESSIBILITY_PAGES = {
    "home": "/",
    "post-with-comments": "/posts/welcome",
    "post-with-images": "/posts/pictures",
    "tag": "/tags/notes",
    "archive": "/archive",
    "search": "/search?q=welcome",
    "login": "/admin/login",
}
OWNER_PAGES = {
    "dashboard": "/admin/",
    "new-post": "/admin/posts/new",
    "comment-queue": "/admin/comments",
    "audit-log": "/admin/audit",
    "account-security": "/admin/account/",
    "move-in": "/admin/import/",
    "post-history": "/admin/posts/1/history",
    "tags": "/admin/tags",
    "tag-form": "/admin/tags/1",
    "settings": "/admin/settings",
    "trash": "/admin/trash",
    "media": "/admin/media",
    "media-trash": "/admin/media/trash",
}


def violations(page) -> list[str]:
    results = axe_module.Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {node['target']}"
        for violation in results.response["violations"]
        for node in violation["nodes"]
    ]


@pytest.mark.parametrize("width", [360, 1280])
def test_reader_pages_have_no_accessibility_violations(site, chromium, width):
    page = chromium.new_page(viewport={"width": width, "height": 900})
    found = {}
    for name, path in ACCESSIBILITY_PAGES.items():
        page.goto(site + path)
        found[name] = violations(page)
    page.goto(f"{site}/posts/welcome")
    page.get_by_role("button", name="Post comment").click()  # the form with its errors
    found["comment-errors"] = violations(page)
    page.close()
    assert {name: problems for name, problems in found.items() if problems} == {}


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_owner_pages_have_no_accessibility_violations_in_light_or_dark(site, chromium, color_scheme):
    context = chromium.new_context(color_scheme=color_scheme)
    page = context.new_page()
    page.goto(f"{site}/admin/login")
    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    found = {}
    for name, path in {**OWNER_PAGES, **ACCESSIBILITY_PAGES}.items():
        page.goto(site + path)
        found[name] = violations(page)
    context.close()
    assert {name: problems for name, problems in found.items() if problems} == {}


def tab_to(page, expression: str, wanted: str) -> None:
    for _ in range(30):
        if page.evaluate(expression) == wanted:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {wanted}")


def test_a_keyboard_alone_can_post_a_comment_with_visible_focus(site, chromium):
    page = chromium.new_page()
    page.goto(f"{site}/posts/welcome")

    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    focused = []
    for _ in range(200):
        page.keyboard.press("Tab")
        label = page.evaluate("document.activeElement.id || document.activeElement.textContent")
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none", f"no visible focus on {label}"
        focused.append(label)
        if label == "name":
            break
    page.keyboard.type("Keyboard Kim")
    tab_to(page, "document.activeElement.id", "body")
    page.keyboard.type("Written without a mouse.")
    tab_to(page, "document.activeElement.textContent", "Post comment")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    assert "Written without a mouse." in page.locator(".comments").inner_text()
    assert "homepage" not in focused  # the honeypot is skipped by the keyboard
    page.close()
