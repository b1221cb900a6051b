"""Fixtures: a fresh app and a real database per test, and helpers that use the real comment form.

Every test runs on a new SQLite file. When ``TEST_DATABASE_URL`` names a PostgreSQL database, every
database test runs there too (tables dropped and created per test); ``TEST_REDIS_URL`` moves the rate
limiter's counters to Redis.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from collections.abc import Iterator
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner
from werkzeug.security import generate_password_hash
from werkzeug.test import TestResponse

from app import create_app
from extensions import limiter
from models import Post
from models import PostStatus
from models import Tag
from models import User
from models import UserRole
from models import db
from models import now_utc
from models import slugify

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")
DATABASES = ["sqlite"] + (["postgresql"] if TEST_DATABASE_URL else [])

PASSWORD = "correct horse battery staple"
PASSWORD_HASH = generate_password_hash(PASSWORD)  # hashed once: scrypt is slow on purpose

CSRF_FIELD = re.compile(r'<input[^>]*\bname="csrf_token"[^>]*\bvalue="([^"]+)"')


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return TEST_DATABASE_URL
    return f"sqlite:///{tmp_path / 'blog.db'}"


@pytest.fixture
def make_app(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build apps on the test's database; keyword arguments override settings."""
    apps: list[Flask] = []

    def make(**settings: Any) -> Flask:
        config = {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": database_url,
            "COMMENT_MODERATION": "off",
            "COMMENT_RATE_LIMIT": "1000 per minute",
            "RATELIMIT_STORAGE_URI": TEST_REDIS_URL or "memory://",
        } | settings
        app = create_app(config, instance_path=str(tmp_path / "instance"))
        with app.app_context():
            if not apps:
                db.drop_all()
                db.create_all()
            limiter.reset()
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def make_post(app: Flask) -> Callable[..., Post]:
    """Create a post; published an hour ago unless told otherwise."""

    def make(
        title: str = "A post",
        body: str = "Some *words*.",
        *,
        status: PostStatus = PostStatus.published,
        published_at: datetime | None = None,
        tags: tuple[str, ...] = (),
        slug: str | None = None,
        author: User | None = None,
        comments_open: bool = True,
    ) -> Post:
        with app.app_context():
            post = Post(
                author_id=author.id if author else None,
                comments_open=comments_open,
                title=title,
                slug=slug or slugify(title),
                body=body,
                status=status,
                published_at=published_at or now_utc() - timedelta(hours=1),
                tags=[_tag(name) for name in tags],
            )
            db.session.add(post)
            db.session.commit()
            db.session.refresh(post)
            db.session.expunge(post)
            return post

    return make


@pytest.fixture
def make_user(app: Flask) -> Callable[..., User]:
    """Create an account whose password is ``PASSWORD``."""

    def make(username: str = "owner", role: UserRole = UserRole.admin, display_name: str | None = None) -> User:
        with app.app_context():
            user = User(username=username, display_name=display_name or username.title(), role=role,
                        password_hash=PASSWORD_HASH)
            db.session.add(user)
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    return make


@pytest.fixture
def admin(client: FlaskClient, make_user: Callable[..., User]) -> User:
    """An administrator, logged in on ``client``."""
    user = make_user("owner", UserRole.admin, "Olive Owner")
    assert log_in(client, "owner").status_code == 302
    return user


def log_in(client: FlaskClient, username: str, password: str = PASSWORD, **fields: str) -> TestResponse:
    """Log in through the real login form."""
    data = {"username": username, "password": password, "csrf_token": csrf_token(client, "/admin/login")} | fields
    return client.post("/admin/login", data=data)


def _tag(name: str) -> Tag:
    return db.session.query(Tag).filter_by(name=name).one_or_none() or Tag(name=name, slug=slugify(name))


def csrf_token(client: FlaskClient, url: str) -> str:
    """Read the CSRF token from the form on ``url``, as a browser would."""
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    match = CSRF_FIELD.search(page.get_data(as_text=True))
    assert match, f"no CSRF token in the form on {url}"
    return match.group(1)


def post_comment(client: FlaskClient, slug: str, **fields: str) -> TestResponse:
    """Fill in and send the comment form on a post page, with its real CSRF token."""
    data = {"name": "Ada", "body": "A thoughtful comment."} | fields
    data.setdefault("csrf_token", csrf_token(client, f"/posts/{slug}"))
    return client.post(f"/posts/{slug}/comments", data=data)


def page_text(response: TestResponse) -> str:
    return response.get_data(as_text=True)
