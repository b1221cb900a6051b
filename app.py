"""Inkwell, a small self-hosted blog: the application factory, a table of contents of ``register_*`` and
``init_app`` calls. It may import any module; nothing imports it (settings live in settings.py)."""

from __future__ import annotations

import calendar
import hashlib
import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask import Response
from flask import has_request_context
from flask import render_template
from flask import request
from flask.cli import AppGroup
from flask.globals import request_ctx
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import InternalServerError
from werkzeug.exceptions import NotFound
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter
from werkzeug.routing import Map

import forms
import pagecache
import pageserver
import ratelimits
import stored_settings
import themes
from account.tables import User
from avatars import avatar
from database import MAX_DATABASE_ID
from database import db
from extensions import SessionCookies
from extensions import csrf
from extensions import limiter
from extensions import login_manager
from localtime import format_date
from localtime import format_date_time
from localtime import format_short_date
from localtime import format_stamp
from localtime import zone_name
from markup import excerpt_of
from markup import highlight
from models import Comment
from models import Post
from models import Tag
from reading import recent_posts
from requestid import ENVIRON_KEY as REQUEST_ID
from requestid import RequestIdMiddleware
from settings import load_config
from stored_settings import SiteConfig

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' https: data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
HSTS = "max-age=31536000; includeSubDomains"

ERROR_TITLES = {
    400: "That request did not work",
    401: "Please log in",
    403: "You cannot do that",
    404: "Page not found",
    405: "That is not allowed here",
    413: "That was too much to send",
    429: "Slow down a little",
    500: "Something went wrong on our side",
}
ERROR_EXPLANATIONS = {
    400: "The page could not make sense of what was sent. Going back and trying again usually helps.",
    403: "You do not have permission to do that.",
    404: "There is nothing at this address. It may have moved, or the link may have a typo.",
    413: "What you sent is larger than this blog accepts. Please send something smaller and try again.",
    429: "You have sent several requests in a short time. Please wait a minute and try again.",
    500: "The blog hit an unexpected problem. It has been logged; please try again in a moment.",
}
CSRF_EXPLANATION = "This form has expired or came from another page. Please reload the page and try again."


class Inkwell(Flask):
    """Flask, whose config answers the settings saved at /admin/settings (stored_settings.py)."""

    config_class = SiteConfig
    SYNC_FUNCTIONS_KEPT = 1000  # views, hooks, error handlers: a few dozen

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync_functions: dict[Any, Any] = {}

    def ensure_sync(self, func: Any) -> Any:
        """Flask's, remembered for each view, hook and handler: Flask asked again on every request whether each of
        them was a coroutine, a twentieth of the steps of a comment posted."""
        sync = self._sync_functions.get(func)
        if sync is None:
            sync = super().ensure_sync(func)
            if len(self._sync_functions) < self.SYNC_FUNCTIONS_KEPT:
                self._sync_functions[func] = sync
        return sync


def create_app(test_config: Mapping[str, Any] | None = None, *, instance_path: str | None = None) -> Flask:
    """Create and configure the Inkwell application.

    The instance folder (database, secret key, uploads) is ``instance/`` beside the code, unless
    ``instance_path`` or the ``INSTANCE_PATH`` environment variable names another.
    """
    instance_path = instance_path or os.environ.get("INSTANCE_PATH") or None
    app = Inkwell(__name__, instance_path=instance_path, instance_relative_config=True)
    load_config(app, test_config)
    register_logging(app)
    register_extensions(app)  # the page cache's middleware first, so that ProxyFix runs before it
    register_proxy_fix(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_security_headers(app)
    themes.init_app(app)  # instance/theme/: templates and static files over the built-in ones
    register_static_fingerprints(app)
    register_template_helpers(app)
    register_commands(app)
    register_request_id(app)  # outermost
    return app


class JSONLogFormatter(logging.Formatter):
    """Format log records as one JSON object a line, with the request id when there is a request."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            entry |= {"request_id": request.environ.get(REQUEST_ID), "method": request.method, "path": request.path}
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TerminalLogFormatter(logging.Formatter):
    """Format log records as one short line for a person at a terminal: time, level, where, message."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if has_request_context():
            line += f" ({request.method} {request.path}, request {request.environ.get(REQUEST_ID)})"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class StdoutHandler(logging.StreamHandler):
    """Write to whatever ``sys.stdout`` is at the moment (servers and test runners replace it)."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def log_formatter(log_format: str, stream: Any) -> logging.Formatter:
    """Choose the log format: ``LOG_FORMAT`` when it names one, else short lines for a terminal and JSON lines
    for anything else (systemd's journal, docker and log shippers read them)."""
    if log_format == "auto":
        log_format = "text" if getattr(stream, "isatty", lambda: False)() else "json"
    return TerminalLogFormatter() if log_format == "text" else JSONLogFormatter()


def register_logging(app: Flask) -> None:
    """Log to standard output, as JSON lines or, in a terminal, short lines (``LOG_FORMAT``)."""
    root = logging.getLogger()
    handler = next((handler for handler in root.handlers if isinstance(handler, StdoutHandler)), None)
    if handler is None:
        handler = StdoutHandler()
        root.addHandler(handler)
    handler.setFormatter(log_formatter(app.config["LOG_FORMAT"], sys.stdout))
    root.setLevel(app.config["LOG_LEVEL"].upper())
    app.logger.handlers.clear()  # propagate to the root handler instead of Flask's default one


def register_proxy_fix(app: Flask) -> None:
    """Trust X-Forwarded-For, -Proto and -Host from ``PROXY_FIX`` proxies (nginx in front: 1), so addresses and
    https are right.

    Only the headers the documented nginx sets (docs/deploy/nginx.conf): a visitor's own X-Forwarded-Prefix or
    -Port would reach the app untouched and change every link on a page that nginx then keeps for others.
    """
    hops = app.config["PROXY_FIX"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=0, x_prefix=0)


def register_request_id(app: Flask) -> None:
    """Give every request an id (the proxy's ``X-Request-ID`` when sane), logged and sent back.

    Called last, so that it wraps everything else, the page cache's middleware included.
    """
    app.wsgi_app = RequestIdMiddleware(app.wsgi_app)


def register_extensions(app: Flask) -> None:
    """Bind the database, CSRF protection, rate limiter, session cookies and page cache to the app."""
    # The schema is models.py and the tables kept beside their rules (accounts, old addresses, the desk, imports):
    # all of them must be in the metadata that db.create_all() builds and the migrations compare.
    import account.tables  # noqa: F401
    import admin.tables  # noqa: F401
    import audit  # noqa: F401
    import comment_counts  # noqa: F401 (its ORM event keeps each post's comment_count)
    import slugs  # noqa: F401
    import transfer.tables  # noqa: F401

    db.init_app(app)
    from admin import dashboard

    app.before_request(dashboard.raise_request_limit)  # first: CSRF protection reads the form, and so its size
    csrf.init_app(app)
    if not app.config["RATELIMIT_STORAGE_URI"]:
        shared_file = ratelimits.storage_uri(Path(app.instance_path) / "ratelimits.db")
        app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"] or shared_file
    limiter.init_app(app)
    login_manager.init_app(app)
    app.session_interface = SessionCookies()
    pagecache.init_app(app)
    pageserver.init_app(app)
    stored_settings.init_app(app)


class DatabaseId(IntegerConverter):
    """``<int:...>`` in every route: a number a database id column can hold, so a larger one is a 404 rather
    than an "integer out of range" error from PostgreSQL (found by the route fuzzer)."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_DATABASE_ID)
        super().__init__(url_map, *args, **kwargs)


def register_blueprints(app: Flask) -> None:
    """Attach the readers' pages, the owner's admin area, uploaded images and the machine endpoints."""
    app.url_map.converters["int"] = DatabaseId
    import blog
    import comments
    import feeds
    import uploads
    from admin import dashboard

    app.register_blueprint(blog.bp)
    app.register_blueprint(comments.bp)
    app.register_blueprint(dashboard.bp)  # with account.pages.bp and moderation.bp inside it
    app.register_blueprint(uploads.bp)
    app.register_blueprint(feeds.bp)


def render_error(error: HTTPException) -> ResponseReturnValue:
    """Render one friendly page, in the site's layout, for any HTTP error.

    An error that already carries its own page (a rate-limited form re-shown with its text) keeps it.
    """
    if error.response is not None:
        return error.response
    code = error.code or 500
    if request_ctx.url_adapter is None:  # a Host header no URL can be built on: answer without the layout
        return Response(f"{code} {ERROR_TITLES.get(code, error.name)}\n", status=code, mimetype="text/plain")
    explanation = ERROR_EXPLANATIONS.get(code, error.description)
    if isinstance(error, CSRFError):
        explanation = CSRF_EXPLANATION
    elif error.description != type(error).description:
        explanation = error.description  # a specific reason given with abort()
    title = ERROR_TITLES.get(code, error.name)
    return render_template("errors/error.html", code=code, title=title, explanation=explanation), code


def render_server_error(error: InternalServerError) -> ResponseReturnValue:
    """Roll back the failed transaction, then render the 500 page without touching the database."""
    db.session.rollback()
    return render_error(error)


def render_not_found(error: NotFound) -> ResponseReturnValue:
    """Redirect an address the blog had on its previous engine; otherwise show the 404 page."""
    import blog

    return blog.redirect_legacy_address(error) or render_error(error)


def register_error_handlers(app: Flask) -> None:
    """Answer every error with a page in the site's layout, never a stack trace."""
    app.before_request(forms.refuse_nul_characters)
    app.register_error_handler(HTTPException, render_error)
    app.register_error_handler(NotFound, render_not_found)
    app.register_error_handler(InternalServerError, render_server_error)


def register_security_headers(app: Flask) -> None:
    """Send a strict Content-Security-Policy (no inline scripts or styles) and related headers; HSTS over https."""

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response


IMMUTABLE = "public, max-age=31536000, immutable"


def register_static_fingerprints(app: Flask) -> None:
    """Add ``?v=<hash of the file>`` to static addresses, so browsers and nginx may keep them for a year.

    A changed file gets a new address, so nobody sees a stale stylesheet after an upgrade.
    """
    fingerprints: dict[str, str] = {}

    def fingerprint(filename: str) -> str:
        if filename not in fingerprints:
            path = themes.static_file(app, filename)  # the theme's file when it has one
            content = path.read_bytes() if path is not None and path.is_file() else b""
            fingerprints[filename] = hashlib.blake2b(content, digest_size=5).hexdigest()
        return fingerprints[filename]

    @app.url_defaults
    def add_fingerprint(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and "filename" in values:
            values.setdefault("v", fingerprint(values["filename"]))

    @app.after_request
    def cache_fingerprinted_files(response: Response) -> Response:
        filename = (request.view_args or {}).get("filename")
        if request.endpoint == "static" and filename and request.args.get("v") == fingerprint(filename):
            response.headers["Cache-Control"] = IMMUTABLE
        return response


def format_iso(value: datetime) -> str:
    """Format a time for machines (``<time datetime>``, feeds): ISO 8601 to the second, as HTML requires."""
    return value.isoformat(timespec="seconds")


def register_template_helpers(app: Flask) -> None:
    """Expose the date and excerpt filters, the recent-posts list, address and search helpers, and a shell context."""
    import addresses
    import feeds
    import responsive
    import search

    app.add_template_filter(format_date, "date")
    app.add_template_filter(format_iso, "iso")
    app.add_template_filter(format_date_time, "date_time")
    app.add_template_filter(format_short_date, "short_date")
    app.add_template_filter(format_stamp, "stamp")
    app.add_template_global(zone_name)
    app.add_template_filter(excerpt_of, "excerpt")  # rendered HTML → its readable text, cut at a word
    app.add_template_global(recent_posts)
    app.add_template_global(addresses.relative_url, "url_for")
    app.add_template_global(avatar)  # a commenter's picture, inline SVG from a keyed hash
    for helper in (addresses.absolute_url, addresses.absolute_link, addresses.canonical_url, feeds.post_json_ld):
        app.add_template_global(helper)
    app.add_template_global(highlight)
    for helper in (responsive.responsive_images, responsive.feature_image, responsive.share_image):
        app.add_template_global(helper)  # uploaded images sized, with their smaller copies
    app.add_template_global(search.search_excerpt)
    app.add_template_global(lambda month: calendar.month_name[month], "month_name")
    app.shell_context_processor(lambda: {"db": db, "Post": Post, "Comment": Comment, "Tag": Tag, "User": User})


class LazyCommands(AppGroup):
    """The ``flask --app app`` commands, imported from cli.py when the command line first asks for one.

    A web worker never runs a command, and cli.py brings every importer (transfer/) and the demo seeder with it:
    2 MB of each worker's memory before it served anything.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loaded = False

    def load(self) -> None:
        if not self.loaded:
            self.loaded = True
            import cli

            cli.register_commands(self)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self.load()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self.load()
        return super().list_commands(ctx)


def register_commands(app: Flask) -> None:
    """Add the ``flask --app app`` commands (loaded when one is asked for: LazyCommands)."""
    commands = LazyCommands(app.cli.name)
    commands.commands.update(app.cli.commands)  # any a blueprint brought
    app.cli = commands
