"""The deployment files in docs/deploy/ work: nginx in front of gunicorn, and a valid systemd unit."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from helpers import ROOT
from helpers import free_port

DEPLOY = ROOT / "docs" / "deploy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def nginx_site_for_test(upstream_port: int, listen_port: int, instance: Path, cache: Path) -> str:
    """Return docs/deploy/nginx.conf pointed at this checkout, the server's instance folder, a free loopback
    port, the test's gunicorn and the test's own micro-cache folder."""
    site = (DEPLOY / "nginx.conf").read_text()
    site = site.replace("/srv/inkwell/instance/", f"{instance}/").replace("/srv/inkwell/", f"{ROOT}/")
    site = site.replace("/var/cache/nginx/inkwell", str(cache))
    site = site.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{listen_port};")
    return site.replace("listen [::]:80;", "")


@contextmanager
def nginx_in_front_of(upstream: str, instance: Path, folder: Path) -> Iterator[str]:
    """Run nginx with docs/deploy/nginx.conf before gunicorn at ``upstream``, its files (and an empty
    micro-cache) in ``folder``; yield its URL."""
    port = free_port()
    mime_types = Path("/etc/nginx/mime.types")
    (folder / "nginx.conf").write_text(
        f"""
        daemon off;
        {"user root;" if os.geteuid() == 0 else ""}  # workers must read the test's private temporary folder
        pid {folder}/nginx.pid;
        error_log {folder}/nginx-error.log;
        events {{ worker_connections 64; }}
        http {{
            {"include " + str(mime_types) + ";" if mime_types.exists() else ""}
            access_log {folder}/nginx-access.log;
            client_body_temp_path {folder}/body;
            proxy_temp_path {folder}/proxy;
            {nginx_site_for_test(int(upstream.rsplit(":", 1)[1]), port, instance, folder / "nginx-cache")}
        }}
        """
    )
    process = subprocess.Popen([NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf")])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            requests.get(f"{url}/healthz", timeout=2)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    try:
        yield url
    finally:
        os.kill(process.pid, signal.SIGQUIT)
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def gunicorn_behind_nginx(module_live_server) -> tuple[str, Path]:
    """One gunicorn for the module's nginx tests that only read pages and files: its URL and instance folder."""
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (apt-get install nginx)")
    return module_live_server(PROXY_FIX="1"), module_live_server.folder / "instance"


@pytest.fixture
def nginx(gunicorn_behind_nginx, tmp_path):
    """A new nginx, its micro-cache empty, in front of the module's gunicorn: its URL and the instance folder."""
    upstream, instance = gunicorn_behind_nginx
    with nginx_in_front_of(upstream, instance, tmp_path) as url:
        yield url, instance


@pytest.fixture
def nginx_and_a_fresh_gunicorn(live_server, tmp_path):
    """A new nginx in front of a new gunicorn, whose own page cache has never stored a page."""
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (apt-get install nginx)")
    with nginx_in_front_of(live_server(PROXY_FIX="1"), tmp_path / "instance", tmp_path) as url:
        yield url


def test_nginx_passes_pages_to_gunicorn_with_the_visitors_address(nginx):
    nginx, _ = nginx
    response = requests.get(f"{nginx}/posts/welcome", timeout=10)
    assert response.status_code == 200 and "Welcome to Inkwell" in response.text
    assert response.headers["Server"].startswith("nginx")
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])  # nginx's $request_id reached the app
    assert '<link rel="canonical" href="http://127.0.0.1/posts/welcome">' in response.text  # the host nginx saw


def test_nginx_keeps_anonymous_pages_for_a_few_seconds_but_never_personal_ones(nginx):
    nginx, _ = nginx
    statuses = [requests.get(f"{nginx}/posts/welcome", timeout=10).headers["X-Cache-Status"] for _ in range(3)]
    personal = requests.get(f"{nginx}/posts/welcome", cookies={"inkwell_session": "x"}, timeout=10)

    assert statuses[0] == "MISS" and statuses[1:] == ["HIT", "HIT"]
    assert personal.headers["X-Cache-Status"] == "BYPASS"
    login = requests.get(f"{nginx}/admin/login", timeout=10)  # a page with a session cookie is never kept
    assert requests.get(f"{nginx}/admin/login", timeout=10).headers["X-Cache-Status"] != "HIT"
    assert "Set-Cookie" in login.headers


def test_nginx_serves_the_stylesheet_itself_compressed_and_cached(nginx):
    nginx, _ = nginx
    page = requests.get(f"{nginx}/", timeout=10).text
    stylesheet = re.search(r'href="(/static/style\.css\?v=[0-9a-f]+)"', page).group(1)
    response = requests.get(f"{nginx}{stylesheet}", headers={"Accept-Encoding": "gzip"}, timeout=10, stream=True)
    raw = response.raw.read()
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "X-Request-ID" not in response.headers  # answered by nginx, not by the app
    assert gzip.decompress(raw) == (ROOT / "static" / "style.css").read_bytes()


def test_nginx_passes_the_apps_compressed_pages_through_and_keeps_one_copy_per_encoding(nginx):
    nginx, _ = nginx
    url = f"{nginx}/posts/welcome"
    answers = {}
    for accept_encoding in ("gzip, deflate, br, zstd", "br;q=1.0, gzip;q=0.8", "gzip, deflate", "identity", "br;q=0"):
        response = requests.get(url, headers={"Accept-Encoding": accept_encoding}, timeout=10, stream=True)
        answers[accept_encoding] = (response.headers, response.raw.read())

    def encoding(accept_encoding: str) -> str | None:
        return answers[accept_encoding][0].get("Content-Encoding")

    assert [encoding(name) for name in answers] == ["br", "br", "gzip", None, None]
    assert [answers[name][0]["X-Cache-Status"] for name in answers] == ["MISS", "HIT", "MISS", "MISS", "HIT"]
    headers, raw = answers["gzip, deflate"]
    assert "X-Request-ID" in headers  # compressed by the app, once: nginx passed it through
    assert "Welcome to Inkwell" in gzip.decompress(raw).decode()
    assert "Accept-Encoding" in headers["Vary"]
    assert b"Welcome to Inkwell" in answers["identity"][1]


def test_nginx_serves_the_themes_static_file_over_the_built_in_one(nginx):
    nginx, instance = nginx
    themed = instance / "theme" / "static" / "favicon.svg"
    themed.parent.mkdir(parents=True, exist_ok=True)
    themed.write_text('<svg xmlns="http://www.w3.org/2000/svg"><title>the owner\'s</title></svg>')
    try:
        icon = requests.get(f"{nginx}/static/favicon.svg", timeout=10)
        stylesheet = requests.get(f"{nginx}/static/style.css", timeout=10)
    finally:
        themed.unlink()
    assert "the owner's" in icon.text and "X-Request-ID" not in icon.headers  # from disk, by nginx
    assert stylesheet.content == (ROOT / "static" / "style.css").read_bytes()  # what the theme lacks stays built in
    assert stylesheet.headers["X-Content-Type-Options"] == "nosniff"


def test_nginx_serves_uploaded_images_for_a_year(nginx):
    nginx, instance = nginx
    uploads = instance / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    image = uploads / "photo.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    response = requests.get(f"{nginx}/uploads/{image.name}", timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    assert "immutable" in response.headers["Cache-Control"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    for copy, kind in (("photo.w480.webp", "image/webp"), ("photo.w1.avif", "image/avif")):  # image_sizes.py
        (uploads / copy).write_bytes(b"RIFF\0\0\0\0WEBPVP8 " + b"\0" * 32)
        served = requests.get(f"{nginx}/uploads/{copy}", timeout=10)
        assert served.status_code == 200 and served.headers["Content-Type"] == kind
        assert "immutable" in served.headers["Cache-Control"]
    (uploads / "photo.w480.webp.html").write_bytes(b"<script>alert(1)</script>")
    assert requests.get(f"{nginx}/uploads/photo.w480.webp.html", timeout=10).status_code == 404


def test_nginx_serves_nothing_but_images_from_the_uploads_folder(nginx):
    nginx, instance = nginx
    uploads = instance / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    for name in ("x.html", "x.js", "x.svg", "x.png.html"):
        (uploads / name).write_bytes(b"GIF89a<script>alert(document.cookie)</script>")
    (uploads / "x.png").write_bytes(b"<html><script>alert(1)</script>")  # whatever is inside, a PNG's type

    for name in ("x.html", "x.js", "x.svg", "x.png.html"):
        assert requests.get(f"{nginx}/uploads/{name}", timeout=10).status_code == 404
    image = requests.get(f"{nginx}/uploads/x.png", timeout=10)
    assert image.headers["Content-Type"] == "image/png" and "sandbox" in image.headers["Content-Security-Policy"]


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
def test_systemd_unit_passes_systemd_analyze_verify(tmp_path):
    unit = (DEPLOY / "inkwell.service").read_text()
    unit = unit.replace("/srv/inkwell/.venv/bin/", f"{Path(sys.executable).parent}/").replace("/srv/inkwell", str(ROOT))
    unit = unit.replace("User=inkwell", "User=root").replace("Group=inkwell", "Group=root")
    path = tmp_path / "inkwell.service"
    path.write_text(unit)
    result = subprocess.run([SYSTEMD_ANALYZE, "verify", str(path)], capture_output=True, text=True)
    problems = [line for line in result.stderr.splitlines() if "inkwell.service" in line]
    assert result.returncode == 0 and problems == [], result.stderr


# Headers a visitor may send that the documented nginx neither sets nor keys its micro-cache on.
POISONING_HEADERS = {
    "X-Forwarded-Prefix": "//evil.example",
    "X-Forwarded-Port": "8443",
    "X-Original-URL": "//evil.example/",
    "X-Rewrite-URL": "//evil.example/",
    "Forwarded": "host=evil.example;proto=https",
    "Accept-Language": "xx",
}
SHARED_PAGES = ("/", "/posts/welcome", "/feed.xml", "/posts/welcome/comments.xml", "/sitemap.xml", "/tags/")


def test_headers_a_visitor_sends_change_no_page_that_nginx_keeps_for_others(nginx_and_a_fresh_gunicorn):
    # A fresh gunicorn: the visitor's requests are the first the app renders, not pages it stored for others.
    nginx = nginx_and_a_fresh_gunicorn
    headers = POISONING_HEADERS | {"X-Forwarded-Host": "evil.example"}
    poisoned = {path: requests.get(f"{nginx}{path}", headers=headers, timeout=10) for path in SHARED_PAGES}

    for path in SHARED_PAGES:
        reader = requests.get(f"{nginx}{path}", timeout=10)
        assert reader.headers["X-Cache-Status"] == "HIT", path  # the visitor's answer is the one kept
        assert "evil.example" not in reader.text, path
        assert 'href="http://127.0.0.1/' in reader.text or "<loc>http://127.0.0.1/" in reader.text, path
    for path, response in poisoned.items():
        assert response.status_code == 200 and "evil.example" not in response.text, path


@pytest.mark.parametrize("proxy_fix", ["1", "0"])
def test_headers_a_visitor_sends_to_gunicorn_change_no_page(live_server, proxy_fix):
    url = live_server(PROXY_FIX=proxy_fix)
    headers = POISONING_HEADERS | {"Cookie": "tracking=1"}
    if proxy_fix == "0":
        headers["X-Forwarded-Host"] = "evil.example"
    for path in SHARED_PAGES:
        poisoned = requests.get(f"{url}{path}", headers=headers, timeout=10)
        assert poisoned.status_code == 200 and "evil.example" not in poisoned.text, path
    moved = requests.get(f"{url}//evil.example/", headers={"SCRIPT_NAME": "//evil.example"}, timeout=10)
    assert "//evil.example/posts" not in moved.text  # gunicorn takes no SCRIPT_NAME header either

    for path in SHARED_PAGES:
        assert "evil.example" not in requests.get(f"{url}{path}", timeout=10).text, path
