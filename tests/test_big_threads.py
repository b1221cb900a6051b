"""Big threads bounded: a page of comments reads the same rows whether its post has fifty comments or five thousand.

Counted in SQL statements and in comments loaded, not in time.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlalchemy import insert
from sqlalchemy import update

from admin.moderation import COMMENT_ACTIONS
from admin.moderation import moderate
from comment_counts import recount_comments
from database import db
from database import now_utc
from models import Comment
from models import CommentStatus
from models import Post
from reading import visible_comments
from threads import comment_page_number
from threads import comment_thread
from threads import comments_on_page
from threads import thread_pages

PER_PAGE = 10  # threads a page; each thread here is a comment and four replies


@pytest.fixture
def post_with(make_app, make_post):
    """Make a post with ``count`` approved comments written in bulk: a thread every five, four replies each."""
    app = make_app(PAGE_CACHE=False, COMMENTS_PER_PAGE=PER_PAGE)

    def make(count: int, slug: str) -> tuple:
        post = make_post(slug.title(), slug=slug)
        start = now_utc() - timedelta(days=30)
        with app.app_context():
            first = (db.session.query(db.func.max(Comment.id)).scalar() or 0) + 1
            rows = [
                {
                    "id": first + n,
                    "post_id": post.id,
                    "parent_id": None if n % 5 == 0 else first + n - n % 5,
                    "author_name": f"Reader {n}",
                    "body": f"Comment {n}",
                    "body_html": f"<p>Comment {n}</p>",
                    "status": CommentStatus.approved,
                    "created_at": start + timedelta(seconds=n),
                }
                for n in range(count)
            ]
            db.session.execute(insert(Comment), rows)
            recount_comments({post.id})  # as every bulk write does: counts and threads are kept at write time
            db.session.commit()
        return app, post

    return make


def work_for(app, path: str) -> tuple[int, int, int]:
    """Return (status, SQL statements, comments loaded) for an anonymous reader's visit to ``path``."""
    with app.app_context():
        engine = db.engine
    statements: list[str] = []
    loaded: list[int] = []
    keep = lambda connection, cursor, statement, *args: statements.append(statement)  # noqa: E731
    count = lambda comment, context: loaded.append(comment.id)  # noqa: E731
    event.listen(engine, "before_cursor_execute", keep)
    event.listen(Comment, "load", count)
    try:
        response = app.test_client().get(path)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
        event.remove(Comment, "load", count)
    return response.status_code, len(statements), len(loaded)


def test_the_first_comment_page_reads_as_much_for_5000_comments_as_for_50(post_with):
    app, _ = post_with(50, "fifty")
    app, _ = post_with(5_000, "five-thousand")
    app.test_client().get("/")  # a worker reads the saved settings once: not a cost of each page

    small = work_for(app, "/posts/fifty")
    large = work_for(app, "/posts/five-thousand")

    assert small == large == (200, small[1], 50)  # 10 threads of 5 comments, whatever the post's total
    html = app.test_client().get("/posts/five-thousand").get_data(as_text=True)
    assert "Comments page 1 of 100" in html and "Comment 49<" in html and "Comment 50<" not in html


def test_a_late_page_and_a_linked_comment_cost_the_same_as_on_a_short_thread(post_with):
    app, short = post_with(50, "fifty")
    app, post = post_with(5_000, "five-thousand")
    app.test_client().get("/")
    with app.app_context():
        late = db.session.query(Comment).filter_by(post_id=post.id, body="Comment 4777").one().id
        early = db.session.query(Comment).filter_by(post_id=short.id, body="Comment 37").one().id

    assert work_for(app, "/posts/five-thousand?cpage=100") == work_for(app, "/posts/fifty")
    linked_late = work_for(app, f"/posts/five-thousand/comments/{late}")
    assert linked_late == work_for(app, f"/posts/fifty/comments/{early}")
    assert linked_late[0] == 302 and linked_late[2] <= 1
    location = app.test_client().get(f"/posts/five-thousand/comments/{late}").headers["Location"]
    assert location.endswith(f"/posts/five-thousand?cpage=96#comment-{late}")
    assert f'id="comment-{late}"' in app.test_client().get(location).get_data(as_text=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_each_page_holds_the_threads_the_whole_conversation_would_put_there(make_app, make_post, seed):
    """Replies to replies, replies to held, spam or trashed comments, the reader's own held ones, equal times."""
    app = make_app()
    post = make_post("Busy", slug="busy")
    chance = random.Random(seed)
    start = now_utc() - timedelta(days=3)
    with app.app_context():
        ids: list[int] = []
        for n in range(160):
            status = chance.choice([CommentStatus.approved] * 6 + [CommentStatus.pending, CommentStatus.spam])
            comment = Comment(
                post_id=post.id,
                parent_id=chance.choice(ids) if ids and chance.random() < 0.7 else None,
                author_name=f"Reader {n}",
                body=f"Comment {n}",
                status=status,
                commenter_key=chance.choice(["me", "someone else"]),
                created_at=start + timedelta(minutes=n // 3),  # threes written in the same second
            )
            if chance.random() < 0.05:
                comment.trashed_at = now_utc()
            db.session.add(comment)
            db.session.flush()
            ids.append(comment.id)
        db.session.commit()
        for key in (None, "me"):
            for per_page in (1, 3, 7, 50):
                whole = thread_pages(comment_thread(visible_comments(post, key)), per_page)
                for number, expected in enumerate(whole, start=1):
                    comments, threads = comments_on_page(post.id, key, number, per_page)
                    shown = [(comment.id, depth) for comment, depth in comment_thread(comments)]
                    assert shown == [(comment.id, depth) for comment, depth in expected], (key, per_page, number)
                    assert -(-threads // per_page) == len(whole)
                assert comments_on_page(post.id, key, len(whole) + 1, per_page)[0] == []


def assert_pages_are_those_of_the_whole_conversation(post, key: str | None, per_page: int) -> None:
    """Each page, its "of Y" and each shown comment's link agree with the thread cut from all comments at once."""
    whole = thread_pages(comment_thread(visible_comments(post, key)), per_page)
    for number, expected in enumerate(whole, start=1):
        comments, threads = comments_on_page(post.id, key, number, per_page)
        shown = [(comment.id, depth) for comment, depth in comment_thread(comments)]
        assert shown == [(comment.id, depth) for comment, depth in expected], (key, per_page, number)
        assert -(-threads // per_page) == (len(whole) if expected else 0), (key, per_page, number)
        for comment, _ in expected:
            assert comment_page_number(comment, key, per_page) == number, (key, per_page, comment.id)


@pytest.mark.parametrize("seed", [4, 5])
def test_pages_and_links_stay_right_through_moderation_trash_edits_and_deletion(make_app, make_post, seed):
    """Every kind of change, one at a time, on a conversation with held and spam comments, replies to them and
    comments written in the same minute; after each, every page for everyone and for the writer of held ones."""
    app = make_app()
    post = make_post("Busy", slug="busy")
    chance = random.Random(seed)
    start = now_utc() - timedelta(days=3)
    with app.app_context():
        ids: list[int] = []

        def write(n: int, at) -> None:
            comment = Comment(
                post_id=post.id,
                parent_id=chance.choice(ids) if ids and chance.random() < 0.6 else None,
                author_name=f"Reader {n}",
                body=f"Comment {n}",
                status=chance.choice([CommentStatus.approved] * 4 + [CommentStatus.pending, CommentStatus.spam]),
                commenter_key=chance.choice(["me", "someone else"]),
                created_at=at,
            )
            db.session.add(comment)
            db.session.commit()
            ids.append(comment.id)

        for n in range(40):  # in any order of time, as imports have them: a reply may be older than its parent
            write(n, start + timedelta(minutes=chance.randrange(14)))
        for step in range(30):
            comment = db.session.get(Comment, chance.choice(ids))
            action = chance.choice(["approve", "pending", "spam", "delete", "restore", "forget", "edit", "write"])
            if action in COMMENT_ACTIONS:
                moderate(comment, action)
            elif action == "restore" and comment.is_trashed:
                comment.restore_from_trash()
            elif action == "forget":
                ids.remove(comment.id)
                db.session.delete(comment)
            elif action == "edit":
                comment.body = f"{comment.body}, edited"
            elif action == "write":
                write(100 + step, now_utc())
            db.session.commit()
            db.session.expire_all()
            for key in (None, "me"):
                assert_pages_are_those_of_the_whole_conversation(post, key, 3)
        for key in (None, "me"):
            for per_page in (1, 50):
                assert_pages_are_those_of_the_whole_conversation(post, key, per_page)


def test_the_recount_command_repairs_threads_changed_around_the_orm(post_with):
    app, post = post_with(50, "fifty")
    with app.app_context():
        db.session.execute(update(Comment).values(thread_ordinal=None))
        db.session.execute(update(Post).values(thread_count=0))
        db.session.commit()
    assert "Comment 0<" not in app.test_client().get("/posts/fifty").get_data(as_text=True)

    result = app.test_cli_runner().invoke(args=["recount"])

    assert result.exit_code == 0 and "Counted the comments and the threads of every post again." in result.output
    html = app.test_client().get("/posts/fifty").get_data(as_text=True)
    assert "Comment 0<" in html and "Comment 49<" in html
