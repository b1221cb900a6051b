"""Images as readers' pages show them: each uploaded image with its width and height (so nothing moves while it
loads), the copies a browser may choose instead (``srcset``/``sizes``, image_sizes.py), lazy loading below the first
one, and asynchronous decoding. A post's feature image is shown the same way, on the post and on its card.

This runs when a page is made, not when a post is saved: it is the one place that knows the media library (its
widths, heights, descriptions and copies), so a post saved before an image's copies existed gets them as soon as
``flask image-sizes`` has made them, and its saved HTML (markup.py, bleach) never carries a ``srcset`` an author
could have typed. Only images at /uploads/ that the library knows are changed; anything else is left as it is.
"""

from __future__ import annotations

import html
import re

from flask import url_for
from markupsafe import Markup
from sqlalchemy import select

from admin.tables import Upload
from database import db
from image_sizes import copies_found
from image_sizes import pixel_size
from images import STORED_NAME
from images import uploads_folder
from models import Post

# The column readers' pages are laid out in (style.css: --measure, less the page's padding); full width below it.
SIZES = "(min-width: 40rem) 37.5rem, 100vw"
COLUMN_PIXELS = 600  # 37.5rem: an image narrower than the column is shown at its own width, never stretched
IMG = re.compile(r"<img\b([^<>]*?)\s*/?>")
ATTRIBUTE = re.compile(r'([A-Za-z][A-Za-z0-9_:-]*)(?:="([^"]*)")?')
OWN_IMAGE = re.compile(r"/uploads/([A-Za-z0-9_-]{1,64}\.(?:png|jpg|gif|webp))")


def _shown_uploads(names: set[str]) -> dict[str, Upload]:
    """The library's rows of ``names`` that readers may see (not in the trash)."""
    if not names:
        return {}
    query = select(Upload).where(Upload.name.in_(names), Upload.trashed_at.is_(None))
    return {upload.name: upload for upload in db.session.scalars(query)}


def _dimensions(upload: Upload) -> tuple[int, int] | None:
    if upload.width and upload.height:
        return upload.width, upload.height
    return pixel_size(uploads_folder() / upload.name)


def image_element(
    upload: Upload, attributes: dict[str, str], *, lazy: bool, priority: bool = False, fills_column: bool = False
) -> str:
    """Return the HTML of an uploaded image with ``attributes`` (already escaped, as in the saved HTML) and its
    dimensions, copies, loading and decoding; in a ``<picture>`` when there are AVIF copies to offer first.

    ``sizes`` tells the browser how wide the image will show before it is laid out: the column, or (an image in
    a post's text narrower than the column, which is never stretched) its own width.
    """
    attributes = dict(attributes)
    size = _dimensions(upload)
    sizes = (
        SIZES
        if fills_column or not size or size[0] >= COLUMN_PIXELS
        else f"(min-width: {size[0]}px) {size[0]}px, 100vw"
    )
    if size and "width" not in attributes and "height" not in attributes:
        attributes["width"], attributes["height"] = str(size[0]), str(size[1])
    found = copies_found(upload.name, size[0], uploads_folder()) if size else {}
    if "webp" in found:
        attributes["srcset"], attributes["sizes"] = _srcset(found["webp"]), sizes
    if lazy:
        attributes["loading"] = "lazy"
    else:
        attributes.pop("loading", None)
    if priority:
        attributes["fetchpriority"] = "high"
    attributes["decoding"] = "async"
    image = "<img " + " ".join(f'{name}="{value}"' for name, value in attributes.items()) + ">"
    if "avif" in found:
        return f'<picture><source type="image/avif" srcset="{_srcset(found["avif"])}" sizes="{sizes}">{image}</picture>'
    return image


def _srcset(copies: list[tuple[str, int]]) -> str:
    return ", ".join(f"{url_for('uploads.serve_upload', name=name)} {width}w" for name, width in copies)


def responsive_images(body_html: str, *, first_is_lazy: bool = False) -> Markup:
    """Return a post's saved HTML with its uploaded images sized and offered in their copies; every image after
    the first (and the first too, when ``first_is_lazy``: a feature image is above it) loads lazily."""
    tags = list(IMG.finditer(body_html))
    names = {match[1] for tag in tags if (match := OWN_IMAGE.fullmatch(_attributes(tag[1]).get("src") or ""))}
    uploads = _shown_uploads({name for name in names if STORED_NAME.fullmatch(name)})
    if not uploads:
        return Markup(body_html)  # sanitized by markup.py when saved
    parts, position = [], 0
    for index, tag in enumerate(tags):
        attributes = _attributes(tag[1])
        match = OWN_IMAGE.fullmatch(attributes.get("src") or "")
        upload = uploads.get(match[1]) if match else None
        if upload is None:
            continue
        parts += [body_html[position : tag.start()], image_element(upload, attributes, lazy=first_is_lazy or index > 0)]
        position = tag.end()
    parts.append(body_html[position:])
    return Markup("".join(parts))  # the attributes added are ours, escaped


def _attributes(text: str) -> dict[str, str]:
    return {name.lower(): value for name, value in ATTRIBUTE.findall(text)}


def feature_image(post: Post, *, on_post_page: bool = False, eager: bool = False) -> Markup:
    """Return a post's feature image as a ``<figure>``, or nothing when it has none (or its image is in the trash).

    On the post page it is the first thing read, so it loads at once and before other images; on a card it
    loads lazily unless ``eager`` (the first card of a page).
    """
    upload = _shown_uploads({post.feature_image}).get(post.feature_image) if post.feature_image else None
    if upload is None:
        return Markup("")
    attributes = {
        "src": html.escape(url_for("uploads.serve_upload", name=upload.name)),
        "alt": html.escape("" if upload.is_decorative else upload.alt),
    }
    lazy = not (on_post_page or eager)
    image = image_element(upload, attributes, lazy=lazy, priority=on_post_page, fills_column=True)
    return Markup(f'<figure class="feature-image">{image}</figure>')


def share_image(post: Post) -> str | None:
    """Return the address of the image social sites show with a post: its feature image, else its first image."""
    if post.feature_image and _shown_uploads({post.feature_image}):
        return url_for("uploads.serve_upload", name=post.feature_image)
    return post.first_image
