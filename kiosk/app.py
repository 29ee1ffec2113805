"""The kiosk: buttons in, tickets out, on one worker thread.

Everything that happens to the kiosk arrives on one queue: button presses (gpiozero
threads, the local page), reprint commands (MQTT) and the stop request. One worker thread
takes them in order and does all the work (issue, record, print, show, speak), so a
press during a print waits its turn and is then recognised as "during the print" by its
time stamp. The worker owns the SQLite connection it issues with; the sender thread has
its own.

Threads: worker (this module), sender (outbox → server), MQTT network and health
(optional), speech (optional), the local web server (optional), gpiozero's own, and one
short-lived thread per print job (``kiosk/print_guard.py``): a printer that hangs is
abandoned after ``printer.job_timeout_s`` and never blocks the worker longer than that.
"""
from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from qms_common import sd, wire
from qms_common.clock import Clock, SystemClock, local_day

from .config import KioskConfig
from .fonts import FontSet, default_fonts
from .hardware import ButtonPanel, Indicators
from .issuer import Issuer
from .link import Command, KioskLink, read_temperature
from .outbox import LocalTicket, Outbox
from .presses import PRIORITY, Decision, Press, PressFilter
from .printer import PrintOutcome, TicketPrinter
from .printer_state import STATE_VI, PrinterState
from .screen import (
    IGNORED_PRESS_VI, NO_NUMBERS_VI, NOT_PRINTED_VI, OFFLINE_VI, PRINTING_VI, PRIORITY_ARMED_VI, RATE_LIMITED_VI,
    READY_VI, Screen, ScreenState, ServiceKey, ShownTicket,
)
from .sender import Sender
from .server_client import ServerClient
from .ticket_image import TicketView
from .voice import KioskVoice

log = logging.getLogger(__name__)

_STOP = object()
_PRINTER_RELEASED = object()  # an abandoned print job's blocked call returned: look at the printer again
_OUTBOX_CHANGED = object()  # the sender handed something over: count the outbox again (worker thread)


@dataclass
class PressRequest:
    """A press from the local page or the CLI, answered when the worker has dealt with it."""

    press: Press
    result: Future


class KioskApp:
    """Build with a config, then ``start()`` / ``stop()``. Seams for tests: ``clock``,
    ``connect`` (a python-escpos printer factory), ``voice_sink``, ``fonts``."""

    def __init__(self, config: KioskConfig, *, token: str | None = None, clock: Clock | None = None,
                 connect: Any = None, fonts: FontSet | None = None, voice_sink: Any = None,
                 gpio: bool = True, mqtt_client_id: str | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.token = token if token is not None else config.server.read_token()
        self.events: queue.Queue[Any] = queue.Queue()
        self.fonts = fonts or default_fonts(config.printer.font_path)
        self.printer = TicketPrinter(config.printer, fonts=self.fonts, connect=connect, clock=self.clock,
                                     on_release=lambda: self.events.put(_PRINTER_RELEASED))
        self.filter = PressFilter(frozenset(b.service for b in config.buttons.services),
                                  debounce_s=config.buttons.debounce_s, cooldown_s=config.buttons.cooldown_s,
                                  per_minute=config.buttons.per_minute,
                                  priority_window_s=config.buttons.priority_window_s)
        keys = config.buttons.keys()
        self.keymap = {k: b.service for k, b in zip(keys, config.buttons.services)}
        self.screen = ScreenState(Screen(
            center_name=config.center_name,
            services=tuple(ServiceKey(k, b.service, b.label, b.label_en) for k, b in zip(keys, config.buttons.services))))
        self.gpio = gpio
        self.panel = ButtonPanel(config.buttons, self.events, self.clock)
        self.indicators = Indicators(config.indicators)
        self.voice = KioskVoice(config.voice, voice_sink) if config.voice.enabled else None
        self.sender = Sender(outbox_path=str(config.outbox_path), client_factory=self._client_for_sender,
                             services=[b.service for b in config.buttons.services], clock=self.clock,
                             timezone=config.timezone, block_size=config.offline.block_size,
                             min_spare=config.offline.min_spare, retry_interval_s=config.server.retry_interval_s,
                             on_change=self._sender_changed)
        self.link: KioskLink | None = None
        if config.mqtt.enabled:
            self.link = KioskLink(center=config.center, device=config.device,
                                  broker=config.mqtt.broker(config.device), events=self.events,
                                  health=self.health, interval_s=config.mqtt.health_interval_s, clock=self.clock,
                                  client_id=mqtt_client_id)
        #: the last print jobs (code, outcome, bytes when the connection keeps them): tests, bench
        self.jobs: deque[tuple[str, PrintOutcome, bytes | None]] = deque(maxlen=50)
        self._started = self.clock.monotonic()
        self.printer_state = PrinterState(self._started)
        #: the worker's last sign of life; the systemd watchdog looks at its age
        self._beat = self._started
        #: longest a healthy worker spends on one event: issue (online deadline) + print (its deadline)
        self.max_busy_s = 2 * (config.server.online_timeout_s + config.printer.job_timeout_s) + 10.0
        self._seen_requests: deque[str] = deque(maxlen=200)
        self._worker = threading.Thread(target=self._run, name="kiosk-worker", daemon=True)
        self._ready = threading.Event()

    # --- lifecycle ---------------------------------------------------------------------------
    def _client_for_sender(self) -> ServerClient:
        return ServerClient(self.config.server.url, self.token, timeout_s=self.config.server.sync_timeout_s)

    def start(self) -> None:
        if self.gpio:
            self.panel.open()
            self.indicators.open()
        if self.voice:
            self.voice.start()
        self._worker.start()
        if not self._ready.wait(30):
            raise RuntimeError("kiosk worker did not start")
        self.sender.start()
        if self.link:
            self.link.start()

    def stop(self) -> None:
        self.events.put(_STOP)
        if self._worker.is_alive():
            self._worker.join(15)
        self.sender.stop()
        if self.link:
            self.link.stop()
        if self.voice:
            self.voice.stop()
        self.panel.close()
        self.indicators.close()

    def healthy(self) -> bool:
        """The kiosk serves presses: its threads live and the worker is not stuck (the
        watchdog's test). A faulted printer is *degraded*, not unhealthy: numbers are still
        issued and shown; see :meth:`health_report`."""
        worker_fresh = self.clock.monotonic() - self._beat <= self.max_busy_s
        return self._worker.is_alive() and self.sender.alive() and worker_fresh

    def health_report(self) -> dict[str, Any]:
        """``/healthz``: ok (serving), degraded (serving, with faults) or down, and why."""
        health = self.health()
        ok = self.healthy()
        printer = self.printer_state.get()
        return {"ok": ok, "status": "down" if not ok else "degraded" if health.faults else "ok",
                "printer": printer.state, "printer_message": printer.message, "faults": health.faults,
                "printer_since_s": round(max(0.0, self.clock.monotonic() - printer.since), 3),
                "mode": health.detail.get("mode"), "outbox": health.outbox,
                "worker_idle_s": round(max(0.0, self.clock.monotonic() - self._beat), 3)}

    def status_line(self) -> str:
        """One line for ``systemctl status`` (sd_notify STATUS=), in Vietnamese first."""
        printer = self.printer_state.get()
        screen = self.screen.get()
        text = f"máy in: {STATE_VI.get(printer.state, printer.state)}; chờ gửi: {screen.outbox}; {screen.mode}"
        return f"{text}; printer {printer.state}" + (f" ({printer.detail})" if printer.faulted else "")

    # --- input from other threads ----------------------------------------------------------
    def buttons(self) -> list[str]:
        """What a press may name: each service's key and code, and ``P`` (priority)."""
        return [*self.keymap, *self.keymap.values(), PRIORITY]

    def _button(self, button: str) -> str:
        """The button a press names: a key's service code, ``P`` in either case, else as given."""
        name = self.keymap.get(button, button)
        return PRIORITY if name.upper() == PRIORITY else name

    def knows(self, button: str) -> bool:
        """Whether ``press`` would take ``button`` for a button of this kiosk."""
        name = self._button(button)
        return name == PRIORITY or name in self.filter.services

    def press(self, button: str, source: str = "web", wait: bool = True, timeout: float = 30.0) -> dict[str, Any]:
        """Press a button by service code, keyboard key or ``P``; with ``wait``, the outcome."""
        name = self._button(button)
        request = PressRequest(Press(name, self.clock.monotonic(), source), Future())
        self.events.put(request)
        if not wait:
            return {"queued": True}
        return request.result.result(timeout)

    # --- the worker --------------------------------------------------------------------------
    def _run(self) -> None:
        outbox = Outbox(self.config.outbox_path)
        client = ServerClient(self.config.server.url, self.token, timeout_s=self.config.server.online_timeout_s)
        issuer = Issuer(client=client, outbox=outbox, clock=self.clock, timezone=self.config.timezone,
                        site=self.config.site, public_url=self.config.public_url,
                        status_qr=self.config.offline.status_qr)
        released = outbox.release_interrupted()
        if released:
            log.warning("%d offline ticket(s) were printing when the kiosk stopped; handed over as not printed",
                        released)
        depth = outbox.depth()
        last = outbox.last_ticket()
        if last is not None and last.day == local_day(self.clock.now(), self.config.timezone).isoformat():
            self.screen.update(ticket=self._shown(last, last.printed))
        self.indicators.show("ready")
        self.screen.update(outbox=depth)
        self._ready.set()
        try:
            while True:
                self._beat = self.clock.monotonic()
                try:
                    event = self.events.get(timeout=1.0)
                except queue.Empty:
                    self._idle(outbox)
                    continue
                if event is _STOP:
                    return
                if event is _PRINTER_RELEASED or event is _OUTBOX_CHANGED:
                    if event is _PRINTER_RELEASED:
                        self.printer_state.recheck_soon()
                    self._idle(outbox)
                    continue
                try:
                    self._handle(event, issuer, outbox)
                except Exception:  # one bad event must not stop the kiosk
                    log.exception("handling %r failed", event)
                    if isinstance(event, PressRequest) and not event.result.done():
                        event.result.set_result({"verdict": "error"})
        finally:
            client.close()
            outbox.close()

    def _handle(self, event: Any, issuer: Issuer, outbox: Outbox) -> None:
        if isinstance(event, PressRequest):
            event.result.set_result(self._on_press(event.press, issuer, outbox))
        elif isinstance(event, Press):
            self._on_press(event, issuer, outbox)
        elif isinstance(event, Command):
            self._on_command(event.message, outbox)
        else:
            log.warning("unknown event %r dropped", event)

    def _idle(self, outbox: Outbox) -> None:
        screen = self.screen.get()
        now = self.clock.monotonic()
        if screen.priority_armed and not self.filter.priority_armed(now):
            self.screen.update(priority_armed=False, message=READY_VI, level="info")
        mqtt_up = bool(self.link and self.link.connected)
        if screen.mqtt != mqtt_up:
            self.screen.update(mqtt=mqtt_up)
        depth = outbox.depth()
        if depth != screen.outbox:
            self.screen.update(outbox=depth)
        if self.printer_state.check_due(now, self.config.printer.status_interval_s):
            status = self.printer.status()
            self._printer_changed(status.fault, status.detail)

    # --- presses -----------------------------------------------------------------------------
    def _on_press(self, press: Press, issuer: Issuer, outbox: Outbox) -> dict[str, Any]:
        decision = self.filter.decide(press)
        self.screen.count(decision.verdict)
        if decision.verdict == "priority_armed":
            self.screen.update(priority_armed=True, message=PRIORITY_ARMED_VI, level="info")
            self.indicators.beep()
            return {"verdict": decision.verdict}
        if decision.verdict == "rate_limited":
            self.screen.update(message=RATE_LIMITED_VI.format(s=round(decision.retry_in_s)), level="warn")
            self.indicators.refused()
            return {"verdict": decision.verdict, "retry_in_s": decision.retry_in_s}
        if not decision.issue:
            log.debug("press %s ignored: %s", press.button, decision.verdict)
            last = self.screen.get().ticket
            if decision.verdict in ("busy", "cooldown") and last is not None:
                # never silent: the number on the screen belongs to the press before this one
                self.screen.update(notice=IGNORED_PRESS_VI.format(code=last.code))
                return {"verdict": decision.verdict, "message": IGNORED_PRESS_VI.format(code=last.code)}
            return {"verdict": decision.verdict}
        return self._issue_and_print(decision, issuer, outbox)

    def _issue_and_print(self, decision: Decision, issuer: Issuer, outbox: Outbox) -> dict[str, Any]:
        assert decision.service is not None
        self.screen.update(busy=True, message=PRINTING_VI, level="info", priority_armed=False, notice="")
        self.indicators.show("printing")
        try:
            result = issuer.issue(decision.service, decision.priority)
            if result.ticket is None:
                message = NO_NUMBERS_VI if result.refused == "no_numbers" else (result.refused or "")
                self.screen.update(message=message, level="error", mode="offline" if result.offline_reason else
                                   self.screen.get().mode)
                self.indicators.show("fault")
                self.indicators.refused()
                return {"verdict": "refused", "message": message}
            ticket = result.ticket
            self.screen.update(ticket=self._shown(ticket, None), mode="offline" if ticket.offline else "online")
            outcome = self._print(ticket)
            outbox.record_print(ticket, outcome.printed, outcome.fault, self.clock.now())
            self.sender.wake()
            self._after_print(ticket, outcome)
            return {"verdict": "issue", "code": ticket.code, "ticket_id": ticket.ticket_id, "offline": ticket.offline,
                    "printed": outcome.printed, "fault": outcome.fault, "client_ref": ticket.client_ref}
        finally:
            self.filter.busy_until(self.clock.monotonic())
            self.screen.update(busy=False, outbox=outbox.depth())

    def _view(self, ticket: LocalTicket) -> TicketView:
        button = self.config.service(ticket.service)
        return TicketView(
            center_name=self.config.center_name,
            service_name=button.label if button else ticket.service,
            service_name_en=button.label_en if button else None,
            code=ticket.code, issued_at=ticket.issued_at, people_ahead=ticket.people_ahead,
            estimated_wait_s=ticket.estimated_wait_s, status_url=ticket.status_url, priority=ticket.priority,
            offline=ticket.offline, timezone=self.config.timezone, estimated_wait_range_s=ticket.estimated_wait_range_s,
            estimated_wait_text=ticket.estimated_wait_text,
            max_wait_target_s=self.config.max_wait_min * 60 if self.config.max_wait_min else None)

    def _print(self, ticket: LocalTicket) -> PrintOutcome:
        outcome = self.printer.print_view(self._view(ticket))
        self.jobs.append((ticket.code, outcome, self.printer.last_output))  # same thread: this job's bytes
        self._printer_changed(outcome.fault, outcome.detail)
        return outcome

    def _printer_changed(self, fault: Any, detail: str) -> None:
        """A job or probe ended: on a fault or a recovery, tell the screen and MQTT at once."""
        if not self.printer_state.update(fault, detail, self.clock.monotonic()):
            return
        view = self.printer_state.get()
        # a fault is a warning; the printer back to ok is news, not a problem
        log.log(logging.WARNING if view.faulted else logging.INFO, "printer: %s%s", view.state,
                f" ({view.detail})" if view.detail else "")
        self.screen.update(printer=view.state, printer_message=view.message)
        sd.notify_status(self.status_line())  # systemctl status; a no-op outside systemd
        if self.link:
            self.link.publish_health()  # on change, not only every health_interval_s

    def _after_print(self, ticket: LocalTicket, outcome: PrintOutcome) -> None:
        shown = self._shown(ticket, outcome.printed)
        if outcome.printed:
            message, level = (OFFLINE_VI, "warn") if ticket.offline else (READY_VI, "info")
            if outcome.fault == "paper_low":
                message, level = outcome.message, "warn"
            self.indicators.show("degraded" if ticket.offline else "ready")
        else:
            message, level = f"{outcome.message} {NOT_PRINTED_VI.format(code=ticket.code)}", "error"
            self.indicators.show("fault")
            self.indicators.beep(3)
        self.screen.update(ticket=shown, message=message, level=level)
        if self.voice:
            self.voice.say_ticket(ticket.code, outcome.printed)

    def _shown(self, ticket: LocalTicket, printed: bool | None) -> ShownTicket:
        button = self.config.service(ticket.service)
        return ShownTicket(code=ticket.code, service=ticket.service,
                           service_label=button.label if button else ticket.service, priority=ticket.priority,
                           offline=ticket.offline, issued_at=ticket.issued_at, printed=printed,
                           people_ahead=ticket.people_ahead, estimated_wait_s=ticket.estimated_wait_s)

    # --- reprint ---------------------------------------------------------------------------
    def _on_command(self, command: wire.KioskCommand, outbox: Outbox) -> None:
        if command.request_id in self._seen_requests:
            log.info("reprint %s already done (a redelivery)", command.request_id)
            return
        self._seen_requests.append(command.request_id)
        info = command.ticket
        known = outbox.ticket(info.ticket_id)
        ticket = LocalTicket(
            client_ref=known.client_ref if known else f"reprint-{command.request_id}", ticket_id=info.ticket_id,
            code=info.code, service=info.service, priority=info.priority, issued_at=info.issued_at,
            offline=False, day=known.day if known else local_day(info.issued_at, self.config.timezone).isoformat(),
            people_ahead=info.people_ahead, estimated_wait_s=info.estimated_wait_s,
            status_url=info.status_url or None)
        log.info("reprinting %s (request %s)", info.code, command.request_id)
        self.screen.update(busy=True, message=PRINTING_VI, level="info", notice="")
        self.indicators.show("printing")
        try:
            outcome = self._print(ticket)
            outbox.record_print(ticket, outcome.printed, outcome.fault, self.clock.now())
            self.sender.wake()
            self._after_print(ticket, outcome)
        finally:
            self.filter.busy_until(self.clock.monotonic())
            self.screen.update(busy=False, outbox=outbox.depth())

    # --- reports -------------------------------------------------------------------------------
    def _sender_changed(self) -> None:
        reachable = self.sender.reachable
        changes: dict[str, Any] = {}
        if reachable is not None:
            mode = "online" if reachable else "offline"
            if self.screen.get().mode != mode:
                changes["mode"] = mode
        if changes:
            self.screen.update(**changes)
        # the count is the worker's to write, read fresh there: the sender's own count may be older
        # than a print result the worker queued since, and would put "0 waiting to send" on the
        # screen and in the health while that result was not yet with the server
        self.events.put(_OUTBOX_CHANGED)

    def health(self) -> wire.Health:
        screen = self.screen.get()
        printer = self.printer_state.get()
        faults = list(printer.faults)
        if self.sender.reachable is False:
            faults.append("server_unreachable")
        if self.sender.rejected:
            faults.append("outbox_rejected")
        return wire.Health(
            at=self.clock.now(), uptime_s=max(0.0, self.clock.monotonic() - self._started), faults=faults,
            printer=printer.health, outbox=screen.outbox, temperature_c=read_temperature(),
            detail={"mode": screen.mode, "last_ticket": screen.ticket.code if screen.ticket else None,
                    "sent": self.sender.sent, "mqtt_dropped": self.link.dropped if self.link else 0,
                    "printer_detail": printer.detail if printer.faults else None,
                    "printer_blocked": self.printer.blocked})
