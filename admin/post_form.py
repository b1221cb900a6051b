"""The post form: every field an author fills in, with its limits and checks (the slug's rules, the tags, the
publish date typed on the blog's clocks). editor.py shows it, previews it and saves it.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from wtforms import BooleanField
from wtforms import DateTimeLocalField
from wtforms import Field
from wtforms import HiddenField
from wtforms import SelectField
from wtforms import StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf
from wtforms.validators import DataRequired
from wtforms.validators import Length
from wtforms.validators import Optional
from wtforms.validators import ValidationError

from admin.tables import ALT_MAX
from database import db
from forms import EXCERPT_MAX
from forms import POST_MAX
from forms import SLUG_MAX
from forms import SLUG_PATTERN
from forms import TAG_MAX
from forms import TAGS_PER_POST
from forms import TITLE_MAX
from forms import one_line_field
from forms import strip_whitespace
from forms import text_field
from localtime import from_local
from models import BodyFormat
from models import Post
from models import PostStatus
from slugs import SlugRedirect

# Nested in the admin blueprint (see dashboard.py), whose hooks it shares: login required, the request size an image
# needs, the audit log, the nav counts.

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


class PostForm(FlaskForm):
    """A post as the author writes it. Set ``editing`` to the post being edited, for the slug check."""

    editing: Post | None = None

    title = one_line_field(
        "Title",
        validators=[
            DataRequired("Please give the post a title."),
            Length(max=TITLE_MAX, message=f"A title can be at most {TITLE_MAX} characters long."),
        ],
    )
    slug = StringField(
        "Address (slug)",
        filters=[strip_whitespace],
        validators=[
            Optional(),
            Length(max=SLUG_MAX, message=f"A slug can be at most {SLUG_MAX} characters long."),
        ],
        description="The end of the post's address, /posts/<slug>. Leave empty to make one from the title.",
    )
    format = HiddenField(validators=[Optional(), AnyOf(list(BodyFormat))])  # none sent: the post's stays
    based_on = HiddenField()  # the post's newest version when the form was shown: a later one means a conflict
    body = text_field(
        "Text (Markdown)",
        clean=None,
        validators=[
            Length(
                max=POST_MAX,
                message=f"A post can be at most {POST_MAX:,} characters long. Please split it into two posts.",
            ),
        ],
        render_kw={"rows": 18},
    )
    excerpt = text_field(
        "Excerpt (optional)",
        validators=[Length(max=EXCERPT_MAX, message=f"An excerpt can be at most {EXCERPT_MAX} characters long.")],
        description="Shown in lists of posts and search results. Leave empty to use the start of the text.",
        render_kw={"rows": 3},
    )
    tags = one_line_field(
        "Tags",
        description="Separated by commas, for example: travel, notes. New tags are created as needed.",
    )
    status = SelectField(
        "Status",
        choices=[
            SelectChoice(PostStatus.draft.value, "Draft (only authors see it)"),
            SelectChoice(PostStatus.published.value, "Published"),
        ],
        default=PostStatus.draft.value,
    )
    published_at = DateTimeLocalField(
        "Publish date",  # the blog's time zone is named beside it when the form is shown (render_post_form)
        format=DATETIME_FORMATS,
        validators=[Optional()],
    )
    comments_open = BooleanField("Readers may comment", default=True)
    is_page = BooleanField(
        "This is a page",
        description="Like About or Contact: at /pages/<slug>, without date or comments, and not on the home page, "
        "in the feeds, the archive, tags or search. Add it to the menu in Settings.",
    )
    # An image to add to the end of the text ("Insert image"), new or from the media library (admin/media.py).
    image = FileField("Upload a new image", description="PNG, JPEG, GIF or WebP.")
    image_pick = SelectField(
        "Or choose one from the media library", choices=[SelectChoice("", "None")], validate_choice=False
    )
    image_alt = one_line_field(
        "Describe the image (alt text)",
        validators=[Length(max=ALT_MAX, message=f"A description can be at most {ALT_MAX} characters long.")],
        description="What someone who cannot see it should know, like: Boats in the harbour at dawn. "
        "For an image from the library, leave empty to use its description there.",
    )
    image_decorative = BooleanField("Decorative: it adds nothing to the text, so it needs no description")
    # The post's feature image (responsive.feature_image), new or from the media library, described there.
    feature_file = FileField(
        "Upload a new feature image",
        description="PNG, JPEG, GIF or WebP. Shown at the top of the post, on its card and where it is shared.",
    )
    feature_image = SelectField(
        "Or choose the feature image from the media library", choices=[SelectChoice("", "None")], validate_choice=False
    )
    feature_alt = one_line_field(
        "Describe the feature image (alt text)",
        validators=[Length(max=ALT_MAX, message=f"A description can be at most {ALT_MAX} characters long.")],
        description="Leave empty to use its description in the media library; what you type here becomes it.",
    )

    def validate_slug(self, field: Field) -> None:
        """Refuse slugs that would not make a clean address, or that another post has or had.

        A post may take back one of its own old addresses; an old address of another post stays that post's, so
        links to it (shared, bookmarked, in search engines) never start to lead somewhere else.
        """
        if not field.data:
            return
        field.data = field.data.lower()
        if not SLUG_PATTERN.match(field.data):
            raise ValidationError(
                "Use only letters, numbers and single hyphens (no spaces, slashes or other signs), like my-first-post."
            )
        query = select(Post).where(Post.slug == field.data)
        if self.editing is not None:
            query = query.where(Post.id != self.editing.id)
        other = db.session.scalar(query)
        if other is not None and other.is_trashed:
            raise ValidationError(
                f"The post “{other.title}”, in the trash, keeps this address to come back to; please choose another, "
                "or delete that post forever first."
            )
        if other is not None:
            raise ValidationError(f"The post “{other.title}” already has this address; please choose another.")
        earlier = select(Post).join(SlugRedirect, SlugRedirect.post_id == Post.id)
        earlier = earlier.where(SlugRedirect.old_slug == field.data)
        if self.editing is not None:
            earlier = earlier.where(Post.id != self.editing.id)
        other = db.session.scalar(earlier)
        if other is not None:
            raise ValidationError(
                f"This was the address of the post “{other.title}”, and old links to it still lead there; "
                "please choose another."
            )

    def validate_published_at(self, field: Field) -> None:
        if field.raw_data and field.raw_data[0].strip() and field.data is None:
            field.errors.clear()  # replace WTForms' terse "Not a valid datetime value."
            raise ValidationError("Please enter the date and time like 2026-11-24 18:30, or leave it empty.")
        typed = from_local(field.data) if field.data is not None else None
        if typed is not None and typed.moment is None:  # a time the clocks skip that night
            raise ValidationError(typed.note)

    def validate_tags(self, field: Field) -> None:
        names = self.tag_names
        if len(names) > TAGS_PER_POST:
            raise ValidationError(f"A post can have at most {TAGS_PER_POST} tags.")
        too_long = [name for name in names if len(name) > TAG_MAX]
        if too_long:
            raise ValidationError(f"A tag can be at most {TAG_MAX} characters long: “{too_long[0][:TAG_MAX]}…”.")

    @property
    def tag_names(self) -> list[str]:
        """Return the typed tags: trimmed, empty ones dropped, duplicates (ignoring case) once."""
        names: dict[str, str] = {}
        for name in (self.tags.data or "").split(","):
            name = " ".join(name.split())
            if name:
                names.setdefault(name.casefold(), name)
        return list(names.values())
