"""Fixtures: a fresh app and a real database per test, and helpers that use the real comment form.

Every test runs on a new SQLite file. When ``TEST_DATABASE_URL`` names a PostgreSQL database, every
database test runs there too (tables dropped and created per test); ``TEST_REDIS_URL`` moves the rate
limiter's counters to Redis.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from collections.abc import Iterator
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import text
from sqlalchemy.engine import make_url
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

ROOT = Path(__file__).resolve().parent.parent


def give_each_test_worker_its_own_services(environ: dict[str, str] | os._Environ) -> None:
    """Point each pytest-xdist worker at its own PostgreSQL database and Redis database number.

    Tests drop every table and reset the rate-limit counters; two workers sharing one database would undo
    each other's work. Worker ``gwN`` gets ``<database>_gwN`` (created when missing) and Redis number base + N.
    """
    worker = environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return
    number = int(worker.removeprefix("gw"))
    if environ.get("TEST_DATABASE_URL"):
        base = make_url(environ["TEST_DATABASE_URL"])
        own = base.set(database=f"{base.database}_{worker}")
        engine = create_engine(base, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": own.database})
            if exists.first() is None:
                connection.execute(text(f'CREATE DATABASE "{own.database}"'))
        engine.dispose()
        environ["TEST_DATABASE_URL"] = own.render_as_string(hide_password=False)
    if environ.get("TEST_REDIS_URL"):
        redis = urlsplit(environ["TEST_REDIS_URL"])
        base_number = int(redis.path.strip("/") or 0)
        environ["TEST_REDIS_URL"] = urlunsplit(redis._replace(path=f"/{base_number + number}"))


give_each_test_worker_its_own_services(os.environ)
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
            "COMMENT_MIN_SECONDS": 0,  # tests fill the form faster than people; test_spam.py covers the delay
            "RATELIMIT_STORAGE_URI": TEST_REDIS_URL or "memory://",
        } | settings
        app = create_app(config, instance_path=str(tmp_path / "instance"))
        # The limiter object outlives apps: a test of an unreachable store must not leave it in fallback mode.
        limiter._storage_dead = False
        with app.app_context():
            if not apps:
                reset_database()
            if "RATELIMIT_STORAGE_URI" not in settings:  # a test of an unreachable store sets its own
                limiter.reset()
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.engine.dispose()


def reset_database() -> None:
    """Empty the database: drop every table (and the migrations' bookkeeping), then create the tables."""
    db.drop_all()
    with db.engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    db.create_all()


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
            user = User(
                username=username, display_name=display_name or username.title(), role=role, password_hash=PASSWORD_HASH
            )
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


def csrf_token(client: FlaskClient, url: str, action: str = "") -> str:
    """Read the CSRF token from the form on ``url`` (the one sent to ``action``, if given), as a browser would."""
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    html = page.get_data(as_text=True)
    start = html.find(f'action="{action}')
    assert start >= 0, f"no form sending to {action} on {url}"
    match = CSRF_FIELD.search(html, start)
    assert match, f"no CSRF token in the form on {url}"
    return match.group(1)


def post_comment(client: FlaskClient, slug: str, **fields: str) -> TestResponse:
    """Fill in and send the comment form on a post page, with its real CSRF token."""
    data = {"name": "Ada", "body": "A thoughtful comment."} | fields
    data.setdefault("csrf_token", csrf_token(client, f"/posts/{slug}", action=f"/posts/{slug}/comments#"))
    response = client.post(f"/posts/{slug}/comments", data=data)
    response.close()  # as a server does once the response is sent: runs the after-response work (email)
    return response


def executable_scripts(html: str) -> list[str]:
    """Return the script elements a browser would run (JSON-LD data blocks are not run)."""
    return re.findall(r"<script(?![^>]*application/ld\+json)[^>]*>", html, re.IGNORECASE)


def page_text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {process.returncode}")
        try:
            if requests.get(f"{url}/healthz", timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # still booting
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer on {url} within {timeout}s")


def flask_command(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env, check=True, capture_output=True
    )


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start gunicorn (two workers, a free loopback port, a fresh SQLite file with an admin ``owner``
    whose password is ``PASSWORD``) and return its URL; it is stopped by its PID afterwards.

    Settings become environment variables; ``prepare=False`` starts another server on the same database.
    ``memory_limit_mb`` caps each gunicorn process's address space, so a request that would eat the machine's
    memory fails inside that server instead.
    """
    processes: list[tuple[subprocess.Popen, Any]] = []

    def start(*, prepare: bool = True, memory_limit_mb: int | None = None, **settings: str) -> str:
        env = (
            os.environ
            | {
                "DATABASE_URL": f"sqlite:///{tmp_path / 'live.db'}",
                "INSTANCE_PATH": str(tmp_path / "instance"),
                "SECRET_KEY": "live-server-secret",
                "ADMIN_PASSWORD": PASSWORD,
                "COMMENT_MIN_SECONDS": "0",  # faster than people type; test_spam.py covers the delay
            }
            | settings
        )
        if prepare:
            flask_command(env, "init-db")
            flask_command(env, "create-admin", "owner", "--display-name", "Olive Owner")
        port = free_port()
        log = (tmp_path / f"gunicorn-{port}.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2", "app:create_app()"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_address_space_limit(memory_limit_mb) if memory_limit_mb else None,
        )
        processes.append((process, log))
        start.processes.append(process)  # type: ignore[attr-defined]
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, process)
        return url

    start.processes = [process for process, _ in processes]  # type: ignore[attr-defined]
    yield start
    for process, log in processes:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
        log.close()


def _address_space_limit(megabytes: int) -> Callable[[], None]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (megabytes * 1024 * 1024, megabytes * 1024 * 1024))

    return limit


class StatementCounter:
    """Count the SQL statements the app runs, as a reader's request would."""

    def __init__(self, app):
        with app.app_context():
            self.engine = db.engine
        self.count = 0

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc_info):
        event.remove(self.engine, "before_cursor_execute", self._count)

    def _count(self, *args):
        self.count += 1
