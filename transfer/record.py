"""One import as one transaction that can be rehearsed, kept and undone.

An import runs inside :func:`recorded_import`: on a dry run everything it wrote is rolled back (the owner sees the
summary of what would happen); otherwise it is committed with an ``ImportRecord`` naming every post, tag and
account it created, so that :func:`undo_import` can later delete exactly those, and nothing the owner made.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_
from sqlalchemy import delete
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from account.tables import User
from database import db
from database import now_utc
from images import is_stored_name
from images import remove_upload
from models import Comment
from models import Post
from models import Tag
from models import post_tags
from transfer.common import NO_PASSWORD
from transfer.common import ImportSummary
from transfer.common import TransferError
from transfer.common import counted
from transfer.tables import ImportedRow
from transfer.tables import ImportRecord

RECORDED = {Post: "posts", Tag: "tags", User: "users"}  # what an import creates that undo must find again


def _forget_deleted(mapper: Any, connection: Any, row: Any) -> None:
    """Forget a deleted row's import: SQLite gives its id to the next new row, which undo must not delete."""
    kind = RECORDED[type(row)]
    connection.execute(delete(ImportedRow).where(ImportedRow.kind == kind, ImportedRow.row_id == row.id))


for model in RECORDED:
    event.listen(model, "after_delete", _forget_deleted)


@contextmanager
def recorded_import(summary: ImportSummary, file_name: str, origin: str = "") -> Iterator[None]:
    """Run the import in the ``with`` block as one transaction: rolled back on a dry run or any error, else kept
    and recorded for undo (``summary.import_id`` is then set). ``origin`` is the old blog's address, if known.

    :raise TransferError: when the database refuses what the file holds; nothing is imported then.
    """
    created: list[Any] = []

    def remember(session: Any, instance: Any) -> None:
        if type(instance) in RECORDED:
            created.append(instance)

    session = db.session()
    event.listen(session, "transient_to_pending", remember)
    try:
        yield
        db.session.flush()
        if summary.dry_run:
            db.session.rollback()
            return
        record = ImportRecord(
            source=summary.source, file_name=file_name[:255], origin=origin, uploads=json.dumps(summary.new_uploads)
        )
        db.session.add(record)
        db.session.flush()
        db.session.add_all(ImportedRow(import_id=record.id, kind=RECORDED[type(row)], row_id=row.id) for row in created)
        record.summary = json.dumps({"headline": summary.headline, "sections": summary.sections})
        db.session.commit()
        summary.import_id = record.id
    except SQLAlchemyError as error:
        _abandon(summary)
        reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
        raise TransferError(f"The database refused a post: {reason}.") from None
    except BaseException:
        _abandon(summary)
        raise
    finally:
        event.remove(session, "transient_to_pending", remember)


def origin_of(post_id: int) -> str | None:
    """Return the address of the blog a post was imported from (``""`` if unknown), or ``None`` when no recorded
    import created it."""
    record = db.session.scalar(
        select(ImportRecord)
        .join(ImportedRow, ImportedRow.import_id == ImportRecord.id)
        .where(ImportedRow.kind == RECORDED[Post], ImportedRow.row_id == post_id)
    )
    return None if record is None else record.origin


def _abandon(summary: ImportSummary) -> None:
    """Roll back an import that failed or was interrupted, with the image files it stored on the way."""
    db.session.rollback()
    for name in summary.new_uploads:
        remove_upload(name)


def imports_done(limit: int = 50) -> list[ImportRecord]:
    """Return the kept imports, newest first."""
    return list(db.session.scalars(select(ImportRecord).order_by(ImportRecord.id.desc()).limit(limit)))


@dataclass
class UndoPlan:
    """What undoing one import deletes, counted for the owner before they confirm."""

    posts: int
    comments: int
    comments_since: int  # written by readers after the import: they go with their posts
    posts_edited_since: int
    tags: int
    accounts: int
    images: int

    @property
    def sentence(self) -> str:
        parts = [
            counted(self.posts, "post"),
            counted(self.comments, "comment"),
            counted(self.tags, "tag"),
            counted(self.accounts, "account"),
            counted(self.images, "image"),
        ]
        return ", ".join(parts[:-1]) + " and " + parts[-1]


def _created(record: ImportRecord, model: type[Any]) -> Any:
    """A select of the rows of ``model`` that ``record``'s import created and that still exist."""
    return (
        select(model)
        .join(ImportedRow, and_(ImportedRow.row_id == model.id, ImportedRow.kind == RECORDED[model]))
        .where(ImportedRow.import_id == record.id)
    )


def _tags_left_over(record: ImportRecord, posts: list[Post]) -> list[Tag]:
    """The tags this import created that no post outside it uses."""
    ids = [post.id for post in posts] or [0]
    used_elsewhere = select(post_tags.c.tag_id).where(post_tags.c.post_id.not_in(ids))
    return list(db.session.scalars(_created(record, Tag).where(Tag.id.not_in(used_elsewhere))))


def _accounts_left_over(record: ImportRecord, posts: list[Post]) -> list[User]:
    """The accounts this import created that nobody has given a password since, and that wrote nothing else."""
    ids = [post.id for post in posts] or [0]
    wrote_elsewhere = select(Post.author_id).where(Post.id.not_in(ids), Post.author_id.is_not(None))
    query = _created(record, User).where(User.password_hash == NO_PASSWORD, User.id.not_in(wrote_elsewhere))
    return list(db.session.scalars(query))


def _images_left_over(record: ImportRecord, posts: list[Post]) -> list[str]:
    """The image files this import stored that no post outside it shows."""
    ids = [post.id for post in posts] or [0]
    names = []
    for name in record.upload_names:
        if not is_stored_name(name):
            continue
        shown = select(func.count(Post.id)).where(Post.id.not_in(ids), Post.body.contains(name, autoescape=True))
        if not db.session.scalar(shown):
            names.append(name)
    return names


def undo_plan(record: ImportRecord) -> UndoPlan:
    """Count what undoing ``record`` would delete."""
    posts = list(db.session.scalars(_created(record, Post)))
    ids = [post.id for post in posts] or [0]
    comments = select(func.count(Comment.id)).where(Comment.post_id.in_(ids))
    return UndoPlan(
        posts=len(posts),
        comments=db.session.scalar(comments),
        comments_since=db.session.scalar(comments.where(Comment.created_at > record.created_at)),
        posts_edited_since=sum(post.updated_at > record.created_at for post in posts),
        tags=len(_tags_left_over(record, posts)),
        accounts=len(_accounts_left_over(record, posts)),
        images=len(_images_left_over(record, posts)),
    )


def undo_import(record: ImportRecord) -> UndoPlan | None:
    """Delete what ``record``'s import created and is still there (posts with their comments and old addresses,
    then the tags, accounts and images nothing else uses), and mark it undone; return what was deleted, or
    ``None`` when it was undone already (also by a second click arriving at the same moment)."""
    claimed = db.session.execute(
        update(ImportRecord)
        .where(ImportRecord.id == record.id, ImportRecord.undone_at.is_(None))
        .values(undone_at=now_utc())
    )
    if claimed.rowcount == 0:
        db.session.rollback()
        return None
    db.session.refresh(record)
    plan = undo_plan(record)
    posts = list(db.session.scalars(_created(record, Post)))
    tags = _tags_left_over(record, posts)
    accounts = _accounts_left_over(record, posts)
    images = _images_left_over(record, posts)
    for row in [*posts, *tags, *accounts]:
        db.session.delete(row)
    db.session.execute(ImportedRow.__table__.delete().where(ImportedRow.import_id == record.id))
    db.session.commit()
    for name in images:
        remove_upload(name)
    return plan
