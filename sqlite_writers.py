"""SQLite writers queue on a lock file and are woken the moment the writer before them is done.

SQLite lets one writer at a time into a database. The others, finding it busy, sleep in SQLite's busy handler:
1 ms, then 2, 5, 10, 15, 20, 25 … up to 100 ms between tries, however soon the writer finishes. With two gunicorn
workers posting comments on a loaded machine, each worker spent a tenth of its time or more asleep there, and more
the busier the machine. Here a writer first takes an exclusive ``flock`` on ``<database file>-writers``; the kernel
wakes the next waiter as soon as it is released, at the end of the transaction (or when the process dies).

The queue only orders writers: SQLite's own locking still guards the data. Whoever does not queue (the sqlite3
shell, a migration, a second connection of a thread that already holds the queue) is waited for by the busy
timeout as before.
"""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

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
        self.is_holding = False

    def wait_turn(self) -> None:
        """Wait until no other queued writer is writing, then hold the turn until :meth:`done`."""
        if self.is_holding or self.path in _paths_held_by_this_thread():
            return  # a thread never waits for itself: SQLite's busy timeout decides, as without the queue
        fcntl.flock(self._lock_file(), fcntl.LOCK_EX)
        self.is_holding = True
        _paths_held_by_this_thread().add(self.path)

    def done(self) -> None:
        """Give the turn to the next writer (nothing when not holding it)."""
        if not self.is_holding:
            return
        self.is_holding = False
        _paths_held_by_this_thread().discard(self.path)
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


def _paths_held_by_this_thread() -> set[str]:
    held = getattr(_held_by_thread, "paths", None)
    if held is None:
        held = _held_by_thread.paths = set()
    return held
