"""Is the center server reachable? ``GET /healthz`` with a short timeout.

Tracks since when the server has been unreachable (monotonic clock) so that the agent can
tell a blip, which the page rides out by itself, from an outage long enough for the page
to be stale.
"""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable

from qms_common.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class Recovery:
    """The server answered again after ``outage_s`` seconds without it."""

    outage_s: float


def http_healthz(url: str, timeout_s: float) -> ProbeResult:
    """One request: 2xx with a JSON body is reachable; anything else is not, with why."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (config URL)
            body = response.read(4096)
            json.loads(body or b"{}")
            return ProbeResult(True)
    except urllib.error.HTTPError as exc:
        return ProbeResult(False, f"HTTP {exc.code}")
    except urllib.error.URLError as exc:
        return ProbeResult(False, f"unreachable: {exc.reason}")
    except (OSError, ValueError) as exc:  # timeouts, resets, a non-JSON answer
        return ProbeResult(False, f"{type(exc).__name__}: {exc}")


class ServerProbe:
    """Remembers the last answer and the start of the current outage."""

    def __init__(self, url: str, timeout_s: float, clock: Clock,
                 check: Callable[[str, float], ProbeResult] = http_healthz) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.clock = clock
        self._check = check
        self.reachable: bool | None = None  # None until the first check
        self.last_error: str | None = None
        self.down_since: float | None = None  # monotonic; set from the first failed check
        self.checks = 0
        self.failures = 0

    def down_for_s(self) -> float:
        return 0.0 if self.down_since is None else self.clock.monotonic() - self.down_since

    def check(self) -> Recovery | None:
        """Probe once; a :class:`Recovery` when the server is back after an outage."""
        result = self._check(self.url, self.timeout_s)
        self.checks += 1
        now = self.clock.monotonic()
        if result.ok:
            recovered = Recovery(now - self.down_since) if self.down_since is not None else None
            if recovered:
                log.info("server reachable again after %.0f s", recovered.outage_s)
            self.reachable, self.last_error, self.down_since = True, None, None
            return recovered
        self.failures += 1
        if self.reachable is not False:
            log.warning("server unreachable at %s: %s", self.url, result.error)
        self.reachable, self.last_error = False, result.error
        if self.down_since is None:
            self.down_since = now
        return None
