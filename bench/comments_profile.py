"""Where a comment's CPU time goes: the real form posted in process (the test client), every check on, under cProfile.

`.venv/bin/python bench/comments_profile.py [--comments 300]` seeds the benchmark's blog (bench/run.py), reads the
form's token from sixteen post pages as wrk's commenters do, posts comments round them, and prints the CPU time of one
comment (the best of several batches, unprofiled: the load of a shared machine only adds) and the share of it each
step takes (profiled with the thread's CPU clock). cProfile slows Python more than C, so shares are approximate.
It also prints the Python function calls per comment: a count that a shared machine's load does not move, for
comparing two versions of the code when their times swing more than they differ. ``--top 30`` also lists the
functions with the most own time, and ``--callers NAME`` who calls the functions named NAME, for finding waste.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from harness import CSRF  # noqa: E402 (bench/ modules import each other by path)
from harness import bench_environment  # noqa: E402
from harness import seed  # noqa: E402

STEPS = {  # function name → what it is, in the order a comment meets them
    "_check_request_limit (flask_limiter/_extension.py)": "rate limits (Flask-Limiter, counters file)",
    "post_to_comment_on_or_404": "finding the post",
    "__init__ (flask_wtf/form.py)": "building the form (and a fresh CSRF token)",
    "validate_on_submit": "validating: CSRF, Sec-Fetch, fields, Markdown + bleach",
    "is_duplicate": "duplicate check",
    "_new_comment": "building the comment: spam checks, moderation policy",
    "_store (comments.py)": "INSERT, comment_count, page-cache generations, COMMIT",
    "comment_location": "the page the comment is on (for the redirect)",
    "remember_commenter": "commenter cookie",
    "save_session": "flash message (session cookie)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comments", type=int, default=300, help="comments posted under the profiler")
    parser.add_argument("--top", type=int, default=0, help="also list the N functions with the most own time")
    parser.add_argument("--callers", default="", help="also list the callers of the functions with this name")
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="inkwell-comment-profile-"))
    env = bench_environment(workdir, "small")
    seed(env, 100, 300)
    os.environ.update(env)
    from app import create_app

    client = create_app().test_client(use_cookies=False)
    with sqlite3.connect(workdir / "small.db") as connection:
        query = "SELECT slug FROM posts WHERE status = 'published' ORDER BY published_at DESC LIMIT 16"
        slugs = [slug for (slug,) in connection.execute(query)]
    forms = []
    for slug in slugs:
        html = client.get(f"/posts/{slug}").get_data(as_text=True)
        action = f"/posts/{slug}/comments"
        forms.append((action, CSRF.search(html, html.find(f'action="{action}#')).group(1)))
    sent = 0

    def post() -> None:
        nonlocal sent
        sent += 1
        action, token = forms[sent % len(forms)]
        data = {"csrf_token": token, "name": f"Poster {sent % len(forms)}", "body": f"Benchmark comment {sent}"}
        assert client.post(action, data=data).status_code == 303

    for _ in range(100):
        post()
    batches = []
    for _ in range(10):
        started = time.thread_time()
        for _ in range(50):
            post()
        batches.append((time.thread_time() - started) * 1000 / 50)
    profile = cProfile.Profile(time.thread_time)
    profile.enable()
    for _ in range(options.comments):
        post()
    profile.disable()
    shutil.rmtree(workdir, ignore_errors=True)  # before printing: a reader that stops early (| head) stops it
    profiled = pstats.Stats(profile)
    stats = profiled.stats  # type: ignore[attr-defined]
    whole = max(cumulative for (_, _, name), (_, _, _, cumulative, _) in stats.items() if name == "post")
    print(f"CPU time of one comment (test client, in process, best of 10 batches): {min(batches):.2f} ms")
    calls = profiled.total_calls / options.comments  # type: ignore[attr-defined]
    print(f"Python function calls per comment (the same on a busy machine, unlike time): {calls:,.0f}")
    print("| step | share of a comment's CPU time |\n|---|---:|")
    shown = 0.0
    for step, meaning in STEPS.items():
        name, _, where = step.partition(" (")
        cumulative = sum(
            figures[3]
            for (path, _, function), figures in stats.items()
            if function == name and where.rstrip(")") in path
        )
        print(f"| {meaning} | {100 * cumulative / whole:.0f}% |")
        shown += cumulative
    print(f"| the rest: Flask, Werkzeug, Flask-Login, headers, the test client | {100 * (1 - shown / whole):.0f}% |")
    if options.top:
        profiled.sort_stats("tottime").print_stats(options.top)
    if options.callers:
        profiled.sort_stats("cumulative").print_callers(options.callers)


if __name__ == "__main__":
    main()
