"""The owner's side under /admin: login, the dashboard, the audit log, export and import.

The account's (account/pages.py), moderation's (moderation.py), post-writing (editor.py), tags' (tags.py),
media (media.py) and settings (site_settings.py) pages are blueprints nested in this one, sharing its hooks.
"""

from __future__ import annotations

from math import ceil
from typing import Any

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import g
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_login import login_user
from flask_login import logout_user
from sqlalchemy import select
from sqlalchemy.orm import contains_eager

import account.pages
import audit
import notifications
import themes
from account.forms import LoginForm
from account.forms import SecondFactorForm
from account.logins import AccountLocked
from account.logins import authenticate
from account.logins import end_login_session
from account.logins import login_lock
from account.logins import pending_login_token
from account.logins import record_failed_login
from account.logins import record_successful_login
from account.logins import safe_next
from account.logins import start_login_session
from account.logins import user_for_session
from account.logins import user_waiting_for_code
from account.tables import User
from account.two_factor import check_second_factor
from admin import autosave
from admin import editor
from admin import history
from admin import media
from admin import moderation
from admin import moving_in
from admin import site_settings
from admin import tags
from admin import trash
from admin.editor import posts_visible_to
from admin.moderation import comments_visible_to
from audit import AuditEntry
from commenters import client_ip_hash
from database import count_of
from database import db
from database import now_utc
from extensions import limiter
from extensions import login_manager
from forms import refuse_nul_characters
from models import Comment
from models import CommentStatus
from models import Post
from models import PostStatus
from reading import paginate
from transfer.common import TransferError

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.register_blueprint(account.pages.bp)  # /admin/account: an account's own security settings
bp.register_blueprint(moderation.bp)  # /admin/comments: the moderation queue and the email links' pages
bp.register_blueprint(editor.bp)  # /admin/posts: the list of posts, writing, editing and deleting them
bp.register_blueprint(trash.bp)  # /admin/trash: deleted posts, restored as they were or deleted forever
bp.register_blueprint(history.bp)  # /admin/posts/<id>/history: a post's versions, compared and restored
bp.register_blueprint(autosave.bp)  # /admin/posts/<id>/autosave: what is typed, kept by the editor itself
bp.register_blueprint(moving_in.bp)  # /admin/import: moving in from WordPress, Ghost or a static site, and undo
bp.register_blueprint(media.bp)  # /admin/media: the uploaded images, where each is used, their descriptions, trash
bp.register_blueprint(tags.bp)  # /admin/tags: the tags with their posts, renaming, merging, deleting
bp.register_blueprint(site_settings.bp)  # /admin/settings: the title, author, language, comment policy...

ADMIN_REQUEST_LIMIT_FACTOR = 4
# The email link checks its own signed token.
OPEN_ENDPOINTS = {"admin.login", "admin.login_code", "admin.moderation.quick_moderate"}

TOO_MANY_LOGINS = "Too many login attempts. Please wait a minute before trying again."
WRONG_LOGIN = "That username and password do not match. Please try again."
WRONG_CODE = "That code does not match. Type the code your app shows now (each works only once), or a recovery code."
CODE_STEP_EXPIRED = "That took more than five minutes, so please enter your password again."
AUDIT_PER_PAGE = 50
ACCOUNT_LOCKED = (
    "This account is locked for {minutes} minute{s} after several failed logins in a row. "
    "Please wait, then try again; `.venv/bin/flask --app app set-password` unlocks it at once."
)
ACCOUNT_LOCKED_EVERYWHERE = (
    "This account is locked for {minutes} minute{s} after many failed logins from several places. "
    "Please wait, then try again; `.venv/bin/flask --app app set-password` unlocks it at once. "
    "With two-factor authentication on, your password and a code log you in even during such a lock."
)
SESSION_ENDED = "Your session ended before the post was saved. Log in again and your post will be back in the form."


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    return user_for_session(session_id)


bp.after_request(audit.record_admin_action)
bp.after_request(notifications.send_due_mail_after)  # the approvals' mails held for an undo, once it expired


def raise_request_limit() -> None:
    """Let the admin area receive more than a reader's form may send (the factory runs this before anything
    reads the form).

    A post may carry an image: requests well past the image limit are accepted, so that a too-large image is
    refused beside its field with the post kept, rather than by a bare 413 page. An administrator moving a
    blog in may send its export and a zip of its images. Only for someone logged in: a stranger's request to
    /admin/login keeps a reader's limit.
    """
    if request.blueprint != "admin" and not (request.blueprint or "").startswith("admin."):
        return
    if not current_user.is_authenticated:
        return
    request.max_content_length = ADMIN_REQUEST_LIMIT_FACTOR * current_app.config["UPLOAD_MAX_BYTES"]
    if request.blueprint == "admin.moving_in" and current_user.is_authenticated and current_user.is_admin:
        request.max_content_length = moving_in.REQUEST_LIMIT


@bp.before_request
def require_login() -> ResponseReturnValue | None:
    """Send anyone not logged in to the login page, keeping a post they were sending."""
    refuse_nul_characters(multipart_too=True)
    if current_user.is_authenticated or request.endpoint in OPEN_ENDPOINTS:
        return None
    if request.method == "POST" and request.endpoint in editor.POST_FORM_ENDPOINTS:
        form = LoginForm(formdata=None, next=request.path, carry=editor.carry_post(request.form))
        return render_template("admin/login.html", form=form, notice=SESSION_ENDED), 401
    flash("Please log in to see that page.", "info")
    return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))


@bp.context_processor
def admin_counts() -> dict[str, Any]:
    if not current_user.is_authenticated:
        return {}
    return {"pending_count": count_of(comments_visible_to(current_user).where(Comment.status == CommentStatus.pending))}


@bp.route("/login", methods=["GET", "POST"])
# Per address only: a limit per username would let strangers keep its owner out (account.logins.login_lock instead).
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"], error_message=TOO_MANY_LOGINS)
def login() -> ResponseReturnValue:
    """Log the owner in, then go where they were headed (a path on this site only)."""
    form = LoginForm()
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(url_for("admin.dashboard"))
        form.next.data = request.args.get("next", "")
        return render_template("admin/login.html", form=form)
    if not form.validate_on_submit():
        return render_template("admin/login.html", form=form), 400
    g.audit_username = form.username.data
    try:
        user = authenticate(form.username.data, form.password.data, client_ip_hash())
    except AccountLocked as locked:
        return _locked_out(locked, "admin/login.html", form)
    if user is None:
        return render_template("admin/login.html", form=form, error=WRONG_LOGIN), 400
    if user.has_two_factor:
        code_form = SecondFactorForm(
            formdata=None,
            pending=pending_login_token(user),
            remember="y" if form.remember.data else "",
            next=form.next.data,
            carry=form.carry.data,
        )
        return render_template("admin/login_code.html", form=code_form)
    return _complete_login(user, form.remember.data, form.next.data, form.carry.data)


@bp.post("/login/code")
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], error_message=TOO_MANY_LOGINS)
def login_code() -> ResponseReturnValue:
    """The second step of logging in with two-factor: a code from the app, or a recovery code."""
    form = SecondFactorForm()
    user = user_waiting_for_code(form.pending.data)
    if user is None:
        login_form = LoginForm(formdata=None, next=form.next.data, carry=form.carry.data)
        return render_template("admin/login.html", form=login_form, error=CODE_STEP_EXPIRED), 400
    g.audit_username = user.username
    if not form.validate_on_submit():
        return render_template("admin/login_code.html", form=form), 400
    if locked := login_lock(user, client_ip_hash()):
        return _locked_out(locked, "admin/login_code.html", form)
    if not check_second_factor(user, form.code.data):
        record_failed_login(user, client_ip_hash())
        db.session.commit()
        return render_template("admin/login_code.html", form=form, error=WRONG_CODE), 400
    record_successful_login(user, client_ip_hash())
    db.session.commit()
    return _complete_login(user, form.remember.data == "y", form.next.data, form.carry.data)


def _locked_out(locked: AccountLocked, template: str, form: LoginForm | SecondFactorForm) -> ResponseReturnValue:
    minutes = max(1, ceil((locked.until - now_utc()).total_seconds() / 60))
    message = ACCOUNT_LOCKED_EVERYWHERE if locked.everywhere else ACCOUNT_LOCKED
    error = message.format(minutes=minutes, s="" if minutes == 1 else "s")
    response = make_response(render_template(template, form=form, error=error), 429)
    response.headers["Retry-After"] = str(minutes * 60)
    return response


def _complete_login(user: User, remember: bool, next_path: str | None, carry: str | None) -> ResponseReturnValue:
    """Log in, then re-show a post that was sent while logged out, or go where the owner was headed."""
    start_login_session(user)
    db.session.commit()
    login_user(user, remember=remember)
    if carry:
        restored = editor.restore_carried_post(carry, next_path or "")
        if restored is not None:
            return restored
    flash(f"Welcome back, {user.display_name}.", "success")
    return redirect(safe_next(next_path) or url_for("admin.dashboard"))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End this login session on the server too, so a copy of its cookies kept from before cannot log in."""
    end_login_session(current_user)
    db.session.commit()
    logout_user()
    flash("You are logged out.", "success")
    return redirect(url_for("blog.index"))


@bp.get("/")
def dashboard() -> str:
    """Show counts, the latest comments and quick links."""
    posts = posts_visible_to(current_user)
    now = now_utc()
    counts = {
        "published": count_of(posts.where(Post.is_published_by(now))),
        "scheduled": count_of(posts.where(Post.is_scheduled_at(now))),
        "drafts": count_of(posts.where(Post.status == PostStatus.draft)),
    }
    recent = comments_visible_to(current_user).options(contains_eager(Comment.post))
    recent_comments = db.session.scalars(recent.order_by(Comment.created_at.desc()).limit(5)).all()
    problems = themes.theme_problems(current_app) if current_user.is_admin else {}
    return render_template(
        "admin/dashboard.html", counts=counts, recent_comments=recent_comments, theme_problems=problems
    )


def admin_only(description: str = "Only administrators can export or import the whole blog.") -> None:
    """:raise 403: unless the current user is an administrator."""
    if not current_user.is_admin:
        abort(403, description=description)


@bp.get("/audit")
def audit_log() -> str:
    """Show administrators what was done in the admin area, newest first."""
    admin_only("Only administrators can read the audit log.")
    entries = paginate(select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()), AUDIT_PER_PAGE)
    return render_template("admin/audit.html", entries=entries)


@bp.get("/data")
def data_page() -> str:
    """Offer the export download and the import upload."""
    admin_only()
    return render_template("admin/data.html")


@bp.post("/data/export")
def export_download() -> ResponseReturnValue:
    """Download the whole blog as JSON (or a zip with the images as files)."""
    from transfer.export import export_json  # here, as the importers below: few requests need them
    from transfer.export import export_zip

    admin_only()
    with_users = bool(request.form.get("with_users"))
    stamp = now_utc().strftime("%Y%m%d")
    if request.form.get("zip"):
        body, kind, name = export_zip(with_users=with_users), "application/zip", f"inkwell-{stamp}.zip"
    else:
        body, kind, name = export_json(with_users=with_users), "application/json", f"inkwell-{stamp}.json"
    return body, 200, {"Content-Type": kind, "Content-Disposition": f'attachment; filename="{name}"'}


@bp.post("/data/import")
def import_upload() -> ResponseReturnValue:
    """Load an uploaded export into this (empty) blog, all or nothing."""
    from transfer.inkwell import import_data  # here: only this request needs the importer
    from transfer.inkwell import read_export

    admin_only()
    file = request.files.get("export")
    if not file or not file.filename:
        return render_template("admin/data.html", import_error="Please choose an export file to import."), 400
    keep_passwords = bool(request.form.get("keep_passwords"))
    try:
        result = import_data(read_export(file.read()), keep_passwords=keep_passwords)
    except TransferError as error:
        return render_template("admin/data.html", import_error=f"Nothing was imported: {error}"), 400
    flash(result.summary, "success")
    for note in result.notes:
        flash(note, "info")
    return redirect(url_for("admin.dashboard"), 303)
