"""Run Lighthouse (npm, pinned to 12.2.3) in Debian's Chromium against the readers' pages and the owner's screens.

`make lighthouse` seeds a blog, starts gunicorn on a free loopback port and runs Lighthouse headless: the home
page and a post with 50 comments in all four categories, on a phone and on a desktop; every admin screen, logged
in as the owner, for accessibility and best practices (performance and SEO mean nothing behind a login). It
prints the scores and writes them to bench/lighthouse.md.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from harness import SLUG  # noqa: E402
from harness import bench_environment  # noqa: E402
from harness import seed  # noqa: E402
from harness import start_gunicorn  # noqa: E402

LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = "/usr/bin/chromium"
CHROME_FLAGS = (
    "--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update "
    "--no-first-run --disable-sync"
)
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
ADMIN_CATEGORIES = ("accessibility", "best-practices")
OWNER, PASSWORD = "owner", "a long benchmark passphrase"
# The owner's screens, as paths; {post} and {tag} are the first post's and tag's ids.
ADMIN_SCREENS = (
    ("dashboard", "/admin/"),
    ("posts", "/admin/posts"),
    ("new post", "/admin/posts/new"),
    ("editing a post", "/admin/posts/{post}/edit"),
    ("a post's history", "/admin/posts/{post}/history"),
    ("comments queue", "/admin/comments"),
    ("tags", "/admin/tags"),
    ("a tag", "/admin/tags/{tag}"),
    ("settings", "/admin/settings"),
    ("trash", "/admin/trash"),
    ("media library", "/admin/media"),
    ("images in the trash", "/admin/media/trash"),
    ("import", "/admin/import/"),
    ("data", "/admin/data"),
    ("audit log", "/admin/audit"),
    ("account", "/admin/account/"),
)


def scores(url: str, report: Path, categories: tuple[str, ...], *extra: str) -> dict[str, int]:
    command = [
        str(LIGHTHOUSE),
        url,
        "--quiet",
        "--output=json",
        f"--output-path={report}",
        f"--chrome-flags={CHROME_FLAGS}",
        f"--only-categories={','.join(categories)}",
        *extra,
    ]
    subprocess.run(command, env=os.environ | {"CHROME_PATH": CHROMIUM}, check=True)
    result = json.loads(report.read_text())
    return {name: round(result["categories"][name]["score"] * 100) for name in categories}


def owner_cookie(url: str, env: dict[str, str]) -> str:
    """Make the owner's account with the real command, log in through the real form, return the Cookie header."""
    flask = [sys.executable, "-m", "flask", "--app", "app", "create-admin", OWNER]
    subprocess.run(flask, cwd=ROOT, env=env | {"ADMIN_PASSWORD": PASSWORD}, check=True, capture_output=True)
    session = requests.Session()
    form = session.get(f"{url}/admin/login", timeout=30).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form) or re.search(
        r'name="csrf_token" value="([^"]+)"', form
    )
    fields = {"csrf_token": token.group(1) if token else "", "username": OWNER, "password": PASSWORD}
    answer = session.post(f"{url}/admin/login", data=fields, headers={"Origin": url}, timeout=30)
    if "/admin/login" in answer.url:
        sys.exit("Could not log in as the owner for the admin screens")
    return "; ".join(f"{name}={value}" for name, value in session.cookies.items())


def first_ids(url: str, cookie: str) -> dict[str, str]:
    """The first post's and tag's ids, read from the admin lists."""
    headers = {"Cookie": cookie}
    posts = requests.get(f"{url}/admin/posts", headers=headers, timeout=30).text
    tags = requests.get(f"{url}/admin/tags", headers=headers, timeout=30).text
    post = re.search(r"/admin/posts/(\d+)/edit", posts)
    tag = re.search(r"/admin/tags/(\d+)", tags)
    return {"post": post.group(1) if post else "1", "tag": tag.group(1) if tag else "1"}


def failing_audits(report: Path) -> list[str]:
    result = json.loads(report.read_text())
    return sorted(
        f"{audit['id']}: {audit['title']}"
        for audit in result["audits"].values()
        if audit.get("score") is not None and audit["score"] < 1 and audit.get("scoreDisplayMode") == "binary"
    )


def main() -> None:
    if not LIGHTHOUSE.exists():
        sys.exit("Lighthouse is not installed: run `npm ci` (make lighthouse does)")
    workdir = Path(tempfile.mkdtemp(prefix="inkwell-lighthouse-"))
    env = bench_environment(workdir, "lighthouse")
    seed(env, 100, 300)
    rows = []
    with ExitStack() as stack:
        _, url = start_gunicorn(stack, "app:create_app()", env, workdir / "gunicorn.log")
        for name, path in (("home page", "/"), ("post with 50 comments", f"/posts/{SLUG}")):
            for device, extra in (("phone", ()), ("desktop", ("--preset=desktop",))):
                report = workdir / f"{name} {device}.json"
                figures = scores(url + path, report, CATEGORIES, *extra)
                rows.append((f"{name} ({device})", figures, failing_audits(report)))
        cookie = owner_cookie(url, env)
        ids = first_ids(url, cookie)
        for name, path in ADMIN_SCREENS:
            report = workdir / f"admin {name}.json"
            figures = scores(
                url + path.format(**ids), report, ADMIN_CATEGORIES, f"--extra-headers={json.dumps({'Cookie': cookie})}"
            )
            rows.append((f"admin: {name}", figures, failing_audits(report)))
    lines = [
        "Lighthouse 12.2.3 in Debian's Chromium, gunicorn on loopback. Phone: Lighthouse's default mobile settings "
        "(simulated slow 4G and a slower CPU); desktop: `--preset=desktop`. Admin screens are scored logged in as "
        "the owner, for accessibility and best practices (—: not measured).",
        "",
        "| page | Performance | Accessibility | Best Practices | SEO |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, figures, _ in rows:
        lines.append(f"| {name} | " + " | ".join(str(figures.get(c, "—")) for c in CATEGORIES) + " |")
    for name, _, audits in rows:
        if audits:
            lines += ["", f"Audits not passed on the {name}: " + "; ".join(audits)]
    table = "\n".join(lines) + "\n"
    print(table)
    (ROOT / "bench" / "lighthouse.md").write_text(table)


if __name__ == "__main__":
    main()
