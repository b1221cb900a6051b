"""Weigh the pages readers load most, as Chromium loads them: HTML, CSS, fonts, JavaScript and images, in bytes.

`make bench` runs it after run.py (or run it alone: `.venv/bin/python bench/page_weight.py`). It seeds a demo blog,
publishes a post with a feature image, two images in its text and a code block through the real forms, starts
gunicorn, opens each page on a phone (360 px) and a desktop (1280 px), scrolls to the end so lazy images load too,
and sums what the browser fetched (Resource Timing's encodedBodySize: bytes as gunicorn sends them, without the
gzip nginx adds to HTML, CSS and JavaScript). The table replaces the "Page weight" section of bench/results.md.
"""

from __future__ import annotations

import io
import re
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import requests
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from harness import bench_environment  # noqa: E402
from harness import seed  # noqa: E402
from harness import start_gunicorn  # noqa: E402
from lighthouse import PASSWORD  # noqa: E402
from lighthouse import owner_cookie  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu"]
RESULTS = ROOT / "bench" / "results.md"
HEADING = "## Page weight"
KINDS = ("HTML", "CSS", "fonts", "JS", "images", "other")
FETCHED = """() => [
  ...performance.getEntriesByType("navigation").map((e) => ["HTML", e.name, e.encodedBodySize]),
  ...performance.getEntriesByType("resource").map((e) => ["", e.name, e.encodedBodySize]),
]"""


def kind_of(address: str) -> str:
    path = address.split("?", 1)[0]
    if "/uploads/" in path:
        return "images"
    for kind, endings in (("CSS", (".css",)), ("fonts", (".woff2", ".woff")), ("JS", (".js",))):
        if path.endswith(endings):
            return kind
    return "other"


def photo(width: int, height: int) -> bytes:
    """A photo's worth of detail: gradients with grain, which compress about as a photo does."""
    ramp = Image.linear_gradient("L").resize((width, height))
    grain = Image.effect_noise((width, height), 48)
    channels = [Image.blend(channel, grain, 0.35) for channel in (ramp, ramp.transpose(0), ramp.transpose(1))]
    picture = Image.merge("RGB", channels)
    output = io.BytesIO()
    picture.save(output, format="JPEG", quality=90)
    return output.getvalue()


def publish_pictures(url: str, cookie: str) -> str:
    """Publish, as the owner through the editor's forms, a post with three photos and code; return its path."""
    session = requests.Session()
    session.headers["Cookie"] = cookie
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', session.get(f"{url}/admin/posts/new").text)
    token = token or re.search(r'name="csrf_token" value="([^"]+)"', session.get(f"{url}/admin/posts/new").text)
    names = []
    for index, size in enumerate([(2400, 1350), (1800, 1200), (1200, 1600)]):
        answer = session.post(
            f"{url}/admin/media/upload",
            data={"csrf_token": token[1], "alt": f"Photo {index + 1}"},
            files={"image": (f"photo-{index}.jpg", photo(*size))},
        )
        names.append(answer.json()["name"])
    words = " ".join(["Words to read around the photos, as a post has them."] * 14)
    code = "```python\ndef greet(name):\n    return f'Hello, {name}!'\n```"
    body = "\n\n".join([words, f"![Photo 2](/uploads/{names[1]})", words, code, f"![Photo 3](/uploads/{names[2]})"])
    form = {"csrf_token": token[1], "title": "Photos and code", "body": body, "status": "published"}
    session.post(f"{url}/admin/posts/new", data=form | {"feature_image": names[0], "action": "save"})
    return "/posts/photos-and-code"


def weigh(browser, url: str, width: int) -> dict[str, int]:
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    page.goto(url, wait_until="load")
    for _ in range(20):
        page.mouse.wheel(0, 800)
        page.wait_for_timeout(50)
    page.wait_for_load_state("networkidle")
    totals = dict.fromkeys(KINDS, 0)
    for kind, address, size in page.evaluate(FETCHED):
        totals[kind or kind_of(address)] += size
    context.close()
    return totals


def table(rows: list[tuple[str, dict[str, int]]]) -> str:
    lines = [
        HEADING,
        "",
        "Bytes each page makes Chromium fetch (`bench/page_weight.py`: as gunicorn sends them; nginx also gzips",
        "HTML, CSS and JavaScript), lazy images included after scrolling to the end; each page in a fresh browser.",
        "",
        "| page | HTML | CSS | fonts | JS | images | other | total |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, totals in rows:
        cells = " | ".join(f"{totals[kind]:,}" for kind in KINDS)
        lines.append(f"| {name} | {cells} | {sum(totals.values()):,} |")
    return "\n".join(lines) + "\n"


def write_section(section: str) -> None:
    """Put the section in bench/results.md, in place of an earlier one, leaving the rest as it is."""
    text = RESULTS.read_text() if RESULTS.exists() else ""
    before, _, after = text.partition(HEADING)
    rest = after.split("\n## ", 1)[1] if "\n## " in after else ""
    text = before.rstrip("\n") + "\n\n" + section + (f"\n## {rest}" if rest else "")
    RESULTS.write_text(text.lstrip("\n"))


def main() -> None:
    from playwright.sync_api import sync_playwright

    workdir = Path(tempfile.mkdtemp(prefix="inkwell-weight-"))
    env = bench_environment(workdir, "weight")
    seed(env, 30, 60)
    rows = []
    with ExitStack() as stack, sync_playwright() as playwright:
        _, url = start_gunicorn(stack, "app:create_app()", env, workdir / "gunicorn.log")
        pictures = publish_pictures(url, owner_cookie(url, env | {"ADMIN_PASSWORD": PASSWORD}))
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for name, path in (("home", "/"), ("post with photos and code", pictures), ("archive", "/archive")):
            for device, width in (("phone", 360), ("desktop", 1280)):
                rows.append((f"{name} ({device}, {width} px)", weigh(browser, url + path, width)))
        browser.close()
    section = table(rows)
    print(section)
    write_section(section)


if __name__ == "__main__":
    main()
