"""Inkwell's settings: the defaults and their types, read from ``instance/config.py`` and the environment, and
checked at start-up with a sentence a person can act on.

A leaf module: it imports nothing of the project, so anything may import it.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

from flask import Flask


class ModerationPolicy(StrEnum):
    """Which new comments wait for the owner (``COMMENT_MODERATION``)."""

    off = "off"
    first_time = "first-time"
    all = "all"


DEFAULT_CONFIG: dict[str, Any] = {
    "DATABASE_URL": "sqlite:///inkwell.db",  # relative SQLite paths live in the instance folder
    "BLOG_TITLE": "Inkwell",
    "BLOG_DESCRIPTION": "Notes and stories, written with Inkwell.",
    "BLOG_LANGUAGE": "en",  # a BCP 47 tag: en, de, pt-BR
    "BLOG_TIMEZONE": "UTC",  # an IANA zone such as Europe/Zurich: the times people read and type (stored in UTC)
    "BLOG_AUTHOR": "",  # empty: feeds and search engines name the blog where a post has no author
    "BLOG_AUTHOR_BIO": "",  # a line about the author in every page's footer
    "BLOG_FOOTER": "",  # plain text at the foot of every page; empty: the blog's name and "Powered by Inkwell"
    "INKWELL_URL": "",  # where "Powered by Inkwell" links to (Inkwell's home page); empty: no link
    "COMMENT_MODERATION": ModerationPolicy.first_time.value,
    "POSTS_PER_PAGE": 10,
    # The site header's links, in order: a label and a site-relative path or an http(s) address each.
    "BLOG_MENU": [
        {"label": "Home", "url": "/"},
        {"label": "Archive", "url": "/archive"},
        {"label": "Tags", "url": "/tags/"},
        {"label": "Feed", "url": "/feed.xml"},
    ],
    "ARCHIVE_FULL_LIST_LIMIT": 1000,  # past this many posts, /archive lists months only
    "SITE_URL": "",  # e.g. https://blog.example.com; empty: links use the address of each request
    "PROXY_FIX": 0,  # how many proxies (nginx: 1) set X-Forwarded-For/-Proto/-Host in front of Inkwell
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "auto",  # auto: short lines in a terminal, JSON lines otherwise (systemd, docker, files)
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
    "TRASH_KEEP_DAYS": 30,  # `purge` deletes for good the posts and comments in the trash for longer
    "RATELIMIT_STORAGE_URI": "",  # empty: REDIS_URL when set, else a file all workers share (ratelimits.py)
    "REDIS_URL": "",  # e.g. redis://127.0.0.1:6379/0: page cache and rate limits shared by several servers
    "PAGE_CACHE": True,  # serve anonymous readers' pages from the cache (pagecache.py)
    "THEME_FOLDER": "",  # empty: instance/theme (themes.py); its files replace the built-in ones file by file
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
    "BLOG_TIMEZONE": str,
    "BLOG_AUTHOR": str,
    "BLOG_AUTHOR_BIO": str,
    "BLOG_FOOTER": str,
    "INKWELL_URL": str,
    "SITE_URL": str,
    "PROXY_FIX": int,
    "LOG_LEVEL": str,
    "LOG_FORMAT": str,
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
    "TRASH_KEEP_DAYS": int,
    "LOGIN_RATE_LIMIT": str,
    "RATELIMIT_STORAGE_URI": str,
    "REDIS_URL": str,
    "PAGE_CACHE": bool,
    "THEME_FOLDER": str,
    "PROXY_CACHE_SECONDS": int,
    "MAIL_SERVER": str,
    "MAIL_PORT": int,
    "MAIL_USERNAME": str,
    "MAIL_PASSWORD": str,
    "MAIL_USE_TLS": bool,
    "MAIL_FROM": str,
    "NOTIFY_EMAIL": str,
}
# The settings an administrator changes at /admin/settings, without a restart (stored_settings.py keeps them in
# the database; the values above, instance/config.py and the environment are their defaults). Never a secret.
EDITABLE_SETTINGS: dict[str, type] = {
    "BLOG_TITLE": str,
    "BLOG_DESCRIPTION": str,
    "BLOG_AUTHOR": str,
    "BLOG_AUTHOR_BIO": str,
    "BLOG_LANGUAGE": str,
    "BLOG_TIMEZONE": str,
    "BLOG_FOOTER": str,
    "COMMENT_MODERATION": str,
    "COMMENTS_CLOSE_AFTER_DAYS": int,
    "COMMENT_EDIT_MINUTES": int,
    "POSTS_PER_PAGE": int,
    "BLOG_MENU": list,
}
# A well-formed BCP 47 language tag (RFC 5646 "langtag"): a language of two or three letters (the longer forms are
# reserved and none is registered, so "english" is refused), then optional extended languages, script, region,
# variants, extensions and private use.
LANGUAGE_TAG = re.compile(
    r"""
    [a-z]{2,3}(?:-[a-z]{3}){0,3}                 # language: en, zh-yue
    (?:-[a-z]{4})?                               # script: Latn, Hant
    (?:-(?:[a-z]{2}|[0-9]{3}))?                  # region: BR, 419
    (?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*     # variants: 1996, valencia
    (?:-[0-9a-wy-z](?:-[a-z0-9]{2,8})+)*         # extensions: u-ca-buddhist
    (?:-x(?:-[a-z0-9]{1,8})+)?                   # private use: x-mine
    """,
    re.IGNORECASE | re.VERBOSE,
)
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}
LOG_FORMATS = ("auto", "json", "text")
NON_NEGATIVE_NUMBERS = (
    "COMMENTS_CLOSE_AFTER_DAYS",
    "COMMENT_MIN_SECONDS",
    "COMMENT_MAX_LINKS",
    "COMMENT_EDIT_MINUTES",
    "PURGE_AFTER_DAYS",
    "TRASH_KEEP_DAYS",
    "PROXY_CACHE_SECONDS",
)


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
    if config["LOG_FORMAT"] not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}; got {config['LOG_FORMAT']!r}.")
    if not is_time_zone(config["BLOG_TIMEZONE"]):
        raise ValueError(
            f"BLOG_TIMEZONE must be a time zone's name such as UTC, Europe/Zurich or America/New_York; "
            f"got {config['BLOG_TIMEZONE']!r}."
        )
    per_page = config["POSTS_PER_PAGE"]
    if not isinstance(per_page, int) or not 1 <= per_page <= 100:
        raise ValueError(f"POSTS_PER_PAGE must be a whole number from 1 to 100; got {per_page!r}.")
    for name in NON_NEGATIVE_NUMBERS:
        if not isinstance(config[name], int) or config[name] < 0:
            raise ValueError(f"{name} must be 0 (off) or a positive whole number; got {config[name]!r}.")
    if config["MAIL_SERVER"] and not config["SITE_URL"]:
        # Without it, an email's links would name whatever host the stranger's request did (Host: evil.example).
        raise ValueError("MAIL_SERVER is set, so SITE_URL must be too: the links in emails need the blog's address.")
    if config["INKWELL_URL"] and not re.match(r"https?://[^\s/]+", config["INKWELL_URL"]):
        raise ValueError(f"INKWELL_URL must be an http(s) address, or empty; got {config['INKWELL_URL']!r}.")
    menu = config["BLOG_MENU"]
    if not isinstance(menu, list) or not all(
        isinstance(item, dict) and isinstance(item.get("label"), str) and isinstance(item.get("url"), str)
        for item in menu
    ):
        raise ValueError(f'BLOG_MENU must be a list of {{"label": ..., "url": ...}} entries; got {menu!r}.')
    if not isinstance(config["COMMENTS_PER_PAGE"], int) or config["COMMENTS_PER_PAGE"] < 1:
        raise ValueError(
            f"COMMENTS_PER_PAGE must be a whole number of at least 1; got {config['COMMENTS_PER_PAGE']!r}."
        )


def is_language_tag(text: str) -> bool:
    """Whether ``text`` is a well-formed BCP 47 language tag, as ``<html lang>`` and ``xml:lang`` need."""
    return len(text) <= 35 and LANGUAGE_TAG.fullmatch(text) is not None


def is_time_zone(name: object) -> bool:
    """Whether ``name`` is a time zone of the IANA database this machine knows, such as Europe/Zurich."""
    if not isinstance(name, str) or not name or len(name) > 64 or name != name.strip():
        return False
    if name == "UTC":  # needs no time zone database (localtime.blog_zone)
        return True
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


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
