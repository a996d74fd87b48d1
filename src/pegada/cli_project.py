"""`pegada project`: the projector (ingest/projector.py) as a process of its own, and the
child `pegada serve` keeps running beside its workers.

`pegada serve` starts one (`--no-projector` for an operator who runs `pegada project` under
a supervisor instead) and starts it again if it dies; the workers never wait for it: API
requests that need hits project what they need themselves.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import click

from pegada.cli_attribution import load_rules
from pegada.ingest.projector import Projector, spool_projector
from pegada.settings import Settings
from pegada.storage.engine import build_engine
from pegada.storage.migrate import upgrade

log = logging.getLogger("pegada.projector")

#: Under a burst, answering browsers comes first and the projector takes only the CPU the
#: workers leave (the backlog waits durably in the spool): Linux's SCHED_IDLE, where a
#: waking worker takes the CPU at once (measured: p99 of hits 10 ms instead of 55 ms with
#: nice 19, bench/collector.py); the lowest nice value elsewhere.
NICENESS = 19
RESTART_PAUSE = 1.0


@click.command()
@click.option("--once", is_flag=True, help="Project what is spooled now, then exit.")
@click.option("--idle-priority", is_flag=True, help="Run only on CPU time nothing else wants.")
@click.option("--parent", "parent_pid", type=int, hidden=True, help="Exit when it exits.")
def project(once: bool, idle_priority: bool, parent_pid: int | None) -> None:
    """Write spooled page hits into the database (what `pegada serve` runs beside itself)."""
    if idle_priority:
        _lowest_priority()
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with _projector(settings) as projector:
        if once:
            projector.catch_up()
            click.echo(f"projected through spooled request {projector.projected_through}")
            return
        stop = threading.Event()

        def _stop(_signal: int, _frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        if parent_pid is not None:
            _stop_when_orphaned(parent_pid, stop)
        projector.run(stop)
        # What the server acknowledged before it stopped is in the database when we exit.
        projector.catch_up()


@contextmanager
def _projector(settings: Settings) -> Iterator[Projector]:
    engine = build_engine(settings)
    try:
        if settings.auto_migrate:
            upgrade(engine)
        with spool_projector(engine, settings.spool_file(), load_rules(settings)) as projector:
            yield projector
    finally:
        engine.dispose()


def _lowest_priority() -> None:
    if hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    else:  # pragma: no cover (not Linux)
        os.nice(NICENESS)


def _stop_when_orphaned(parent_pid: int, stop: threading.Event) -> None:
    """A child of `pegada serve` that was killed outright (no chance to stop us) ends too."""

    def watch() -> None:
        while not stop.wait(1.0):
            if os.getppid() != parent_pid:
                stop.set()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


@contextmanager
def projector_beside(settings: Settings) -> Iterator[None]:
    """A `pegada project` child for the duration of the block, started again if it exits;
    when the block ends, whatever is still spooled is projected before returning (the child
    may have been stopped before it could)."""
    stopping = threading.Event()
    lock = threading.Lock()
    argv = [sys.executable, "-m", "pegada", "project", "--idle-priority"]
    argv += ["--parent", str(os.getpid())]
    current = [subprocess.Popen(argv, stdin=subprocess.DEVNULL)]

    def supervise() -> None:
        while True:
            status = current[0].wait()
            if stopping.wait(RESTART_PAUSE):
                return
            log.warning("projector exited with status %s; starting it again", status)
            with lock:
                if stopping.is_set():
                    return
                current[0] = subprocess.Popen(argv, stdin=subprocess.DEVNULL)

    threading.Thread(target=supervise, name="projector-supervisor", daemon=True).start()
    try:
        yield
    finally:
        with lock:
            stopping.set()
            child = current[0]
        child.terminate()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
        with _projector(settings) as projector:
            projector.catch_up()
