"""The background sender: hands the outbox to the server, oldest first, and keeps spare numbers.

One thread with its own database connection and HTTP session. Each round it

1. sends outbox items in order (offline tickets to ``/kiosk/offline-tickets``, print
   results to ``/tickets/<id>/print-result``), deleting each only after the server
   confirmed it; the first failure to reach the server ends the round (order is kept:
   nothing overtakes an older ticket);
2. when the outbox is empty, drops blocks of past days and reserves a new block for every
   service whose unused numbers for today fell under ``min_spare``.

It wakes when the kiosk queues something (:meth:`wake`) or after ``retry_interval_s``.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from qms_common.clock import Clock, local_day

from .outbox import Outbox
from .server_client import Refused, ServerClient, Unreachable

log = logging.getLogger(__name__)


class Sender:
    def __init__(self, *, outbox_path: str, client_factory: Callable[[], ServerClient], services: Sequence[str],
                 clock: Clock, timezone: str, block_size: int, min_spare: int, retry_interval_s: float,
                 on_change: Callable[[], None] | None = None) -> None:
        self.outbox_path = outbox_path
        self.client_factory = client_factory
        self.services = list(services)
        self.clock = clock
        self.timezone = timezone
        self.block_size = block_size
        self.min_spare = min_spare
        self.retry_interval_s = retry_interval_s
        self.on_change = on_change
        self.sent = 0
        self.rejected = 0
        self.reachable: bool | None = None  # None until the first attempt
        self.depth = 0  # outbox items waiting, as of the last round
        self.last_error: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._rounds = 0
        self._thread = threading.Thread(target=self._run, name="kiosk-sender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def wait_rounds(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Block until ``count`` more rounds completed (tests, bench)."""
        with self._idle:
            target = self._rounds + count
            return self._idle.wait_for(lambda: self._rounds >= target, timeout)

    def wait_first_round(self, timeout: float = 10.0) -> bool:
        """Block until the first round since start has completed (its blocks reserved, or the
        server found absent), however early it came: ``wait_rounds(1)`` called after it would
        wait for the next one, up to 30 s away when all is well (tests, bench)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._rounds >= 1, timeout)

    def _run(self) -> None:
        outbox = Outbox(self.outbox_path)
        client = self.client_factory()
        try:
            while not self._stop.is_set():
                self._wake.clear()
                self.depth = outbox.depth()
                try:
                    drained = self.drain(outbox, client)
                    if drained:
                        self.top_up(outbox, client)
                except Unreachable as exc:
                    self._unreachable(str(exc))
                except Exception:  # the sender must outlive any bug in one round
                    log.exception("sender round failed")
                with self._idle:
                    self._rounds += 1
                    self._idle.notify_all()
                wait = self.retry_interval_s if (self.reachable is False or outbox.depth()) else 30.0
                self._wake.wait(wait)
        finally:
            client.close()
            outbox.close()

    def _unreachable(self, error: str) -> None:
        if self.reachable is not False:
            log.warning("server unreachable, outbox kept: %s", error)
        self.reachable = False
        self.last_error = error
        self._changed()

    def _changed(self) -> None:
        if self.on_change:
            try:
                self.on_change()
            except Exception:
                log.exception("sender on_change hook failed")

    def drain(self, outbox: Outbox, client: ServerClient) -> bool:
        """Send everything that is ready; True if the outbox was emptied. Raises Unreachable."""
        while not self._stop.is_set():
            item = outbox.next_item()
            if item is None:
                return True
            try:
                if item.kind == "ticket":
                    client.hand_over(item.payload)
                else:
                    client.print_result(item.key, bool(item.payload["printed"]), item.payload.get("fault"))
            except Unreachable as exc:
                outbox.failed_attempt(item.seq, str(exc))
                self.depth = outbox.depth()
                raise
            except Refused as exc:
                log.error("server refused outbox item %s %s for good: %s", item.kind, item.key, exc.message)
                outbox.reject(item.seq, f"{exc.status}: {exc.message}")
                self.rejected += 1
                self._changed()
                continue
            outbox.confirm(item.seq)
            self.sent += 1
            self.depth = outbox.depth()
            if not self.reachable:
                log.info("server reachable again; handing over the outbox")
            self.reachable = True
            self._changed()
        return False

    def top_up(self, outbox: Outbox, client: ServerClient) -> None:
        today = local_day(self.clock.now(), self.timezone).isoformat()
        outbox.drop_blocks_before(today)
        for service in self.services:
            if self._stop.is_set():
                return
            for _ in range(10):  # a small block_size may need several blocks to reach min_spare
                if outbox.spare(today, service) >= self.min_spare:
                    break
                try:
                    block = client.reserve_block(service, self.block_size)
                except Refused as exc:
                    log.warning("server refused a block for %s: %s", service, exc.message)
                    break
                outbox.add_block(day=block["day"], service=service, prefix=block["prefix"],
                                 first=block["first"], last=block["last"], at=self.clock.now(),
                                 tokens=block.get("tokens"))
                log.info("reserved %s %s-%03d..%03d for offline use", block["day"], block["prefix"],
                         block["first"], block["last"])
                if block["day"] != today:
                    log.warning("server day %s differs from the kiosk's %s: check the kiosk clock",
                                block["day"], today)
                    break
            if not self.reachable:
                self.reachable = True
                self._changed()
