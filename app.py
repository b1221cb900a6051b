"""Inkwell, a small self-hosted blog: the application factory."""

from __future__ import annotations

import calendar
import hashlib
import json
import logging
import os
import secrets
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask
from flask import Response
from flask import g
from flask import has_request_context
from flask import render_template
from flask import request
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
import ratelimits
from extensions import csrf
from extensions import limiter
from extensions import login_manager
from extensions import migrate
from markup import highlight
from models import MAX_DATABASE_ID
from models import Comment
from models import ModerationPolicy
from models import Post
from models import Tag
from models import User
from models import db
from reading import recent_posts
from requestid import request_id_from

DEFAULT_CONFIG: dict[str, Any] = {
    "DATABASE_URL": "sqlite:///inkwell.db",  # relative SQLite paths live in the instance folder
    "BLOG_TITLE": "Inkwell",
    "BLOG_DESCRIPTION": "Notes and stories, written with Inkwell.",
    "BLOG_LANGUAGE": "en",
    "COMMENT_MODERATION": ModerationPolicy.first_time.value,
    "POSTS_PER_PAGE": 10,
    "ARCHIVE_FULL_LIST_LIMIT": 1000,  # past this many posts, /archive lists months only
    "SITE_URL": "",  # e.g. https://blog.example.com; empty: links use the address of each request
    "PROXY_FIX": 0,  # how many proxies (nginx: 1) set X-Forwarded-For/-Proto/-Host in front of Inkwell
    "LOG_LEVEL": "INFO",
    "SITEMAP_MAX_URLS": 50_000,
    "COMMENT_RATE_LIMIT": "5 per minute; 30 per hour",  # posting, replying and editing one's comment
    "PREVIEW_RATE_LIMIT": "20 per minute; 120 per hour",  # previews count here, not against COMMENT_RATE_LIMIT
    "COMMENT_MIN_SECONDS": 3,
    "COMMENT_MAX_LINKS": 2,
    "COMMENT_BLOCKLIST": "blocklist.txt",  # in the instance folder
    "COMMENT_EDIT_MINUTES": 15,
    "COMMENTS_PER_PAGE": 50,  # top-level comments, each with its replies (WordPress's default)
    "PURGE_AFTER_DAYS": 30,
    "AUDIT_KEEP_DAYS": 365,  # `purge` removes older audit log entries
    "RATELIMIT_STORAGE_URI": "",  # empty: REDIS_URL when set, else a file all workers share (ratelimits.py)
    "REDIS_URL": "",  # e.g. redis://127.0.0.1:6379/0: page cache and rate limits shared by several servers
    "PAGE_CACHE": True,  # serve anonymous readers' pages from the cache (pagecache.py)
    "PROXY_CACHE_SECONDS": 5,  # how long nginx may keep an anonymous page (s-maxage)
    # If the shared store (Redis, the counters file) stops answering, count in memory rather than refuse comments.
    "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
    "RATELIMIT_SWALLOW_ERRORS": True,
    "MAIL_SERVER": "",  # empty: send no email
    "MAIL_PORT": 25,
    "MAIL_USERNAME": "",
    "MAIL_PASSWORD": "",
    "MAIL_USE_TLS": False,
    "MAIL_FROM": "inkwell@localhost",
    "NOTIFY_EMAIL": "",
    "COMMENTS_CLOSE_AFTER_DAYS": 0,  # 0: comments never close by age
    "LOGIN_RATE_LIMIT": "5 per minute",
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    "MAX_FORM_MEMORY_SIZE": 1024 * 1024,  # a long post's text must fit
    "UPLOAD_MAX_BYTES": 4 * 1024 * 1024,
    "UPLOAD_MAX_PIXELS": 40_000_000,  # all frames of an image together; more is refused as a decompression bomb
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "WTF_CSRF_TIME_LIMIT": 24 * 3600,  # a comment may take a while to write
    "SESSION_COOKIE_SAMESITE": "Lax",
    # Every cookie Inkwell sets starts with inkwell_, so the page cache and nginx can tell who is anonymous.
    "SESSION_COOKIE_NAME": "inkwell_session",
    "REMEMBER_COOKIE_NAME": "inkwell_remember",
}

# Settings read from the environment, with the type each is parsed as.
ENVIRONMENT_SETTINGS: dict[str, type] = {
    "DATABASE_URL": str,
    "SECRET_KEY": str,
    "BLOG_TITLE": str,
    "BLOG_DESCRIPTION": str,
    "BLOG_LANGUAGE": str,
    "SITE_URL": str,
    "PROXY_FIX": int,
    "LOG_LEVEL": str,
    "COMMENT_MODERATION": str,
    "POSTS_PER_PAGE": int,
    "COMMENTS_CLOSE_AFTER_DAYS": int,
    "COMMENT_RATE_LIMIT": str,
    "PREVIEW_RATE_LIMIT": str,
    "COMMENT_MIN_SECONDS": int,
    "COMMENT_MAX_LINKS": int,
    "COMMENT_BLOCKLIST": str,
    "COMMENT_EDIT_MINUTES": int,
    "COMMENTS_PER_PAGE": int,
    "PURGE_AFTER_DAYS": int,
    "AUDIT_KEEP_DAYS": int,
    "LOGIN_RATE_LIMIT": str,
    "RATELIMIT_STORAGE_URI": str,
    "REDIS_URL": str,
    "PAGE_CACHE": bool,
    "PROXY_CACHE_SECONDS": int,
    "MAIL_SERVER": str,
    "MAIL_PORT": int,
    "MAIL_USERNAME": str,
    "MAIL_PASSWORD": str,
    "MAIL_USE_TLS": bool,
    "MAIL_FROM": str,
    "NOTIFY_EMAIL": str,
}
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}
NON_NEGATIVE_NUMBERS = (
    "COMMENTS_CLOSE_AFTER_DAYS",
    "COMMENT_MIN_SECONDS",
    "COMMENT_MAX_LINKS",
    "COMMENT_EDIT_MINUTES",
    "PURGE_AFTER_DAYS",
    "PROXY_CACHE_SECONDS",
)

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


def create_app(test_config: Mapping[str, Any] | None = None, *, instance_path: str | None = None) -> Flask:
    """Create and configure the Inkwell application.

    The instance folder (database, secret key, uploads) is ``instance/`` beside the code, unless
    ``instance_path`` or the ``INSTANCE_PATH`` environment variable names another.
    """
    instance_path = instance_path or os.environ.get("INSTANCE_PATH") or None
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    load_config(app, test_config)
    register_logging(app)
    register_request_id(app)
    register_extensions(app)  # the page cache's middleware first, so that ProxyFix runs before it
    register_proxy_fix(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_security_headers(app)
    register_static_fingerprints(app)
    register_template_helpers(app)
    register_commands(app)
    return app


def load_config(app: Flask, test_config: Mapping[str, Any] | None) -> None:
    """Layer the settings: defaults, then ``instance/config.py``, then the environment, then ``test_config``.

    :raise SystemExit: with a sentence naming the setting, when a setting is invalid.
    """
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(DEFAULT_CONFIG)
    app.config.from_pyfile("config.py", silent=True)
    try:
        app.config.update(settings_from_environment(os.environ))
        app.config.update(test_config or {})
        validate_config(app.config)
    except ValueError as error:
        raise SystemExit(f"Inkwell cannot start: {error}") from None
    if not app.config["RATELIMIT_STORAGE_URI"]:
        shared_file = ratelimits.storage_uri(Path(app.instance_path) / "ratelimits.db")
        app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"] or shared_file
    app.config.setdefault("SQLALCHEMY_DATABASE_URI", database_uri(app.config["DATABASE_URL"]))
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_or_create_secret_key(Path(app.instance_path) / "secret_key")
    if app.config["SITE_URL"].startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = app.config["REMEMBER_COOKIE_SECURE"] = True


def settings_from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """Return the Inkwell settings present in the environment, parsed.

    :raise ValueError: when a number setting is not a number.
    """
    settings: dict[str, Any] = {}
    for name, kind in ENVIRONMENT_SETTINGS.items():
        if name in environ:
            settings[name] = _parse_setting(name, environ[name], kind)
    return settings


def _parse_setting(name: str, raw: str, kind: type) -> Any:
    if kind is bool:
        if raw.strip().lower() not in TRUE_WORDS | FALSE_WORDS:
            raise ValueError(f"{name} must be true or false; got {raw!r}.")
        return raw.strip().lower() in TRUE_WORDS
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number; got {raw!r}.") from None


def validate_config(config: Mapping[str, Any]) -> None:
    """:raise ValueError: with a sentence a person can act on, for the first invalid setting."""
    choices = ", ".join(policy.value for policy in ModerationPolicy)
    if config["COMMENT_MODERATION"] not in set(ModerationPolicy):
        raise ValueError(f"COMMENT_MODERATION must be one of {choices}; got {config['COMMENT_MODERATION']!r}.")
    per_page = config["POSTS_PER_PAGE"]
    if not isinstance(per_page, int) or not 1 <= per_page <= 100:
        raise ValueError(f"POSTS_PER_PAGE must be a whole number from 1 to 100; got {per_page!r}.")
    for name in NON_NEGATIVE_NUMBERS:
        if not isinstance(config[name], int) or config[name] < 0:
            raise ValueError(f"{name} must be 0 (off) or a positive whole number; got {config[name]!r}.")
    if config["MAIL_SERVER"] and not config["SITE_URL"]:
        # Without it, an email's links would name whatever host the stranger's request did (Host: evil.example).
        raise ValueError("MAIL_SERVER is set, so SITE_URL must be too: the links in emails need the blog's address.")
    if not isinstance(config["COMMENTS_PER_PAGE"], int) or config["COMMENTS_PER_PAGE"] < 1:
        raise ValueError(
            f"COMMENTS_PER_PAGE must be a whole number of at least 1; got {config['COMMENTS_PER_PAGE']!r}."
        )


def database_uri(url: str) -> str:
    """Return the SQLAlchemy URL for ``DATABASE_URL``, choosing psycopg 3 for plain PostgreSQL URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def load_or_create_secret_key(path: Path) -> str:
    """Return the secret key kept in ``path``, generating it (mode 0600) the first time.

    Several gunicorn workers may start at once: the key is written to a temporary file and linked into
    place, which fails for all but the first, and the others read the winner's key.
    """
    if path.exists():
        return path.read_text().strip()
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_hex(32))
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_text().strip()


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
            entry |= {"request_id": g.get("request_id"), "method": request.method, "path": request.path}
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class StdoutHandler(logging.StreamHandler):
    """Write to whatever ``sys.stdout`` is at the moment (servers and test runners replace it)."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def register_logging(app: Flask) -> None:
    """Log to standard output as JSON lines (systemd's journal, docker and log shippers read them)."""
    root = logging.getLogger()
    if not any(isinstance(handler.formatter, JSONLogFormatter) for handler in root.handlers):
        handler = StdoutHandler()
        handler.setFormatter(JSONLogFormatter())
        root.addHandler(handler)
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
    """Give every request an id (the proxy's ``X-Request-ID`` when sane), logged and sent back."""

    @app.before_request
    def assign_request_id() -> None:
        g.request_id = request_id_from(request.headers.get("X-Request-ID", ""))

    @app.after_request
    def send_request_id(response: Response) -> Response:
        if "request_id" in g:
            response.headers["X-Request-ID"] = g.request_id
        return response


def register_extensions(app: Flask) -> None:
    """Bind the database, CSRF protection and rate limiter to the app."""
    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    pagecache.init_app(app)


class DatabaseId(IntegerConverter):
    """``<int:...>`` in every route: a number a database id column can hold, so a larger one is a 404 rather
    than an "integer out of range" error from PostgreSQL (found by the route fuzzer)."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_DATABASE_ID)
        super().__init__(url_map, *args, **kwargs)


def register_blueprints(app: Flask) -> None:
    """Attach the readers' pages, the owner's admin area, uploaded images and the machine endpoints."""
    app.url_map.converters["int"] = DatabaseId
    import admin
    import blog
    import comments
    import feeds
    import moderation  # noqa: F401 (adds the moderation routes to the admin blueprint)
    import uploads

    app.register_blueprint(blog.bp)
    app.register_blueprint(comments.bp)
    app.register_blueprint(admin.bp)  # with account.bp inside it
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
            path = Path(app.static_folder or "") / filename
            content = path.read_bytes() if path.is_file() else b""
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


def format_date(value: datetime) -> str:
    """Format a date for readers: "24 November 2026"."""
    return f"{value.day} {value:%B %Y}"


def format_iso(value: datetime) -> str:
    """Format a time for machines (``<time datetime>``, feeds): ISO 8601 to the second, as HTML requires."""
    return value.isoformat(timespec="seconds")


def register_template_helpers(app: Flask) -> None:
    """Expose the date filter, the recent-posts list, address and search helpers, and a shell context."""
    import feeds
    import search

    app.add_template_filter(format_date, "date")
    app.add_template_filter(format_iso, "iso")
    app.add_template_global(recent_posts)
    for helper in (feeds.absolute_url, feeds.absolute_link, feeds.canonical_url, feeds.post_json_ld):
        app.add_template_global(helper)
    app.add_template_global(highlight)
    app.add_template_global(search.search_excerpt)
    app.add_template_global(lambda month: calendar.month_name[month], "month_name")
    app.shell_context_processor(lambda: {"db": db, "Post": Post, "Comment": Comment, "Tag": Tag, "User": User})


def register_commands(app: Flask) -> None:
    """Add the ``flask --app app`` commands."""
    import cli

    cli.register_commands(app)
