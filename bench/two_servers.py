"""Comments accepted per second with two app servers sharing PostgreSQL and Redis, as a blog scales out.

Two gunicorn instances (two workers each, their own instance folders, the same secret key) serve one scratch
PostgreSQL database and one Redis database (page cache and rate limits); sixteen commenters post at once,
half on each server. The database's tables are dropped and made again from the models, as the tests make
them, and the Redis database is emptied: give both as scratch ones.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from commenting import Commenting
from commenting import comments_per_second
from commenting import postgres_counter
from harness import add_threads
from harness import bench_environment
from harness import launch_gunicorn
from harness import wait_for

COMMENTERS = 16


def two_server_commenting(
    wrk_binary: str, workdir: Path, database_url: str, redis_url: str, seconds: float
) -> Commenting:
    """Seed sixteen posts in PostgreSQL, start two app servers on it and Redis, and measure accepted comments."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    env = bench_environment(workdir, "postgres") | {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
    slugs = [f"commenters-{number}" for number in range(COMMENTERS)]
    add_threads(env, dict.fromkeys(slugs, 0), "--empty-first")
    with ExitStack() as stack:
        servers = []
        for name in ("server-a", "server-b"):  # both start at once; then each is waited for
            server_env = env | {"INSTANCE_PATH": str(workdir / f"{name}-instance")}
            servers.append((*launch_gunicorn(stack, "app:create_app()", server_env, workdir / f"{name}.log"), name))
        for process, url, name in servers:
            wait_for(url + "/", process, workdir / f"{name}.log")
        urls = [url for _, url, _ in servers]
        half = COMMENTERS // 2
        servers = {urls[0]: slugs[:half], urls[1]: slugs[half:]}
        return comments_per_second(wrk_binary, servers, seconds, postgres_counter(database_url))
