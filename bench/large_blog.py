"""Page times on a small blog and on a large one (100,000 posts, 1,000,000 comments), page cache off.

bench/run.py's full run measures it: the heaviest reader pages should cost about the same whatever the size
of the blog (target ≤ 1.3×).
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from harness import SLUG
from harness import bench_environment
from harness import seed
from harness import start_gunicorn
from harness import wrk


def flat_cost(stack: ExitStack, workdir: Path, wrk_binary: str) -> list[str]:
    """p50 of the heaviest reader pages on 100 posts and on 100,000 posts with 1,000,000 comments."""
    small_env, big_env = bench_environment(workdir, "flat-small"), bench_environment(workdir, "large")
    seed(small_env, 100, 1000)
    print("Seeding 100,000 posts and 1,000,000 comments (seed-demo) ...", flush=True)
    seconds = seed(big_env, 100_000, 1_000_000)
    paths = ["/", "/?page=500", "/tags/notes", "/search?q=garden", f"/posts/{SLUG}", "/posts/welcome"]
    medians: dict[str, dict[str, float]] = {}
    for name, env in (("100 posts", small_env), ("100,000 posts", big_env)):
        _, url = start_gunicorn(stack, "app:create_app()", env | {"PAGE_CACHE": "false"}, workdir / f"{name}.log")
        for path in paths:
            if name == "100 posts" and path == "/?page=500":
                target = "/?page=5"  # the small blog's far page
            else:
                target = path
            print(f"Measuring {target} on {name} ...", flush=True)
            medians.setdefault(path, {})[name] = wrk(wrk_binary, url + target, 5, connections=2).p50
    lines = [
        "",
        f"Flat cost, page cache off, p50 with 2 connections (seed-demo built the large blog in {seconds:.0f} s):",
        "",
        "| page | 100 posts, ms | 100,000 posts + 1,000,000 comments, ms | ratio (target ≤ 1.3) |",
        "|---|---:|---:|---:|",
    ]
    for path, figures in medians.items():
        small, large = figures["100 posts"], figures["100,000 posts"]
        shown = "/?page=500 (/?page=5 on the small blog)" if path == "/?page=500" else path
        lines.append(f"| `{shown}` | {small:.2f} | {large:.2f} | {large / small:.2f} |")
    return lines
