"""The edges of logging in: what two requests at the same moment, a stranger guessing passwords, a replayed
cookie or an old address can do. Races are made certain, not likely: requests sent together wait for each other
before their first write to the database (a barrier), so each has read what the others are about to change."""

from __future__ import annotations

import threading
from collections.abc import Callable
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy import select

import models
from account import logins
from account.tables import LoginFailures
from database import db
from helpers import csrf_token
from helpers import form_fields
from helpers import is_logged_in
from helpers import log_in
from helpers import next_code
from helpers import page_text
from helpers import submit_post
from helpers import turn_on

WRITES = ("INSERT", "UPDATE", "DELETE")


@contextmanager
def writes_wait_for_each_other(app: Flask, parties: int) -> Iterator[None]:
    """Hold each thread's first write to the database until ``parties`` threads have reached theirs: the
    interleaving in which a read-then-write loses updates. A thread that never writes breaks the wait after 5 s."""
    barrier = threading.Barrier(parties)
    waited = threading.local()

    def wait_before_first_write(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(WRITES) and not getattr(waited, "done", False):
            waited.done = True
            try:
                barrier.wait(timeout=5)
            except threading.BrokenBarrierError:
                pass

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", wait_before_first_write)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", wait_before_first_write)


def all_at_once(app: Flask, requests: list[Callable[[], Any]]) -> list[Any]:
    """Send the requests from as many threads, their first writes held until all have read."""
    with writes_wait_for_each_other(app, len(requests)), ThreadPoolExecutor(len(requests)) as pool:
        return [future.result() for future in [pool.submit(request) for request in requests]]


def browser_at(app: Flask, address: str) -> FlaskClient:
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = address
    return browser


def sent_login(browser: FlaskClient, password: str) -> Callable[[], int]:
    """The login form, filled in now (its token read), to be sent later; returns the answer's status."""
    data = {"username": "owner", "password": password, "csrf_token": csrf_token(browser, "/admin/login")}
    return lambda: browser.post("/admin/login", data=data).status_code


def sent_code(browser: FlaskClient, code: str) -> Callable[[], int]:
    """The second step, reached now with the right password, with ``code`` to be sent later."""
    first_step = log_in(browser, "owner")
    assert "Enter your code" in page_text(first_step)
    data = form_fields(first_step, "/admin/login/code") | {"code": code}
    return lambda: browser.post("/admin/login/code", data=data).status_code


# The lock-out counter


def test_wrong_passwords_sent_at_the_same_moment_each_count_towards_the_lock(make_app, make_user):
    app = make_app(LOGIN_RATE_LIMIT="100 per minute")
    make_user("owner")
    guesses = [sent_login(app.test_client(), f"guess {n}") for n in range(logins.LOCK_AFTER_FAILURES)]

    assert all_at_once(app, guesses) == [400] * logins.LOCK_AFTER_FAILURES

    locked = log_in(app.test_client(), "owner")
    assert locked.status_code == 429 and "locked for 1 minute" in page_text(locked)


# Strangers cannot keep the owner out


def test_a_stranger_guessing_passwords_locks_out_only_the_strangers_network(make_app, make_user):
    app = make_app()  # the default LOGIN_RATE_LIMIT: five a minute
    make_user("owner")
    stranger, owner = browser_at(app, "198.51.100.7"), browser_at(app, "203.0.113.5")
    for n in range(logins.LOCK_AFTER_FAILURES):
        assert log_in(stranger, "owner", f"guess {n}").status_code == 400

    assert log_in(stranger, "owner").status_code == 429  # even the right password, from there
    assert log_in(owner, "owner").status_code == 302
    assert is_logged_in(owner)


def guess_from_many_networks(app: Flask) -> None:
    """Wrong passwords from enough networks (each until it is locked) to lock the account everywhere."""
    networks = logins.ACCOUNT_LOCK_AFTER_FAILURES // logins.LOCK_AFTER_FAILURES
    for network in range(networks):
        stranger = browser_at(app, f"198.51.{network}.7")
        for n in range(logins.LOCK_AFTER_FAILURES):
            assert log_in(stranger, "owner", f"guess {n}").status_code == 400


def test_guesses_from_many_networks_stop_a_password_alone_everywhere(make_app, make_user, monkeypatch):
    app = make_app(LOGIN_RATE_LIMIT="100 per minute")
    make_user("owner")
    guess_from_many_networks(app)

    locked = log_in(browser_at(app, "203.0.113.5"), "owner")
    assert locked.status_code == 429
    assert "after many failed logins from several places" in page_text(locked)
    monkeypatch.setenv("ADMIN_PASSWORD", "a brand new passphrase")
    app.test_cli_runner().invoke(args=["set-password", "owner"])
    assert log_in(browser_at(app, "203.0.113.5"), "owner", "a brand new passphrase").status_code == 302


def test_the_owner_with_two_factor_gets_in_during_a_lock_from_many_networks(app, client, admin):
    key, recovery_codes = turn_on(client)
    guess_from_many_networks(app)

    with_app_code = browser_at(app, "203.0.113.5")
    assert sent_code(with_app_code, next_code(key))() == 302 and is_logged_in(with_app_code)
    with_recovery_code = browser_at(app, "203.0.113.6")
    assert sent_code(with_recovery_code, recovery_codes[0])() == 302 and is_logged_in(with_recovery_code)
    still_locked = log_in(browser_at(app, "198.51.0.7"), "owner")
    assert still_locked.status_code == 429  # a stranger's network stays locked


def test_the_owner_logged_in_before_a_lock_from_many_networks_can_turn_on_two_factor(app, client, admin):
    guess_from_many_networks(app)

    key, _ = turn_on(client)  # asks for the password again, which this lock must not refuse

    assert sent_code(browser_at(app, "203.0.113.5"), next_code(key))() == 302


# A code used once, even by two requests at the same moment


def test_one_app_code_sent_twice_at_the_same_moment_logs_in_once(app, client, admin):
    key, _ = turn_on(client)
    first, second = app.test_client(), app.test_client()
    code = next_code(key)

    statuses = all_at_once(app, [sent_code(first, code), sent_code(second, code)])

    assert sorted(statuses) == [302, 400]
    assert [is_logged_in(first), is_logged_in(second)].count(True) == 1


def test_one_recovery_code_sent_twice_at_the_same_moment_logs_in_once(app, client, admin):
    _, recovery_codes = turn_on(client)
    first, second = app.test_client(), app.test_client()

    statuses = all_at_once(app, [sent_code(first, recovery_codes[0]), sent_code(second, recovery_codes[0])])

    assert sorted(statuses) == [302, 400]
    assert "9 unused recovery codes left" in page_text(client.get("/admin/account/"))


# Logging out


@pytest.mark.parametrize("kept", [("inkwell_session", "inkwell_remember"), ("inkwell_remember",)])
def test_cookies_kept_from_before_logging_out_do_not_log_in_again(app, make_user, kept):
    make_user("owner")
    browser, elsewhere = app.test_client(), app.test_client()
    log_in(browser, "owner", remember="y")
    log_in(elsewhere, "owner")
    copies = {name: browser.get_cookie(name).value for name in kept}

    token = csrf_token(browser, "/admin/", action="/admin/logout")
    assert browser.post("/admin/logout", data={"csrf_token": token}).status_code == 302

    replayed = app.test_client()
    for name, value in copies.items():
        replayed.set_cookie(name, value)
    assert not is_logged_in(replayed) and not is_logged_in(browser)
    assert is_logged_in(elsewhere)  # logging out ends this session only


# Addresses


def test_an_old_address_of_another_post_is_refused_and_the_typed_post_kept(app, client, admin, make_post):
    first = make_post("First", slug="first")
    renamed = submit_post(client, f"/admin/posts/{first.id}/edit", title="First", slug="first-renamed")
    assert renamed.status_code == 303

    response = submit_post(client, title="Second", slug="first", body="Words I typed")

    assert response.status_code == 400
    html = page_text(response)
    assert "This was the address of the post “First”" in html and "Words I typed" in html
    assert client.get("/posts/first").headers["Location"].endswith("/posts/first-renamed")
    back = submit_post(client, f"/admin/posts/{first.id}/edit", title="First", slug="first")
    assert back.status_code == 303 and client.get("/posts/first").status_code == 200


def test_purge_forgets_strangers_networks_once_their_lock_is_long_over(make_app, make_user):
    app = make_app(LOGIN_RATE_LIMIT="100 per minute")
    make_user("owner")
    for address in ("198.51.100.7", "192.0.2.9"):
        for n in range(logins.LOCK_AFTER_FAILURES):
            log_in(browser_at(app, address), "owner", f"guess {n}")
    with app.app_context():
        first = db.session.scalars(select(LoginFailures)).first()
        first.locked_until = models.now_utc() - timedelta(days=2)
        db.session.commit()

    output = app.test_cli_runner().invoke(args=["purge"]).output

    assert "Forgot 1 counts of failed logins" in output
    with app.app_context():
        assert len(db.session.scalars(select(LoginFailures)).all()) == 1  # the other is still locked
