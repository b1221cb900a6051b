"""A small picture beside each commenter's name, drawn here: an identicon, 5 × 5 squares mirrored, in one colour.

It is made from a keyed hash (HMAC with the blog's secret key) of who the commenter is, so the same commenter
gets the same picture on every page and another commenter almost surely another one, while the picture tells
nothing that leads back to a key, an address or an email: 18 bits of a hash nobody can compute without the
secret. Who a commenter is: the browser's signed commenter key, which nobody can type for someone else. Never
the email or the name: anyone can type those, and a preview keyed on them would let a stranger confirm a
guessed address by comparing pictures. A comment without a key (an imported one) gets a picture of its own, from
its id; a preview from a browser without a key, a random one. Nothing is fetched from another site (no
Gravatar): the picture is inline SVG, a few hundred bytes. A leaf: it reads only ``current_app.secret_key``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache
from typing import Protocol

from flask import current_app
from markupsafe import Markup

GRID = 5
HALF = (GRID + 1) // 2  # the columns drawn; the others mirror them
# Mid tones that read on the light and the dark background alike (dark mode brightens them a little in CSS).
COLOURS = ("#b45309", "#047857", "#0369a1", "#6d28d9", "#be185d", "#b91c1c", "#4d7c0f", "#0f766e")


class Commenter(Protocol):
    id: int | None
    commenter_key: str | None


def commenter_identity(comment: Commenter) -> str:
    """Return what makes two comments the same commenter's, for their picture."""
    if comment.commenter_key:
        return f"key:{comment.commenter_key}"
    if comment.id is not None:
        return f"comment:{comment.id}"
    return f"unsaved:{secrets.token_hex(8)}"


def avatar(comment: Commenter) -> Markup:
    """Return the commenter's picture as inline SVG, hidden from screen readers (the name is beside it)."""
    return _avatar_svg(current_app.secret_key, commenter_identity(comment))


@lru_cache(maxsize=4096)
def _avatar_svg(secret: str | bytes, identity: str) -> Markup:
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, b"avatar\0" + identity.encode(), hashlib.sha256).digest()
    bits = int.from_bytes(digest[:3], "big")
    colour = COLOURS[bits & 0b111]
    cells = bits >> 3  # 15 bits: one per square of the left three columns
    filled = [[bool(cells >> (row * HALF + column) & 1) for column in range(HALF)] for row in range(GRID)]
    if not any(any(row) for row in filled):
        filled = [[column == HALF - 1 for column in range(HALF)] for _ in range(GRID)]
    path = "".join(_row_path(row, y) for y, row in enumerate(filled))
    return Markup(
        '<svg class="avatar" viewBox="-1 -1 7 7" width="32" height="32" aria-hidden="true">'
        f'<path fill="{colour}" d="{path}"/></svg>'
    )


def _row_path(half_row: list[bool], y: int) -> str:
    """Draw one row of squares, mirrored, as runs: ``M x y h w v1 h -w z`` each."""
    row = half_row + half_row[-2::-1]
    runs, x = [], 0
    while x < GRID:
        if row[x]:
            width = next((w for w in range(1, GRID - x + 1) if x + w == GRID or not row[x + w]), 1)
            runs.append(f"M{x} {y}h{width}v1h-{width}z")
            x += width
        else:
            x += 1
    return "".join(runs)
