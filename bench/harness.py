"""What every benchmark in bench/ shares: a seeded blog, gunicorn on a free loopback port, wrk and its figures.

Servers are started inside an ``ExitStack`` and stopped by their own PID when it closes; nothing listens
beyond 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
SLUG = "fifty-comments"
WRK_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
PERCENTILE = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}
CSRF = re.compile(r'<input[^>]*\bname="csrf_token"[^>]*\bvalue="([^"]+)"')


STARTED = time.monotonic()


def say(message: str) -> None:
    """Print what the bench does now, with the seconds since it started (a quick run should stay near a minute)."""
    print(f"[{time.monotonic() - STARTED:5.0f} s] {message}", flush=True)


@dataclass
class Figures:
    rate: float
    p50: float
    p99: float
    errors: float
    size: int = 0


def uptime() -> str:
    """The machine's load now, as ``uptime`` says it: figures from a busy shared machine are read with it."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ensure_installed(command: str, package: str, path: str | None = None) -> str | None:
    """Return the path of ``command``, installing the Debian ``package`` first if it is missing.

    apt-get never asks (no terminal in CI): ``-y``, noninteractive, stdin closed; a failure returns ``None``.
    """
    found = shutil.which(command) or (path if path and Path(path).exists() else None)
    if found:
        return found
    print(f"Installing {package} (Debian package)...", flush=True)
    environment = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        try:
            subprocess.run(step, env=environment, stdin=subprocess.DEVNULL, check=False, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as error:
            print(f"Could not run {step[0]}: {error}", flush=True)
            return None
    return shutil.which(command) or (path if path and Path(path).exists() else None)


def bench_environment(workdir: Path, name: str) -> dict[str, str]:
    """The environment of a benchmarked blog: its own SQLite file and instance folder, limits out of the way."""
    return os.environ | {
        "DATABASE_URL": f"sqlite:///{workdir / name}.db",
        "INSTANCE_PATH": str(workdir / f"{name}-instance"),
        "SECRET_KEY": "benchmark",
        "COMMENT_MODERATION": "off",
        "COMMENT_MIN_SECONDS": "0",
        "COMMENT_RATE_LIMIT": "1000000 per minute",
        "LOG_LEVEL": "WARNING",
    }


def flask_command(env: dict[str, str], *arguments: str) -> str:
    """Run ``flask --app app`` with ``arguments`` in the blog of ``env``; return what it printed."""
    command = [sys.executable, "-m", "flask", "--app", "app", *arguments]
    return subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout


def add_threads(env: dict[str, str], threads: dict[str, int], *options: str) -> dict[str, list[int]]:
    """Add published posts, by slug, with that many approved comments each (bench/seed_thread.py); return their ids."""
    pairs = [str(part) for slug, count in threads.items() for part in (slug, count)]
    command = [sys.executable, str(BENCH / "seed_thread.py"), *options, *pairs]
    output = subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    lines = output.splitlines()[-len(threads) :]
    return {slug: [int(number) for number in line.split()] for slug, line in zip(threads, lines, strict=True)}


def seed(env: dict[str, str], posts: int, comments: int, threads: dict[str, int] | None = None) -> float:
    """Seed the demo blog with the real command (it makes the database), then add the post with 50 comments
    and any other ``threads`` (slug: number of comments); return the seconds seed-demo took."""
    started = time.monotonic()
    flask_command(env, "seed-demo", "--posts", str(posts), "--comments", str(comments))
    seconds = time.monotonic() - started
    add_threads(env, {SLUG: 50} | (threads or {}))
    return seconds


def launch_gunicorn(
    stack: ExitStack, app_path: str, env: dict[str, str], log: Path, workers: int = 2
) -> tuple[subprocess.Popen, str]:
    """Start gunicorn with the project's settings on a free port, without waiting; return it and its address."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        str(ROOT / "gunicorn.conf.py"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--access-logfile",
        "/dev/null",
        app_path,
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    stack.callback(stop, process)
    return process, f"http://127.0.0.1:{port}"


def start_gunicorn(
    stack: ExitStack, app_path: str, env: dict[str, str], log: Path, workers: int = 2
) -> tuple[int, str]:
    """Start gunicorn and wait until it answers; return the master's PID and its address."""
    process, url = launch_gunicorn(stack, app_path, env, log, workers)
    wait_for(url + "/", process, log)
    return process.pid, url


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def wait_for(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{process.args[0]} exited; see {log}")
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.2)
    sys.exit(f"{url} did not answer; see {log}")


def wrk_command(
    binary: str,
    url: str,
    seconds: float,
    headers: dict[str, str] | None = None,
    connections: int = 16,
    script: Path | None = None,
    arguments: list[str] | None = None,
) -> list[str]:
    command = [binary, f"-t{min(2, connections)}", f"-c{connections}", f"-d{round(seconds)}s", "--latency"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    return command + [url] + (["--", *arguments] if arguments else [])


def figures_of(output: str, size: int = 0) -> Figures:
    """Read requests per second, p50, p99 and the non-2xx/3xx count from wrk's report."""
    latencies = {p: float(v) * UNIT[u] for p, v, u in PERCENTILE.findall(output)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return Figures(
        float(WRK_RATE.search(output).group(1)),
        latencies.get("50", 0.0),
        latencies.get("99", 0.0),
        float(errors.group(1)) if errors else 0.0,
        size,
    )


def wrk(
    binary: str,
    url: str,
    seconds: float,
    headers: dict[str, str] | None = None,
    connections: int = 16,
    script: Path | None = None,
    arguments: list[str] | None = None,
) -> Figures:
    """Load ``url`` with wrk and return its figures, with the size of one answer as it is sent."""
    command = wrk_command(binary, url, seconds, headers, connections, script, arguments)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    probe = {"Accept-Encoding": "identity"} | (headers or {})  # wrk sends no Accept-Encoding unless told to
    answer = requests.get(url, headers=probe, timeout=30, stream=True, allow_redirects=False)
    return figures_of(output, len(answer.raw.read()))


def child_pids(parent: int) -> list[int]:
    """The PIDs whose parent is ``parent``, from /proc/<pid>/stat (kernels without ``task/*/children`` too)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # the process ended while we looked
        fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children


def peak_rss_mb(master: int) -> float:
    """The highest peak resident memory (VmHWM) among the workers of the gunicorn ``master``."""
    peaks = []
    for pid in child_pids(master):
        try:
            found = re.search(r"VmHWM:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
        except OSError:
            continue
        if found:
            peaks.append(int(found.group(1)))
    return max(peaks, default=0) / 1024


@dataclass
class WorkerMemory:
    """The memory of a gunicorn server's workers now, in MB, each figure the highest among them.

    ``resident`` (VmRSS) counts every page a worker maps, those it still shares with the master (the modules it
    imported before forking) and with the other workers included; ``proportional`` (PSS) divides each shared
    page among its sharers; ``unique`` (USS) is what one more worker costs.
    """

    resident: float
    proportional: float
    unique: float


def worker_memory(masters: list[int]) -> WorkerMemory:
    """Read the workers' memory from /proc/<pid>/status and /proc/<pid>/smaps_rollup."""
    figures = []
    for pid in (pid for master in masters for pid in child_pids(master)):
        try:
            status, rollup = Path(f"/proc/{pid}/status").read_text(), Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        kilobytes = {name: int(value) for name, value in re.findall(r"^(\w+):\s+(\d+) kB", status + rollup, re.M)}
        unique = kilobytes.get("Private_Clean", 0) + kilobytes.get("Private_Dirty", 0)
        figures.append((kilobytes.get("VmRSS", 0), kilobytes.get("Pss", 0), unique))
    return WorkerMemory(*(max((each[i] for each in figures), default=0) / 1024 for i in range(3)))


def import_seconds(env: dict[str, str]) -> float:
    """Median time to import the application module (what a worker pays when it starts)."""
    code = "import time; t = time.perf_counter(); import app; print(time.perf_counter() - t)"
    runs = [
        float(subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True).stdout)
        for _ in range(3)
    ]
    return statistics.median(runs)


def fastest_cpu_seconds(call: Callable[[], object], times: int, rounds: int) -> float:
    """The CPU seconds of one ``call``, the fastest of ``rounds`` rounds of ``times`` (the others met a busy
    machine), after one call that warms it (templates compiled, connections open, pieces stored)."""
    call()
    timings = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(times):
            call()
        timings.append((time.process_time() - started) / times)
    return min(timings)


def local_get(path: str, **headers: str) -> dict[str, object]:
    """The WSGI environ of a GET of ``path`` on localhost, with ``headers`` (``HTTP_COOKIE=…``), for timing an app
    in process."""
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "localhost",
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
    } | headers
