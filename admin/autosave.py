"""/admin/posts/<id>/autosave: what an author is typing in a post, saved by the editor itself every few seconds
and when the page is left (static/autosave.js), so that a closed tab or a crash loses at most a few seconds.

An autosave is not a save: readers see nothing of it and it makes no version. It is kept, one per author and
post, until the author saves the post; opening the editor meanwhile offers the autosaved text, which the
author brings back into the form (and then saves) or leaves. A new post is first kept, once it has a title, as
a draft (/admin/posts/new/autosave): the editor then goes on editing that draft, so the words are on the list
of posts even if the tab is closed, and pressing Save saves that draft rather than making a second post.
Without JavaScript nothing is autosaved, and the form works as before.

The answers are JSON for the script. An expired or missing form token is refused with a fresh one (the token
is tied to the login, so it changes when the author logs in again), which the script sends the words with.
"""

from __future__ import annotations

import hashlib

from flask import Blueprint
from flask import g
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import generate_csrf
from sqlalchemy import delete
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.validators import Length

from account.tables import User
from admin.tables import PostAutosave
from database import db
from database import now_utc
from extensions import csrf
from extensions import limiter
from forms import EXCERPT_MAX
from forms import ONE_LINE
from forms import POST_MAX
from forms import TEXT
from forms import TITLE_MAX
from forms import checks_its_own_characters
from localtime import format_stamp
from models import Post
from models import PostStatus
from slugs import slugify
from slugs import unique_slug

# A person starts a few posts a minute at most; a script that starts hundreds fills nobody's list.
NEW_DRAFTS_LIMIT = "20 per minute; 200 per day"

bp = Blueprint("autosave", __name__, url_prefix="/posts")

TAGS_MAX = 1000  # the tags field as typed, commas and all
TOKEN_EXPIRED = "Not autosaved: the page's form token expired. Trying again with a new one."
NO_SUCH_POST = "Not autosaved: there is no such post (was it deleted?). Your text is still here: copy it to keep it."
IN_THE_TRASH = "Not autosaved: this post is in the trash. Your text is still here: restore the post from the Trash."
NOT_YOURS = "Not autosaved: you can edit only your own posts."
NO_TITLE_YET = "Not autosaved yet: a new post is kept as a draft once it has a title."
ELSEWHERE = (
    "This post is open in another tab or window too, which autosaved it at {when}: the autosave keeps what was "
    "typed last. Carry on in one of them (saving one after the other asks before replacing)."
)


class AutosaveForm(FlaskForm):
    """The words of the post form, as typed so far: only their lengths are checked (saving checks the rest), and
    control characters (a pasted NUL, say) are dropped, as the post form drops them when it shows the text again."""

    title = StringField(filters=[ONE_LINE.remove], validators=[Length(max=TITLE_MAX)])
    excerpt = TextAreaField(filters=[TEXT.remove], validators=[Length(max=EXCERPT_MAX)])
    body = TextAreaField(filters=[TEXT.remove], validators=[Length(max=POST_MAX)])
    tags = StringField(filters=[ONE_LINE.remove], validators=[Length(max=TAGS_MAX)])


def autosaved(post: Post, user: User) -> PostAutosave | None:
    """Return what ``user`` was typing in ``post`` and has not saved, or ``None``."""
    return db.session.get(PostAutosave, (post.id, user.id))


def forget(post: Post, user: User) -> None:
    """Drop ``user``'s autosave of ``post``: they saved it (in the same transaction as the save)."""
    db.session.execute(delete(PostAutosave).where(PostAutosave.post_id == post.id, PostAutosave.user_id == user.id))


def form_data(kept: PostAutosave) -> dict[str, str]:
    """The autosaved words, as the post form's fields."""
    return {"title": kept.title, "excerpt": kept.excerpt, "body": kept.body, "tags": kept.tags}


def fingerprint(kept: PostAutosave) -> str:
    """A short digest of the autosaved words: the script sends back the last one it got, so that words another
    tab autosaved meanwhile are noticed."""
    return hashlib.sha256("\x00".join(form_data(kept).values()).encode()).hexdigest()[:16]


def _refusal(form: AutosaveForm) -> ResponseReturnValue | None:
    """Check the words sent: ``None`` when they may be kept, else the answer (400) that says why not."""
    if form.validate_on_submit():
        return None
    if form.csrf_token.errors:
        return {"error": TOKEN_EXPIRED, "csrf_token": generate_csrf()}, 400
    problems = [f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()]
    return {"error": "Not autosaved: " + "; ".join(problems)}, 400


def _keep(post: Post, form: AutosaveForm) -> PostAutosave:
    kept = autosaved(post, current_user) or PostAutosave(post_id=post.id, user_id=current_user.id)
    kept.title, kept.excerpt, kept.body, kept.tags = (
        form.title.data or "",
        form.excerpt.data or "",
        form.body.data or "",
        form.tags.data or "",
    )
    kept.saved_at = now_utc()
    db.session.add(kept)
    return kept


@bp.post("/<int:post_id>/autosave")
@checks_its_own_characters
@csrf.exempt  # not unprotected: AutosaveForm checks its token itself, so an expired one is renewed, not a bare 400
def save(post_id: int) -> ResponseReturnValue:
    """Keep what is typed in the post form (200, with a warning when another tab autosaved it since this one
    did); 400, 403 or 404 with the reason it was not kept."""
    post = db.session.get(Post, post_id)
    if post is None:
        return {"error": NO_SUCH_POST}, 404
    if not current_user.can_edit(post):
        return {"error": NOT_YOURS}, 403
    if post.is_trashed:
        return {"error": IN_THE_TRASH}, 404
    form = AutosaveForm()
    if refusal := _refusal(form):
        return refusal
    before = autosaved(post, current_user)
    since = request.form.get("since")  # none on a page's first autosave
    elsewhere = before is not None and since is not None and since != fingerprint(before)
    answer = {"warning": ELSEWHERE.format(when=format_stamp(before.saved_at))} if elsewhere else {}
    kept = _keep(post, form)
    db.session.commit()
    return answer | {"since": fingerprint(kept)}


@bp.post("/new/autosave")
@checks_its_own_characters
@csrf.exempt  # as above
@limiter.limit(NEW_DRAFTS_LIMIT, key_func=lambda: f"new-drafts:{current_user.get_id()}")
def start() -> ResponseReturnValue:
    """Keep a new post, once it has a title, as a draft readers do not see (201, with the addresses the editor
    goes on with: the draft's autosave and its edit form); 400 with the reason it was not kept."""
    form = AutosaveForm()
    if refusal := _refusal(form):
        return refusal
    title = " ".join((form.title.data or "").split())
    if not title:
        return {"error": NO_TITLE_YET}, 400
    post = Post(
        author_id=current_user.id,
        title=title,
        slug=unique_slug(slugify(title)),
        status=PostStatus.draft,
        excerpt=form.excerpt.data or "",
        body=form.body.data or "",
    )
    db.session.add(post)
    db.session.flush()
    kept = _keep(post, form)  # the tags too, which become the post's only when it is saved
    db.session.commit()
    g.audit_detail = f"post_id {post.id}, “{title}”"  # as typed, less what cannot be stored
    addresses = {
        "autosave": url_for(".save", post_id=post.id),
        "edit": url_for("admin.editor.edit_post", post_id=post.id),
    }
    return addresses | {"since": fingerprint(kept)}, 201
