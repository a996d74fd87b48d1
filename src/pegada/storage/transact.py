"""Running a write transaction that may lose a race, and retrying it whole.

Contact creation claims unique keys; when two processes create the same person at once,
the loser's transaction is rolled back and re-run, and on the re-run it finds the winner's
contact. Deadlocks and serialization failures are retried the same way. A race that keeps
being lost is reported as a 409, never as a 500.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from pegada.errors import Conflict
from pegada.storage.engine import write_transaction

T = TypeVar("T")

ATTEMPTS = 8
#: unique_violation, serialization_failure, deadlock_detected, lock_not_available
_RETRYABLE_SQLSTATES = {"23505", "40001", "40P01", "55P03"}


class RaceLost(Exception):
    """Raised inside a transaction that found another one got there first."""


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, RaceLost):
        return True
    if isinstance(exc, IntegrityError | DBAPIError):
        state = getattr(exc.orig, "sqlstate", None)
        if state in _RETRYABLE_SQLSTATES:
            return True
        # SQLite reports "database is locked" when busy_timeout runs out.
        return "database is locked" in str(exc.orig)
    return False


def transact(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run `work` in a write transaction, retrying it whole when it loses a race."""
    for attempt in range(ATTEMPTS):
        try:
            with write_transaction(engine) as conn:
                return work(conn)
        except (RaceLost, DBAPIError) as exc:
            if not _retryable(exc) or attempt == ATTEMPTS - 1:
                if _retryable(exc):
                    raise Conflict("the request raced with another one; send it again") from exc
                raise
            time.sleep(random.uniform(0, 0.005 * 2**attempt))
    raise AssertionError("unreachable")
