"""Managing tags, under /admin/tags: every tag with how many posts carry it, renaming one (its old address
redirects), its description, merging one tag into another, and deleting one (its posts stay).

Its blueprint is nested in the admin one (see dashboard.py), whose hooks it shares: login required, the NUL check,
the audit log, the nav counts. Authors may read the list; only administrators change tags, which every author's
posts share. Public pages follow by themselves: changing a tag renews the page cache's generations (pagecache.py).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import abort
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import case
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from wtforms import Field
from wtforms.validators import DataRequired
from wtforms.validators import Length
from wtforms.validators import Optional
from wtforms.validators import ValidationError

from database import db
from forms import SLUG_PATTERN
from forms import TAG_DESCRIPTION_MAX
from forms import TAG_MAX
from forms import TAG_SLUG_MAX
from forms import checks_its_own_characters
from forms import one_line_field
from forms import text_field
from models import Post
from models import Tag
from models import post_tags
from reading import paginate
from search import reindex_on
from slugs import TagRedirect
from slugs import slugify

# Nested in the admin blueprint (see dashboard.py), whose hooks it shares.
bp = Blueprint("tags", __name__, url_prefix="/tags")

TAGS_PER_ADMIN_PAGE = 100
ADMINS_ONLY = "Only administrators can change tags: every author's posts share them."
TAKEN_MEANWHILE = "Another tag took this name or address a moment ago. Please choose another, or merge the two."


def one_line(value: str | None) -> str | None:
    """Collapse runs of spaces, as a tag typed in a post is (``tags_named``)."""
    return " ".join(value.split()) if isinstance(value, str) else value


class TagForm(FlaskForm):
    """A tag's name, address and description. Set ``editing`` to the tag; ``clash`` tells which other tag
    already has the name or address typed, so the page can offer to merge into it."""

    editing: Tag
    clash: Tag | None = None

    name = one_line_field(
        "Name",
        clean=one_line,
        validators=[
            DataRequired("Please give the tag a name."),
            Length(max=TAG_MAX, message=f"A tag's name can be at most {TAG_MAX} characters long."),
        ],
    )
    slug = one_line_field(
        "Address (slug)",
        validators=[
            Optional(),
            Length(max=TAG_SLUG_MAX, message=f"A slug can be at most {TAG_SLUG_MAX} characters long."),
        ],
        description="The end of the tag page's address, /tags/<slug>. Leave empty to make one from the name. "
        "The old address keeps leading here.",
    )
    description = text_field(
        "Description (optional)",
        validators=[
            Length(
                max=TAG_DESCRIPTION_MAX,
                message=f"A description can be at most {TAG_DESCRIPTION_MAX} characters long.",
            ),
        ],
        description="Plain text, shown under the heading of the tag's page and to search engines.",
        render_kw={"rows": 3},
    )

    @property
    def new_slug(self) -> str:
        """The address the tag will have: the one typed, or one made from the name."""
        return self.slug.data or slugify(self.name.data or "", TAG_SLUG_MAX)

    def validate_name(self, field: Field) -> None:
        other = db.session.scalar(
            select(Tag).where(func.lower(Tag.name) == field.data.lower(), Tag.id != self.editing.id)
        )
        if other is not None:
            self.clash = other
            raise ValidationError(
                f"The tag “{other.name}” already has this name. To give this tag's posts that tag, merge the two below."
            )

    def validate_slug(self, field: Field) -> None:
        if field.data:
            field.data = field.data.lower()
            if not SLUG_PATTERN.match(field.data):
                raise ValidationError(
                    "Use only letters, numbers and single hyphens (no spaces, slashes or other signs), like notes-2026."
                )

    def validate(self, extra_validators: Any = None) -> bool:
        """Then refuse an address another tag has, or had (its old links lead there), beside the field that made it."""
        if not super().validate(extra_validators) or self.clash is not None:
            return False
        field = self.slug if self.slug.data else self.name
        other = db.session.scalar(select(Tag).where(Tag.slug == self.new_slug, Tag.id != self.editing.id))
        if other is not None:
            self.clash = other
            field.errors.append(
                f"The tag “{other.name}” already has the address /tags/{self.new_slug}. "
                "To give this tag's posts that tag, merge the two below."
            )
            return False
        earlier = select(Tag).join(TagRedirect, TagRedirect.tag_id == Tag.id)
        other = db.session.scalar(earlier.where(TagRedirect.old_slug == self.new_slug, Tag.id != self.editing.id))
        if other is not None:
            self.clash = other
            field.errors.append(
                f"/tags/{self.new_slug} was an address of the tag “{other.name}”, and old links to it lead there. "
                "Please choose another, or merge the two below."
            )
            return False
        return True


class MergeForm(FlaskForm):
    """The tag to merge the one being edited into, by name (or address). Set ``editing`` to the tag."""

    editing: Tag
    target: Tag | None = None

    into = one_line_field(
        "Merge into the tag",
        clean=one_line,
        validators=[DataRequired("Please type the name of the tag to merge this one into.")],
        description="Its name, as listed under Tags. This tag's posts get that tag, this tag is deleted, and its "
        "address leads to the other.",
        render_kw={"list": "tag-names", "autocomplete": "off"},
    )

    def validate_into(self, field: Field) -> None:
        target = db.session.scalar(select(Tag).where(func.lower(Tag.name) == field.data.lower())) or db.session.scalar(
            select(Tag).where(Tag.slug.in_({field.data.lower(), slugify(field.data, TAG_SLUG_MAX)}))
        )
        if target is None:
            raise ValidationError(
                f"There is no tag “{field.data}” (or it was deleted a moment ago). Please type a listed tag's name."
            )
        if target.id == self.editing.id:
            raise ValidationError("A tag cannot be merged into itself: please type the name of another tag.")
        self.target = target


def require_admin() -> None:
    """:raise 403: unless the current user is an administrator."""
    if not current_user.is_admin:
        abort(403, description=ADMINS_ONLY)


def tag_or_404(tag_id: int) -> Tag:
    """Return the tag an administrator asked for.

    :raise 404: when there is no such tag (deleted, merged, or never there).
    """
    require_admin()
    return db.get_or_404(Tag, tag_id, description="There is no such tag. It may have been merged or deleted.")


def post_counts(tag_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Return, for each tag id, how many posts carry it: (published ones, all)."""
    query = (
        select(post_tags.c.tag_id, func.sum(case((Post.is_published, 1), else_=0)), func.count())
        .join(Post, Post.id == post_tags.c.post_id)
        .where(post_tags.c.tag_id.in_(tag_ids))
        .group_by(post_tags.c.tag_id)
    )
    return {tag_id: (int(published or 0), total) for tag_id, published, total in db.session.execute(query)}


@bp.get("")
def list_tags() -> str:
    """List every tag by name with how many posts carry it; administrators get the links that change them."""
    tags = paginate(select(Tag).order_by(func.lower(Tag.name), Tag.id), TAGS_PER_ADMIN_PAGE)
    counts = post_counts([tag.id for tag in tags.items])
    return render_template("admin/tags.html", tags=tags, counts=counts)


def render_tag_page(tag: Tag, form: TagForm | None = None, merge_form: MergeForm | None = None) -> str:
    """The tag's page: its form, the merge form (given the name of a clashing tag) and the way to delete it."""
    form = form or TagForm(data={"name": tag.name, "slug": tag.slug, "description": tag.description})
    if merge_form is None:
        merge_form = MergeForm(formdata=None, data={"into": form.clash.name if form.clash else ""})
    other_names = db.session.scalars(select(Tag.name).where(Tag.id != tag.id).order_by(func.lower(Tag.name)))
    published, total = post_counts([tag.id]).get(tag.id, (0, 0))
    return render_template(
        "admin/tag_form.html",
        tag=tag,
        form=form,
        merge_form=merge_form,
        other_names=list(other_names),
        published=published,
        total=total,
    )


@bp.route("/<int:tag_id>", methods=["GET", "POST"])
@checks_its_own_characters
def edit_tag(tag_id: int) -> ResponseReturnValue:
    """Rename a tag, change its address (the old one redirects) or its description."""
    tag = tag_or_404(tag_id)
    form = TagForm()
    form.editing = tag
    if not form.is_submitted():
        return render_tag_page(tag)
    if not form.validate():
        return render_tag_page(tag, form), 400
    old_name, old_slug, new_slug = tag.name, tag.slug, form.new_slug
    if new_slug != old_slug:
        db.session.execute(delete(TagRedirect).where(TagRedirect.old_slug == new_slug))  # its own, taken back
        db.session.add(TagRedirect(old_slug=old_slug, tag_id=tag.id))
    tag.name, tag.slug, tag.description = form.name.data, new_slug, form.description.data or ""
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        form.name.errors.append(TAKEN_MEANWHILE)
        return render_tag_page(db.get_or_404(Tag, tag_id), form), 400
    if tag.name != old_name:  # posts are found by their tags' names
        reindex_on(db.session.connection(), [post.id for post in tag.posts])
    db.session.commit()
    g.audit_detail = f"“{old_name}” (/tags/{old_slug}) → “{tag.name}” (/tags/{tag.slug})"
    flash(f"Saved the tag “{tag.name}”.", "success")
    return redirect(url_for("admin.tags.edit_tag", tag_id=tag.id), 303)


@bp.post("/<int:tag_id>/merge")
@checks_its_own_characters
def merge_tag(tag_id: int) -> ResponseReturnValue:
    """Give this tag's posts another tag (once each), delete this one and send its addresses to the other."""
    tag = tag_or_404(tag_id)
    form = MergeForm()
    form.editing = tag
    if not form.validate() or form.target is None:
        return render_tag_page(tag, merge_form=form), 400
    target = form.target
    posts = db.session.scalars(select(Post).where(Post.tags.any(Tag.id == tag.id)).options(selectinload(Post.tags)))
    post_ids = []
    for post in posts:
        post_ids.append(post.id)
        kept = [each for each in post.tags if each is not tag]
        post.tags = kept if target in kept else [*kept, target]  # a post that had both keeps one
    db.session.flush()
    db.session.expire(tag, ["posts"])
    db.session.execute(update(TagRedirect).where(TagRedirect.tag_id == tag.id).values(tag_id=target.id))
    db.session.add(TagRedirect(old_slug=tag.slug, tag_id=target.id))
    db.session.delete(tag)
    db.session.flush()
    reindex_on(db.session.connection(), post_ids)
    db.session.commit()
    g.audit_detail = f"“{tag.name}” (/tags/{tag.slug}) into “{target.name}” (/tags/{target.slug})"
    flash(f"Merged “{tag.name}” into “{target.name}”: {_posts(len(post_ids))} now have “{target.name}”.", "success")
    return redirect(url_for("admin.tags.edit_tag", tag_id=target.id), 303)


@bp.route("/<int:tag_id>/delete", methods=["GET", "POST"])
def delete_tag(tag_id: int) -> ResponseReturnValue:
    """Ask for confirmation, then delete a tag: its posts stay, without it, and its addresses stop working."""
    tag = tag_or_404(tag_id)
    published, total = post_counts([tag.id]).get(tag.id, (0, 0))
    if request.method == "GET":
        return render_template("admin/confirm_delete_tag.html", tag=tag, published=published, total=total)
    post_ids = [post.id for post in tag.posts]
    db.session.execute(delete(TagRedirect).where(TagRedirect.tag_id == tag.id))
    db.session.delete(tag)
    db.session.flush()
    reindex_on(db.session.connection(), post_ids)
    db.session.commit()
    g.audit_detail = f"“{tag.name}” (/tags/{tag.slug}), from {_posts(total)}"
    flash(f"Deleted the tag “{tag.name}”. {_posts(total, capital=True)} no longer have it.", "success")
    return redirect(url_for("admin.tags.list_tags"), 303)


def _posts(number: int, *, capital: bool = False) -> str:
    words = f"{number:,} post{'' if number == 1 else 's'}"
    return words if number or not capital else "No posts"
