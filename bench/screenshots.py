"""Take the README's screenshots: `make screenshots` writes them to docs/screenshots/.

Seeds a blog with the real commands (the demo posts, and a post with a 40-comment thread three levels deep),
starts gunicorn on a free loopback port and drives Debian's Chromium with Playwright: the readers' pages at a
phone's, a tablet's and a desktop's width, light and dark, and the owner's screens at a desktop's width.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from harness import bench_environment  # noqa: E402
from harness import seed  # noqa: E402
from harness import start_gunicorn  # noqa: E402
from lighthouse import first_ids  # noqa: E402
from lighthouse import owner_cookie  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
OUT = ROOT / "docs" / "screenshots"
THREAD_SLUG = "a-conversation"
WIDTHS = {"phone": (360, 780), "tablet": (768, 1024), "desktop": (1280, 900)}
SCHEMES = ("light", "dark")
READER_PAGES = (
    ("home", "/"),
    ("post", f"/posts/{THREAD_SLUG}"),
    ("thread", f"/posts/{THREAD_SLUG}#comments"),
    ("tag", "/tags/notes"),
    ("archive", "/archive"),
    ("search", "/search?q=welcome"),
)
ADMIN_SCREENS = (
    ("admin-dashboard", "/admin/"),
    ("admin-editor", "/admin/posts/{post}/edit"),
    ("admin-comments", "/admin/comments"),
    ("admin-history", "/admin/posts/{post}/history"),
    ("admin-settings", "/admin/settings"),
    ("admin-tags", "/admin/tags"),
    ("admin-trash", "/admin/trash"),
    ("admin-media", "/admin/media"),
    ("admin-import", "/admin/import/"),
)
# A post whose comments are a real conversation: 40 comments, in threads three levels deep, over two days.
THREAD = """
from datetime import timedelta
from app import create_app
from database import db, now_utc
from models import Comment, CommentStatus, Post, PostStatus
from slugs import tags_named
app = create_app()
with app.app_context():
    start = now_utc() - timedelta(days=2)
    post = Post(title="A conversation worth reading", slug="a-conversation", status=PostStatus.published,
                published_at=start, excerpt="What readers said when asked how they keep notes.",
                body="How do you keep notes? I asked, and forty answers came.\\n\\n## What I use\\n\\n"
                     "Plain text files, one a day, in a folder that syncs.\\n\\n```python\\n"
                     "from pathlib import Path\\nPath('notes').mkdir(exist_ok=True)\\n```\\n")
    post.tags = tags_named(["notes", "writing"])
    db.session.add(post)
    db.session.flush()
    names = ["Ada", "Bruno", "Chiara", "Dmitri", "Esi", "Farid", "Gwen", "Hiro", "Ines", "Jonas"]
    placed = []
    for n in range(40):
        depth_one = [c for c, depth in placed if depth == 1]
        depth_two = [c for c, depth in placed if depth == 2]
        if n % 4 == 3 and depth_two:
            parent, depth = depth_two[-1], 3
        elif n % 4 in (1, 2) and depth_one:
            parent, depth = depth_one[-1], 2
        else:
            parent, depth = None, 1
        comment = Comment(post_id=post.id, parent_id=parent.id if parent else None, author_name=names[n % 10],
                          body=f"Answer {n + 1}: I keep *mine* in a notebook, then type the good parts up.",
                          status=CommentStatus.approved, created_at=start + timedelta(minutes=70 * n))
        db.session.add(comment)
        db.session.flush()
        placed.append((comment, depth))
    db.session.commit()
"""


def seed_thread(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-c", THREAD], cwd=ROOT, env=env, check=True)


def harbour_png() -> bytes:
    """A picture to show: a dawn sky over water, drawn with Pillow (no file from elsewhere)."""
    from PIL import Image
    from PIL import ImageDraw

    image = Image.new("RGB", (1200, 675))
    draw = ImageDraw.Draw(image)
    for y in range(675):
        sky, sea = (250 - y // 6, 180 - y // 8, 120 + y // 10), (40 + y // 20, 90 + y // 16, 120 + y // 12)
        draw.line([(0, y), (1200, y)], fill=sky if y < 400 else sea)
    draw.ellipse((520, 300, 680, 460), fill=(255, 214, 150))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def add_picture(url: str, env: dict[str, str], cookie: str) -> None:
    """Upload a picture through the editor's own upload address, then show it in the conversation's post."""
    headers = {"Cookie": cookie, "Origin": url}
    form = requests.get(f"{url}/admin/posts/new", headers=headers, timeout=30).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    answer = requests.post(
        f"{url}/admin/media/upload",
        headers=headers,
        data={"csrf_token": token, "alt": "Boats in the harbour at dawn"},
        files={"image": ("harbour.png", harbour_png(), "image/png")},
        timeout=30,
    )
    answer.raise_for_status()
    show = (
        "from app import create_app\nfrom database import db\nfrom models import Post\napp = create_app()\n"
        "with app.app_context():\n"
        f"    post = db.session.query(Post).filter_by(slug='{THREAD_SLUG}').one()\n"
        f"    post.body = post.body + '\\n\\n' + {answer.json()['snippet']!r}\n"
        "    db.session.commit()\n"
    )
    subprocess.run([sys.executable, "-c", show], cwd=ROOT, env=env, check=True)


def shoot(browser, url: str, name: str, size: tuple[int, int], scheme: str, headers: dict | None = None) -> Path:
    context = browser.new_context(
        viewport={"width": size[0], "height": size[1]}, color_scheme=scheme, extra_http_headers=headers or {}
    )
    page = context.new_page()
    page.goto(url, wait_until="networkidle")
    path = OUT / f"{name}.png"
    page.screenshot(path=path)
    context.close()
    return path


def main() -> None:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        sys.exit("Chromium is not installed: apt-get install chromium")
    OUT.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="inkwell-screenshots-"))
    env = bench_environment(workdir, "screenshots")
    seed(env, 12, 60)
    seed_thread(env)
    taken = []
    with ExitStack() as stack:
        _, url = start_gunicorn(stack, "app:create_app()", env, workdir / "gunicorn.log")
        cookie = owner_cookie(url, env)
        add_picture(url, env, cookie)
        ids = first_ids(url, cookie)
        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        stack.callback(browser.close)
        for page_name, path in READER_PAGES:
            for device, size in WIDTHS.items():
                for scheme in SCHEMES:
                    taken.append(shoot(browser, url + path, f"{page_name}-{device}-{scheme}", size, scheme))
        for name, path in ADMIN_SCREENS:
            taken.append(shoot(browser, url + path.format(**ids), name, WIDTHS["desktop"], "light", {"Cookie": cookie}))
    print(f"{len(taken)} screenshots in {OUT.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
