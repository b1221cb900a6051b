"""The smaller copies of an uploaded image that browsers choose from (``srcset``): a few widths, never wider than the
image, in WebP (and AVIF where this Pillow can write it), made when the image is stored (images.py) and, for older
uploads, by ``flask image-sizes``.

A copy is named after its image: ``3f…a1.png`` → ``3f…a1.w480.webp``. An image's own name never has a dot before
its extension (images.STORED_NAME), so a copy can never be taken for an image of the library, and the one pattern
:data:`SERVED_NAME` (in uploads.py and in nginx's configuration) serves both. The original is kept as it was
stored: it is the ``src`` every browser can show, and the copies only save bytes.

Animations get no copies: a still first frame in their place would stop them, and a moving WebP of each width
would cost more to make than it saves. They are served as uploaded (within the pixel budget images.py keeps).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

WIDTHS = (480, 960, 1600)  # a phone, a tablet or a laptop's column at 2×, a wide screen at 2×
TYPES = {"avif": "image/avif", "webp": "image/webp"}
QUALITY = {"avif": 60, "webp": 80}  # visually close to the original at a fraction of its bytes
# Every name served from /uploads/: an image as stored, or one of its copies. nginx's /uploads/ rule is the same.
SERVED_NAME = re.compile(r"([A-Za-z0-9_-]{1,64})(?:\.w([0-9]{1,4}))?\.(png|jpg|gif|webp|avif)")


@cache
def modern_formats() -> tuple[str, ...]:
    """Return the formats of an image's copies, best first (a browser takes the first ``<source>`` whose type it
    knows): AVIF where this Pillow can write it, and WebP.

    Pillow is imported by the first request that handles an image, not by every worker as it starts (2.6 MB).
    """
    from PIL import features

    return ("avif", "webp") if features.check("avif") else ("webp",)


def copy_widths(width: int) -> list[int]:
    """Return the widths of an image's copies: each of WIDTHS below its own, and its own up to the largest."""
    return sorted({each for each in WIDTHS if each < width} | {min(width, WIDTHS[-1])})


def copy_name(name: str, width: int, fmt: str) -> str:
    """Return the name of ``name``'s copy ``width`` pixels wide in ``fmt``."""
    return f"{name.rpartition('.')[0]}.w{width}.{fmt}"


def is_copy(name: str) -> bool:
    """Tell whether ``name`` is one of an image's copies rather than an image."""
    match = SERVED_NAME.fullmatch(name)
    return match is not None and match[2] is not None


def copies_of(name: str, folder: Path) -> list[Path]:
    """Return the copies of ``name`` that exist in ``folder``."""
    stem = name.rpartition(".")[0]
    return sorted(path for path in folder.glob(f"{stem}.w*.*") if is_copy(path.name))


def make_copies(path: Path) -> list[str]:
    """Write the copies of the stored image at ``path`` beside it (again, if they exist); return their names.

    The image is already checked and re-encoded (images.py), upright, with its pixel count within the budget.
    """
    from PIL import Image

    with Image.open(path) as image:
        if getattr(image, "is_animated", False):
            return []
        if image.format == "JPEG" and image.width > WIDTHS[-1]:  # decode at a fraction of the size: faster, smaller
            image.draft(image.mode, (WIDTHS[-1], max(1, image.height * WIDTHS[-1] // image.width)))
        image.load()
        has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
        pixels = image.convert("RGBA" if has_alpha else "RGB")
    written = []
    for width in copy_widths(pixels.width):
        height = max(1, round(pixels.height * width / pixels.width))
        resized = pixels if width == pixels.width else pixels.resize((width, height), Image.Resampling.LANCZOS)
        for fmt in modern_formats():
            name = copy_name(path.name, width, fmt)
            options = {"speed": 8} if fmt == "avif" else {"method": 4}
            resized.save(path.with_name(name), format=fmt.upper(), quality=QUALITY[fmt], **options)
            written.append(name)
    return written


def copies_found(name: str, width: int, folder: Path) -> dict[str, list[tuple[str, int]]]:
    """Return, for each modern format, the copies of ``name`` (an image ``width`` pixels wide) found in ``folder``
    with their widths; a format without copies is left out.

    The names are worked out from the image's width and checked one by one, so the folder is never listed.
    """
    found: dict[str, list[tuple[str, int]]] = {}
    for fmt in modern_formats():
        candidates = [(copy_name(name, each, fmt), each) for each in copy_widths(width)]
        present = [(copy, each) for copy, each in candidates if (folder / copy).is_file()]
        if present:
            found[fmt] = present
    return found


def pixel_size(path: Path) -> tuple[int, int] | None:
    """Return a stored image's width and height, read from its header, or ``None`` when it cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError, SyntaxError):
        return None
