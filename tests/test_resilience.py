"""Faults survived: concurrent writers on SQLite, and a worker killed in the middle of the load.

Real gunicorn (two workers) on loopback, sixteen commenters posting through the real form at once.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import threading
import time
from pathlib import Path

import requests

POSTERS = 16
COMMENTS_EACH = 8
CSRF = re.compile(r'<input[^>]*\bname="csrf_token"[^>]*\bvalue="([^"]+)"')
LOCATION = re.compile(r"#comment-(\d+)$")


def post_comments(url: str, poster: int, acknowledged: list[int], failures: list[str]) -> None:
    """One commenter: load the form once, then post comments one after the other, noting what was acknowledged."""
    browser = requests.Session()
    token = load_form_token(browser, url, poster, failures)
    if token is None:
        return
    for n in range(COMMENTS_EACH):
        data = {"csrf_token": token, "name": f"Poster {poster}", "body": f"Comment {n} from poster {poster}"}
        try:
            response = browser.post(f"{url}/posts/welcome/comments", data=data, allow_redirects=False, timeout=30)
        except requests.RequestException:
            continue  # a connection cut by a killed worker: not acknowledged, so nothing was promised
        if response.status_code >= 500:
            failures.append(f"{response.status_code} for poster {poster}")
        elif response.status_code == 303:
            acknowledged.append(int(LOCATION.search(response.headers["Location"]).group(1)))


def load_form_token(browser: requests.Session, url: str, poster: int, failures: list[str]) -> str | None:
    """Load the post page for its form's token, reloading as a reader would when a killed worker cut it off."""
    for _attempt in range(3):
        try:
            return CSRF.search(browser.get(f"{url}/posts/welcome", timeout=30).text).group(1)
        except requests.ConnectionError:
            continue
        except (requests.RequestException, AttributeError) as error:
            failures.append(f"poster {poster} could not load the form: {error}")
            return None
    failures.append(f"poster {poster} could not load the form three times in a row")
    return None


def run_posters(url: str, during=None) -> tuple[list[int], list[str]]:
    acknowledged: list[int] = []
    failures: list[str] = []
    threads = [threading.Thread(target=post_comments, args=(url, n, acknowledged, failures)) for n in range(POSTERS)]
    for thread in threads:
        thread.start()
    if during:
        during()
    for thread in threads:
        thread.join(timeout=120)
    return acknowledged, failures


def stored_comment_ids(database: Path) -> set[int]:
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return {row[0] for row in connection.execute("SELECT id FROM comments")}


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def test_sixteen_concurrent_commenters_lose_nothing_on_sqlite(live_server, tmp_path):
    url = live_server(COMMENT_MODERATION="off", COMMENT_RATE_LIMIT="100000 per minute")

    acknowledged, failures = run_posters(url)

    print(f"\n{len(acknowledged)} comments acknowledged by 2 workers for {POSTERS} concurrent posters")
    assert failures == []
    assert len(acknowledged) == POSTERS * COMMENTS_EACH
    assert set(acknowledged) <= stored_comment_ids(tmp_path / "live.db")


def test_a_worker_killed_mid_load_corrupts_nothing_and_loses_no_acknowledged_comment(live_server, tmp_path):
    url = live_server(COMMENT_MODERATION="off", COMMENT_RATE_LIMIT="100000 per minute")
    master = live_server.processes[-1].pid

    def kill_a_worker() -> None:
        time.sleep(0.3)
        os.kill(worker_pids(master)[0], signal.SIGKILL)

    acknowledged, failures = run_posters(url, during=kill_a_worker)

    print(f"\n{len(acknowledged)} of {POSTERS * COMMENTS_EACH} comments acknowledged with a worker killed mid-load")
    assert failures == []
    assert acknowledged, "no comment went through at all"
    assert set(acknowledged) <= stored_comment_ids(tmp_path / "live.db")
    assert requests.get(f"{url}/healthz", timeout=10).status_code == 200  # gunicorn replaced the worker
