"""Measure Inkwell under load and compare every figure with a bare Flask app measured in the same run.

`make bench` (or `make bench BENCH_ARGS=--quick`, under a minute) seeds a database, starts gunicorn with two
workers on free loopback ports for a hello-world yardstick and for Inkwell (once with its page cache off,
once on), drives them with wrk, and prints a table that is also written to bench/results.md. The full run
also measures nginx in front of Inkwell, how page times change from 100 posts to 100,000 posts with a
million comments, the home page after a flood of 10,000 made-up addresses (bench/cache_flood.py) and the
worst Markdown against plain prose (bench/markdown_cost.py). Every run also times a cached page plain and
compressed in one process (bench/compression_cost.py). Everything listens on 127.0.0.1 and is stopped by PID.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CSRF = re.compile(r'<input[^>]*\bname="csrf_token"[^>]*\bvalue="([^"]+)"')
WRK_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
PERCENTILE = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}
SLUG = "fifty-comments"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

BR_GZIP = {"Accept-Encoding": "br, gzip"}
COMPRESSED = "`Accept-Encoding: br, gzip`"

# Targets from issue 8, as ratios to hello world measured in the same run.
TARGETS = {"first render": 0.35, "page cache warm": 0.8, "304 from ETag": 0.9}


@dataclass
class Figures:
    rate: float
    p50: float
    p99: float
    errors: float
    size: int = 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ensure_installed(command: str, package: str, path: str | None = None) -> str | None:
    """Return the path of ``command``, installing the Debian ``package`` first if it is missing."""
    found = shutil.which(command) or (path if path and Path(path).exists() else None)
    if found:
        return found
    print(f"Installing {package} (Debian package)...", flush=True)
    environment = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-qq", package], env=environment, check=False)
    return shutil.which(command) or (path if path and Path(path).exists() else None)


def bench_environment(workdir: Path, name: str) -> dict[str, str]:
    return os.environ | {
        "DATABASE_URL": f"sqlite:///{workdir / name}.db",
        "INSTANCE_PATH": str(workdir / f"{name}-instance"),
        "SECRET_KEY": "benchmark",
        "COMMENT_MODERATION": "off",
        "COMMENT_MIN_SECONDS": "0",
        "COMMENT_RATE_LIMIT": "1000000 per minute",
        "LOG_LEVEL": "WARNING",
    }


def seed(env: dict[str, str], posts: int, comments: int) -> float:
    """Seed the demo blog with the real command, then add the post with 50 comments; return seconds taken."""
    started = time.monotonic()
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    subprocess.run([*flask, "init-db"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run(
        [*flask, "seed-demo", "--posts", str(posts), "--comments", str(comments)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    seconds = time.monotonic() - started
    code = (
        "from app import create_app; from models import *\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        f"    post = Post(title='Fifty comments', slug='{SLUG}', body='A post with a long thread.\\n\\n' * 5,\n"
        "                status=PostStatus.published, published_at=now_utc())\n"
        "    db.session.add(post); db.session.flush()\n"
        "    for n in range(50):\n"
        "        db.session.add(Comment(post_id=post.id, author_name=f'Reader {n}',\n"
        "                               body=f'Comment number {n}, *kind* words.', status=CommentStatus.approved))\n"
        "    db.session.commit()\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    return seconds


def start_gunicorn(stack: ExitStack, app_path: str, env: dict[str, str], log: Path) -> tuple[int, str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        str(ROOT / "gunicorn.conf.py"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--access-logfile",
        "/dev/null",
        app_path,
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    stack.callback(stop, process)
    url = f"http://127.0.0.1:{port}"
    wait_for(url + "/", process, log)
    return process.pid, url


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def wait_for(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{process.args[0]} exited; see {log}")
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.2)
    sys.exit(f"{url} did not answer; see {log}")


def wrk(binary: str, url: str, seconds: int, headers: dict[str, str] | None = None, connections: int = 16) -> Figures:
    command = [binary, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    latencies = {p: float(v) * UNIT[u] for p, v, u in PERCENTILE.findall(output)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    probe = {"Accept-Encoding": "identity"} | (headers or {})  # wrk sends no Accept-Encoding unless told to
    size = len(requests.get(url, headers=probe, timeout=10, stream=True).raw.read())  # the bytes sent
    return Figures(
        float(WRK_RATE.search(output).group(1)),
        latencies.get("50", 0.0),
        latencies.get("99", 0.0),
        float(errors.group(1)) if errors else 0.0,
        size,
    )


def comments_per_second(binary: str, url: str, database: Path, seconds: int) -> tuple[float, int, int, int]:
    """Sixteen commenters (wrk threads) on the sixteen newest posts, each with the token from its own visit.

    Return (accepted per second, acknowledged, acknowledged but not stored, server errors).
    """
    with sqlite3.connect(database) as connection:
        query = "SELECT slug FROM posts WHERE status = 'published' ORDER BY published_at DESC LIMIT 16"
        slugs = [slug for (slug,) in connection.execute(query)]
    arguments = []
    for slug in slugs:
        html = requests.get(f"{url}/posts/{slug}", timeout=30).text
        form = f"/posts/{slug}/comments"
        arguments += [form, CSRF.search(html, html.find(f'action="{form}#')).group(1)]
    before = count_comments(database)
    script = ROOT / "bench" / "post_comments.lua"
    command = [binary, "-t16", "-c16", f"-d{seconds}s", "-s", str(script), url, "--", *arguments]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    acknowledged = int(re.search(r"acknowledged (\d+)", output).group(1))
    server_errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    stored = count_comments(database) - before
    elapsed = float(re.search(r"requests in ([\d.]+)s", output).group(1))
    rate = acknowledged / elapsed
    return rate, acknowledged, max(0, acknowledged - stored), int(server_errors.group(1)) if server_errors else 0


def count_comments(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT count(*) FROM comments").fetchone()[0]


def peak_rss_mb(master: int) -> float:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    peaks = [int(re.search(r"VmHWM:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1)) for pid in children]
    return max(peaks, default=0) / 1024


def import_seconds(env: dict[str, str]) -> float:
    """Median time to import the application module (what a worker pays when it starts)."""
    code = "import time; t = time.perf_counter(); import app; print(time.perf_counter() - t)"
    runs = [
        float(subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True).stdout)
        for _ in range(3)
    ]
    return statistics.median(runs)


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


def flat_cost(stack: ExitStack, workdir: Path, wrk_binary: str) -> list[str]:
    """p50 of the heaviest reader pages on 100 posts and on 100,000 posts with 1,000,000 comments."""
    small_env, big_env = bench_environment(workdir, "flat-small"), bench_environment(workdir, "large")
    seed(small_env, 100, 1000)
    print("Seeding 100,000 posts and 1,000,000 comments (seed-demo) ...", flush=True)
    seconds = seed(big_env, 100_000, 1_000_000)
    paths = ["/", "/?page=500", "/tags/notes", "/search?q=garden", f"/posts/{SLUG}", "/posts/welcome"]
    medians: dict[str, dict[str, float]] = {}
    for name, env in (("100 posts", small_env), ("100,000 posts", big_env)):
        _, url = start_gunicorn(stack, "app:create_app()", env | {"PAGE_CACHE": "false"}, workdir / f"{name}.log")
        for path in paths:
            if name == "100 posts" and path == "/?page=500":
                target = "/?page=5"  # the small blog's far page
            else:
                target = path
            print(f"Measuring {target} on {name} ...", flush=True)
            medians.setdefault(path, {})[name] = wrk(wrk_binary, url + target, 5, connections=2).p50
    lines = [
        "",
        f"Flat cost, page cache off, p50 with 2 connections (seed-demo built the large blog in {seconds:.0f} s):",
        "",
        "| page | 100 posts, ms | 100,000 posts + 1,000,000 comments, ms | ratio (target ≤ 1.3) |",
        "|---|---:|---:|---:|",
    ]
    for path, figures in medians.items():
        small, large = figures["100 posts"], figures["100,000 posts"]
        shown = "/?page=500 (/?page=5 on the small blog)" if path == "/?page=500" else path
        lines.append(f"| `{shown}` | {small:.2f} | {large:.2f} | {large / small:.2f} |")
    return lines


def main() -> None:
    from cache_flood import flood_figure  # bench/ modules that import this one's helpers
    from markdown_cost import figures as markdown_figures

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs, no nginx, no large blog (under a minute)")
    options = parser.parse_args()
    seconds, posts = (2, 100) if options.quick else (10, 100)
    wrk_binary = ensure_installed("wrk", "wrk") or sys.exit("wrk could not be installed")

    workdir = Path(tempfile.mkdtemp(prefix="inkwell-bench-"))
    env = bench_environment(workdir, "small")
    print(f"Seeding {posts} posts in {workdir} ...", flush=True)
    seed(env, posts, posts * 3)
    rows: list[tuple[str, Figures]] = []
    with ExitStack() as stack:
        _, hello = start_gunicorn(stack, "bench.hello:app", env, workdir / "hello.log")
        uncached_pid, uncached = start_gunicorn(
            stack, "app:create_app()", env | {"PAGE_CACHE": "false"}, workdir / "uncached.log"
        )
        cached_pid, cached = start_gunicorn(stack, "app:create_app()", env, workdir / "cached.log")
        rows.append(("hello world (yardstick)", wrk(wrk_binary, hello + "/", seconds)))
        for name, path in (
            ("home page", "/"),
            ("post with 50 comments", f"/posts/{SLUG}"),
            ("tag page", "/tags/notes"),
            ("Atom feed", "/feed.xml"),
        ):
            print(f"Measuring {name} ...", flush=True)
            etag = requests.get(cached + path, timeout=10).headers["ETag"]
            rows.append((f"{name}, first render (no cache)", wrk(wrk_binary, uncached + path, seconds)))
            rows.append((f"{name}, page cache warm", wrk(wrk_binary, cached + path, seconds)))
            rows.append((f"{name}, page cache warm, {COMPRESSED}", wrk(wrk_binary, cached + path, seconds, BR_GZIP)))
            rows.append((f"{name}, 304 from ETag", wrk(wrk_binary, cached + path, seconds, {"If-None-Match": etag})))
        nginx_rows: list[tuple[str, Figures]] = []
        if not options.quick:
            nginx = start_nginx(stack, workdir, int(cached.rsplit(":", 1)[1]))
            if nginx is not None:
                print("Measuring nginx ...", flush=True)
                static, proxied = nginx
                nginx_rows.append(("nginx, static 40 KB page (ceiling)", wrk(wrk_binary, static, seconds)))
                nginx_rows.append(
                    ("post with 50 comments behind nginx", wrk(wrk_binary, f"{proxied}/posts/{SLUG}", seconds))
                )
        print("Measuring comments accepted per second ...", flush=True)
        accepted, acknowledged, lost, server_errors = comments_per_second(
            wrk_binary, cached, workdir / "small.db", seconds
        )
        rss = max(peak_rss_mb(uncached_pid), peak_rss_mb(cached_pid))
        flat = flat_cost(stack, workdir, wrk_binary) if not options.quick else []

    extra: list[str] = []
    if not options.quick:
        print("Measuring a flood of distinct addresses and the worst Markdown ...", flush=True)
        extra = ["", flood_figure(wrk_binary, seconds), *markdown_figures()]
    statements = statements_per_page(env, ["/", f"/posts/{SLUG}", "/tags/notes", "/feed.xml", "/search?q=garden"])
    imported = import_seconds(env)
    compressed_cost = compression_cost(env, ["/", f"/posts/{SLUG}", "/feed.xml"])
    yardstick = rows[0][1].rate
    lines = [
        f"Inkwell benchmark, {'quick' if options.quick else 'full'} run: {posts} demo posts, gunicorn 2 sync workers, "
        f"wrk -t2 -c16 -d{seconds}s on loopback",
        "",
        "| page | requests/s | ratio to hello world | target | p50 ms | p99 ms | bytes | non-2xx/3xx |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, figures in rows:
        target = next((f"≥ {value}" for key, value in TARGETS.items() if key in name), "")
        if name.startswith("Atom feed") and "warm" not in name:
            target = ""  # the feed's target is for the cached feed only
        lines.append(
            f"| {name} | {figures.rate:,.0f} | {figures.rate / yardstick:.2f} | {target} | {figures.p50:.2f} | "
            f"{figures.p99:.2f} | {figures.size:,} | {figures.errors:.0f} |"
        )
    if nginx_rows:
        ceiling = nginx_rows[0][1].rate
        lines += ["", "| behind nginx (micro-cache on) | requests/s | ratio to nginx static | target | p50 ms |"]
        lines += ["|---|---:|---:|---:|---:|"]
        for name, figures in nginx_rows:
            target = "≥ 0.5" if "behind" in name else ""
            lines.append(
                f"| {name} | {figures.rate:,.0f} | {figures.rate / ceiling:.2f} | {target} | {figures.p50:.2f} |"
            )
    figures_of = dict(rows)
    identity_of = {name: name.removesuffix(f", {COMPRESSED}") for name in figures_of if name.endswith(COMPRESSED)}
    compressed = [
        f"{name.split(',')[0]} {figures_of[name].rate / figures_of[identity].rate:.2f}×"
        for name, identity in identity_of.items()
    ]
    lines += ["", f"Cached pages, `br, gzip` against identity, requests/s: {', '.join(compressed)}.", *compressed_cost]
    lines += [
        "",
        f"Comments accepted with 16 concurrent commenters: **{accepted:,.0f}/s** (target ≥ 500), "
        f"{acknowledged:,} acknowledged, {lost} of them not stored, {server_errors} non-2xx/3xx answers.",
        f"Peak RSS of a worker: **{rss:.0f} MB** (target < 80). Importing the app: **{imported:.2f} s** "
        "(target < 0.5).",
        "",
        "SQL statements per page, first visit (target ≤ 4): "
        + ", ".join(f"`{path}` {count}" for path, count in statements.items())
        + ".",
        *flat,
        *extra,
    ]
    table = "\n".join(lines) + "\n"
    print("\n" + table)
    (ROOT / "bench" / "results.md").write_text(table)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
