"""Every uploaded image is stored once and served in a few widths and a modern format, chosen by the browser from
``srcset``, with its width and height so nothing moves as it loads; images that are huge, tiny, animated, CMYK,
turned by their EXIF tag, or not images at all are handled or refused with a message beside the field."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from admin.tables import Upload
from database import db
from helpers import animation
from helpers import csrf_token
from helpers import exported
from helpers import imported
from helpers import page_text
from helpers import png_bytes
from helpers import png_claiming
from helpers import submit_post
from helpers import wipe
from image_sizes import modern_formats
from models import Post

MODERN_FORMATS = modern_formats()


def uploads(app) -> Path:
    return Path(app.instance_path) / "uploads"


def jpeg(size: tuple[int, int], color="steelblue", mode: str = "RGB", orientation: int | None = None) -> bytes:
    image = Image.new(mode, size, color)
    output = io.BytesIO()
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    image.save(output, format="JPEG", exif=exif.tobytes())
    return output.getvalue()


def upload(client, content: bytes, filename: str, alt: str = "A described image"):
    """Send an image with the post form's "Upload" button; return the response and the stored name (or None)."""
    response = submit_post(
        client,
        title="Kept title",
        body="Kept body",
        action="upload",
        image=(io.BytesIO(content), filename),
        image_alt=alt,
    )
    match = re.search(r"/uploads/([A-Za-z0-9_-]+\.(?:png|jpg|gif|webp))", page_text(response))
    return response, match[1] if match else None


def copies(app, name: str) -> dict[str, tuple[int, int]]:
    """The copies stored beside ``name``, with their sizes in pixels."""
    stem = name.rpartition(".")[0]
    found = {}
    for path in sorted(uploads(app).glob(f"{stem}.w*")):
        with Image.open(path) as image:
            found[path.name.removeprefix(stem)] = image.size
    return found


def test_a_large_photo_is_stored_once_and_served_in_three_widths_in_modern_formats(app, client, admin):
    response, name = upload(client, jpeg((2000, 1000)), "harbour.jpg")

    assert response.status_code == 200 and name
    with Image.open(uploads(app) / name) as original:
        assert original.size == (2000, 1000)  # the original itself is kept at its size
    expected = {f".w{w}.{fmt}": (w, w // 2) for w in (480, 960, 1600) for fmt in MODERN_FORMATS}
    assert copies(app, name) == expected
    served = client.get(f"/uploads/{name.rpartition('.')[0]}.w480.webp")
    assert served.status_code == 200 and served.headers["Content-Type"] == "image/webp"
    assert "max-age=31536000" in served.headers["Cache-Control"]
    if "avif" in MODERN_FORMATS:
        assert client.get(f"/uploads/{name.rpartition('.')[0]}.w960.avif").headers["Content-Type"] == "image/avif"


def test_a_small_image_is_never_made_larger(app, client, admin):
    response, name = upload(client, png_bytes(300, 200), "small.png")

    assert response.status_code == 200
    assert copies(app, name) == {f".w300.{fmt}": (300, 200) for fmt in MODERN_FORMATS}


def test_copies_are_not_listed_in_the_media_library_as_images_of_their_own(app, client, admin):
    upload(client, jpeg((1000, 500)), "harbour.jpg")

    client.get("/admin/media")
    with app.app_context():
        assert len(db.session.scalars(select(Upload)).all()) == 1


def test_a_one_pixel_image_uploads_with_a_one_pixel_copy(app, client, admin):
    response, name = upload(client, png_bytes(1, 1), "dot.png")

    assert response.status_code == 200 and name
    assert copies(app, name) == {f".w1.{fmt}": (1, 1) for fmt in MODERN_FORMATS}
    assert client.get(f"/uploads/{name.rpartition('.')[0]}.w1.webp").status_code == 200


def test_an_animation_stays_animated_and_gets_no_still_copies(app, client, admin):
    response, name = upload(client, animation("GIF", (600, 300), 6), "moving.gif")

    assert response.status_code == 200 and name.endswith(".gif")
    with Image.open(uploads(app) / name) as stored:
        assert stored.n_frames == 6
    assert copies(app, name) == {}


def test_a_cmyk_photo_is_stored_in_rgb_with_its_colours(app, client, admin):
    response, name = upload(client, jpeg((64, 64), color=(0, 255, 255, 0), mode="CMYK"), "print.jpg")  # red ink

    assert response.status_code == 200 and name
    with Image.open(uploads(app) / name) as stored:
        assert stored.mode == "RGB"
        red, green, blue = stored.getpixel((32, 32))
    assert red > 200 and green < 60 and blue < 60
    with Image.open(uploads(app) / f"{name.rpartition('.')[0]}.w64.webp") as copy:
        assert copy.convert("RGB").getpixel((32, 32))[0] > 200


def test_a_portrait_photo_turned_by_its_exif_tag_is_stored_upright_with_its_width_and_height_swapped(
    app, client, admin
):
    # Cameras store a portrait photo as a landscape one with "turn 90°" in its EXIF (orientation 6).
    response, name = upload(client, jpeg((400, 300), orientation=6), "portrait.jpg")

    assert response.status_code == 200 and name
    with Image.open(uploads(app) / name) as stored:
        assert stored.size == (300, 400)
        assert 0x0112 not in stored.getexif()  # not turned twice by browsers
    assert copies(app, name) == {f".w300.{fmt}": (300, 400) for fmt in MODERN_FORMATS}
    with app.app_context():
        row = db.session.get(Upload, name)
        assert (row.width, row.height) == (300, 400)


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"Just some words, not a picture.", "notes.png", "That file is not a PNG, JPEG, GIF or WebP image"),
        (b"%PDF-1.4 a document", "scan.jpg", "That file is not a PNG, JPEG, GIF or WebP image"),
        (png_claiming(30_000, 30_000), "huge.png", "That image has too many pixels to be shown safely"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "broken.png", "That image could not be read"),
    ],
    ids=["text", "PDF", "huge", "damaged"],
)
def test_what_is_not_an_image_or_too_large_is_refused_beside_the_field_and_the_post_is_kept(
    app, client, admin, content, filename, message
):
    response, name = upload(client, content, filename)

    html = page_text(response)
    assert response.status_code == 400 and name is None
    assert 'id="image-error"' in html and message in html
    assert 'value="Kept title"' in html and "Kept body" in html
    assert not uploads(app).exists() or list(uploads(app).iterdir()) == []


def test_image_sizes_makes_the_copies_of_older_uploads(app, client, admin, runner):
    response, name = upload(client, jpeg((1000, 500)), "harbour.jpg")
    for path in uploads(app).glob("*.w*"):
        path.unlink()

    result = runner.invoke(args=["image-sizes"])

    assert result.exit_code == 0, result.output
    assert f"Made {3 * len(MODERN_FORMATS)} smaller copies of 1 images." in result.output
    assert set(copies(app, name)) == {f".w{w}.{fmt}" for w in (480, 960, 1000) for fmt in MODERN_FORMATS}
    assert "Made 0 smaller copies of 0 images." in runner.invoke(args=["image-sizes"]).output


def post_page(client, slug: str) -> str:
    return client.get(f"/posts/{slug}").get_data(as_text=True)


def images_on(html: str) -> list[str]:
    return re.findall(r"<img\b[^>]*>", html.split('<div class="post-body">', 1)[1])


def test_images_in_a_post_have_their_size_their_copies_and_load_lazily_after_the_first(app, client, admin, make_post):
    _, wide = upload(client, jpeg((2000, 1000)), "wide.jpg")
    _, narrow = upload(client, png_bytes(300, 200), "narrow.png")
    make_post(title="Pictures", body=f"![Wide](/uploads/{wide})\n\nWords.\n\n![Narrow](/uploads/{narrow})")

    first, second = images_on(post_page(client, "pictures"))

    stem = wide.rpartition(".")[0]
    assert 'width="2000" height="1000"' in first and 'decoding="async"' in first and "loading=" not in first
    assert (
        f'srcset="/uploads/{stem}.w480.webp 480w, /uploads/{stem}.w960.webp 960w, /uploads/{stem}.w1600.webp 1600w"'
        in first
    )
    assert 'sizes="(min-width: 40rem) 37.5rem, 100vw"' in first and 'alt="Wide"' in first
    assert 'width="300" height="200"' in second and 'loading="lazy"' in second
    assert 'sizes="(min-width: 300px) 300px, 100vw"' in second  # narrower than the column: never stretched
    assert f'srcset="/uploads/{narrow.rpartition(".")[0]}.w300.webp 300w"' in second


def test_an_authors_own_srcset_never_reaches_readers(app, client, admin, make_post):
    _, name = upload(client, png_bytes(40, 20), "small.png")
    body = f'<img src="/uploads/{name}" srcset="https://elsewhere.example/x.png 2x" alt="Mine" onerror="alert(1)">'
    make_post(title="Hostile", body=body)

    (image,) = images_on(post_page(client, "hostile"))

    assert "elsewhere" not in image and "onerror" not in image
    assert 'width="40" height="20"' in image


def saved_post(app, title: str) -> Post:
    with app.app_context():
        return db.session.scalar(select(Post).where(Post.title == title))


def test_a_feature_image_uploaded_in_the_editor_is_shown_on_the_post_its_card_and_when_shared(
    app, client, admin, make_post
):
    response = submit_post(
        client, title="Harbour", feature_file=(io.BytesIO(jpeg((1200, 600))), "boats.jpg"), feature_alt="Boats at dawn"
    )

    assert response.status_code == 303
    name = saved_post(app, "Harbour").feature_image
    stem = name.rpartition(".")[0]
    page = post_page(client, "harbour")
    figure = page.split('<figure class="feature-image">', 1)[1].split("</figure>", 1)[0]
    assert f'src="/uploads/{name}" alt="Boats at dawn" width="1200" height="600"' in figure
    assert 'fetchpriority="high"' in figure and "loading=" not in figure
    assert f"/uploads/{stem}.w960.webp 960w" in figure
    assert f'<meta property="og:image" content="http://localhost/uploads/{name}">' in page
    card = client.get("/").get_data(as_text=True).split('<article class="summary">', 1)[1].split("</article>", 1)[0]
    assert f'src="/uploads/{name}" alt="Boats at dawn"' in card and 'width="1200"' in card
    assert "loading=" not in card and "fetchpriority" not in card  # the first card's image, at once but not first
    with app.app_context():
        assert db.session.get(Upload, name).alt == "Boats at dawn"  # the library's description


def test_a_feature_image_chosen_from_the_library_keeps_its_description_and_can_be_removed(app, client, admin):
    _, name = upload(client, png_bytes(800, 400), "sea.png", alt="The sea")
    submit_post(client, title="Sea", feature_image=name)
    post_id = saved_post(app, "Sea").id

    assert 'alt="The sea" width="800" height="400"' in post_page(client, "sea")
    edit = client.get(f"/admin/posts/{post_id}/edit").get_data(as_text=True)
    assert f'<option selected value="{name}">' in edit

    submit_post(client, f"/admin/posts/{post_id}/edit", title="Sea", feature_image="")
    assert saved_post(app, "Sea").feature_image is None
    assert "feature-image" not in post_page(client, "sea")


def test_a_feature_image_without_a_description_is_asked_for_and_stays_chosen(app, client, admin):
    response = submit_post(client, title="Kept title", feature_file=(io.BytesIO(png_bytes(50, 50)), "x.png"))

    html = page_text(response)
    assert response.status_code == 400
    assert 'id="feature_alt-error"' in html and "Please describe the feature image" in html
    assert "stays chosen" in html and 'value="Kept title"' in html
    name = re.search(r'<option selected value="([^"]+)"', html.split('id="feature_image"', 1)[1])[1]
    assert submit_post(client, title="Kept title", feature_image=name, feature_alt="A square").status_code == 303


def test_a_feature_image_that_is_not_an_image_is_refused_beside_its_field(app, client, admin):
    response = submit_post(client, title="Kept title", feature_file=(io.BytesIO(b"not a picture"), "x.jpg"))

    assert response.status_code == 400
    assert 'id="feature_file-error"' in page_text(response) and "is not a PNG, JPEG, GIF or WebP" in page_text(response)


def test_a_post_without_a_feature_image_makes_a_card_without_an_empty_frame(client, make_post):
    make_post(title="Words only", body="Just words.")

    card = client.get("/").get_data(as_text=True).split('<article class="summary">', 1)[1].split("</article>", 1)[0]
    assert "Words only" in card and "<figure" not in card and "<img" not in card


def test_an_image_that_is_a_feature_image_is_not_moved_to_the_trash(app, client, admin):
    _, name = upload(client, png_bytes(80, 40), "sea.png", alt="The sea")
    submit_post(client, title="Sea", feature_image=name)

    library = page_text(client.get("/admin/media"))
    response = client.post(f"/admin/media/{name}/delete", data={"csrf_token": csrf_token(client, "/admin/media")})

    assert "Sea" in library.split(f'id="image-{name.split(".")[0]}"', 1)[1].split("</li>", 1)[0]
    assert response.status_code == 409 and "“Sea”" in page_text(response)


def test_an_export_and_import_keep_the_feature_image_its_description_and_its_copies(app, client, admin):
    submit_post(client, title="Harbour", feature_file=(io.BytesIO(jpeg((1000, 500))), "b.jpg"), feature_alt="Boats")
    name = saved_post(app, "Harbour").feature_image
    text = exported(app)
    wipe(app)

    imported(app, text)

    assert saved_post(app, "Harbour").feature_image == name
    assert set(copies(app, name)) == {f".w{w}.{fmt}" for w in (480, 960, 1000) for fmt in MODERN_FORMATS}
    figure = post_page(client, "harbour").split('<figure class="feature-image">', 1)[1].split("</figure>", 1)[0]
    assert f'src="/uploads/{name}" alt="Boats" width="1000" height="500"' in figure


def test_a_trashed_image_takes_its_copies_out_of_reach_and_a_restored_one_gets_them_back(app, client, admin):
    _, name = upload(client, png_bytes(600, 300), "sea.png")
    stem = name.rpartition(".")[0]

    client.post(f"/admin/media/{name}/delete", data={"csrf_token": csrf_token(client, "/admin/media")})

    assert copies(app, name) == {} and client.get(f"/uploads/{stem}.w480.webp").status_code == 404
    client.post(f"/admin/media/trash/{name}/restore", data={"csrf_token": csrf_token(client, "/admin/media/trash")})
    assert client.get(f"/uploads/{stem}.w480.webp").status_code == 200


def test_a_new_description_in_the_library_shows_at_once_on_a_cached_post_with_that_feature_image(app, client, admin):
    owner, reader = client, app.test_client()
    _, name = upload(owner, png_bytes(80, 40), "sea.png", alt="The sea")
    submit_post(owner, title="Sea", feature_image=name)
    assert 'alt="The sea"' in post_page(reader, "sea")  # now cached for readers

    action = f"/admin/media/{name}/alt"
    owner.post(action, data={"csrf_token": csrf_token(owner, "/admin/media", action), f"{name[:-4]}-alt": "Waves"})

    assert 'alt="Waves"' in post_page(reader, "sea")
