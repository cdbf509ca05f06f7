"""A redis-server owned by one test, for outage, restart and script-cache cases.

Tests that kill, restart or flush Redis must never touch the shared server other tests
(and other test processes) use: :class:`RedisServer` starts ``redis-server`` on a free
loopback port, and :meth:`RedisServer.kill` ends exactly that process, by PID. The
``redis_server`` fixture of the pytest plugin yields a started one.

When the ``redis-server`` binary is missing the test is skipped, or fails when
``SVC_TEST_REQUIRE_BACKENDS`` is set (CI), like every backend fixture.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from typing import TYPE_CHECKING

from svc_core.testing.backends import backends_required

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["RedisServer", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A ``redis-server`` of this test: a free loopback port, no RDB, killed by PID.

    Args:
        workdir: Its working directory (AOF files land there).
        aof: Turn on the append-only file with ``appendfsync everysec``.
    """

    def __init__(self, workdir: Path, *, aof: bool = False) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.aof = aof
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server (on the same port after a :meth:`kill`) and wait for PONG."""
        import pytest

        binary = shutil.which("redis-server")
        if binary is None:
            msg = "redis-server is not installed"
            if backends_required():
                pytest.fail(msg, pytrace=False)
            pytest.skip(msg)
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--dir", str(self.workdir)]
        aof = ["--appendonly", "yes", "--appendfsync", "everysec"] if self.aof else []
        args += aof or ["--appendonly", "no"]
        # our own argv, no shell
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if self.command("PING").startswith(b"+PONG"):
                    return
            except OSError:
                time.sleep(0.05)
        self.kill()
        msg = f"redis-server did not start on port {self.port}"
        raise RuntimeError(msg)

    def kill(self) -> None:
        """SIGKILL the server this object started (nothing else) and reap it."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def command(self, *args: str) -> bytes:
        """Send one command over a raw socket (no client state involved); the raw reply."""
        out = [f"*{len(args)}\r\n".encode()]
        out += [f"${len(arg.encode())}\r\n{arg}\r\n".encode() for arg in args]
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(b"".join(out))
            reply = sock.recv(1 << 20)
            sock.settimeout(0.05)  # a long reply (INFO) may come in several segments
            try:
                while chunk := sock.recv(1 << 20):
                    reply += chunk
            except TimeoutError:
                pass
            return reply
