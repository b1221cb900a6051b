"""/admin/posts/<id>/autosave: what an author is typing in a post, saved by the editor itself every few seconds
and when the page is left (static/autosave.js), so that a closed tab or a crash loses at most a few seconds.

An autosave is not a save: readers see nothing of it and it makes no version. It is kept, one per author and
post, until the author saves the post; opening the editor meanwhile offers the autosaved text, which the
author brings back into the form (and then saves) or leaves. Without JavaScript nothing is autosaved, and the
form works as before.
"""

from __future__ import annotations

from flask import Blueprint
from flask import abort
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import delete
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.validators import Length

from account.tables import User
from admin.tables import PostAutosave
from database import db
from database import now_utc
from forms import EXCERPT_MAX
from forms import POST_MAX
from forms import TITLE_MAX
from models import Post

bp = Blueprint("autosave", __name__, url_prefix="/posts/<int:post_id>/autosave")

TAGS_MAX = 1000  # the tags field as typed, commas and all


class AutosaveForm(FlaskForm):
    """The words of the post form, as typed so far: only their lengths are checked (saving checks the rest)."""

    title = StringField(validators=[Length(max=TITLE_MAX)])
    excerpt = TextAreaField(validators=[Length(max=EXCERPT_MAX)])
    body = TextAreaField(validators=[Length(max=POST_MAX)])
    tags = StringField(validators=[Length(max=TAGS_MAX)])


def autosaved(post: Post, user: User) -> PostAutosave | None:
    """Return what ``user`` was typing in ``post`` and has not saved, or ``None``."""
    return db.session.get(PostAutosave, (post.id, user.id))


def forget(post: Post, user: User) -> None:
    """Drop ``user``'s autosave of ``post``: they saved it (in the same transaction as the save)."""
    db.session.execute(delete(PostAutosave).where(PostAutosave.post_id == post.id, PostAutosave.user_id == user.id))


def form_data(kept: PostAutosave) -> dict[str, str]:
    """The autosaved words, as the post form's fields."""
    return {"title": kept.title, "excerpt": kept.excerpt, "body": kept.body, "tags": kept.tags}


@bp.post("")
def save(post_id: int) -> ResponseReturnValue:
    """Keep what is typed in the post form (204); 400 with the reason for words too long to keep."""
    post = db.session.get(Post, post_id)
    if post is None:
        abort(404, description="There is no such post (was it deleted?): nothing was autosaved.")
    if not current_user.can_edit(post):
        abort(403, description="You can edit only your own posts.")
    form = AutosaveForm()
    if not form.validate_on_submit():
        problems = [f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()]
        return {"error": "Not autosaved: " + "; ".join(problems)}, 400
    kept = autosaved(post, current_user) or PostAutosave(post_id=post.id, user_id=current_user.id)
    kept.title, kept.excerpt, kept.body, kept.tags = (
        form.title.data or "",
        form.excerpt.data or "",
        form.body.data or "",
        form.tags.data or "",
    )
    kept.saved_at = now_utc()
    db.session.add(kept)
    db.session.commit()
    return "", 204
