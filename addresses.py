"""Absolute addresses for pages, feeds and mail: on ``SITE_URL`` when the owner set it, else on the request's host."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask import has_request_context
from flask import request
from flask import url_for

CANONICAL_ARGS = ("page", "cpage", "q")  # the query arguments that make a reader's page a different page


def absolute_url(endpoint: str, **values: Any) -> str:
    """Return an absolute address on ``SITE_URL`` when set, else on the host the request came to.

    Outside a request (mail sent from the command line) only ``SITE_URL`` can give the host.
    """
    site = current_app.config["SITE_URL"].rstrip("/")
    if site and not has_request_context():
        with current_app.test_request_context():
            return site + url_for(endpoint, **values)
    if site:
        return site + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)


def absolute_link(address: str) -> str:
    """Return ``address`` as an absolute URL (a path is put on ``SITE_URL`` or the request's host)."""
    if address.startswith(("http://", "https://")):
        return address
    site = current_app.config["SITE_URL"].rstrip("/") or request.host_url.rstrip("/")
    return site + address


def canonical_url() -> str | None:
    """Return the canonical address of the reader's page being shown, or ``None`` for other pages."""
    if request.blueprint != "blog" or request.endpoint is None:
        return None
    kept = {name: request.args[name] for name in CANONICAL_ARGS if request.args.get(name) not in (None, "", "1")}
    return absolute_url(request.endpoint, **(request.view_args or {}), **kept)
