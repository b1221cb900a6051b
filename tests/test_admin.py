"""The owner logs in, writes, schedules and manages posts from the browser."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import selectinload

import models
import reading
from account.logins import user_named
from account.tables import LoginFailures
from account.tables import User
from account.tables import UserRole
from database import db
from database import now_utc
from helpers import PASSWORD
from helpers import StatementCounter
from helpers import csrf_token
from helpers import log_in
from helpers import page_text
from helpers import png_bytes
from helpers import png_claiming
from helpers import post_comment
from helpers import submit_post
from models import Post
from models import PostStatus
from slugs import SlugRedirect


def stored_post(app, **filters) -> Post | None:
    with app.app_context():
        query = select(Post).filter_by(**filters).options(selectinload(Post.tags))
        post = db.session.scalars(query).one_or_none()
        if post is not None:
            db.session.expunge(post)
        return post


ADMIN_PAGES = [
    "/admin/",
    "/admin/posts",
    "/admin/posts/new",
    "/admin/posts/1/edit",
    "/admin/posts/1/delete",
    "/admin/comments",
    "/admin/comments/1/edit",
]


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_require_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login?next=")


@pytest.mark.parametrize(
    "path", ["/admin/posts/1/delete", "/admin/comments/1/moderate", "/admin/comments/bulk", "/admin/logout"]
)
def test_admin_actions_require_login(app, client, make_post, path):
    make_post("Survivor")
    token = csrf_token(client, "/admin/login")
    response = client.post(path, data={"csrf_token": token, "action": "delete", "ids": ["1"]})
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    assert stored_post(app, title="Survivor") is not None


def test_no_account_exists_until_one_is_created(client):
    response = log_in(client, "admin", "admin")
    assert response.status_code == 400
    assert "That username and password do not match." in page_text(response)


def test_login_then_logout(client, make_user):
    make_user("owner", display_name="Olive Owner")

    response = log_in(client, "owner")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    dashboard = page_text(client.get("/admin/"))
    assert "Welcome back, Olive Owner." in dashboard and "<h1>Dashboard</h1>" in dashboard

    token = csrf_token(client, "/admin/")
    assert client.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/admin/").status_code == 302


def test_username_is_matched_without_regard_to_case(client, make_user):
    make_user("Owner")
    assert log_in(client, "owner").status_code == 302


@pytest.mark.parametrize("username", ["owner", "nobody"])
def test_wrong_password_or_unknown_user_gets_one_message_and_keeps_the_username(client, make_user, username):
    make_user("owner")
    response = log_in(client, username, "not the password")
    html = page_text(response)
    assert response.status_code == 400
    assert "That username and password do not match." in html
    assert f'value="{username}"' in html
    assert "not the password" not in html


def test_remember_me_sets_a_lasting_cookie(client, make_user):
    make_user("owner")
    response = log_in(client, "owner", remember="y")
    assert any(h.startswith("inkwell_remember=") for h in response.headers.getlist("Set-Cookie"))


def test_login_attempts_are_rate_limited_per_address(client, make_user):
    make_user("owner")
    statuses = [log_in(client, "owner", f"wrong {n}").status_code for n in range(6)]
    assert statuses == [400] * 5 + [429]
    assert "Too many login attempts" in page_text(log_in(client, "owner"))


def test_login_attempts_are_rate_limited_per_username_across_addresses(app, make_user):
    make_user("owner")
    statuses = []
    for n in range(6):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.0.0.{n + 1}"
        statuses.append(log_in(client, "owner", "wrong").status_code)
    assert statuses[-1] == 429


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "evil.example",
        "/admin/\r\nLocation: https://evil.example",
    ],
)
def test_next_never_leads_to_another_site(client, make_user, target):
    make_user("owner")
    response = log_in(client, "owner", next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


def test_next_leads_back_to_the_page_asked_for(client, make_user):
    make_user("owner")
    asked = client.get("/admin/posts?status=draft")
    login_page = page_text(client.get(asked.headers["Location"]))
    assert 'name="next" type="hidden" value="/admin/posts?status=draft"' in login_page

    response = log_in(client, "owner", next="/admin/posts?status=draft")

    assert response.headers["Location"] == "/admin/posts?status=draft"


def test_published_post_appears_on_the_site_with_its_tags(app, client, admin):
    response = submit_post(client, title="Hello, readers", body="First **post**.", tags="Travel, notes, travel")

    post = stored_post(app, title="Hello, readers")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/admin/posts/{post.id}/edit"
    assert "“Hello, readers” is published." in page_text(client.get(response.headers["Location"]))
    assert post.slug == "hello-readers"
    assert [tag.name for tag in post.tags] == ["notes", "Travel"]
    assert post.author_id == admin.id

    public = page_text(client.get("/posts/hello-readers"))
    assert "<strong>post</strong>" in public and "by Olive Owner" in public
    assert "Hello, readers" in page_text(client.get("/")) and "Hello, readers" in page_text(client.get("/tags/travel"))


def test_draft_is_saved_but_hidden_from_readers(app, client, admin):
    submit_post(client, title="Work in progress", status="draft")

    assert stored_post(app, title="Work in progress").status == PostStatus.draft
    assert client.get("/posts/work-in-progress").status_code == 404
    assert "Work in progress" not in page_text(client.get("/"))
    assert "Work in progress" in page_text(client.get("/admin/posts?status=draft"))


def test_editing_a_post_changes_what_readers_see_and_shows_updated(app, client, admin, make_post):
    post = make_post("Original", body="Old text", author=admin, published_at=now_utc() - timedelta(days=10))

    edit_page = page_text(client.get(f"/admin/posts/{post.id}/edit"))
    assert 'value="Original"' in edit_page and "Old text" in edit_page
    submit_post(
        client,
        f"/admin/posts/{post.id}/edit",
        title="Original",
        slug="original",
        body="New text",
        published_at=post.published_at.strftime("%Y-%m-%dT%H:%M"),
    )

    public = page_text(client.get("/posts/original"))
    assert "New text" in public and "Old text" not in public
    assert "updated" in public
    assert stored_post(app, id=post.id).published_at == post.published_at.replace(second=0, microsecond=0)


def test_deleting_asks_first_then_moves_the_post_to_the_trash(app, client, admin, make_post):
    post = make_post("Doomed", author=admin)

    confirm = client.get(f"/admin/posts/{post.id}/delete")
    assert "Delete “Doomed”?" in page_text(confirm) and stored_post(app, id=post.id) is not None

    token = csrf_token(client, f"/admin/posts/{post.id}/delete")
    response = client.post(f"/admin/posts/{post.id}/delete", data={"csrf_token": token})

    assert response.status_code == 303
    assert stored_post(app, id=post.id).trashed_at is not None  # tests/test_trash.py: the trash itself
    assert client.get("/posts/doomed").status_code == 404


def test_delete_without_csrf_token_is_refused(app, client, admin, make_post):
    post = make_post("Protected", author=admin)
    response = client.post(f"/admin/posts/{post.id}/delete", data={})
    assert response.status_code == 400
    assert stored_post(app, id=post.id) is not None


def test_future_publish_date_schedules_the_post_until_its_time(app, client, admin, monkeypatch):
    tomorrow = now_utc() + timedelta(days=1)
    response = submit_post(client, title="Tomorrow", published_at=tomorrow.strftime("%Y-%m-%dT%H:%M"))

    assert "is scheduled: it will appear on" in page_text(client.get(response.headers["Location"]))
    assert client.get("/posts/tomorrow").status_code == 404
    assert "Tomorrow" not in page_text(client.get("/"))
    assert "Scheduled" in page_text(client.get("/admin/posts?status=scheduled"))

    monkeypatch.setattr(models, "now_utc", lambda: tomorrow + timedelta(minutes=1))
    monkeypatch.setattr(reading, "now_utc", lambda: tomorrow + timedelta(minutes=1))  # the post pages' clock

    assert client.get("/posts/tomorrow").status_code == 200
    assert "Tomorrow" in page_text(client.get("/"))


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Café déjà vu", "café-déjà-vu"),
        ("Привет, мир!", "привет-мир"),
        ("東京の夏", "東京の夏"),
        ("  What's new?  ", "what-s-new"),
    ],
)
def test_slug_is_made_from_the_title_in_any_script(app, client, admin, title, slug):
    submit_post(client, title=title)
    assert stored_post(app, title=title.strip()).slug == slug
    assert client.get(f"/posts/{slug}").status_code == 200


def test_clashing_generated_slugs_get_a_number(app, client, admin):
    for _ in range(3):
        submit_post(client, title="Same title")
    with app.app_context():
        slugs = db.session.scalars(select(Post.slug).order_by(Post.id)).all()
    assert slugs == ["same-title", "same-title-2", "same-title-3"]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"title": ""}, "title", "Please give the post a title."),
        ({"slug": "has spaces"}, "slug", "Use only letters, numbers and single hyphens"),
        ({"slug": "a/b"}, "slug", "Use only letters, numbers and single hyphens"),
        ({"slug": "taken"}, "slug", "The post “Taken” already has this address"),
        ({"published_at": "next tuesday"}, "published_at", "Please enter the date and time like 2026-11-24 18:30"),
        ({"published_at": "2026-13-45T99:99"}, "published_at", "Please enter the date and time like"),
        ({"status": "secret"}, "status", "Not a valid choice"),
    ],
)
def test_bad_post_input_gets_a_message_and_keeps_the_text(app, client, admin, make_post, fields, field, message):
    make_post("Taken", slug="taken")
    typed = {"title": "My typed title", "body": "Paragraphs I must not lose.", "tags": "kept, tags"}

    response = submit_post(client, **(typed | fields))

    html = page_text(response)
    assert response.status_code == 400
    assert f'id="{field}-error"' in html and message in html
    assert "Paragraphs I must not lose." in html and 'value="kept, tags"' in html
    assert stored_post(app, title="My typed title") is None


def test_changing_a_published_slug_keeps_the_old_address_working(app, client, admin, make_post):
    post = make_post("Moving", slug="old-address", author=admin)

    submit_post(client, f"/admin/posts/{post.id}/edit", title="Moving", slug="new-address")

    response = client.get("/posts/old-address")
    assert response.status_code == 301
    assert response.headers["Location"] == "/posts/new-address"
    assert client.get("/posts/new-address").status_code == 200


def test_a_post_can_take_back_its_own_old_address(app, client, admin, make_post):
    """Another post cannot take it (test_authentication_edges.py): old links must keep their meaning."""
    post = make_post("Moving", slug="old-address", author=admin)
    submit_post(client, f"/admin/posts/{post.id}/edit", title="Moving", slug="new-address")

    submit_post(client, f"/admin/posts/{post.id}/edit", title="Moving", slug="old-address")

    assert client.get("/posts/old-address").status_code == 200
    with app.app_context():
        assert [redirect.old_slug for redirect in db.session.scalars(select(SlugRedirect))] == ["new-address"]


def test_preview_renders_exactly_as_the_public_page_without_saving(app, client, admin):
    body = "## Heading\n\nText with `code` and <script>alert(1)</script> and a [link](https://example.com)."
    preview = page_text(submit_post(client, title="Previewed", body=body, action="preview"))
    assert stored_post(app, title="Previewed") is None

    submit_post(client, title="Previewed", body=body)
    public = page_text(client.get("/posts/previewed"))

    def article_body(html: str) -> str:
        return html.split('<div class="post-body">', 1)[1].split("</div>", 1)[0]

    assert article_body(preview) == article_body(public)
    assert "<h2>Heading</h2>" in article_body(preview) and "<script" not in article_body(preview)
    assert "Text with `code`" in preview  # the Markdown is still in the form


def test_inserting_a_real_png_adds_its_markdown_to_the_text(app, client, admin):
    response = submit_post(
        client,
        title="With a picture",
        body="Kept text",
        action="upload",
        image=(io.BytesIO(png_bytes()), "dot.png"),
        image_alt="A dot",
    )

    html = page_text(response)
    assert response.status_code == 200
    assert "The image is added at the end of the text" in html and "Kept text" in html
    url = html.split("![A dot](", 1)[1].split(")", 1)[0]
    assert url.startswith("/uploads/") and url.endswith(".png") and "dot" not in url
    assert f"Kept text\n\n![A dot]({url})</textarea>" in html
    image = client.get(url)
    assert image.status_code == 200 and Image.open(io.BytesIO(image.data)).size == (2, 2)  # re-encoded, same image
    assert image.headers["Content-Type"] == "image/png"
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    assert stored_post(app, title="With a picture") is None


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"just some text, honest", "photo.png", "That file is not a PNG, JPEG, GIF or WebP image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "x.svg", "not a PNG"),
        (b"", "empty.png", "That file is empty."),
        (png_bytes() + b"\0" * (5 * 1024 * 1024), "huge.png", "images can be at most 4 MB"),
        (png_claiming(width=50_000, height=50_000), "bomb.png", "too many pixels to be shown safely"),
        (png_bytes()[:40], "broken.png", "That image could not be read"),
    ],
)
def test_bad_uploads_are_refused_beside_the_field_and_the_post_is_kept(app, client, admin, content, filename, message):
    response = submit_post(client, title="Kept title", body="Kept body", image=(io.BytesIO(content), filename))

    html = page_text(response)
    assert response.status_code == 400
    assert 'id="image-error"' in html and message in html
    assert 'value="Kept title"' in html and "Kept body" in html
    assert stored_post(app, title="Kept title") is None
    uploads = Path(app.instance_path) / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())


def test_a_photo_loses_its_location_and_other_metadata_but_keeps_its_orientation(client, admin):
    photo = Image.new("RGB", (40, 20), "orange")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° to show
    exif[0x8825] = {2: (51.0, 30.0, 0.0), 1: "N", 4: (0.0, 7.0, 0.0), 3: "W"}  # GPS: somewhere in London
    exif[0x010F] = "PhoneMaker"
    original = io.BytesIO()
    photo.save(original, format="JPEG", exif=exif)
    assert Image.open(io.BytesIO(original.getvalue())).getexif().get(0x8825)

    response = submit_post(
        client, action="upload", image=(io.BytesIO(original.getvalue()), "holiday.jpg"), image_alt="A holiday"
    )
    url = page_text(response).split("![A holiday](", 1)[1].split(")", 1)[0]

    stored = Image.open(io.BytesIO(client.get(url).data))
    assert dict(stored.getexif()) == {} and "exif" not in stored.info
    assert stored.size == (20, 40)  # turned upright, since the orientation tag is gone


def test_upload_button_without_a_file_asks_for_one(client, admin):
    response = submit_post(client, action="upload")
    assert response.status_code == 400
    assert "Please choose an image to upload, or one from the media library." in page_text(response)


def test_post_sent_after_the_session_ended_is_restored_after_logging_in(app, client, admin):
    token = csrf_token(client, "/admin/posts/new")
    client.post("/admin/logout", data={"csrf_token": token})
    typed = {"title": "Long essay", "body": "Three hours of writing.", "tags": "essays", "status": "published"}

    response = client.post("/admin/posts/new", data=typed | {"csrf_token": token, "action": "save"})

    html = page_text(response)
    assert response.status_code == 401
    assert "Your session ended before the post was saved" in html
    carry = html.split('name="carry" type="hidden" value="', 1)[1].split('"', 1)[0]
    restored = log_in(client, "owner", carry=carry, next="/admin/posts/new")
    restored_html = page_text(restored)
    assert restored.status_code == 200
    assert "Here is the post you were writing" in restored_html
    assert "Three hours of writing." in restored_html and 'value="Long essay"' in restored_html
    assert stored_post(app, title="Long essay") is None

    submit_post(client, **typed)
    assert stored_post(app, title="Long essay").body == "Three hours of writing."


def test_expired_form_token_keeps_the_post_text(app, client, admin):
    response = client.post(
        "/admin/posts/new", data={"title": "Stale", "body": "Still here", "csrf_token": "expired", "action": "save"}
    )
    html = page_text(response)
    assert response.status_code == 400
    assert "This form expired before it was sent" in html and "Still here" in html
    assert stored_post(app, title="Stale") is None


def test_authors_edit_only_their_own_posts(app, client, make_user, make_post):
    boss = make_user("boss", UserRole.admin)
    make_user("writer", UserRole.author)
    theirs = make_post("Boss's post", author=boss)
    log_in(client, "writer")

    assert client.get(f"/admin/posts/{theirs.id}/edit").status_code == 403
    assert client.get(f"/admin/posts/{theirs.id}/delete").status_code == 403
    assert "Boss&#39;s post" not in page_text(client.get("/admin/posts"))
    submit_post(client, title="Writer's own")
    mine = stored_post(app, title="Writer's own")
    assert client.get(f"/admin/posts/{mine.id}/edit").status_code == 200


def test_admins_edit_everyones_posts(client, admin, make_user, make_post):
    writer = make_user("writer", UserRole.author)
    post = make_post("Writer's post", author=writer)
    assert client.get(f"/admin/posts/{post.id}/edit").status_code == 200


def test_post_list_filters_by_status_and_searches_titles(client, admin, make_post):
    make_post("Apple pie", author=admin)
    make_post("Apple draft", status=PostStatus.draft, author=admin)
    make_post("Banana bread", author=admin)

    assert page_text(client.get("/admin/posts?q=apple")).count('/edit">Apple') == 2
    drafts = page_text(client.get("/admin/posts?status=draft"))
    assert "Apple draft" in drafts and "Apple pie" not in drafts
    searched = page_text(client.get("/admin/posts?q=%25"))
    assert "No posts match this filter." in searched
    assert client.get("/admin/posts?status=bogus").status_code == 200
    assert client.get("/admin/posts?page=99").status_code == 404


def test_dashboard_counts_posts_and_pending_comments(client, admin, make_post):
    make_post("Live", author=admin)
    make_post("Later", author=admin, published_at=now_utc() + timedelta(days=2))
    make_post("Draft", author=admin, status=PostStatus.draft)
    html = page_text(client.get("/admin/"))
    for label in ("1</strong> published", "1</strong> scheduled", "1</strong> drafts", "0</strong> comments pending"):
        assert label in html


def test_dashboard_shows_the_latest_comments_as_readers_see_them_not_their_markdown(make_app, make_user, make_post):
    app = make_app(COMMENT_MODERATION="all")
    client = app.test_client()
    post = make_post("Talked about")
    body = "**Lovely** post, see [my notes](https://example.com/notes) and `<b>code</b>`.\n\n- one\n- two"
    post_comment(client, post.slug, name="Grace", body=body)
    make_user("owner")
    log_in(client, "owner")

    html = page_text(client.get("/admin/"))

    latest = html[html.index("Latest comments") :]
    assert "<p>Lovely post, see my notes and &lt;b&gt;code&lt;/b&gt;. one two</p>" in latest
    assert "**" not in latest and "](https://" not in latest
    assert "1 comment is waiting for your approval." in latest
    assert '<a href="/admin/comments?status=pending">Open the moderation queue</a>' in latest
    assert "Moderate comments (1 waiting)" in html


def test_create_admin_command_takes_the_password_from_the_environment(app, runner, monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", PASSWORD)
    result = runner.invoke(args=["create-admin", "olive", "--display-name", "Olive Owner"])
    assert result.exit_code == 0, result.output
    assert "Created the administrator olive." in result.output
    assert log_in(app.test_client(), "olive").status_code == 302


def test_create_admin_command_prompts_twice_for_the_password(app, runner, monkeypatch):
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    result = runner.invoke(args=["create-admin", "olive"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert log_in(app.test_client(), "olive").status_code == 302


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("olive", "short", "The password must be at least 10 characters long."),
        ("has space", PASSWORD, "A username is 1 to 40 letters"),
        ("OWNER", PASSWORD, "There is already an account named 'OWNER'."),
    ],
)
def test_create_admin_command_refuses_bad_accounts(runner, make_user, monkeypatch, username, password, message):
    make_user("owner")
    monkeypatch.setenv("ADMIN_PASSWORD", password)
    result = runner.invoke(args=["create-admin", username])
    assert result.exit_code == 1
    assert message in result.output


def test_create_author_command_makes_an_author(app, runner, monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", PASSWORD)
    assert runner.invoke(args=["create-author", "writer"]).exit_code == 0
    with app.app_context():
        assert db.session.scalars(select(User.role)).one() == UserRole.author


def test_set_password_command_lets_an_account_in_with_the_new_password(app, runner, make_user, monkeypatch):
    make_user("owner")
    monkeypatch.setenv("ADMIN_PASSWORD", "a brand new passphrase")
    assert "The password of owner is changed." in runner.invoke(args=["set-password", "OWNER"]).output
    assert log_in(app.test_client(), "owner", "a brand new passphrase").status_code == 302
    assert log_in(app.test_client(), "owner", PASSWORD).status_code == 400
    monkeypatch.setenv("ADMIN_PASSWORD", "short")
    assert "at least 10 characters" in runner.invoke(args=["set-password", "owner"]).output
    assert "There is no account named 'nobody'." in runner.invoke(args=["set-password", "nobody"]).output


def test_a_new_password_logs_the_account_out_everywhere_remembered_or_not(app, runner, make_user, monkeypatch):
    make_user("owner")
    here, remembered = app.test_client(), app.test_client()
    log_in(here, "owner")
    log_in(remembered, "owner", remember="y")
    remembered.delete_cookie("inkwell_session")  # a new browser session: only the remember-me cookie is left
    assert here.get("/admin/").status_code == 200 and remembered.get("/admin/").status_code == 200

    monkeypatch.setenv("ADMIN_PASSWORD", "a brand new passphrase")
    runner.invoke(args=["set-password", "owner"])

    for client in (here, remembered):
        response = client.get("/admin/")
        assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login")
    fresh = app.test_client()
    assert log_in(fresh, "owner", "a brand new passphrase").status_code == 302
    assert fresh.get("/admin/").status_code == 200


def test_a_nul_character_in_the_post_editor_is_refused_beside_the_field_and_nothing_is_saved(app, client, admin):
    response = submit_post(client, title="Nul\x00title", body="Body")
    assert response.status_code == 400
    assert "invisible control characters" in page_text(response) and 'value="Nultitle"' in page_text(response)
    assert stored_post(app, body="Body") is None


def test_repeated_wrong_passwords_lock_the_account_for_longer_each_time(make_app, make_user):
    app = make_app(LOGIN_RATE_LIMIT="100 per minute")
    make_user("owner")
    client = app.test_client()
    for _ in range(4):
        assert log_in(client, "owner", "wrong password!").status_code == 400

    fifth = log_in(client, "owner", "wrong password!")
    right_but_locked = log_in(client, "owner")

    assert fifth.status_code == 400
    assert right_but_locked.status_code == 429 and right_but_locked.headers["Retry-After"] == "60"
    assert "locked for 1 minute after several failed logins" in page_text(right_but_locked)
    with app.app_context():
        db.session.execute(update(LoginFailures).values(locked_until=models.now_utc() - timedelta(seconds=1)))
        db.session.commit()  # the minute has passed
    assert log_in(client, "owner", "wrong password!").status_code == 400  # the sixth in a row: two minutes
    again = log_in(client, "owner")
    assert again.status_code == 429 and "locked for 2 minutes" in page_text(again)


def test_a_right_password_resets_the_count_and_set_password_unlocks(make_app, make_user, monkeypatch):
    app = make_app(LOGIN_RATE_LIMIT="100 per minute")
    make_user("owner")
    client = app.test_client()
    for _ in range(3):
        log_in(client, "owner", "wrong password!")
    assert log_in(client, "owner").status_code == 302
    with app.app_context():
        assert user_named("owner").failed_logins == 0
        owner = user_named("owner")
        owner.failed_logins, owner.locked_until = 9, models.now_utc() + timedelta(hours=1)
        db.session.commit()
    monkeypatch.setenv("ADMIN_PASSWORD", "a brand new passphrase")
    app.test_cli_runner().invoke(args=["set-password", "owner"])
    assert log_in(app.test_client(), "owner", "a brand new passphrase").status_code == 302


def test_failed_logins_do_not_empty_the_page_cache(make_app, make_user, make_post):
    app = make_app(LOGIN_RATE_LIMIT="100 per minute")
    make_user("owner")
    make_post("Cached")
    app.test_client().get("/")
    log_in(app.test_client(), "owner", "wrong password!")
    with StatementCounter(app) as statements:
        assert app.test_client().get("/").status_code == 200
    assert statements.count == 0  # still served from the cache


def test_the_audit_log_records_changes_and_failed_logins_for_admins_only(
    app, client, admin, make_user, make_post, monkeypatch
):
    post = make_post("Audited")
    assert log_in(app.test_client(), "owner", "wrong password!").status_code == 400
    submit_post(client, f"/admin/posts/{post.id}/edit", title="Audited again", slug=post.slug)
    submit_post(client, title="Only a preview", action="preview")  # nothing changed: not recorded

    html = page_text(client.get("/admin/audit"))

    assert html.index("Saved a post") < html.index("Failed login") < html.index("Logged in")  # newest first
    assert f"post_id {post.id}" in html and "“Audited again”" in html and "Only a preview" not in html
    assert "127.0.0.1" not in html and re.search(r"<code>[0-9a-f]{8}</code>", html)
    make_user("writer", UserRole.author)
    author = app.test_client()
    log_in(author, "writer")
    assert author.get("/admin/audit").status_code == 403

    monkeypatch.setenv("ADMIN_PASSWORD", "a brand new passphrase")
    app.test_cli_runner().invoke(args=["set-password", "writer"])
    audit_page = page_text(client.get("/admin/audit"))
    assert re.search(r"<td>writer</td>\s*<td>Set a new password from the command line</td>", audit_page)


def test_a_stranger_sends_the_admin_area_no_more_than_a_reader_may(client):
    # The admin area accepts requests several times the image limit, for posts with images and imports, but only
    # from someone logged in: otherwise the login form would take 16 MB from anyone.
    big = {"username": "x", "password": "y", "image": (io.BytesIO(b"\0" * 2_000_000), "big.bin")}
    assert client.post("/admin/login", data=big, content_type="multipart/form-data").status_code == 413
