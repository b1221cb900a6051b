"""bench/results.md: issue 21's before/after table on top, then the run's figures, then the sections others write.

The run writes everything above the first ``## `` heading; the sections below it (page weight from
bench/page_weight.py, notes written by hand) are kept as they are. A quick run never touches results.md: it
writes bench/results-quick.md, which git ignores.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from commenting import Commenting
from harness import BENCH
from harness import Figures
from harness import WorkerMemory
from storm import Storm

BIG_THREAD = 5_000
SCRYPT_MIB = 32  # 128 × r × n bytes: the memory an owner's login takes while its password is checked
DEEP_COMMENT = 4_000  # the comment linked deep in the big thread (its position, from the first)
COMPRESSED = "`Accept-Encoding: br, gzip`"
RETURNING = "returning commenter's cookies"
# A page the cache missed after a change elsewhere (a new post: every sidebar changes), as a reader with a cookie
# of ours holding nothing of theirs gets it every time: rendered, with the thread and the form kept (fragments.py).
KEPT_PIECES = "cache missed, thread and form kept (a cookie holding nothing of the reader's)"
# Targets from issue 8 and issue 21, as ratios to hello world measured in the same run.
TARGETS = {"first render": 0.35, KEPT_PIECES: 0.25, RETURNING: 0.8, "page cache warm": 0.8, "304 from ETag": 0.9}
RESULTS = BENCH / "results.md"
QUICK_RESULTS = BENCH / "results-quick.md"

# Issue 21's table: each row's figure when the issue was filed, and its goal.
ISSUE_21 = {
    "anonymous post page (50 comments), cached": ("0.40 ms (0.79–1.0×)", "≥ 0.9× in every run"),
    "the same page for a returning commenter (remember-me cookies)": ("11.5 ms (0.02–0.04×)", "≥ 0.8×"),
    "post page with 50 comments, not cached": ("15.5 ms (0.02–0.09×)", "≥ 0.25×"),
    "post with 5,000 comments, first comment page, not cached": (
        "loads every comment of the post",
        "same cost as 50 (≤ 1.2×)",
    ),
    "accepted comments per second, 16 clients": ("475/s (dev figure), 81/s under load (anchor run)", "≥ 600/s, 0 lost"),
    "search, 100 → 100,000 posts, PostgreSQL": ("grows with the number of posts", "flat (≤ 1.5×)"),
    "publishing storm: p99 of 64 readers over 50 posts, × steady state": ("not measured", "≤ 3×"),
}


def before_after(after: dict[str, str], note: str) -> list[str]:
    """Issue 21's rows with the figure the issue quoted, this run's figure and the goal."""
    lines = [
        "Issue 21, before and after. Before: the figures quoted in the issue (CPU milliseconds per request, ratio",
        "to hello world in brackets). After: this run, as ratios of requests per second to a hello-world app",
        f"measured in the same run (1.0× costs what hello world costs; 0.25× four times as much). {note}",
        "",
        "| request | before (issue 21) | after (this run) | goal |",
        "|---|---|---|---|",
    ]
    for row, (before, goal) in ISSUE_21.items():
        lines.append(f"| {row} | {before} | {after.get(row, 'not measured')} | {goal} |")
    return lines


def write_results(text: str, quick: bool) -> Path:
    """Write a quick run to results-quick.md; a full one above the kept sections of results.md."""
    if quick:
        QUICK_RESULTS.write_text(text)
        return QUICK_RESULTS
    previous = RESULTS.read_text() if RESULTS.exists() else ""
    kept = previous[previous.index("\n## ") + 1 :] if "\n## " in previous else ""
    RESULTS.write_text(text + ("\n" + kept if kept else ""))
    return RESULTS


@dataclass
class Run:
    """What one run measured, for the tables."""

    quick: bool
    seconds: float
    load: str
    load_at_end: str = ""
    rows: list[tuple[str, Figures]] = field(default_factory=list)
    nginx_rows: list[tuple[str, Figures]] = field(default_factory=list)
    sqlite_commenting: Commenting | None = None
    postgres_commenting: Commenting | str = "not measured"
    search_lines: list[str] = field(default_factory=list)
    search_growth: tuple[float, float, float, float] | None = None  # wall clock, then CPU: query, page
    storm: Storm | None = None
    rss: float = 0.0
    rss_before_login: float = 0.0
    memory_at_end: WorkerMemory | None = None
    imported: float = 0.0
    big_thread_paths: list[str] = field(default_factory=list)
    shown_on_fifty: int = 0
    statements: dict[str, int] = field(default_factory=dict)
    compressed_cost: list[str] = field(default_factory=list)
    lines_after: list[str] = field(default_factory=list)

    @property
    def comment_seconds(self) -> float:
        """Commenters post for at least 3 s: a fresh server's first comments are slow and would dominate."""
        return max(3, self.seconds)

    @property
    def has_problems(self) -> bool:
        """Whether a server answered with an error or an acknowledged comment was lost."""
        commenting = [c for c in (self.sqlite_commenting, self.postgres_commenting) if isinstance(c, Commenting)]
        return any(c.lost or c.server_errors for c in commenting) or any(f.errors for _, f in self.rows)

    def figure(self, name: str) -> Figures:
        return dict(self.rows)[name]

    def ratio(self, name: str) -> float:
        return self.figure(name).rate / self.rows[0][1].rate


def issue_figures(run: Run) -> dict[str, str]:
    """This run's figure for each row of issue 21's table (bench/report.py has the rows)."""
    first_render = run.figure("post with 50 comments, first render (no cache)").rate
    big = f"post with {BIG_THREAD:,} comments"
    big_rows = [figures for name, figures in run.rows if name.startswith(big)]
    costs = [first_render / figures.rate for figures in big_rows]
    sqlite, postgres = run.sqlite_commenting, run.postgres_commenting
    commenting = f"SQLite, 2 workers: {commenting_summary(sqlite)}; PostgreSQL, two app servers of 2 workers: "
    commenting += commenting_summary(postgres) if isinstance(postgres, Commenting) else postgres
    figures = {
        "anonymous post page (50 comments), cached": f"{run.ratio('post with 50 comments, page cache warm'):.2f}×",
        "the same page for a returning commenter (remember-me cookies)": (
            f"{run.ratio(f'post with 50 comments, {RETURNING}'):.2f}×; "
            f"{run.ratio(f'post with 50 comments, {RETURNING}, {COMPRESSED} (as browsers ask)'):.2f}× with {COMPRESSED}"
        ),
        "post page with 50 comments, not cached": (
            f"everything rendered {run.ratio('post with 50 comments, first render (no cache)'):.2f}×; "
            f"after a change elsewhere (thread and form kept) {run.ratio(f'post with 50 comments, {KEPT_PIECES}'):.2f}×"
        ),
        "post with 5,000 comments, first comment page, not cached": (
            f"{costs[0]:.2f}× the cost of the 50-comment page ({run.shown_on_fifty} comments shown there); "
            f"a comment linked deep in it (number {DEEP_COMMENT:,}): the link {costs[1]:.2f}×, its page {costs[2]:.2f}×"
        ),
        "accepted comments per second, 16 clients": commenting,
        "publishing storm: p99 of 64 readers over 50 posts, × steady state": (
            f"{run.storm.summary()} (steady p99 {statistics.median(run.storm.steady_p99):.1f} ms)"
        ),
    }
    if run.search_growth:
        sizes = "100 → 10,000 posts (quick run)" if run.quick else "100 → 100,000 posts"
        query, page, query_cpu, page_cpu = run.search_growth
        figures["search, 100 → 100,000 posts, PostgreSQL"] = (
            f"query {query:.2f}×, page {page:.2f}×, {sizes} (CPU time: query {query_cpu:.2f}×, page {page_cpu:.2f}×)"
        )
    return figures


def commenting_summary(commenting: Commenting) -> str:
    return (
        f"**{commenting.rate:,.0f}/s**, {commenting.acknowledged:,} acknowledged, {commenting.lost} lost, "
        f"{commenting.server_errors} non-2xx/3xx"
    )


def page_table(run: Run) -> list[str]:
    yardstick = run.rows[0][1].rate
    lines = [
        "| page | requests/s | ratio to hello world | target | p50 ms | p99 ms | bytes | non-2xx/3xx |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, figures in run.rows:
        target = next((f"≥ {value}" for key, value in TARGETS.items() if key in name), "")
        if name.startswith("Atom feed") and "warm" not in name or "5,000" in name:
            target = ""  # the feed's target is for the cached feed only; the big thread's is against 50 comments
        lines.append(
            f"| {name} | {figures.rate:,.0f} | {figures.rate / yardstick:.2f} | {target} | {figures.p50:.2f} | "
            f"{figures.p99:.2f} | {figures.size:,} | {figures.errors:.0f} |"
        )
    if run.nginx_rows:
        ceiling = run.nginx_rows[0][1].rate
        lines += ["", "| behind nginx (micro-cache on) | requests/s | ratio to nginx static | target | p50 ms |"]
        lines += ["|---|---:|---:|---:|---:|"]
        for name, figures in run.nginx_rows:
            target = "≥ 0.5" if "behind" in name else ""
            lines.append(
                f"| {name} | {figures.rate:,.0f} | {figures.rate / ceiling:.2f} | {target} | {figures.p50:.2f} |"
            )
    return lines


def storm_lines(storm: Storm) -> list[str]:
    rounds = ", ".join(
        f"{steady:.1f} → {stormy:.1f} ms ({stormy / steady:.1f}×)"
        for steady, stormy in zip(storm.steady_p99, storm.storm_p99, strict=True)
    )
    return [
        "",
        f"Publishing storm (bench/storm.py): p99 of 64 readers over 50 posts, steady → right after a publication, "
        f"per round: {rounds}; **{storm.summary()}** (goal ≤ 3×), {storm.errors:.0f} non-2xx/3xx.",
    ]


def memory_lines(run: Run) -> list[str]:
    """What the peak counts, and the memory of the workers at the end of the run."""
    memory = run.memory_at_end
    if memory is None:
        return []
    return [
        f"The peak is VmHWM, the most a worker held at once, pages shared with gunicorn's master included. The "
        f"owner's login before the publishing storm sets it: its scrypt password check (werkzeug's "
        f"scrypt:32768:8:1) holds {SCRYPT_MIB} MiB while it runs. Before that login (readers, a returning "
        f"commenter, the {BIG_THREAD:,}-comment thread): {run.rss_before_login:.0f} MB. At the end, the largest "
        f"worker: RSS {memory.resident:.0f} MB, PSS {memory.proportional:.0f} MB (shared pages divided among their "
        f"sharers), USS {memory.unique:.0f} MB (what one more worker costs)."
    ]


def results_text(run: Run) -> str:
    """The whole report of a run, in Markdown: issue 21's table first."""
    kind = (
        "quick run (shorter wrk runs, search to 10,000 posts only; no nginx, no large blog)"
        if run.quick
        else "full run"
    )
    lines = [
        *before_after(
            issue_figures(run), f"Machine load (uptime) at the start: `{run.load}`; at the end: `{run.load_at_end}`."
        ),
        "",
        f"Inkwell benchmark, {kind}: 100 demo posts, gunicorn 2 sync workers, wrk -t2 -c16 -d{run.seconds}s on "
        "loopback",
        "",
        *page_table(run),
    ]
    figures_of = dict(run.rows)
    identity_of = {name: name.removesuffix(f", {COMPRESSED}") for name in figures_of if name.endswith(COMPRESSED)}
    compressed = [
        f"{name.split(',')[0]} {figures_of[name].rate / figures_of[identity].rate:.2f}×"
        for name, identity in identity_of.items()
    ]
    lines += [
        "",
        f"Cached pages, `br, gzip` against identity, requests/s: {', '.join(compressed)}.",
        *run.compressed_cost,
    ]
    postgres = run.postgres_commenting
    lines += [
        "",
        f"Comments accepted with 16 concurrent commenters (target ≥ 600/s, 0 lost): SQLite, 2 workers: "
        f"{commenting_summary(run.sqlite_commenting)}. PostgreSQL, two app servers of 2 workers sharing Redis, "
        f"8 commenters on each: {commenting_summary(postgres) if isinstance(postgres, Commenting) else postgres}.",
        *storm_lines(run.storm),
        "",
        f"Peak RSS of a worker: **{run.rss:.0f} MB** (target < 80). Importing the app: **{run.imported:.2f} s** "
        "(target < 0.5).",
        *memory_lines(run),
        "",
        "SQL statements per page, first visit (target ≤ 4): "
        + ", ".join(f"`{path}` {count}" for path, count in run.statements.items())
        + ".",
        *run.lines_after,
    ]
    return "\n".join(lines) + "\n"
