"""Who is commenting: signed, HttpOnly cookies that recognise a commenter's browser, remember their
details, and let them change their own comment for a while; never the name or email anyone can type.
Also whether the owner approved a commenter before, and their comments found by email address, for
their requests about their data.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
from datetime import timedelta

from flask import Response
from flask import current_app
from flask import request
from itsdangerous import BadSignature
from itsdangerous import TimestampSigner
from itsdangerous import URLSafeSerializer
from sqlalchemy import func
from sqlalchemy import select

from database import db
from database import now_utc
from forms import CommentForm
from models import Comment
from models import CommentStatus

COMMENTER_COOKIE = "inkwell_commenter"
DETAILS_COOKIE = "inkwell_details"
EDIT_COOKIE_PREFIX = "inkwell_edit_"
ONE_YEAR = 365 * 24 * 3600
REMEMBERED_FIELDS = ("name", "email", "website")


def _commenter_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="inkwell-commenter")


def commenter_key_from_cookie() -> str | None:
    """Return the commenter key from the signed cookie, or ``None`` when absent or tampered with."""
    cookie = request.cookies.get(COMMENTER_COOKIE)
    if not cookie:
        return None
    try:
        key = _commenter_serializer().loads(cookie)
    except BadSignature:
        return None
    return key if isinstance(key, str) else None


def _set_private_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, secure=request.is_secure, samesite="Lax")


def remember_commenter(response: Response, key: str) -> None:
    """Set the signed, HttpOnly cookie that lets this browser be recognised as the same commenter."""
    _set_private_cookie(response, COMMENTER_COOKIE, _commenter_serializer().dumps(key), ONE_YEAR)


def _details_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="inkwell-commenter-details")


def remembered_details() -> dict[str, str]:
    """Return the name, email and website this browser asked to remember (never the comment text)."""
    try:
        details = _details_serializer().loads(request.cookies.get(DETAILS_COOKIE, ""))
    except BadSignature:
        return {}
    if not isinstance(details, dict):
        return {}
    return {field: str(details[field]) for field in REMEMBERED_FIELDS if details.get(field)}


def update_remembered_details(response: Response, form: CommentForm) -> None:
    """Remember the commenter's details when "Remember me" is ticked, forget them when it is not."""
    if form.remember.data:
        details = {field: getattr(form, field).data or "" for field in REMEMBERED_FIELDS}
        _set_private_cookie(response, DETAILS_COOKIE, _details_serializer().dumps(details), ONE_YEAR)
    elif DETAILS_COOKIE in request.cookies:
        response.delete_cookie(DETAILS_COOKIE)


def _edit_window() -> timedelta:
    return timedelta(minutes=current_app.config["COMMENT_EDIT_MINUTES"])


def _edit_signer() -> TimestampSigner:
    return TimestampSigner(current_app.secret_key, salt="inkwell-comment-edit")


def grant_edit(response: Response, comment: Comment) -> None:
    """Give this browser a signed cookie that lets it change ``comment`` during the edit window."""
    seconds = int(_edit_window().total_seconds())
    if seconds > 0:
        token = _edit_signer().sign(str(comment.id)).decode()
        _set_private_cookie(response, f"{EDIT_COOKIE_PREFIX}{comment.id}", token, seconds)


def may_edit(comment: Comment) -> bool:
    """Tell whether this browser holds a valid, unexpired edit cookie for ``comment``."""
    window = _edit_window()
    if now_utc() - comment.created_at > window:
        return False
    token = request.cookies.get(f"{EDIT_COOKIE_PREFIX}{comment.id}", "")
    try:
        return _edit_signer().unsign(token, max_age=window.total_seconds()).decode() == str(comment.id)
    except BadSignature:
        return False


def edit_minutes_left(comment: Comment) -> int:
    """Return the minutes left to change ``comment``, counted up (a change is still accepted in the last one)."""
    seconds = (comment.created_at + _edit_window() - now_utc()).total_seconds()
    return max(0, math.ceil(seconds / 60))


def editable_ids(comments: list[Comment]) -> set[int]:
    """Return the ids of the comments this browser may still change (only those it holds a cookie for)."""
    held = {name.removeprefix(EDIT_COOKIE_PREFIX) for name in request.cookies if name.startswith(EDIT_COOKIE_PREFIX)}
    return {comment.id for comment in comments if str(comment.id) in held and may_edit(comment)}


def holds_edit_cookies() -> bool:
    """Tell whether this browser holds any edit cookie (valid or not: checking costs the comments' rows)."""
    return any(name.startswith(EDIT_COOKIE_PREFIX) for name in request.cookies)


def has_held_comments(post_id: int, commenter_key: str | None) -> bool:
    """Tell whether this commenter has comments on the post that only they see (held for moderation): the part
    of ``Comment.is_visible_to`` that is theirs alone, by the commenter's index."""
    if not commenter_key:
        return False
    query = select(Comment.id).where(
        Comment.commenter_key == commenter_key,
        Comment.status == CommentStatus.pending,
        Comment.post_id == post_id,
        Comment.trashed_at.is_(None),
    )
    return db.session.scalar(query.limit(1)) is not None


def client_ip_hash() -> str:
    """Return a keyed hash of the client's network (/24 for IPv4, /48 for IPv6).

    Enough to spot abuse from one place; useless for identifying anyone.
    """
    address = request.remote_addr or ""
    try:
        prefix = 24 if ipaddress.ip_address(address).version == 4 else 48
        network = str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
    except ValueError:
        network = address
    return hmac.new(current_app.secret_key.encode(), network.encode(), hashlib.sha256).hexdigest()[:32]


def is_known_commenter(commenter_key: str | None, *, besides: int | None = None) -> bool:
    """Tell whether the owner has approved a comment from this commenter before (other than ``besides``).

    The commenter is the browser's signed key, never a name or email anyone can type.
    """
    if not commenter_key:
        return False
    query = select(Comment.id).where(Comment.commenter_key == commenter_key, Comment.status == CommentStatus.approved)
    if besides is not None:
        query = query.where(Comment.id != besides)
    return db.session.scalar(query.limit(1)) is not None


# A commenter's requests about their data (``flask --app app commenter export|erase``).


def comments_by_email(email: str) -> list[Comment]:
    """Return every comment left with this email address (any case), oldest first."""
    query = select(Comment).where(func.lower(Comment.author_email) == email.strip().lower())
    return list(db.session.scalars(query.order_by(Comment.created_at, Comment.id)))


def exported_comment(comment: Comment) -> dict[str, object]:
    """Describe a comment as a commenter's data export shows it."""
    return {
        "id": comment.id,
        "post": comment.post.slug,
        "created_at": comment.created_at.isoformat(),
        "status": comment.status.value,
        "name": comment.author_name,
        "email": comment.author_email,
        "website": comment.author_website,
        "body": comment.body,
    }
