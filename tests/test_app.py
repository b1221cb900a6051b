"""Configuration, secrets and the safety net: how Inkwell starts, and how it fails."""

from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import text

from app import create_app
from database import db
from settings import database_uri


def test_secret_key_is_generated_once_into_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    instance = tmp_path / "instance"
    config = {"DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}"}

    first = create_app(config, instance_path=str(instance))
    second = create_app(config, instance_path=str(instance))

    key_file = instance / "secret_key"
    assert len(first.secret_key) == 64
    assert first.secret_key == second.secret_key == key_file.read_text()
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert sorted(path.name for path in instance.iterdir()) == ["cache", "secret_key"]


def test_settings_layer_defaults_then_instance_file_then_environment_then_test_config(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text(
        'BLOG_TITLE = "From file"\nBLOG_DESCRIPTION = "File description"\nPOSTS_PER_PAGE = 7\n'
    )
    monkeypatch.setenv("BLOG_DESCRIPTION", "Env description")
    monkeypatch.setenv("POSTS_PER_PAGE", "4")

    app = create_app({"POSTS_PER_PAGE": 3}, instance_path=str(instance))

    assert app.config["BLOG_TITLE"] == "From file"
    assert app.config["BLOG_DESCRIPTION"] == "Env description"
    assert app.config["POSTS_PER_PAGE"] == 3
    assert app.config["COMMENT_MODERATION"] == "first-time"
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024


def test_default_database_is_a_sqlite_file_in_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app(instance_path=str(tmp_path / "instance"))
    with app.app_context():
        assert db.engine.url.database == str(tmp_path / "instance" / "inkwell.db")


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("COMMENT_MODERATION", "sometimes", "COMMENT_MODERATION must be one of off, first-time, all; got 'sometimes'."),
        ("POSTS_PER_PAGE", "lots", "POSTS_PER_PAGE must be a whole number; got 'lots'."),
        ("POSTS_PER_PAGE", "0", "POSTS_PER_PAGE must be a whole number from 1 to 100; got 0."),
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be one of auto, json, text; got 'xml'."),
        (
            "MAIL_SERVER",
            "mail.example.com",
            "MAIL_SERVER is set, so SITE_URL must be too: the links in emails need the blog's address.",
        ),
    ],
)
def test_bad_setting_stops_start_up_with_a_sentence(tmp_path, monkeypatch, setting, value, message):
    monkeypatch.setenv(setting, value)
    with pytest.raises(SystemExit) as stopped:
        create_app(instance_path=str(tmp_path / "instance"))
    assert str(stopped.value) == f"Inkwell cannot start: {message}"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///blog.db", "sqlite:///blog.db"),
    ],
)
def test_database_url_uses_psycopg_for_postgresql(url, expected):
    assert database_uri(url) == expected


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'wal.db'}"}, instance_path=str(tmp_path / "instance"))
    with app.app_context():
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert db.session.execute(text("PRAGMA busy_timeout")).scalar() == 5000


def test_healthz_answers_ok_when_the_database_does(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_data(as_text=True).strip() == "ok"


def test_healthz_reports_an_unreachable_database(tmp_path):
    app = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'missing' / 'no.db'}", "SECRET_KEY": "x"},
        instance_path=str(tmp_path / "instance"),
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503


def test_every_response_carries_a_strict_content_security_policy(client):
    for url in ("/", "/", "/no-such-page", "/healthz", "/feed.xml", "/static/style.css", "/admin/login"):
        headers = client.get(url).headers  # "/" twice: the second answer comes from the page cache
        policy = headers["Content-Security-Policy"]
        for rule in ("default-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"):
            assert rule in policy, (url, rule)
        assert "object-src 'none'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert "camera=()" in headers["Permissions-Policy"]
        assert "Strict-Transport-Security" not in headers  # plain http: HSTS would mean nothing


def test_https_responses_add_hsts_and_secure_cookies(make_app):
    client = make_app(SITE_URL="https://blog.example.com").test_client()
    response = client.get("/admin/login", base_url="https://blog.example.com")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_unexpected_error_shows_a_friendly_500_without_a_traceback(make_app):
    app = make_app()
    app.config["TESTING"] = False
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")

    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Something went wrong on our side" in html
    assert "secret internals" not in html and "Traceback" not in html


def test_wrong_method_is_a_friendly_405(client):
    response = client.delete("/")
    assert response.status_code == 405
    assert "That is not allowed here" in response.get_data(as_text=True)


def test_a_host_header_no_address_can_be_built_on_gets_a_400_not_a_500(client):
    for host in ("x" * 300, "a." + "b" * 64 + ".example"):  # DNS labels are at most 63 characters
        response = client.get("/", headers={"Host": host})
        assert response.status_code == 400, host
        assert b"Traceback" not in response.data


@pytest.mark.parametrize(
    ("path", "form"),
    [("/tags/%00", None), ("/search?q=a%00b", None), ("/posts/welcome/comments?x=%00", {"name": "Ada"})],
)
def test_a_nul_character_anywhere_is_a_clear_400(client, path, form):
    response = client.post(path, data=form) if form else client.get(path)
    assert response.status_code == 400
    assert "no address or form field may contain" in response.get_data(as_text=True)
