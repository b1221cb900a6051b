"""How much longer the worst Markdown takes to render than plain text of the same length.

Renders each pathological input that tests/test_markup.py checks (``PATHOLOGICAL`` in tests/helpers.py: deep
nesting, runs of brackets, backticks, ``<``, ``&``, ``\\``, unclosed links, many reference definitions, ...) at
the longest comment and the longest post the forms accept, and divides its time by that of plain prose
paragraphs of the same length (the goal is 5× or less). The last column shows that rendering is linear: the
time at the full length divided by twice the time at half of it, about 1 (a quadratic input would show about 2).

Run it with ``.venv/bin/python bench/markdown_cost.py`` (about a minute).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from forms import COMMENT_MAX  # noqa: E402
from forms import POST_MAX  # noqa: E402
from helpers import PATHOLOGICAL  # noqa: E402
from markup import render_comment  # noqa: E402
from markup import render_post  # noqa: E402

PROSE = (
    "Thank you for writing this up, it helped me a lot. I tried the same thing on my own server last week, "
    "and the part about the cache was exactly what I had missed. One question, though: does it also work "
    "when the blog sits behind a proxy? I would love to read a follow-up about that.\n\n"
)


def best_time(render: Callable[[str], str], source: str, runs: int = 3) -> float:
    """Return the fastest of ``runs`` renders of ``source``, in seconds (the others met a busy machine)."""
    times = []
    for _ in range(runs):
        if hasattr(render, "cache_clear"):
            render.cache_clear()  # render_comment remembers recent texts
        start = time.perf_counter()
        render(source)
        times.append(time.perf_counter() - start)
    return min(times)


def measure(render: Callable[[str], str], length: int) -> tuple[float, dict[str, tuple[float, float]]]:
    """Return the time for plain prose of ``length`` characters, and for each input its time at that length
    and at half of it."""
    plain = best_time(render, (PROSE * (length // len(PROSE) + 1))[:length])
    found = {
        name: (best_time(render, make(length)), best_time(render, make(length // 2)))
        for name, make in PATHOLOGICAL.items()
    }
    return plain, found


def figures() -> list[str]:
    """Return Markdown lines: the worst inputs for comments and posts as multiples of plain prose."""
    lines = [
        "",
        "Rendering the worst Markdown (pathological inputs at the longest text the forms accept) as a multiple "
        "of plain prose of the same length (goal ≤ 5×); growth is the time at full length over twice the time "
        "at half of it (1 is linear, 2 quadratic):",
        "",
        "| text | plain prose ms | worst input | worst ms | × plain | growth | next worst |",
        "|---|---:|---|---:|---:|---:|---|",
    ]
    for kind, render, length in (("comment", render_comment, COMMENT_MAX), ("post", render_post, POST_MAX)):
        plain, found = measure(render, length)
        ranked = sorted(found, key=lambda name: -found[name][0])
        worst = ranked[0]
        full, half = found[worst]
        following = ", ".join(f"{name} {found[name][0] / plain:.0f}×" for name in ranked[1:4])
        lines.append(
            f"| {kind}, {length:,} characters | {plain * 1000:.1f} | {worst} | {full * 1000:.1f} | "
            f"{full / plain:.1f} | {full / (2 * half):.2f} | {following} |"
        )
    return lines


def main() -> None:
    for kind, render, length in (("comment", render_comment, COMMENT_MAX), ("post", render_post, POST_MAX)):
        plain, found = measure(render, length)
        print(f"\n{kind}, {length:,} characters: plain prose {plain * 1000:.1f} ms")
        print(f"{'input':<28} {'ms':>8} {'× plain':>8} {'growth':>7}")
        for name, (full, half) in sorted(found.items(), key=lambda item: -item[1][0]):
            print(f"{name:<28} {full * 1000:>8.1f} {full / plain:>8.1f} {full / (2 * half):>7.2f}")
        worst = max(found, key=lambda name: found[name][0])
        print(f"worst: {worst}, {found[worst][0] / plain:.1f}× plain prose (goal ≤ 5×)")


if __name__ == "__main__":
    main()
