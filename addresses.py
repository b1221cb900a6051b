"""Absolute addresses for pages, feeds and mail: on ``SITE_URL`` when the owner set it, else on the request's host."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask import has_request_context
from flask import request
from flask import url_for

CANONICAL_ARGS = ("page", "cpage", "q")  # the query arguments that make a reader's page a different page
REMEMBERED_ADDRESSES = 2_000  # 2 MB at most, forgotten all at once when full: each value remembered is short
MAX_REMEMBERED = 80  # characters of a value (a slug, a page number) whose addresses are remembered
REMEMBERED_ADDRESSES_KEY = "inkwell_addresses"  # app.extensions: relative addresses built so far


def absolute_url(endpoint: str, **values: Any) -> str:
    """Return an absolute address on ``SITE_URL`` when set, else on the host the request came to.

    Outside a request (mail sent from the command line) only ``SITE_URL`` can give the host.
    """
    site = current_app.config["SITE_URL"].rstrip("/")
    if site and has_request_context():
        return site + relative_url(endpoint, **values)
    if site:
        with current_app.test_request_context():
            return site + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)  # the host as Flask builds it (SERVER_NAME, IDNA)


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


def relative_url(endpoint: str, **values: Any) -> str:
    """Return ``url_for(endpoint, **values)``, built once per worker for each endpoint, arguments and site root
    (templates' ``url_for``).

    A page links to a dozen addresses (its stylesheet and fonts, the menu, recent posts…), and building one costs
    as much as serving a cached page. A relative address depends on nothing else: the routes and the static
    files' fingerprints (app.py) do not change while the app runs. Absolute ones (``_external``, or any other
    ``_`` option) are built each time.
    """
    if not has_request_context() or not all(map(_may_be_remembered, values.items())):
        return url_for(endpoint, **values)
    remembered: dict[tuple[Any, ...], str] = current_app.extensions.setdefault(REMEMBERED_ADDRESSES_KEY, {})
    # each value with its type: 1, 1.0 and True are the same key, not the same address
    key = (
        request.script_root,
        endpoint,
        *sorted((name, type(value).__name__, value) for name, value in values.items()),
    )
    address = remembered.get(key)
    if address is None:
        address = url_for(endpoint, **values)
        if len(remembered) >= REMEMBERED_ADDRESSES:
            remembered.clear()
        remembered[key] = address
    return address


def _may_be_remembered(item: tuple[str, Any]) -> bool:
    """Short plain values only: a search's words (up to 200 characters of anyone's typing, each spelling a new
    address) would fill the worker's memory with addresses built once."""
    name, value = item
    if name.startswith("_"):
        return False  # _external, _anchor…: built each time
    return value is None or isinstance(value, int | float) or (isinstance(value, str) and len(value) <= MAX_REMEMBERED)
