"""The blog's time zone (BLOG_TIMEZONE): every date a person reads or types is on the blog's clocks, every date
stored is UTC, and feeds and ``<time datetime>`` stay ISO 8601 with their offset."""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime

import pytest
from sqlalchemy import select

from account.tables import UserRole
from app import create_app
from database import db
from helpers import log_in
from helpers import page_text
from helpers import post_comment
from helpers import save
from helpers import submit_post
from models import Comment
from models import Post
from models import PostStatus

ZURICH = "Europe/Zurich"
LATE_ON_MARCH_31 = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)  # 1 April, 01:30 in Zurich (summer time, +2)


def stored_date(app, title: str) -> datetime | None:
    with app.app_context():
        return db.session.scalar(select(Post.published_at).where(Post.title == title))


def listed(page: str) -> list[str]:
    """The titles of the posts a page lists (not those in its “Recent posts”)."""
    return re.findall(r'<article class="summary">\s*<h2><a href="[^"]*">([^<]*)</a>', page)


def publish_date_field(page: str) -> str:
    """The value the editor's publish date field shows."""
    return re.search(r'<input[^>]*\bname="published_at"[^>]*>', page).group(0)


def field_message(page: str) -> str:
    """The message beside the publish date field."""
    return re.search(r'id="published_at-error"[^>]*>(.*?)<', page, re.S).group(1).strip()


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "europe/zurich", "CET ", "../../etc/passwd", ""])
def test_a_time_zone_that_does_not_exist_stops_start_up_with_a_sentence(name, tmp_path, monkeypatch):
    monkeypatch.setenv("BLOG_TIMEZONE", name)

    with pytest.raises(SystemExit) as stopped:
        create_app({"SECRET_KEY": "x", "DATABASE_URL": "sqlite://"}, instance_path=str(tmp_path))

    assert str(stopped.value) == (
        "Inkwell cannot start: BLOG_TIMEZONE must be a time zone's name such as UTC, Europe/Zurich or "
        f"America/New_York; got {name!r}."
    )


def test_by_default_the_blog_keeps_utc(app, make_post, client):
    make_post("Late", published_at=LATE_ON_MARCH_31)

    page = page_text(client.get("/posts/late"))

    assert '<time datetime="2026-03-31T23:30:00+00:00">31 March 2026</time>' in page


def test_pages_show_dates_on_the_blogs_clocks_and_machines_read_utc(make_app, make_post):
    app = make_app(BLOG_TIMEZONE=ZURICH)
    make_post("Late", published_at=LATE_ON_MARCH_31)
    client = app.test_client()

    page = page_text(client.get("/posts/late"))
    home = page_text(client.get("/"))
    feed = page_text(client.get("/feed.xml"))

    assert '<time datetime="2026-03-31T23:30:00+00:00">1 April 2026</time>' in page
    assert "1 April 2026" in home and "31 March 2026" not in home
    assert "<published>2026-03-31T23:30:00+00:00</published>" in feed
    lastmod = re.findall(r"<lastmod>(.*?)</lastmod>", page_text(client.get("/sitemap.xml")))
    assert lastmod and all(value.endswith("+00:00") for value in lastmod)


def test_comment_times_name_the_blogs_zone(make_app, make_post):
    app = make_app(BLOG_TIMEZONE=ZURICH)
    make_post("Talk")
    client = app.test_client()
    post_comment(client, "talk", body="Winter words.")
    with app.app_context():
        comment = db.session.scalars(select(Comment)).one()
        comment.created_at = datetime(2026, 1, 15, 17, 5, tzinfo=UTC)
        db.session.commit()

    page = page_text(client.get("/posts/talk"))

    assert '<time datetime="2026-01-15T17:05:00+00:00" title="15 January 2026, 18:05 CET">15 Jan 2026</time>' in page


def test_archive_months_split_at_midnight_on_the_blogs_clocks(make_app, make_post):
    app = make_app(BLOG_TIMEZONE=ZURICH)
    make_post("Still March", published_at=datetime(2026, 3, 31, 21, 30, tzinfo=UTC))  # 23:30 in Zurich
    make_post("Already April", published_at=LATE_ON_MARCH_31)  # 01:30 on 1 April in Zurich
    make_post("New Year", published_at=datetime(2025, 12, 31, 23, 15, tzinfo=UTC))  # 00:15, winter time (+1)
    client = app.test_client()

    archive = page_text(client.get("/archive"))
    april = page_text(client.get("/archive/2026/4"))
    march = page_text(client.get("/archive/2026/3"))

    assert re.search(r"April 2026</a>\s*<span class=\"count\">1 post</span>", archive)
    assert re.search(r"March 2026</a>\s*<span class=\"count\">1 post</span>", archive)
    assert re.search(r"January 2026</a>\s*<span class=\"count\">1 post</span>", archive)
    assert "December 2025" not in archive
    assert listed(april) == ["Already April"] and listed(march) == ["Still March"]
    assert client.get("/archive/2025/12").status_code == 404


def test_large_archives_count_months_on_the_blogs_clocks_too(make_app, make_post):
    app = make_app(BLOG_TIMEZONE="America/New_York", ARCHIVE_FULL_LIST_LIMIT=0)  # the months alone, counted in SQL
    make_post("First of May in London", published_at=datetime(2026, 5, 1, 2, 0, tzinfo=UTC))  # 22:00 on 30 April
    make_post("Mid May", published_at=datetime(2026, 5, 15, 12, 0, tzinfo=UTC))
    make_post("Last of May", published_at=datetime(2026, 6, 1, 3, 59, tzinfo=UTC))  # 23:59 on 31 May

    archive = page_text(app.test_client().get("/archive"))

    assert re.search(r"May 2026</a>\s*<span class=\"count\">2 posts</span>", archive)
    assert re.search(r"April 2026</a>\s*<span class=\"count\">1 post</span>", archive)
    assert "June 2026" not in archive and "archive-posts" not in archive


def test_changing_the_zone_on_the_settings_page_changes_cached_pages_at_once(make_app, make_post, make_user):
    app = make_app(PAGE_CACHE=True)
    make_post("Late", published_at=LATE_ON_MARCH_31)
    make_user("owner", UserRole.admin)
    reader, owner = app.test_client(), app.test_client()
    assert "31 March 2026" in page_text(reader.get("/posts/late"))  # now cached
    assert "March 2026" in page_text(reader.get("/archive"))
    log_in(owner, "owner")

    response = save(owner, blog_timezone=ZURICH)

    assert response.status_code == 303
    assert '<time datetime="2026-03-31T23:30:00+00:00">1 April 2026</time>' in page_text(reader.get("/posts/late"))
    archive = page_text(reader.get("/archive"))
    assert "April 2026" in archive and "March 2026" not in archive
    assert "Time zone: “UTC” → “Europe/Zurich”" in page_text(owner.get("/admin/audit"))


def test_the_settings_page_refuses_a_zone_that_does_not_exist_and_keeps_what_was_typed(app, admin, client):
    response = save(client, blog_timezone="Europe/Atlantis", blog_title="Kept")

    page = page_text(response)
    assert response.status_code == 400
    assert "Please enter a time zone&#39;s name as the time zone database spells it" in page
    assert 'value="Europe/Atlantis"' in page and 'value="Kept"' in page
    assert app.config["BLOG_TIMEZONE"] == "UTC"


def test_the_editor_names_the_zone_and_reads_the_date_typed_on_the_blogs_clocks(make_app, make_user):
    app = make_app(BLOG_TIMEZONE=ZURICH)
    make_user("owner", UserRole.admin)
    client = app.test_client()
    log_in(client, "owner")

    form = page_text(client.get("/admin/posts/new"))
    response = submit_post(client, title="Winter plans", published_at="2027-01-10 18:30")

    assert "Publish date (Europe/Zurich)" in form and "(UTC)" not in form
    assert "Like 2026-11-24 18:30, on the blog&#39;s clocks (Europe/Zurich)" in form
    assert response.status_code == 303
    assert stored_date(app, "Winter plans") == datetime(2027, 1, 10, 17, 30, tzinfo=UTC)
    edit = page_text(client.get(response.headers["Location"]))
    assert "“Winter plans” is scheduled: it will appear on 2027-01-10 18:30 CET (Europe/Zurich)." in edit
    assert 'value="2027-01-10T18:30"' in publish_date_field(edit)
    listing = page_text(client.get("/admin/posts"))
    assert "Scheduled</span> for 2027-01-10 18:30 CET" in listing


def test_a_post_scheduled_across_the_change_to_summer_time_keeps_its_wall_clock_time(make_app, make_user):
    app = make_app(BLOG_TIMEZONE=ZURICH)
    make_user("owner", UserRole.admin)
    client = app.test_client()
    log_in(client, "owner")

    response = submit_post(client, title="Spring", published_at="2027-04-02 09:00")  # after 28 March: +2

    assert response.status_code == 303
    assert stored_date(app, "Spring") == datetime(2027, 4, 2, 7, 0, tzinfo=UTC)
    assert "it will appear on 2027-04-02 09:00 CEST" in page_text(client.get(response.headers["Location"]))


@pytest.mark.parametrize(("typed", "instead"), [("2026-03-29 02:30", "03:30"), ("2027-03-28 02:15", "03:15")])
def test_a_time_the_clocks_skip_is_refused_beside_the_field(make_app, make_user, typed, instead):
    app = make_app(BLOG_TIMEZONE=ZURICH)
    make_user("owner", UserRole.admin)
    client = app.test_client()
    log_in(client, "owner")

    response = submit_post(client, title="In the gap", published_at=typed, body="Kept words.")

    page = page_text(response)
    day, time = typed.split()
    assert response.status_code == 400
    assert field_message(page) == (
        f"There is no {time} on {day} in Europe/Zurich: the clocks go forward that night. "
        f"Please choose another time, such as {instead}."
    )
    assert "Kept words." in page and stored_date(app, "In the gap") is None


def test_a_time_the_clocks_show_twice_takes_the_first_and_says_so(make_app, make_user):
    app = make_app(BLOG_TIMEZONE=ZURICH)
    make_user("owner", UserRole.admin)
    client = app.test_client()
    log_in(client, "owner")

    response = submit_post(client, title="Autumn", published_at="2026-10-25 02:30")

    assert response.status_code == 303
    assert stored_date(app, "Autumn") == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # summer time, the first
    page = page_text(client.get(response.headers["Location"]))
    assert (
        "02:30 on 2026-10-25 happens twice in Europe/Zurich (the clocks go back that night): this is the first, "
        "02:30 CEST, which is 00:30 UTC."
    ) in page
    assert 'value="2026-10-25T02:30"' in publish_date_field(page)


def test_saving_again_keeps_the_moment_whatever_the_zone_shows(make_app, make_user):
    app = make_app(BLOG_TIMEZONE="Asia/Kolkata")  # +05:30, no daylight saving
    make_user("owner", UserRole.admin)
    client = app.test_client()
    log_in(client, "owner")
    response = submit_post(client, title="Steady", published_at="2026-06-01 00:10")
    edit_url = response.headers["Location"]
    shown = re.search(r'value="([^"]*)"', publish_date_field(page_text(client.get(edit_url)))).group(1)

    again = submit_post(client, edit_url, title="Steady", published_at=shown)

    assert again.status_code == 303
    assert stored_date(app, "Steady") == datetime(2026, 5, 31, 18, 40, tzinfo=UTC)
    with app.app_context():
        assert db.session.scalar(select(Post.status).where(Post.title == "Steady")) == PostStatus.published


def test_archive_months_do_not_follow_the_database_servers_own_time_zone(make_app, make_post, database_url):
    tokyo = {"connect_args": {"options": "-c timezone=Asia/Tokyo"}, "pool_pre_ping": True}
    on_tokyo_time = (
        {"SQLALCHEMY_ENGINE_OPTIONS": tokyo} if database_url.startswith("postgresql") else {}
    )  # SQLite has none
    app = make_app(**on_tokyo_time)  # the blog's zone stays UTC
    make_post("Late", published_at=LATE_ON_MARCH_31)  # 1 April, 08:30 in Tokyo

    archive = page_text(app.test_client().get("/archive"))

    assert re.search(r"March 2026</a>\s*<span class=\"count\">1 post</span>", archive) and "April" not in archive


def test_the_command_line_lists_held_comments_on_the_blogs_clocks(make_app, make_post):
    app = make_app(BLOG_TIMEZONE=ZURICH, COMMENT_MODERATION="all")
    make_post("Talk")
    post_comment(app.test_client(), "talk", name="Grace", body="Hold me.")
    with app.app_context():
        db.session.scalars(select(Comment)).one().created_at = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
        db.session.commit()

    listing = app.test_cli_runner().invoke(args=["comments", "pending"]).output

    assert "\t2026-07-01 11:00 CEST\ttalk\tGrace: Hold me." in listing
