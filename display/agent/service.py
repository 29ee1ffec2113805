"""The display agent: the browser, the server probe, MQTT presence and health.

One thread (``display-agent``) does everything in ticks of ``tick_s``: it checks the
browser process and, every ``server.interval_s``, the server's ``/healthz``.

When is the browser restarted?

* It exited (crashed, killed, OOM): restarted after a back-off (:mod:`.backoff`).
* The server is back after an outage longer than ``server.stale_after_s``: the page
  reconnects over socket.io and resyncs from the snapshot by itself, but after a long
  outage (a server reboot, a new day, a new page version) a fresh load is the safe way
  to make sure the screen is right.
* The server is back and the browser was (re)started while the server was unreachable:
  the page never loaded (Chromium shows its own error page, which never retries), so it
  is loaded again at once, whatever the outage length.

Shorter outages are left to the page. A restart costs a few seconds of black screen.
"""
from __future__ import annotations

import logging
import threading

from qms_common import wire
from qms_common.clock import Clock, SystemClock
from qms_common.mqtt import DeviceIdentity, PresenceClient

from .backoff import Backoff
from .browser import BrowserSupervisor
from .config import DisplayAgentConfig
from .probe import ProbeResult, ServerProbe, http_healthz

log = logging.getLogger(__name__)

DEVICE_CLASS = "display"


class DisplayAgent:
    """``start()`` / ``stop()``; :meth:`step` is one tick (the thread calls it)."""

    def __init__(self, config: DisplayAgentConfig, *, clock: Clock | None = None,
                 client_id: str | None = None, check=http_healthz) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        b = config.browser
        url = config.page_url()
        argv = [part.replace("{url}", url) for part in b.command]
        self.browser = BrowserSupervisor(
            argv, clock=self.clock, env=b.env, stop_timeout_s=b.stop_timeout_s,
            backoff=Backoff(b.restart_initial_s, b.restart_max_s, b.stable_after_s))
        self.probe = ServerProbe(config.healthz(), config.server.timeout_s, self.clock, check)
        self.reloads = 0  # restarts the agent chose (stale page), not crashes
        self.identity = DeviceIdentity(config.center, DEVICE_CLASS, config.device)
        self.health_topic = wire.HEALTH.topic(center=config.center, cls=DEVICE_CLASS,
                                              device=config.device)
        self.presence = PresenceClient(self.identity, config.mqtt.broker(config.device),
                                       on_connected=self.publish_health, client_id=client_id)
        self._started_at = self.clock.monotonic()
        self._next_probe_at = self.clock.monotonic()
        self._next_health_at = self.clock.monotonic() + config.health_interval_s
        self._page_unloaded = False  # True: the browser started while the server was unreachable
        self._stop = threading.Event()
        self._lock = threading.Lock()  # health is built on paho's thread too
        self._thread = threading.Thread(target=self._run, name="display-agent", daemon=True)

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self.presence.start()
        self._thread.start()
        log.info("display agent %s: showing %s", self.config.device, self.config.public_url())

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(15)
        with self._lock:
            self.browser.stop()
        self.presence.stop()

    def healthy(self) -> bool:
        """For the systemd watchdog: the agent's own loop is alive."""
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # the agent must keep the screen alive whatever happens
                log.exception("display agent tick failed")
            self._stop.wait(self.config.tick_s)

    # --- one tick --------------------------------------------------------------------------

    def step(self) -> None:
        changed = False
        with self._lock:
            now = self.clock.monotonic()
            if now >= self._next_probe_at:  # first: a browser started now knows the server's state
                self._next_probe_at = now + self.config.server.interval_s
                changed |= self._probe()
            if self.browser.step():
                changed = True
                if self.browser.running:
                    self._page_unloaded = self.probe.reachable is not True
        if changed or self.clock.monotonic() >= self._next_health_at:
            self.publish_health()

    def _probe(self) -> bool:
        was = self.probe.reachable
        recovery = self.probe.check()
        if self.probe.reachable and self.browser.running:
            stale = recovery is not None and recovery.outage_s > self.config.server.stale_after_s
            if self._page_unloaded or stale:
                why = (f"server back after {recovery.outage_s:.0f} s; the page may be stale" if stale
                       else "the page was opened while the server was unreachable")
                self.reloads += 1
                self.browser.restart(why)
            self._page_unloaded = False
        return was != self.probe.reachable

    # --- health ----------------------------------------------------------------------------

    def health(self) -> wire.Health:
        faults: list[str] = []
        if not self.browser.running:
            faults.append("browser_not_running")
        if self.probe.reachable is False:
            faults.append("server_unreachable")
        last = self.browser.last_exit
        detail: dict[str, str | int | float | bool | None] = {
            "browser_running": self.browser.running,
            "browser_pid": self.browser.pid,
            "browser_restarts": self.browser.restarts,
            "browser_crashes": self.browser.crashes,
            "page_reloads": self.reloads,
            "last_exit_code": last.code if last else None,
            "next_start_in_s": self.browser.next_start_in_s,
            "server_reachable": self.probe.reachable,
            "server_down_s": round(self.probe.down_for_s(), 1),
            "server_error": (self.probe.last_error or "")[:200] or None,
            "page": self.config.public_url(),
            "last_error": (self.browser.last_error or "")[:200] or None,
        }
        return wire.Health(at=self.clock.now(),
                           uptime_s=max(0.0, self.clock.monotonic() - self._started_at),
                           faults=faults, detail=detail)

    def publish_health(self) -> None:
        self._next_health_at = self.clock.monotonic() + self.config.health_interval_s
        if not self.presence.connected.is_set():
            return
        self.presence.publish(self.health_topic, self.health(), retain=True, qos=1)

    def __repr__(self) -> str:
        return f"<DisplayAgent {self.config.center}/{self.config.device} {self.browser!r}>"


__all__ = ["DisplayAgent", "ProbeResult"]
