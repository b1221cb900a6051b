"""Tags in the admin area: the list with how many posts carry each, renaming (old addresses redirect), a
description, merging one tag into another, and deleting one; what readers see changes at once, cached or not."""

from __future__ import annotations

import html
import json
import re

import pytest
from sqlalchemy import select

from account.tables import UserRole
from database import db
from helpers import StatementCounter
from helpers import csrf_token
from helpers import exported
from helpers import form_fields
from helpers import imported
from helpers import log_in
from helpers import page_text
from helpers import submit_post
from helpers import wipe
from models import Post
from models import PostStatus
from models import Tag
from transfer.common import TransferError


def tag_id(app, name: str) -> int:
    with app.app_context():
        return db.session.scalar(select(Tag.id).where(Tag.name == name))


def tag_names_of(app, slug: str) -> list[str]:
    with app.app_context():
        post = db.session.scalar(select(Post).where(Post.slug == slug))
        return [tag.name for tag in post.tags]


def save_tag(client, tag_id: int, **changes: str):
    """Change fields of the tag's form, keeping the others as the page shows them, and send it."""
    page = client.get(f"/admin/tags/{tag_id}")
    fields = form_fields(page, f"/admin/tags/{tag_id}")
    fields["description"] = html.unescape(re.search(r"<textarea[^>]*>\n?(.*?)</textarea>", page_text(page), re.S)[1])
    return client.post(f"/admin/tags/{tag_id}", data=fields | changes)


def merge(client, tag_id: int, into: str):
    token = csrf_token(client, f"/admin/tags/{tag_id}", action=f"/admin/tags/{tag_id}/merge")
    return client.post(f"/admin/tags/{tag_id}/merge", data={"csrf_token": token, "into": into})


def served_from_the_cache(app, path: str) -> str:
    """Fetch ``path`` as a reader twice: the second comes from the page cache, without one SQL statement."""
    app.test_client().get(path)
    with StatementCounter(app) as statements:
        response = app.test_client().get(path)
    assert response.status_code == 200 and statements.count == 0, path
    return page_text(response)


def reader_sees(app, path: str) -> str:
    response = app.test_client().get(path)
    assert response.status_code == 200, (path, response.status_code)
    return page_text(response)


def field_error(response, field_id: str) -> str:
    match = re.search(rf'<p class="error" id="{field_id}-error">(.*?)</p>', page_text(response), re.S)
    return html.unescape(match[1]) if match else ""


# The list


def test_the_owner_sees_every_tag_with_its_published_and_total_posts_linked_to_its_page(client, admin, make_post):
    make_post("Lisbon", tags=("Travel",))
    make_post("Porto, unfinished", tags=("Travel",), status=PostStatus.draft)
    make_post("Plans", tags=("Secret plans",), status=PostStatus.draft)

    page = page_text(client.get("/admin/tags"))

    travel = re.search(r"<tr>\s*<td><a[^>]*>Travel</a>.*?</tr>", page, re.S)[0]
    assert '<a href="/tags/travel">/tags/travel</a>' in travel
    assert re.findall(r'<td class="number">(\d+)</td>', travel) == ["1", "2"]
    secret = re.search(r"<tr>\s*<td><a[^>]*>Secret plans</a>.*?</tr>", page, re.S)[0]
    assert 'href="/tags/secret-plans"' not in secret and "no published posts yet" in secret
    assert '<a href="/admin/tags" aria-current="page">Tags</a>' in page


def test_an_author_sees_the_list_but_cannot_change_a_tag(client, make_user, make_post):
    make_user("sam", UserRole.author)
    log_in(client, "sam")
    make_post("Lisbon", tags=("Travel",))
    travel = tag_id(client.application, "Travel")

    page = page_text(client.get("/admin/tags"))

    assert "Travel" in page and f"/admin/tags/{travel}" not in page
    assert client.get(f"/admin/tags/{travel}").status_code == 403
    assert client.get(f"/admin/tags/{travel}/delete").status_code == 403


def test_unknown_tags_are_not_found(client, admin):
    token = csrf_token(client, "/admin/posts/new")
    assert client.get("/admin/tags/999").status_code == 404
    assert client.get("/admin/tags/999/delete").status_code == 404
    assert client.post("/admin/tags/999/merge", data={"csrf_token": token, "into": "x"}).status_code == 404
    assert client.post("/admin/tags/999/delete", data={"csrf_token": token}).status_code == 404
    assert client.get("/admin/tags/99999999999").status_code == 404


def test_anyone_logged_out_is_sent_to_the_login_page(client, make_post):
    make_post("Lisbon", tags=("Travel",))
    assert client.get("/admin/tags").status_code == 302


# Renaming


def test_a_renamed_tag_shows_its_new_name_everywhere_at_once_and_its_old_address_redirects(
    app, client, admin, make_post
):
    make_post("Lisbon", tags=("Travel",))
    for path in ("/tags/travel", "/posts/lisbon", "/feed.xml", "/tags/travel/feed.xml", "/tags/"):
        assert "Travel" in served_from_the_cache(app, path)

    response = save_tag(client, tag_id(app, "Travel"), name="Journeys", slug="journeys")

    assert response.status_code == 303
    assert "Saved the tag “Journeys”." in page_text(client.get(response.location))
    moved = app.test_client().get("/tags/travel")
    assert moved.status_code == 301 and moved.location.endswith("/tags/journeys")
    assert app.test_client().get("/tags/travel?page=2").location.endswith("/tags/journeys?page=2")
    old_feed = app.test_client().get("/tags/travel/feed.xml")
    assert old_feed.status_code == 301 and old_feed.location.endswith("/tags/journeys/feed.xml")
    for path in ("/tags/journeys", "/posts/lisbon", "/feed.xml", "/tags/journeys/feed.xml", "/tags/"):
        shown = reader_sees(app, path)
        assert "Journeys" in shown and "Travel" not in shown, path
    assert "Lisbon" in reader_sees(app, "/search?q=journeys")


def test_an_empty_slug_is_made_from_the_name(app, client, admin, make_post):
    make_post("Lisbon", tags=("Travel",))

    save_tag(client, tag_id(app, "Travel"), name="Slow travel", slug="")

    assert "Slow travel" in reader_sees(app, "/tags/slow-travel")
    assert app.test_client().get("/tags/travel").status_code == 301


def test_a_tag_renamed_twice_or_back_keeps_every_address_leading_to_it(app, client, admin, make_post):
    make_post("Lisbon", tags=("Travel",))
    travel = tag_id(app, "Travel")

    save_tag(client, travel, name="Journeys", slug="journeys")
    save_tag(client, travel, name="Trips", slug="trips")
    assert app.test_client().get("/tags/travel").location.endswith("/tags/trips")
    assert app.test_client().get("/tags/journeys").location.endswith("/tags/trips")

    save_tag(client, travel, name="Travel", slug="travel")  # taking its first address back
    assert "Travel" in reader_sees(app, "/tags/travel")
    assert app.test_client().get("/tags/trips").location.endswith("/tags/travel")


def test_a_post_given_a_renamed_tags_old_name_gets_the_tag_it_became(app, client, admin, make_post):
    make_post("Lisbon", tags=("Travel",))
    save_tag(client, tag_id(app, "Travel"), name="Journeys", slug="journeys")

    submit_post(client, title="Porto", tags="travel, food")

    assert tag_names_of(app, "porto") == ["food", "Journeys"]


def test_an_old_address_of_a_tag_that_only_drafts_carry_is_not_found(app, client, admin, make_post):
    make_post("Plans", tags=("Secret",), status=PostStatus.draft)

    save_tag(client, tag_id(app, "Secret"), name="Hidden", slug="hidden")

    assert app.test_client().get("/tags/secret").status_code == 404
    assert app.test_client().get("/tags/hidden").status_code == 404


# Bad input


def test_an_empty_name_is_refused_beside_the_field_keeping_what_was_typed(app, client, admin, make_post):
    make_post("Lisbon", tags=("Travel",))
    travel = tag_id(app, "Travel")

    response = save_tag(client, travel, name="  ", slug="kept-slug", description="Kept words")

    assert response.status_code == 400
    assert field_error(response, "name") == "Please give the tag a name."
    assert 'value="kept-slug"' in page_text(response) and "Kept words</textarea>" in page_text(response)
    assert "Travel" in reader_sees(app, "/tags/travel")


def test_a_name_another_tag_has_names_that_tag_and_offers_merging_into_it(app, client, admin, make_post):
    make_post("Lisbon", tags=("Travel", "Trips"))
    trips = tag_id(app, "Trips")

    same_name = save_tag(client, trips, name="travel", slug="")
    same_slug = save_tag(client, trips, name="Trips", slug="travel")

    assert same_name.status_code == same_slug.status_code == 400
    assert "The tag “Travel” already has this name." in field_error(same_name, "name")
    assert "The tag “Travel” already has the address /tags/travel." in field_error(same_slug, "slug")
    for response in (same_name, same_slug):
        assert "merge the two below" in page_text(response)
        assert form_fields(response, f"/admin/tags/{trips}/merge")["into"] == "Travel"
    assert 'value="travel"' in page_text(same_slug)  # what was typed is kept
    assert tag_names_of(app, "lisbon") == ["Travel", "Trips"]


def test_an_address_another_tag_had_before_is_refused(app, client, admin, make_post):
    make_post("Lisbon", tags=("Travel", "Food"))
    save_tag(client, tag_id(app, "Travel"), name="Journeys", slug="journeys")

    response = save_tag(client, tag_id(app, "Food"), slug="travel")

    assert response.status_code == 400
    assert "/tags/travel was an address of the tag “Journeys”" in field_error(response, "slug")
    assert app.test_client().get("/tags/travel").location.endswith("/tags/journeys")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "x" * 61, "A tag's name can be at most 60 characters long."),
        ("slug", "x" * 81, "A slug can be at most 80 characters long."),
        ("slug", "two words", "Use only letters, numbers and single hyphens"),
        ("description", "y" * 301, "A description can be at most 300 characters long."),
        ("name", "Line\nbreak", "invisible control characters"),
    ],
)
def test_over_long_or_malformed_input_is_refused_beside_its_field(app, client, admin, make_post, field, value, message):
    make_post("Lisbon", tags=("Travel",))

    response = save_tag(client, tag_id(app, "Travel"), **{field: value})

    assert response.status_code == 400
    assert message in field_error(response, field)
    assert "The tag was not saved" in page_text(response)


# The description


def test_a_description_shows_under_the_tag_pages_heading_as_plain_text_and_describes_the_page(
    app, client, admin, make_post
):
    make_post("Lisbon", tags=("Travel",))
    served_from_the_cache(app, "/tags/travel")
    text = 'Trips <script>alert("x")</script> & "notes"\nfrom the road.'

    response = save_tag(client, tag_id(app, "Travel"), description=text)

    assert response.status_code == 303
    page = reader_sees(app, "/tags/travel")
    escaped = "Trips &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;notes&#34;"
    assert f'<p class="tag-description">{escaped}\nfrom the road.</p>' in page
    assert f'<meta name="description" content="{escaped} from the road.">' in page
    assert "<script>alert" not in page


# Merging


def test_merging_gives_the_posts_the_other_tag_once_deletes_the_first_and_redirects_its_address(
    app, client, admin, make_post
):
    make_post("Only old", tags=("JS",))
    make_post("Both", tags=("JS", "JavaScript"))
    make_post("Only new", tags=("JavaScript",))
    for path in ("/tags/js", "/tags/javascript", "/posts/only-old", "/tags/js/feed.xml"):
        served_from_the_cache(app, path)

    response = merge(client, tag_id(app, "JS"), "javascript")

    assert response.status_code == 303
    assert "Merged “JS” into “JavaScript”: 2 posts now have “JavaScript”." in page_text(client.get(response.location))
    assert tag_id(app, "JS") is None
    assert tag_names_of(app, "only-old") == tag_names_of(app, "both") == ["JavaScript"]
    moved = app.test_client().get("/tags/js")
    assert moved.status_code == 301 and moved.location.endswith("/tags/javascript")
    listed = re.findall(r'<h2><a href="/posts/[^"]+">([^<]+)</a></h2>', reader_sees(app, "/tags/javascript"))
    assert sorted(listed) == ["Both", "Only new", "Only old"]
    assert "JS</a>" not in reader_sees(app, "/posts/only-old")
    assert "Only old" in reader_sees(app, "/tags/javascript/feed.xml")


def test_a_merged_tags_own_old_addresses_follow_it_to_the_other_tag(app, client, admin, make_post):
    make_post("Lisbon", tags=("Travel", "Trips"))
    save_tag(client, tag_id(app, "Travel"), name="Journeys", slug="journeys")

    merge(client, tag_id(app, "Journeys"), "Trips")

    for old in ("travel", "journeys"):
        assert app.test_client().get(f"/tags/{old}").location.endswith("/tags/trips")


def test_merging_a_tag_into_itself_is_refused_beside_the_field(app, client, admin, make_post):
    make_post("Lisbon", tags=("Travel",))
    travel = tag_id(app, "Travel")

    response = merge(client, travel, "travel")

    assert response.status_code == 400
    assert field_error(response, "into") == "A tag cannot be merged into itself: please type the name of another tag."
    assert form_fields(response, f"/admin/tags/{travel}/merge")["into"] == "travel"
    assert "Travel" in reader_sees(app, "/tags/travel")


def test_merging_into_a_tag_deleted_meanwhile_is_refused_and_nothing_changes(app, client, admin, make_post):
    make_post("Lisbon", tags=("Travel", "Trips"))
    travel, trips = tag_id(app, "Travel"), tag_id(app, "Trips")
    token = csrf_token(client, f"/admin/tags/{travel}", action=f"/admin/tags/{travel}/merge")
    delete_token = csrf_token(client, f"/admin/tags/{trips}/delete", action=f"/admin/tags/{trips}/delete")
    client.post(f"/admin/tags/{trips}/delete", data={"csrf_token": delete_token})

    response = client.post(f"/admin/tags/{travel}/merge", data={"csrf_token": token, "into": "Trips"})

    assert response.status_code == 400
    assert "There is no tag “Trips” (or it was deleted a moment ago)." in field_error(response, "into")
    assert tag_names_of(app, "lisbon") == ["Travel"]


def test_merging_a_tag_that_was_merged_meanwhile_is_not_found(app, client, admin, make_post):
    make_post("Lisbon", tags=("Travel", "Trips"))
    travel = tag_id(app, "Travel")
    token = csrf_token(client, f"/admin/tags/{travel}", action=f"/admin/tags/{travel}/merge")
    merge(client, travel, "Trips")

    response = client.post(f"/admin/tags/{travel}/merge", data={"csrf_token": token, "into": "Trips"})

    assert response.status_code == 404


# Deleting


def test_deleting_a_tag_asks_first_saying_how_many_posts_lose_it_and_keeps_the_posts(app, client, admin, make_post):
    make_post("Lisbon", tags=("Travel", "Food"))
    make_post("Porto, unfinished", tags=("Travel",), status=PostStatus.draft)
    served_from_the_cache(app, "/posts/lisbon")
    travel = tag_id(app, "Travel")

    confirm = client.get(f"/admin/tags/{travel}/delete")
    assert "2 posts (1 published) will lose this tag; the posts themselves stay." in page_text(confirm)
    assert tag_id(app, "Travel") == travel  # asking changes nothing
    token = csrf_token(client, f"/admin/tags/{travel}/delete", action=f"/admin/tags/{travel}/delete")
    response = client.post(f"/admin/tags/{travel}/delete", data={"csrf_token": token})

    assert response.status_code == 303
    assert "Deleted the tag “Travel”. 2 posts no longer have it." in page_text(client.get(response.location))
    assert app.test_client().get("/tags/travel").status_code == 404
    assert "Travel" not in reader_sees(app, "/posts/lisbon")
    assert tag_names_of(app, "lisbon") == ["Food"]
    assert "Porto, unfinished" in page_text(client.get("/admin/posts"))


def test_a_deleted_tags_old_addresses_stop_leading_anywhere(app, client, admin, make_post):
    make_post("Lisbon", tags=("Travel",))
    save_tag(client, tag_id(app, "Travel"), name="Journeys", slug="journeys")
    journeys = tag_id(app, "Journeys")
    token = csrf_token(client, f"/admin/tags/{journeys}/delete", action=f"/admin/tags/{journeys}/delete")

    client.post(f"/admin/tags/{journeys}/delete", data={"csrf_token": token})

    assert app.test_client().get("/tags/travel").status_code == 404
    submit_post(client, title="Porto", tags="Travel")  # the name is free again: a new tag
    assert "Porto" in reader_sees(app, "/tags/travel")


def test_a_form_without_its_token_changes_nothing(app, client, admin, make_post):
    make_post("Lisbon", tags=("Travel",))
    travel = tag_id(app, "Travel")

    for path in (f"/admin/tags/{travel}", f"/admin/tags/{travel}/merge", f"/admin/tags/{travel}/delete"):
        assert client.post(path, data={"name": "Forged", "into": "x"}).status_code == 400

    assert tag_names_of(app, "lisbon") == ["Travel"]


# Moving the blog


def test_an_export_keeps_each_tags_description_and_old_addresses(app, client, admin, make_post, make_user):
    make_post("Lisbon", tags=("Travel",))
    save_tag(client, tag_id(app, "Travel"), name="Journeys", slug="journeys", description="Roads & rails.")
    export = exported(app)
    wipe(app)
    make_user("owner")

    imported(app, export)

    assert "Roads &amp; rails." in reader_sees(app, "/tags/journeys")
    assert app.test_client().get("/tags/travel").location.endswith("/tags/journeys")
    assert json.loads(exported(app))["tags"] == json.loads(export)["tags"]


def test_an_export_whose_old_tag_address_is_another_tags_is_refused(app, client, admin, make_post):
    make_post("Lisbon", tags=("Travel", "Food"))
    export = json.loads(exported(app))
    export["tags"][1]["old_slugs"] = ["food"]
    wipe(app)

    with pytest.raises(TransferError, match="'travel'.* had the address 'food', which a tag in the file has now"):
        imported(app, json.dumps(export))


# The audit log


def test_each_change_to_a_tag_is_in_the_audit_log(app, client, admin, make_post):
    make_post("Lisbon", tags=("Travel", "Trips", "Food"))
    save_tag(client, tag_id(app, "Travel"), name="Journeys", slug="journeys")
    merge(client, tag_id(app, "Trips"), "Journeys")
    food = tag_id(app, "Food")
    token = csrf_token(client, f"/admin/tags/{food}/delete", action=f"/admin/tags/{food}/delete")
    client.post(f"/admin/tags/{food}/delete", data={"csrf_token": token})

    log = html.unescape(page_text(client.get("/admin/audit")))

    assert "Saved a tag</td>\n      <td>“Travel” (/tags/travel) → “Journeys” (/tags/journeys)" in log
    assert "Merged a tag into another</td>\n      <td>“Trips” (/tags/trips) into “Journeys” (/tags/journeys)" in log
    assert "Deleted a tag</td>\n      <td>“Food” (/tags/food), from 1 post" in log
