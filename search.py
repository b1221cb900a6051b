"""Full-text search over published posts: titles, bodies and tags, ranked.

SQLite keeps an FTS5 table, PostgreSQL a ``tsvector`` column with a GIN index (written at once, without a
pending list that every search would read), both named ``post_search`` and kept in sync by the ORM events below
on every post write; ``flask --app app reindex`` rebuilds them.
Readers' queries are reduced to plain words first, so no search syntax (quotes, ``*``, ``NEAR``,
parentheses) ever reaches the database.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from sqlalchemy import DDL
from sqlalchemy import Float
from sqlalchemy import Integer
from sqlalchemy import bindparam
from sqlalchemy import column
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import literal
from sqlalchemy import select
from sqlalchemy import table
from sqlalchemy import text
from sqlalchemy import union_all
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from database import Base
from database import db
from markup import excerpt_around
from markup import plain_text
from models import Post
from models import Tag
from models import post_tags

BATCH = 2_000
MAX_QUERY_LENGTH = 200
MAX_WORDS = 12
SEARCH_CANDIDATES = 200  # the newest matching posts that are ranked; keeps a search's cost flat
WORD = re.compile(r"\w+")

# Title and tags weigh more than the body: a title match ranks above a body match.
SQLITE_SCHEMA = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS post_search USING fts5("
    "title, body, tags, tokenize = 'unicode61 remove_diacritics 2')"
)
SQLITE_RANK = "bm25(post_search, 10.0, 1.0, 5.0)"
# The GIN index holds each post's words and its "age bucket" (its id / BUCKET): a search can ask for the matches
# among the newest few buckets without visiting every older match.
BUCKET = 1024
POSTGRES_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_post_search_document ON post_search "
    f"USING GIN (document, (ARRAY[post_id / {BUCKET}])) WITH (fastupdate = off)"
)
POSTGRES_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS post_search ("
    "post_id INTEGER PRIMARY KEY REFERENCES posts(id) ON DELETE CASCADE, document tsvector NOT NULL)",
    POSTGRES_INDEX,
)
# The newest matching posts, in bounded parts. The ids of the newest RECENT_WINDOW posts are read newest first,
# stopping at the wanted number of matches, which is all a common word needs. When they hold too few, their share
# of matches says how far back the rest are: the age buckets just older than the window that should hold them (a
# quarter more) are searched through the GIN index, which visits only the matches there, as many whatever the
# blog's size. If those fall short, the share among all the matches found so far (now many, so a close estimate)
# says how much further to look, half as much again. Only if that still falls short (a word rarer in older posts,
# or none among the newest) are all older matches found through the index (then few). Each match is ranked
# (ts_rank) as it is read, so no index entry is read twice.
RECENT_WINDOW = 1_000  # ~10 matches of a 1% word say enough; 2,000 would cost twice as much for rarer words
NEARER_MARGIN = 1.25  # an estimate from ~10 matches may be short by a quarter
FURTHER_MARGIN = 1.5


def postgres_candidates(window: int, wanted: int) -> str:
    """Return the statement that finds the newest ``wanted`` matches of ``:words`` (ids and ts_rank scores).

    ``window`` and ``wanted`` are written into it rather than bound: with ``LIMIT $n`` PostgreSQL's generic plan
    guesses a tenth of the table, judges it dear, and plans every search afresh (0.4 ms each).
    """
    return f"""
WITH query AS (SELECT to_tsquery('simple', :words) AS q),
window_bounds AS MATERIALIZED (
    SELECT newest, greatest(newest - {window} + 1, 0) AS oldest
    FROM (SELECT max(post_id) AS newest FROM post_search) AS top
),
recent AS MATERIALIZED (
    SELECT post_id, ts_rank(document, query.q) AS score FROM (
        SELECT post_id, document FROM post_search WHERE post_id >= (SELECT oldest FROM window_bounds)
        ORDER BY post_id DESC LIMIT {window}
    ) AS newest_entries, query
    WHERE document @@ query.q LIMIT {wanted}
),
first_reach AS MATERIALIZED (
    SELECT found, newest, oldest, CASE WHEN found = 0 THEN oldest / {BUCKET} + 1 ELSE greatest(
        (oldest - 1 - ceil({NEARER_MARGIN} * ({wanted} - found) * (newest - oldest + 1) / found)::integer) / {BUCKET}, 0
    ) END AS bottom
    FROM (SELECT count(*) AS found FROM recent) AS counted, window_bounds
),
nearer AS MATERIALIZED (
    SELECT post_id, ts_rank(document, query.q) AS score FROM post_search, query
    WHERE (SELECT found FROM first_reach) < {wanted} AND post_id + 0 < (SELECT oldest FROM first_reach)
      AND ARRAY[post_id / {BUCKET}] && ARRAY(SELECT generate_series(bottom, (oldest - 1) / {BUCKET}) FROM first_reach)
      AND document @@ query.q
),
second_reach AS MATERIALIZED (
    SELECT found, oldest, bottom - 1 AS top, CASE WHEN found = 0 OR found >= {wanted} THEN bottom ELSE greatest(
        (bottom * {BUCKET} - 1 - ceil({FURTHER_MARGIN} * ({wanted} - found) * (newest - bottom * {BUCKET} + 1) / found
        )::integer) / {BUCKET}, 0
    ) END AS bottom
    FROM (
        SELECT found + (SELECT count(*) FROM nearer) AS found, newest, oldest, bottom FROM first_reach OFFSET 0
    ) AS so_far
),
further AS MATERIALIZED (
    SELECT post_id, ts_rank(document, query.q) AS score FROM post_search, query
    WHERE (SELECT found FROM second_reach) < {wanted}
      AND ARRAY[post_id / {BUCKET}] && ARRAY(SELECT generate_series(bottom, top) FROM second_reach)
      AND document @@ query.q
),
farther AS MATERIALIZED (
    SELECT post_id, ts_rank(document, query.q) AS score FROM (
        SELECT post_id, document FROM post_search, query
        WHERE (SELECT found FROM second_reach) + (SELECT count(*) FROM further) < {wanted}
          AND (SELECT least(oldest, bottom * {BUCKET}) FROM second_reach) > 0
          AND post_id + 0 < (SELECT least(oldest, bottom * {BUCKET}) FROM second_reach) AND document @@ query.q
        ORDER BY post_id + 0 DESC LIMIT {wanted}
    ) AS older, query
)
SELECT post_id AS id, score FROM (
    SELECT * FROM recent UNION ALL SELECT * FROM nearer UNION ALL SELECT * FROM further UNION ALL SELECT * FROM farther
) AS found
ORDER BY post_id DESC LIMIT {wanted}
"""


POSTGRES_DOCUMENT = (
    "setweight(to_tsvector('simple', :title), 'A') || setweight(to_tsvector('simple', :tags), 'A') || "
    "setweight(to_tsvector('simple', :body), 'B')"
)

event.listen(Base.metadata, "after_create", DDL(SQLITE_SCHEMA).execute_if(dialect="sqlite"))
for statement in POSTGRES_SCHEMA:
    event.listen(Base.metadata, "after_create", DDL(statement).execute_if(dialect="postgresql"))
event.listen(Base.metadata, "before_drop", DDL("DROP TABLE IF EXISTS post_search"))


def search_words(query: str) -> list[str]:
    """Return the words of a reader's query: letters and digits only, at most a dozen."""
    return WORD.findall(query[:MAX_QUERY_LENGTH].casefold())[:MAX_WORDS]


def _write_index(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Replace the index entries of the given posts (``id``, ``title``, ``body`` as plain text, ``tags``)."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        connection.execute(
            text(
                f"INSERT INTO post_search (post_id, document) VALUES (:id, {POSTGRES_DOCUMENT}) "
                "ON CONFLICT (post_id) DO UPDATE SET document = EXCLUDED.document"
            ),
            rows,
        )
        return
    _unindex(connection, [row["id"] for row in rows])
    connection.execute(
        text("INSERT INTO post_search (rowid, title, body, tags) VALUES (:id, :title, :body, :tags)"), rows
    )


def _unindex(connection: Connection, post_ids: list[int]) -> None:
    key = "post_id" if connection.dialect.name == "postgresql" else "rowid"
    for start in range(0, len(post_ids), BATCH):
        batch = post_ids[start : start + BATCH]
        connection.execute(
            text(f"DELETE FROM post_search WHERE {key} IN :ids").bindparams(bindparam("ids", expanding=True)),
            {"ids": batch},
        )


@event.listens_for(Session, "after_flush")
def _follow_post_writes(session: Session, flush_context: Any) -> None:
    """Keep the search index in step with every post written or deleted through the ORM."""
    written = [obj for obj in (*session.new, *session.dirty) if isinstance(obj, Post)]
    deleted = [obj.id for obj in session.deleted if isinstance(obj, Post)]
    connection = session.connection()
    if deleted:
        _unindex(connection, deleted)
    _write_index(
        connection,
        [
            {
                "id": post.id,
                "title": post.title,
                "body": plain_text(post.body_html),
                "tags": " ".join(tag.name for tag in post.tags),
            }
            for post in written
        ],
    )


def reindex(post_ids: list[int] | None = None) -> int:
    """Rebuild the search index for every post (or only ``post_ids``); return how many were indexed."""
    count = reindex_on(db.session.connection(), post_ids)
    db.session.commit()
    return count


def reindex_on(connection: Connection, post_ids: list[int] | None = None) -> int:
    """Rebuild the index through ``connection`` (also used by the migration that creates the index)."""
    if post_ids is None:
        connection.execute(text("DELETE FROM post_search"))
    tag_names = select(post_tags.c.post_id, Tag.name).join(Tag, Tag.id == post_tags.c.tag_id).order_by(Tag.name)
    posts = select(Post.id, Post.title, Post.body_html).order_by(Post.id)
    if post_ids is not None:
        tag_names = tag_names.where(post_tags.c.post_id.in_(post_ids))
        posts = posts.where(Post.id.in_(post_ids))
    tags_by_post: dict[int, list[str]] = defaultdict(list)
    for post_id, name in connection.execute(tag_names):
        tags_by_post[post_id].append(name)
    bodies: dict[str, str] = {}  # seeded posts share bodies: strip each distinct one once
    rows = [
        {
            "id": post_id,
            "title": title,
            "body": bodies.get(body_html) or bodies.setdefault(body_html, plain_text(body_html)),
            "tags": " ".join(tags_by_post[post_id]),
        }
        for post_id, title, body_html in connection.execute(posts)
    ]
    for start in range(0, len(rows), BATCH):
        _write_index(connection, rows[start : start + BATCH])
    return len(rows)


def best_matches(words: list[str]) -> list[int]:
    """Return the ids of published posts matching every word, best first, at most ``SEARCH_CANDIDATES + 1``.

    The work is bounded whatever the blog's size: only the newest ``SEARCH_CANDIDATES + 1`` matching posts are
    ranked, and the best of them come first, so a reader sees the best recent matches rather than the best of all
    time. On SQLite, as WordPress does, posts with every word in the title come first, then in the tags, then the
    others, newest first within each (FTS5's bm25 would read every matching post to weigh the words). PostgreSQL
    weighs them with ts_rank (title and tags weigh A, the text B; equal scores newest first), finding the newest
    matches as ``postgres_candidates`` says: a common word among the newest posts, a rarer one through the GIN
    index, in the few age buckets that hold its newest matches.
    """
    if db.engine.dialect.name == "postgresql":
        return _best_matches_postgres(words)
    index = table("post_search", column("rowid"))
    match = " ".join('"' + word.replace('"', '""') + '"' for word in words)

    def matching(score: int, expression: str) -> Any:
        found = text(f"post_search MATCH :match_{score}").bindparams(**{f"match_{score}": expression})
        return select(index.c.rowid.label("id"), literal(score).label("score")).where(found)

    newest = matching(2, match).order_by(index.c.rowid.desc()).limit(SEARCH_CANDIDATES + 1).subquery()
    oldest_ranked = select(func.min(newest.c.id)).scalar_subquery()
    in_title = matching(0, f"{{title}} : ({match})").where(index.c.rowid >= oldest_ranked)
    in_tags = matching(1, f"{{tags}} : ({match})").where(index.c.rowid >= oldest_ranked)
    found = union_all(select(newest), in_title, in_tags).subquery()
    candidates = select(found.c.id, func.min(found.c.score).label("score")).group_by(found.c.id).subquery()
    return _ranked(candidates, (candidates.c.score,))


def _best_matches_postgres(words: list[str]) -> list[int]:
    candidates = (
        text(postgres_candidates(RECENT_WINDOW, SEARCH_CANDIDATES + 1))
        .bindparams(words=" & ".join(words))
        .columns(column("id", Integer), column("score", Float))
        .subquery()
    )
    return _ranked(candidates, (candidates.c.score.desc(),))


def _ranked(candidates: Any, best_first: tuple[Any, ...]) -> list[int]:
    """Keep the published posts among the candidates (pages are not searched), best first; each is looked up by
    its id, so no post is scanned.

    PostgreSQL joins each candidate to its post (one lookup); SQLite looks it up in a subquery, as a join would
    let its planner read every listed post and look each up among the candidates (170 ms on 100,000 posts).
    """
    if db.engine.dialect.name == "postgresql":
        query = (
            select(candidates.c.id)
            .join(Post, Post.id == candidates.c.id)
            .where(Post.is_listed)
            .order_by(*best_first, Post.published_at.desc())
        )
    else:
        published_at = select(Post.published_at).where(Post.id == candidates.c.id, Post.is_listed).scalar_subquery()
        query = select(candidates.c.id).where(published_at.is_not(None)).order_by(*best_first, published_at.desc())
    return list(db.session.scalars(query.limit(SEARCH_CANDIDATES + 1)))


def search_excerpt(post: Post, words: list[str]) -> str:
    """Return the part of the post's text around the first searched word (or its summary)."""
    text = plain_text(post.body_html)
    return excerpt_around(text, words) if any(word in text.casefold() for word in words) else post.summary
