"""The media library: every uploaded image with where it is used and its description; unused ones go to a trash
from which they come back or are deleted for good, and a trashed image is gone for readers. Images are inserted
into a post in one step, from the form without JavaScript, and pasted or dropped with it (in Chromium)."""

from __future__ import annotations

import base64
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from account.tables import UserRole
from admin.tables import Upload
from audit import AuditEntry
from database import db
from database import now_utc
from helpers import CHROMIUM
from helpers import CHROMIUM_FLAGS
from helpers import PASSWORD
from helpers import ROOT
from helpers import csrf_token
from helpers import log_in
from helpers import page_text
from helpers import png_bytes
from helpers import submit_post
from image_sizes import is_copy
from models import Post

MEDIA = "/admin/media"
ARTIFACTS = ROOT / "test-artifacts"


def insert_new_image(client, url: str = "/admin/posts/new", **fields):
    """Save the post form with a new image and its description; return the response and the image's name."""
    folder = Path(client.application.instance_path, "uploads")
    before = set(folder.glob("*.png"))
    data = {"body": "Before the picture.", "image": (io.BytesIO(png_bytes(40, 20)), "harbour.png")}
    response = submit_post(client, url, **(data | {"image_alt": "Boats at dawn"} | fields))
    new = set(folder.glob("*.png")) - before
    return response, new.pop().name if new else None


def post_body(app, title: str) -> str:
    with app.app_context():
        return db.session.scalar(select(Post.body).where(Post.title == title))


def post_id(app, title: str) -> int:
    with app.app_context():
        return db.session.scalar(select(Post.id).where(Post.title == title))


def library_button(client, name: str, what: str, **data):
    """Press a button of the library's form sent to /admin/media/<name>/<what>, with the page's token."""
    action = f"{MEDIA}/{name}/{what}"
    return client.post(action, data={"csrf_token": csrf_token(client, MEDIA, action=action)} | data)


def stale_button(client, name: str, what: str):
    """Press a library button shown earlier (in another tab, say), which the library no longer shows."""
    return client.post(f"{MEDIA}/{name}/{what}", data={"csrf_token": csrf_token(client, MEDIA)})


def audit_actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_an_image_saved_with_a_post_is_in_its_text_and_listed_with_the_post_that_shows_it(app, client, admin):
    response, name = insert_new_image(client, title="Harbour")

    assert response.status_code == 303
    assert post_body(app, "Harbour") == f"Before the picture.\n\n![Boats at dawn](/uploads/{name})"
    library = page_text(client.get(MEDIA))
    entry = library.split(f'id="image-{name.split(".")[0]}"', 1)[1].split("</li>", 1)[0]
    assert f'src="/uploads/{name}"' in entry and 'alt="Boats at dawn"' in entry
    assert re.search(r"\d+ bytes, 40 × 20 pixels; uploaded\s+<time[^>]*>[^<]+</time> by Olive Owner", entry)
    assert f'<a href="/admin/posts/{post_id(app, "Harbour")}/edit">“Harbour”</a>' in entry
    assert "Move to the trash" not in entry  # a post shows it


def test_the_library_forgets_a_post_once_its_text_no_longer_shows_the_image(app, client, admin):
    _, name = insert_new_image(client, title="Harbour")
    edit = f"/admin/posts/{post_id(app, 'Harbour')}/edit"

    submit_post(client, edit, title="Harbour", body="No picture after all.")

    entry = page_text(client.get(MEDIA)).split(f'id="image-{name.split(".")[0]}"', 1)[1].split("</li>", 1)[0]
    assert "Not shown in any post." in entry and "Move to the trash" in entry


def test_an_image_a_post_shows_is_not_trashed_and_the_page_says_which_post(app, client, admin):
    _, name = insert_new_image(client, title="Harbour")

    assert f'action="{MEDIA}/{name}/delete"' not in page_text(client.get(MEDIA))
    response = stale_button(client, name, "delete")

    assert response.status_code == 409
    assert f"{name} was not deleted: it is shown in “Harbour”." in page_text(response)
    assert client.get(f"/uploads/{name}").status_code == 200
    assert "Moved an image to the trash" not in audit_actions(app)


def test_a_trashed_image_is_gone_for_readers_until_it_is_restored(app, client, admin):
    _, name = insert_new_image(client, action="upload")  # inserted in a post never saved: used nowhere

    trashed = library_button(client, name, "delete")

    assert trashed.status_code == 303
    assert "readers no longer see it" in page_text(client.get(trashed.headers["Location"]))
    assert client.get(f"/uploads/{name}").status_code == 404
    assert name not in page_text(client.get(MEDIA))
    trash = page_text(client.get(f"{MEDIA}/trash"))
    assert name in trash and "Boats at dawn" in trash and "by owner" in trash

    again = stale_button(client, name, "delete")
    assert again.status_code == 404 and "is already in the trash" in page_text(again)

    action = f"{MEDIA}/trash/{name}/restore"
    restored = client.post(action, data={"csrf_token": csrf_token(client, f"{MEDIA}/trash", action=action)})
    assert restored.status_code == 303
    assert client.get(f"/uploads/{name}").status_code == 200
    assert client.post(action, data={"csrf_token": csrf_token(client, MEDIA)}).status_code == 404
    assert audit_actions(app)[-2:] == ["Moved an image to the trash", "Restored an image from the trash"]


def test_an_image_deleted_forever_leaves_no_file_and_deleting_it_again_says_so(app, client, admin):
    _, name = insert_new_image(client, action="upload")
    library_button(client, name, "delete")
    action = f"{MEDIA}/trash/{name}/delete"

    question = client.get(action)
    assert question.status_code == 200 and f"Delete {name} forever?" in page_text(question)
    deleted = client.post(action, data={"csrf_token": csrf_token(client, action, action=action)})

    assert deleted.status_code == 303
    assert not any(Path(app.instance_path).glob(f"uploads*/{name}"))
    twice = client.post(action, data={"csrf_token": csrf_token(client, MEDIA)})
    assert twice.status_code == 404 and "There is no image" in page_text(twice)
    assert audit_actions(app)[-1] == "Deleted an image forever"


def test_purge_deletes_images_trashed_long_ago_with_their_files_and_keeps_recent_ones(app, client, admin, runner):
    _, old = insert_new_image(client, action="upload")
    _, recent = insert_new_image(client, action="upload")
    library_button(client, old, "delete")
    library_button(client, recent, "delete")
    with app.app_context():
        db.session.get(Upload, old).trashed_at = now_utc() - timedelta(days=31)
        db.session.commit()

    result = runner.invoke(args=["purge"])

    assert "Deleted forever 1 images in the trash for over 30 days." in result.output
    trash = Path(app.instance_path) / "uploads-trash"
    assert not (trash / old).exists() and (trash / recent).exists()
    with app.app_context():
        assert db.session.get(Upload, old) is None and db.session.get(Upload, recent) is not None


def test_a_description_is_edited_in_the_library_and_offered_when_the_image_is_chosen_again(app, client, admin):
    _, name = insert_new_image(client, action="upload")
    stem = name.split(".")[0]

    saved = library_button(client, name, "alt", **{f"{stem}-alt": "Fishing boats at dawn"})
    assert saved.status_code == 303

    inserted = submit_post(client, title="Again", body="Text.", image_pick=name)
    assert inserted.status_code == 303
    assert post_body(app, "Again") == f"Text.\n\n![Fishing boats at dawn](/uploads/{name})"
    assert audit_actions(app)[-2] == "Changed an image's description"


def test_an_empty_description_is_refused_unless_the_image_is_decorative(app, client, admin):
    _, name = insert_new_image(client, action="upload")
    stem = name.split(".")[0]

    refused = library_button(client, name, "alt", **{f"{stem}-alt": "  "})
    assert refused.status_code == 400
    assert f'id="{stem}-alt-error"' in page_text(refused) and "Please describe the image" in page_text(refused)

    decorative = library_button(client, name, "alt", **{f"{stem}-alt": "", f"{stem}-decorative": "y"})
    assert decorative.status_code == 303
    inserted = submit_post(client, title="Plain", body="Text.", image_pick=name)
    assert inserted.status_code == 303 and post_body(app, "Plain") == f"Text.\n\n![](/uploads/{name})"


def test_a_new_image_without_a_description_stays_chosen_so_only_the_description_is_asked(app, client, admin):
    response, name = insert_new_image(client, title="Kept title", image_alt="")

    html = page_text(response)
    assert response.status_code == 400
    assert 'id="image_alt-error"' in html and "you need not choose its file again" in html
    assert f'<option selected value="{name}">' in html and 'value="Kept title"' in html
    assert post_id(app, "Kept title") is None

    saved = submit_post(client, title="Kept title", body="Before the picture.", image_pick=name, image_alt="Boats")
    assert saved.status_code == 303
    assert post_body(app, "Kept title") == f"Before the picture.\n\n![Boats](/uploads/{name})"


@pytest.mark.parametrize(
    ("alt", "markdown"),
    [("A [bracketed] word", r"![A \[bracketed\] word]"), (r"back\slash", r"![back\\slash]")],
)
def test_a_description_cannot_break_the_markdown_it_is_written_into(app, client, admin, alt, markdown):
    submit_post(
        client, title="Escaped", body="", image=(io.BytesIO(png_bytes()), "x.png"), image_alt=alt, status="published"
    )

    assert post_body(app, "Escaped").startswith(markdown)
    assert f'alt="{alt}"' in page_text(client.get("/posts/escaped")).replace("&#34;", '"')


def test_unknown_images_are_refused_with_a_message_never_an_error(app, client, admin):
    chosen = submit_post(client, title="Kept", body="Kept body", image_pick="0123456789abcdef.png", image_alt="x")
    assert chosen.status_code == 400 and "There is no image “0123456789abcdef.png”" in page_text(chosen)
    assert "Kept body" in page_text(chosen)

    token = csrf_token(client, MEDIA)
    for path in ("nothing.png/alt", "nothing.png/delete", "trash/nothing.png/restore", "..%2Fsecret_key/delete"):
        response = client.post(f"{MEDIA}/{path}", data={"csrf_token": token})
        assert response.status_code == 404, path


def test_images_already_in_the_uploads_folder_are_listed(app, client, admin):
    folder = Path(app.instance_path) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "imported-photo.png").write_bytes(png_bytes(3, 3))

    library = page_text(client.get(MEDIA))

    assert "imported-photo.png" in library and "3 × 3 pixels" in library and "Not shown in any post." in library


def upload_json(client, token: str, **fields):
    data = {"csrf_token": token, "image": (io.BytesIO(png_bytes()), "pasted.png"), "alt": "Pasted"} | fields
    return client.post(f"{MEDIA}/upload", data=data, content_type="multipart/form-data")


def test_the_editors_upload_address_answers_json_with_the_markdown_or_the_reason(app, client, admin):
    token = csrf_token(client, "/admin/posts/new")

    stored = upload_json(client, token)
    assert stored.status_code == 201
    answer = stored.get_json()
    assert answer["snippet"] == f"![Pasted](/uploads/{answer['name']})"
    assert client.get(answer["url"]).status_code == 200

    refused = {
        "not an image": upload_json(client, token, image=(io.BytesIO(b"hello"), "x.png")),
        "no description": upload_json(client, token, alt=""),
        "expired page": upload_json(client, "stale"),
        "too large": upload_json(client, token, image=(io.BytesIO(png_bytes() + b"\0" * 5_000_000), "big.png")),
    }
    assert {what: response.status_code for what, response in refused.items()} == dict.fromkeys(refused, 400)
    assert "is not a PNG, JPEG, GIF or WebP image" in refused["not an image"].get_json()["error"]
    assert refused["no description"].get_json()["field"] == "alt"
    assert "This page expired" in refused["expired page"].get_json()["error"]
    assert "images can be at most 4 MB" in refused["too large"].get_json()["error"]
    assert len([p for p in (Path(app.instance_path) / "uploads").iterdir() if not is_copy(p.name)]) == 1
    assert upload_json(client, token, alt="", decorative="y").status_code == 201


def test_an_author_changes_only_the_images_they_uploaded(app, client, admin, make_user):
    make_user("writer", role=UserRole.author)
    _, name = insert_new_image(client, action="upload")
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/", action="/admin/logout")})
    log_in(client, "writer")

    library = page_text(client.get(MEDIA))
    assert name in library and f"{MEDIA}/{name}/delete" not in library and "Boats at dawn" in library
    response = client.post(f"{MEDIA}/{name}/delete", data={"csrf_token": csrf_token(client, MEDIA)})
    assert response.status_code == 403


def test_an_author_learns_that_a_colleagues_draft_uses_an_image_but_not_its_title(app, client, admin, make_user):
    make_user("writer", role=UserRole.author)
    insert_new_image(client, title="Owner's secret plans", status="draft")
    insert_new_image(client, title="Out in the open")
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/", action="/admin/logout")})
    log_in(client, "writer")

    library = page_text(client.get(MEDIA))

    assert "secret plans" not in library and "another author&#39;s unpublished post" in library
    assert "“Out in the open”" in library  # readers see that one anyway


# In Chromium, with JavaScript: an image dropped or pasted into the text

DROP_IMAGE = """(textarea, [base64, kind]) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], "from-the-desktop.png", { type: "image/png" }));
    const event = kind === "drop"
        ? new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true })
        : new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true, cancelable: true });
    textarea.dispatchEvent(event);
}"""


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed (apt-get install chromium)")
@pytest.mark.parametrize("kind", ["drop", "paste"])
def test_an_image_dropped_or_pasted_into_the_text_is_described_stored_and_inserted_at_the_cursor(live_server, kind):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    expect = playwright_api.expect
    url = live_server()
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        page.goto(f"{url}/admin/posts/new")
        page.get_by_label("Username").fill("owner")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        text = page.get_by_label("Text (Markdown)")
        text.fill("First line.\nSecond line.")
        text.evaluate("area => area.setSelectionRange(11, 11)")  # after "First line."

        text.evaluate(DROP_IMAGE, [b64_png(), kind])
        dialog = page.get_by_role("dialog", name="Describe the image")
        expect(dialog).to_be_visible()
        screenshot(page, f"editor-image-{kind}-dialog")
        dialog.get_by_role("button", name="Insert image").click()
        expect(dialog.get_by_role("alert")).to_contain_text("Please describe the image")
        dialog.get_by_label("Description (alt text)").fill("Boats at dawn")
        dialog.get_by_role("button", name="Insert image").click()

        expect(dialog).to_be_hidden()
        expect(page.get_by_role("status").filter(has_text="Image inserted")).to_be_visible()
        value = text.input_value()
        page.goto(f"{url}/admin/media")
        screenshot(page, "admin-media")
        browser.close()
    match = re.fullmatch(r"First line\.!\[Boats at dawn\]\(/uploads/([0-9a-f]+\.png)\)\nSecond line\.", value)
    assert match, value
    stored = Path(live_server.folder) / "instance" / "uploads" / match[1]
    assert stored.exists() and stored.read_bytes().startswith(b"\x89PNG")


def screenshot(page, name: str) -> None:
    """Save a full-page screenshot at a desktop's width to test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def b64_png() -> str:
    return base64.b64encode(png_bytes(30, 20)).decode()
