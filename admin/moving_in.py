"""/admin/import: moving in from WordPress, Ghost or a static site from the browser, and undoing an import.

Checking comes first: the uploaded files are kept in ``instance/imports/<token>/`` and imported as a dry run, so
the owner reads what would happen, every change included, before pressing "Import". Each kept import can be
undone from its own page. The importers themselves are in transfer/.
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
from pathlib import Path

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from flask_wtf.file import FileRequired
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import BooleanField
from wtforms import HiddenField
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from database import db
from safetext import one_line
from transfer.common import IMPORT_MAX_BYTES
from transfer.common import ImportSummary
from transfer.common import TransferError
from transfer.common import check_import_size
from transfer.record import imports_done
from transfer.record import undo_import
from transfer.record import undo_plan
from transfer.tables import ImportRecord

bp = Blueprint("moving_in", __name__, url_prefix="/import")

SOURCES = {
    "wordpress": "A WordPress export (.xml, from Tools → Export)",
    "ghost": "A Ghost export (.json, from Settings → Labs → Export content)",
    "folder": "The Markdown posts of a Jekyll, Hugo, Pelican or Eleventy site (a .zip of the folder)",
}
KEPT_FOR_SECONDS = 24 * 3600  # a checked file not imported within a day is removed
TOKEN_LENGTH = 22  # secrets.token_urlsafe(16)
ONLY_ADMINS = "Only administrators can import another blog or undo an import."
REQUEST_LIMIT = 2 * IMPORT_MAX_BYTES + 1024 * 1024  # the export and its images, and the form around them


class MoveInForm(FlaskForm):
    source = SelectField(
        "What are you moving in?", choices=[SelectChoice(value, label) for value, label in SOURCES.items()]
    )
    export = FileField("The file", validators=[FileRequired("Please choose the file to import.")])
    media = FileField(
        "Its images (optional)",
        description="A .zip of WordPress's wp-content/uploads folder or Ghost's content/images folder: the images "
        "the posts show are brought in from it. Without it, they keep pointing at the old site.",
    )
    pages = BooleanField("Import its pages too (About, Contact…)", default=True)


class ConfirmForm(FlaskForm):
    token = HiddenField()


def _imports_folder() -> Path:
    return Path(current_app.instance_path) / "imports"


def _remove_stale_uploads() -> None:
    """Remove the checked files that were never imported, a day on."""
    folder = _imports_folder()
    if folder.is_dir():
        for kept in folder.iterdir():
            if kept.stat().st_mtime < time.time() - KEPT_FOR_SECONDS:
                shutil.rmtree(kept, ignore_errors=True)


def _size_of(file: FileStorage) -> int:
    file.stream.seek(0, 2)
    size = file.stream.tell()
    file.stream.seek(0)
    return size


def _keep(form: MoveInForm) -> Path:
    """Keep the uploaded files until the owner imports them; return their folder.

    :raise TransferError: for a file larger than an import may be.
    """
    check_import_size(_size_of(form.export.data))
    media = form.media.data if isinstance(form.media.data, FileStorage) and form.media.data.filename else None
    if media is not None:
        check_import_size(_size_of(media))
    folder = _imports_folder() / secrets.token_urlsafe(16)
    folder.mkdir(parents=True)
    form.export.data.save(folder / "export")
    if media is not None:
        media.save(folder / "media.zip")
    name = one_line(form.export.data.filename or "")  # PostgreSQL cannot store a NUL a browser may send in it
    settings = {"source": form.source.data, "pages": form.pages.data, "name": name}
    (folder / "settings.json").write_text(json.dumps(settings))
    return folder


def _kept(token: str) -> Path | None:
    """Take the files kept under ``token`` for one import: return their folder, or ``None`` when there is none
    (any more). A second press of "Import" while the first runs finds nothing, rather than importing again."""
    if len(token) != TOKEN_LENGTH or not all(c.isalnum() or c in "-_" for c in token):
        return None
    folder, taken = _imports_folder() / token, _imports_folder() / f"{token}.importing"
    try:
        folder.rename(taken)  # one request can do this: the folder is gone for the next
    except OSError:
        return None
    return taken if (taken / "settings.json").is_file() else None


def _run(folder: Path, dry_run: bool) -> ImportSummary:
    """Import (or rehearse importing) the files kept in ``folder``."""
    # The importers are imported here, by the few requests that run one: with the YAML, TOML and XML readers
    # they bring, they would add 1.5 MB to every worker.
    from transfer.ghost import import_ghost
    from transfer.static_site import import_static_site
    from transfer.wordpress import import_wordpress

    settings = json.loads((folder / "settings.json").read_text())
    export, name, pages = folder / "export", settings["name"][:255] or "upload", bool(settings["pages"])
    media = folder / "media.zip" if (folder / "media.zip").is_file() else None
    if settings["source"] == "wordpress":
        return import_wordpress(
            export.read_bytes(), include_pages=pages, uploads=media, dry_run=dry_run, file_name=name
        )
    if settings["source"] == "ghost":
        return import_ghost(export.read_bytes(), include_pages=pages, images=media, dry_run=dry_run, file_name=name)
    return import_static_site(export, dry_run=dry_run, file_name=name)


@bp.before_request
def only_admins() -> None:
    if not current_user.is_admin:
        abort(403, description=ONLY_ADMINS)


@bp.errorhandler(RequestEntityTooLarge)
def too_large(error: RequestEntityTooLarge) -> ResponseReturnValue:
    if not (current_user.is_authenticated and current_user.is_admin):
        # The form is read (and found too large) before the login and admin checks run: send anyone else to
        # where those checks take them (the login page, or "You cannot do that"), not to this page.
        return redirect(url_for(".start"), 303)
    message = f"That is more than this page accepts ({REQUEST_LIMIT / 1_048_576:,.0f} MB in all); "
    message += f"each file can be at most {IMPORT_MAX_BYTES / 1_048_576:,.0f} MB."
    return _start_page(MoveInForm(formdata=None), problem=message), 413


def _start_page(form: MoveInForm, **context: object) -> str:
    return render_template("admin/moving_in.html", form=form, imports=imports_done(), **context)


@bp.route("/", methods=["GET", "POST"])
def start() -> ResponseReturnValue:
    """Offer the upload; on sending it, show what importing it would do, with the button that does it."""
    form = MoveInForm()
    if not form.validate_on_submit():
        return _start_page(form), 400 if form.errors else 200
    _remove_stale_uploads()
    folder = None
    try:
        folder = _keep(form)
        summary = _run(folder, dry_run=True)
    except TransferError as error:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        form.export.errors.append(f"Nothing can be imported from this file: {error}")
        return _start_page(form), 400
    return _start_page(form, summary=summary, confirm=ConfirmForm(token=folder.name), checked=form.export.data.filename)


@bp.post("/run")
def run_import() -> ResponseReturnValue:
    """Import the checked files for real, then show what was done."""
    form = ConfirmForm()
    folder = _kept(form.token.data or "") if form.validate_on_submit() else None
    if folder is None:
        flash("That checked file is no longer here (was it imported already?). Please choose it again.", "error")
        return redirect(url_for(".start"), 303)
    try:
        summary = _run(folder, dry_run=False)
    except TransferError as error:
        return _start_page(MoveInForm(formdata=None), problem=f"Nothing was imported: {error}"), 400
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    flash(summary.headline, "success")
    return redirect(url_for(".show_import", import_id=summary.import_id), 303)


@bp.post("/cancel")
def cancel() -> ResponseReturnValue:
    """Leave a checked file unimported, and remove it at once rather than a day later."""
    form = ConfirmForm()
    folder = _kept(form.token.data or "") if form.validate_on_submit() else None
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
    flash("Nothing was imported, and the file you checked is removed.", "info")
    return redirect(url_for(".start"), 303)


def _record(import_id: int) -> ImportRecord:
    record = db.session.get(ImportRecord, import_id)
    if record is None:
        abort(404)
    return record


@bp.get("/<int:import_id>")
def show_import(import_id: int) -> ResponseReturnValue:
    """One import: what it did, and what undoing it would delete."""
    record = _record(import_id)
    plan = undo_plan(record) if record.undone_at is None else None
    return render_template("admin/import_record.html", record=record, plan=plan)


@bp.post("/<int:import_id>/undo")
def undo(import_id: int) -> ResponseReturnValue:
    """Delete exactly what one import created."""
    record = _record(import_id)
    done = undo_import(record)
    if done is None:
        flash("That import was undone already.", "info")
        return redirect(url_for(".show_import", import_id=import_id), 303)
    flash(f"The import of {record.file_name} is undone: deleted {done.sentence}.", "success")
    return redirect(url_for(".start"), 303)
