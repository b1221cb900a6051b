"""Forms: every limit, the comment forms, and what all forms share (control characters, CSRF for cached
pages, signed timestamps). An account's forms are in account/forms.py; the post editor's form is in admin/post_form.py,
its limits here with the others."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from flask import abort
from flask import current_app
from flask import request
from flask_wtf import FlaskForm
from itsdangerous import BadSignature
from itsdangerous import SignatureExpired
from itsdangerous import TimestampSigner
from wtforms import BooleanField
from wtforms import EmailField
from wtforms import Field
from wtforms import HiddenField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms import URLField
from wtforms.csrf.core import CSRF
from wtforms.csrf.core import CSRFTokenField
from wtforms.validators import DataRequired
from wtforms.validators import Email
from wtforms.validators import Length
from wtforms.validators import Optional
from wtforms.validators import ValidationError

from database import db
from database import id_from
from markup import is_web_address
from markup import render_comment
from markup import text_of_rendered_comment
from models import Comment
from models import Post
from pagecache import fresh_token
from pagecache import token_kind
from safetext import NOT_IN_ONE_LINE
from safetext import NOT_IN_TEXT

COMMENT_CSRF_SALT = "inkwell-comment-csrf"
NAME_MAX = 80
EMAIL_MAX = 254
WEBSITE_MAX = 200
COMMENT_MAX = 5000
POST_MAX = 100_000  # about 15,000 words; rendering is linear in length, and this bounds it
TITLE_MAX = 200
SLUG_MAX = 200
EXCERPT_MAX = 500
TAG_MAX = 60
TAG_SLUG_MAX = 80
TAG_DESCRIPTION_MAX = 300
TAGS_PER_POST = 20
SLUG_PATTERN = re.compile(r"^[^\W_]+(?:-[^\W_]+)*$")  # letters and digits of any script, single hyphens


def strip_whitespace(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class ControlCharacters:
    """Keep control characters (a line break in a name, a NUL or U+000B anywhere) out of a field.

    Used twice on a field: ``remove`` as a filter, so the form shown again holds what was typed minus what
    cannot be shown, and the object itself as a validator, so the person is told why beside the field.
    """

    MESSAGE = (
        "This held invisible control characters (such as a line break or a NUL) that cannot be shown or stored. "
        "They are removed below: please check the text and send it again."
    )

    def __init__(self, *, keep_line_breaks: bool = False) -> None:
        self.pattern = NOT_IN_TEXT if keep_line_breaks else NOT_IN_ONE_LINE

    def remove(self, value: str | None) -> str | None:
        return self.pattern.sub("", value) if isinstance(value, str) else value

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if any(isinstance(raw, str) and self.pattern.search(raw) for raw in field.raw_data or []):
            raise ValidationError(self.MESSAGE)


ONE_LINE = ControlCharacters()
TEXT = ControlCharacters(keep_line_breaks=True)


def one_line_field(
    label: str,
    *,
    field: type[Field] = StringField,
    clean: Callable[[Any], Any] | None = strip_whitespace,
    validators: Sequence[Any] = (),
    **kwargs: Any,
) -> Any:
    """Declare a form field of one line: control characters (a line break, a NUL) are refused beside it and taken
    out of what is shown again, then ``clean`` tidies the rest (the spaces around it, unless told otherwise)."""
    return _field_refusing(ONE_LINE, field, label, clean, validators, kwargs)


def text_field(
    label: str,
    *,
    field: type[Field] = TextAreaField,
    clean: Callable[[Any], Any] | None = strip_whitespace,
    validators: Sequence[Any] = (),
    **kwargs: Any,
) -> Any:
    """Declare a form field of several lines, as ``one_line_field`` does, where line breaks and tabs are kept."""
    return _field_refusing(TEXT, field, label, clean, validators, kwargs)


def _field_refusing(
    characters: ControlCharacters,
    field: type[Field],
    label: str,
    clean: Callable[[Any], Any] | None,
    validators: Sequence[Any],
    kwargs: dict[str, Any],
) -> Any:
    filters = [characters.remove, *([clean] if clean else [])]
    return field(label, filters=filters, validators=[characters, *validators], **kwargs)


def checks_its_own_characters(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view whose form refuses control characters beside each field, keeping the text: the NUL check
    below then leaves its form alone rather than answering a bare 400 that loses what was typed."""
    view.checks_its_own_characters = True  # type: ignore[attr-defined]
    return view


def is_cross_site_request() -> bool:
    """Tell whether the browser says this request came from another site.

    Browsers send ``Sec-Fetch-Site`` and ``Origin`` with every form POST; a request with neither did not
    come from a browser, so it cannot ride on a visitor's cookies.
    """
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    allowed = {request.host_url.rstrip("/"), current_app.config["SITE_URL"].rstrip("/")}
    return origin not in allowed


def refuse_nul_characters(*, multipart_too: bool = False) -> None:
    """Refuse a request whose address or form holds a NUL character: no page or field has a use for one, and
    PostgreSQL cannot store it (it would be a 500 rather than a clear 400).

    A multipart form (the post editor, with its image) is only read once the admin area has raised the size
    limit: admin/dashboard.py calls this again with ``multipart_too``.

    :raise 400: naming the problem.
    """
    values = [request.path, *request.args.values(), *request.cookies.values()]
    view = current_app.view_functions.get(request.endpoint or "")
    form_checked_by_view = getattr(view, "checks_its_own_characters", False)
    has_form = request.method not in ("GET", "HEAD")  # a form sent with a GET is in its address, checked above
    if has_form and not form_checked_by_view and (multipart_too or request.mimetype != "multipart/form-data"):
        values += request.form.values()
    if any("\x00" in value for value in values):
        abort(400, description="That request held a character that no address or form field may contain.")


def stamp_form_shown(secret_key: str, salt: str) -> str:
    """Return a signed timestamp saying that a form was shown now; ``salt`` names the kind of stamp."""
    return _form_signer(secret_key, salt).sign("comment-form").decode()


def form_shown_at(stamp: str, salt: str, max_age: int) -> datetime:
    """Return when the form carrying ``stamp`` (from :func:`stamp_form_shown`) was shown.

    :raise SignatureExpired: when that was more than ``max_age`` seconds ago.
    :raise BadSignature: when the stamp is missing, forged, or of another kind.
    """
    _, signed_at = _form_signer(current_app.secret_key, salt).unsign(stamp, max_age=max_age, return_timestamp=True)
    return signed_at


@lru_cache(maxsize=16)
def _form_signer(secret_key: str, salt: str) -> TimestampSigner:
    """A form stamp's signer, made once for each key and kind (a signer keeps nothing of what it signs)."""
    return TimestampSigner(secret_key, salt=salt)


@token_kind("comment-csrf")
def comment_form_token(secret_key: str) -> str:
    """Return a signed, timestamped token that the comment form came from this site."""
    return stamp_form_shown(secret_key, COMMENT_CSRF_SALT)


class TokenIssuedWhenShown(CSRFTokenField):
    """The form's token field, which issues a token only when the form is shown: an accepted comment is answered
    with a redirect, and signing a token it never shows was a few percent of its cost."""

    def process(self, *args: Any, **kwargs: Any) -> None:
        HiddenField.process(self, *args, **kwargs)  # not CSRFTokenField's, which issues the token here

    def _value(self) -> str:
        if self.current_token is None:
            self.current_token = self.csrf_impl.generate_csrf_token(self)
        return self.current_token


class CommentFormCSRF(CSRF):
    """CSRF protection for the comment form that works on pages served from the shared page cache.

    The token is not tied to a session, so readers get no cookie for reading and a cached page can be
    shared; each reader still gets a fresh token (see pagecache.fresh_token). What stops a forged
    cross-site post is the browser's own ``Sec-Fetch-Site``/``Origin`` headers, checked on every post,
    as well as the token's signature and age.
    """

    field_class = TokenIssuedWhenShown

    def generate_csrf_token(self, csrf_token_field: Field) -> str:
        return fresh_token("comment-csrf")

    def validate_csrf_token(self, form: FlaskForm, field: Field) -> None:
        if is_cross_site_request():
            raise ValidationError("This form was sent from another site.")
        try:
            form_shown_at(field.data or "", COMMENT_CSRF_SALT, current_app.config["WTF_CSRF_TIME_LIMIT"])
        except SignatureExpired:
            raise ValidationError("The CSRF token has expired.") from None
        except BadSignature:
            raise ValidationError("The CSRF token is missing or invalid.") from None


class CommentForm(FlaskForm):
    """A reader's comment. The honeypot ``homepage`` is hidden from people; bots fill it in.

    Set ``post`` to the post being commented on, for the reply check. ``started`` carries the signed time
    the form was shown, for the minimum fill time.
    """

    class Meta:
        csrf_class = CommentFormCSRF

    post: Post | None = None

    name = one_line_field(
        "Name",
        validators=[
            DataRequired("Please enter your name."),
            Length(max=NAME_MAX, message=f"Your name can be at most {NAME_MAX} characters long."),
        ],
        render_kw={"autocomplete": "name", "maxlength": NAME_MAX},
    )
    email = one_line_field(
        "Email (optional, never shown)",
        field=EmailField,
        validators=[
            Optional(),
            Length(max=EMAIL_MAX, message=f"An email address can be at most {EMAIL_MAX} characters long."),
            Email("Please enter a valid email address, like name@example.com, or leave it empty."),
        ],
        render_kw={"autocomplete": "email", "maxlength": EMAIL_MAX},
    )
    website = one_line_field(
        "Website (optional)",
        field=URLField,
        validators=[
            Optional(),
            Length(max=WEBSITE_MAX, message=f"A website address can be at most {WEBSITE_MAX} characters long."),
        ],
        render_kw={"autocomplete": "url", "maxlength": WEBSITE_MAX, "placeholder": "https://"},
    )
    body = text_field(
        "Comment",
        clean=None,
        validators=[
            DataRequired("Please write a comment."),
            Length(max=COMMENT_MAX, message=f"A comment can be at most {COMMENT_MAX:,} characters long."),
        ],
        render_kw={"rows": 6, "maxlength": COMMENT_MAX},
        description="Markdown works: *emphasis*, **bold**, `code`, [links](https://example.com), > quotes and lists.",
    )
    homepage = StringField("Leave this field empty", render_kw={"tabindex": "-1", "autocomplete": "off"})
    parent_id = HiddenField()
    started = HiddenField()
    remember = BooleanField("Remember my name, email and website on this device")
    notify_replies = BooleanField("Email me when someone replies to this comment")
    notify_approval = BooleanField("Email me when this comment is approved")

    def validate_body(self, field: Field) -> None:
        """Refuse a comment that shows nothing once sanitized (only markup, or invisible characters).

        Runs only on a body that passed the cheap checks: one over the length limit is never rendered.
        """
        if field.errors:
            return
        text = text_of_rendered_comment(render_comment(field.data or ""))
        visible = "".join(c for c in text if unicodedata.category(c) != "Cf")
        if field.data and not visible:
            raise ValidationError("Your comment is empty: formatting alone does not show. Please write some words.")

    def validate_parent_id(self, field: Field) -> None:
        """Accept a reply only to a published comment on the same post (not one in the trash)."""
        if not field.data:
            return
        parent_id = id_from(field.data)
        parent = db.session.get(Comment, parent_id) if parent_id else None
        if parent is None or self.post is None or parent.post_id != self.post.id or not parent.is_visible_to(None):
            raise ValidationError(
                "The comment you are replying to does not exist here or is not published. "
                "Your comment is kept below; you can post it as a new comment instead."
            )

    def validate_notify_replies(self, field: Field) -> None:
        if field.data and not self.email.data:
            raise ValidationError("Please enter your email address, so we know where to send notifications.")

    validate_notify_approval = validate_notify_replies

    def validate_website(self, field: Field) -> None:
        """Accept only web addresses: a ``javascript:`` or ``data:`` link must never reach a page."""
        if not is_web_address(field.data):
            raise ValidationError("Please enter a web address starting with http:// or https://, or leave it empty.")

    @property
    def is_probably_spam(self) -> bool:
        """Tell whether the hidden honeypot field was filled in, as only bots do."""
        return bool(self.homepage.data)


class OwnCommentDeleteForm(FlaskForm):
    """A commenter takes back their comment: its token is the comment form's, so that the button can sit in a page
    every reader shares (personal.py), and it sets no session cookie."""

    class Meta:
        csrf_class = CommentFormCSRF


class CommentEditForm(FlaskForm):
    """The owner corrects a comment's text; it is sanitized exactly like a reader's."""

    body = text_field(
        "Comment",
        clean=None,
        validators=[
            DataRequired("A comment cannot be empty; mark it as spam or delete it instead."),
            Length(max=COMMENT_MAX, message=f"A comment can be at most {COMMENT_MAX:,} characters long."),
        ],
        render_kw={"rows": 8},
    )
