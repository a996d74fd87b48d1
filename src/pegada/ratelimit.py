"""Rate limits for the calls a browser can make without a secret (sendData, sendEvent,
getData), per session and per IP network.

In-process fixed windows: cheap and enough to stop one script from flooding a tenant
through one server process. With several processes each enforces its own share.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pegada.errors import PegadaError


class RateLimited(PegadaError):
    status = 429


@dataclass
class Limiter:
    limit: int = 30
    window_seconds: float = 60.0
    _windows: dict[str, tuple[float, int]] = field(default_factory=dict)

    def check(self, key: str, factor: int = 1) -> None:
        """Count one call for `key`; raise RateLimited past `factor` × the limit in this
        window (a network of many visitors gets a larger share than one session)."""
        now = time.monotonic()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= self.window_seconds:
            start, count = now, 0
        if count >= self.limit * factor:
            raise RateLimited(
                "too many requests from this browser; try again in a minute",
                {"session_id": "rate limited"},
            )
        if len(self._windows) > 100_000:
            self._windows.clear()
        self._windows[key] = (start, count + 1)
