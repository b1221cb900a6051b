"""How much longer the worst Markdown takes to render than plain text of the same length.

Renders each pathological input of tests/test_markup.py (deep nesting, runs of brackets, backticks, ``<``,
``&``, ``\\``, unclosed links, many reference definitions, ...) at the longest comment and the longest post
the forms accept, and divides its time by that of plain prose paragraphs of the same length. Rendering is
linear in length, so the multiple does not grow with it; the goal is 5× or less.

Run it with ``.venv/bin/python bench/markdown.py`` (about a minute).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from test_markup import PATHOLOGICAL  # noqa: E402

from forms import COMMENT_MAX  # noqa: E402
from forms import POST_MAX  # noqa: E402
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


def multiples(render: Callable[[str], str], length: int) -> tuple[float, dict[str, float]]:
    """Return the time for plain prose of ``length`` characters and each input's multiple of it."""
    plain = best_time(render, (PROSE * (length // len(PROSE) + 1))[:length])
    return plain, {name: best_time(render, make(length)) / plain for name, make in PATHOLOGICAL.items()}


def main() -> None:
    for kind, render, length in (("comment", render_comment, COMMENT_MAX), ("post", render_post, POST_MAX)):
        plain, found = multiples(render, length)
        print(f"\n{kind}, {length:,} characters: plain prose {plain * 1000:.1f} ms")
        print(f"{'input':<28} {'× plain':>8}")
        for name, multiple in sorted(found.items(), key=lambda item: -item[1]):
            print(f"{name:<28} {multiple:>8.1f}")
        worst = max(found, key=found.get)
        print(f"worst: {worst}, {found[worst]:.1f}× plain prose (goal ≤ 5×)")


if __name__ == "__main__":
    main()
