"""Two-factor authentication: an owner turns it on with an authenticator app, and from then on a password alone
does not log in. Codes are computed here as the owner's phone would, from the key the set-up page shows."""

from __future__ import annotations

import json
import re

import pyotp
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from account import logins
from account.tables import RecoveryCode
from account.tables import User
from account.tables import UserRole
from database import db
from helpers import ACCOUNT
from helpers import PASSWORD
from helpers import code_at
from helpers import exported
from helpers import form_fields
from helpers import imported
from helpers import is_logged_in
from helpers import log_in
from helpers import next_code
from helpers import page_text
from helpers import post_comment
from helpers import shown_key
from helpers import turn_on
from helpers import wipe
from transfer.common import TransferError


def log_in_with_code(client: FlaskClient, code: str, username: str = "owner", **fields: str) -> TestResponse:
    first_step = log_in(client, username, **fields)
    assert first_step.status_code == 200 and "Enter your code" in page_text(first_step)
    return client.post("/admin/login/code", data=form_fields(first_step, "/admin/login/code") | {"code": code})


@pytest.fixture
def owner_with_two_factor(app, client, admin) -> tuple[str, list[str]]:
    return turn_on(client)


def test_the_security_page_is_part_of_the_admin_area(make_app, make_user, make_post):
    app = make_app(COMMENT_MODERATION="all")
    make_user("owner")
    post_comment(app.test_client(), make_post("Held").slug, body="Waiting for the owner")
    logged_out = app.test_client().get(ACCOUNT)
    assert logged_out.status_code == 302
    assert logged_out.headers["Location"].startswith("/admin/login?next=/admin/account/")

    owner = app.test_client()
    log_in(owner, "owner")
    html = page_text(owner.get(ACCOUNT))

    assert '<span class="badge">1 pending</span>' in html  # the admin menu, as on every admin page
    assert 'href="/admin/" aria-current="page">Admin</a>' in html
    assert 'href="/admin/account/" aria-current="page">Security</a>' in html


def test_the_set_up_page_shows_a_qr_code_and_the_key_to_type(app, client, admin):
    page = client.get(ACCOUNT)
    html = page_text(page)

    assert "<strong>Off.</strong>" in html
    assert '<svg role="img" aria-label="QR code for your authenticator app"' in html
    assert len(shown_key(page)) == 32  # 160 bits, as RFC 4226 recommends
    assert "<script" not in html and "data:" not in html  # drawn here, in SVG: nothing loaded from anywhere


def test_the_dashboard_suggests_two_factor_until_it_is_on(app, client, admin):
    suggestion = "Turn on two-factor authentication</a>"
    assert suggestion in page_text(client.get("/admin/"))
    turn_on(client)
    assert suggestion not in page_text(client.get("/admin/"))


def test_once_on_a_password_alone_does_not_log_in(app, owner_with_two_factor):
    key, codes = owner_with_two_factor
    assert len(codes) == 10 and len(set(codes)) == 10
    browser = app.test_client()

    first_step = log_in(browser, "owner")

    assert "Enter your code" in page_text(first_step) and not is_logged_in(browser)
    response = browser.post(
        "/admin/login/code", data=form_fields(first_step, "/admin/login/code") | {"code": next_code(key)}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    assert is_logged_in(browser)


def test_the_recovery_codes_are_shown_once_and_never_cached(app, client, admin):
    page = client.get(ACCOUNT)
    key = shown_key(page)
    fields = form_fields(page, "/admin/account/two-factor") | {"code": code_at(key), "password": PASSWORD}

    response = client.post("/admin/account/two-factor", data=fields)

    assert response.headers["Cache-Control"] == "no-store"
    assert "This is the only time they are shown" in page_text(response)
    assert "9 unused recovery codes" not in page_text(client.get(ACCOUNT))  # the codes themselves are not on it
    assert "10 unused recovery codes left" in page_text(client.get(ACCOUNT))


def test_each_app_code_works_only_once(app, owner_with_two_factor):
    key, _ = owner_with_two_factor
    code = next_code(key)
    assert log_in_with_code(app.test_client(), code).status_code == 302

    replayed = app.test_client()
    response = log_in_with_code(replayed, code)

    assert response.status_code == 400 and "each works only once" in page_text(response)
    assert not is_logged_in(replayed)


def test_a_wrong_or_stale_code_keeps_you_out_and_lets_you_try_again(app, owner_with_two_factor):
    key, _ = owner_with_two_factor
    browser = app.test_client()

    for wrong in ("000000", code_at(key, -3), "12345", "not a code"):
        response = log_in_with_code(browser, wrong)
        assert response.status_code == 400 and "That code does not match" in page_text(response), wrong
        assert not is_logged_in(browser)
    retry = form_fields(response, "/admin/login/code") | {"code": next_code(key)}
    again = browser.post("/admin/login/code", data=retry)
    assert again.status_code == 302 and is_logged_in(browser)


def test_an_empty_code_is_asked_for_again(app, owner_with_two_factor):
    browser = app.test_client()
    first_step = log_in(browser, "owner")

    response = browser.post("/admin/login/code", data=form_fields(first_step, "/admin/login/code"))

    assert response.status_code == 400 and "Please enter the 6-digit code" in page_text(response)
    assert "/admin/login/code" in page_text(response) and not is_logged_in(browser)


def test_each_recovery_code_logs_in_once_in_place_of_the_app(app, owner_with_two_factor):
    _, codes = owner_with_two_factor
    typed = "  " + codes[3].upper().replace("-", " ") + " "  # read off paper, typed loosely

    assert log_in_with_code(app.test_client(), typed).status_code == 302
    again = log_in_with_code(app.test_client(), codes[3])
    assert again.status_code == 400
    browser = app.test_client()
    log_in_with_code(browser, codes[4])
    assert "8 unused recovery codes left" in page_text(browser.get(ACCOUNT))


def test_recovery_codes_are_stored_only_as_hashes(app, owner_with_two_factor):
    _, codes = owner_with_two_factor
    with app.app_context():
        stored = db.session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10
    for code in codes:
        assert not any(code.replace("-", "") in value or code in value for value in stored)


def test_new_recovery_codes_replace_the_old_ones(app, client, owner_with_two_factor):
    _, old_codes = owner_with_two_factor
    page = client.get(ACCOUNT)
    fields = form_fields(page, "/admin/account/recovery-codes") | {"codes-password": PASSWORD}

    response = client.post("/admin/account/recovery-codes", data=fields)

    new_codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", page_text(response))
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    assert log_in_with_code(app.test_client(), old_codes[0]).status_code == 400
    assert log_in_with_code(app.test_client(), new_codes[0]).status_code == 302


def test_changing_two_factor_asks_for_the_password_again(app, client, owner_with_two_factor):
    page = client.get(ACCOUNT)
    for action, field in (
        ("/admin/account/recovery-codes", "codes-password"),
        ("/admin/account/two-factor/off", "off-password"),
    ):
        response = client.post(action, data=form_fields(page, action) | {field: "not my password"})
        assert response.status_code == 400 and "That is not your password." in page_text(response)
    assert "<strong>On.</strong>" in page_text(client.get(ACCOUNT))


def test_turning_it_off_lets_the_password_alone_log_in_again(app, client, owner_with_two_factor):
    page = client.get(ACCOUNT)
    fields = form_fields(page, "/admin/account/two-factor/off") | {"off-password": PASSWORD}

    response = client.post("/admin/account/two-factor/off", data=fields, follow_redirects=True)

    assert "Two-factor authentication is off" in page_text(response) and "<strong>Off.</strong>" in page_text(response)
    assert log_in(app.test_client(), "owner").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(RecoveryCode.id)) is None


def test_a_wrong_set_up_code_keeps_the_same_key_and_what_was_typed(app, client, admin):
    page = client.get(ACCOUNT)
    key = shown_key(page)
    fields = form_fields(page, "/admin/account/two-factor") | {"code": "123 456", "password": PASSWORD}
    if code_at(key) == "123456":  # one chance in a million
        fields["code"] = "654 321"

    response = client.post("/admin/account/two-factor", data=fields)

    assert response.status_code == 400 and "That code does not match" in page_text(response)
    assert shown_key(response) == key  # the QR code already scanned stays right
    assert form_fields(response, "/admin/account/two-factor")["code"] == fields["code"]
    assert "<strong>Off.</strong>" in page_text(client.get(ACCOUNT))


def test_a_wrong_password_at_set_up_is_refused_beside_its_field(app, client, admin):
    page = client.get(ACCOUNT)
    key = shown_key(page)
    fields = form_fields(page, "/admin/account/two-factor") | {"code": code_at(key), "password": "nope"}

    response = client.post("/admin/account/two-factor", data=fields)

    assert response.status_code == 400 and "That is not your password." in page_text(response)
    assert shown_key(response) == key
    assert log_in(app.test_client(), "owner").status_code == 302  # still off


def test_a_forged_or_old_set_up_form_gets_a_new_key(app, client, admin):
    page = client.get(ACCOUNT)
    fields = form_fields(page, "/admin/account/two-factor") | {"password": PASSWORD}
    forged_key = pyotp.random_base32()
    fields |= {"secret": forged_key, "code": code_at(forged_key)}

    response = client.post("/admin/account/two-factor", data=fields)

    assert response.status_code == 400 and "Please scan the new QR code" in page_text(response)
    assert shown_key(response) != forged_key
    assert log_in(app.test_client(), "owner").status_code == 302  # still off


def test_the_code_step_expires(app, owner_with_two_factor, monkeypatch):
    key, _ = owner_with_two_factor
    browser = app.test_client()
    first_step = log_in(browser, "owner", next="/admin/posts")
    monkeypatch.setattr(logins, "PENDING_LOGIN_SECONDS", -1)  # as if five minutes went by

    data = form_fields(first_step, "/admin/login/code") | {"code": next_code(key)}
    response = browser.post("/admin/login/code", data=data)

    assert response.status_code == 400 and "enter your password again" in page_text(response)
    assert form_fields(response, "/admin/login")["next"] == "/admin/posts"
    assert not is_logged_in(browser)


def test_a_forged_pending_login_is_refused(app, owner_with_two_factor):
    key, _ = owner_with_two_factor
    first_step = log_in(app.test_client(), "owner")
    data = form_fields(first_step, "/admin/login/code") | {"code": next_code(key), "pending": "1:whatever"}
    browser = app.test_client()

    response = browser.post("/admin/login/code", data=data)

    assert response.status_code == 400 and not is_logged_in(browser)


def test_wrong_codes_lock_the_account_even_after_right_passwords(make_app, make_user):
    app = make_app(LOGIN_RATE_LIMIT="100 per minute")  # the lock-out, not the rate limit, is under test
    make_user("owner")
    owner = app.test_client()
    log_in(owner, "owner")
    turn_on(owner)
    for _ in range(5):
        response = log_in_with_code(app.test_client(), "000000")  # the password is right each time
    locked = log_in(app.test_client(), "owner")

    assert response.status_code == 400 and locked.status_code == 429
    assert "locked for 1 minute" in page_text(locked) and locked.headers["Retry-After"] == "60"


def test_a_new_password_ends_a_pending_second_step(app, owner_with_two_factor, monkeypatch):
    key, _ = owner_with_two_factor
    first_step = log_in(app.test_client(), "owner")
    monkeypatch.setenv("ADMIN_PASSWORD", "a brand new passphrase")
    app.test_cli_runner().invoke(args=["set-password", "owner"])

    data = form_fields(first_step, "/admin/login/code") | {"code": next_code(key)}
    browser = app.test_client()
    response = browser.post("/admin/login/code", data=data)

    assert response.status_code == 400 and not is_logged_in(browser)


def test_remember_me_is_kept_through_the_second_step(app, owner_with_two_factor):
    key, _ = owner_with_two_factor
    browser = app.test_client()
    log_in_with_code(browser, next_code(key), remember="y")
    browser.delete_cookie("inkwell_session")  # the browser was closed
    assert is_logged_in(browser)


def test_a_post_sent_after_the_session_ended_survives_a_two_factor_login(app, client, owner_with_two_factor):
    key, codes = owner_with_two_factor
    browser = app.test_client()
    log_in_with_code(browser, codes[0])
    form = form_fields(browser.get("/admin/posts/new"), "/admin/posts/new")
    browser.delete_cookie("inkwell_session")
    sent = browser.post("/admin/posts/new", data=form | {"title": "Written on a train", "body": "Kept, I hope."})
    assert sent.status_code == 401

    login_fields = form_fields(sent, "/admin/login") | {"username": "owner", "password": PASSWORD}
    first_step = browser.post("/admin/login", data=login_fields)
    data = form_fields(first_step, "/admin/login/code") | {"code": next_code(key)}
    restored = browser.post("/admin/login/code", data=data)

    assert restored.status_code == 200
    assert "Written on a train" in page_text(restored) and "Kept, I hope." in page_text(restored)


def test_the_command_line_turns_it_off_for_a_lost_phone(app, runner, owner_with_two_factor):
    result = runner.invoke(args=["disable-two-factor", "owner"])

    assert "Two-factor authentication is off for owner" in result.output
    assert log_in(app.test_client(), "owner").status_code == 302
    again = runner.invoke(args=["disable-two-factor", "owner"])
    assert again.exit_code != 0 and "is not on for owner" in again.output
    assert "There is no account named 'nobody'." in runner.invoke(args=["disable-two-factor", "nobody"]).output


def test_authors_can_protect_their_own_accounts(app, make_user):
    make_user("writer", UserRole.author)
    author = app.test_client()
    log_in(author, "writer")

    key, _ = turn_on(author)

    assert log_in_with_code(app.test_client(), next_code(key), username="writer").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(User.totp_secret).where(User.username == "writer")) == key


def test_the_audit_log_shows_two_factor_changes_and_wrong_codes(app, client, owner_with_two_factor):
    log_in_with_code(app.test_client(), "000000")

    html = page_text(client.get("/admin/audit"))

    assert "Failed login: wrong code" in html and html.count("Turned on two-factor authentication") == 1
    assert html.index("Failed login: wrong code") < html.index("Turned on two-factor authentication")


def test_an_account_moved_by_export_and_import_keeps_its_two_factor(app, owner_with_two_factor):
    key, codes = owner_with_two_factor
    export = exported(app, with_users=True)
    assert codes[0] not in export and key in export  # the app's key must move; the codes only as hashes
    wipe(app)

    imported(app, export, keep_passwords=True)

    assert log_in(app.test_client(), "owner").status_code == 200  # asks for the code
    assert log_in_with_code(app.test_client(), codes[0]).status_code == 302
    assert log_in_with_code(app.test_client(), next_code(key)).status_code == 302


def test_an_import_with_a_broken_two_factor_entry_says_so_and_changes_nothing(app, owner_with_two_factor):
    data = json.loads(exported(app, with_users=True))
    data["users"][0]["two_factor"]["secret"] = "not base32!"
    wipe(app)

    with pytest.raises(TransferError, match="The two-factor secret of 'owner' is not a base32 key"):
        imported(app, json.dumps(data), keep_passwords=True)
    with app.app_context():
        assert db.session.scalar(select(User.id)) is None
