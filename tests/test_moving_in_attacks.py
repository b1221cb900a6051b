"""Moving in from the browser, attacked: strangers, careless owners, double clicks and interrupted imports."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from helpers import csrf_token
from helpers import form_fields
from helpers import log_in
from helpers import page_text
from models import UserRole

START = "/admin/import/"
RUN = "/admin/import/run"
WORDPRESS = (Path(__file__).parent / "fixtures" / "wordpress.xml").read_bytes()


def check(client, content: bytes = WORDPRESS, name: str = "marta.xml"):
    """Send an export through the import form with its CSRF token; return the page showing the dry run."""
    token = csrf_token(client, START, START)
    data = {"csrf_token": token, "source": "wordpress", "export": (io.BytesIO(content), name), "pages": "y"}
    return client.post(START, data=data, content_type="multipart/form-data")


def uploaded_images(app) -> set[str]:
    folder = Path(app.instance_path) / "uploads"
    return {path.name for path in folder.iterdir()} if folder.is_dir() else set()


@pytest.mark.parametrize("who", ["stranger", "author"])
def test_a_large_upload_from_anyone_but_an_administrator_does_not_show_the_import_page(make_app, make_user, who):
    app = make_app(UPLOAD_MAX_BYTES=1024)
    owner = app.test_client()
    make_user("owner", UserRole.admin)
    log_in(owner, "owner")
    owner.post(RUN, data=form_fields(check(owner, name="private-diary.xml"), RUN))
    visitor = app.test_client()
    if who == "author":
        make_user("writer", UserRole.author)
        log_in(visitor, "writer")

    large = {"source": "wordpress", "export": (io.BytesIO(b"x" * 10_000), "big.xml")}
    response = visitor.post(START, data=large, content_type="multipart/form-data")

    assert "private-diary.xml" not in page_text(response)
    assert "Move in from another blog" not in page_text(response)
    then = visitor.get(response.headers["Location"])
    assert then.status_code == 403 if who == "author" else "/admin/login" in then.headers["Location"]
