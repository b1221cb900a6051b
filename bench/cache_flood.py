"""Measure the home page's speed after a flood of ten thousand distinct addresses, as a fraction of before.

Run it with `.venv/bin/python bench/cache_flood.py` (about a minute; `--quick` for shorter wrk runs). It seeds a
demo blog, starts gunicorn with two workers and the page cache in files on a free loopback port, measures the
cached home page with wrk, sends 10,000 distinct addresses a stranger could make up (search words, unknown and
ignored query arguments, made-up slugs and hosts) from eight clients at once, then measures the home page
again. The goal is a ratio of at least 0.8: a flood costs its own requests, never the site's speed afterwards.
Everything listens on 127.0.0.1 and is stopped by PID.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import bench_environment  # noqa: E402
from harness import ensure_installed  # noqa: E402
from harness import seed  # noqa: E402
from harness import start_gunicorn  # noqa: E402
from harness import wrk  # noqa: E402

ADDRESSES = 10_000
CLIENTS = 8


def flood_request(number: int) -> tuple[str, dict[str, str]]:
    """The ``number``-th made-up address: search words, unknown or ignored arguments, made-up slugs and hosts."""
    kind = number % 5
    if kind == 0:
        return f"/search?q=flood{number}", {}
    if kind == 1:
        return f"/?utm_source={number}", {}
    if kind == 2:
        return f"/posts/made-up-{number}", {}
    if kind == 3:
        return f"/feed.xml?page={number + 1}", {}
    return "/tags/", {"Host": f"flood{number}.example"}


def flood(url: str) -> float:
    """Send ``ADDRESSES`` distinct addresses from ``CLIENTS`` clients at once; return the seconds it took."""
    local = threading.local()

    def send(number: int) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        path, headers = flood_request(number)
        local.session.get(url + path, headers=headers, timeout=60)

    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(send, range(ADDRESSES)))
    return time.monotonic() - started


def flood_figure(wrk_binary: str, seconds: int) -> str:
    """Return one sentence: the cached home page's requests/s after the flood as a fraction of before."""
    workdir = Path(tempfile.mkdtemp(prefix="inkwell-flood-"))
    env = bench_environment(workdir, "flood")
    print(f"Seeding 100 posts in {workdir} ...", flush=True)
    seed(env, 100, 300)
    with ExitStack() as stack:
        _, url = start_gunicorn(stack, "app:create_app()", env, workdir / "gunicorn.log")
        before = wrk(wrk_binary, url + "/", seconds)
        print(f"Flooding {ADDRESSES:,} distinct addresses ...", flush=True)
        took = flood(url)
        after = wrk(wrk_binary, url + "/", seconds)
    pages = workdir / "flood-instance" / "cache" / "pages"
    stored = sum(1 for _ in pages.glob("??/*"))
    shutil.rmtree(workdir, ignore_errors=True)
    return (
        f"Home page with the page cache warm: {before.rate:,.0f} requests/s before a flood of {ADDRESSES:,} "
        f"distinct addresses ({took:.0f} s), {after.rate:,.0f} after: **{after.rate / before.rate:.2f}** of before "
        f"(goal ≥ 0.8). Pages stored after the flood: {stored:,} (CACHE_THRESHOLD 5,000)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter wrk runs")
    options = parser.parse_args()
    wrk_binary = ensure_installed("wrk", "wrk") or sys.exit("wrk could not be installed")
    print("\n" + flood_figure(wrk_binary, 3 if options.quick else 10))


if __name__ == "__main__":
    main()
