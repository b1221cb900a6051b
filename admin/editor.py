"""Writing posts, under /admin/posts: the list with its filters, the editor (preview, image upload) and deleting.

Its blueprint is nested in the admin one (see dashboard.py), whose hooks it shares: login required, the NUL check,
the audit log, the nav counts. A post sent after the login expired goes through the login page and comes back
here (`carry_post`, `restore_carried_post`): dashboard.py imports this module, never the other way round.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from itsdangerous import BadSignature
from itsdangerous import URLSafeSerializer
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from account.tables import User
from admin import autosave
from admin import history
from admin import library
from admin.post_form import PostForm
from database import db
from database import now_utc
from extensions import csrf
from forms import checks_its_own_characters
from localtime import format_stamp
from localtime import from_local
from localtime import local_input
from localtime import zone_name
from markup import markdown_from_html
from models import BodyFormat
from models import Post
from models import PostKind
from models import PostStatus
from reading import paginate
from slugs import SlugRedirect
from slugs import slugify
from slugs import tags_named
from slugs import unique_slug

# Nested in the admin blueprint (see dashboard.py), whose hooks it shares: login required, the request size an image
# needs, the audit log, the nav counts.
bp = Blueprint("editor", __name__, url_prefix="/posts")

POSTS_PER_ADMIN_PAGE = 20
POST_FILTERS = ("all", "draft", "scheduled", "published", "pages")
# The forms whose post, sent after the login expired, is carried through the login page rather than lost.
POST_FORM_ENDPOINTS = {"admin.editor.new_post", "admin.editor.edit_post"}
CARRIED_FIELDS = (
    "title", "slug", "format", "body", "excerpt", "tags", "status", "published_at", "comments_open", "is_page",
    "based_on",
)  # fmt: skip

POST_RESTORED = "Here is the post you were writing: nothing was saved yet. Press “Save” to keep it."
CONVERTED = "Converted to Markdown: check the text below, then press “Save” to keep it. Nothing was saved yet."
POST_FORM_EXPIRED = "This form expired before it was sent, so nothing was saved. Your text is kept: press “Save” again."
AUTOSAVE_BROUGHT_BACK = "Here is the text that was autosaved: nothing is saved yet. Press “Save” to keep it."
SAVED_MEANWHILE = (
    "{who} saved this post at {when}, after you opened it (in another tab or window?), so nothing was saved. "
    "Your text is kept below, and theirs is in the post's History. Press “Save” again to replace theirs with yours."
)


def _carry_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="inkwell-carried-post")


def carry_post(form: MultiDict[str, str]) -> str:
    """Return the typed post, signed, for the login page to send back after logging in."""
    return _carry_serializer().dumps({name: form[name] for name in CARRIED_FIELDS if name in form})


def restore_carried_post(carry: str, next_path: str) -> ResponseReturnValue | None:
    """Re-show a post form that was sent while logged out, filled in with what was typed.

    Returns None when ``carry`` is forged or ``next_path`` is not a post form, so the login goes on as usual.
    """
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
    post = editable_post_or_404(args["post_id"]) if endpoint == "admin.editor.edit_post" else None
    form = PostForm(formdata=MultiDict(fields))
    return render_post_form(post, form, notice=POST_RESTORED)


def posts_visible_to(user: User, *, in_trash: bool = False) -> Any:
    """Select the posts a user may see and change here (or, ``in_trash``, in the trash): all for admins, their own
    for authors."""
    query = select(Post).where(Post.trashed_at.is_not(None) if in_trash else Post.trashed_at.is_(None))
    return query if user.is_admin else query.where(Post.author_id == user.id)


@bp.get("")
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
    elif status == "pages":
        query = query.where(Post.kind == PostKind.page)
    if search:
        query = query.where(Post.title.icontains(search, autoescape=True))
    posts = paginate(query, POSTS_PER_ADMIN_PAGE)
    return render_template("admin/posts.html", posts=posts, status=status, search=search, filters=POST_FILTERS)


def editable_post_or_404(post_id: int) -> Post:
    """Return the post if the current user may edit it (a post in the trash is restored first).

    :raise 404: when there is no such post, or it is in the trash.
    :raise 403: when an author tries to change someone else's post.
    """
    post = db.get_or_404(Post, post_id, description="There is no such post.")
    if post.is_trashed:
        abort(404, description="This post is in the trash: restore it from the Trash to edit it.")
    if not current_user.can_edit(post):
        abort(403, description="You can edit only your own posts.")
    return post


def post_form_data(post: Post) -> dict[str, Any]:
    return {
        "title": post.title,
        "slug": post.slug,
        "format": post.format.value,
        "body": post.body,
        "excerpt": post.excerpt,
        "tags": ", ".join(tag.name for tag in post.tags),
        "status": post.status.value,
        "published_at": local_input(post.published_at),  # typed and shown on the blog's clocks
        "comments_open": post.comments_open,
        "is_page": post.is_page,
        "based_on": _newest_version_id(post),
        "feature_image": post.feature_image or "",
    }


def _newest_version_id(post: Post) -> str:
    newest = history.newest_version(post)
    return str(newest.id) if newest is not None else ""


def _saved_meanwhile(post: Post | None, form: PostForm) -> str | None:
    """Say who saved the post since this form was shown, or ``None`` when nobody did.

    The form then carries the newest version, so saving it again replaces that one on purpose.
    """
    if post is None or form.based_on.data is None:  # a form from before versions were compared
        return None
    newest = history.newest_version(post)
    if newest is None or form.based_on.data == str(newest.id):
        return None
    form.based_on.data = str(newest.id)
    who = newest.user.display_name if newest.user else "Someone"
    return SAVED_MEANWHILE.format(who=who, when=format_stamp(newest.saved_at))


def render_post_form(
    post: Post | None,
    form: PostForm,
    *,
    preview: Post | None = None,
    uploaded: str | None = None,
    notice: str | None = None,
    autosaved_at: datetime | None = None,
) -> str:
    form.format.data = _body_format(form, post).value
    form.published_at.label.text = f"Publish date ({zone_name()})"
    form.published_at.description = (
        f"Like 2026-11-24 18:30, on the blog's clocks ({zone_name()}). Leave empty to publish now. "
        "A date in the future schedules the post: it appears by itself then."
    )
    form.image_pick.choices = library.pickable_images(form.image_pick.data)
    form.feature_image.choices = library.pickable_images(form.feature_image.data)
    if form.format.data == BodyFormat.html:  # an imported post, edited in the HTML it came in
        form.body.label.text = "Text (HTML)"
    return render_template(
        "admin/post_form.html",
        post=post,
        form=form,
        preview=preview,
        uploaded=uploaded,
        notice=notice,
        autosaved_at=autosaved_at,
    )


@bp.route("/new", methods=["GET", "POST"])
@checks_its_own_characters
@csrf.exempt  # not unprotected: PostForm checks its token itself, so an expired one keeps the typed post
def new_post() -> ResponseReturnValue:
    """Write a new post."""
    return handle_post_form(None)


@bp.route("/<int:post_id>/edit", methods=["GET", "POST"])
@checks_its_own_characters
@csrf.exempt  # as above
def edit_post(post_id: int) -> ResponseReturnValue:
    """Change a post; its old address keeps working if it was published."""
    return handle_post_form(editable_post_or_404(post_id))


def _show_post_form(post: Post | None) -> str:
    """The form as the post is, offering the author's autosaved text if it says something else (or, asked for
    with ``?autosaved=1``, filled in with it)."""
    if post is None:
        return render_post_form(None, PostForm())
    data = post_form_data(post)
    kept = autosave.autosaved(post, current_user)
    if kept is None or all(data[name] == value for name, value in autosave.form_data(kept).items()):
        return render_post_form(post, PostForm(data=data))
    if request.args.get("autosaved"):
        return render_post_form(post, PostForm(data=data | autosave.form_data(kept)), notice=AUTOSAVE_BROUGHT_BACK)
    return render_post_form(post, PostForm(data=data), autosaved_at=kept.saved_at)


def handle_post_form(post: Post | None) -> ResponseReturnValue:
    """Show, preview, upload an image for, or save the post form.

    Invalid input re-shows the form with status 400, messages beside the fields and everything kept.
    """
    if request.method == "GET":
        return _show_post_form(post)
    form = PostForm()
    form.editing = post
    is_valid = form.validate_on_submit()
    if form.csrf_token.errors:
        return render_post_form(post, form, notice=POST_FORM_EXPIRED), 400

    action = request.form.get("action", "save")
    is_html = _body_format(form, post) == BodyFormat.html
    uploaded = library.insert_image(form, html=is_html, is_required=action == "upload")
    image_errors = form.image.errors or form.image_pick.errors or form.image_alt.errors
    feature = library.choose_feature_image(form)
    if action == "upload":
        return render_post_form(post, form, uploaded=uploaded), 400 if image_errors else 200
    if action == "convert":  # the Markdown is shown to check; only "Save" keeps it
        if form.format.data != BodyFormat.html or form.body.errors:
            return render_post_form(post, form), 400
        form.body.data, form.format.data = markdown_from_html(form.body.data or ""), BodyFormat.markdown.value
        return render_post_form(post, form, notice=CONVERTED)
    if action == "preview":
        preview = None if form.body.errors else preview_of(form, post)  # a body over the limit is never rendered
        return render_post_form(post, form, preview=preview, uploaded=uploaded), 400 if preview is None else 200
    if not is_valid or image_errors or feature is None:
        return render_post_form(post, form, uploaded=uploaded), 400
    if conflict := _saved_meanwhile(post, form):
        return render_post_form(post, form, uploaded=uploaded, notice=conflict), 409

    post = save_post(post or Post(author_id=current_user.id), form)
    flash(_saved_message(post), "success")
    if form.published_at.data and (twice := from_local(form.published_at.data).note):
        flash(twice, "info")  # a time the clocks show twice: which of the two was taken
    if uploaded:
        flash("The image is added at the end of the text: move it where it should appear.", "info")
    return redirect(url_for("admin.editor.edit_post", post_id=post.id), 303)


def preview_of(form: PostForm, post: Post | None = None) -> Post:
    """Build an unsaved post from the form, rendered exactly as the public page will show it."""
    return Post(
        title=form.title.data or "Untitled",
        format=_body_format(form, post),
        body=form.body.data or "",
        published_at=_publish_date(None, form) or now_utc(),
        feature_image=form.feature_image.data or None,
    )


def _body_format(form: PostForm, post: Post | None = None) -> BodyFormat:
    if form.format.data in list(BodyFormat):
        return BodyFormat(form.format.data)
    return post.format if post is not None and post.format else BodyFormat.markdown


def _publish_date(post: Post | None, form: PostForm) -> Any:
    """The moment (UTC) the form asks for: a typed date is on the blog's clocks."""
    if form.published_at.data:
        return from_local(form.published_at.data).moment
    if form.status.data == PostStatus.published:
        return (post.published_at if post else None) or now_utc()
    return post.published_at if post else None


def save_post(post: Post, form: PostForm) -> Post:
    """Store the form in ``post``, keeping a redirect from the old address when a published slug changes, and
    the words as a new version (history.py)."""
    if post.id is not None and history.newest_version(post) is None:  # from before versions: keep its words
        history.keep_version(post, post.author, saved_at=post.updated_at)
    slug = form.slug.data or unique_slug(slugify(form.title.data), post)
    if post.id is not None:  # taking back one of its own old addresses (another post's are refused by the form)
        db.session.execute(delete(SlugRedirect).where(SlugRedirect.old_slug == slug, SlugRedirect.post_id == post.id))
    if post.id is not None and post.slug != slug and post.status == PostStatus.published:
        db.session.add(SlugRedirect(old_slug=post.slug, post_id=post.id))
    post.title = form.title.data
    post.slug = slug
    post.excerpt = form.excerpt.data or ""
    post.format = _body_format(form, post)
    post.body = form.body.data or ""
    post.tags = tags_named(form.tag_names)
    post.published_at = _publish_date(post, form)
    post.status = PostStatus(form.status.data)
    post.comments_open = form.comments_open.data
    post.kind = PostKind.page if form.is_page.data else PostKind.post
    post.feature_image = form.feature_image.data or None  # checked by library.choose_feature_image
    db.session.add(post)
    db.session.flush()
    history.keep_version(post, current_user)
    autosave.forget(post, current_user)
    db.session.commit()
    return post


def _saved_message(post: Post) -> str:
    if post.status == PostStatus.draft:
        return f"Draft “{post.title}” saved. Only logged-in authors can see it."
    if post.is_scheduled:
        return f"“{post.title}” is scheduled: it will appear on {format_stamp(post.published_at)} ({zone_name()})."
    return f"“{post.title}” is published."


@bp.route("/<int:post_id>/delete", methods=["GET", "POST"])
def delete_post(post_id: int) -> ResponseReturnValue:
    """Ask for confirmation, then move a post with its comments to the trash, from where it can be restored."""
    post = editable_post_or_404(post_id)
    keep_days = current_app.config["TRASH_KEEP_DAYS"]
    if request.method == "GET":
        return render_template("admin/confirm_delete.html", post=post, keep_days=keep_days)
    post.move_to_trash(current_user.username)
    db.session.commit()
    flash(
        f"Moved “{post.title}” and its comments to the trash: readers no longer see them. "
        f"You can restore them from the Trash for {keep_days} days.",
        "success",
    )
    return redirect(url_for("admin.editor.list_posts"), 303)
