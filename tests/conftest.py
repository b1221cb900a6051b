"""Fixtures: a fresh app and a real database per test, factories for posts and accounts, real gunicorn.

Every test runs on a new SQLite file. When ``TEST_DATABASE_URL`` names a PostgreSQL database, every
database test runs there too (tables dropped and created per test); ``TEST_REDIS_URL`` moves the rate
limiter's counters to Redis. The plain helpers (the real forms, constants) are in ``helpers.py``.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner

from account.tables import User
from account.tables import UserRole
from app import create_app
from database import db
from database import now_utc
from extensions import limiter
from helpers import CACHE_STORES
from helpers import CHROMIUM
from helpers import CHROMIUM_FLAGS
from helpers import DATABASES
from helpers import PASSWORD
from helpers import PASSWORD_HASH
from helpers import ROOT
from helpers import TEST_DATABASE_URL
from helpers import TEST_REDIS_URL
from helpers import WATCH_FOR_TROUBLE
from helpers import flask_commands
from helpers import free_port
from helpers import log_in
from helpers import missing_test_tools
from helpers import missing_tools_report
from helpers import reset_database
from helpers import wait_until_healthy
from models import Post
from models import PostStatus
from models import Tag
from slugs import slugify


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Name, before the first test, each missing tool some tests need, and the command that installs it."""
    return missing_tools_report(missing_test_tools())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Under ``CI=true`` a skipped test fails the run, with its reason: a green CI means every test ran.

    On a developer's machine a missing tool (Chromium, nginx, Java) only skips the tests that need it.
    """
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"Skipped, but under CI=true every test must run: {reason}"


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


@pytest.fixture(params=CACHE_STORES)
def cached_app(request: pytest.FixtureRequest, make_app: Callable[..., Flask]) -> Callable[..., Flask]:
    """Build apps with the page cache on, in the store under test (each test gets its own Redis keys)."""
    prefix = f"inkwell-test-{uuid.uuid4().hex}:"

    def make(**settings: Any) -> Flask:
        if request.param == "redis":
            settings = {"REDIS_URL": TEST_REDIS_URL, "CACHE_KEY_PREFIX": prefix} | settings
        return make_app(PAGE_CACHE=True, **settings)

    return make


@pytest.fixture
def admin(client: FlaskClient, make_user: Callable[..., User]) -> User:
    """An administrator, logged in on ``client``."""
    user = make_user("owner", UserRole.admin, "Olive Owner")
    assert log_in(client, "owner").status_code == 302
    return user


def _tag(name: str) -> Tag:
    return db.session.query(Tag).filter_by(name=name).one_or_none() or Tag(name=name, slug=slugify(name))


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start gunicorn (two workers, a free loopback port, a fresh SQLite file with an admin ``owner``
    whose password is ``PASSWORD``) and return its URL; it is stopped by its PID afterwards.

    Settings become environment variables; ``prepare=False`` starts another server on the same database.
    ``memory_limit_mb`` caps each gunicorn process's address space, so a request that would eat the machine's
    memory fails inside that server instead.
    """
    with _gunicorn_servers(tmp_path) as start:
        yield start


@pytest.fixture(scope="module")
def module_live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., str]]:
    """``live_server`` shared by the tests of one module, for tests that need a server but not a fresh one (its
    folder is ``module_live_server.folder``). Starting gunicorn costs seconds: each Python process imports the app.
    """
    with _gunicorn_servers(tmp_path_factory.mktemp("live")) as start:
        yield start


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright, shared by the tests of one module (which skip without it)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def js_page(browser: Any) -> Iterator[Any]:
    """A page with JavaScript on that records dialogs and CSP violations, and console errors (helpers.trouble)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(WATCH_FOR_TROUBLE)
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
    page.on("dialog", lambda dialog: (page.console_errors.append("dialog: " + dialog.message), dialog.dismiss()))
    yield page
    context.close()


@contextmanager
def _gunicorn_servers(folder: Path) -> Iterator[Callable[..., str]]:
    processes: list[tuple[subprocess.Popen, Any]] = []

    def start(*, prepare: bool = True, memory_limit_mb: int | None = None, **settings: str) -> str:
        env = (
            os.environ
            | {
                "DATABASE_URL": f"sqlite:///{folder / 'live.db'}",
                "INSTANCE_PATH": str(folder / "instance"),
                "SECRET_KEY": "live-server-secret",
                "ADMIN_PASSWORD": PASSWORD,
                "COMMENT_MIN_SECONDS": "0",  # faster than people type; test_spam.py covers the delay
            }
            | settings
        )
        if prepare:
            flask_commands(env, ["init-db"], ["create-admin", "owner", "--display-name", "Olive Owner"])
        port = free_port()
        log = (folder / f"gunicorn-{port}.log").open("w")
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

    start.processes = []  # type: ignore[attr-defined]
    start.folder = folder  # type: ignore[attr-defined]
    try:
        yield start
    finally:
        for process, log in processes:
            os.kill(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
            log.close()


def _address_space_limit(megabytes: int) -> Callable[[], None]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (megabytes * 1024 * 1024, megabytes * 1024 * 1024))

    return limit
