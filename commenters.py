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
from functools import lru_cache

from flask import Response
from flask import current_app
from flask import request
from itsdangerous import BadSignature
from itsdangerous import URLSafeSerializer
from sqlalchemy import func
from sqlalchemy import select

from database import db
from database import now_utc
from forms import CommentForm
from models import Comment
from models import CommentStatus
from personal import COMMENTER_COOKIE
from personal import DETAILS_COOKIE
from personal import DETAILS_SALT
from personal import EDIT_COOKIE_PREFIX
from personal import HELD_COOKIE
from personal import HELD_SALT
from personal import REMEMBERED_FIELDS
from personal import edit_signer
from personal import held_post_ids

ONE_YEAR = 365 * 24 * 3600
MAX_HELD_POSTS = 20  # the posts a browser is told it has comments awaiting moderation on, newest kept


def _commenter_serializer() -> URLSafeSerializer:
    return _serializer(current_app.secret_key, "inkwell-commenter")


@lru_cache(maxsize=16)
def _serializer(secret_key: str, salt: str) -> URLSafeSerializer:
    """A cookie's serializer, made once for each key and kind (it keeps nothing of what it signs)."""
    return URLSafeSerializer(secret_key, salt=salt)


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
    return _serializer(current_app.secret_key, DETAILS_SALT)


def held_posts() -> list[int]:
    """The posts this browser was told it has comments awaiting moderation on, the latest last."""
    return held_post_ids(request.cookies, current_app.secret_key)


def note_held_comments(response: Response, post_id: int, commenter_key: str | None) -> None:
    """Keep the ``inkwell_held`` cookie true for one post: whether this browser has comments awaiting moderation
    on it. Its pages of the posts it names are rendered for it, with those comments, instead of served from the
    shared cache (personal.py); set when a comment is held, dropped once none is. It names the posts of the
    latest ``MAX_HELD_POSTS`` held comments."""
    held = held_posts()
    pending = select(Comment.id).where(
        Comment.post_id == post_id, Comment.commenter_key == commenter_key, Comment.status == CommentStatus.pending
    )
    has_held = commenter_key is not None and db.session.scalar(pending.limit(1)) is not None
    wanted = [post for post in held if post != post_id] + ([post_id] if has_held else [])
    if set(wanted) == set(held) and (HELD_COOKIE in request.cookies) == bool(held):
        return
    if not wanted:
        response.delete_cookie(HELD_COOKIE)
        return
    value = _serializer(current_app.secret_key, HELD_SALT).dumps(wanted[-MAX_HELD_POSTS:])
    _set_private_cookie(response, HELD_COOKIE, value, ONE_YEAR)


def update_remembered_details(response: Response, form: CommentForm) -> None:
    """Remember the commenter's details when "Remember me" is ticked, forget them when it is not."""
    if form.remember.data:
        details = {field: getattr(form, field).data or "" for field in REMEMBERED_FIELDS}
        _set_private_cookie(response, DETAILS_COOKIE, _details_serializer().dumps(details), ONE_YEAR)
    elif DETAILS_COOKIE in request.cookies:
        response.delete_cookie(DETAILS_COOKIE)


def _edit_window() -> timedelta:
    return timedelta(minutes=current_app.config["COMMENT_EDIT_MINUTES"])


def grant_edit(response: Response, comment: Comment) -> None:
    """Give this browser a signed cookie that lets it change ``comment`` during the edit window."""
    seconds = int(_edit_window().total_seconds())
    if seconds > 0:
        token = edit_signer(current_app.secret_key).sign(str(comment.id)).decode()
        _set_private_cookie(response, f"{EDIT_COOKIE_PREFIX}{comment.id}", token, seconds)


def may_edit(comment: Comment) -> bool:
    """Tell whether this browser holds a valid, unexpired edit cookie for ``comment``."""
    window = _edit_window()
    if now_utc() - comment.created_at > window:
        return False
    token = request.cookies.get(f"{EDIT_COOKIE_PREFIX}{comment.id}", "")
    try:
        return edit_signer(current_app.secret_key).unsign(token, max_age=window.total_seconds()).decode() == str(
            comment.id
        )
    except BadSignature:
        return False


def edit_minutes_left(comment: Comment) -> int:
    """Return the minutes left to change ``comment``, counted up (a change is still accepted in the last one)."""
    seconds = (comment.created_at + _edit_window() - now_utc()).total_seconds()
    return max(0, math.ceil(seconds / 60))


def client_ip_hash() -> str:
    """Return a keyed hash of the client's network (/24 for IPv4, /48 for IPv6).

    Enough to spot abuse from one place; useless for identifying anyone.
    """
    return _network_hash(current_app.secret_key, request.remote_addr or "")


@lru_cache(maxsize=4096)
def _network_hash(secret_key: str, address: str) -> str:
    """Remembered for recent addresses: a commenter posting again is hashed once."""
    try:
        prefix = 24 if ipaddress.ip_address(address).version == 4 else 48
        network = str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
    except ValueError:
        network = address
    return hmac.new(secret_key.encode(), network.encode(), hashlib.sha256).hexdigest()[:32]


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
