"""Uploaded images can neither take the blog down nor become pages: decompression bombs are refused from
their headers, before any pixel is decoded, and only images are ever served from /uploads/."""

from __future__ import annotations

import io
import random
import re
from pathlib import Path

import pytest
import requests
from PIL import Image

from helpers import CSRF_FIELD
from helpers import PASSWORD
from helpers import animation
from helpers import gif_bomb
from helpers import page_text
from helpers import png_bytes
from helpers import submit_post

TOO_MANY_PIXELS = "That image has too many pixels to be shown safely"


def stored_uploads(app) -> list[Path]:
    folder = Path(app.instance_path) / "uploads"
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize(
    ("make_image", "filename"),
    [
        (lambda: gif_bomb(500, 500, 200), "frames.gif"),
        (lambda: gif_bomb(500, 500, 200, beyond_the_canvas=True), "growing.gif"),
        (lambda: animation("PNG", (500, 500), 200), "frames.png"),
        (lambda: animation("WEBP", (650, 650), 100), "frames.webp"),
    ],
    ids=["GIF: 200 frames", "GIF: frames beyond its canvas", "APNG: 200 frames", "animated WebP: 100 frames"],
)
def test_an_animation_with_too_many_pixels_in_all_its_frames_is_refused_and_the_post_is_kept(
    app, client, admin, make_image, filename
):
    # Each frame is small; only all of them together pass the 40-megapixel budget.
    response = submit_post(
        client, title="Kept title", body="Kept body", action="upload", image=(io.BytesIO(make_image()), filename)
    )

    html = page_text(response)
    assert response.status_code == 400
    assert 'id="image-error"' in html and TOO_MANY_PIXELS in html and "(all frames together)" in html
    assert 'value="Kept title"' in html and "Kept body" in html
    assert stored_uploads(app) == []


def multi_page_tiff() -> bytes:
    output = io.BytesIO()
    pages = [Image.new("RGB", (64, 64), color) for color in ("red", "blue", "green")]
    pages[0].save(output, format="TIFF", save_all=True, append_images=pages[1:])
    return output.getvalue()


def icon_with_layers() -> bytes:
    output = io.BytesIO()
    Image.new("RGB", (256, 256), "red").save(output, format="ICO", sizes=[(16, 16), (64, 64), (256, 256)])
    return output.getvalue()


@pytest.mark.parametrize(
    ("make_image", "filename"),
    [(multi_page_tiff, "pages.gif"), (icon_with_layers, "icon.png")],
    ids=["multi-page TIFF", "ICO"],
)
def test_formats_with_many_pages_or_layers_are_refused_by_their_bytes(client, admin, make_image, filename):
    response = submit_post(client, action="upload", image=(io.BytesIO(make_image()), filename))

    assert response.status_code == 400
    assert "That file is not a PNG, JPEG, GIF or WebP image" in page_text(response)


def test_an_animation_within_the_budget_uploads_and_stays_animated(app, client, admin):
    response = submit_post(
        client,
        action="upload",
        image=(io.BytesIO(animation("GIF", (100, 100), 10)), "a.gif"),
        image_alt="Describe the image",
    )

    assert response.status_code == 200
    url = page_text(response).split("![Describe the image](", 1)[1].split(")", 1)[0]
    served = client.get(url)
    assert served.headers["Content-Type"] == "image/gif"
    assert Image.open(io.BytesIO(served.data)).n_frames == 10


def test_a_photo_larger_than_a_readers_form_may_send_uploads_in_the_editor(app, client, admin):
    photo = io.BytesIO()
    noise = random.Random(1).randbytes(800 * 800 * 3)  # does not compress
    Image.frombytes("RGB", (800, 800), noise).save(photo, "PNG")
    assert app.config["MAX_CONTENT_LENGTH"] < len(photo.getvalue()) < app.config["UPLOAD_MAX_BYTES"]

    response = submit_post(
        client, action="upload", image=(io.BytesIO(photo.getvalue()), "photo.png"), image_alt="Describe the image"
    )

    assert response.status_code == 200
    assert "![Describe the image](/uploads/" in page_text(response)


def test_the_pixel_budget_is_a_setting(app, client, admin):
    app.config["UPLOAD_MAX_PIXELS"] = 1_000_000

    response = submit_post(
        client, action="upload", image=(io.BytesIO(png_bytes(1200, 1000)), "photo.png"), image_alt="Describe the image"
    )

    assert response.status_code == 400
    assert "1,200 × 1,000 pixels is 1.2 megapixels, and at most 1 megapixels are accepted" in page_text(response)


def browser_logged_in(url: str) -> requests.Session:
    """Log in as the owner over real HTTP, as a browser would, with the form's CSRF token."""
    browser = requests.Session()
    token = CSRF_FIELD.search(browser.get(f"{url}/admin/login", timeout=10).text).group(1)
    response = browser.post(
        f"{url}/admin/login", data={"username": "owner", "password": PASSWORD, "csrf_token": token}, timeout=10
    )
    assert response.status_code == 200 and "/admin/login" not in response.url
    return browser


@pytest.fixture(scope="module")
def capped_server(module_live_server) -> str:
    """One gunicorn for both bombs, each process capped at 1 GB: the second bomb meets a worker that lived on."""
    return module_live_server(memory_limit_mb=1024)


@pytest.mark.parametrize("beyond_the_canvas", [False, True], ids=["header claims 6000 × 6000", "frames beyond"])
def test_the_issues_gif_bomb_is_refused_by_gunicorn_and_the_worker_lives_on(
    capped_server, module_live_server, beyond_the_canvas
):
    # A worker that decoded every frame would need gigabytes; capped at 1 GB it fails instead of the machine.
    url = capped_server
    bomb = gif_bomb(6000, 6000, 200, beyond_the_canvas=beyond_the_canvas)
    assert len(bomb) < 10_000
    browser = browser_logged_in(url)
    form = browser.get(f"{url}/admin/posts/new", timeout=10).text
    token = CSRF_FIELD.search(form, form.find('action="/admin/posts/new')).group(1)

    response = browser.post(
        f"{url}/admin/posts/new",
        data={"csrf_token": token, "title": "Kept title", "body": "Kept body", "action": "upload"},
        files={"image": ("bomb.gif", bomb, "image/gif")},
        timeout=60,
    )

    assert response.status_code == 400
    assert TOO_MANY_PIXELS in response.text and "6,000 × 6,000 pixels in 200 frames" in response.text
    assert "Kept body" in response.text
    assert browser.get(f"{url}/healthz", timeout=10).status_code == 200
    log = "".join(path.read_text() for path in module_live_server.folder.glob("gunicorn-*.log"))
    assert not re.search(r"WORKER TIMEOUT|SIGKILL|Worker exiting|MemoryError", log), log


@pytest.mark.parametrize("name", ["x.html", "x.js", "x.svg", "x.png.html", "x.PNG", ".htaccess", "x.jpeg"])
def test_only_images_are_ever_served_from_the_uploads_folder(app, client, name):
    # However a file reached the folder (an old import, a hand copy), only Inkwell's image names are served.
    folder = Path(app.instance_path) / "uploads"
    folder.mkdir(parents=True)
    (folder / name).write_bytes(b"GIF89a<script>alert(document.cookie)</script>")
    (folder / "photo-1.png").write_bytes(png_bytes())

    assert client.get(f"/uploads/{name}").status_code == 404
    image = client.get("/uploads/photo-1.png")
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    assert image.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
