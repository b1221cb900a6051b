"""/admin/settings: the blog's title, description, author, language, footer and comment policy, changed by an
administrator and used at once by every worker and server (stored_settings.py keeps them).

Its blueprint is nested in the admin one (see dashboard.py), whose hooks it shares: login required, the NUL check,
the audit log (one entry for each setting changed, with its old and new value), the nav counts.
"""

from __future__ import annotations

import unicodedata
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
from wtforms import Field
from wtforms import HiddenField
from wtforms import IntegerField
from wtforms import SelectField
from wtforms import TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired
from wtforms.validators import InputRequired
from wtforms.validators import Length
from wtforms.validators import NumberRange
from wtforms.validators import ValidationError

from extensions import csrf
from forms import checks_its_own_characters
from forms import one_line_field
from forms import text_field
from localtime import format_stamp
from markup import is_web_address
from settings import EDITABLE_SETTINGS
from settings import ModerationPolicy
from settings import is_language_tag
from settings import is_time_zone
from stored_settings import Change
from stored_settings import ChangedMeanwhile
from stored_settings import SettingsConflict
from stored_settings import current_settings
from stored_settings import save_settings
from stored_settings import settings_version

bp = Blueprint("site_settings", __name__, url_prefix="/settings")

BLOG_TITLE_MAX = 100
DESCRIPTION_MAX = 300
AUTHOR_MAX = 100
BIO_MAX = 500
FOOTER_MAX = 500
CLOSE_AFTER_DAYS_MAX = 36_500  # a hundred years
EDIT_MINUTES_MAX = 1440  # a day
POSTS_PER_PAGE_MAX = 100  # as settings.validate_config allows
AUDIT_VALUE_MAX = 120  # each of a change's two values in the audit log, whose detail holds 300 characters

LABELS = {
    "BLOG_TITLE": "Blog title",
    "BLOG_DESCRIPTION": "Description",
    "BLOG_AUTHOR": "Author's name",
    "BLOG_AUTHOR_BIO": "About the author",
    "BLOG_LANGUAGE": "Language",
    "BLOG_TIMEZONE": "Time zone",
    "BLOG_FOOTER": "Footer text",
    "COMMENT_MODERATION": "Which comments wait for approval",
    "COMMENTS_CLOSE_AFTER_DAYS": "Close comments on posts older than (days)",
    "COMMENT_EDIT_MINUTES": "Commenters may edit or delete their comment for (minutes)",
    "POSTS_PER_PAGE": "Posts per page",
    "BLOG_MENU": "Menu",
}
MODERATION_CHOICES = [
    SelectChoice(ModerationPolicy.first_time.value, "A first-time commenter's comments, until one is approved"),
    SelectChoice(ModerationPolicy.all.value, "Every comment"),
    SelectChoice(ModerationPolicy.off.value, "None: every comment appears at once"),
]
SAVED = "Settings saved. Every page shows them now."
NOTHING_CHANGED = "Nothing to save: the settings are as they were."
CONFLICT = (
    "Nothing was saved: another administrator saved the settings after you opened this page. Their values are "
    "shown under the fields they changed; what you typed is kept in the form. Save again to keep what is in the form."
)
MENU_ITEMS_MAX = 12
MENU_LABEL_MAX = 40
MENU_URL_MAX = 300
MENU_SEPARATOR = "|"
FORM_EXPIRED = "This form expired before it was sent, so nothing was saved. What you typed is kept: press “Save” again."


class WholeNumberField(IntegerField):
    """A whole number whose one message is its validators' sentence, not WTForms' own "Not a valid integer value"."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None  # NumberRange then says what is wanted; the typed text is shown again as it was


def whole_number(low: int, high: int, unit: str) -> list[Any]:
    """Validators for a whole number from ``low`` to ``high``, with one sentence for every way to miss."""
    message = f"Please enter a whole number of {unit} from {low:,} to {high:,}."
    return [InputRequired(message), NumberRange(min=low, max=high, message=message)]


def menu_as_text(menu: list[dict[str, str]]) -> str:
    """The menu as the settings page shows it: one “Label | /address” a line."""
    return "\n".join(f"{item['label']} {MENU_SEPARATOR} {item['url']}" for item in menu)


def menu_from_text(text: str) -> list[dict[str, str]]:
    """Read the menu typed on the settings page, one “Label | /address” a line (empty lines are skipped).

    :raise ValueError: with a sentence naming the first line that is not right.
    """
    menu = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        label, separator, url = (part.strip() for part in line.rpartition(MENU_SEPARATOR))
        where = f"Line {number} (“{line.strip()[:60]}”)"
        if not separator or not label or not url:
            raise ValueError(f"{where}: please write a label, then |, then the address, like: About | /pages/about")
        if len(label) > MENU_LABEL_MAX:
            raise ValueError(f"{where}: a label can be at most {MENU_LABEL_MAX} characters long.")
        if len(url) > MENU_URL_MAX or not is_menu_address(url):
            raise ValueError(
                f"{where}: the address must be a path on this blog, like /pages/about or /tags/travel, or a web "
                "address starting with https:// or http://."
            )
        menu.append({"label": label, "url": url})
    if len(menu) > MENU_ITEMS_MAX:
        raise ValueError(f"The menu can have at most {MENU_ITEMS_MAX} links; this one has {len(menu)}.")
    return menu


def is_menu_address(url: str) -> bool:
    """Tell whether a menu may link to ``url``: a path on this blog (``/pages/about``, not ``//elsewhere``) or an
    http(s) address. ``javascript:``, ``data:`` and every other scheme are refused, as are spaces and backslashes,
    which browsers read otherwise than Python does."""
    if url.startswith("/"):
        return not url.startswith("//") and not any(
            char.isspace() or char == "\\" or unicodedata.category(char) == "Cc" for char in url
        )
    return is_web_address(url)


class MenuField(TextAreaField):
    """The menu: a list of links in the settings, one “Label | /address” a line in the form."""

    def process_data(self, value: Any) -> None:
        self.data = menu_as_text(value) if isinstance(value, list) else value


class SettingsForm(FlaskForm):
    """The editable settings, each field named after its setting in lower case (``blog_title``: BLOG_TITLE)."""

    version = HiddenField()  # stored_settings.settings_version() when the form was shown
    blog_title = one_line_field(
        LABELS["BLOG_TITLE"],
        validators=[
            DataRequired("Please give the blog a title."),
            Length(max=BLOG_TITLE_MAX, message=f"The title can be at most {BLOG_TITLE_MAX} characters long."),
        ],
    )
    blog_description = one_line_field(
        LABELS["BLOG_DESCRIPTION"],
        validators=[
            Length(max=DESCRIPTION_MAX, message=f"The description can be at most {DESCRIPTION_MAX} characters long."),
        ],
        description="One sentence under the title, and what search engines show about the blog.",
    )
    blog_author = one_line_field(
        LABELS["BLOG_AUTHOR"],
        validators=[
            Length(max=AUTHOR_MAX, message=f"The name can be at most {AUTHOR_MAX} characters long."),
        ],
        description="Shown at the foot of every page, and named as the author in the feeds where a post has no "
        "author of its own. Leave empty to name the blog instead.",
    )
    blog_author_bio = text_field(
        LABELS["BLOG_AUTHOR_BIO"],
        validators=[Length(max=BIO_MAX, message=f"This can be at most {BIO_MAX} characters long.")],
        description="Plain text, a sentence or two, shown with the author's name at the foot of every page.",
        render_kw={"rows": 3},
    )
    blog_language = one_line_field(
        LABELS["BLOG_LANGUAGE"],
        validators=[DataRequired("Please give the language the blog is written in, like en.")],
        description="The language the posts are written in, as a language tag: en, de, fr, pt-BR, zh-Hant. "
        "Browsers, screen readers and feed readers use it.",
        render_kw={"maxlength": 35, "autocapitalize": "none", "spellcheck": "false"},
    )
    blog_timezone = one_line_field(
        LABELS["BLOG_TIMEZONE"],
        validators=[DataRequired("Please give the blog's time zone, like UTC or Europe/Zurich.")],
        description="The time zone of every date and time on the blog and in the admin area, as a name from the "
        "time zone database: UTC, Europe/Zurich, America/New_York, Asia/Tokyo. Times already saved keep their moment.",
        render_kw={"maxlength": 64, "autocapitalize": "none", "spellcheck": "false"},
    )
    blog_footer = text_field(
        LABELS["BLOG_FOOTER"],
        validators=[Length(max=FOOTER_MAX, message=f"The footer can be at most {FOOTER_MAX} characters long.")],
        description="Plain text at the foot of every page, such as a copyright or licence line.",
        render_kw={"rows": 2},
    )
    comment_moderation = SelectField(LABELS["COMMENT_MODERATION"], choices=MODERATION_CHOICES)
    comments_close_after_days = WholeNumberField(
        LABELS["COMMENTS_CLOSE_AFTER_DAYS"],
        validators=whole_number(0, CLOSE_AFTER_DAYS_MAX, "days"),
        description="0 keeps comments open on every post whatever its age. A post's own form can close it sooner.",
        render_kw={"inputmode": "numeric"},
    )
    comment_edit_minutes = WholeNumberField(
        LABELS["COMMENT_EDIT_MINUTES"],
        validators=whole_number(0, EDIT_MINUTES_MAX, "minutes"),
        description="Only from the browser that posted it. 0: a comment cannot be changed once posted.",
        render_kw={"inputmode": "numeric"},
    )
    posts_per_page = WholeNumberField(
        LABELS["POSTS_PER_PAGE"],
        validators=whole_number(1, POSTS_PER_PAGE_MAX, "posts"),
        description="On the home page, a tag's page and each month of the archive.",
        render_kw={"inputmode": "numeric"},
    )

    blog_menu = text_field(
        LABELS["BLOG_MENU"],
        field=MenuField,
        clean=None,
        description="The links at the top of every page, in order, one a line: a label, then |, then the address. "
        "A page: About | /pages/about. A tag: Travel | /tags/travel. Or any web address: Code | https://example.com",
        render_kw={"rows": 6, "spellcheck": "false"},
    )

    def validate_blog_menu(self, field: Field) -> None:
        try:
            menu_from_text(field.data or "")
        except ValueError as error:
            raise ValidationError(str(error)) from None

    def validate_blog_language(self, field: Field) -> None:
        if field.data and not is_language_tag(field.data):
            raise ValidationError(
                "Please enter a language tag, like en, de, pt-BR or zh-Hant: letters and hyphens, no spaces."
            )

    def validate_blog_timezone(self, field: Field) -> None:
        if field.data and not is_time_zone(field.data):
            raise ValidationError(
                "Please enter a time zone's name as the time zone database spells it, like Europe/Zurich, "
                "America/New_York or UTC (a city in the zone, with its continent)."
            )

    def values(self) -> dict[str, Any]:
        """The typed settings, by setting name."""
        values = {key: self[key.lower()].data for key in EDITABLE_SETTINGS}
        return values | {"BLOG_MENU": menu_from_text(values["BLOG_MENU"] or "")}


def _admins_only() -> None:
    """:raise 403: unless the current user is an administrator."""
    if not current_user.is_admin:
        abort(403, description="Only administrators can change the blog's settings.")


@bp.route("", methods=["GET", "POST"])
@checks_its_own_characters
@csrf.exempt  # not unprotected: SettingsForm checks its token itself, so an expired one keeps what was typed
def edit_settings() -> ResponseReturnValue:
    """Show the settings, or save the ones changed; a save that came second is shown both values, not lost."""
    _admins_only()
    if request.method == "GET":
        shown = {key.lower(): value for key, value in current_settings().items()}
        form = SettingsForm(formdata=None, data=shown | {"version": settings_version()})
        return render_template("admin/settings.html", form=form)
    form = SettingsForm()
    if not form.validate():
        notice = FORM_EXPIRED if form.csrf_token.errors else None
        return render_template("admin/settings.html", form=form, notice=notice), 400
    try:
        changes = save_settings(form.values(), current_user, form.version.data or "")
    except SettingsConflict as conflict:
        form.version.data = conflict.version
        meanwhile = {change.key.lower(): _meanwhile_note(change) for change in conflict.changed}
        return render_template("admin/settings.html", form=form, notice=CONFLICT, meanwhile=meanwhile), 409
    g.audit_details = [_audit_detail(change) for change in changes] or ["Nothing changed"]
    flash(SAVED if changes else NOTHING_CHANGED, "success" if changes else "info")
    return redirect(url_for("admin.site_settings.edit_settings"), 303)


def _meanwhile_note(change: ChangedMeanwhile) -> str:
    """“Saved meanwhile by Ada at 2026-11-24 14:02 CET: “The new title””, shown under the field."""
    if isinstance(change.value, list):  # the menu
        value: Any = menu_as_text(change.value).replace("\n", "; ")
    else:
        value = dict((choice.value, choice.label) for choice in MODERATION_CHOICES).get(change.value, change.value)
    shown = f"“{value}”" if isinstance(value, str) and value else ("empty" if value == "" else str(value))
    return f"Saved meanwhile by {change.by} at {format_stamp(change.at)}: {shown}"


def _audit_detail(change: Change) -> str:
    """“Blog title: “Old” → “New””, each value cut to fit the audit log."""
    return f"{LABELS[change.key]}: {_shown(change.old)} → {_shown(change.new)}"


def _shown(value: Any) -> str:
    if isinstance(value, list):  # the menu
        value = menu_as_text(value).replace("\n", "; ")
    if not isinstance(value, str):
        return str(value)
    return f"“{value[:AUDIT_VALUE_MAX]}…”" if len(value) > AUDIT_VALUE_MAX else f"“{value}”"
