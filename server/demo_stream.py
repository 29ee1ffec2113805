"""A simulated stream of citizens and clerks that drives a live center over its real API,
so that the screens move in the demo.

Citizens arrive as in a scenario day (sped up ``speed`` times) and take tickets through a
``issue(service, priority)`` callable (the kiosk, or the REST API as a kiosk); clerk bots
sign in at counters, call next, wait for the citizen, serve for the scenario's service time
and finish. Some counters stay free for a person to try the console.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Callable

import requests

from .scenario import Scenario

log = logging.getLogger(__name__)


@dataclass
class ClerkBot:
    base_url: str
    token: str
    counter: int
    speed: float
    service_times: dict[str, list[float]]
    stop: threading.Event
    rng: random.Random

    def _post(self, path: str, body: dict | None = None) -> requests.Response:
        return requests.post(self.base_url + path, json=body, timeout=10,
                             headers={"Authorization": f"Bearer {self.token}"})

    def run(self) -> None:
        r = self._post(f"/api/v1/counters/{self.counter}/sign-in")
        if r.status_code != 200:
            log.warning("clerk bot at counter %s could not sign in: %s", self.counter, r.text)
            return
        while not self.stop.is_set():
            try:
                self._one_citizen()
            except requests.RequestException as exc:
                log.info("clerk bot %s: server unreachable (%s); retrying", self.counter, exc)
                self.stop.wait(2)

    def _one_citizen(self) -> None:
        r = self._post(f"/api/v1/counters/{self.counter}/call-next")
        if r.status_code == 409:  # e.g. a person took over the counter from the console
            self.stop.wait(5)
            return
        ticket = r.json().get("ticket") if r.ok else None
        if not ticket:
            self.stop.wait(max(0.5, 20 / self.speed))
            return
        if self.stop.wait(max(0.3, 20 / self.speed)):  # the citizen walks to the counter
            return
        if self.rng.random() < 0.05:
            self._post(f"/api/v1/tickets/{ticket['id']}/no-show", {"counter": self.counter})
            return
        self._post(f"/api/v1/tickets/{ticket['id']}/start", {"counter": self.counter})
        pool = self.service_times.get(ticket["service"]) or [480.0]
        self.stop.wait(self.rng.choice(pool) / self.speed)
        self._post(f"/api/v1/tickets/{ticket['id']}/finish", {"counter": self.counter})


class CitizenStream:
    """Replays a scenario's arrivals (looping over the day) through ``issue``."""

    def __init__(self, scenario: Scenario, issue: Callable[[str, bool], None], speed: float,
                 stop: threading.Event, services: set[str]) -> None:
        self.scenario = scenario
        self.issue = issue
        self.speed = speed
        self.stop = stop
        self.services = services
        self.issued = 0

    def run(self) -> None:
        arrivals = [a for a in self.scenario.arrivals if a.service in self.services]
        if not arrivals:
            log.warning("no arrival of the scenario matches the center's services")
            return
        # start at the morning peak so the screens fill quickly
        offset = arrivals[0].arrival_s
        while not self.stop.is_set():
            start = time.monotonic()
            for a in arrivals:
                due = start + (a.arrival_s - offset) / self.speed
                if self.stop.wait(max(0.0, due - time.monotonic())):
                    return
                try:
                    self.issue(a.service, a.priority)
                    self.issued += 1
                except Exception as exc:  # noqa: BLE001 - the demo keeps going whatever happens
                    log.info("citizen could not take a ticket: %s", exc)
            offset = 0.0
