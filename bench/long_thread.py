"""The first render of a post whose comments are all on one page, with the page cache on, as the thread grows.

Comments are paged by thread, so one conversation of thousands of replies is one page. Every comment carries a
Delete button with a form token, and storing the page must cost what its length costs, not the square of its
comments. Run alone, it prints the milliseconds of one first render (and of one cached copy) for each size:
``.venv/bin/python bench/long_thread.py 500 1000 2000``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from app import create_app  # noqa: E402
from database import db  # noqa: E402
from database import now_utc  # noqa: E402
from models import Comment  # noqa: E402
from models import CommentStatus  # noqa: E402
from models import Post  # noqa: E402
from models import PostStatus  # noqa: E402


def blog_with_thread(replies: int, folder: str):
    """A new blog with one post whose first comment has ``replies`` - 1 replies."""
    settings = {
        "SECRET_KEY": "bench",
        "DATABASE_URL": f"sqlite:///{folder}/blog.db",
        "PAGE_CACHE": True,
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    app = create_app(settings, instance_path=f"{folder}/instance")
    with app.app_context():
        db.create_all()
        post = Post(title="Thread", slug="thread", body="A post.", status=PostStatus.published)
        post.published_at = now_utc() - timedelta(hours=1)
        db.session.add(post)
        db.session.commit()
        start = now_utc() - timedelta(days=1)
        rows = [
            {
                "id": number + 1,
                "post_id": post.id,
                "parent_id": None if number == 0 else 1,
                "author_name": f"Reader {number}",
                "body": "A reply.",
                "body_html": "<p>A reply.</p>",
                "status": CommentStatus.approved,
                "created_at": start + timedelta(seconds=number),
            }
            for number in range(replies)
        ]
        db.session.execute(insert(Comment), rows)
        db.session.commit()
    return app


def milliseconds(client, path: str) -> float:
    started = time.perf_counter()
    client.get(path).close()
    return (time.perf_counter() - started) * 1000


def main(sizes: list[int]) -> None:
    print("| comments on the page | first render, ms | from the cache, ms |")
    print("|---:|---:|---:|")
    for size in sizes:
        client = blog_with_thread(size, tempfile.mkdtemp()).test_client()
        first, cached = milliseconds(client, "/posts/thread"), milliseconds(client, "/posts/thread")
        print(f"| {size:,} | {first:,.0f} | {cached:,.1f} |")


if __name__ == "__main__":
    main([int(size) for size in sys.argv[1:]] or [500, 1000, 2000])
