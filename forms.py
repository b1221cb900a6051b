"""Forms: every field, limit and error message a person can meet, in one readable place."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask_wtf import FlaskForm
from wtforms import EmailField
from wtforms import Field
from wtforms import StringField
from wtforms import TextAreaField
from wtforms import URLField
from wtforms.validators import DataRequired
from wtforms.validators import Email
from wtforms.validators import Length
from wtforms.validators import Optional
from wtforms.validators import ValidationError

NAME_MAX = 80
EMAIL_MAX = 254
WEBSITE_MAX = 200
COMMENT_MAX = 5000


def strip_whitespace(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class CommentForm(FlaskForm):
    """A reader's comment. The honeypot ``homepage`` is hidden from people; bots fill it in."""

    name = StringField(
        "Name",
        filters=[strip_whitespace],
        validators=[
            DataRequired("Please enter your name."),
            Length(max=NAME_MAX, message=f"Your name can be at most {NAME_MAX} characters long."),
        ],
        render_kw={"autocomplete": "name", "maxlength": NAME_MAX},
    )
    email = EmailField(
        "Email (optional, never shown)",
        filters=[strip_whitespace],
        validators=[
            Optional(),
            Length(max=EMAIL_MAX, message=f"An email address can be at most {EMAIL_MAX} characters long."),
            Email("Please enter a valid email address, like name@example.com, or leave it empty."),
        ],
        render_kw={"autocomplete": "email", "maxlength": EMAIL_MAX},
    )
    website = URLField(
        "Website (optional)",
        filters=[strip_whitespace],
        validators=[
            Optional(),
            Length(max=WEBSITE_MAX, message=f"A website address can be at most {WEBSITE_MAX} characters long."),
        ],
        render_kw={"autocomplete": "url", "maxlength": WEBSITE_MAX, "placeholder": "https://"},
    )
    body = TextAreaField(
        "Comment",
        validators=[
            DataRequired("Please write a comment."),
            Length(max=COMMENT_MAX, message=f"A comment can be at most {COMMENT_MAX:,} characters long."),
        ],
        render_kw={"rows": 6, "maxlength": COMMENT_MAX},
        description="Markdown works: *emphasis*, **bold**, `code`, [links](https://example.com), > quotes and lists.",
    )
    homepage = StringField("Leave this field empty", render_kw={"tabindex": "-1", "autocomplete": "off"})

    def validate_website(self, field: Field) -> None:
        """Accept only web addresses: a ``javascript:`` or ``data:`` link must never reach a page."""
        parts = urlsplit(field.data)
        if parts.scheme.lower() not in {"http", "https"} or not parts.netloc or " " in field.data:
            raise ValidationError("Please enter a web address starting with http:// or https://, or leave it empty.")

    @property
    def is_probably_spam(self) -> bool:
        """Tell whether the hidden honeypot field was filled in, as only bots do."""
        return bool(self.homepage.data)
