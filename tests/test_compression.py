"""Pages come compressed from gunicorn alone (Brotli, else gzip), cached pages included, and decode to the same page.

Run with the page cache in files and, when ``TEST_REDIS_URL`` is set, in Redis.
"""

from __future__ import annotations

import gzip
import re
import uuid
import zlib
from pathlib import Path

import brotli
import pytest
import requests
from flask import Response

import compression
from helpers import ROOT
from helpers import TEST_REDIS_URL
from helpers import StatementCounter

STORES = ["files"] + (["redis"] if TEST_REDIS_URL else [])
# The per-reader tokens of the comment form: signed timestamps, new every second.
TOKEN_VALUE = re.compile(r'(name="(?:csrf_token|started)"[^>]*value=")[^"]*"')
DECODE = {"br": brotli.decompress, "gzip": gzip.decompress}


@pytest.fixture(params=STORES)
def cached_app(request, make_app):
    """An app with the page cache on, in the store under test."""
    settings = {"REDIS_URL": TEST_REDIS_URL, "CACHE_KEY_PREFIX": f"inkwell-test-{uuid.uuid4().hex}:"}
    return make_app(PAGE_CACHE=True, **(settings if request.param == "redis" else {}))


def get(app, path, accept_encoding=None, **headers):
    """A reader with no cookies, whose browser accepts ``accept_encoding``."""
    if accept_encoding is not None:
        headers["Accept-Encoding"] = accept_encoding
    return app.test_client().get(path, headers=headers)


def decoded(response) -> bytes:
    encoding = response.headers.get("Content-Encoding")
    return DECODE[encoding](response.data) if encoding else response.data


def without_tokens(body: bytes) -> str:
    return TOKEN_VALUE.sub(r'\1"', body.decode())


@pytest.mark.parametrize("encoding", ["br", "gzip"])
def test_a_cached_page_comes_compressed_and_decodes_to_the_same_page(cached_app, make_post, encoding):
    post = make_post("Squeezed", body="Words worth reading. " * 200)
    for path in ("/", f"/posts/{post.slug}", "/feed.xml"):
        get(cached_app, path)  # stored
        identity = get(cached_app, path, "identity")
        with StatementCounter(cached_app) as statements:
            compressed = get(cached_app, path, f"{encoding}, identity")

        assert statements.count == 0  # from the cache
        assert compressed.headers["Content-Encoding"] == encoding
        assert int(compressed.headers["Content-Length"]) == len(compressed.data) < len(identity.data) / 2
        assert without_tokens(decoded(compressed)) == without_tokens(identity.data)
        assert "Accept-Encoding" in compressed.headers["Vary"] and "Accept-Encoding" in identity.headers["Vary"]
        assert "Content-Encoding" not in identity.headers


def test_the_reader_who_fills_the_cache_gets_the_page_compressed_too(cached_app, make_post):
    post = make_post("First reader")

    first = get(cached_app, f"/posts/{post.slug}", "gzip, deflate, br")
    second = get(cached_app, f"/posts/{post.slug}", "gzip, deflate, br")

    assert first.headers["Content-Encoding"] == second.headers["Content-Encoding"] == "br"
    assert "First reader" in decoded(first).decode() and "First reader" in decoded(second).decode()
    assert int(first.headers["Content-Length"]) == len(first.data)


def test_cached_pages_with_the_comment_form_still_give_each_second_fresh_tokens(cached_app, make_post):
    post = make_post("Tokens")
    get(cached_app, f"/posts/{post.slug}")
    first = get(cached_app, f"/posts/{post.slug}", "br")
    tokens = TOKEN_VALUE.search(decoded(first).decode())

    assert tokens is not None  # the form is there, tokens and all, in the compressed copy


def test_a_worker_keeps_the_compressed_pages_of_this_second_only(monkeypatch):
    # Their tokens change every second, so an earlier second's copies are never sent again: a crawler reading
    # every post must not leave them in each worker's memory.
    kept, renders, now = compression.EncodedOncePerSecond(), [], [1000.0]
    monkeypatch.setattr(compression.time, "time", lambda: now[0])

    def page(name):
        return lambda: renders.append(name) or f"<p>{name} at {now[0]}</p>".encode()

    first = kept.get(("first", "gzip"), page("first"))
    assert kept.get(("first", "gzip"), page("first")) == first and renders == ["first"]
    kept.get(("second", "gzip"), page("second"))
    now[0] += 1
    again = kept.get(("first", "gzip"), page("first"))

    assert gzip.decompress(again) == b"<p>first at 1001.0</p>"
    assert renders == ["first", "second", "first"]
    assert len(kept._known) == 1


@pytest.mark.parametrize("encoding", ["br", "gzip", None])
def test_a_page_the_reader_has_is_answered_304_in_every_encoding(cached_app, make_post, encoding):
    post = make_post("Validated")
    path = f"/posts/{post.slug}"
    get(cached_app, path)
    etag = get(cached_app, path, encoding).headers["ETag"]

    again = get(cached_app, path, encoding, If_None_Match=etag)
    other = get(cached_app, path, "gzip" if encoding == "br" else "br", If_None_Match=etag)

    assert etag.startswith('W/"')  # weak: the same page in other bytes, which Vary keeps apart in caches
    assert again.status_code == 304 and again.data == b""
    assert "Accept-Encoding" in again.headers["Vary"]
    assert other.status_code == 304


def test_a_head_request_gets_the_headers_of_the_compressed_page_and_no_body(cached_app, make_post):
    post = make_post("Heads up", body="Text. " * 300)
    path = f"/posts/{post.slug}"
    get(cached_app, path)
    whole = get(cached_app, path, "br")

    head = cached_app.test_client().head(path, headers={"Accept-Encoding": "br"})

    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Encoding"] == "br"
    assert abs(int(head.headers["Content-Length"]) - len(whole.data)) < 40  # its tokens may be of another second


def test_pages_that_are_never_stored_come_compressed(make_app, make_post):
    app = make_app(PAGE_CACHE=False)
    make_post("Findable", body="Findable words. " * 100)

    for path in ("/", "/search?q=findable", "/feed.xml"):
        response = get(app, path, "gzip")
        assert response.status_code == 200, path
        assert response.headers["Content-Encoding"] == "gzip", path
        assert "Accept-Encoding" in response.headers["Vary"]
        assert response.data[:2] == b"\x1f\x8b"


def test_the_stylesheet_and_scripts_come_compressed_from_static(make_app):
    app = make_app()
    for name in ("style.css", "autosave.js"):
        response = get(app, f"/static/{name}", "br")
        assert response.headers["Content-Encoding"] == "br"
        assert decoded(response) == (ROOT / "static" / name).read_bytes()
        assert "Accept-Ranges" not in response.headers
        etag = response.headers["ETag"]
        assert etag.startswith('W/"')
        assert get(app, f"/static/{name}", "br", If_None_Match=etag).status_code == 304


def test_fonts_images_and_small_answers_are_sent_as_they_are(make_app):
    app = make_app()
    font = next((ROOT / "static" / "fonts").glob("*.woff2"))
    uploads = Path(app.instance_path) / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    picture = uploads / "a-picture.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(5000))  # compressible bytes, as an image type

    woff2 = get(app, f"/static/fonts/{font.name}", "br, gzip")
    image = get(app, f"/uploads/{picture.name}", "br, gzip")
    small = get(app, "/healthz", "br, gzip")
    redirect = get(app, "/admin/", "br, gzip")

    assert "Content-Encoding" not in woff2.headers and woff2.data == font.read_bytes()
    assert image.status_code == 200 and "Content-Encoding" not in image.headers
    assert image.data == picture.read_bytes()
    assert "Content-Encoding" not in small.headers
    assert "Content-Encoding" not in redirect.headers


@pytest.mark.parametrize(
    ("accept_encoding", "expected"),
    [
        ("br, gzip", "br"),
        ("gzip, deflate, br, zstd", "br"),
        ("gzip", "gzip"),
        ("x-gzip", "gzip"),
        ("GZIP", "gzip"),
        ("gzip;q=1, br;q=0.5", "gzip"),
        ("br;q=0, *", "gzip"),
        ("*", "br"),
        ("*;q=0", None),
        ("identity", None),
        ("identity, *;q=0", None),
        ("br;q=0, gzip;q=0", None),
        ("deflate", None),
    ],
)
def test_the_encoding_follows_what_the_reader_accepts(make_app, accept_encoding, expected):
    app = make_app()

    response = get(app, "/", accept_encoding)

    assert response.status_code == 200
    assert response.headers.get("Content-Encoding") == expected
    assert b"<!doctype html>" in decoded(response).lower()


@pytest.mark.parametrize(
    "accept_encoding",
    ["gzip;q=abc", "br;q=2", "br;q=-1", "br;q=nan", ";;;,,,", "br;level=9", "gzip; q", "\t", "br, " * 400, "é;q=1"],
)
def test_a_malformed_accept_encoding_gets_a_page_never_an_error(cached_app, make_post, accept_encoding):
    post = make_post("Robust")
    for _ in range(2):  # rendered, then from the cache
        response = get(cached_app, f"/posts/{post.slug}", accept_encoding)
        assert response.status_code == 200
        assert "Robust" in decoded(response).decode()


SHARED_PIECES = [
    b"<!doctype html><p>A page everyone shares, " * 300,
    b"",  # two holes side by side
    b'</p><form><input name=name value="',
    b'"><input name=website value="',
    '"></form><p>Fin, caf\u00e9.</p>'.encode() * 40,
]


@pytest.mark.parametrize(
    "gaps",
    [
        [b"token", b"Ada", b"", b"https://ada.example"],
        [b"", b"", b"", b""],
        [bytes(range(256)) * 300, b"x", b"\xff" * 65535, b"y" * 65536],  # more than one stored block holds
    ],
)
def test_a_gzip_copy_spliced_for_one_reader_decodes_to_the_shared_pieces_with_theirs_between(gaps):
    pieces = compression.gzip_pieces(SHARED_PIECES)
    expected = SHARED_PIECES[0] + b"".join(gap + piece for gap, piece in zip(gaps, SHARED_PIECES[1:], strict=True))

    spliced = compression.splice_gzip(pieces, gaps)

    assert gzip.decompress(spliced) == expected
    assert zlib.decompress(spliced, wbits=31) == expected  # the trailer's CRC-32 and length checked too


@pytest.mark.parametrize(
    ("accept_encoding", "expected"),
    [("br, gzip", "gzip"), ("gzip, deflate, br, zstd", "gzip"), ("br;q=1, gzip;q=0.1", "gzip"), ("br", "br")]
    + [("br, gzip;q=0", "br"), ("*", "gzip"), ("identity", None), (None, None)],
)
def test_a_copy_for_one_reader_comes_in_gzip_whenever_they_accept_it(accept_encoding, expected):
    assert compression.choose_for_one_reader(accept_encoding, compression.ENCODINGS) == expected
    assert compression.choose_for_one_reader(accept_encoding, {}) is None  # a page not worth compressing


def test_a_streamed_response_is_never_compressed(app):
    with app.test_request_context("/", headers={"Accept-Encoding": "gzip"}):
        streamed = Response((b"x" * 1000 for _ in range(3)), mimetype="text/plain")
        already = Response(b"x" * 1000, mimetype="text/plain", headers={"Content-Encoding": "gzip"})

        assert "Content-Encoding" not in compression.compress_response(streamed).headers
        assert compression.compress_response(already).data == b"x" * 1000


def test_gunicorn_serves_cached_pages_compressed(live_server):
    url = live_server()
    for _ in range(4):  # both workers store the page
        requests.get(f"{url}/posts/welcome", headers={"Accept-Encoding": "identity"}, timeout=10)
    identity = requests.get(f"{url}/posts/welcome", headers={"Accept-Encoding": "identity"}, timeout=10)

    for encoding in ("br", "gzip", "br, gzip"):
        response = requests.get(f"{url}/posts/welcome", headers={"Accept-Encoding": encoding}, timeout=10, stream=True)
        raw = response.raw.read()
        used = response.headers["Content-Encoding"]
        assert used == encoding.split(",")[0]
        assert "Accept-Encoding" in response.headers["Vary"]
        assert int(response.headers["Content-Length"]) == len(raw)
        assert without_tokens(DECODE[used](raw)) == without_tokens(identity.content)

    head = requests.head(f"{url}/posts/welcome", headers={"Accept-Encoding": "br"}, timeout=10)
    etag = head.headers["ETag"]
    again = requests.get(f"{url}/posts/welcome", headers={"Accept-Encoding": "gzip", "If-None-Match": etag}, timeout=10)
    stylesheet = requests.get(f"{url}/static/style.css", headers={"Accept-Encoding": "br"}, timeout=10, stream=True)
    assert head.status_code == 200 and head.headers["Content-Encoding"] == "br"
    assert again.status_code == 304
    assert brotli.decompress(stylesheet.raw.read()) == (ROOT / "static" / "style.css").read_bytes()
    broken = requests.get(f"{url}/posts/welcome", headers={"Accept-Encoding": "br;q=x,,;"}, timeout=10)
    assert broken.status_code == 200 and "Content-Encoding" not in broken.headers
