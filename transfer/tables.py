"""What each import from another blog added, so that one import can be undone exactly.

An ``ImportRecord`` is one kept import (a dry run leaves none); ``ImportedRow`` names each post, tag and account
it created. The rows are listed here rather than marked on the posts' own tables, so that those tables (and
their search triggers) stay as they are. May import only database.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from database import UTCDateTime
from database import db
from database import now_utc


class ImportRecord(db.Model):
    """One import that was kept: where it came from, what it said, and when (if ever) it was undone."""

    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40))  # "WordPress", "Ghost", "a static site"
    file_name: Mapped[str] = mapped_column(String(255))
    origin: Mapped[str] = mapped_column(String(300), default="")  # the old blog's address, when the file says
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    summary: Mapped[str] = mapped_column(Text, default="{}")  # JSON: the summary's headline and sections
    uploads: Mapped[str] = mapped_column(Text, default="[]")  # JSON list: image files this import stored
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def headline(self) -> str:
        return str(json.loads(self.summary or "{}").get("headline", ""))

    @property
    def sections(self) -> list[tuple[str, list[str]]]:
        """The summary's lists of sentences under their headings, as the owner saw them after the import."""
        return [(heading, entries) for heading, entries in json.loads(self.summary or "{}").get("sections", [])]

    @property
    def upload_names(self) -> list[str]:
        names = json.loads(self.uploads or "[]")
        return [name for name in names if isinstance(name, str)]


class ImportedRow(db.Model):
    """A post, tag or account that an import created (``kind`` is the table it is in)."""

    __tablename__ = "imported_rows"

    kind: Mapped[str] = mapped_column(String(10), primary_key=True)  # "posts", "tags" or "users"
    row_id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("imports.id", ondelete="CASCADE"), index=True)
