"""The owner's side under /admin: login, the dashboard, writing posts, export and import.

The account's (account/pages.py) and moderation's (moderation.py) pages are blueprints nested in this one,
sharing its hooks.
"""

from __future__ import annotations

from datetime import UTC
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
from itsdangerous import BadSignature
from itsdangerous import URLSafeSerializer
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.orm import contains_eager
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

import account.pages
import audit
import moderation
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
from account.two_factor import check_second_factor
from audit import AuditEntry
from commenters import client_ip_hash
from extensions import csrf
from extensions import limiter
from extensions import login_manager
from forms import PostForm
from forms import checks_its_own_characters
from forms import refuse_nul_characters
from models import Comment
from models import CommentStatus
from models import Post
from models import PostStatus
from models import SlugRedirect
from models import User
from models import count_of
from models import db
from models import now_utc
from models import slugify
from models import tags_named
from models import unique_slug
from moderation import comments_visible_to
from reading import paginate
from transfer.common import TransferError
from transfer.export import export_json
from transfer.export import export_zip
from transfer.inkwell import import_data
from transfer.inkwell import read_export
from uploads import UploadError
from uploads import image_markdown
from uploads import store_image

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.register_blueprint(account.pages.bp)  # /admin/account: an account's own security settings
bp.register_blueprint(moderation.bp)  # /admin/comments: the moderation queue and the email links' pages

ADMIN_REQUEST_LIMIT_FACTOR = 4
POSTS_PER_ADMIN_PAGE = 20
POST_FORM_ENDPOINTS = {"admin.new_post", "admin.edit_post"}
# The email link checks its own signed token.
OPEN_ENDPOINTS = {"admin.login", "admin.login_code", "admin.moderation.quick_moderate"}
CARRIED_FIELDS = ("title", "slug", "body", "excerpt", "tags", "status", "published_at", "comments_open")
POST_FILTERS = ("all", "draft", "scheduled", "published")

TOO_MANY_LOGINS = "Too many login attempts. Please wait a minute before trying again."
WRONG_LOGIN = "That username and password do not match. Please try again."
WRONG_CODE = "That code does not match. Type the code your app shows now (each works only once), or a recovery code."
CODE_STEP_EXPIRED = "That took more than five minutes, so please enter your password again."
AUDIT_PER_PAGE = 50
ACCOUNT_LOCKED = (
    "This account is locked for {minutes} minute{s} after several failed logins in a row. "
    "Please wait, then try again; `flask --app app set-password` unlocks it at once."
)
ACCOUNT_LOCKED_EVERYWHERE = (
    "This account is locked for {minutes} minute{s} after many failed logins from several places. "
    "Please wait, then try again; `flask --app app set-password` unlocks it at once. "
    "With two-factor authentication on, your password and a code log you in even during such a lock."
)
SESSION_ENDED = "Your session ended before the post was saved. Log in again and your post will be back in the form."
POST_RESTORED = "Here is the post you were writing: nothing was saved yet. Press “Save” to keep it."
POST_FORM_EXPIRED = "This form expired before it was sent, so nothing was saved. Your text is kept: press “Save” again."


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    return user_for_session(session_id)


bp.after_request(audit.record_admin_action)


@bp.before_request
def require_login() -> ResponseReturnValue | None:
    """Send anyone not logged in to the login page, keeping a post they were sending."""
    # A post may carry an image. Accept requests well past the image limit, so that a too-large image
    # is refused beside its field with the post kept, rather than by a bare 413 page.
    request.max_content_length = ADMIN_REQUEST_LIMIT_FACTOR * current_app.config["UPLOAD_MAX_BYTES"]
    refuse_nul_characters(multipart_too=True)
    if current_user.is_authenticated or request.endpoint in OPEN_ENDPOINTS:
        return None
    if request.method == "POST" and request.endpoint in POST_FORM_ENDPOINTS:
        form = LoginForm(formdata=None, next=request.path, carry=_carry_serializer().dumps(_carried(request.form)))
        return render_template("admin/login.html", form=form, notice=SESSION_ENDED), 401
    flash("Please log in to see that page.", "info")
    return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))


@bp.context_processor
def admin_counts() -> dict[str, Any]:
    if not current_user.is_authenticated:
        return {}
    return {"pending_count": count_of(comments_visible_to(current_user).where(Comment.status == CommentStatus.pending))}


def _carry_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="inkwell-carried-post")


def _carried(form: MultiDict[str, str]) -> dict[str, str]:
    return {name: form[name] for name in CARRIED_FIELDS if name in form}


def _restore_carried_post(carry: str, next_path: str) -> ResponseReturnValue | None:
    """Re-show a post form that was sent while logged out, filled in with what was typed."""
    try:
        fields = _carry_serializer().loads(carry)
    except BadSignature:
        return None
    try:
        endpoint, args = current_app.url_map.bind("localhost").match(next_path, method="POST")
    except HTTPException:
        return None
    if endpoint not in POST_FORM_ENDPOINTS:
        return None
    post = editable_post_or_404(args["post_id"]) if endpoint == "admin.edit_post" else None
    form = PostForm(formdata=MultiDict(fields))
    return render_post_form(post, form, notice=POST_RESTORED)


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
        restored = _restore_carried_post(carry, next_path or "")
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


def posts_visible_to(user: User) -> Any:
    query = select(Post)
    return query if user.is_admin else query.where(Post.author_id == user.id)


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
    return render_template("admin/dashboard.html", counts=counts, recent_comments=recent_comments)


@bp.get("/posts")
def list_posts() -> str:
    """List posts (an author sees their own), filtered by status and searched by title."""
    status = request.args.get("status", "all")
    status = status if status in POST_FILTERS else "all"
    search = request.args.get("q", "").strip()[:200]
    now = now_utc()
    query = posts_visible_to(current_user).options(selectinload(Post.author)).order_by(Post.updated_at.desc())
    if status == "draft":
        query = query.where(Post.status == PostStatus.draft)
    elif status == "scheduled":
        query = query.where(Post.is_scheduled_at(now))
    elif status == "published":
        query = query.where(Post.is_published_by(now))
    if search:
        query = query.where(Post.title.icontains(search, autoescape=True))
    posts = paginate(query, POSTS_PER_ADMIN_PAGE)
    return render_template("admin/posts.html", posts=posts, status=status, search=search, filters=POST_FILTERS)


def editable_post_or_404(post_id: int) -> Post:
    """Return the post if the current user may edit it.

    :raise 404: when there is no such post.
    :raise 403: when an author tries to change someone else's post.
    """
    post = db.get_or_404(Post, post_id, description="There is no such post.")
    if not current_user.can_edit(post):
        abort(403, description="You can edit only your own posts.")
    return post


def post_form_data(post: Post) -> dict[str, Any]:
    return {
        "title": post.title,
        "slug": post.slug,
        "body": post.body,
        "excerpt": post.excerpt,
        "tags": ", ".join(tag.name for tag in post.tags),
        "status": post.status.value,
        "published_at": post.published_at,
        "comments_open": post.comments_open,
    }


def render_post_form(
    post: Post | None,
    form: PostForm,
    *,
    preview: Post | None = None,
    uploaded: str | None = None,
    notice: str | None = None,
) -> str:
    return render_template(
        "admin/post_form.html", post=post, form=form, preview=preview, uploaded=uploaded, notice=notice
    )


@bp.route("/posts/new", methods=["GET", "POST"])
@checks_its_own_characters
@csrf.exempt  # not unprotected: PostForm checks its token itself, so an expired one keeps the typed post
def new_post() -> ResponseReturnValue:
    """Write a new post."""
    return handle_post_form(None)


@bp.route("/posts/<int:post_id>/edit", methods=["GET", "POST"])
@checks_its_own_characters
@csrf.exempt  # as above
def edit_post(post_id: int) -> ResponseReturnValue:
    """Change a post; its old address keeps working if it was published."""
    return handle_post_form(editable_post_or_404(post_id))


def handle_post_form(post: Post | None) -> ResponseReturnValue:
    """Show, preview, upload an image for, or save the post form.

    Invalid input re-shows the form with status 400, messages beside the fields and everything kept.
    """
    if request.method == "GET":
        return render_post_form(post, PostForm(data=post_form_data(post)) if post else PostForm())
    form = PostForm()
    form.editing = post
    is_valid = form.validate_on_submit()
    if form.csrf_token.errors:
        return render_post_form(post, form, notice=POST_FORM_EXPIRED), 400

    action = request.form.get("action", "save")
    uploaded = _upload_attached_image(form, is_required=action == "upload")
    if action == "upload":
        return render_post_form(post, form, uploaded=uploaded), 400 if form.image.errors else 200
    if action == "preview":
        preview = None if form.body.errors else preview_of(form)  # a body over the limit is never rendered
        return render_post_form(post, form, preview=preview, uploaded=uploaded), 400 if preview is None else 200
    if not is_valid or form.image.errors:
        return render_post_form(post, form, uploaded=uploaded), 400

    post = save_post(post or Post(author_id=current_user.id), form)
    flash(_saved_message(post), "success")
    if uploaded:
        flash(f"Image uploaded. To show it, add this to the text: {uploaded}", "info")
    return redirect(url_for("admin.edit_post", post_id=post.id), 303)


def _upload_attached_image(form: PostForm, *, is_required: bool) -> str | None:
    """Store an image attached to the form and return its Markdown; errors go beside the field."""
    file = form.image.data
    if not file or not file.filename:
        if is_required:
            form.image.errors.append("Please choose an image to upload.")
        return None
    try:
        return image_markdown(store_image(file))
    except UploadError as error:
        form.image.errors.append(str(error))
        return None


def preview_of(form: PostForm) -> Post:
    """Build an unsaved post from the form, rendered exactly as the public page will show it."""
    return Post(
        title=form.title.data or "Untitled",
        body=form.body.data or "",
        published_at=_publish_date(None, form) or now_utc(),
    )


def _publish_date(post: Post | None, form: PostForm) -> Any:
    if form.published_at.data:
        return form.published_at.data.replace(tzinfo=UTC)
    if form.status.data == PostStatus.published:
        return (post.published_at if post else None) or now_utc()
    return post.published_at if post else None


def save_post(post: Post, form: PostForm) -> Post:
    """Store the form in ``post``, keeping a redirect from the old address when a published slug changes."""
    slug = form.slug.data or unique_slug(slugify(form.title.data), post)
    if post.id is not None:  # taking back one of its own old addresses (another post's are refused by the form)
        db.session.execute(delete(SlugRedirect).where(SlugRedirect.old_slug == slug, SlugRedirect.post_id == post.id))
    if post.id is not None and post.slug != slug and post.status == PostStatus.published:
        db.session.add(SlugRedirect(old_slug=post.slug, post_id=post.id))
    post.title = form.title.data
    post.slug = slug
    post.excerpt = form.excerpt.data or ""
    post.body = form.body.data or ""
    post.tags = tags_named(form.tag_names)
    post.published_at = _publish_date(post, form)
    post.status = PostStatus(form.status.data)
    post.comments_open = form.comments_open.data
    db.session.add(post)
    db.session.commit()
    return post


def _saved_message(post: Post) -> str:
    if post.status == PostStatus.draft:
        return f"Draft “{post.title}” saved. Only logged-in authors can see it."
    if post.is_scheduled:
        return f"“{post.title}” is scheduled: it will appear on {post.published_at:%Y-%m-%d at %H:%M} UTC."
    return f"“{post.title}” is published."


@bp.route("/posts/<int:post_id>/delete", methods=["GET", "POST"])
def delete_post(post_id: int) -> ResponseReturnValue:
    """Ask for confirmation, then delete a post with its comments."""
    post = editable_post_or_404(post_id)
    if request.method == "GET":
        return render_template("admin/confirm_delete.html", post=post)
    title = post.title
    db.session.delete(post)
    db.session.commit()
    flash(f"Deleted “{title}” and its comments.", "success")
    return redirect(url_for("admin.list_posts"), 303)


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
