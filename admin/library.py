"""The media library's rules: the row each uploaded image has (admin.tables.Upload) beside its file, the posts that
show it, the trash it may wait in, and inserting one into a post. media.py makes the pages; the editor (editor.py)
inserts images through :func:`insert_image`; `purge` deletes old trashed ones.

A trashed image's file waits in ``instance/uploads-trash/``, outside the folder uploads.py (and nginx) serve
readers from, so it is gone for them at once and comes back at its old address when restored.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

from flask import current_app
from flask_login import current_user
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from wtforms import Field
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from account.tables import User
from admin.post_form import PostForm
from admin.tables import Upload
from database import db
from database import now_utc
from forms import POST_MAX
from image_sizes import copies_of
from images import UploadError
from images import image_html
from images import image_markdown
from images import is_stored_name
from images import store_image
from images import uploads_folder
from images import write_copies
from models import Post

PICKABLE = 100  # the newest images offered in the post form's list
NO_ALT = "Please describe the image for people who cannot see it, or tick “Decorative” if it adds nothing to the text."
# An image's address in a post's text (Markdown or HTML, relative or absolute), by the names images.py stores.
USED_IMAGE = re.compile(r"/uploads/([A-Za-z0-9_-]{1,64})\.(png|jpg|gif|webp)(?![A-Za-z0-9_-])")
NO_FEATURE_ALT = (
    "Please describe the feature image for people who cannot see it (or mark it decorative in the media library)."
)
NOT_IN_LIBRARY = "There is no image “{name}” in the media library (moved to the trash, or deleted?)."


def trash_folder() -> Path:
    """Where trashed images wait: beside the uploads folder, never served."""
    return Path(current_app.instance_path) / "uploads-trash"


def describe_image(alt: str, is_decorative: bool) -> None:
    """:raise ValidationError: when an image has no description and is not marked decorative."""
    if not alt and not is_decorative:
        raise ValidationError(NO_ALT)


def image_facts(path: Path) -> tuple[int, int | None, int | None]:
    """Return a stored image's size in bytes and its width and height (read from its header), when readable."""
    from PIL import Image  # here, not by every worker as it starts (image_sizes.modern_formats)

    size = path.stat().st_size
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, ValueError, SyntaxError):
        return size, None, None
    return size, width, height


def record_upload(name: str, user: User | None, alt: str = "", is_decorative: bool = False) -> Upload:
    """Add a just-stored image to the library, as ``user``'s, and commit it."""
    size, width, height = image_facts(uploads_folder() / name)
    upload = db.session.get(Upload, name) or Upload(name=name)  # a library shown meanwhile may have listed it
    upload.size, upload.width, upload.height = size, width, height
    upload.uploaded_by = user.id if user else None
    upload.alt, upload.is_decorative = alt, is_decorative
    db.session.add(upload)
    db.session.commit()
    return upload


def list_unlisted_files() -> None:
    """Give a row to each image in the uploads folder without one (imported, or from before the library), and drop
    the rows of images whose file is gone from both folders (an undone import took it)."""
    folder = uploads_folder()
    names = {p.name for p in folder.iterdir() if p.is_file() and is_stored_name(p.name)} if folder.is_dir() else set()
    known = set(db.session.scalars(select(Upload.name)))
    for name in sorted(names - known):
        size, width, height = image_facts(folder / name)
        modified = datetime.fromtimestamp((folder / name).stat().st_mtime, UTC)
        db.session.add(Upload(name=name, size=size, width=width, height=height, uploaded_at=modified))
    gone = [name for name in known - names if not (trash_folder() / name).exists()]
    if gone:
        db.session.execute(delete(Upload).where(Upload.name.in_(gone)))
    if gone or names - known:
        try:
            db.session.commit()
        except IntegrityError:  # another worker listed them first
            db.session.rollback()


@dataclass
class Use:
    """A post that shows an image."""

    post_id: int
    title: str
    author_id: int | None
    is_trashed: bool
    is_published: bool

    @property
    def may_edit(self) -> bool:
        return current_user.is_admin or self.author_id == current_user.id

    @property
    def shown_title(self) -> str:
        """The post's title in quotes, unless it is another author's post readers cannot see either: an author
        learns from the library that it uses the image, not what a colleague is drafting."""
        return f"“{self.title}”" if self.may_edit or self.is_published else "another author's unpublished post"


def uses_of_images() -> dict[str, list[Use]]:
    """Return, for each image name, the posts whose text shows it (at /uploads/<name>, in Markdown or HTML) or
    that have it as their feature image."""
    published = Post.is_published_by(now_utc()).label("published")
    query = select(Post.id, Post.title, Post.author_id, Post.trashed_at, published, Post.body)
    uses: dict[str, list[Use]] = {}
    for post_id, title, author_id, trashed_at, is_published, body in db.session.execute(
        query.where(Post.body.contains("/uploads/")).order_by(Post.id)
    ):
        for name in dict.fromkeys(f"{m[1]}.{m[2]}" for m in USED_IMAGE.finditer(body)):
            use = Use(post_id, title, author_id, trashed_at is not None, bool(is_published))
            uses.setdefault(name, []).append(use)
    featured = query.with_only_columns(
        Post.feature_image, Post.id, Post.title, Post.author_id, Post.trashed_at, published
    )
    for name, post_id, title, author_id, trashed_at, is_published in db.session.execute(
        featured.where(Post.feature_image.is_not(None)).order_by(Post.id)
    ):
        if post_id not in {use.post_id for use in uses.get(name, [])}:
            uses.setdefault(name, []).append(Use(post_id, title, author_id, trashed_at is not None, bool(is_published)))
    return uses


def may_change(upload: Upload) -> bool:
    """Admins change every image; authors the ones they uploaded."""
    return current_user.is_admin or (upload.uploaded_by is not None and upload.uploaded_by == current_user.id)


def move_to_trash(upload: Upload) -> None:
    """Hide an image from readers, keeping it for TRASH_KEEP_DAYS: its file leaves the served folder."""
    upload.trashed_at, upload.trashed_by = now_utc(), current_user.username
    db.session.flush()
    _move(uploads_folder() / upload.name, trash_folder() / upload.name)
    for copy in copies_of(upload.name, uploads_folder()):  # made again if it is restored
        copy.unlink(missing_ok=True)
    db.session.commit()


def restore(upload: Upload) -> None:
    """Serve an image again, at its old address."""
    upload.trashed_at = upload.trashed_by = None
    db.session.flush()
    _move(trash_folder() / upload.name, uploads_folder() / upload.name)
    db.session.commit()
    write_copies(upload.name)


def _move(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.exists():
        os.replace(source, target)


def delete_for_good(upload: Upload) -> None:
    """Delete a trashed image and its file."""
    db.session.delete(upload)
    db.session.commit()
    (trash_folder() / upload.name).unlink(missing_ok=True)


def purge_old_uploads(older_than_days: int) -> int:
    """Delete for good the images in the trash for more than ``older_than_days``; return how many."""
    cutoff = now_utc() - timedelta(days=older_than_days)
    uploads = db.session.scalars(select(Upload).where(Upload.trashed_at < cutoff)).all()
    for upload in uploads:
        delete_for_good(upload)
    return len(uploads)


def pickable_images(chosen: str | None = None) -> list[SelectChoice]:
    """The choices of the post form's library list: the newest images, described, and the one ``chosen``."""
    query = select(Upload).where(Upload.trashed_at.is_(None)).order_by(Upload.uploaded_at.desc()).limit(PICKABLE)
    uploads = list(db.session.scalars(query))
    if chosen and chosen not in {u.name for u in uploads} and (extra := db.session.get(Upload, chosen)):
        uploads.append(extra)
    label = {True: "(decorative)", False: "(no description yet)"}
    return [SelectChoice("", "None")] + [
        SelectChoice(u.name, f"{u.alt or label[u.is_decorative]} — {u.name}") for u in uploads
    ]


STAYS_CHOSEN = " The image is uploaded and stays chosen: you need not choose its file again."


def _chosen_image(file_field: Field, pick_field: Field) -> str | None:
    """Return the image a pair of fields chooses: a new file, stored, recorded in the library and kept chosen in
    ``pick_field`` (so a form shown again need not ask for it), else the one picked; ``""`` for none, ``None``
    with the reason beside ``file_field`` for a file that is refused."""
    file, name = file_field.data, pick_field.data or ""
    if file and file.filename:
        try:
            name = store_image(file)
        except UploadError as error:
            file_field.errors.append(str(error))
            return None
        record_upload(name, current_user)
        pick_field.data = name
    return name


def _library_image(name: str, pick_field: Field) -> Upload | None:
    """Return the library's image called ``name``, or ``None`` with the reason beside ``pick_field`` (cleared)."""
    upload = db.session.get(Upload, name) if is_stored_name(name) else None
    if upload is None or upload.is_trashed:
        pick_field.errors.append(NOT_IN_LIBRARY.format(name=name) + " Please choose another.")
        pick_field.data = ""
        return None
    return upload


def choose_feature_image(form: PostForm) -> str | None:
    """Take the feature image the post form names (a new file, or one from the library) with its description;
    return its name (``""`` for none), or ``None`` with the reasons beside the fields.

    The description is the library's: one typed here becomes it (for an image the author may change). A new file
    stays chosen when its description is missing, as with :func:`insert_image`.
    """
    name = _chosen_image(form.feature_file, form.feature_image)
    if not name:
        return name
    upload = _library_image(name, form.feature_image)
    if upload is None:
        return None
    alt = form.feature_alt.data or ""
    if alt and alt != upload.alt:
        if upload.alt and not may_change(upload):
            form.feature_alt.errors.append("Only its uploader can change this image's description: leave it empty.")
            return None
        upload.alt, upload.is_decorative = alt, False  # kept when the post is saved
    if not upload.alt and not upload.is_decorative:
        form.feature_alt.errors.append(NO_FEATURE_ALT + (STAYS_CHOSEN if form.feature_file.data else ""))
        return None
    return name


def snippet(name: str, alt: str, *, html: bool) -> str:
    """The Markdown (or, in a post written in HTML, the HTML) that shows an image."""
    return image_html(name, alt) if html else image_markdown(name, alt)


def insert_image(form: PostForm, *, html: bool, is_required: bool) -> str | None:
    """Take the image the post form names, a new file or one from the library, with its description, and add it
    to the end of the text; return what was added, or ``None`` with the reasons beside the fields.

    A new file is kept in the library even when its description is missing, and stays chosen, so the author
    types the description without choosing the file again.
    """
    name = _chosen_image(form.image, form.image_pick)
    if name == "" and is_required:
        form.image.errors.append("Please choose an image to upload, or one from the media library.")
    upload = _library_image(name, form.image_pick) if name else None
    if upload is None:
        return None
    alt = form.image_alt.data or ("" if form.image_decorative.data else upload.alt)
    is_decorative = form.image_decorative.data or (not alt and upload.is_decorative)
    if not alt and not is_decorative:
        form.image_alt.errors.append(NO_ALT + (STAYS_CHOSEN if form.image.data else ""))
        return None
    if not upload.alt and not upload.is_decorative and may_change(upload):  # the first description is the library's
        upload.alt, upload.is_decorative = alt, is_decorative
        db.session.commit()
    added = snippet(name, alt, html=html)
    body = (form.body.data or "").rstrip()
    if len(body) + len(added) + 2 > POST_MAX:
        form.image.errors.append(f"The text is too long to add the image to (at most {POST_MAX:,} characters).")
        return None
    form.body.data = f"{body}\n\n{added}" if body else added
    form.image_pick.data, form.image_alt.data, form.image_decorative.data = "", "", False
    return added
