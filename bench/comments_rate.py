"""Measure only the comments accepted per second (issue 21), with bench/run.py's own seed, gunicorn and wrk script.

`.venv/bin/python bench/comments_rate.py [--seconds 10] [--runs 3]` seeds a small SQLite blog, starts gunicorn with
two sync workers and every check on (CSRF, sanitising, spam checks, the rate limiter with its shared counters file),
and has sixteen commenters post as fast as they can. Each run prints the rate, how many comments were acknowledged
(303) and how many of those are missing from the database (must be 0), and the server errors and lock waits seen,
beside a bare Flask hello world measured just before it (a yardstick for how loaded the machine is).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from commenting import comments_per_second  # noqa: E402 (bench/ modules import each other by path)
from commenting import newest_slugs  # noqa: E402
from commenting import sqlite_counter  # noqa: E402
from harness import bench_environment  # noqa: E402
from harness import ensure_installed  # noqa: E402
from harness import seed  # noqa: E402
from harness import start_gunicorn  # noqa: E402
from harness import wrk  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each run")
    parser.add_argument("--runs", type=int, default=3, help="runs in a row against the same server")
    options = parser.parse_args()
    wrk_binary = ensure_installed("wrk", "wrk") or sys.exit("wrk could not be installed")
    workdir = Path(tempfile.mkdtemp(prefix="inkwell-comments-"))
    env = bench_environment(workdir, "small")
    seed(env, 100, 300)
    print(f"load: {os.getloadavg()[0]:.2f}", flush=True)
    with ExitStack() as stack:
        log = workdir / "gunicorn.log"
        _, hello = start_gunicorn(stack, "bench.hello:app", env, workdir / "hello.log")
        _, url = start_gunicorn(stack, "app:create_app()", env, log)
        for _ in range(options.runs):
            yardstick = wrk(wrk_binary, hello + "/", options.seconds).rate
            database = workdir / "small.db"
            servers = {url: newest_slugs(database, 16)}
            kept = comments_per_second(wrk_binary, servers, options.seconds, sqlite_counter(database))
            print(
                f"{kept.rate:,.0f}/s ({kept.rate / yardstick:.3f} of hello world's {yardstick:,.0f}/s), "
                f"{kept.acknowledged:,} acknowledged, {kept.lost} not stored, {kept.server_errors} non-2xx/3xx",
                flush=True,
            )
        locked = log.read_text().count("database is locked")
    print(f"'database is locked' in the server log: {locked}; load: {os.getloadavg()[0]:.2f}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
