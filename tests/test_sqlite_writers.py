"""Writers to one SQLite file take turns on a lock file (sqlite_writers.py), and a turn always ends.

Every test writes to a real SQLite file from real threads, each with its own connection, as two gunicorn
workers do; none may hang (a turn never given back would) or lose a row.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from database import db
from models import Comment
from models import CommentStatus
from models import Post
from sqlite_writers import QueuedConnection
from sqlite_writers import WriterQueue

GIVE_UP = 3  # seconds before a thread that never got its turn fails the test instead of hanging it


# The writers' queue is for SQLite files (PostgreSQL has its own locks): these tests run on SQLite alone.
ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def sqlite_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


def a_comment(post_id: int, text: str) -> Comment:
    return Comment(post_id=post_id, author_name="Ada", body=text, status=CommentStatus.approved)


def in_thread(work: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=work)
    thread.start()
    return thread


def finished(thread: threading.Thread) -> bool:
    thread.join(timeout=GIVE_UP)
    return not thread.is_alive()


def writers_of_session() -> WriterQueue:
    """The queue place of the connection the session is writing on."""
    return db.session.connection().connection.dbapi_connection.writers


def stored_bodies(app: Flask) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(db.select(Comment.body)))


@ON_SQLITE
def test_a_second_writer_waits_for_the_first_to_commit_and_both_comments_are_kept(sqlite_app, make_post):
    post = make_post()
    first_is_writing, order = threading.Event(), []

    def first_writer() -> None:
        with sqlite_app.app_context():
            db.session.add(a_comment(post.id, "first"))
            db.session.flush()
            assert writers_of_session().is_holding
            first_is_writing.set()
            order.append("first commits")
            db.session.commit()

    def second_writer() -> None:
        first_is_writing.wait(GIVE_UP)
        with sqlite_app.app_context():
            db.session.add(a_comment(post.id, "second"))
            db.session.commit()
            order.append("second committed")

    threads = [in_thread(first_writer), in_thread(second_writer)]

    assert all(finished(thread) for thread in threads)
    assert order == ["first commits", "second committed"]
    assert stored_bodies(sqlite_app) == {"first", "second"}


@ON_SQLITE
@pytest.mark.parametrize("ending", ["rollback", "close"])
def test_a_write_given_up_or_abandoned_lets_the_next_writer_in(sqlite_app, make_post, ending):
    post = make_post()
    with sqlite_app.app_context():
        db.session.add(a_comment(post.id, "never kept"))
        db.session.flush()
        queue = writers_of_session()
        assert queue.is_holding
        getattr(db.session, ending)()  # close: the pool rolls the connection back
        assert not queue.is_holding

    def next_writer() -> None:
        with sqlite_app.app_context():
            db.session.add(a_comment(post.id, "kept"))
            db.session.commit()

    assert finished(in_thread(next_writer))
    assert stored_bodies(sqlite_app) == {"kept"}


@ON_SQLITE
def test_reading_never_waits_for_a_writer(sqlite_app, make_post):
    post = make_post()
    titles: list[str] = []
    with sqlite_app.app_context():
        db.session.add(a_comment(post.id, "being written"))
        db.session.flush()

        def reader() -> None:
            with sqlite_app.app_context():
                titles.append(db.session.get(Post, post.id).title)

        assert finished(in_thread(reader))
        db.session.commit()
    assert titles == ["A post"]


def test_a_thread_holding_the_turn_never_waits_for_itself(tmp_path: Path):
    database = str(tmp_path / "blog.db")
    first, second = WriterQueue(database), WriterQueue(database)
    first.wait_turn()

    second.wait_turn()  # another connection of the same thread: SQLite's busy timeout decides, not the queue

    assert first.is_holding and not second.is_holding
    first.close()
    second.close()


@ON_SQLITE
def test_many_threads_posting_at_once_lose_nothing(sqlite_app, make_post):
    post = make_post()
    texts = [f"comment {writer}-{n}" for writer in range(8) for n in range(10)]

    def writer(number: int) -> None:
        with sqlite_app.app_context():
            for n in range(10):
                db.session.add(a_comment(post.id, f"comment {number}-{n}"))
                db.session.commit()

    threads = [in_thread(lambda number=number: writer(number)) for number in range(8)]

    assert all(finished(thread) for thread in threads)
    assert stored_bodies(sqlite_app) == set(texts)
    with sqlite_app.app_context():
        assert db.session.get(Post, post.id).comment_count == len(texts)


def test_a_plain_sqlite3_connection_holds_the_turn_from_its_first_write_to_its_commit(tmp_path: Path):
    connection = sqlite3.connect(tmp_path / "blog.db", factory=QueuedConnection)
    connection.execute("CREATE TABLE notes (text TEXT)")
    assert not connection.writers.is_holding

    connection.execute("INSERT INTO notes VALUES ('written')")
    assert connection.writers.is_holding
    connection.commit()

    assert not connection.writers.is_holding
    connection.close()


def test_a_write_outside_a_transaction_gives_the_turn_back_at_once(tmp_path: Path):
    connection = sqlite3.connect(tmp_path / "blog.db", factory=QueuedConnection, isolation_level=None)
    connection.execute("CREATE TABLE notes (text TEXT)")

    connection.execute("INSERT INTO notes VALUES ('autocommitted')")

    assert (tmp_path / "blog.db-writers").exists()  # it queued
    assert not connection.writers.is_holding
    connection.close()


def test_an_in_memory_database_has_nobody_to_queue_with():
    connection = sqlite3.connect(":memory:", factory=QueuedConnection)
    connection.execute("CREATE TABLE notes (text TEXT)")
    connection.execute("INSERT INTO notes VALUES ('kept in memory')")

    assert connection.writers is None
    connection.close()
