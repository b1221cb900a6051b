"""Helpers the test modules share: plain functions and constants, no fixtures (those are in ``conftest.py``).

Each helper acts as a person or a browser would (the real forms with their CSRF tokens, real HTTP against
gunicorn) or reads what the app stored. A helper that only one test module uses stays in that module; test
modules import from here, never from ``conftest.py`` or from each other (``test_layout.py`` checks that).
"""

from __future__ import annotations

import html as html_module
import io
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from datetime import timedelta
from math import isqrt
from pathlib import Path
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

import html5lib
import pyotp
import requests
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.engine import make_url
from werkzeug.datastructures import MultiDict
from werkzeug.security import generate_password_hash
from werkzeug.test import TestResponse

import cachestores
import pageserver
from admin.moderation import moderate
from database import db
from database import now_utc
from markup import SAFE_PROTOCOLS
from models import Comment
from models import Post
from models import PostStatus
from slugs import slugify
from transfer.common import ImportResult
from transfer.export import export_json
from transfer.inkwell import import_data
from transfer.inkwell import read_export

ROOT = Path(__file__).resolve().parent.parent

# Databases and Redis: SQLite always, PostgreSQL and Redis when named in the environment


def give_each_test_worker_its_own_services(environ: dict[str, str] | os._Environ) -> None:
    """Point each pytest-xdist worker at its own PostgreSQL database and Redis database number.

    Tests drop every table and reset the rate-limit counters; two workers sharing one database would undo
    each other's work. Worker ``gwN`` gets ``<database>_gwN`` (created when missing) and Redis number base + N.
    """
    worker = environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return
    number = int(worker.removeprefix("gw"))
    if environ.get("TEST_DATABASE_URL"):
        base = make_url(environ["TEST_DATABASE_URL"])
        own = base.set(database=f"{base.database}_{worker}")
        engine = create_engine(base, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": own.database})
            if exists.first() is None:
                connection.execute(text(f'CREATE DATABASE "{own.database}"'))
        engine.dispose()
        environ["TEST_DATABASE_URL"] = own.render_as_string(hide_password=False)
    if environ.get("TEST_REDIS_URL"):
        redis = urlsplit(environ["TEST_REDIS_URL"])
        base_number = int(redis.path.strip("/") or 0)
        environ["TEST_REDIS_URL"] = urlunsplit(redis._replace(path=f"/{base_number + number}"))


# Before the URLs below are read, and once per process: this module is imported only once.
give_each_test_worker_its_own_services(os.environ)
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")
CACHE_STORES = ["files"] + (["redis"] if TEST_REDIS_URL else [])  # where the page cache is tested
DATABASES = ["sqlite"] + (["postgresql"] if TEST_DATABASE_URL else [])


def reset_database() -> None:
    """Empty the database: drop every table (and the migrations' bookkeeping), then create the tables."""
    db.drop_all()
    with db.engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    db.create_all()


# What the app stored


def stored_comments(app: Flask) -> list[Comment]:
    """Return every comment in the database, oldest first."""
    with app.app_context():
        return list(db.session.scalars(select(Comment).order_by(Comment.id)))


def count(app: Flask, column) -> int:
    """Count the rows that have ``column`` (e.g. ``Post.id``)."""
    with app.app_context():
        return db.session.scalar(select(func.count(column)))


class StatementCounter:
    """Count (and keep) the SQL statements the app runs, as a reader's request would."""

    def __init__(self, app):
        with app.app_context():
            self.engine = db.engine
        self.count = 0
        self.statements: list[str] = []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc_info):
        event.remove(self.engine, "before_cursor_execute", self._count)

    def _count(self, connection, cursor, statement, *args):
        self.count += 1
        self.statements.append(statement)


# Pages and forms, as a browser reads and fills them

PASSWORD = "correct horse battery staple"
PASSWORD_HASH = generate_password_hash(PASSWORD)  # hashed once: scrypt is slow on purpose

CSRF_FIELD = re.compile(r'<input[^>]*\bname="csrf_token"[^>]*\bvalue="([^"]+)"')
ATOM = "{http://www.w3.org/2005/Atom}"  # the Atom namespace, as ElementTree names its elements


def page_text(response: TestResponse) -> str:
    """Return the body of a response as text."""
    return response.get_data(as_text=True)


def csrf_token(client: FlaskClient, url: str, action: str = "") -> str:
    """Read the CSRF token from the form on ``url`` (the one sent to ``action``, if given), as a browser would."""
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    html = page.get_data(as_text=True)
    start = html.find(f'action="{action}')
    assert start >= 0, f"no form sending to {action} on {url}"
    match = CSRF_FIELD.search(html, start)
    assert match, f"no CSRF token in the form on {url}"
    return match.group(1)


def form_fields(response: TestResponse, action: str) -> dict[str, str]:
    """The named inputs of the form sent to `action` on a page, with their values, as a browser would send them."""
    html = page_text(response)
    start = html.index(f'action="{action}"')
    form = html[start : html.index("</form>", start)]
    fields = {}
    for tag in re.findall(r"<input\b[^>]*>", form):
        name = re.search(r'\bname="([^"]*)"', tag)
        value = re.search(r'\bvalue="([^"]*)"', tag)
        if re.search(r'\btype="(?:checkbox|radio)"', tag) and not re.search(r"\bchecked\b", tag):
            continue  # a browser sends only the boxes that are ticked
        if name:
            fields[name.group(1)] = html_module.unescape(value.group(1)) if value else ""
    return fields


def executable_scripts(html: str) -> list[str]:
    """Return the script elements a browser would run (JSON-LD data blocks are not run)."""
    return re.findall(r"<script(?![^>]*application/ld\+json)[^>]*>", html, re.IGNORECASE)


def anonymous_get(app: Flask, path: str, **headers: str) -> TestResponse:
    """A reader with no cookies at all."""
    return app.test_client().get(path, headers=headers)


def post_comment(client: FlaskClient, slug: str, **fields: str) -> TestResponse:
    """Fill in and send the comment form on a post page, with its real CSRF token."""
    data = {"name": "Ada", "body": "A thoughtful comment."} | fields
    data.setdefault("csrf_token", csrf_token(client, f"/posts/{slug}", action=f"/posts/{slug}/comments#"))
    response = client.post(f"/posts/{slug}/comments", data=data)
    response.close()  # as a server does once the response is sent: runs the after-response work (email)
    return response


# The owner's side: logging in, writing posts, moderating


def log_in(client: FlaskClient, username: str, password: str = PASSWORD, **fields: str) -> TestResponse:
    """Log in through the real login form."""
    data = {"username": username, "password": password, "csrf_token": csrf_token(client, "/admin/login")} | fields
    return client.post("/admin/login", data=data)


def is_logged_in(client: FlaskClient) -> bool:
    """Tell whether ``client`` may open the admin area."""
    return client.get("/admin/").status_code == 200


def submit_post(client, url: str = "/admin/posts/new", **fields):
    """Fill in and send the post form on ``url`` with its real CSRF token."""
    form_page = url if url.endswith(("/new", "/edit")) else "/admin/posts/new"
    data = {
        "title": "A new post",
        "body": "Some *Markdown*.",
        "status": "published",
        "comments_open": "y",
        "action": "save",
        "csrf_token": csrf_token(client, form_page),
    } | fields
    return client.post(url, data=data, content_type="multipart/form-data")


def queue_action(client, url: str, **data):
    """Send a button of the moderation queue (approve, reject, ...) to ``url`` with the queue's CSRF token."""
    token = csrf_token(client, "/admin/comments")
    return client.post(url, data={"csrf_token": token} | data)


def press_undo(client):
    """Press "Undo" on the queue page shown right after a moderation; return that page and the answer."""
    page = client.get("/admin/comments")
    action = re.search(r'action="(/admin/comments/undo/\d+)"', page_text(page)).group(1)
    return page, client.post(action, data=form_fields(page, action))


def send_form_on_page(client, page: TestResponse, action: str) -> TestResponse:
    """Press the button of the form sent to ``action`` on ``page`` (a confirmation), every field as it is there."""
    html = page_text(page)
    start = html.index(f'action="{action}"')
    form = html[start : html.index("</form>", start)]
    fields = re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)"', form)
    return client.post(action, data=MultiDict([(name, html_module.unescape(value)) for name, value in fields]))


def reader_the_page_cache_misses(app: Flask) -> FlaskClient:
    """A browser with a session cookie (forged, so it holds nothing of theirs): always rendered, never stored."""
    client = app.test_client()
    client.set_cookie("inkwell_session", "forged")
    return client


def publish_now(app: Flask, title: str) -> None:
    """Publish a post through ``app`` itself, so that its page cache (in Redis too) learns of it at once."""
    with app.app_context():
        published = now_utc() - timedelta(minutes=1)
        db.session.add(
            Post(title=title, slug=slugify(title), body="News.", status=PostStatus.published, published_at=published)
        )
        db.session.commit()


def generations_of(app: Flask):
    """The store of generations (and of render locks) the app's page cache reads."""
    middleware = app.wsgi_app
    while not isinstance(middleware, pageserver.PageCacheMiddleware):
        middleware = middleware.wsgi_app
    return middleware.generations


class HeldRenders:
    """Make ``app`` a worker caught in the middle of rendering: once held, its requests that reach Flask (the page
    cache let them through to render) wait until released."""

    def __init__(self, app: Flask) -> None:
        self.started = threading.Event()  # a request of the worker's is rendering
        self._released = threading.Event()
        self._released.set()
        app.before_request(self._wait)

    def hold(self) -> None:
        self.started.clear()
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def _wait(self) -> None:
        self.started.set()
        self._released.wait(10)


def pause_after_render_over(app: Flask) -> None:
    """Give back the lock of the renders of pages changed beside their content, as once the pause after the last
    one has passed (pageserver.RENDERING_BESIDE): the next such page is rendered, not served from its copy before."""
    cachestores.unlock(generations_of(app), pageserver.RENDERING_BESIDE[0])


def approve(app, comment_id: int) -> None:
    """Approve a comment as the queue, the email links and the command line do."""
    with app.app_context():
        moderate(db.session.get(Comment, comment_id), "approve")


# The settings page

SETTINGS = "/admin/settings"


def settings_form(client) -> dict[str, str]:
    """The settings form as shown now, its fields as a browser would send them."""
    return form_in(page_text(client.get(SETTINGS)))


def form_in(html: str) -> dict[str, str]:
    """The settings form's fields on a page, as a browser would send them: inputs, text areas, chosen options."""
    start = html.index(f'action="{SETTINGS}"')
    form = html[start : html.index("</form>", start)]
    fields = {}
    for tag in re.findall(r"<input\b[^>]*>", form):
        name, value = re.search(r'\bname="([^"]*)"', tag), re.search(r'\bvalue="([^"]*)"', tag)
        fields[name.group(1)] = html_module.unescape(value.group(1)) if value else ""
    for name, typed in re.findall(r'<textarea\b[^>]*\bname="([^"]*)"[^>]*>(.*?)</textarea>', form, re.S):
        fields[name] = html_module.unescape(typed).removeprefix("\r\n").removeprefix("\n")
    for name, options in re.findall(r'<select\b[^>]*\bname="([^"]*)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r"<option\b[^>]*\bselected\b[^>]*>", options).group(0)
        fields[name] = re.search(r'\bvalue="([^"]*)"', chosen).group(1)
    return fields


def save(client, form: dict[str, str] | None = None, **changes: str):
    """Send the settings form (as shown now, unless ``form`` is one shown earlier) with ``changes`` typed in."""
    return client.post(SETTINGS, data=(form or settings_form(client)) | changes)


# Two-factor authentication, with the codes an authenticator app would show

ACCOUNT = "/admin/account/"
STEP = 30


def shown_key(response: TestResponse) -> str:
    """Read the authenticator key the set-up page shows, without its spaces."""
    match = re.search(r'<code class="key">([A-Z2-7 ]+)</code>', page_text(response))
    assert match, "no key on the set-up page"
    return match.group(1).replace(" ", "")


def code_at(key: str, steps_from_now: int = 0) -> str:
    """The code the phone shows now, or some steps (30 s each) earlier or later."""
    return pyotp.TOTP(key).at(time.time() + steps_from_now * STEP)


def next_code(key: str) -> str:
    """A code for logging in after `turn_on`, which used the current one (each works once). A phone's clock may
    be a step off either way, so this works even if the 30-second step turns over during the test."""
    return code_at(key, 1)


def turn_on(client: FlaskClient) -> tuple[str, list[str]]:
    """Turn two-factor on through the set-up page; return the app's key and the recovery codes shown."""
    page = client.get(ACCOUNT)
    key = shown_key(page)
    fields = form_fields(page, "/admin/account/two-factor") | {"code": code_at(key), "password": PASSWORD}
    response = client.post("/admin/account/two-factor", data=fields)
    assert response.status_code == 200, page_text(response)
    return key, re.findall(r"<li><code>([a-z0-9-]+)</code></li>", page_text(response))


# Export and import


def exported(app, **options) -> str:
    """Export the blog as the JSON text ``flask export`` writes."""
    with app.app_context():
        return export_json(**options)


def wipe(app) -> None:
    """Empty the blog: every table emptied, every uploaded image removed."""
    with app.app_context():
        reset_database()
    shutil.rmtree(Path(app.instance_path) / "uploads", ignore_errors=True)


def imported(app, text: str, **options) -> ImportResult:
    """Import an export's JSON text into the blog."""
    with app.app_context():
        return import_data(read_export(text.encode()), **options)


# Images, real and hostile

GIF_FRAME_AT_ORIGIN = b",\x00\x00\x00\x00\x01\x00\x01\x00"  # a 1 × 1 frame at (0, 0), as Pillow writes it


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """Build a real, tiny PNG image."""
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return png_claiming(width, height, rows)


def png_claiming(width: int, height: int, rows: bytes = b"\x00") -> bytes:
    """Build a PNG whose header claims ``width`` x ``height`` pixels, with whatever pixel data is given."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def animation(kind: str, size: tuple[int, int], frames: int) -> bytes:
    """Let Pillow write an animation whose frames alternate black and white, so none is merged away."""
    first, *rest = (Image.new("L", size, 255 * (index % 2)) for index in range(frames))
    output = io.BytesIO()
    first.save(output, format=kind, save_all=True, append_images=rest, duration=20, loop=0)
    return output.getvalue()


def gif_bomb(width: int, height: int, frames: int, *, beyond_the_canvas: bool = False) -> bytes:
    """Build a GIF of a few kilobytes that decodes to ``frames`` canvases of ``width`` × ``height`` pixels.

    Pillow writes 1 × 1 frames; then either the header claims the large canvas (the bomb from the issue), or
    the header stays 1 × 1 and every frame after the first is placed at the far corner, which makes a decoder
    grow the canvas as it goes.
    """
    data = bytearray(animation("GIF", (1, 1), frames))
    if not beyond_the_canvas:
        struct.pack_into("<HH", data, 6, width, height)
        return bytes(data)
    head, first, *later = bytes(data).split(GIF_FRAME_AT_ORIGIN)
    far_corner = b"," + struct.pack("<HHHH", width - 1, height - 1, 1, 1)
    return head + GIF_FRAME_AT_ORIGIN + first + b"".join(far_corner + frame for frame in later)


def picture_bytes(width: int, height: int, kind: str = "JPEG") -> bytes:
    """Build a photo-like image (a smooth gradient) ``width`` × ``height`` pixels, as ``kind``."""
    ramp = Image.linear_gradient("L").resize((width, height))
    picture = Image.merge("RGB", (ramp, ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT), ramp.rotate(90)))
    output = io.BytesIO()
    picture.save(output, format=kind)
    return output.getvalue()


def publish_post_with_images(session: requests.Session, url: str, title: str = "Pictures") -> str:
    """As a logged-in owner on a running blog, upload three images with the editor's upload address (as pasting
    does) and publish a post with the first as its feature image and the others in its text, between paragraphs
    long enough to push the last one below the fold; return the post's address."""
    token = CSRF_FIELD.search(session.get(f"{url}/admin/posts/new").text).group(1)
    names = []
    for index, size in enumerate([(1600, 900), (1200, 800), (400, 600)]):
        files = {"image": (f"picture-{index}.jpg", picture_bytes(*size))}
        answer = session.post(
            f"{url}/admin/media/upload", data={"csrf_token": token, "alt": f"Picture {index + 1}"}, files=files
        )
        assert answer.status_code == 201, answer.text
        names.append(answer.json()["name"])
    words = " ".join(["A paragraph of words to read around the pictures."] * 12)
    paragraphs = [words, f"![Picture 2](/uploads/{names[1]})", words, words, f"![Picture 3](/uploads/{names[2]})"]
    body = "\n\n".join([*paragraphs, words, "```python\nprint('code beside the pictures')\n```\n"])
    form = {"csrf_token": token, "title": title, "body": body, "status": "published", "feature_image": names[0]}
    saved = session.post(f"{url}/admin/posts/new", data=form | {"action": "save"}, allow_redirects=False)
    assert saved.status_code == 303, saved.text
    return f"{url}/posts/{title.lower()}"


# Rendered HTML, as a browser parses it, and the Markdown that costs a parser most

URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "background", "poster", "srcset"}
ALWAYS_ALLOWED = {"html", "head", "body"}  # html5lib wraps every fragment in these


def parsed(rendered: str):
    """Parse an HTML fragment as a browser would (html5lib), into an ElementTree."""
    return html5lib.parseFragment(rendered, treebuilder="etree", namespaceHTMLElements=False)


def problems(rendered: str, tags: set[str], attributes: dict[str, list[str]]) -> list[str]:
    """What a browser would find in ``rendered`` that the allow-list does not permit."""
    found = []
    for element in parsed(rendered).iter():
        tag = element.tag if isinstance(element.tag, str) else None
        if tag is None or tag in ALWAYS_ALLOWED or tag == "DOCUMENT_FRAGMENT":
            continue
        if tag not in tags:
            found.append(f"element <{tag}>")
        for name, value in element.attrib.items():
            if name.lower().startswith("on"):
                found.append(f"handler {name} on <{tag}>")
            elif name not in attributes.get(tag, []):
                found.append(f"attribute {name} on <{tag}>")
            if name.lower() in URL_ATTRIBUTES and not is_safe_address(value):
                found.append(f"address {value!r} on <{tag}>")
    return found


def is_safe_address(value: str) -> bool:
    """Tell whether an address is relative or uses an allowed scheme, as a browser would read it.

    ``value`` comes from the HTML parser, so its entities are already decoded (decoding again would see a
    ``javascript&colon;`` that no browser sees); browsers also drop control characters and whitespace.
    """
    squeezed = re.sub(r"[\x00-\x20\x7f]", "", value)
    scheme = urlsplit(squeezed).scheme.lower() if ":" in squeezed else ""
    return scheme in ("", *SAFE_PROTOCOLS)


# The worst inputs for a Markdown parser, each made ``n`` characters long (test_markup.py, bench/markdown_cost.py).
# Lines or runs that grow make a text whose length is quadratic in their count: only about sqrt(n) of them are
# made, as joining n of them before cutting took 20 GB for a 100,000-character post.
PATHOLOGICAL = {
    "nested_brackets": lambda n: "[" * n,
    "nested_brackets_closed": lambda n: "[" * (n // 2) + "]" * (n // 2),
    "nested_emphasis": lambda n: "*a " * (n // 6) + "b* " * (n // 6),
    "emphasis_run": lambda n: "*" * n,
    "underscore_run": lambda n: "_" * n,
    "alternating_emphasis": lambda n: ("*a **a " * n)[:n],
    "nested_block_quotes": lambda n: "> " * (n // 2),
    "nested_lists": lambda n: "- " * (n // 2),
    "nested_ordered_lists": lambda n: ("1. " * n)[:n],
    "quotes_in_lists": lambda n: ("> - " * n)[:n],
    "indented_nested_lists": lambda n: "".join(f"{'  ' * i}- x\n" for i in range(isqrt(n) + 1))[:n],
    "backtick_run": lambda n: "`" * n,
    "backtick_pairs": lambda n: ("`a" * n)[:n],
    "growing_backtick_runs": lambda n: "".join("`" * i + "a" for i in range(1, min(n, isqrt(2 * n) + 2)))[:n],
    "unclosed_links": lambda n: ("[a](" * n)[:n],
    "unclosed_images": lambda n: ("![a](" * n)[:n],
    "unclosed_link_titles": lambda n: ('[a](b "' * n)[:n],
    "link_reference_definitions": lambda n: "[r1]\n\n" + "".join(f"[r{i}]: /u{i}\n" for i in range(n))[: n - 6],
    "reference_uses": lambda n: "[a]: /u\n\n" + ("[a] " * n)[: n - 10],
    "footnote_markers": lambda n: ("[^" * n)[:n],
    "less_than_run": lambda n: "<" * n,
    "ampersand_run": lambda n: "&" * n,
    "backslash_run": lambda n: "\\" * n,
    "entity_run": lambda n: ("&amp;" * n)[:n],
    "open_tags": lambda n: ("<a " * n)[:n],
    "html_comments": lambda n: ("<!--" * n)[:n],
    "nested_html_quotes": lambda n: ("<blockquote>" * n)[:n],
    "distinct_formatting_tags": lambda n: ("".join(f"<em a={i}>" for i in range(n))[: n // 2] + "<p>x</p>" * n)[:n],
    "table_pipes": lambda n: "|" * n,
    "wide_table": lambda n: (("| a " * (n // 8)) + "\n" + ("|---" * (n // 8)))[:n],
    "opening_parentheses": lambda n: "(" * n,
    "hyphenated_word": lambda n: "a-" * (n // 2),
    "dotted_word": lambda n: "a." * (n // 2),
    "strikethrough_run": lambda n: "~" * n,
    "short_lines": lambda n: "a\n" * (n // 2),
}


# Real servers: gunicorn on a loopback port, commenters over real HTTP, Chromium

POSTERS = 16
COMMENTS_EACH = 8
LOCATION = re.compile(r"#comment-(\d+)$")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


ARTIFACTS = ROOT / "test-artifacts"
# Run in every page of a js_page (conftest.py) before its own scripts: dialogs and CSP violations are noted.
WATCH_FOR_TROUBLE = """
window.__trouble = [];
for (const name of ["alert", "confirm", "prompt"]) {
  window[name] = (...args) => { window.__trouble.push(name + ": " + args.join(" ")); };
}
document.addEventListener("securitypolicyviolation", (event) => {
  window.__trouble.push("CSP: " + event.violatedDirective + " " + event.blockedURI);
});
"""


def screenshot(page, name: str) -> None:
    """Save full-page screenshots at a phone's width and a desktop's."""
    ARTIFACTS.mkdir(exist_ok=True)
    for width in (360, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=ARTIFACTS / f"{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def log_in_as_owner(page, url: str) -> None:
    page.goto(f"{url}/admin/")
    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def trouble(page) -> list[str]:
    """The dialogs, CSP violations and console errors a js_page (conftest.py) has seen."""
    return page.evaluate("window.__trouble") + page.console_errors


# What some tests need beyond Python: (name, program, the tests that need it, how to get it on Debian or Ubuntu).
# Without one of them those tests are reported as skipped; conftest.py names the missing ones at the start.
TEST_TOOLS = [
    ("Chromium", "chromium", "the browser and accessibility tests", "sudo apt-get install chromium"),
    ("nginx", "nginx", "the tests of the deploy guide's nginx site", "sudo apt-get install nginx-light"),
    ("Java", "java", "the HTML validity test", "sudo apt-get install default-jre-headless"),
    ("npm", "npm", "installing the Node test tools", "sudo apt-get install npm"),
]
SYSTEM_FOLDERS = os.pathsep.join(["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin"])
VNU_JAR = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"


def missing_test_tools(search_path: str | None = None, vnu_jar: Path = VNU_JAR) -> list[str]:
    """Say which tools some tests need are missing, each with what needs it and how to get it.

    Programs are looked for on ``search_path`` (default: ``PATH`` and the system folders, where nginx lives).
    """
    if search_path is None:
        search_path = os.pathsep.join(filter(None, [os.environ.get("PATH"), SYSTEM_FOLDERS]))
    missing = [
        f"{name}, for {needed_by}: {command}"
        for name, program, needed_by, command in TEST_TOOLS
        if shutil.which(program, path=search_path) is None
    ]
    if not vnu_jar.exists():
        missing.append("the Nu HTML Checker, for the HTML validity test: npm ci (make test runs it when npm is there)")
    return missing


def missing_tools_report(missing: list[str]) -> list[str]:
    """The lines the test run starts with when tools are missing (nothing when none is)."""
    if not missing:
        return []
    return ["Missing for some tests, which will be reported as skipped:", *(f"  - {tool}" for tool in missing)]


def free_port() -> int:
    """Return a loopback port nothing listens on (the system picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until the server at ``url`` answers /healthz; raise if it exits or stays silent for ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {process.returncode}")
        try:
            if requests.get(f"{url}/healthz", timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # still booting
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer on {url} within {timeout}s")


def flask_command(env: dict[str, str], *args: str) -> None:
    """Run ``flask --app app ARGS`` in the project with the environment ``env``; raise if it fails."""
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env, check=True, capture_output=True
    )


# The ``flask`` command line's own group, given each command's arguments in turn; the first failure ends it.
_FLASK_COMMANDS = """
import json, sys
from flask.cli import cli
for args in json.loads(sys.argv[1]):
    code = cli.main(["--app", "app", *args], prog_name="flask", standalone_mode=False)
    if code:
        sys.exit(code)
"""


def flask_commands(env: dict[str, str], *commands: list[str]) -> None:
    """Run several ``flask --app app ARGS`` commands one after the other, as ``flask_command`` does, but in one
    Python process: each process spends a second or two importing the app. Raise if one fails."""
    subprocess.run(
        [sys.executable, "-c", _FLASK_COMMANDS, json.dumps(commands)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def post_comments(url: str, poster: int, acknowledged: list[int], failures: list[str]) -> None:
    """One commenter: load the form once, then post comments one after the other, noting what was acknowledged."""
    browser = requests.Session()
    token = load_form_token(browser, url, poster, failures)
    if token is None:
        return
    for n in range(COMMENTS_EACH):
        data = {"csrf_token": token, "name": f"Poster {poster}", "body": f"Comment {n} from poster {poster}"}
        try:
            response = browser.post(f"{url}/posts/welcome/comments", data=data, allow_redirects=False, timeout=30)
        except requests.RequestException:
            continue  # a connection cut by a killed worker: not acknowledged, so nothing was promised
        if response.status_code >= 500:
            failures.append(f"{response.status_code} for poster {poster}")
        elif response.status_code == 303:
            acknowledged.append(int(LOCATION.search(response.headers["Location"]).group(1)))


def load_form_token(browser: requests.Session, url: str, poster: int, failures: list[str]) -> str | None:
    """Load the post page for its form's token, reloading as a reader would when a killed worker cut it off."""
    for _attempt in range(3):
        try:
            return CSRF_FIELD.search(browser.get(f"{url}/posts/welcome", timeout=30).text).group(1)
        except requests.ConnectionError:
            continue
        except (requests.RequestException, AttributeError) as error:
            failures.append(f"poster {poster} could not load the form: {error}")
            return None
    failures.append(f"poster {poster} could not load the form three times in a row")
    return None


def run_posters(url: str, during=None) -> tuple[list[int], list[str]]:
    """Let ``POSTERS`` commenters post on the welcome post at once, calling ``during`` meanwhile.

    Return the ids of the comments the server acknowledged, and the failures seen.
    """
    acknowledged: list[int] = []
    failures: list[str] = []
    threads = [threading.Thread(target=post_comments, args=(url, n, acknowledged, failures)) for n in range(POSTERS)]
    for thread in threads:
        thread.start()
    if during:
        during()
    for thread in threads:
        thread.join(timeout=120)
    return acknowledged, failures


# WordPress exports (WXR), built as WordPress writes them

WXR_NAMESPACES = {  # what each WXR version declares, as the exports of their WordPress versions spell it
    ("1.0", "http"): "http://wordpress.org/export/1.0/",
    ("1.1", "http"): "http://wordpress.org/export/1.1/",
    ("1.2", "http"): "http://wordpress.org/export/1.2/",
    ("1.2", "https"): "https://wordpress.org/export/1.2/",
}


def wxr(*items: str, version: str = "1.2", scheme: str = "http", home: str = "https://example.com") -> bytes:
    """Return a WXR file with these ``<item>``s, for the blog at ``home``, as that WXR version spells it."""
    wp = WXR_NAMESPACES[(version, scheme)]
    return f"""<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0"
	xmlns:excerpt="{wp}excerpt/"
	xmlns:content="http://purl.org/rss/1.0/modules/content/"
	xmlns:wfw="http://wellformedweb.org/CommentAPI/"
	xmlns:dc="http://purl.org/dc/elements/1.1/"
	xmlns:wp="{wp}"
>
<channel>
	<title>Notes</title>
	<link>{home}</link>
	<description>Just another WordPress site</description>
	<wp:wxr_version>{version}</wp:wxr_version>
	<wp:base_site_url>{home}</wp:base_site_url>
	<wp:base_blog_url>{home}</wp:base_blog_url>
	<wp:author>
		<wp:author_login><![CDATA[ada]]></wp:author_login>
		<wp:author_display_name><![CDATA[Ada Byron]]></wp:author_display_name>
	</wp:author>
{"".join(items)}
</channel>
</rss>
""".encode()


def wxr_item(
    post_id: int,
    title: str,
    *,
    link: str,
    kind: str = "post",
    slug: str = "",
    status: str = "publish",
    body: str = "Some words.",
    excerpt: str = "",
    dates: str | None = None,
    comments: str = "",
) -> str:
    """Return one ``<item>`` of a WXR file; ``dates`` are its date elements (by default a day in March 2020)."""
    if dates is None:
        dates = wxr_dates(f"2020-03-{post_id % 28 + 1:02} 09:00:00")
    return f"""
	<item>
		<title><![CDATA[{title}]]></title>
		<link>{link}</link>
		<dc:creator><![CDATA[ada]]></dc:creator>
		<guid isPermaLink="false">{link}</guid>
		<content:encoded><![CDATA[{body}]]></content:encoded>
		<excerpt:encoded><![CDATA[{excerpt}]]></excerpt:encoded>
		<wp:post_id>{post_id}</wp:post_id>
		{dates}
		<wp:comment_status><![CDATA[open]]></wp:comment_status>
		<wp:post_name><![CDATA[{slug}]]></wp:post_name>
		<wp:status><![CDATA[{status}]]></wp:status>
		<wp:post_type><![CDATA[{kind}]]></wp:post_type>{comments}
	</item>"""


def wxr_dates(gmt: str | None, local: str | None = None) -> str:
    """Return an item's date elements: GMT and local, each left out when ``None``."""
    return "".join(
        f"<wp:{name}><![CDATA[{value}]]></wp:{name}>"
        for name, value in (("post_date", local), ("post_date_gmt", gmt))
        if value is not None
    )


def wxr_comment(comment_id: int, author: str, text: str, *, parent: int = 0, kind: str = "comment") -> str:
    """Return one approved ``<wp:comment>`` of an item (``kind`` may be ``pingback`` or ``trackback``)."""
    return f"""
		<wp:comment>
			<wp:comment_id>{comment_id}</wp:comment_id>
			<wp:comment_author><![CDATA[{author}]]></wp:comment_author>
			<wp:comment_date_gmt><![CDATA[2020-03-0{comment_id % 9 + 1} 10:00:00]]></wp:comment_date_gmt>
			<wp:comment_content><![CDATA[{text}]]></wp:comment_content>
			<wp:comment_approved><![CDATA[1]]></wp:comment_approved>
			<wp:comment_type><![CDATA[{kind}]]></wp:comment_type>
			<wp:comment_parent>{parent}</wp:comment_parent>
		</wp:comment>"""


def media_folder(root: Path, *names: str) -> Path:
    """Write a copy of an old blog's media folder: a small real picture under each of ``names`` (PNG or JPEG by
    the extension) and one text file pretending to be a picture, ``2023/01/not-an-image.jpg``."""
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 6), "navy").save(root / name, "PNG" if name.endswith(".png") else "JPEG")
    (root / "2023/01").mkdir(parents=True, exist_ok=True)
    (root / "2023/01/not-an-image.jpg").write_text("<html>not a picture</html>")
    return root
