"""The publishing storm: readers' p99 latency right after a post is published, as a multiple of steady state.

Publishing a post changes every page (each shows the newest posts), so right after it every cached page is
rendered again while readers keep coming. Sixty-four concurrent readers spread over fifty posts
(bench/random_paths.lua) are measured with the cache warm (steady state), then the owner publishes a post
through the editor's form and the same readers are measured at once. The new post changes only what the other
posts' pages show beside their content, so one request at a time renders one of them again (each render
followed by a pause as long) while the others are served the copy from before (pageserver.changed_beside_only);
the goal is a p99 at most 3× the steady one.
Each round measures its own steady state just before its storm.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import requests

from harness import BENCH
from harness import CSRF
from harness import wrk
from lighthouse import owner_cookie

READERS = 64
SCRIPT = BENCH / "random_paths.lua"


@dataclass
class Storm:
    steady_p99: list[float]
    storm_p99: list[float]
    errors: float

    @property
    def multiples(self) -> list[float]:
        return [storm / steady for storm, steady in zip(self.storm_p99, self.steady_p99, strict=True)]

    def summary(self) -> str:
        multiples = self.multiples
        return f"worst {max(multiples):.1f}×, median {statistics.median(multiples):.1f}×"


def publish(url: str, cookie: str, title: str) -> None:
    """Publish a post as the owner, through the editor's form."""
    session = requests.Session()
    session.headers["Cookie"] = cookie
    token = CSRF.search(session.get(f"{url}/admin/posts/new", timeout=30).text).group(1)
    form = {
        "csrf_token": token,
        "title": title,
        "body": "Published in a storm.",
        "status": "published",
        "comments_open": "y",
    }
    answer = session.post(f"{url}/admin/posts/new", data=form | {"action": "save"}, allow_redirects=False, timeout=30)
    if answer.status_code not in (302, 303):
        raise RuntimeError(f"publishing through the editor answered {answer.status_code}")


def publishing_storm(
    wrk_binary: str, url: str, env: dict[str, str], paths: list[str], seconds: float, rounds: int
) -> Storm:
    """Measure ``rounds`` storms on the cached server at ``url``, each after its own steady state."""
    cookie = owner_cookie(url, env)
    for path in paths:
        requests.get(url + path, timeout=30)  # the first steady state starts warm
    storm = Storm([], [], 0.0)
    for number in range(rounds):
        steady = wrk(wrk_binary, url, seconds, connections=READERS, script=SCRIPT, arguments=paths)
        publish(url, cookie, f"Storm number {number + 1}")
        stormy = wrk(wrk_binary, url, seconds, connections=READERS, script=SCRIPT, arguments=paths)
        storm.steady_p99.append(steady.p99)
        storm.storm_p99.append(stormy.p99)
        storm.errors += steady.errors + stormy.errors
    return storm
