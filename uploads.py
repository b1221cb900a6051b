"""Images that authors upload: recognised by their bytes, stored under ``instance/uploads/`` with
generated names, and served as plain files to readers."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Blueprint
from flask import current_app
from flask import send_from_directory
from flask import url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import FileStorage

from extensions import limiter

bp = Blueprint("uploads", __name__)

ONE_YEAR = 365 * 24 * 3600
ACCEPTED_KINDS = "PNG, JPEG, GIF or WebP"


class UploadError(ValueError):
    """An upload was refused; the message says why, in words for the author."""


def image_kind(head: bytes) -> str | None:
    """Return the file extension for an image recognised from its first bytes, or ``None``.

    The name and the browser's claimed type are never trusted: a text file renamed ``.png`` is not a PNG.
    """
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def uploads_folder() -> Path:
    return Path(current_app.instance_path) / "uploads"


def _size_of(file: FileStorage) -> int:
    file.stream.seek(0, os.SEEK_END)
    size = file.stream.tell()
    file.stream.seek(0)
    return size


def store_image(file: FileStorage) -> str:
    """Check an uploaded image and store it under a new random name; return that name.

    :raise UploadError: when the file is empty, too large, or not an image of an accepted kind.
    """
    limit = current_app.config["UPLOAD_MAX_BYTES"]
    size = _size_of(file)
    if size == 0:
        raise UploadError("That file is empty. Please choose an image.")
    if size > limit:
        raise UploadError(
            f"That image is {size / 1_048_576:.1f} MB; images can be at most {limit / 1_048_576:.0f} MB. "
            "Please make it smaller and try again."
        )
    kind = image_kind(file.stream.read(16))
    if kind is None:
        raise UploadError(f"That file is not a {ACCEPTED_KINDS} image (its contents were checked, not its name).")
    file.stream.seek(0)
    folder = uploads_folder()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_hex(12)}.{kind}"
    file.save(folder / name)
    return name


def image_markdown(name: str, alt: str = "Describe the image") -> str:
    """Return the Markdown that embeds an uploaded image."""
    return f"![{alt}]({url_for('uploads.serve_upload', name=name)})"


@bp.get("/uploads/<name>")
@limiter.exempt
def serve_upload(name: str) -> ResponseReturnValue:
    """Serve an uploaded image; names are random and never reused, so browsers may cache them for a year."""
    return send_from_directory(uploads_folder(), name, max_age=ONE_YEAR)
