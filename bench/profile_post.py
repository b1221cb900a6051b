"""Where the CPU time of a page-cache miss goes: the post with 50 comments, rendered in one process.

Seeds a blog as bench/run.py does (``flask seed-demo`` and the post with 50 comments), then renders
``/posts/fifty-comments`` through the whole WSGI stack (no server, no network) in three cases:

- *page cache off*: ``PAGE_CACHE=false``, everything rendered every time;
- *first reader after a new post*: the page cache on, and before each request the ``posts`` generation renewed,
  as after a new post's commit (it changes every page's sidebar): the page is rendered again (its thread kept),
  compressed and stored;
- *reader with a cookie*: the page cache on, a reader with an ``inkwell_`` cookie that holds nothing of theirs,
  whose page is rendered for them and not stored (pageserver.py), the thread kept;
- *hello world*: bench/hello.py in the same process, the yardstick: the ratios are to its cost.

For each case it prints the CPU time per request (fastest of a few rounds) and, from cProfile's own time per
function, the share of each bucket: ORM/SQL, Jinja, Markdown/bleach, WSGI/Flask, other.

``.venv/bin/python bench/profile_post.py [--requests 300] [--top 0]`` (about half a minute); ``--top 20`` also
lists the functions that cost most in each case.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from collections.abc import Iterable
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from cachestores import store_set  # noqa: E402
from harness import fastest_cpu_seconds  # noqa: E402
from harness import local_get  # noqa: E402
from pagecache import GENERATION_KEY  # noqa: E402
from pagecache import POSTS  # noqa: E402
from pagecache import generation_store  # noqa: E402
from run import SLUG  # noqa: E402
from run import bench_environment  # noqa: E402
from run import seed  # noqa: E402

WsgiApp = Callable[..., Iterable[bytes]]
ROUNDS = 3
# Where a function's own time goes, by the file it is in (first match wins).
BUCKETS = (
    ("ORM/SQL", ("/sqlalchemy/", "/flask_sqlalchemy/", "sqlite3", "/psycopg/", "/psycopg_pool/", "/redis/")),
    ("Jinja", ("/jinja2/", "/markupsafe/", "/templates/", "<template>")),
    ("Markdown/bleach", ("/markdown_it/", "/bleach/", "/html5lib/", "/mdit_py_plugins/", "/linkify_it/")),
    ("WSGI/Flask", ("/werkzeug/", "/flask/", "/flask_", "/itsdangerous/", "/wtforms/", "/cachelib/")),
)
OTHER = "other"
# Built-in functions and the standard library's count for whoever called them (Jinja's ``str.join``, SQLAlchemy's
# ``getattr``); anything else, Inkwell's own code included, is "other".
CALLERS_PAY = ("~", "/lib/python3")


def environ_for(path: str, cookie: str | None) -> dict[str, object]:
    return local_get(path, **({"HTTP_COOKIE": cookie} if cookie else {}))


def serve(wsgi_app: WsgiApp, environ: dict[str, object]) -> bytes:
    statuses: list[str] = []
    body = b"".join(wsgi_app(environ | {"wsgi.input": io.BytesIO()}, lambda status, *_: statuses.append(status)))
    if not statuses[0].startswith("200"):
        sys.exit(f"{environ['PATH_INFO']} answered {statuses[0]}")
    return body


def after_a_new_post(app: Flask) -> WsgiApp:
    """Serve each request as the first reader of this page after a new post: the ``posts`` generation renewed first,
    as the first page read after the post's commit renews it (that one reader also runs one query for the next
    scheduled publication: pagecache._renew)."""

    def wsgi_app(environ: dict[str, object], start_response: Callable[..., object]) -> Iterable[bytes]:
        with app.app_context():
            renewed = (secrets.token_hex(8), None, time.time())
            store_set(generation_store(), GENERATION_KEY + POSTS, renewed, timeout=0)
        return app.wsgi_app(environ, start_response)

    return wsgi_app


def cpu_per_request(wsgi_app: WsgiApp, environ: dict[str, object], requests: int) -> float:
    """Return the CPU milliseconds of one request (harness.fastest_cpu_seconds)."""
    return fastest_cpu_seconds(lambda: serve(wsgi_app, environ), requests, ROUNDS) * 1000


def bucket_of(filename: str) -> str:
    for name, markers in BUCKETS:
        if any(marker in filename for marker in markers):
            return name
    return OTHER


def pays_its_callers(filename: str) -> bool:
    return filename.startswith(CALLERS_PAY[0]) or (CALLERS_PAY[1] in filename and "site-packages" not in filename)


def profile(wsgi_app: WsgiApp, environ: dict[str, object], requests: int, top: int) -> tuple[dict[str, float], str]:
    """Return each bucket's share of the CPU time (cProfile's own time per function, summed by file), and the
    ``top`` functions with the most own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        serve(wsgi_app, environ)
    profiler.disable()
    stats = pstats.Stats(profiler)
    shares: dict[str, float] = {name: 0.0 for name, _ in BUCKETS} | {OTHER: 0.0}
    for (filename, _, _), (_, _, own_time, _, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if not pays_its_callers(filename) or not callers:
            shares[bucket_of(filename)] += own_time
            continue
        calls = sum(edge[2] for edge in callers.values()) or 1.0
        for (caller_file, _, _), edge in callers.items():
            shares[bucket_of(caller_file)] += own_time * edge[2] / calls
    total = sum(shares.values()) or 1.0
    listing = io.StringIO()
    if top:
        stats.stream = listing  # type: ignore[attr-defined]
        stats.sort_stats(os.environ.get("PROFILE_SORT", "tottime")).print_stats(top)
    return {name: seconds / total for name, seconds in shares.items()}, listing.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per round (default 300)")
    parser.add_argument("--top", type=int, default=0, help="also list the N functions with the most own time")
    options = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="inkwell-profile-"))
    env = bench_environment(workdir, "profile")
    print(f"Seeding 100 posts in {workdir} ...", flush=True)
    seed(env, 100, 300)
    os.environ.update(env)

    from app import create_app  # after the environment names the seeded blog
    from hello import app as hello

    path = f"/posts/{SLUG}"
    cached = create_app({"PAGE_CACHE": True})
    cases = {
        "page cache off": (create_app({"PAGE_CACHE": False}).wsgi_app, None),
        "first reader after a new post": (after_a_new_post(cached), None),
        "reader with a cookie, nothing of theirs": (cached.wsgi_app, "inkwell_reader=1"),
    }
    hello_ms = cpu_per_request(hello.wsgi_app, environ_for("/", None), options.requests * 10)
    print(f"\nhello world in this process: {hello_ms:.3f} ms CPU per request\n")
    header = " | ".join(name for name, _ in BUCKETS)
    print(f"| case | CPU ms per request | × hello world in-process | {header} | {OTHER} |")
    print("|---|---:|---:|" + "---:|" * (len(BUCKETS) + 1))
    listings = []
    for name, (wsgi_app, cookie) in cases.items():
        environ = environ_for(path, cookie)
        milliseconds = cpu_per_request(wsgi_app, environ, options.requests)
        shares, listing = profile(wsgi_app, environ, options.requests, options.top)
        cells = " | ".join(f"{share:.0%}" for share in shares.values())
        print(f"| {name} | {milliseconds:.2f} | {hello_ms / milliseconds:.3f} | {cells} |", flush=True)
        listings.append(f"\n{name}:\n{listing}" if listing else "")
    print("".join(listings))
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
