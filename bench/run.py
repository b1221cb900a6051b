"""Measure Inkwell under load and compare every figure with a bare Flask app measured in the same run.

`make bench` (or `make bench BENCH_ARGS=--quick`, under a minute) seeds a database, starts gunicorn with two
workers on free loopback ports for Inkwell and for the hello-world yardstick, drives them with wrk, and prints
a table that is also written to bench/results.md. Everything runs on 127.0.0.1 and is stopped by PID.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CSRF = re.compile(r'<input[^>]*\bname="csrf_token"[^>]*\bvalue="([^"]+)"')
WRK_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
PERCENTILE = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("Installing wrk (Debian package)...", flush=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    )
    return shutil.which("wrk") or sys.exit("wrk could not be installed")


def prepare_database(env: dict[str, str], posts: int) -> str:
    """Seed the demo posts and one post with 50 approved comments; return that post's slug."""
    os.environ.update(env)
    from app import create_app
    from cli import init_db
    from cli import seed_demo
    from models import Comment
    from models import CommentStatus
    from models import Post
    from models import PostStatus
    from models import db
    from models import now_utc

    app = create_app()
    with app.app_context():
        init_db()
        seed_demo(posts, posts * 3)
        post = Post(
            title="Fifty comments",
            slug="fifty-comments",
            body="A post with a long thread.\n\n" * 5,
            status=PostStatus.published,
            published_at=now_utc(),
        )
        db.session.add(post)
        db.session.flush()
        for n in range(50):
            db.session.add(
                Comment(
                    post_id=post.id,
                    author_name=f"Reader {n}",
                    body=f"Comment number {n}, *kind* words.",
                    status=CommentStatus.approved,
                )
            )
        db.session.commit()
        db.engine.dispose()
    return "fifty-comments"


def start_gunicorn(app_path: str, env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
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
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(url + "/", timeout=5)
            return process, url
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    sys.exit(f"gunicorn for {app_path} did not start; see {log}")


def wrk(binary: str, url: str, seconds: int, headers: dict[str, str] | None = None) -> dict[str, float]:
    command = [binary, "-t2", "-c16", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    latencies = {p: float(v) * UNIT[u] for p, v, u in PERCENTILE.findall(output)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rate": float(WRK_RATE.search(output).group(1)),
        "p50": latencies.get("50", 0.0),
        "p99": latencies.get("99", 0.0),
        "errors": float(errors.group(1)) if errors else 0.0,
    }


def comments_per_second(url: str, slug: str, seconds: float) -> tuple[float, int]:
    """Sixteen posters, each with its own session and CSRF token, for ``seconds``; return (accepted/s, 5xx)."""
    accepted, server_errors, lock = [0], [0], threading.Lock()
    deadline = time.monotonic() + seconds

    def poster(number: int) -> None:
        session = requests.Session()
        token = CSRF.search(session.get(f"{url}/posts/{slug}", timeout=30).text).group(1)
        n = 0
        while time.monotonic() < deadline:
            data = {"csrf_token": token, "name": f"Poster {number}", "body": f"Benchmark comment {number}-{n}"}
            response = session.post(f"{url}/posts/{slug}/comments", data=data, allow_redirects=False, timeout=30)
            with lock:
                accepted[0] += response.status_code == 303
                server_errors[0] += response.status_code >= 500
            n += 1

    started = time.monotonic()
    threads = [threading.Thread(target=poster, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return accepted[0] / (time.monotonic() - started), server_errors[0]


def peak_rss_mb(master: int) -> float:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    peaks = []
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        peaks.append(int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024)
    return max(peaks, default=0.0)


def queries_per_page(env: dict[str, str], paths: list[str]) -> dict[str, int]:
    """Count the SQL statements each page runs, in-process, with SQLAlchemy's events."""
    os.environ.update(env)
    from sqlalchemy import event

    from app import create_app
    from models import db

    app = create_app()
    counts: dict[str, int] = {}
    with app.app_context():
        engine = db.engine
    statements = [0]

    def count(*args: object) -> None:
        statements[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    client = app.test_client()
    for path in paths:
        client.get(path)  # warm up
        statements[0] = 0
        client.get(path)
        counts[path] = statements[0]
    event.remove(engine, "before_cursor_execute", count)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3-second runs and a small database (under a minute)")
    options = parser.parse_args()
    seconds, posts = (3, 100) if options.quick else (10, 1000)
    binary = ensure_wrk()

    workdir = Path(tempfile.mkdtemp(prefix="inkwell-bench-"))
    env = os.environ | {
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
        "INSTANCE_PATH": str(workdir / "instance"),
        "SECRET_KEY": "benchmark",
        "COMMENT_MODERATION": "off",
        "COMMENT_MIN_SECONDS": "0",
        "COMMENT_RATE_LIMIT": "1000000 per minute",
        "LOG_LEVEL": "WARNING",
    }
    print(f"Seeding {posts} posts in {workdir} ...", flush=True)
    slug = prepare_database(env, posts)

    hello, hello_url = start_gunicorn("bench.hello:app", env, workdir / "hello.log")
    inkwell, url = start_gunicorn("app:create_app()", env, workdir / "inkwell.log")
    try:
        feed = requests.get(f"{url}/feed.xml", timeout=10)
        pages = [
            ("hello world (yardstick)", hello_url + "/", {}),
            ("home page", url + "/", {}),
            ("post with 50 comments", f"{url}/posts/{slug}", {}),
            ("tag page", url + "/tags/notes", {}),
            ("Atom feed", url + "/feed.xml", {}),
            ("Atom feed, 304 from ETag", url + "/feed.xml", {"If-None-Match": feed.headers.get("ETag", "")}),
        ]
        rows = []
        for name, address, headers in pages:
            print(f"Measuring {name} ...", flush=True)
            figures = wrk(binary, address, seconds, headers)
            size = len(requests.get(address, headers=headers, timeout=10).content)
            rows.append((name, figures, size))
        print("Measuring comments accepted per second ...", flush=True)
        accepted, server_errors = comments_per_second(url, slug, seconds)
        rss = peak_rss_mb(inkwell.pid)
    finally:
        for process in (hello, inkwell):
            os.kill(process.pid, signal.SIGTERM)
            process.wait(timeout=30)

    queries = queries_per_page(env, ["/", f"/posts/{slug}", "/tags/notes", "/feed.xml", "/search?q=garden"])
    yardstick = rows[0][1]["rate"]
    lines = [
        f"Inkwell benchmark — {'quick' if options.quick else 'full'} run, {posts} demo posts, gunicorn 2 sync workers, "
        f"wrk -t2 -c16 -d{seconds}s on loopback",
        "",
        "| page | requests/s | ratio to hello world | p50 ms | p99 ms | bytes | non-2xx/3xx |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, figures, size in rows:
        lines.append(
            f"| {name} | {figures['rate']:,.0f} | {figures['rate'] / yardstick:.2f} | {figures['p50']:.2f} | "
            f"{figures['p99']:.2f} | {size:,} | {figures['errors']:.0f} |"
        )
    lines += [
        "",
        f"Comments accepted with 16 concurrent posters: **{accepted:,.0f}/s** ({server_errors} server errors).",
        f"Peak RSS of a worker: **{rss:.0f} MB**.",
        "",
        "SQL statements per page (warm): " + ", ".join(f"`{path}` {count}" for path, count in queries.items()) + ".",
    ]
    table = "\n".join(lines) + "\n"
    print("\n" + table)
    (ROOT / "bench" / "results.md").write_text(table)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
