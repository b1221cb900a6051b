"""Rate-limit counters that every gunicorn worker of one server shares, without Redis: a small SQLite file.

Flask-Limiter's ``memory://`` store lives in each worker's memory, so with two workers a stranger got twice
every limit. This store registers the ``sqlite://`` scheme with the `limits` library (the storage under
Flask-Limiter): ``sqlite:////abs/path/ratelimits.db``. Each count is one atomic UPSERT, so workers never lose
a hit to each other; expired windows start again inside that same statement, and old rows are swept now and then.
Writers queue for the file (sqlite_writers.py) rather than sleep in SQLite's busy handler.
Only the fixed-window strategy (Flask-Limiter's default) is supported. Several servers still need Redis.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

from limits.storage import Storage

from sqlite_writers import WriterQueue

SCHEME = "sqlite"
SWEEP_SECONDS = 60  # how often a process deletes expired counters, so the file stays small
BUSY_TIMEOUT_MS = 5000

SCHEMA = "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires_at REAL NOT NULL)"
# One statement: a new key, an expired window started again, or one more hit in the current window.
INCREMENT = """
INSERT INTO counters (key, count, expires_at) VALUES (:key, :amount, :now + :expiry)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN expires_at <= :now THEN :amount ELSE count + :amount END,
    expires_at = CASE WHEN expires_at <= :now THEN :now + :expiry ELSE expires_at END
RETURNING count
"""


def storage_uri(path: Path | str) -> str:
    """Return the ``RATELIMIT_STORAGE_URI`` for a counters file at ``path`` (made absolute)."""
    return f"{SCHEME}:///{Path(path).resolve()}"


class SQLiteStorage(Storage):
    """Fixed-window counters in one SQLite file (WAL), one connection per process and thread."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: float | str | bool) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.path = uri.removeprefix(f"{SCHEME}://").removeprefix("/") or ":memory:"
        self._local = threading.local()
        self._last_sweep = 0.0

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def _connection(self) -> sqlite3.Connection:
        """Open the file on first use in this process and thread (never at start-up: a file that cannot be
        opened must make the limiter fall back to memory, not stop the app), and after a fork."""
        connection = getattr(self._local, "connection", None)
        if connection is None or self._local.pid != os.getpid():
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(SCHEMA)
            self._local.connection, self._local.pid = connection, os.getpid()
            self._local.writers = WriterQueue(self.path) if self.path != ":memory:" else None
        return connection

    def _write(self, statement: str, parameters: Sequence[object] | dict[str, object]) -> list[sqlite3.Row]:
        """Run one writing statement in its turn (sqlite_writers.py), to the end: it commits before the turn ends."""
        connection = self._connection()
        with self._local.writers.turn() if self._local.writers else nullcontext():
            cursor = connection.execute(statement, parameters)
            rows = cursor.fetchall()
        self._local.rowcount = cursor.rowcount
        return rows

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        self._sweep(now)
        return self._write(INCREMENT, {"key": key, "amount": amount, "now": now, "expiry": expiry})[0][0]

    def get(self, key: str) -> int:
        row = self._live(key, "count")
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._live(key, "expires_at")
        return row[0] if row else time.time()

    def _live(self, key: str, column: str) -> tuple[float] | None:
        query = f"SELECT {column} FROM counters WHERE key = ? AND expires_at > ?"  # noqa: S608 (a fixed column)
        return self._connection().execute(query, (key, time.time())).fetchone()

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep > SWEEP_SECONDS:
            self._last_sweep = now
            self._write("DELETE FROM counters WHERE expires_at <= ?", (now,))

    def check(self) -> bool:
        try:
            self._connection().execute("SELECT 1 FROM counters LIMIT 1")
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        self._write("DELETE FROM counters", ())
        return self._local.rowcount

    def clear(self, key: str) -> None:
        self._write("DELETE FROM counters WHERE key = ?", (key,))
