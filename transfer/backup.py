"""Online backups: a consistent copy of the database, taken while the blog keeps serving."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from database import db
from database import now_utc
from transfer.common import TransferError

BACKUP_PREFIX = "inkwell-"


def backup(folder: Path, keep: int | None = None) -> Path:
    """Write a consistent copy of the database into ``folder`` while the blog keeps serving; return its path.

    SQLite is copied through its online backup API; PostgreSQL with ``pg_dump``. With ``keep``, only the
    newest ``keep`` backups are kept.

    :raise TransferError: when ``pg_dump`` is missing or fails.
    """
    folder.mkdir(parents=True, exist_ok=True)
    stamp = now_utc().strftime("%Y%m%d-%H%M%S-%f")
    url = db.engine.url
    if url.get_backend_name() == "postgresql":
        target = folder / f"{BACKUP_PREFIX}{stamp}.pgdump"
        pg_dump(url.set(drivername="postgresql").render_as_string(hide_password=False), target)
    else:
        target = folder / f"{BACKUP_PREFIX}{stamp}.sqlite3"
        with sqlite3.connect(url.database) as source, sqlite3.connect(target) as copy:
            source.backup(copy, pages=1024)
    if keep:
        for old in sorted(folder.glob(f"{BACKUP_PREFIX}*"))[:-keep]:
            old.unlink()
    return target


def pg_dump(url: str, target: Path) -> None:
    """Write PostgreSQL's database at ``url`` to ``target`` in pg_dump's custom format.

    :raise TransferError: when ``pg_dump`` is missing or fails; a half-written file is removed.
    """
    executable = shutil.which("pg_dump")
    if executable is None:
        raise TransferError(
            "pg_dump is not installed, so PostgreSQL cannot be backed up from here "
            "(Debian: apt-get install postgresql-client)."
        )
    result = subprocess.run([executable, "--format=custom", f"--file={target}", url], capture_output=True, text=True)
    if result.returncode != 0:
        target.unlink(missing_ok=True)
        raise TransferError(
            f"pg_dump failed: {result.stderr.strip().splitlines()[-1] if result.stderr else result.returncode}"
        )
