"""Add published posts with a given number of approved comments to the blog in ``DATABASE_URL``; print their ids.

bench/harness.py runs it for the post with 50 comments and the one with 5,000: ``.venv/bin/python
bench/seed_thread.py SLUG COUNT [SLUG COUNT ...]`` prints one line of comment ids per post;
``--empty-first`` first drops and creates every table (a scratch PostgreSQL database, as the tests make it).
One comment in five is a reply to the comment before it, so the thread has
replies as readers write them; the comments go in with one bulk insert, their HTML rendered the way a new
comment's is, and the post's comment count is set the way seed-demo sets it.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402
from sqlalchemy import update  # noqa: E402

from app import create_app  # noqa: E402
from comment_counts import recount_comments  # noqa: E402
from database import db  # noqa: E402
from database import now_utc  # noqa: E402
from models import BodyFormat  # noqa: E402
from models import Comment  # noqa: E402
from models import CommentStatus  # noqa: E402
from models import Post  # noqa: E402
from models import PostStatus  # noqa: E402


def add_thread(slug: str, count: int) -> list[int]:
    """Publish the post ``slug`` (a day ago) with ``count`` comments, a second apart; return their ids in order."""
    started = now_utc() - timedelta(days=1)
    title = slug.replace("-", " ").capitalize()
    post = Post(title=title, slug=slug, body="A post with a long thread.\n\n" * 5, status=PostStatus.published)
    post.published_at = started
    db.session.add(post)
    db.session.flush()
    ids: list[int] = []
    for first in range(0, count, 1000):
        rows = [_comment_row(post.id, number, started) for number in range(first, min(count, first + 1000))]
        new_ids = db.session.scalars(insert(Comment).returning(Comment.id, sort_by_parameter_order=True), rows).all()
        ids += new_ids
    replies = [{"id": ids[number], "parent_id": ids[number - 1]} for number in range(4, count, 5)]
    if replies:  # every fifth comment answers the one before it
        db.session.execute(update(Comment), replies)
    recount_comments({post.id})
    db.session.commit()
    return ids


def _comment_row(post_id: int, number: int, started) -> dict:  # noqa: ANN001
    body = f"Comment number {number}, *kind* words."
    return {
        "post_id": post_id,
        "author_name": f"Reader {number}",
        "body": body,
        "body_html": BodyFormat.markdown.render_comment(body),
        "status": CommentStatus.approved,
        "created_at": started + timedelta(seconds=number),
    }


def main() -> None:
    arguments = [argument for argument in sys.argv[1:] if argument != "--empty-first"]
    with create_app().app_context():
        if "--empty-first" in sys.argv:
            db.drop_all()
            db.create_all()
        for slug, count in zip(arguments[::2], arguments[1::2], strict=True):
            print(" ".join(str(number) for number in add_thread(slug, int(count))))


if __name__ == "__main__":
    main()
