"""Search on PostgreSQL at 100 and at 100,000 posts: the same searches timed on both, and their query plans.

Fills a scratch PostgreSQL database with bulk inserts (one ``INSERT … SELECT generate_series`` for the posts,
one for their search index, as ``search.reindex`` would write it), then times ``search.best_matches`` and the
whole ``/search`` page for a word in every post ("garden"), a word in one post in a hundred ("harbour") and a
word in one post ("xylophone"), and prints the median of each (and the fastest run: on a shared machine, the cost
without the neighbours' load) with the ratio between the sizes (the goal is ≤ 1.5) and ``EXPLAIN ANALYZE`` of the
large blog's searches, which shows the GIN index at work.

Run it with ``.venv/bin/python bench/search_postgres.py postgresql+psycopg://postgres@127.0.0.1:5432/scratch``
(the database is emptied; it takes under a minute).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402
from sqlalchemy import text  # noqa: E402

import search  # noqa: E402
from app import create_app  # noqa: E402
from database import db  # noqa: E402

SIZES = (100, 1_000, 100_000)
WORDS = {"common (every post)": "garden", "one post in 100": "harbour", "rare (one post)": "xylophone"}
RUNS = 30

FILL_POSTS = """
INSERT INTO posts (id, title, slug, body, format, body_html, excerpt, summary, word_count, comment_count, status,
                   kind, comments_open, published_at, created_at, updated_at)
SELECT n, 'Notes from the garden, day ' || n || CASE WHEN n % 100 = 0 THEN ' at the harbour' ELSE '' END,
       'day-' || n, body, 'markdown', '<p>' || body || '</p>', body, body, 40, 0, 'published', 'post', true,
       TIMESTAMP '2020-01-01' + n * INTERVAL '1 minute', TIMESTAMP '2020-01-01', TIMESTAMP '2020-01-01'
FROM (
    SELECT n, 'The tulips came up early this year and the garden path needs weeding again before the rain. '
              || 'Word number ' || n || ' of a long series, with seeds, soil and patience.'
              || CASE WHEN n = :rare THEN ' A xylophone played next door.' ELSE '' END AS body
    FROM generate_series(1, :count) AS n
) AS generated
"""
FILL_INDEX = f"""
INSERT INTO post_search (post_id, document)
SELECT id, {search.POSTGRES_DOCUMENT.replace(":title", "title").replace(":tags", "''").replace(":body", "body")}
FROM posts
"""


def fill(count: int) -> None:
    """Empty the database and write ``count`` published posts and their search index in two statements."""
    db.session.rollback()
    db.drop_all()
    db.create_all()
    db.session.execute(text(FILL_POSTS), {"count": count, "rare": count // 2})
    db.session.execute(text(FILL_INDEX))
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()


def timings_ms(action) -> list[float]:
    """Return the times of ``RUNS`` calls of ``action`` in milliseconds, after two warm-up calls."""
    for _ in range(2):
        action()
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
        db.session.rollback()
    return times


READER = ThreadPoolExecutor(max_workers=1)  # a thread of its own: no app context of the bench's in it


def page(app, path: str) -> None:
    """Ask for ``path`` as a reader's browser would, in a request of its own: inside the bench's app context a
    request would share its ``g`` with the one before (and half the answers were an empty ``{}``)."""
    response = READER.submit(lambda: app.test_client().get(path)).result()
    assert response.status_code == 200 and len(response.data) > 1000, (path, response.status_code)


def statement_of(word: str) -> tuple[str, object]:
    """Return the statement ``best_matches`` runs for ``word``, with its parameters."""
    statements: list[tuple[str, object]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001
        statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        search.best_matches([word])
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    db.session.rollback()
    return statements[-1]


def plan(word: str) -> str:
    """Return EXPLAIN ANALYZE of the statement ``best_matches`` runs for ``word``."""
    statement, parameters = statement_of(word)
    rows = db.session.connection().exec_driver_sql("EXPLAIN (ANALYZE, COSTS OFF) " + statement, parameters)
    found = "\n".join(row[0] for row in rows)
    db.session.rollback()
    return found


def database_ms(word: str) -> list[float]:
    """Return PostgreSQL's own execution times of the statement for ``word`` (EXPLAIN ANALYZE without per-node
    timing): the work that could grow with the blog, without Python's share or the client's waits."""
    statement, parameters = statement_of(word)
    times = []
    for _ in range(RUNS):
        rows = db.session.connection().exec_driver_sql(
            "EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) " + statement, parameters
        )
        times.append(float(next(row[0] for row in rows if row[0].startswith("Execution Time")).split()[2]))
        db.session.rollback()
    return times


def main() -> None:
    if len(sys.argv) < 2 or not sys.argv[1].startswith("postgresql"):
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory() as instance:
        app = create_app(
            {"SQLALCHEMY_DATABASE_URI": sys.argv[1], "SECRET_KEY": "bench", "PAGE_CACHE": False},
            instance_path=instance,
        )
        figures: dict[str, dict[int, tuple[list[float], list[float], list[float], int]]] = {}
        plans: dict[str, str] = {}
        with app.app_context():
            for count in SIZES:
                print(f"Filling {count:,} posts ...", flush=True)
                fill(count)
                for label, word in WORDS.items():
                    found = len(search.best_matches([word]))
                    query_ms = timings_ms(lambda word=word: search.best_matches([word]))
                    page_ms = timings_ms(lambda word=word: page(app, f"/search?q={word}"))
                    figures.setdefault(label, {})[count] = (query_ms, page_ms, database_ms(word), found)
                    if count == SIZES[-1]:
                        plans[word] = plan(word)
            db.session.rollback()
            if "--keep" not in sys.argv:
                db.drop_all()
    for name, measure in (("median", statistics.median), ("fastest", min)):
        lines = [
            f"| search (matches on 100,000 posts), {name} of {RUNS} | 100 posts, ms | 1,000 posts, ms "
            "| 100,000 posts, ms | 100 → 100,000 | 1,000 → 100,000 |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for label, by_size in figures.items():
            small, middle, large = (by_size[size] for size in SIZES)
            found = "over 200" if large[3] > search.SEARCH_CANDIDATES else str(large[3])
            for kind, index in (("search query", 0), ("in the database", 2), ("whole page", 1)):
                a, b, c = (measure(figures_of[index]) for figures_of in (small, middle, large))
                lines.append(
                    f"| “{WORDS[label]}”, {label} ({found}), {kind} | {a:.2f} | {b:.2f} | {c:.2f} | "
                    f"{c / a:.2f} | {c / b:.2f} |"
                )
        print("\n".join(lines) + "\n")
    for word, text_of_plan in plans.items():
        print(f"\nEXPLAIN ANALYZE, “{word}” on 100,000 posts:\n{text_of_plan}")


if __name__ == "__main__":
    main()
