"""Comments accepted per second: commenters posting through the real form, on one app server or several.

Each commenter is one wrk thread and connection (bench/post_comments.lua) with its own post and the CSRF
token from its own visit, posting comment after comment with CSRF, sanitising, spam checks and rate limits
all on. A comment counts when the blog acknowledged it (303) and is then found in the database: an
acknowledged comment missing from the database is lost.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from harness import BENCH
from harness import CSRF

SCRIPT = BENCH / "post_comments.lua"


@dataclass
class Commenting:
    rate: float
    acknowledged: int
    lost: int
    server_errors: int


def form_arguments(url: str, slugs: list[str]) -> list[str]:
    """For each post, its comment form's address and a CSRF token from a visit: post_comments.lua's arguments."""
    arguments = []
    for slug in slugs:
        html = requests.get(f"{url}/posts/{slug}", timeout=30).text
        form = f"/posts/{slug}/comments"
        arguments += [form, CSRF.search(html, html.find(f'action="{form}#')).group(1)]
    return arguments


def comments_per_second(
    binary: str, servers: dict[str, list[str]], seconds: float, count_comments: Callable[[], int]
) -> Commenting:
    """Run one commenter per post slug on the server it is listed under, all at once; count what was kept."""
    commands = [
        [binary, f"-t{len(slugs)}", f"-c{len(slugs)}", f"-d{round(seconds)}s", "-s", str(SCRIPT), url, "--"]
        + form_arguments(url, slugs)
        for url, slugs in servers.items()
    ]
    before = count_comments()
    running = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for command in commands]
    outputs = [process.communicate()[0] for process in running]
    if any(process.returncode for process in running):
        raise RuntimeError("wrk failed while posting comments:\n" + "\n".join(outputs))
    stored = count_comments() - before
    acknowledged = sum(int(re.search(r"acknowledged (\d+)", output).group(1)) for output in outputs)
    errors = sum(int(found.group(1)) for o in outputs if (found := re.search(r"Non-2xx or 3xx responses: (\d+)", o)))
    elapsed = max(float(re.search(r"requests in ([\d.]+)s", output).group(1)) for output in outputs)
    return Commenting(acknowledged / elapsed, acknowledged, max(0, acknowledged - stored), errors)


def newest_slugs(database: Path, count: int) -> list[str]:
    """The slugs of the ``count`` newest published posts in a SQLite blog."""
    with sqlite3.connect(database) as connection:
        query = "SELECT slug FROM posts WHERE status = 'published' ORDER BY published_at DESC LIMIT ?"
        return [slug for (slug,) in connection.execute(query, (count,))]


def comment_ids(database: Path, slug: str) -> list[int]:
    """The ids of a post's comments in a SQLite blog, oldest first."""
    with sqlite3.connect(database) as connection:
        query = "SELECT c.id FROM comments c JOIN posts p ON p.id = c.post_id WHERE p.slug = ? ORDER BY c.created_at"
        return [number for (number,) in connection.execute(query, (slug,))]


def sqlite_counter(database: Path) -> Callable[[], int]:
    def count() -> int:
        with sqlite3.connect(database) as connection:
            return connection.execute("SELECT count(*) FROM comments").fetchone()[0]

    return count


def postgres_counter(url: str) -> Callable[[], int]:
    import psycopg

    def count() -> int:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as connection:
            return connection.execute("SELECT count(*) FROM comments").fetchone()[0]

    return count
