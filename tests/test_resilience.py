"""Faults survived: concurrent writers on SQLite, and a worker killed in the middle of the load.

Real gunicorn (two workers) on loopback, sixteen commenters posting through the real form at once.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import requests

from helpers import COMMENTS_EACH
from helpers import POSTERS
from helpers import run_posters


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
