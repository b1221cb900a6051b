"""Serving uploaded images to readers as plain files, with an image type and nothing else (images.py stores them)."""

from __future__ import annotations

from flask import Blueprint
from flask import abort
from flask import send_from_directory
from flask.typing import ResponseReturnValue

from extensions import limiter
from image_sizes import SERVED_NAME
from images import SERVED_TYPES
from images import uploads_folder

bp = Blueprint("uploads", __name__)

ONE_YEAR = 365 * 24 * 3600
UPLOAD_HEADERS = {"Content-Security-Policy": "default-src 'none'; sandbox"}


@bp.get("/uploads/<name>")
@limiter.exempt
def serve_upload(name: str) -> ResponseReturnValue:
    """Serve an uploaded image; names are random and never reused, so browsers may cache them for a year.

    Only names Inkwell stores images (and their smaller copies, image_sizes.py) under are served, always with the
    image type of their extension and a policy that runs nothing: a file that reached the folder some other way is
    never a page.

    :raise 404: for any other name.
    """
    match = SERVED_NAME.fullmatch(name)
    if match is None:
        abort(404)
    response = send_from_directory(uploads_folder(), name, mimetype=SERVED_TYPES[match[3]], max_age=ONE_YEAR)
    response.headers.update(UPLOAD_HEADERS)
    return response
