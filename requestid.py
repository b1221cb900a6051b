"""Request ids: one per request, taken from the proxy's ``X-Request-ID`` when it is sane, for logs and replies.

A leaf module (it imports nothing of the project): the app wraps itself in :class:`RequestIdMiddleware`, outermost,
so every answer, cached or not, is named the same way.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
ENVIRON_KEY = "inkwell.request_id"


def request_id_from(incoming: str) -> str:
    """Return ``incoming`` when it is a sane id (letters, digits, ``.``, ``_``, ``-``; at most 64), else a new one.

    Anything else could carry line breaks or markup into the logs, so it is replaced rather than cleaned. A new one
    is 32 random hex digits, as ``uuid4().hex`` was, at a fifth of its cost: every cached page pays it.
    """
    if incoming and REQUEST_ID.fullmatch(incoming):
        return incoming
    return os.urandom(16).hex()


class RequestIdMiddleware:
    """Name each request before anything else runs, and send the name back with every answer.

    The app wraps itself in it last, outermost, so a page served from the page cache and one rendered by Flask
    carry their id alike; the logs read it from ``environ[ENVIRON_KEY]``.
    """

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request_id = environ[ENVIRON_KEY] = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))

        def start_with_request_id(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers = [(name, value) for name, value in headers if name.lower() != "x-request-id"]
            return start_response(status, [*headers, ("X-Request-ID", request_id)], exc_info)

        return self.wsgi_app(environ, start_with_request_id)
