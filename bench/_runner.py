"""What the HTTP benchmark runners of this folder share: servers, wrk, Redis, rounds.

The shared anchor folder (``../shared/bench``, or ``$SVC_SHARED_BENCH``) stays the source of
wrk parsing and CPU accounting (``run_http.parse_wrk``, ``run_http.cpu_seconds``), of
``_stats.summary`` and of the whole ``run_http.main`` sitting (arguments, round rotation,
summary table, JSON); importing this module puts that folder on ``sys.path``. On top of it:

* :func:`free_port` — a free loopback port;
* :class:`Server` — uvicorn for one app factory (one worker, uvloop, httptools, no access
  log), started, waited for (bounded, failing fast when the process exits) and stopped by
  its PID (terminate, then kill);
* :func:`wrk` and :func:`measure` — one wrk run; a warm-up plus a measured run with the
  server's CPU seconds around it (:class:`Measurement`);
* :class:`ThrowawayRedis` — a redis-server of the run's own on 127.0.0.1, no persistence;
* :func:`rotate` and :func:`run_rounds` — the app order rotated per round so slow drift on
  a noisy machine spreads evenly;
* :func:`shared_main` — ``run_http.main`` with a runner's own ``run_one`` and app list;
* :func:`peer_python` — the peers' venv interpreter, built on first use.
"""

from __future__ import annotations

import abc
import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from types import TracebackType

HERE = Path(__file__).resolve().parent
SHARED_BENCH = Path(
    os.environ.get("SVC_SHARED_BENCH", HERE.parents[1] / "shared" / "bench")
).resolve()
if str(SHARED_BENCH) not in sys.path:
    sys.path.append(str(SHARED_BENCH))

import run_http  # noqa: E402 - the shared anchor runner, by path
from _stats import summary  # noqa: E402 - shared, by path
from run_http import cpu_seconds, parse_wrk  # noqa: E402

LOOPBACK = "127.0.0.1"
WRK_GRACE_S = 30  # wrk's own time limit on top of the run's duration
T = TypeVar("T")
R = TypeVar("R")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10) -> None:
    """Stop ``proc`` by its PID: SIGTERM, then SIGKILL if it is still there after ``timeout``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def rotate(items: Sequence[T], round_: int) -> list[T]:
    """``items`` rotated left by ``round_`` places (round 0: unchanged)."""
    if not items:
        return []
    k = round_ % len(items)
    return [*items[k:], *items[:k]]


class _Process(abc.ABC):
    """A child process this run started: a context manager, stopped by its PID."""

    _proc: subprocess.Popen[bytes] | None = None

    @abc.abstractmethod
    def start(self) -> None:
        """Start the process and wait until it serves."""

    def stop(self) -> None:
        """Stop the server by its PID (terminate, then kill); a no-op when not running."""
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Server(_Process):
    """``python -m uvicorn <module:factory> --factory`` on 127.0.0.1, one worker.

    The command adds ``--loop uvloop --http httptools --no-access-log --log-level warning``
    and ``--app-dir <cwd>``. ``env`` is laid over ``os.environ`` (a ``None`` value removes
    the variable). :meth:`start` waits until ``GET <ready_path>`` answers 200 (with
    ``ready_headers()`` when given, asked again on every attempt), for at most
    ``ready_timeout`` seconds, and fails at once if the process exits. Use it as a context
    manager, or :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        target: str,
        *,
        port: int,
        python: str | None = None,
        cwd: Path = HERE,
        env: Mapping[str, str | None] | None = None,
        ready_path: str = "/ping",
        ready_headers: Callable[[], Mapping[str, str]] | None = None,
        ready_timeout: float = 30.0,
    ) -> None:
        self.target = target
        self.port = port
        self.python = python or sys.executable
        self.cwd = cwd
        self.env = dict(env or {})
        self.ready_path = ready_path
        self.ready_headers = ready_headers
        self.ready_timeout = ready_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> list[str]:
        """The server's command line."""
        return [
            *(self.python, "-m", "uvicorn", self.target, "--factory", "--app-dir", str(self.cwd)),
            *("--host", LOOPBACK, "--port", str(self.port), "--loop", "uvloop"),
            *("--http", "httptools", "--no-access-log", "--log-level", "warning"),
        ]

    @property
    def pid(self) -> int:
        """The server process's PID (it must have been started)."""
        if self._proc is None:
            msg = f"{self.target} is not running"
            raise RuntimeError(msg)
        return self._proc.pid

    def url(self, path: str) -> str:
        """``http://127.0.0.1:<port><path>``."""
        return f"http://{LOOPBACK}:{self.port}{path}"

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the server process has used so far (from /proc)."""
        return float(cpu_seconds(self.pid))

    def start(self) -> None:
        """Start the server and wait until it is ready (stopping it again if it never is)."""
        env = {**os.environ}
        for key, value in self.env.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        self._proc = subprocess.Popen(self.command, cwd=self.cwd, env=env)
        try:
            self._wait_ready(self._proc)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        url = self.url(self.ready_path)
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                msg = f"{self.target} exited with {proc.returncode}"
                raise RuntimeError(msg)
            try:
                headers = dict(self.ready_headers()) if self.ready_headers else {}
                request = urllib.request.Request(url, headers=headers)
                with urllib.request.urlopen(request, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:  # refused while starting, or an HTTP error status
                pass
            time.sleep(0.1)
        msg = f"{self.target} not ready at {url} after {self.ready_timeout:g} s"
        raise RuntimeError(msg)


def wrk(
    url: str,
    seconds: int,
    conns: int,
    headers: Sequence[str] = (),
    script: str | Path | None = None,
) -> str:
    """``wrk -t1 -c<conns> -d<seconds>s --latency [-H h]... [-s script] url``; its stdout.

    Raises when wrk fails or runs more than 30 s past ``seconds``.
    """
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency"]
    for header in headers:
        cmd += ["-H", header]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd.append(url)
    return subprocess.run(
        cmd, check=True, capture_output=True, text=True, timeout=seconds + WRK_GRACE_S
    ).stdout


@dataclass(frozen=True)
class Measurement:
    """One warm-up and one measured wrk run against a server, with its CPU seconds."""

    warmup_out: str
    out: str
    duration: int
    server_cpu_s: float

    @property
    def warmup_requests(self) -> int:
        """Requests wrk completed during the warm-up."""
        return int(parse_wrk(self.warmup_out)["requests"])

    def result(self, *, cpu_util: bool = True) -> dict[str, Any]:
        """``parse_wrk`` of the measured run plus ``server_cpu_us_per_req`` (and, with
        ``cpu_util``, ``server_cpu_util``: server CPU seconds per wall second)."""
        res: dict[str, Any] = parse_wrk(self.out)
        res["server_cpu_us_per_req"] = self.server_cpu_s / max(res["requests"], 1) * 1e6
        if cpu_util:
            res["server_cpu_util"] = self.server_cpu_s / self.duration
        return res


def measure(
    server: Server,
    path: str,
    *,
    warmup: int,
    duration: int,
    conns: int,
    headers: Sequence[str] = (),
    script: str | Path | None = None,
) -> Measurement:
    """Warm ``server`` up with wrk for ``warmup`` s, then load it for ``duration`` s.

    The server's CPU seconds are read from /proc just before and after the measured run.
    """
    url = server.url(path)
    warmup_out = wrk(url, warmup, conns, headers, script)
    cpu0 = server.cpu_seconds()
    out = wrk(url, duration, conns, headers, script)
    cpu1 = server.cpu_seconds()
    return Measurement(warmup_out, out, duration, cpu1 - cpu0)


class ThrowawayRedis(_Process):
    """A redis-server of the run's own: 127.0.0.1, ``--save '' --appendonly no``.

    ``port`` defaults to a free one. :meth:`start` waits (at most ``start_timeout``
    seconds) until it answers PING; :meth:`stop` stops it by its PID. Use it as a context
    manager, or :meth:`start` / :meth:`stop`.
    """

    def __init__(self, port: int | None = None, *, start_timeout: float = 10.0) -> None:
        self.port = port or free_port()
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://{LOOPBACK}:{self.port}/0"

    def ping(self) -> bool:
        """True when the server answers ``PING`` with ``+PONG`` (inline command, 0.5 s)."""
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def cli(self, *args: str) -> str:
        """``redis-cli`` against this server; its stripped stdout ("" when it cannot run)."""
        try:
            out = subprocess.run(
                ["redis-cli", "-h", LOOPBACK, "-p", str(self.port), *args],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return out.stdout.strip()

    def start(self) -> None:
        """Start redis-server and wait until it answers PING (stopping it if it never does)."""
        binary = shutil.which("redis-server")
        if binary is None:
            msg = "redis-server is not on PATH"
            raise RuntimeError(msg)
        self._proc = subprocess.Popen(
            [
                *(binary, "--bind", LOOPBACK, "--port", str(self.port)),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self.start_timeout
        while not self.ping():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                msg = f"redis-server did not start on port {self.port}"
                raise RuntimeError(msg)
            time.sleep(0.05)


def run_rounds(
    items: Sequence[str],
    rounds: int,
    run: Callable[[str], R],
    line: Callable[[int, str, R], str],
) -> dict[str, list[R]]:
    """``run(item)`` for every item, ``rounds`` times, the order rotated per round.

    After each run, ``line(round, item, result)`` is printed (flushed). Returns each item's
    results in round order.
    """
    runs: dict[str, list[R]] = {item: [] for item in items}
    for r in range(rounds):
        for item in rotate(items, r):
            res = run(item)
            runs[item].append(res)
            print(line(r, item, res), flush=True)
    return runs


def shared_main(
    run_one: Callable[[str, int, int, int, int], dict[str, Any]], default_apps: str
) -> None:
    """``run_http.main`` (its options, rounds, table and JSON) with our ``run_one``.

    ``run_one(app, port, duration, warmup, conns)`` replaces the shared one (which serves
    the shared ``http_apps``); ``--apps`` defaults to ``default_apps``.
    """
    if not any(arg == "--apps" or arg.startswith("--apps=") for arg in sys.argv[1:]):
        sys.argv[1:1] = ["--apps", default_apps]
    run_http.run_one = run_one
    run_http.main()


def peer_python(venv: Path, requirements: Path, imports: Sequence[str] = ()) -> str:
    """The interpreter of the peers' venv at ``venv``, made ready on first use.

    When it is missing, or cannot import uvloop, httptools and ``imports``, the venv is
    created (``uv venv``, else ``python -m venv``) and ``requirements`` installed into it
    (``uv pip``, else pip).
    """
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import " + ", ".join(["uvloop", "httptools", *imports])]
    if python.exists() and subprocess.run(probe, check=False, capture_output=True).returncode == 0:
        return str(python)
    uv = shutil.which("uv")
    if not python.exists():
        if uv:
            subprocess.run([uv, "venv", "--python", sys.executable, str(venv)], check=True)
        else:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if uv:
        install = [uv, "pip", "install", "-q", "-p", str(python), "-r", str(requirements)]
    else:
        install = [str(python), "-m", "pip", "install", "-q", "-r", str(requirements)]
    subprocess.run(install, check=True)
    return str(python)


def interleaved(
    servers: dict[str, Server],
    baseline: str,
    path: str,
    *,
    cycles: int,
    seconds: int,
    conns: int,
    warmup: int = 2,
    headers: Sequence[str] = (),
    script: str | Path | None = None,
) -> dict[str, Any]:
    """Short wrk slices cycling over servers that all run at once; paired ratios.

    This shared 2-core machine drifts by tens of percent within minutes, more than the
    effects measured. With every server up (an idle one costs nothing), each cycle gives
    every app a ``seconds``-long slice in a rotated order; each app's RPS and server CPU
    per request are compared with the baseline's *in the same cycle*, and the median of
    those paired ratios is reported. Started servers are the caller's (context managers).

    Returns:
        ``{"cycles": [...per-cycle results...], "summary": {app: {...}}}`` where each
        summary has the median RPS and CPU per request, and the median, min and max of
        the paired RPS and CPU ratios against ``baseline``.
    """
    for server in servers.values():
        wrk(server.url(path), warmup, conns, headers, script)
    per_cycle: list[dict[str, dict[str, Any]]] = []
    for i in range(cycles):
        cycle: dict[str, dict[str, Any]] = {}
        for app in rotate(list(servers), i):
            server = servers[app]
            cpu0 = server.cpu_seconds()
            out = wrk(server.url(path), seconds, conns, headers, script)
            cpu1 = server.cpu_seconds()
            res: dict[str, Any] = parse_wrk(out)
            res["server_cpu_us_per_req"] = (cpu1 - cpu0) / max(res["requests"], 1) * 1e6
            cycle[app] = res
        base = cycle[baseline]
        line = []
        for app, res in cycle.items():
            res["ratio"] = res["rps"] / base["rps"] if base["rps"] else 0.0
            res["cpu_ratio"] = base["server_cpu_us_per_req"] / max(
                res["server_cpu_us_per_req"], 1e-9
            )
            line.append(f"{app} {res['rps']:.0f} ({res['ratio']:.2f})")
        print(f"cycle {i}: " + " | ".join(line), flush=True)
        per_cycle.append(cycle)
    summary_out: dict[str, Any] = {}
    for app in servers:
        ratios = [c[app]["ratio"] for c in per_cycle]
        cpu_ratios = [c[app]["cpu_ratio"] for c in per_cycle]
        summary_out[app] = {
            "rps_median": summary([c[app]["rps"] for c in per_cycle])["median"],
            "cpu_us_median": summary([c[app]["server_cpu_us_per_req"] for c in per_cycle])[
                "median"
            ],
            "non2xx": sum(c[app]["non2xx"] for c in per_cycle),
            "ratio_median": summary(ratios)["median"],
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "cpu_ratio_median": summary(cpu_ratios)["median"],
        }
    return {"cycles": per_cycle, "summary": summary_out}


def interleaved_table(result: dict[str, Any], baseline: str) -> str:
    """A Markdown table of :func:`interleaved`'s summary."""
    rows = [
        "| app | RPS median | server CPU us/req | RPS / "
        + baseline
        + " (paired median) | paired min-max | CPU ratio (paired median) | non-2xx |",
        "|---|---|---|---|---|---|---|",
    ]
    for app, s in result["summary"].items():
        rows.append(
            f"| {app} | {s['rps_median']:.0f} | {s['cpu_us_median']:.1f} | "
            f"{s['ratio_median']:.3f} | {s['ratio_min']:.3f}-{s['ratio_max']:.3f} | "
            f"{s['cpu_ratio_median']:.3f} | {s['non2xx']} |"
        )
    return "\n".join(rows)


def interleaved_main(
    default_apps: str, servers_for: Callable[[contextlib.ExitStack[Any]], Callable[[str], Server]]
) -> None:
    """The ``--interleave CYCLES [--slice S] [--apps A,B] [--out F]`` command of a bench script.

    ``servers_for(stack)`` may enter what every server needs (a throw-away Redis) into
    ``stack`` and returns the factory of one app's :class:`Server`. Every app is started
    at once, then :func:`interleaved` runs against ``fastapi_bare``; the table is printed
    and the raw result written to ``--out`` when given.
    """
    ap = argparse.ArgumentParser()
    ap.add_argument("--interleave", type=int, required=True, help="cycles")
    ap.add_argument("--slice", type=int, default=3, help="seconds per app per cycle")
    ap.add_argument("--apps", default=default_apps)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    with contextlib.ExitStack() as stack:
        server_for = servers_for(stack)
        servers = {app: stack.enter_context(server_for(app)) for app in a.apps.split(",")}
        result = interleaved(
            servers, "fastapi_bare", "/ping", cycles=a.interleave, seconds=a.slice, conns=32
        )
    print()
    print(interleaved_table(result, "fastapi_bare"))
    if a.out:
        Path(a.out).write_text(json.dumps(result, indent=2, default=str))
        print(f"wrote {a.out}")
