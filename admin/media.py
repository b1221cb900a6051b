"""The media library, under /admin/media: every uploaded image with its thumbnail, size, who uploaded it and when,
the posts that show it, and its description (alt text); unused images go to a trash for TRASH_KEEP_DAYS, from which
they come back or are deleted for good (`purge` deletes the old ones with their files).

Its blueprint is nested in the admin one (see dashboard.py), whose hooks it shares: login required, the request
size an image needs, the audit log. The editor inserts images through library.insert_image (the post form's fields,
without JavaScript) and :func:`upload` here (static/media.js: a pasted or dropped image, answered in JSON). What
an image is, where it is used and how the trash keeps it: library.py.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import BooleanField
from wtforms import Field
from wtforms.validators import Length

from admin.library import delete_for_good
from admin.library import describe_image
from admin.library import list_unlisted_files
from admin.library import may_change
from admin.library import move_to_trash
from admin.library import record_upload
from admin.library import restore
from admin.library import snippet
from admin.library import uses_of_images
from admin.tables import ALT_MAX
from admin.tables import Upload
from database import db
from extensions import csrf
from forms import one_line_field
from images import STORED_NAME
from images import UploadError
from images import store_image
from reading import paginate

# Nested in the admin blueprint (see dashboard.py), whose hooks it shares: login required, the request size an image
# needs, the audit log.
bp = Blueprint("media", __name__, url_prefix="/media")

UPLOADS_PER_PAGE = 30


class AltTextForm(FlaskForm):
    """An image's description in the library (a form per image; the page's own CSRF field protects it)."""

    class Meta:
        csrf = False  # the page's forms carry the session's token, checked by CSRFProtect before the view

    alt = one_line_field(
        "Description (alt text)",
        validators=[Length(max=ALT_MAX, message=f"A description can be at most {ALT_MAX} characters long.")],
    )
    decorative = BooleanField("Decorative: it needs no description")

    def validate_alt(self, field: Field) -> None:
        describe_image(field.data or "", self.decorative.data)


class ImageUploadForm(AltTextForm):
    """A pasted or dropped image with its description, sent by static/media.js (its token checked here)."""

    class Meta:
        csrf = True

    image = FileField("Image")


def upload_or_404(name: str, *, in_trash: bool = False) -> Upload:
    """Return the image in the library (or, ``in_trash``, in its trash) if the current user may change it.

    :raise 404: when there is no such image there (never was, trashed, restored or deleted forever).
    :raise 403: when an author tries to change someone else's image.
    """
    upload = db.session.get(Upload, name) if STORED_NAME.fullmatch(name) else None
    if upload is None or upload.is_trashed != in_trash:
        if upload is not None and upload.is_trashed:
            abort(404, description=f"The image “{name}” is already in the trash: restore it from there first.")
        where = "in the trash (restored, or deleted forever?)" if in_trash else "in the media library"
        abort(404, description=f"There is no image “{name}” {where}.")
    if not may_change(upload):
        abort(403, description="You can change only the images you uploaded.")
    return upload


@bp.post("/upload")
@csrf.exempt  # not unprotected: ImageUploadForm checks its token itself, so a stale one gets a JSON answer
def upload() -> ResponseReturnValue:
    """Store a pasted or dropped image with its description; answer in JSON with the Markdown that shows it.

    Errors answer 400 with ``error`` (a sentence for the author) and ``field`` (the one to correct).
    """
    form = ImageUploadForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            return {"error": "This page expired: press Save (your text is kept), then try again.", "field": ""}, 400
        field, errors = next(iter(form.errors.items()))
        return {"error": " ".join(errors), "field": field}, 400
    if not form.image.data or not form.image.data.filename:
        return {"error": "Please choose an image.", "field": "image"}, 400
    try:
        name = store_image(form.image.data)
    except UploadError as error:
        return {"error": str(error), "field": "image"}, 400
    record_upload(name, current_user, form.alt.data or "", form.decorative.data)
    html = request.form.get("format") == "html"
    return {
        "name": name,
        "url": url_for("uploads.serve_upload", name=name),
        "snippet": snippet(name, form.alt.data or "", html=html),
    }, 201


# The library's pages


def alt_form(upload: Upload) -> AltTextForm:
    return AltTextForm(formdata=None, prefix=upload.name.split(".")[0], alt=upload.alt, decorative=upload.is_decorative)


def render_library(*, refused: tuple[str, AltTextForm] | None = None, problem: str = "") -> str:
    list_unlisted_files()
    query = select(Upload).where(Upload.trashed_at.is_(None)).options(selectinload(Upload.uploader))
    uploads = paginate(query.order_by(Upload.uploaded_at.desc(), Upload.name), UPLOADS_PER_PAGE)
    forms = {upload.name: alt_form(upload) for upload in uploads.items}
    if refused:
        forms[refused[0]] = refused[1]
    return render_template(
        "admin/media.html",
        uploads=uploads,
        forms=forms,
        uses=uses_of_images(),
        problem=problem,
        keep_days=current_app.config["TRASH_KEEP_DAYS"],
        may_change=may_change,
        in_trash=db.session.scalar(select(func.count()).where(Upload.trashed_at.is_not(None))),
    )


@bp.get("")
def library() -> str:
    """List the images, newest first, with where each is used and a form for its description."""
    return render_library()


@bp.post("/<name>/alt")
def edit_alt(name: str) -> ResponseReturnValue:
    """Change an image's description; posts keep the one they were written with."""
    upload = upload_or_404(name)
    form = AltTextForm(prefix=name.split(".")[0])
    if not form.validate():
        return render_library(refused=(name, form)), 400
    decorative = " (decorative)" if form.decorative.data else ""
    g.audit_detail = f"{name}: “{upload.alt}” → “{form.alt.data or ''}”{decorative}"
    upload.alt, upload.is_decorative = form.alt.data or "", form.decorative.data
    db.session.commit()
    flash(f"Saved the description of {name}. Posts that show it keep theirs; the editor offers this one.", "success")
    return redirect(url_for("admin.media.library", page=request.args.get("page")) + f"#image-{name.split('.')[0]}", 303)


@bp.post("/<name>/delete")
def trash_upload(name: str) -> ResponseReturnValue:
    """Move an unused image to the trash; one that a post shows is refused, naming the posts."""
    upload = upload_or_404(name)
    uses = uses_of_images().get(name, [])
    if uses:
        titles = ", ".join(use.shown_title + (" (in the trash)" if use.is_trashed else "") for use in uses)
        problem = f"{name} was not deleted: it is shown in {titles}. Remove it from the text of each first."
        return render_library(problem=problem), 409
    move_to_trash(upload)
    keep_days = current_app.config["TRASH_KEEP_DAYS"]
    flash(f"Moved {name} to the trash: readers no longer see it. You can restore it for {keep_days} days.", "success")
    return redirect(url_for("admin.media.library"), 303)


@bp.get("/trash")
def list_trash() -> str:
    """List the images in the trash, most recently trashed first."""
    query = select(Upload).where(Upload.trashed_at.is_not(None)).options(selectinload(Upload.uploader))
    uploads = paginate(query.order_by(Upload.trashed_at.desc(), Upload.name), UPLOADS_PER_PAGE)
    keep_days = current_app.config["TRASH_KEEP_DAYS"]
    return render_template(
        "admin/media_trash.html",
        uploads=uploads,
        keep_days=keep_days,
        deleted_after=timedelta(days=keep_days),
        may_change=may_change,
    )


@bp.post("/trash/<name>/restore")
def restore_upload(name: str) -> ResponseReturnValue:
    """Bring an image back from the trash, at its old address."""
    upload = upload_or_404(name, in_trash=True)
    restore(upload)
    flash(f"Restored {name}: readers see it again where posts show it.", "success")
    return redirect(url_for("admin.media.list_trash"), 303)


@bp.route("/trash/<name>/delete", methods=["GET", "POST"])
def delete_forever(name: str) -> ResponseReturnValue:
    """Ask for confirmation, then delete a trashed image and its file for good."""
    upload = upload_or_404(name, in_trash=True)
    if request.method == "GET":
        return render_template("admin/media_confirm_delete.html", upload=upload)
    delete_for_good(upload)
    flash(f"Deleted {name} forever.", "success")
    return redirect(url_for("admin.media.list_trash"), 303)
