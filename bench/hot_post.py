"""A hot post commented on: readers' p99 latency while comments arrive on the one post they all read.

bench/storm.py's sibling for a change to a page's own content, which no reader may be served the copy from
before of. Sixty-four concurrent readers of one post with 50 comments are measured with the cache warm (steady
state), then again while a commenter posts on that post every quarter of a second through the real form: after
each comment the page is rendered again. Prints each round's p99s and their ratio, and the load.

Latency on a loaded machine is noisy, so ``--in-process`` counts the cost instead: apps standing for workers
share the page store in one process; after each comment, ``--readers`` threads spread over them read the post at
once, and the CPU time and SQL statements of those reads are summed (each render runs the same few statements).

    .venv/bin/python bench/hot_post.py [--workers 2] [--rounds 3] [--seconds 3]
    .venv/bin/python bench/hot_post.py --in-process [--workers 2] [--readers 16] [--rounds 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import requests

from harness import CSRF
from harness import ROOT
from harness import SLUG
from harness import bench_environment
from harness import seed
from harness import start_gunicorn
from harness import uptime
from harness import wrk

READERS = 64
COMMENT_EVERY = 0.25


def keep_commenting(url: str, stop: threading.Event, acknowledged: list[int]) -> None:
    """Post a comment on the hot post through its form every ``COMMENT_EVERY`` seconds until ``stop``; note
    how many the blog acknowledged."""
    session = requests.Session()
    form = f"/posts/{SLUG}/comments"
    html = session.get(f"{url}/posts/{SLUG}", timeout=30).text
    token = CSRF.search(html, html.find(f'action="{form}#')).group(1)
    posted = 0
    while not stop.wait(COMMENT_EVERY):
        data = {"csrf_token": token, "name": "Hot", "body": f"Comment {time.time_ns()} on a hot post"}
        answer = session.post(url + form, data=data, allow_redirects=False, timeout=30)
        posted += answer.status_code == 303
    acknowledged.append(posted)


def in_process(env: dict[str, str], workers: int, readers: int, rounds: int) -> None:
    """Sum the CPU time and SQL statements of ``readers`` simultaneous reads of the post after each comment."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import event

    from app import create_app
    from database import db

    apps = [create_app() for _ in range(workers)]
    statements = [0]
    for app in apps:
        with app.app_context():
            event.listen(db.engine, "before_cursor_execute", lambda *_: statements.__setitem__(0, statements[0] + 1))
    page = f"/posts/{SLUG}"
    commenter = apps[0].test_client()
    html = commenter.get(page).text
    token = CSRF.search(html, html.find(f'action="{page}/comments#')).group(1)
    cpu, reads = 0.0, 0
    for number in range(rounds):
        data = {"csrf_token": token, "name": "Hot", "body": f"Comment {number} {time.time_ns()}"}
        assert commenter.post(f"{page}/comments", data=data).status_code == 303
        statements[0], start = 0, threading.Barrier(readers + 1)
        threads = [threading.Thread(target=read_at_once, args=(apps[n % workers], page, start)) for n in range(readers)]
        for thread in threads:
            thread.start()
        started = time.process_time()
        start.wait()
        for thread in threads:
            thread.join()
        cpu += time.process_time() - started
        reads += statements[0]
    print(
        f"{workers} workers, {readers} readers at once after each of {rounds} comments: "
        f"{cpu / rounds * 1000:.1f} ms CPU and {reads / rounds:.1f} SQL statements a comment, load {uptime()}"
    )


def read_at_once(app, page: str, start: threading.Barrier) -> None:
    client = app.test_client()
    start.wait()
    assert client.get(page).status_code == 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--in-process", action="store_true")
    parser.add_argument("--readers", type=int, default=16)
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="inkwell-hot-post-"))
    env = bench_environment(workdir, "hot")
    seed(env, 20, 20)
    if options.in_process:
        in_process(env, options.workers, options.readers, options.rounds)
        return
    ratios = []
    with ExitStack() as stack:
        _, url = start_gunicorn(stack, "app:create_app()", env, workdir / "hot.log", options.workers)
        page = f"{url}/posts/{SLUG}"
        requests.get(page, timeout=30)
        for number in range(options.rounds):
            steady = wrk("wrk", page, options.seconds, connections=READERS)
            stop = threading.Event()
            posted: list[int] = []
            commenter = threading.Thread(target=keep_commenting, args=(url, stop, posted))
            commenter.start()
            hot = wrk("wrk", page, options.seconds, connections=READERS)
            stop.set()
            commenter.join()
            ratios.append(hot.p99 / steady.p99)
            print(
                f"round {number + 1}: steady p99 {steady.p99:.1f} ms ({steady.rate:.0f}/s), "
                f"with {posted[0]} comments p99 {hot.p99:.1f} ms ({hot.rate:.0f}/s), {ratios[-1]:.1f}×, "
                f"errors {steady.errors + hot.errors:.0f}",
                flush=True,
            )
    print(f"{options.workers} workers, median {statistics.median(ratios):.1f}×, load {uptime()}")


if __name__ == "__main__":
    sys.exit(main())
