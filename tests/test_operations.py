"""Running Inkwell on a server: behind a proxy, with logs and numbers an operator can read."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys

from app import JSONLogFormatter
from app import TerminalLogFormatter
from app import create_app
from app import log_formatter
from database import database_problem
from helpers import ROOT
from helpers import post_comment


def test_stats_command_counts_posts_and_comments_by_status(runner, client, make_post):
    post = make_post()
    post_comment(client, post.slug)
    result = runner.invoke(args=["stats", "--json"])
    stats = json.loads(result.output)
    assert stats["posts"] == {"draft": 0, "published": 1}
    assert stats["comments"] == {"pending": 0, "approved": 1, "spam": 0}
    assert stats["database_bytes"] > 0
    assert "Posts: 0 draft, 1 published" in runner.invoke(args=["stats"]).output


def test_every_response_carries_a_request_id(client):
    first, second = client.get("/"), client.get("/")
    assert len(first.headers["X-Request-ID"]) == 32
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


def test_a_sane_request_id_from_the_proxy_is_kept_and_a_strange_one_replaced(client):
    assert client.get("/", headers={"X-Request-ID": "nginx-abc123"}).headers["X-Request-ID"] == "nginx-abc123"
    odd = client.get("/", headers={"X-Request-ID": "<script>" + "x" * 100}).headers["X-Request-ID"]
    assert odd != "<script>" and len(odd) == 32


def test_logs_are_json_lines_with_the_request_id(app, capsys):
    @app.get("/shout")
    def shout():
        app.logger.warning("Something to look at")
        return "ok"

    response = app.test_client().get("/shout", headers={"X-Request-ID": "req-42"})

    line = next(line for line in capsys.readouterr().out.splitlines() if "Something to look at" in line)
    entry = json.loads(line)
    assert entry["level"] == "WARNING" and entry["request_id"] == "req-42" and entry["path"] == "/shout"
    assert response.status_code == 200


def test_in_a_terminal_logs_are_short_lines_a_person_can_read(make_app, capsys):
    app = make_app(LOG_FORMAT="text")

    @app.get("/shout")
    def shout():
        app.logger.warning("Something to look at")
        return "ok"

    app.test_client().get("/shout", headers={"X-Request-ID": "req-42"})

    line = next(line for line in capsys.readouterr().out.splitlines() if "Something to look at" in line)
    assert re.fullmatch(r"\d\d:\d\d:\d\d WARNING +app: Something to look at \(GET /shout, request req-42\)", line)


def test_logs_are_short_lines_on_a_terminal_and_json_elsewhere_unless_log_format_says():
    main, terminal_end = os.openpty()
    with os.fdopen(terminal_end, "w") as terminal, open(os.devnull, "w") as file:
        assert isinstance(log_formatter("auto", terminal), TerminalLogFormatter)
        assert isinstance(log_formatter("auto", file), JSONLogFormatter)  # systemd, docker, a file, a pipe
        assert isinstance(log_formatter("json", terminal), JSONLogFormatter)
        assert isinstance(log_formatter("text", file), TerminalLogFormatter)
    os.close(main)


def test_log_formatter_includes_the_traceback_of_errors():
    try:
        raise ValueError("broken")
    except ValueError:
        record = logging.LogRecord("inkwell", logging.ERROR, __file__, 1, "failed", None, exc_info=True)
        import sys

        record.exc_info = sys.exc_info()
    entry = json.loads(JSONLogFormatter().format(record))
    assert entry["message"] == "failed" and "ValueError: broken" in entry["error"]


def test_behind_a_proxy_the_client_address_and_https_come_from_forwarded_headers(make_app, make_post):
    app = make_app(PROXY_FIX=1, SITE_URL="")
    post = make_post("Proxied")
    client = app.test_client()
    headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "blog.example.com"}

    html = client.get(f"/posts/{post.slug}", headers=headers).get_data(as_text=True)

    assert '<link rel="canonical" href="https://blog.example.com/posts/proxied">' in html


def test_without_proxy_fix_forwarded_headers_are_ignored(client, make_post):
    post = make_post("Direct")
    html = client.get(f"/posts/{post.slug}", headers={"X-Forwarded-Host": "evil.example"}).get_data(as_text=True)
    assert "evil.example" not in html


def test_session_cookies_are_secure_when_the_site_is_https(tmp_path):
    config = {"SECRET_KEY": "x", "DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}", "SITE_URL": "https://blog.example"}
    app = create_app(config, instance_path=str(tmp_path / "instance"))
    assert app.config["SESSION_COOKIE_SECURE"] is True and app.config["REMEMBER_COOKIE_SECURE"] is True
    plain = create_app(config | {"SITE_URL": "http://blog.example"}, instance_path=str(tmp_path / "instance"))
    assert plain.config["SESSION_COOKIE_SECURE"] is False


def test_an_unreachable_database_stops_init_db_with_one_clear_line(tmp_path):
    config = {"SECRET_KEY": "x", "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    app = create_app(config, instance_path=str(tmp_path / "instance"))
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: Cannot use the database postgresql+psycopg://nobody@127.0.0.1:1/none:")
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_one_check_tells_whether_the_database_is_up_without_showing_its_password(app, tmp_path):
    with app.app_context():
        assert database_problem() is None
    config = {"SECRET_KEY": "x", "DATABASE_URL": "postgresql://inkwell:hunter2@127.0.0.1:1/none"}
    down = create_app(config, instance_path=str(tmp_path / "instance"))
    with down.app_context():
        problem = database_problem()
    assert problem.startswith("Cannot use the database postgresql+psycopg://inkwell:***@127.0.0.1:1/none: ")
    assert "hunter2" not in problem and "\n" not in problem
    assert down.test_client().get("/healthz").status_code == 503  # the health check asks the same question


def test_gunicorn_refuses_to_start_in_one_line_when_the_database_is_unreachable():
    env = os.environ | {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "SECRET_KEY": "x", "PORT": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "app:create_app()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    errors = [line for line in result.stderr.splitlines() if "[ERROR]" in line]
    assert result.returncode == 1
    assert len(errors) == 1 and "Cannot use the database postgresql+psycopg://nobody@127.0.0.1:1/none" in errors[0]
    assert "Traceback" not in result.stderr
