"""The stalled-server race, for real: a kiosk, a real center server that stops answering
(SIGSTOP of its whole process group, the way a hung link or an overloaded Pi looks: silence,
not a refusal) and resumes (SIGCONT), and a clerk calling all the while.

Used by ``tests/test_handover_race.py`` (a few trials) and ``bench/handover_race.py`` (50+
trials, counts in ``docs/performance.md``). Each trial presses before, during and after a
stall and then checks, for every press, what the citizen would check: the number on the paper
exists once on the server, it is the number called (exactly once), the QR on the paper opens a
working status page, and the ticket kept the place in line of the press.
"""
from __future__ import annotations

import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field

import requests
import zxingcpp

from kiosk.app import KioskApp
from tests.escpos_decode import decode
from tests.live_server import LiveServer

COUNTERS = {"HT": (4, "clerk-ht"), "CT": (1, "clerk-ct")}  # one counter per service, one clerk each


@dataclass
class Trial:
    stall_s: float
    presses: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    offline: int = 0
    takeovers: int = 0          # printed tickets that took over an online copy of the same press
    repeated_calls: int = 0     # of which the copy had been called already: the call was repeated


class Clerks:
    """A clerk per service who calls, starts and finishes as fast as the server lets them."""

    def __init__(self, server: LiveServer, tokens: dict[str, str]) -> None:
        self.server = server
        self.tokens = tokens
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(svc,), daemon=True, name=f"clerk-{svc}")
                         for svc in COUNTERS]

    def _post(self, svc: str, path: str) -> requests.Response:
        return requests.post(self.server.url + path, json={"counter": COUNTERS[svc][0]},
                             headers=self.server.bearer(self.tokens[svc]), timeout=60)

    def _run(self, svc: str) -> None:
        """Each step acts on what the counter holds now (a ticket may be taken over in between)."""
        number = COUNTERS[svc][0]
        headers = self.server.bearer(self.tokens[svc])
        while not self._stop.is_set():
            try:
                counters = requests.get(self.server.url + "/api/v1/counters", headers=headers, timeout=60).json()
                held = next(c for c in counters["counters"] if c["number"] == number)["ticket"]
                if held is None:
                    r = self._post(svc, f"/api/v1/counters/{number}/call-next")
                    if r.ok and r.json().get("ticket") is None:
                        self._stop.wait(0.05)  # nobody waiting: the clerk looks up again shortly
                elif held["state"] == "called":
                    self._post(svc, f"/api/v1/tickets/{held['id']}/start")
                else:
                    self._post(svc, f"/api/v1/tickets/{held['id']}/finish")
            except (requests.RequestException, ValueError, KeyError, StopIteration):
                self._stop.wait(0.05)

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(90)


def sign_in_clerks(server: LiveServer, director: str) -> dict[str, str]:
    tokens = {}
    for svc, (number, user) in COUNTERS.items():
        tokens[svc] = server.add_user(user, "clerk")
        r = requests.post(server.url + f"/api/v1/counters/{number}/sign-in", json={},
                          headers=server.bearer(tokens[svc]), timeout=10)
        r.raise_for_status()
    return tokens


def stall(server: LiveServer, seconds: float) -> None:
    """The server process group stops answering for ``seconds`` (the fault itself), then resumes."""
    os.killpg(server.proc.pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)  # the length of the stall *is* the fault being injected
    finally:
        os.killpg(server.proc.pid, signal.SIGCONT)


def qr_of(job_bytes: bytes | None) -> str | None:
    image = decode(job_bytes or b"").image
    found = [r.text for r in zxingcpp.read_barcodes(image.convert("L"))]
    return found[0] if found else None


class Rig:
    """One server, one kiosk, two clerks; trials one after the other on the same day."""

    def __init__(self, server: LiveServer, kiosk: KioskApp, director: str) -> None:
        self.server, self.kiosk, self.director = server, kiosk, director
        self.held: set[str] = set()  # every number printed so far: the citizens' papers

    def trial(self, stall_s: float, rng: random.Random, during: int = 2) -> Trial:
        trial = Trial(stall_s)
        services = list(COUNTERS)
        results: list[dict] = []
        results.append(self.kiosk.press(rng.choice(services)))  # before the stall
        stopper = threading.Thread(target=stall, args=(self.server, stall_s))
        stopper.start()
        for _ in range(during):  # citizens pressing one after the other while the server is silent
            time.sleep(rng.uniform(0, min(stall_s, 1.0)) / during)  # when each happens to press
            results.append(self.kiosk.press(rng.choice(services), "web", True, 60))
        stopper.join()
        results.append(self.kiosk.press(rng.choice(services), "web", True, 60))  # after it
        self.kiosk.screen.wait_for(lambda s: s.outbox == 0, timeout=60)  # every hand-over confirmed
        papers = {code: qr_of(data) for code, _outcome, data in list(self.kiosk.jobs)}
        codes = [r["code"] for r in results if r.get("code")]
        self.held.update(codes)
        self._wait_served(codes)
        self._check(trial, results, papers)
        return trial

    def _get(self, path: str) -> dict:
        r = requests.get(self.server.url + path, headers=self.server.bearer(self.director), timeout=30)
        r.raise_for_status()
        return r.json()

    def _events(self) -> list[dict]:
        out: list[dict] = []
        while True:
            page = self._get(f"/api/v1/events?after={out[-1]['seq'] if out else 0}&limit=5000")["events"]
            if not page:
                return out
            out += page

    def _wait_served(self, codes: list[str], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = {t["code"]: t["state"] for t in self._get("/api/v1/tickets?limit=2000")["tickets"]}
            if all(states.get(c) == "done" for c in codes):
                return
            time.sleep(0.1)  # the clerks' progress, polled with a deadline

    def _check(self, trial: Trial, results: list[dict], papers: dict[str, str | None]) -> None:
        tickets = self._get("/api/v1/tickets?limit=2000")["tickets"]
        by_code: dict[str, list[dict]] = {}
        for t in tickets:
            by_code.setdefault(t["code"], []).append(t)
        events = self._events()
        calls: dict[str, int] = {}
        for e in events:
            if e["type"] == "ticket_call":
                calls[e["data"]["code"]] = calls.get(e["data"]["code"], 0) + 1
        taken = {e["data"]["code"]: e["data"] for e in events if e["type"] == "ticket_taken_over"}
        superseded = {e["data"]["code"] for e in events if e["type"] == "ticket_cancel"
                      and str(e["data"].get("reason", "")).startswith("superseded_by_offline")}
        # a copy a (very fast) clerk had already finished stays finished; the printed ticket was
        # queued and a handover_review alert raised (docs/queue-rules.md)
        superseded |= {d["replaced"] for d in taken.values()}
        from kiosk.outbox import Outbox
        local = Outbox(self.kiosk.config.outbox_path)
        try:
            for r in results:
                trial.presses.append(r)
                if r.get("verdict") != "issue":
                    trial.problems.append(f"a press got no ticket: {r}")
                    continue
                code = r["code"]
                trial.offline += bool(r["offline"])
                mine = by_code.get(code, [])
                if len(mine) != 1:
                    trial.problems.append(f"{code}: {len(mine)} tickets on the server")
                    continue
                t = mine[0]
                if t["state"] != "done":
                    trial.problems.append(f"{code}: {t['state']} on the server, never served")
                if calls.get(code, 0) != 1:
                    trial.problems.append(f"{code}: called {calls.get(code, 0)} times under the printed number")
                if code in taken:
                    trial.takeovers += 1
                    trial.repeated_calls += "call" in taken[code]["repeated"]
                pressed = local.ticket(r["ticket_id"])
                if r["offline"] and pressed and abs(t["issued_at"] - pressed.issued_at) > 1.0:
                    trial.problems.append(f"{code}: in line at {t['issued_at']:.1f}, pressed at {pressed.issued_at:.1f}")
                url = papers.get(code)
                if not url:
                    trial.problems.append(f"{code}: no QR code on the paper")
                    continue
                page = requests.get(url, timeout=10)
                if page.status_code != 200 or code not in page.text:
                    trial.problems.append(f"{code}: its QR {url} answered {page.status_code}")
        finally:
            local.close()
        # nobody is served under a number nobody holds, except a copy the printed ticket took over
        for code, ts in by_code.items():
            if code not in self.held and code not in superseded:
                trial.problems.append(f"{code}: a ticket nobody holds ({ts[0]['state']})")
