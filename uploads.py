"""Images that authors upload: recognised by their bytes, re-encoded with Pillow (which drops EXIF metadata
such as a phone's GPS position, and refuses decompression bombs), stored under ``instance/uploads/`` with
generated names, and served as plain files to readers."""

from __future__ import annotations

import io
import os
import secrets
import warnings
from pathlib import Path

from flask import Blueprint
from flask import current_app
from flask import send_from_directory
from flask import url_for
from flask.typing import ResponseReturnValue
from PIL import Image
from PIL import ImageOps
from PIL import UnidentifiedImageError
from werkzeug.datastructures import FileStorage

from extensions import limiter

bp = Blueprint("uploads", __name__)

ONE_YEAR = 365 * 24 * 3600
ACCEPTED_KINDS = "PNG, JPEG, GIF or WebP"
MAX_PIXELS = 40_000_000  # a 40-megapixel photo; more is refused as a possible decompression bomb
PILLOW_FORMATS = {"png": "PNG", "jpg": "JPEG", "gif": "GIF", "webp": "WEBP"}


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
    content = reencoded(file.stream.read(), kind)
    folder = uploads_folder()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_hex(12)}.{kind}"
    (folder / name).write_bytes(content)
    return name


def reencoded(content: bytes, kind: str) -> bytes:
    """Decode the image and encode it again: only pixels survive, no metadata and nothing hidden after them.

    A photo's orientation tag is applied to the pixels first, so it still shows the right way up.

    :raise UploadError: for an image too large to decode safely, or one that cannot be decoded.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise Image.DecompressionBombError("too many pixels")
                return _encode(image, kind)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadError(
            f"That image has too many pixels to be shown safely (at most {MAX_PIXELS // 1_000_000} megapixels). "
            "Please make it smaller and try again."
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise UploadError("That image could not be read: it may be damaged. Please save it again and retry.") from None


def _encode(image: Image.Image, kind: str) -> bytes:
    output = io.BytesIO()
    animated = getattr(image, "is_animated", False)
    if animated:
        image.save(output, format=PILLOW_FORMATS[kind], save_all=True)
        return output.getvalue()
    upright = ImageOps.exif_transpose(image)
    if kind == "jpg":
        upright.convert("RGB").save(output, format="JPEG", quality=90, optimize=True)
    else:
        upright.save(output, format=PILLOW_FORMATS[kind])
    return output.getvalue()


def image_markdown(name: str, alt: str = "Describe the image") -> str:
    """Return the Markdown that embeds an uploaded image."""
    return f"![{alt}]({url_for('uploads.serve_upload', name=name)})"


@bp.get("/uploads/<name>")
@limiter.exempt
def serve_upload(name: str) -> ResponseReturnValue:
    """Serve an uploaded image; names are random and never reused, so browsers may cache them for a year."""
    return send_from_directory(uploads_folder(), name, max_age=ONE_YEAR)
