"""Run Lighthouse (npm, pinned to 12.2.3) in Debian's Chromium against the home page and a post with 50 comments.

`make lighthouse` seeds a blog, starts gunicorn on a free loopback port, runs Lighthouse headless on each
page, prints the four category scores, and writes them to bench/lighthouse.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from run import SLUG  # noqa: E402
from run import bench_environment  # noqa: E402
from run import seed  # noqa: E402
from run import start_gunicorn  # noqa: E402

LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = "/usr/bin/chromium"
CHROME_FLAGS = (
    "--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update "
    "--no-first-run --disable-sync"
)
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")


def scores(url: str, report: Path) -> dict[str, int]:
    command = [
        str(LIGHTHOUSE),
        url,
        "--quiet",
        "--output=json",
        f"--output-path={report}",
        f"--chrome-flags={CHROME_FLAGS}",
        f"--only-categories={','.join(CATEGORIES)}",
    ]
    subprocess.run(command, env=os.environ | {"CHROME_PATH": CHROMIUM}, check=True)
    result = json.loads(report.read_text())
    return {name: round(result["categories"][name]["score"] * 100) for name in CATEGORIES}


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
            report = workdir / f"{name}.json"
            figures = scores(url + path, report)
            rows.append((name, figures, failing_audits(report)))
    lines = [
        "Lighthouse 12.2.3 (default mobile settings: simulated slow 4G and a slower CPU) in Debian's Chromium, "
        "gunicorn on loopback",
        "",
        "| page | Performance | Accessibility | Best Practices | SEO |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, figures, _ in rows:
        lines.append(f"| {name} | " + " | ".join(str(figures[c]) for c in CATEGORIES) + " |")
    for name, _, audits in rows:
        if audits:
            lines += ["", f"Audits not passed on the {name}: " + "; ".join(audits)]
    table = "\n".join(lines) + "\n"
    print(table)
    (ROOT / "bench" / "lighthouse.md").write_text(table)


if __name__ == "__main__":
    main()
