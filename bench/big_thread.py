"""A comment page of a post with 5,000 comments against one with 50: the same page work, whatever the total.

Writes two posts with comments in bulk (as an import does, then ``recount_comments``), each thread a comment and
a chain of four replies, ten threads a page (so the first page of either post shows the same 50 comments), and
times with Flask's test client, page cache off: the post page (first comment page), a linked deep comment (the
permalink's redirect, which finds its page, then the page it names) and a bare Flask "hello world" as the
yardstick; the same for a returning commenter with two comments held on each post. Prints medians, the ratio
5,000 : 50 (goal ≤ 1.2) and the query plans of the comment statements.

    .venv/bin/python bench/big_thread.py                      # SQLite, a temporary file
    .venv/bin/python bench/big_thread.py postgresql+psycopg://postgres@127.0.0.1:5432/scratch   # emptied first
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask.testing import FlaskClient  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlalchemy import select  # noqa: E402

from app import create_app  # noqa: E402
from bench.hello import app as hello_app  # noqa: E402
from comment_counts import recount_comments  # noqa: E402
from commenters import COMMENTER_COOKIE  # noqa: E402
from commenters import _commenter_serializer  # noqa: E402
from database import db  # noqa: E402
from database import now_utc  # noqa: E402
from models import Comment  # noqa: E402
from models import CommentStatus  # noqa: E402
from models import Post  # noqa: E402
from models import PostStatus  # noqa: E402

SIZES = (50, 5_000)
PER_PAGE = 10  # threads a page, five comments each
RUNS = 60
READER_KEY = "a-returning-commenter"  # has two comments held on each post


def write_post(count: int) -> tuple[str, int]:
    """Write a published post with ``count`` approved comments; return its slug and a deep reply's id."""
    slug = f"comments-{count}"
    post = Post(title=f"{count} comments", slug=slug, body="A post.", status=PostStatus.published)
    post.published_at = now_utc() - timedelta(days=60)
    db.session.add(post)
    db.session.commit()
    first = (db.session.scalar(select(db.func.max(Comment.id))) or 0) + 1
    start = now_utc() - timedelta(days=30)
    rows = [
        {
            "id": first + n,
            "post_id": post.id,
            "parent_id": None if n % 5 == 0 else first + n - 1,  # a chain: each reply answers the one before
            "author_name": f"Reader {n}",
            "body": f"Comment {n}",
            "body_html": f"<p>Comment {n}</p>",
            "status": CommentStatus.approved,
            "created_at": start + timedelta(seconds=n),
        }
        for n in range(count)
    ]
    deep = first + count * 19 // 20 // 5 * 5 + 4  # the fourth reply of a thread 95% down the post
    for n in (first + 19, deep - 5):  # last replies of two threads, held for one reader (who sees them in place)
        rows[n - first] |= {"status": CommentStatus.pending, "commenter_key": READER_KEY}
    db.session.execute(insert(Comment), rows)
    recount_comments({post.id})
    db.session.commit()
    return slug, deep


def medians_ms(client, paths: list[str]) -> list[float]:
    """Return the median time of each path in milliseconds, the paths taken in turn (so both sizes share the
    machine's moods), after warm-up calls."""
    for path in paths * 3:
        client.get(path)
    times: list[list[float]] = [[] for _ in paths]
    for _ in range(RUNS):
        for index, path in enumerate(paths):
            started = time.perf_counter()
            response = client.get(path)
            times[index].append(time.perf_counter() - started)
            assert response.status_code in (200, 302), (path, response.status_code)
    return [statistics.median(each) * 1000 for each in times]


def statements_of(app, client, path: str) -> list[tuple[str, object]]:
    with app.app_context():
        engine = db.engine
    found: list[tuple[str, object]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001
        found.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    return [(statement, parameters) for statement, parameters in found if "comments" in statement]


def plans(app, client, path: str) -> str:
    """Return the query plan of each statement reading comments for ``path``."""
    out = []
    statements = statements_of(app, client, path)  # a request of its own, outside the app context below
    with app.app_context():
        connection = db.session.connection()
        postgres = connection.dialect.name == "postgresql"
        for statement, parameters in statements:
            explain = "EXPLAIN (ANALYZE, COSTS OFF) " if postgres else "EXPLAIN QUERY PLAN "
            rows = connection.exec_driver_sql(explain + statement, parameters).all()
            lines = [row[0] for row in rows] if postgres else [row[-1] for row in rows]
            out.append(" ".join(statement.split())[:140] + " …\n    " + "\n    ".join(lines))
        db.session.rollback()
    return "\n".join(out)


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else None
    with tempfile.TemporaryDirectory() as instance:
        database = url or f"sqlite:///{Path(instance) / 'bench.db'}"
        app = create_app(
            {"DATABASE_URL": database, "SECRET_KEY": "bench", "PAGE_CACHE": False, "COMMENTS_PER_PAGE": PER_PAGE},
            instance_path=instance,
        )
        with app.app_context():
            db.drop_all()
            db.create_all()
            posts = {count: write_post(count) for count in SIZES}
        client = app.test_client()
        client.get("/")
        hello = medians_ms(hello_app.test_client(), ["/"])[0]
        reader = app.test_client()
        with app.app_context():
            reader.set_cookie(COMMENTER_COOKIE, _commenter_serializer().dumps(READER_KEY))
        addresses: dict[str, tuple[FlaskClient, list[str]]] = {}
        for count, (slug, deep) in posts.items():
            page = client.get(f"/posts/{slug}/comments/{deep}").headers["Location"]
            own_page = reader.get(f"/posts/{slug}/comments/{deep}").headers["Location"]
            for label, who, path in (
                ("first comment page", client, f"/posts/{slug}"),
                ("linked deep comment: permalink (finds the page)", client, f"/posts/{slug}/comments/{deep}"),
                ("linked deep comment: its page", client, page),
                ("commenter with 2 held comments: first comment page", reader, f"/posts/{slug}"),
                ("commenter with 2 held comments: linked deep comment", reader, f"/posts/{slug}/comments/{deep}"),
                ("commenter with 2 held comments: its page", reader, own_page),
            ):
                addresses.setdefault(label, (who, []))[1].append(path)
            print(f"{count:,} comments: deep comment {deep} is at {page} ({own_page} for the commenter)", flush=True)
        figures = {label: dict(zip(SIZES, medians_ms(who, at), strict=True)) for label, (who, at) in addresses.items()}
        small, large = SIZES
        dialect = "PostgreSQL" if url else "SQLite"
        print(f"\n{dialect}, page cache off, hello world {hello:.3f} ms (median of {RUNS})\n")
        print(f"| {dialect} | {small:,} comments, ms | {large:,} comments, ms | {large:,} : {small:,} |")
        print("|---|---:|---:|---:|")
        for label, by_size in figures.items():
            print(f"| {label} | {by_size[small]:.2f} | {by_size[large]:.2f} | {by_size[large] / by_size[small]:.2f} |")
        slug, deep = posts[large]
        print(f"\nQuery plans, {large:,} comments, first page:\n{plans(app, client, f'/posts/{slug}')}")
        print(f"\nPermalink of comment {deep}:\n{plans(app, client, f'/posts/{slug}/comments/{deep}')}")
        with app.app_context():
            if url:
                db.drop_all()


if __name__ == "__main__":
    main()
