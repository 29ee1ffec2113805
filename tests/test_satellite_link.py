"""A satellite point that stands alone, with REAL processes: a main center (its server, its
Mosquitto) and a satellite point ``diem-1`` (its own server, its own Mosquitto, and
``qms replicate`` shipping its event log to the main center through a link the test controls:
tests/link_proxy.py).

1. Link up: the first tickets reach the main center.
2. Link down (the port closed) for a morning of tickets and calls at the satellite: the
   satellite issues, calls, announces (its broker carries the calls) and serves; the main
   center has none of it.
3. The link hangs (accepts, never answers): the replicator gives up each request after its
   read timeout and tries again; the satellite never notices.
4. The link returns losing answers: batches applied at the main center whose answer never
   came back are sent again, and counted once (duplicate shipments).
5. The link is up and the satellite is killed (kill -9, server and replicator) mid-sync; it
   starts again and finishes.
6. At the end: every ticket and call once at the main center, in the satellite's order, the
   live tables equal, ``qms replay --check`` clean, the main center's broker never announced
   a satellite call, and the day's report for the site at the main center is the satellite's own
   report (the same as if the link had never dropped).

Real time (a live server has the system clock); every wait is on a count or a state with a
deadline, never a sleep.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from qms_common import wire
from server.config import load_center
from server.engine import Engine
from server.reporting import files, period
from server.sites import for_site
from server.store import Store
from qms_common.clock import SystemClock
from tests.link_proxy import LinkProxy
from tests.live_server import ROOT, LiveServer, free_port
from tests.mosquitto_fixture import CENTER, MqttProbe, center_setup
from tests.test_satellite_mirror import COMPARED, REPORT_PARTS, SITE

pytestmark = [pytest.mark.broker, pytest.mark.slow]

MORNING = 60  # tickets issued at the satellite while the link is down


def standalone_center_file(path: Path) -> Path:
    from server.config import sample_center_text
    text = sample_center_text(enforce_hours=False).replace("# standalone = true", "standalone = true").replace(
        '# ticket_prefix = "D"', 'ticket_prefix = "D"')
    path.write_text(text, encoding="utf-8")
    return path


def mqtt_settings(setup, tmp: Path, name: str) -> str:
    pw = tmp / f"{name}-mqtt-password"
    pw.write_text(setup.passwords["server"])
    return f'\n[mqtt]\nenabled = true\nport = {setup.broker.port(1883)}\npassword_file = "{pw}"\n'


class Replicator:
    """``qms replicate`` in its own process, as systemd runs it (qms-replicator.service)."""

    def __init__(self, settings_file: Path, log: Path) -> None:
        self.settings_file, self.log_path = settings_file, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Replicator":
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "server.cli", "--settings", str(self.settings_file),
                                      "replicate"], cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(15)
        self._log.close()
        return self.proc.returncode if self.proc else None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_until(predicate, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)  # polling a state over HTTP, with a deadline
    raise TimeoutError(what)


def test_satellite_stands_alone_and_catches_up(tmp_path):
    center_file = standalone_center_file(tmp_path / "center.toml")
    main_broker = center_setup(tmp_path, name="main-broker", tls=False)
    sat_broker = center_setup(tmp_path, name="sat-broker", tls=False)
    main_port, link_port = free_port(), free_port()
    main = LiveServer(tmp_path / "main", port=main_port, center_file=center_file,
                      settings_extra=mqtt_settings(main_broker, tmp_path, "main"))
    token_file = tmp_path / "sat-token"
    sat = LiveServer(tmp_path / "sat", center_file=center_file, settings_extra=(
        mqtt_settings(sat_broker, tmp_path, "sat") +
        f'\n[satellite]\nsite = "{SITE}"\nmain_url = "http://127.0.0.1:{link_port}"\ntoken_file = "{token_file}"\n'
        'batch = 5\nconnect_timeout_s = 1\nread_timeout_s = 2\nretry_max_s = 1\npoll_s = 0.2\n'))
    link = LinkProxy(main_port, link_port)
    probes: list[MqttProbe] = []
    replicator = Replicator(sat.settings_file, tmp_path / "replicator.log")
    try:
        main_broker.broker.start()
        sat_broker.broker.start()
        main.start()
        sat.start()
        token_file.write_text(main.add_device("sat-diem-1", "satellite", site=SITE))
        director = main.add_user("giamdoc", "director")
        at_main = {"Authorization": f"Bearer {director}"}
        kiosk = sat.bearer(sat.add_device("kiosk-d1", "kiosk"))
        clerks = {21: sat.bearer(sat.add_user("lan", "clerk")), 22: sat.bearer(sat.add_user("binh", "clerk"))}
        for probe_of, setup in (("sat", sat_broker), ("main", main_broker)):
            probe = MqttProbe.connect(setup.broker.port(1883), "server", setup.passwords["server"],
                                      client_id=f"probe-{probe_of}")
            probe.subscribe(wire.CALL.topic(center=CENTER))
            probes.append(probe)
        sat_calls, main_calls = probes

        def cursor() -> int:
            r = requests.get(f"{main.url}/api/v1/sites/{SITE}/events/cursor", headers=at_main, timeout=5)
            r.raise_for_status()
            return r.json()["through"]

        def sat_seq() -> int:
            return requests.get(sat.url + "/healthz", timeout=5).json()["seq"]

        def post(url: str, headers: dict, json=None) -> dict:
            r = requests.post(sat.url + url, json=json, headers=headers, timeout=10)
            assert r.status_code in (200, 201), f"{url}: {r.status_code} {r.text}"
            return r.json()

        ids: list[str] = []

        def issue(n: int) -> None:
            for i in range(n):
                t = post("/api/v1/tickets", kiosk, {"service": ("HT", "CT", "XH", "DD")[len(ids) % 4],
                                                    "client_ref": f"kiosk-d1-{len(ids):06d}"})
                assert t["code"].startswith("D") and t["site"] == SITE, t
                ids.append(t["id"])

        def serve_some(rounds: int) -> int:
            """Each open counter calls the next (finishing the one before), starts; every 5th a no-show."""
            calls = 0
            for r in range(rounds):
                for number, clerk in clerks.items():
                    got = post(f"/api/v1/counters/{number}/call-next", clerk)["ticket"]
                    if got is None:
                        continue
                    calls += 1
                    if (calls % 5) == 0:
                        post(f"/api/v1/tickets/{got['id']}/recall", clerk, {"counter": number})
                        post(f"/api/v1/tickets/{got['id']}/no-show", clerk, {"counter": number})
                    else:
                        post(f"/api/v1/tickets/{got['id']}/start", clerk, {"counter": number})
            return calls

        # 1. the link is up: the day starts, and reaches the main center
        link.set("up")
        replicator.start()
        for number, clerk in clerks.items():
            post(f"/api/v1/counters/{number}/sign-in", clerk, {})
        issue(6)
        serve_some(1)
        first = sat_seq()
        wait_until(lambda: cursor() >= first, "the first events at the main center", 60)

        # 2. the link is cut for the morning: the satellite goes on alone
        link.set("down")
        seen = cursor()
        calls_before = len(sat_calls.received())
        issue(MORNING)
        calls = serve_some(12)
        sat_calls.wait(lambda: len(sat_calls.received()) >= calls_before + calls + calls // 5, 15,
                       "the satellite's calls on its own broker (its announcer speaks them)")
        assert cursor() == seen  # nothing crossed
        main_has = requests.get(f"{main.url}/api/v1/tickets", params={"site": SITE, "limit": 1000},
                                headers=at_main, timeout=5).json()["tickets"]
        assert len(main_has) == 6

        # 3. the link hangs: each request is given up after read_timeout_s and tried again
        link.set("hang")
        link.wait_for("hung", 2, timeout=30)
        issue(4)
        serve_some(2)
        assert cursor() == seen

        # 4. the link is back but loses answers: applied batches are sent again
        link.set("lose_answers")
        link.wait_for("answers_lost", 3, timeout=30)
        lost_at = cursor()
        assert lost_at > seen  # they were applied although the satellite never heard so

        # 5. the link is up; the satellite is killed (power cut) in the middle of the catch-up
        link.set("up")
        link.wait_for("posts", 2, timeout=30)
        replicator.kill()
        sat.kill()
        mid = cursor()
        total = Store(sat.state_dir / "qms.db").conn().execute("SELECT max(seq) FROM events").fetchone()[0]
        print(f"\nkilled mid-sync: the main center had {mid} of the satellite's {total} events")
        assert mid < total
        sat.start()
        replicator = Replicator(sat.settings_file, tmp_path / "replicator.log").start()
        issue(2)  # the satellite is back in service at once
        serve_some(1)
        last = sat_seq()
        wait_until(lambda: cursor() >= last, "the catch-up after the restart", 120)
        assert cursor() == last
        # the director at the main center sees the satellite's counters as they are there
        def counters_seen(url: str, headers: dict) -> list:
            snap = requests.get(url + "/api/v1/snapshot", params={"site": SITE}, headers=headers, timeout=10).json()
            return [(c["number"], c["state"], c["clerk"], (c["ticket"] or {}).get("code")) for c in snap["counters"]]
        assert counters_seen(main.url, at_main) == counters_seen(sat.url, clerks[21])
        assert any(code for *_, code in counters_seen(main.url, at_main))

        # 6. everything once, in order, the same
        sat_store, main_store = Store(sat.state_dir / "qms.db"), Store(main.state_dir / "qms.db")
        sat_events = sat_store.conn().execute("SELECT seq, type, ticket_id, at FROM events ORDER BY seq").fetchall()
        mirrored = main_store.conn().execute("SELECT origin_seq, type, ticket_id, at FROM events WHERE origin_site = ? "
                                             "ORDER BY seq", (SITE,)).fetchall()
        assert [tuple(r) for r in mirrored] == [tuple(r) for r in sat_events]
        rows = {name: [dict(r) for r in s.conn().execute(
            f"SELECT {', '.join(COMPARED)} FROM tickets WHERE site = ? ORDER BY id", (SITE,)).fetchall()]
            for name, s in (("main", main_store), ("sat", sat_store))}
        # the live times are rebuilt from the events' times, which a real clock reads a few
        # microseconds after the engine's own (a virtual clock gives the same: test_satellite_mirror)
        stamps = ("issued_at", "first_called_at", "called_at", "started_at", "finished_at", "wait_from")
        assert len(rows["main"]) == len(rows["sat"])
        for m, s_ in zip(rows["main"], rows["sat"]):
            assert {k: v for k, v in m.items() if k not in stamps} == {k: v for k, v in s_.items() if k not in stamps}
            for k in stamps:
                assert (m[k] is None) == (s_[k] is None) and abs((m[k] or 0) - (s_[k] or 0)) < 0.5, (m["code"], k)
        assert sorted(r["id"] for r in map(dict, main_store.conn().execute(
            "SELECT id FROM tickets WHERE site = ?", (SITE,)).fetchall())) == sorted(ids)
        n_calls = sum(1 for e in sat_events if e["type"] in ("ticket_call", "ticket_recall"))
        main_call_events = main_store.conn().execute(
            "SELECT count(*) FROM events WHERE origin_site = ? AND type IN ('ticket_call', 'ticket_recall')",
            (SITE,)).fetchone()[0]
        assert main_call_events == n_calls
        duplicates = link.counts["answers_lost"]
        for server in (main, sat):  # the live tables agree with the event log, at both ends
            check = subprocess.run([sys.executable, "-m", "server.cli", "--settings", str(server.settings_file),
                                    "replay", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=60)
            assert check.returncode == 0, check.stdout + check.stderr
        # the main center's broker never carried a satellite call (the satellite announced them)
        assert not [m for m in main_calls.received() if wire.decode(wire.CALL, m.payload).ticket.startswith("D")]

        config = load_center(center_file)
        main_engine = Engine(main_store, config, SystemClock())
        sat_engine = Engine(sat_store, for_site(config, SITE), SystemClock())
        day = sat_engine.today()
        p = period.days(day, day)
        report_main, report_sat = files.build(main_engine, p, site=SITE), files.build(sat_engine, p)
        for part in REPORT_PARTS:
            assert report_main[part] == report_sat[part], part
        whole = files.build(main_engine, p)
        by_site = {s["site"]: s["issued"] for s in whole["by_site"]}
        assert by_site[SITE] == len(ids) and whole["totals"]["issued"] == sum(by_site.values())
        print(f"satellite: {len(ids)} tickets, {n_calls} calls (recalls included), {len(sat_events)} events; "
              f"link down for {MORNING + 4} tickets; hung requests {link.counts['hung']}; answers lost (sent "
              f"twice) {duplicates}; main center: {len(rows['main'])} tickets, {main_call_events} calls, "
              f"{len(mirrored)} events, once each, in order")
    finally:
        for probe in probes:
            probe.close()
        link.close()
        try:
            replicator.stop()
        except Exception:  # noqa: BLE001 - already killed
            pass
        sat.stop()
        main.stop()
        sat_broker.broker.stop()
        main_broker.broker.stop()
