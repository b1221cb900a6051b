"""Measure Inkwell under load and compare every figure with a bare Flask app measured in the same run.

`make bench` seeds a blog (100 demo posts, a post with 50 comments and one with 5,000), starts gunicorn with two
workers on free loopback ports for a hello-world yardstick and for Inkwell (once with its page cache off, once
on), drives them with wrk and prints every row of issue 21's table as a ratio to hello world: cached pages for
anonymous readers and for a returning commenter (cookies from a real comment, bench/returning_commenter.py),
first renders, the 5,000-comment thread and a comment linked deep in it, comments accepted per second on SQLite
and on PostgreSQL with two app servers sharing Redis (bench/commenting.py, bench/two_servers.py), search from
100 to 100,000 posts on PostgreSQL (bench/search_postgres.py), the p99 of a publishing storm
(bench/storm.py), a worker's peak memory and the import time. The full run also measures nginx in front,
the large blog (bench/large_blog.py), a flood of made-up addresses (bench/cache_flood.py) and the worst Markdown
(bench/markdown_cost.py), and writes bench/results.md above its kept sections (bench/report.py).

`--quick` (what CI runs, about a minute) measures the same rows for shorter times, without nginx and the large
blog, with search from 100 to 10,000 posts; it asserts nothing on time and writes bench/results-quick.md only.
It fails only when the bench itself crashes; server errors and lost comments are reported with a warning.
PostgreSQL and Redis come from --postgres/--redis (or BENCH_DATABASE_URL/BENCH_REDIS_URL, else
TEST_DATABASE_URL/TEST_REDIS_URL): scratch ones, as their tables and keys are replaced. Everything listens on
127.0.0.1 and is stopped by PID.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from commenting import comment_ids  # noqa: E402
from commenting import comments_per_second  # noqa: E402
from commenting import newest_slugs  # noqa: E402
from commenting import sqlite_counter  # noqa: E402
from harness import BENCH  # noqa: E402
from harness import ROOT  # noqa: E402
from harness import SLUG  # noqa: E402
from harness import bench_environment  # noqa: E402
from harness import ensure_installed  # noqa: E402
from harness import free_port  # noqa: E402
from harness import import_seconds  # noqa: E402
from harness import peak_rss_mb  # noqa: E402
from harness import say  # noqa: E402
from harness import seed  # noqa: E402
from harness import start_gunicorn  # noqa: E402
from harness import uptime  # noqa: E402
from harness import wait_for  # noqa: E402
from harness import worker_memory  # noqa: E402
from harness import wrk  # noqa: E402
from large_blog import flat_cost  # noqa: E402
from report import BIG_THREAD  # noqa: E402
from report import COMPRESSED  # noqa: E402
from report import DEEP_COMMENT  # noqa: E402
from report import KEPT_PIECES  # noqa: E402
from report import RETURNING  # noqa: E402
from report import Run  # noqa: E402
from report import results_text  # noqa: E402
from report import write_results  # noqa: E402
from returning_commenter import commenter_cookie  # noqa: E402
from storm import publishing_storm  # noqa: E402
from two_servers import two_server_commenting  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
BIG_SLUG = "five-thousand-comments"
BR_GZIP = {"Accept-Encoding": "br, gzip"}


def measure_pages(run: Run, wrk_binary: str, uncached: str, cached: str) -> None:
    """Each page first rendered, from the warm cache (plain and compressed) and as a 304, for anonymous readers."""
    pages = [("post with 50 comments", f"/posts/{SLUG}")]
    if not run.quick:
        pages = [("home page", "/"), *pages, ("tag page", "/tags/notes"), ("Atom feed", "/feed.xml")]
    for name, path in pages:
        say(f"Measuring {name} ...")
        etag = requests.get(cached + path, timeout=30).headers["ETag"]
        run.rows.append((f"{name}, first render (no cache)", wrk(wrk_binary, uncached + path, run.seconds)))
        if path == f"/posts/{SLUG}":  # rendered for this reader every time, its thread and form kept
            missed = wrk(wrk_binary, cached + path, run.seconds, {"Cookie": "inkwell_session=forged"})
            run.rows.append((f"{name}, {KEPT_PIECES}", missed))
        run.rows.append((f"{name}, page cache warm", wrk(wrk_binary, cached + path, run.seconds)))
        compressed = wrk(wrk_binary, cached + path, run.seconds, BR_GZIP)
        run.rows.append((f"{name}, page cache warm, {COMPRESSED}", compressed))
        not_modified = wrk(wrk_binary, cached + path, run.seconds, {"If-None-Match": etag})
        run.rows.append((f"{name}, 304 from ETag", not_modified))


def measure_returning_commenter(run: Run, wrk_binary: str, cached: str) -> None:
    """The post with 50 comments for a reader who commented (on another post) with "Remember me" ticked, as wrk
    asks (no ``Accept-Encoding``) and as browsers do (their copy is compressed for them alone)."""
    say("Measuring a returning commenter ...")
    cookie = commenter_cookie(cached, "welcome")
    figures = wrk(wrk_binary, f"{cached}/posts/{SLUG}", run.seconds, {"Cookie": cookie})
    run.rows.append((f"post with 50 comments, {RETURNING}", figures))
    compressed = wrk(wrk_binary, f"{cached}/posts/{SLUG}", run.seconds, {"Cookie": cookie} | BR_GZIP)
    run.rows.append((f"post with 50 comments, {RETURNING}, {COMPRESSED} (as browsers ask)", compressed))


def measure_big_thread(run: Run, wrk_binary: str, uncached: str, deep_comment_id: int) -> None:
    """The 5,000-comment post's first comment page, the link to a comment deep in it, and that comment's page.

    Each row says how many comments the page shows (50 threads and their replies), for comparing like with like.
    """
    say(f"Measuring the post with {BIG_THREAD:,} comments ...")
    post, link = f"/posts/{BIG_SLUG}", f"/posts/{BIG_SLUG}/comments/{deep_comment_id}"
    location = requests.get(uncached + link, allow_redirects=False, timeout=60).headers["Location"]
    page = location.split("#")[0].removeprefix(uncached)
    name = f"post with {BIG_THREAD:,} comments"
    rows = (
        (f"{name}, first comment page", post),
        (f"{name}, link to its comment {DEEP_COMMENT:,} (redirect)", link),
        (f"{name}, comment {DEEP_COMMENT:,}'s page `{page}`", page),
    )
    for label, path in rows:
        figures = wrk(wrk_binary, uncached + path, run.seconds)
        shown = "" if path == link else f", {comments_shown(uncached + path)} comments shown"
        run.rows.append((f"{label}, first render (no cache){shown}", figures))
    fifty = f"/posts/{SLUG}"
    run.big_thread_paths = [post, link, page]
    run.shown_on_fifty = comments_shown(uncached + fifty)


def comments_shown(url: str) -> int:
    """How many comments a page shows (each has an element with the id ``comment-<number>``)."""
    return len(re.findall(r'\bid="comment-\d+"', requests.get(url, timeout=60).text))


def measure_postgres(run: Run, wrk_binary: str, workdir: Path, postgres: str | None, redis_url: str | None) -> None:
    """Comments per second with two app servers on PostgreSQL and Redis; search from 100 posts to many."""
    if not postgres or not redis_url:
        run.postgres_commenting = (
            "not measured: no scratch PostgreSQL and Redis given "
            "(--postgres and --redis, or BENCH_DATABASE_URL and BENCH_REDIS_URL)"
        )
    else:
        say("Measuring comments accepted per second on two app servers (PostgreSQL, Redis) ...")
        run.postgres_commenting = two_server_commenting(wrk_binary, workdir, postgres, redis_url, run.comment_seconds)
    if postgres:
        sizes = "100,10000" if run.quick else "100,1000,100000"
        say(f"Measuring search on PostgreSQL ({sizes} posts) ...")
        runs = 10 if run.quick else 30
        command = [sys.executable, str(BENCH / "search_postgres.py"), postgres, f"--sizes={sizes}", f"--runs={runs}"]
        command.append("--no-plans")
        output = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout.splitlines()
        run.search_lines = output[next(number for number, line in enumerate(output) if line.startswith("Median")) :]
        growths = [line.split(": ")[1].split(", ") for line in output if line.startswith("Worst growth")]
        run.search_growth = tuple(float(part.split()[-1].rstrip("×")) for growth in growths for part in growth)
        run.lines_after += ["", "Search on PostgreSQL (bench/search_postgres.py), page cache off.", ""]
        run.lines_after += run.search_lines


def start_nginx(stack: ExitStack, workdir: Path, upstream_port: int) -> tuple[str, str] | None:
    """Start nginx with the deploy guide's site in front of ``upstream_port``, and a 40 KB static page."""
    if not ensure_installed("nginx", "nginx-light", NGINX):
        return None
    folder = workdir / "nginx"
    (folder / "html").mkdir(parents=True)
    (folder / "html" / "page.html").write_text("<!doctype html><title>40 KB</title>" + "<p>Static text.</p>" * 2200)
    port, static_port = free_port(), free_port()
    site = (ROOT / "docs" / "deploy" / "nginx.conf").read_text()
    site = site.replace("/var/cache/nginx/inkwell", str(folder / "cache")).replace("/srv/inkwell/", f"{ROOT}/")
    site = site.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};").replace("listen [::]:80;", "")
    (folder / "nginx.conf").write_text(
        f"""
        daemon off;
        worker_processes 2;
        {"user root;" if os.geteuid() == 0 else ""}
        pid {folder}/nginx.pid;
        error_log {folder}/error.log;
        events {{ worker_connections 1024; }}
        http {{
            access_log off;
            client_body_temp_path {folder}/body;
            proxy_temp_path {folder}/proxy;
            server {{ listen 127.0.0.1:{static_port}; root {folder}/html; }}
            {site}
        }}
        """
    )
    process = subprocess.Popen([NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf")])
    stack.callback(lambda: (os.kill(process.pid, signal.SIGQUIT), process.wait(timeout=15)))
    wait_for(f"http://127.0.0.1:{static_port}/page.html", process, folder / "error.log")
    return f"http://127.0.0.1:{static_port}/page.html", f"http://127.0.0.1:{port}"


def compression_cost(env: dict[str, str], paths: list[str]) -> list[str]:
    """The CPU time of a cached page plain and compressed (bench/compression_cost.py, in its own process)."""
    command = [sys.executable, str(ROOT / "bench" / "compression_cost.py"), *paths]
    output = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    return ["", *output[output.index("Cached page, CPU") :].splitlines()]


def statements_per_page(env: dict[str, str], paths: list[str]) -> dict[str, int]:
    """Count the SQL statements each page runs on a first visit (page cache off), with SQLAlchemy's events."""
    code = (
        "import json, sys\nfrom sqlalchemy import event\nfrom app import create_app\nfrom models import db\n"
        "app = create_app({'PAGE_CACHE': False})\nwith app.app_context(): engine = db.engine\n"
        "counts, seen = {}, []\nevent.listen(engine, 'before_cursor_execute', lambda *a: seen.append(1))\n"
        "for path in sys.argv[1:]:\n    seen.clear(); app.test_client().get(path); counts[path] = len(seen)\n"
        "print(json.dumps(counts))\n"
    )
    output = subprocess.run([sys.executable, "-c", code, *paths], cwd=ROOT, env=env, capture_output=True, text=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def measure_small_blog(run: Run, wrk_binary: str, workdir: Path, env: dict[str, str]) -> None:
    """Everything measured on the seeded SQLite blog, with its servers running."""
    deep_comment_id = comment_ids(workdir / "small.db", BIG_SLUG)[DEEP_COMMENT - 1]
    with ExitStack() as stack:
        _, hello = start_gunicorn(stack, "bench.hello:app", env, workdir / "hello.log")
        uncached_env = env | {"PAGE_CACHE": "false"}
        uncached_pid, uncached = start_gunicorn(stack, "app:create_app()", uncached_env, workdir / "uncached.log")
        cached_pid, cached = start_gunicorn(stack, "app:create_app()", env, workdir / "cached.log")
        run.rows.append(("hello world (yardstick)", wrk(wrk_binary, hello + "/", run.seconds)))
        measure_pages(run, wrk_binary, uncached, cached)
        measure_returning_commenter(run, wrk_binary, cached)
        measure_big_thread(run, wrk_binary, uncached, deep_comment_id)
        if not run.quick:
            nginx = start_nginx(stack, workdir, int(cached.rsplit(":", 1)[1]))
            if nginx is not None:
                say("Measuring nginx ...")
                static, proxied = nginx
                run.nginx_rows.append(("nginx, static 40 KB page (ceiling)", wrk(wrk_binary, static, run.seconds)))
                behind = wrk(wrk_binary, f"{proxied}/posts/{SLUG}", run.seconds)
                run.nginx_rows.append(("post with 50 comments behind nginx", behind))
        database = workdir / "small.db"
        commenters_posts = newest_slugs(database, 16)  # chosen before the storm's posts are published
        run.rss_before_login = max(peak_rss_mb(uncached_pid), peak_rss_mb(cached_pid))
        say("Measuring a publishing storm ...")
        paths = [f"/posts/{slug}" for slug in newest_slugs(database, 50)]
        rounds, storm_seconds = (2, 1) if run.quick else (5, 5)
        run.storm = publishing_storm(wrk_binary, cached, env, paths, storm_seconds, rounds)
        say("Measuring comments accepted per second ...")
        servers = {cached: commenters_posts}
        counter = sqlite_counter(database)
        run.sqlite_commenting = comments_per_second(wrk_binary, servers, run.comment_seconds, counter)
        run.rss = max(peak_rss_mb(uncached_pid), peak_rss_mb(cached_pid))
        run.memory_at_end = worker_memory([uncached_pid, cached_pid])
        if not run.quick:
            run.lines_after += flat_cost(stack, workdir, wrk_binary)


def main() -> None:
    from cache_flood import flood_figure  # bench/ modules that import the harness
    from markdown_cost import figures as markdown_figures

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs, no nginx, no large blog (about a minute)")
    parser.add_argument("--postgres", default=os.environ.get("BENCH_DATABASE_URL", os.environ.get("TEST_DATABASE_URL")))
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL", os.environ.get("TEST_REDIS_URL")))
    options = parser.parse_args()
    run = Run(quick=options.quick, seconds=1 if options.quick else 10, load=uptime())
    wrk_binary = ensure_installed("wrk", "wrk") or sys.exit("wrk could not be installed")

    workdir = Path(tempfile.mkdtemp(prefix="inkwell-bench-"))
    env = bench_environment(workdir, "small")
    say(f"Seeding 100 posts in {workdir} ...")
    seed(env, 100, 300, {BIG_SLUG: BIG_THREAD})
    measure_small_blog(run, wrk_binary, workdir, env)
    measure_postgres(run, wrk_binary, workdir, options.postgres, options.redis)
    if not run.quick:
        say("Measuring a flood of distinct addresses and the worst Markdown ...")
        run.lines_after += ["", flood_figure(wrk_binary, run.seconds), *markdown_figures()]
    pages = ["/", f"/posts/{SLUG}", "/tags/notes", "/feed.xml", "/search?q=garden", *run.big_thread_paths]
    run.statements = statements_per_page(env, pages)
    run.imported = import_seconds(env)
    run.compressed_cost = compression_cost(env, ["/", f"/posts/{SLUG}", "/feed.xml"])

    run.load_at_end = uptime()
    text = results_text(run)
    print("\n" + text)
    print(f"Written to {write_results(text, run.quick).relative_to(ROOT)}")
    if run.has_problems:
        print("WARNING: server errors or lost comments in this run (see the tables above)")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
