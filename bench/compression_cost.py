"""CPU time of serving a cached page plain and compressed, through the whole WSGI stack in one process.

wrk's requests per second on a shared two-core machine move by ±30% from run to run; the CPU time of one cached
request, the fastest of a few rounds, does not. Serving a page from the page cache is timed with no
``Accept-Encoding``, with ``br, gzip`` and with ``gzip``: the goal is that the compressed ones cost no more.

bench/run.py runs it on its seeded blog (``DATABASE_URL`` and ``INSTANCE_PATH`` from the environment); alone:
``.venv/bin/python bench/compression_cost.py /posts/welcome /``.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from harness import local_get  # noqa: E402

ACCEPTED = {"identity": None, "br, gzip": "br, gzip", "gzip": "gzip"}
REQUESTS, ROUNDS = 2000, 3


def cost(wsgi_app, path: str, accept_encoding: str | None) -> tuple[float, int]:
    """Return the CPU microseconds of one request for ``path`` (fastest round), and the bytes sent."""
    environ = local_get(path, **({"HTTP_ACCEPT_ENCODING": accept_encoding} if accept_encoding else {}))
    rounds, body = [], b""
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(REQUESTS):
            body = b"".join(wsgi_app(environ | {"wsgi.input": io.BytesIO()}, lambda *answer: None))
        rounds.append((time.process_time() - started) / REQUESTS * 1e6)
    return min(rounds), len(body)


def figures(paths: list[str]) -> list[str]:
    """Return the Markdown table of the cached pages' costs by encoding."""
    wsgi_app = create_app().wsgi_app
    lines = [
        "Cached page, CPU per request through the WSGI stack in one process (fastest of 3 rounds of 2,000):",
        "",
        "| page | identity µs (bytes) | `br, gzip` µs (bytes) | `gzip` µs (bytes) | br / identity |",
        "|---|---:|---:|---:|---:|",
    ]
    for path in paths:
        cost(wsgi_app, path, None)  # rendered and stored
        costs = {name: cost(wsgi_app, path, accepted) for name, accepted in ACCEPTED.items()}
        cells = " | ".join(f"{micro:.0f} ({size:,})" for micro, size in costs.values())
        lines.append(f"| `{path}` | {cells} | {costs['br, gzip'][0] / costs['identity'][0]:.2f} |")
    return lines


if __name__ == "__main__":
    print("\n".join(figures(sys.argv[1:] or ["/"])))
