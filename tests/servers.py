"""Real `pegada serve` processes for tests: each on a free port of 127.0.0.1, started
together, ready once `GET /healthz` answers, and always ended when the block exits (even
when the test fails or a process was already killed)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

#: The `pegada` console script of the interpreter running the tests (.venv/bin/pegada).
PEGADA = str(Path(sys.executable).with_name("pegada"))
START_TIMEOUT = 30.0


def pegada_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a child `pegada`: ours without PEGADA_* variables, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEGADA_")}
    env["PEGADA_DATABASE_URL"] = database_url
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def kill_hard(self) -> None:
        """SIGKILL the whole process group: no shutdown handlers, no flushing."""
        _signal_group(self.process, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _signal_group(self.process, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal the process and anything it started; only while it is not yet reaped, so its
    group id cannot belong to anyone else."""
    if process.returncode is not None:
        return
    try:
        os.killpg(process.pid, sig)  # the child leads its own session (start_new_session)
    except ProcessLookupError:
        pass


def _spawn(
    database_url: str,
    log_dir: Path,
    index: int,
    extra_env: dict[str, str],
    serve_args: tuple[str, ...] = (),
) -> Server:
    port = free_port()
    log_path = log_dir / f"server-{index}-{port}.log"
    spool = log_dir / "spool.db"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [PEGADA, "serve", "--host", "127.0.0.1", "--port", str(port), *serve_args],
        # One spool for the servers of a group, as for the processes of one host.
        env=pegada_env(database_url, **({"PEGADA_SPOOL_PATH": str(spool)} | extra_env)),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Server(port, process, log, log_path)


def _wait_healthy(server: Server, deadline: float) -> bool:
    """True once /healthz answers 200; False if the process died (port taken, say)."""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1.0).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"pegada serve on port {server.port} not ready:\n{server.output()}")


@contextmanager
def running_servers(
    database_url: str,
    count: int,
    log_dir: Path,
    *,
    serve_args: tuple[str, ...] = (),
    **extra_env: str,
) -> Iterator[list[Server]]:
    """`count` server processes on one database, all answering when the block starts;
    `serve_args` are added to their `pegada serve` command."""
    log_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        servers: list[Server] = []
        for index in range(count):
            server = _spawn(database_url, log_dir, index, extra_env, serve_args)
            stack.callback(server.stop)
            servers.append(server)
        deadline = time.monotonic() + START_TIMEOUT
        for index, server in enumerate(servers):
            attempts = 0
            while not _wait_healthy(server, deadline):
                attempts += 1
                output = server.output()
                if "address already in use" not in output.lower() or attempts > 3:
                    raise RuntimeError(f"pegada serve exited early:\n{output}")
                server.stop()  # another test took the port between our check and its bind
                server = _spawn(database_url, log_dir, index, extra_env, serve_args)
                stack.callback(server.stop)
                servers[index] = server
        yield servers


@contextmanager
def running_server(
    database_url: str, log_dir: Path, *, serve_args: tuple[str, ...] = (), **extra_env: str
) -> Iterator[Server]:
    """One server process."""
    with running_servers(database_url, 1, log_dir, serve_args=serve_args, **extra_env) as (server,):
        yield server
