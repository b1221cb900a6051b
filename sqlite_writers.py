"""SQLite writers queue on a lock file and are woken the moment the writer before them is done.

SQLite lets one writer at a time into a database. The others, finding it busy, sleep in SQLite's busy handler:
1 ms, then 2, 5, 10, 15, 20, 25 … up to 100 ms between tries, however soon the writer finishes. With two gunicorn
workers posting comments on a loaded machine, each worker spent a tenth of its time or more asleep there, and more
the busier the machine. Here a writer first takes an exclusive ``flock`` on ``<database file>-writers``; the kernel
wakes the next waiter as soon as it is released, right after the transaction's commit or rollback (or when the
process dies). :class:`QueuedConnection` does this for every connection SQLAlchemy opens (database.py).

The queue only orders writers: SQLite's own locking still guards the data. Whoever does not queue (the sqlite3
shell, a migration, a second connection of a thread that already holds the queue) is waited for by the busy
timeout as before.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SUFFIX = "-writers"
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")  # the statements before which sqlite3 opens a transaction

_held_by_thread = threading.local()


def is_write(statement: str) -> bool:
    """Tell whether ``statement`` writes rows, which takes SQLite's write lock until the transaction ends."""
    return statement.lstrip()[:7].upper().startswith(WRITES)


class WriterQueue:
    """One connection's place in the queue of a database file's writers.

    Each queue opens the lock file itself: ``flock`` locks of two open files exclude each other, between
    processes as between threads. A process forked from another opens it again rather than share its lock.
    """

    def __init__(self, database: str) -> None:
        self.path = database + SUFFIX
        self._fd: int | None = None
        self._pid = 0
        self._held_by: set[str] = set()
        self.is_holding = False

    def wait_turn(self) -> None:
        """Wait until no other queued writer is writing, then hold the turn until :meth:`done`."""
        if self.is_holding or self.path in _paths_held_by_this_thread():
            return  # a thread never waits for itself: SQLite's busy timeout decides, as without the queue
        fcntl.flock(self._lock_file(), fcntl.LOCK_EX)
        self.is_holding = True
        self._held_by = _paths_held_by_this_thread()
        self._held_by.add(self.path)

    def done(self) -> None:
        """Give the turn to the next writer (nothing when not holding it)."""
        if not self.is_holding:
            return
        self.is_holding = False
        self._held_by.discard(self.path)  # the set of the thread that took the turn
        if self._fd is not None and self._pid == os.getpid():
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the turn for one statement or transaction."""
        self.wait_turn()
        try:
            yield
        finally:
            self.done()

    def _lock_file(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
            self._closer = weakref.finalize(self, _close_in, self._pid, self._fd)  # a connection never closed
        return self._fd

    def close(self) -> None:
        """Give the turn up and close the lock file."""
        self.done()
        if self._fd is not None:
            self._closer()
        self._fd = None


def _close_in(pid: int, fd: int) -> None:
    """Close ``fd`` if this is the process that opened it (a forked child's copy is its parent's)."""
    if os.getpid() == pid:
        os.close(fd)


class QueuedCursor(sqlite3.Cursor):
    """A cursor whose writing statements wait for their connection's turn."""

    def execute(self, sql: str, parameters: Any = (), /) -> QueuedCursor:
        self.connection.before(sql)
        try:
            return super().execute(sql, parameters)
        finally:
            self.connection.after()

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> QueuedCursor:
        self.connection.before(sql)
        try:
            return super().executemany(sql, seq_of_parameters)
        finally:
            self.connection.after()


class QueuedConnection(sqlite3.Connection):
    """A connection to a SQLite file that queues for its writes: from the transaction's first write (where sqlite3
    begins it) to just after its commit or rollback; a write outside a transaction (autocommit) for itself alone."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.writers: WriterQueue | None = None
        database_file = super().execute("PRAGMA database_list").fetchone()[2]
        if database_file:  # in memory: nobody to queue with
            self.writers = WriterQueue(database_file)

    def cursor(self, factory: type[sqlite3.Cursor] = QueuedCursor) -> sqlite3.Cursor:  # type: ignore[override]
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return self.cursor().execute(sql, parameters)  # sqlite3's own shortcut would skip QueuedCursor.execute

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> sqlite3.Cursor:
        return self.cursor().executemany(sql, seq_of_parameters)

    def before(self, statement: str) -> None:
        """Wait for the turn before the first write of a transaction (or a write of its own, in autocommit)."""
        if self.writers is not None and not self.writers.is_holding and is_write(statement):
            self.writers.wait_turn()

    def after(self) -> None:
        """Give the turn back once no transaction is open: after a commit, a rollback or an autocommitted write."""
        if self.writers is not None and not self.in_transaction:
            self.writers.done()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.after()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.after()

    def close(self) -> None:
        if self.writers is not None:
            self.writers.close()
        super().close()


def _paths_held_by_this_thread() -> set[str]:
    held = getattr(_held_by_thread, "paths", None)
    if held is None:
        held = _held_by_thread.paths = set()
    return held
