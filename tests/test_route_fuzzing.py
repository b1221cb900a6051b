"""Every route and method, fed random and hostile input by Hypothesis: never a 5xx, never a traceback, and a
refused request changes nothing in the database. Logged out, and logged in as an author.

``HYPOTHESIS_PROFILE=fuzz`` (``make fuzz``) runs many more examples than `make test` does.
"""

from __future__ import annotations

import json
import os
import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlalchemy import select

from account.tables import RecoveryCode
from account.tables import User
from account.tables import UserRole
from database import db
from helpers import csrf_token
from helpers import log_in
from helpers import post_comment
from models import Comment
from models import Post
from models import Tag

EXAMPLES = 2_000 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 120
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
FIELDS = [
    "csrf_token", "name", "email", "website", "body", "homepage", "parent_id", "started", "remember", "action",
    "title", "slug", "excerpt", "tags", "status", "published_at", "comments_open", "username", "password", "next",
    "carry", "ids", "bulk_action", "back", "export", "q", "page", "code", "pending", "secret", "codes-password",
    "off-password",
]  # fmt: skip
NASTY = [
    "", "0", "-1", "1" * 30, "abc", "../../etc/passwd", "%00", "\x00", "\ud800", "<script>alert(1)</script>",
    "' OR 1=1 --", "{{7*7}}", "${7*7}", "\u202e", "x" * 5000, "1e309", "NaN", "[]", "{}", "null", "true",
    "2026-13-45T25:61", "javascript:alert(1)", "/\\evil.example", "é", "🙂",
]  # fmt: skip
IDS = ["1", "2", "2147483647", "2147483648", "99999999999", "999999999999", "0", "-1"]  # around PostgreSQL's INTEGER
text = st.one_of(st.sampled_from(NASTY + IDS), st.text(max_size=40))
path_value = st.one_of(st.sampled_from([*IDS, "welcome", "a b", "%2e%2e"]), text)


def routes(app) -> list[tuple[str, list[str]]]:
    return [
        (rule.rule, sorted(rule.methods - {"OPTIONS"}))
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
    ]


def fill(rule: str, values: list[str]) -> str:
    """Put values into a rule's placeholders (numbers stay digits where the rule wants an int)."""
    parts = iter(values)

    def one(match: re.Match) -> str:
        value = next(parts, "x")
        if match.group(1) == "int":
            digits = re.sub(r"\D", "", value)
            return digits[:12] or "1"
        return escaped(value) or "x"

    return CONVERTER.sub(one, rule)


request_parts = st.fixed_dictionaries(
    {
        "route": st.integers(min_value=0, max_value=10_000),
        "method": st.integers(min_value=0, max_value=10),
        "values": st.lists(path_value, min_size=2, max_size=2),
        "query": st.lists(st.tuples(st.sampled_from(FIELDS), text), max_size=4),
        "form": st.lists(st.tuples(st.sampled_from(FIELDS), text), max_size=8),
        "body_kind": st.sampled_from(["form", "form", "json", "garbage", "bad-utf8", "multipart"]),
        "headers": st.dictionaries(
            st.sampled_from(["If-None-Match", "If-Modified-Since", "Cookie", "Host", "X-Request-ID", "Origin",
                             "Sec-Fetch-Site", "X-Forwarded-For", "Content-Type", "Accept-Encoding", "Range"]),
            st.one_of(st.sampled_from(['"abc"', "*", 'W/"x", "y"', "Mon, 99 Foo 2026", "x" * 9000,
                                       "inkwell_session=" + "A" * 5000, "evil.example", "null", "bytes=0-5,9-"]),
                      st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)),
            max_size=3,
        ),
    }
)  # fmt: skip


def counts() -> dict[str, int]:
    return {
        model.__name__: db.session.scalar(select(func.count()).select_from(model))
        for model in (Post, Comment, Tag, User, RecoveryCode)
    }


def escaped(value: str) -> str:
    """Percent-encode a value's UTF-8 bytes (a lone surrogate becomes invalid UTF-8, on purpose)."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def send(client, rule: str, methods: list[str], parts: dict):
    method = methods[parts["method"] % len(methods)]
    path = fill(rule, parts["values"])
    query = "&".join(f"{name}={escaped(value)}" for name, value in parts["query"])
    headers = {name: value for name, value in parts["headers"].items()}
    kind = parts["body_kind"]
    arguments: dict = {"method": method, "query_string": query, "headers": headers}
    if method == "POST":
        if kind == "json":
            arguments["data"] = json.dumps(dict(parts["form"])).encode("utf-8", "surrogatepass")
            arguments["content_type"] = "application/json"
        elif kind == "garbage":
            arguments["data"] = b"\xff\xfe\x00garbage=" + b"\x00" * 50
            arguments["content_type"] = "application/x-www-form-urlencoded"
        elif kind == "bad-utf8":
            arguments["data"] = b"name=%FF%FE&body=\xc3\x28&csrf_token=\xe2\x82"
            arguments["content_type"] = "application/x-www-form-urlencoded"
        elif kind == "multipart":
            arguments["data"] = {name: value.encode("utf-8", "replace").decode() for name, value in parts["form"]}
            arguments["content_type"] = "multipart/form-data"
        else:
            form = "&".join(f"{name}={escaped(value)}" for name, value in parts["form"])  # duplicates kept
            arguments["data"] = form
            arguments["content_type"] = "application/x-www-form-urlencoded"
    return client.open(path, **arguments), method, path


def check(app, client, parts: dict) -> None:
    rule, methods = routes(app)[parts["route"] % len(routes(app))]
    with app.app_context():
        before = counts()
    response, method, path = send(client, rule, methods, parts)
    body = response.get_data()
    assert response.status_code < 500, (method, path, response.status_code)
    assert b"Traceback" not in body and b"sqlalchemy." not in body, (method, path)
    if response.status_code >= 400:
        with app.app_context():
            assert counts() == before, (method, path, response.status_code)


@pytest.fixture
def fuzzed_app(make_app, make_post):
    app = make_app(COMMENT_MODERATION="first-time", LOGIN_RATE_LIMIT="10000 per minute")
    post = make_post("Welcome", slug="welcome", tags=("notes",))
    post_comment(app.test_client(), post.slug, body="Something to reply to")
    with app.app_context():
        author = User(username="writer", display_name="Writer", role=UserRole.author)
        author.set_password("correct horse battery staple")
        db.session.add(author)
        db.session.commit()
    return app


@FUZZ
@given(parts=request_parts)
def test_logged_out_visitors_meet_no_server_error(fuzzed_app, parts):
    check(fuzzed_app, fuzzed_app.test_client(), parts)


@pytest.fixture
def author_client(fuzzed_app):
    client = fuzzed_app.test_client()
    assert log_in(client, "writer").status_code == 302
    return client


@FUZZ
@given(parts=request_parts)
def test_a_logged_in_author_meets_no_server_error(fuzzed_app, author_client, parts):
    if author_client.get("/admin/").status_code != 200:  # a fuzzed request may have logged out
        assert log_in(author_client, "writer").status_code == 302
    check(fuzzed_app, author_client, parts)


TOO_LARGE = "2147483648"  # one more than PostgreSQL's INTEGER holds


@pytest.mark.parametrize(
    "path",
    [
        f"/admin/posts/{TOO_LARGE}/edit",
        f"/admin/posts/{TOO_LARGE}/delete",
        f"/admin/comments/{TOO_LARGE}/edit",
        f"/posts/welcome/comments/{TOO_LARGE}",
        f"/posts/welcome/comments/{TOO_LARGE}/edit",
        f"/sitemap-{TOO_LARGE}.xml",
    ],
)
def test_an_id_too_large_for_the_database_is_not_found(fuzzed_app, author_client, path):
    """Found by the route fuzzer on PostgreSQL: /admin/posts/999999999999/edit was a 500."""
    assert author_client.get(path).status_code == 404


def test_ids_too_large_for_the_database_in_forms_are_refused_politely(fuzzed_app, author_client):
    reply = post_comment(author_client, "welcome", body="A reply to nothing", parent_id="99999999999")
    token = csrf_token(author_client, "/admin/posts/new")  # the session's token, as on every admin form
    moderate = author_client.post(
        "/admin/comments/bulk", data={"ids": ["99999999999", TOO_LARGE], "bulk_action": "approve", "csrf_token": token}
    )
    assert reply.status_code == 400 and moderate.status_code == 303
