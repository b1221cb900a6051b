"""Search on PostgreSQL: a GIN-indexed tsvector, ranked among the newest matches, at a cost that does not grow.

Runs when TEST_DATABASE_URL names a PostgreSQL database (under CI=true it must: a skip fails the run).
"""

from __future__ import annotations

import re

import flask_migrate
import pytest
from sqlalchemy import column
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import table
from sqlalchemy import text

import search
from database import db
from helpers import TEST_DATABASE_URL
from helpers import page_text
from schema import use_migrations

pytestmark = pytest.mark.skipif(
    not (TEST_DATABASE_URL or "").startswith("postgresql"), reason="needs TEST_DATABASE_URL (PostgreSQL)"
)

# Posts written in bulk, as a large blog's would be: every post says "garden", one in seven "harbour" (in its
# title for one in fourteen, so titles and bodies both rank), one in fifty "tulips" twice, the middle one "xylophone",
# and "comet" is in every other one of the newest hundred posts but only one in 97 before (news of the day).
FILL_POSTS = """
INSERT INTO posts (id, title, slug, body, format, body_html, excerpt, summary, word_count, comment_count, status,
                   kind, comments_open, published_at, created_at, updated_at)
SELECT n, 'Day ' || n || CASE WHEN n % 14 = 0 THEN ' at the harbour' ELSE ' in the garden' END, 'day-' || n,
       body, 'markdown', '<p>' || body || '</p>', body, body, 20, 0, 'published', 'post', true,
       TIMESTAMP '2020-01-01' + ((n * 7919) % 100003) * INTERVAL '1 minute',
       TIMESTAMP '2020-01-01', TIMESTAMP '2020-01-01'
FROM (
    SELECT n, 'The garden path needs weeding before the rain, word ' || n || '.'
              || CASE WHEN n % 7 = 0 THEN ' Boats in the harbour.' ELSE '' END
              || CASE WHEN n % 50 = 0 THEN ' Tulips, more tulips.' ELSE '' END
              || CASE WHEN n = :count / 2 THEN ' A xylophone next door.' ELSE '' END
              || CASE WHEN (n > :count - 100 AND n % 2 = 0) OR n % 97 = 0 THEN ' A comet.' ELSE '' END AS body
    FROM generate_series(1, :count) AS n
) AS generated
"""


@pytest.fixture
def database_url() -> str:
    return TEST_DATABASE_URL


def fill(app, count: int) -> None:
    """Write ``count`` published posts and their search index in two statements, then ANALYZE."""
    with app.app_context():
        db.session.execute(text(FILL_POSTS), {"count": count})
        search.reindex()  # the index written as on every post change
        db.session.execute(text("ANALYZE posts"))
        db.session.execute(text("ANALYZE post_search"))
        db.session.commit()


def unbounded_best_matches(words: list[str]) -> list[int]:
    """The ranking before: every matching post read by the GIN index, the newest 201 ranked by ts_rank."""
    index = table("post_search", column("post_id"), column("document"))
    query = func.to_tsquery("simple", " & ".join(words))
    candidates = (
        select(index.c.post_id.label("id"), func.ts_rank(index.c.document, query).label("score"))
        .where(index.c.document.op("@@")(query))
        .order_by(index.c.post_id.desc())
        .limit(search.SEARCH_CANDIDATES + 1)
        .subquery()
    )
    return search._ranked(candidates, (candidates.c.score.desc(),))


def plan_of(words: list[str]) -> str:
    """EXPLAIN ANALYZE of the statement that chooses the posts to rank."""
    statement = search.postgres_candidates(search.RECENT_WINDOW, search.SEARCH_CANDIDATES + 1)
    rows = db.session.execute(text(f"EXPLAIN (ANALYZE, COSTS OFF) {statement}"), {"words": " & ".join(words)})
    return "\n".join(row[0] for row in rows)


def stages(plan: str) -> dict[str, str]:
    """The plan of each part of the statement, by the name of its CTE (recent, nearer, further, farther)."""
    parts = {}
    for name in ("recent", "first_reach", "nearer", "second_reach", "further", "farther"):
        parts[name] = plan.split(f"CTE {name}\n")[1]
    names = list(parts)
    for name, following in zip(names, names[1:], strict=False):
        parts[name] = parts[name].split(f"CTE {following}\n")[0]
    parts["farther"] = parts["farther"].split("\n  ->  ")[0]
    return parts


def matches_read(stage: str) -> int:
    """How many index entries a part of the plan read through the GIN index (0 if it did not run)."""
    found = re.search(r"Bitmap Heap Scan on post_search \w+ \(actual time=[\d.]+ rows=(\d+)", stage)
    return int(found.group(1)) if found else 0


def test_the_search_index_is_a_gin_index_written_without_a_pending_list(app):
    with app.app_context():
        definition, options = db.session.execute(
            text(
                "SELECT indexdef, reloptions FROM pg_indexes JOIN pg_class ON relname = indexname"
                " WHERE indexname = 'ix_post_search_document'"
            )
        ).one()
    assert f"USING gin (document, (ARRAY[(post_id / {search.BUCKET})]))" in definition
    assert "fastupdate=off" in options


def test_a_blog_brought_up_by_the_migrations_has_the_same_index(app):
    use_migrations(app)
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        flask_migrate.upgrade()
        options = db.session.scalar(text("SELECT reloptions FROM pg_class WHERE relname = 'ix_post_search_document'"))
        assert options == ["fastupdate=off"]
        definition = db.session.scalar(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_post_search_document'")
        )
        assert f"(document, (ARRAY[(post_id / {search.BUCKET})]))" in definition
        db.session.execute(text("SELECT gin_clean_pending_list('ix_post_search_document'::regclass)"))


def test_a_rare_word_is_found_through_the_gin_index_and_a_common_one_among_the_newest_posts(app):
    fill(app, 5_000)
    with app.app_context():
        rare = stages(plan_of(["xylophone"]))
        common = stages(plan_of(["garden"]))
    assert "Bitmap Index Scan on ix_post_search_document (actual" in rare["farther"]
    assert "Rows Removed by Filter" not in rare["farther"]  # the index found it: no post read in vain
    # A word in every post is met in the newest posts: no more of them are read than are ranked, and not the index.
    newest_first = "Index Scan Backward using post_search_pkey on post_search post_search_1 (actual time="
    assert f"rows={search.SEARCH_CANDIDATES + 1} loops=1)" in common["recent"].split(newest_first)[1].split("\n")[0]
    for older in ("nearer", "further", "farther"):
        assert "(actual" not in common[older].split("Bitmap Heap Scan")[1].split("\n")[0]


def test_a_search_is_planned_once_and_then_reused(app):
    """PostgreSQL keeps one plan for every search (planning it again cost as much as running it)."""
    fill(app, 1_500)
    with app.app_context():
        for word in ["garden", "harbour", "xylophone", "tulips"] * 6:
            search.best_matches([word])
        generic, custom = db.session.execute(
            text("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%to_tsquery%'")
        ).one()
    assert generic > custom


@pytest.mark.parametrize("window", [search.RECENT_WINDOW, 40, 1])
@pytest.mark.parametrize(
    "words",
    [["garden"], ["harbour"], ["tulips"], ["xylophone"], ["garden", "harbour"], ["harbour", "tulips"], ["nothing"]],
)
def test_results_and_ranking_are_those_of_ranking_every_match(app, monkeypatch, window, words):
    fill(app, 1_500)
    monkeypatch.setattr(search, "RECENT_WINDOW", window)
    with app.app_context():
        expected = unbounded_best_matches(words)
        assert search.best_matches(words) == expected
    if words == ["harbour"]:
        assert len(expected) == search.SEARCH_CANDIDATES + 1  # more than are ranked: the newest 201 are
        assert expected[0] % 14 == 0  # "harbour" in the title ranks first


@pytest.mark.parametrize("words", [["harbour"], ["comet"], ["tulips"], ["xylophone"]])
def test_older_matches_are_found_in_the_age_buckets_the_newest_say_and_beyond_only_if_needed(app, monkeypatch, words):
    """With a window of 40 posts on a blog of 4,000 (four age buckets), "harbour" is found in the buckets its share
    among the newest posts says; "comet" (frequent lately, rare before) falls short there, and the share among all
    the matches found so far says how much further to look; "xylophone" (none among the newest) is looked for in all
    older posts. Every result is the same as ranking every match."""
    fill(app, 4_000)
    monkeypatch.setattr(search, "RECENT_WINDOW", 40)
    with app.app_context():
        assert search.best_matches(words) == unbounded_best_matches(words)
        plan = stages(plan_of(words))
    visited = {stage: matches_read(plan[stage]) for stage in ("nearer", "further", "farther")}
    if words == ["harbour"]:
        assert search.SEARCH_CANDIDATES < 40 // 7 + visited["nearer"] < 4_000 // 7  # enough, not all its matches
        assert visited["further"] == visited["farther"] == 0
    if words == ["comet"]:
        assert visited["further"] > 0 and visited["farther"] == 0
    if words == ["xylophone"]:
        assert visited == {"nearer": 0, "further": 0, "farther": 1}


def test_the_pages_of_a_common_word_show_each_ranked_post_once(app, client):
    fill(app, 300)
    seen: list[str] = []
    for number in range(1, 22):
        html = page_text(client.get(f"/search?q=garden&page={number}"))
        seen += [line.split('href="/posts/')[1].split('"')[0] for line in html.splitlines() if "<h2><a href" in line]
    with app.app_context():
        ranked = [f"day-{post_id}" for post_id in search.best_matches(["garden"])]
    assert seen == ranked and len(set(seen)) == len(seen) > search.SEARCH_CANDIDATES
    assert client.get("/search?q=garden&page=22").status_code == 404
    assert "More than 200 posts match" in page_text(client.get("/search?q=garden&page=5"))


@pytest.mark.parametrize(
    "query",
    [
        '"garden"',
        "'garden'",
        '"unbalanced',
        "garden & harbour",
        "garden | harbour",
        "!garden",
        "garden:*",
        "garden <-> harbour",
        "garden <2> harbour",
        "(garden",
        "garden)",
        "a_b",
        "_",
        "² ½",
        "\\",
        "garden\x00harbour",
        "\x00",
        "x" * 10_000,
        "garden " * 2_000,
        "🌷 garden",
        "'; DROP TABLE posts; --",
    ],
)
def test_any_query_gets_a_friendly_page_on_postgresql(app, client, query):
    fill(app, 50)
    response = client.get("/search", query_string={"q": query})
    assert response.status_code == (400 if "\x00" in query else 200)  # NUL is refused before the search runs
    assert ("Search" if response.status_code == 200 else "no address or form field may contain") in page_text(response)
