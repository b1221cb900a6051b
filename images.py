"""Images that authors upload or imports bring: recognised by their bytes, re-encoded with Pillow (which drops EXIF
metadata such as a phone's GPS position) and stored under ``instance/uploads/`` with generated names, which
uploads.py serves.

Decompression bombs (a few kilobytes that decode to gigabytes) are refused from the headers, before any
pixel is decoded: the pixels of every frame together must fit in ``UPLOAD_MAX_PIXELS``.
"""

from __future__ import annotations

import html
import io
import os
import re
import secrets
import struct
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from flask import current_app
from flask import url_for
from werkzeug.datastructures import FileStorage

from image_sizes import copies_of
from image_sizes import make_copies

if TYPE_CHECKING:
    from PIL import Image

ACCEPTED_KINDS = "PNG, JPEG, GIF or WebP"
PILLOW_FORMATS = {"png": "PNG", "jpg": "JPEG", "gif": "GIF", "webp": "WEBP"}
SERVED_TYPES = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp", "avif": "image/avif"}
# A stored name: letters, digits, "-" or "_", then the extension of the kind the bytes are. Nothing else is
# ever written to the uploads folder or served from it, whatever a file or an import may be called.
STORED_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\.(png|jpg|gif|webp)")


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
    size = _size_of(file)
    _check_size(size)
    content, kind = checked_image(file.stream.read())
    name = f"{secrets.token_hex(12)}.{kind}"
    write_upload(name, content)
    return name


def _check_size(size: int) -> None:
    limit = current_app.config["UPLOAD_MAX_BYTES"]
    if size == 0:
        raise UploadError("That file is empty. Please choose an image.")
    if size > limit:
        raise UploadError(
            f"That image is {size / 1_048_576:.1f} MB; images can be at most {limit / 1_048_576:.0f} MB. "
            "Please make it smaller and try again."
        )


def checked_image(content: bytes) -> tuple[bytes, str]:
    """Return an image re-encoded as a fresh upload would be, and its kind (the extension to store it with).

    Imports call this too, so an image from a file someone else made passes the same checks.

    :raise UploadError: when the content is empty, too large, not an accepted image, or a decompression bomb.
    """
    _check_size(len(content))
    kind = image_kind(content[:16])
    if kind is None:
        raise UploadError(f"That file is not a {ACCEPTED_KINDS} image (its contents were checked, not its name).")
    return reencoded(content, kind), kind


def write_upload(name: str, content: bytes) -> None:
    """Store checked image bytes under ``name``, which must be a name :func:`serve_upload` serves."""
    if not is_stored_name(name):
        raise ValueError(f"{name!r} is not a name for an uploaded image")
    folder = uploads_folder()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    write_copies(name)


def write_copies(name: str) -> list[str]:
    """Write the smaller and modern-format copies of a stored image (image_sizes.py); return their names.

    A copy that cannot be made costs only bytes (the image itself is served), so it never refuses an upload.
    """
    try:
        return make_copies(uploads_folder() / name)
    except (OSError, ValueError) as error:
        current_app.logger.warning("No smaller copies of %s: %s", name, error)
        return []


def remove_upload(name: str) -> None:
    """Delete a stored image's file and its copies (an undone import's)."""
    folder = uploads_folder()
    for path in [folder / name, *copies_of(name, folder)]:
        path.unlink(missing_ok=True)


def write_missing_copies(*, again: bool = False) -> tuple[int, int]:
    """Make the copies of every stored image that has none yet (``again``: of every image); return how many images
    got copies and how many copies were written. For uploads from before copies were made, or after a change of
    widths or formats."""
    folder = uploads_folder()
    files = folder.iterdir() if folder.is_dir() else iter(())
    images = sorted(path.name for path in files if path.is_file() and is_stored_name(path.name))
    done = written = 0
    for name in images:
        if again or not copies_of(name, folder):
            made = write_copies(name)
            done, written = done + bool(made), written + len(made)
    return done, written


def is_stored_name(name: str, kind: str | None = None) -> bool:
    """Tell whether ``name`` is one an image may be stored and served under (with ``kind``'s extension, if given)."""
    match = STORED_NAME.fullmatch(name)
    return match is not None and kind in (None, match[1])


def reencoded(content: bytes, kind: str) -> bytes:
    """Decode the image and encode it again: only pixels survive, no metadata and nothing hidden after them.

    A photo's orientation tag is applied to the pixels first, so it still shows the right way up. Pillow's
    own decompression-bomb check stays on, as an error rather than a warning.

    :raise UploadError: for an image too large to decode safely, or one that cannot be decoded.
    """
    from PIL import Image  # here, not by every worker as it starts (image_sizes.modern_formats)
    from PIL import UnidentifiedImageError

    budget = current_app.config["UPLOAD_MAX_PIXELS"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content), formats=[PILLOW_FORMATS[kind]]) as image:
                _check_pixel_budget(image, content, kind, budget)
                return _encode(image, kind)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadError(
            f"That image has too many pixels to be shown safely (at most {_megapixels(budget)} megapixels). "
            "Please make it smaller and try again."
        ) from None
    except UploadError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error, EOFError):
        raise UploadError("That image could not be read: it may be damaged. Please save it again and retry.") from None


def _check_pixel_budget(image: Image.Image, content: bytes, kind: str, budget: int) -> None:
    """Refuse an image whose frames together would decode to more than ``budget`` pixels.

    Every figure comes from headers, before any frame is decoded: a 5 KB GIF can claim 200 frames of
    6000 × 6000 pixels, 7.2 billion pixels that would take a worker down.
    """
    width, height = gif_canvas(content) if kind == "gif" else image.size
    frames = _frames_kept(image, kind)
    if width * height * frames <= budget:
        return
    in_frames = f" in {frames:,} frames" if frames > 1 else ""
    raise UploadError(
        f"That image has too many pixels to be shown safely: {width:,} × {height:,} pixels{in_frames} is "
        f"{_megapixels(width * height * frames)} megapixels, and at most {_megapixels(budget)} megapixels "
        "are accepted (all frames together). Please make it smaller or shorter and try again."
    )


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1_000_000:,.1f}".removesuffix(".0")


def _frames_kept(image: Image.Image, kind: str) -> int:
    # A JPEG's extra pictures (MPO: a stereo pair, a preview) are dropped, as browsers show only the first.
    return 1 if kind == "jpg" else getattr(image, "n_frames", 1)


def gif_canvas(content: bytes) -> tuple[int, int]:
    """Return the size of the canvas a GIF's frames are drawn on, without decoding them.

    A frame may lie beyond the size in the GIF's header, and Pillow then grows the canvas to hold it, so every
    frame's position and size is read. Unknown bytes are skipped as Pillow skips them.
    """
    width, height, flags = struct.unpack_from("<HHB", content, 6)
    position = 13 + _color_table_size(flags)
    try:
        while position < len(content) and content[position] != 0x3B:  # 0x3B: the end of the GIF
            if content[position] == 0x21:  # an extension: its label, then data blocks
                position = _after_blocks(content, position + 2)
            elif content[position] == 0x2C:  # a frame: position, size, flags, colours, then LZW data blocks
                left, top, frame_width, frame_height, flags = struct.unpack_from("<HHHHB", content, position + 1)
                width, height = max(width, left + frame_width), max(height, top + frame_height)
                position = _after_blocks(content, position + 10 + _color_table_size(flags) + 1)
            else:
                position += 1
    except (struct.error, IndexError):
        pass  # a truncated GIF: Pillow stops at the same place
    return width, height


def _color_table_size(flags: int) -> int:
    return 3 << ((flags & 7) + 1) if flags & 0x80 else 0


def _after_blocks(content: bytes, position: int) -> int:
    """Return the position after a run of length-prefixed data blocks, which ends with an empty block."""
    while content[position]:
        position += content[position] + 1
    return position + 1


def _encode(image: Image.Image, kind: str) -> bytes:
    from PIL import ImageOps

    output = io.BytesIO()
    if kind != "jpg" and getattr(image, "is_animated", False):
        image.save(output, format=PILLOW_FORMATS[kind], save_all=True)
        return output.getvalue()
    upright = ImageOps.exif_transpose(image)
    if kind == "jpg":
        upright.convert("RGB").save(output, format="JPEG", quality=90, optimize=True)
    else:
        upright.save(output, format=PILLOW_FORMATS[kind])
    return output.getvalue()


def image_markdown(name: str, alt: str = "Describe the image") -> str:
    """Return the Markdown that embeds an uploaded image, its description's brackets and backslashes escaped."""
    escaped = alt.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    return f"![{escaped}]({url_for('uploads.serve_upload', name=name)})"


def image_html(name: str, alt: str = "Describe the image") -> str:
    """Return the HTML that embeds an uploaded image, for a post written in HTML (an imported one)."""
    return f'<img src="{url_for("uploads.serve_upload", name=name)}" alt="{html.escape(alt, quote=True)}">'
