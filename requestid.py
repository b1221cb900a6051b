"""Request ids: one per request, taken from the proxy's ``X-Request-ID`` when it is sane, for logs and replies.

A leaf module: the app factory and the page cache's serving middleware both name requests the same way.
"""

from __future__ import annotations

import re
import uuid

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id_from(incoming: str) -> str:
    """Return ``incoming`` when it is a sane id (letters, digits, ``.``, ``_``, ``-``; at most 64), else a new one.

    Anything else could carry line breaks or markup into the logs, so it is replaced rather than cleaned.
    """
    return incoming if REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
