"""CPU time of the cached path in one process: what a page served from the page cache costs before the network.

wrk's requests per second on a shared two-core machine move by ±30% from run to run; the CPU time of one request,
the fastest of a few rounds, does not. Seeds a blog as bench/run.py does, then times through the whole WSGI stack
(no server, no network), each as a ratio to bench/hello.py timed the same way in the same process:

- the post with 50 comments from the warm page cache, with no ``Accept-Encoding`` and with ``br, gzip``;
- the same page answered 304 from its ETag;
- the same page for a returning commenter, whose cookies come from a real comment with "Remember me" ticked,
  with no ``Accept-Encoding`` (as bench/run.py's wrk asks) and with ``br, gzip`` (as browsers do).

``.venv/bin/python bench/cached_cost.py [--requests 2000] [--top 0]`` (about half a minute); ``--top 20`` also lists
the functions with the most own time in each case (cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from harness import SLUG  # noqa: E402
from harness import bench_environment  # noqa: E402
from harness import fastest_cpu_seconds  # noqa: E402
from harness import local_get  # noqa: E402
from harness import seed  # noqa: E402
from returning_commenter import COOKIES  # noqa: E402
from returning_commenter import form_tokens  # noqa: E402

WsgiApp = Callable[..., Iterable[bytes]]
ROUNDS = 5


def serve(wsgi_app: WsgiApp, environ: dict[str, object]) -> tuple[str, bytes]:
    statuses: list[str] = []
    body = b"".join(wsgi_app(environ | {"wsgi.input": io.BytesIO()}, lambda status, *_: statuses.append(status)))
    return statuses[0], body


def cpu_per_request(wsgi_app: WsgiApp, environ: dict[str, object], requests: int) -> float:
    """Return the CPU microseconds of one request (harness.fastest_cpu_seconds)."""
    return fastest_cpu_seconds(lambda: serve(wsgi_app, environ), requests, ROUNDS) * 1e6


def top_functions(wsgi_app: WsgiApp, environ: dict[str, object], requests: int, top: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        serve(wsgi_app, environ)
    profiler.disable()
    listing = io.StringIO()
    pstats.Stats(profiler, stream=listing).sort_stats("tottime").print_stats(top)
    return listing.getvalue()


def returning_commenter_cookie(app) -> str:
    """Comment on ``welcome`` with "Remember me" ticked, through the real form; return the Cookie header sent after."""
    client = app.test_client()
    action = "/posts/welcome/comments"
    fields = form_tokens(client.get("/posts/welcome").text, action)
    fields |= {
        "name": "Returning Reader",
        "email": "returning.reader@example.com",
        "website": "",
        "body": f"Thank you, I come back to this thread often ({time.time():.6f}).",
        "remember": "y",
    }
    answer = client.post(action, data=fields, headers={"Origin": "http://localhost"})
    cookies = {name: client.get_cookie(name) for name in COOKIES}
    if answer.status_code != 303 or None in cookies.values():
        sys.exit(f"the comment form answered {answer.status_code}")
    return "; ".join(f"{name}={cookie.value}" for name, cookie in cookies.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per round (default 2000)")
    parser.add_argument("--top", type=int, default=0, help="also list the N functions with the most own time")
    parser.add_argument("--workdir", help="a blog seeded before (kept), instead of a new one")
    options = parser.parse_args()

    workdir = Path(options.workdir or tempfile.mkdtemp(prefix="inkwell-cached-cost-"))
    env = bench_environment(workdir, "cost")
    if not (workdir / "cost.db").exists():
        print(f"Seeding 100 posts in {workdir} ...", flush=True)
        seed(env, 100, 300)
    os.environ.update(env)

    from app import create_app  # after the environment names the seeded blog
    from hello import app as hello

    app = create_app({"PAGE_CACHE": True})
    path = f"/posts/{SLUG}"
    cookie = returning_commenter_cookie(app)
    etag = next(value for name, value in app.test_client().get(path).headers if name == "ETag")
    cases = {
        "cached post page, identity": local_get(path),
        "cached post page, `br, gzip`": local_get(path, HTTP_ACCEPT_ENCODING="br, gzip"),
        "cached post page, 304 from ETag": local_get(path, HTTP_IF_NONE_MATCH=etag),
        "cached post page, returning commenter": local_get(path, HTTP_COOKIE=cookie),
        "cached post page, returning commenter, `br, gzip`": local_get(
            path, HTTP_COOKIE=cookie, HTTP_ACCEPT_ENCODING="br, gzip"
        ),
    }
    hello_us = cpu_per_request(hello.wsgi_app, local_get("/"), options.requests)
    print(f"\nIn-process CPU per request, fastest of {ROUNDS} rounds of {options.requests:,}:\n")
    print("| request | status | bytes | CPU µs | × hello world's CPU |")
    print("|---|---|---:|---:|---:|")
    print(f"| hello world (bench/hello.py) | 200 | 13 | {hello_us:.1f} | 1.00 |")
    listings = []
    for name, environ in cases.items():
        status, body = serve(app.wsgi_app, environ)
        micros = cpu_per_request(app.wsgi_app, environ, options.requests)
        print(f"| {name} | {status.split()[0]} | {len(body):,} | {micros:.1f} | {micros / hello_us:.2f} |", flush=True)
        if options.top:
            listings.append(f"\n{name}:\n{top_functions(app.wsgi_app, environ, options.requests, options.top)}")
    print("".join(listings))
    if not options.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
