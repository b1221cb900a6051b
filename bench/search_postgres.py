"""Search on PostgreSQL at 100 and at 100,000 posts: the same searches timed on both, and their query plans.

Fills a scratch PostgreSQL database with bulk inserts (one ``INSERT … SELECT generate_series`` for the posts,
one for their search index, as ``search.reindex`` would write it), then times ``search.best_matches`` and the
whole ``/search`` page for a word in every post ("garden"), a word in one post in a hundred ("harbour") and a
word in one post ("xylophone"), and prints the median of each with the ratio between the two sizes (the goal is
≤ 1.5) and ``EXPLAIN ANALYZE`` of the large blog's searches, which shows the GIN index at work. A second table
gives the CPU time each costs, this process's and PostgreSQL's (its backends' time on a CPU, read from /proc when
the server runs on this machine), the fastest of several rounds: wall-clock medians swing with the machine's load.

Run it with ``.venv/bin/python bench/search_postgres.py postgresql+psycopg://postgres@127.0.0.1:5432/scratch``
(the database is emptied; it takes under a minute); ``make bench`` runs it too. ``--sizes=100,10000`` measures
other sizes (the first against the last), ``--runs=10`` fewer runs, ``--no-plans`` leaves the plans out and
``--keep`` keeps the last blog.
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

from sqlalchemy import text  # noqa: E402

import search  # noqa: E402
from app import create_app  # noqa: E402
from database import db  # noqa: E402

SIZES = (100, 1_000, 100_000)
CPU_ROUNDS, CPU_CALLS = 7, 10
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


def median_ms(action) -> float:
    """Return the median time of ``RUNS`` calls of ``action`` in milliseconds, after two warm-up calls."""
    for _ in range(2):
        action()
    times = []
    for _ in range(int(option("runs", RUNS))):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
        db.session.rollback()
    return statistics.median(times) * 1000


def backends_cpu() -> float:
    """Seconds PostgreSQL's backends serving this database have run on a CPU (0 if the server is elsewhere)."""
    pids = db.session.scalars(
        text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'")
    ).all()
    db.session.rollback()
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9


def cpu_ms(action) -> float:
    """Return the CPU milliseconds one call of ``action`` costs, this process's and PostgreSQL's: the fastest of
    ``CPU_ROUNDS`` rounds of ``CPU_CALLS`` calls."""
    rounds = []
    for _ in range(CPU_ROUNDS):
        started = time.process_time() + backends_cpu()
        for _ in range(CPU_CALLS):
            action()
            db.session.rollback()
        rounds.append((time.process_time() + backends_cpu() - started) / CPU_CALLS)
    return min(rounds) * 1000


def plan(word: str) -> str:
    """Return EXPLAIN ANALYZE of the statement ``best_matches`` runs for ``word``."""
    statements: list[tuple[str, object]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001
        statements.append((statement, parameters))

    from sqlalchemy import event

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        search.best_matches([word])
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    statement, parameters = statements[-1]
    rows = db.session.connection().exec_driver_sql("EXPLAIN (ANALYZE, COSTS OFF) " + statement, parameters)
    found = "\n".join(row[0] for row in rows)
    db.session.rollback()
    return found


READER = ThreadPoolExecutor(max_workers=1)  # a thread of its own: no app context of the bench's in it


def page(app, path: str) -> None:
    """Ask for ``path`` as a reader's browser would, in a request of its own: inside the bench's app context a
    request would share its ``g`` with the one before (and half the answers were an empty ``{}``)."""
    response = READER.submit(lambda: app.test_client().get(path)).result()
    assert response.status_code == 200 and len(response.data) > 1000, (path, response.status_code)


Figures = dict[str, dict[int, tuple[float, float, int]]]


def measure(url: str, sizes: tuple[int, ...]) -> tuple[Figures, Figures, dict[str, str]]:
    """Time each word's search at each size on the PostgreSQL ``url``; return the wall-clock figures, the CPU
    figures and the largest blog's plans."""
    with tempfile.TemporaryDirectory() as instance:
        app = create_app(
            {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "PAGE_CACHE": False}, instance_path=instance
        )
        figures: Figures = {}
        cpu: Figures = {}
        plans: dict[str, str] = {}
        with app.app_context():
            for count in sizes:
                print(f"Filling {count:,} posts ...", flush=True)
                fill(count)
                for label, word in WORDS.items():
                    found = len(search.best_matches([word]))
                    query_ms = median_ms(lambda word=word: search.best_matches([word]))
                    page_ms = median_ms(lambda word=word: page(app, f"/search?q={word}"))
                    figures.setdefault(label, {})[count] = (query_ms, page_ms, found)
                    query_cpu = cpu_ms(lambda word=word: search.best_matches([word]))
                    page_cpu = cpu_ms(lambda word=word: page(app, f"/search?q={word}"))
                    cpu.setdefault(label, {})[count] = (query_cpu, page_cpu, found)
                    if count == sizes[-1]:
                        plans[word] = plan(word)
            db.session.rollback()
            if "--keep" not in sys.argv:
                db.drop_all()
    return figures, cpu, plans


def table(figures: Figures, sizes: tuple[int, ...], unit: str = "ms") -> list[str]:
    """The Markdown table: each word's query and whole page at each size, and how much they grew."""
    first, last = sizes[0], sizes[-1]
    growths = [(first, last)] + ([(sizes[-2], last)] if len(sizes) > 2 else [])
    lines = [
        f"| search (matches on {last:,} posts) | "
        + " | ".join(f"{size:,} posts, {unit}" for size in sizes)
        + " | "
        + " | ".join(f"{low:,} → {high:,}" for low, high in growths)
        + " |",
        "|---|" + "---:|" * (len(sizes) + len(growths)),
    ]
    for label, by_size in figures.items():
        found = "over 200" if by_size[last][2] > search.SEARCH_CANDIDATES else str(by_size[last][2])
        for kind, index in (("search query", 0), ("whole page", 1)):
            times = " | ".join(f"{by_size[size][index]:.2f}" for size in sizes)
            growth = " | ".join(f"{by_size[high][index] / by_size[low][index]:.2f}" for low, high in growths)
            lines.append(f"| “{WORDS[label]}”, {label} ({found}), {kind} | {times} | {growth} |")
    return lines


def worst_growth(figures: Figures, sizes: tuple[int, ...]) -> tuple[float, float]:
    """The largest growth from the smallest blog to the largest, of the search query and of the whole page."""
    return tuple(
        max(by_size[sizes[-1]][index] / by_size[sizes[0]][index] for by_size in figures.values()) for index in (0, 1)
    )


def option(name: str, default: object) -> object:
    """The value of ``--name=value`` on the command line, else ``default``."""
    given = [argument.split("=", 1)[1] for argument in sys.argv[1:] if argument.startswith(f"--{name}=")]
    return given[-1] if given else default


def main() -> None:
    arguments = [argument for argument in sys.argv[1:] if not argument.startswith("--")]
    if not arguments or not arguments[0].startswith("postgresql"):
        sys.exit(__doc__)
    sizes = tuple(int(size) for size in str(option("sizes", ",".join(map(str, SIZES)))).split(","))
    figures, cpu, plans = measure(arguments[0], sizes)
    print(f"\nMedian of {option('runs', RUNS)}, wall clock:\n")
    print("\n".join(table(figures, sizes)))
    query, page = worst_growth(figures, sizes)
    print(f"\nWorst growth {sizes[0]:,} → {sizes[-1]:,} posts: search query {query:.2f}×, whole page {page:.2f}×")
    print(f"\nCPU (this process and PostgreSQL's), fastest of {CPU_ROUNDS} rounds of {CPU_CALLS}:\n")
    print("\n".join(table(cpu, sizes, "CPU ms")))
    query, page = worst_growth(cpu, sizes)
    print(f"\nWorst growth of CPU {sizes[0]:,} → {sizes[-1]:,}: search query {query:.2f}×, whole page {page:.2f}×")
    if "--no-plans" not in sys.argv:
        for word, text_of_plan in plans.items():
            print(f"\nEXPLAIN ANALYZE, “{word}” on {sizes[-1]:,} posts:\n{text_of_plan}")


if __name__ == "__main__":
    main()
