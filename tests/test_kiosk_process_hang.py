"""``qms-kiosk`` as a real process under a stand-in for systemd (NOTIFY_SOCKET, WATCHDOG_USEC),
printing with the shipped default deadline onto a FIFO that never takes the bytes; presses
through its local page: the first press and two more during the hang, then a fourth.

What systemd and a user see: every press is answered (a number, or why not); /healthz says
the printer is stuck as soon as the job's deadline passed; ``STATUS=`` (``systemctl status``)
says so in Vietnamese; the watchdog keeps being pinged because the kiosk still serves.
"""
from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from kiosk.printer_config import PrinterConfig
from kiosk.testing import config_dict, to_toml
from tests.live_server import LiveServer, free_port
from tests.test_kiosk_process import KioskProcess
from tests.test_printer_hang import fifo, idle_reader, unread

pytestmark = pytest.mark.slow

DEFAULT_DEADLINE_S = PrinterConfig.model_fields["job_timeout_s"].default


class NotifySocket:
    """systemd's side of sd_notify: a datagram socket collecting what the service sends."""

    def __init__(self, path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.path = str(path)
        self.messages: list[tuple[float, str]] = []
        self.cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                return
            with self.cond:
                self.messages.append((time.monotonic(), data.decode("utf-8", "replace")))
                self.cond.notify_all()

    def wait(self, predicate, timeout: float, what: str) -> tuple[float, str]:
        with self.cond:
            deadline = time.monotonic() + timeout
            while True:
                found = next(((at, m) for at, m in self.messages if predicate(at, m)), None)
                if found:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no {what} from the kiosk: {self.messages[-5:]}")
                self.cond.wait(remaining)

    def close(self) -> None:
        self.sock.close()


def test_kiosk_process_with_a_hung_printer_answers_every_press(tmp_path) -> None:
    device = fifo(tmp_path)
    reader = idle_reader(device)
    notify = NotifySocket(tmp_path / "notify.sock")
    with LiveServer(tmp_path / "server") as srv:
        token = srv.add_device("kiosk-h2", "kiosk")
        port = free_port()
        data = config_dict(tmp_path / "kiosk", srv.url, token, device="kiosk-h2")
        data["printer"] = {"connection": {"type": "file", "devfile": str(device)}}  # the default deadline
        data["web"] = {"enabled": True, "host": "127.0.0.1", "port": port}
        data["buttons"].update(cooldown_s=0.5)
        config = tmp_path / "kiosk.toml"
        config.write_text(to_toml(data), encoding="utf-8")
        kiosk = KioskProcess(config, port, tmp_path / "kiosk.log",
                             env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000"}).start()
        pool = ThreadPoolExecutor(4)
        try:
            notify.wait(lambda _at, m: m.startswith("READY=1"), 30, "READY=1")
            kiosk.wait_state(lambda s: s["mode"] == "online" and s["printer"] == "ok")
            t1 = time.monotonic()
            first = pool.submit(kiosk.press, "1")
            kiosk.wait_state(lambda s: s["busy"])
            deadline = time.monotonic() + 10
            while unread(reader) == 0:  # the printer took its fill; polled with a deadline
                assert time.monotonic() < deadline
                time.sleep(0.01)
            second = pool.submit(kiosk.press, "2")
            third = pool.submit(kiosk.press, "3")
            r1 = first.result(30)
            t_fault = time.monotonic()
            health = requests.get(kiosk.url + "/healthz", timeout=5)
            t_health = time.monotonic()
            r2, r3 = second.result(30), third.result(30)
            t_answers = time.monotonic()

            assert (r1["verdict"], r1["printed"], r1["fault"]) == ("issue", False, "stuck"), r1
            for r in (r2, r3):  # no ticket, and a message saying why
                assert r["verdict"] == "busy" and f"số {r1['code']} là của lượt bấm trước" in r["message"], r
            assert health.status_code == 200 and health.json()["status"] == "degraded"
            assert health.json()["printer"] == "stuck" and health.json()["faults"] == ["printer_stuck"]
            screen = kiosk.state()
            assert screen["ticket"]["code"] == r1["code"] and screen["ticket"]["printed"] is False
            assert "Xin ghi nhớ số của bạn: " + r1["code"] in screen["message"]

            # systemd: the state is in STATUS=, and the watchdog is still pinged (the kiosk serves)
            at_status, status = notify.wait(lambda _at, m: "STATUS=máy in: bị treo" in m, 10, "STATUS with the fault")
            notify.wait(lambda at, m: m == "WATCHDOG=1" and at > at_status, 10, "a ping after it")
            assert "printer stuck" in status

            t4 = time.monotonic()
            r4 = kiosk.press("1")
            t_next = time.monotonic()
            assert (r4["verdict"], r4["printed"], r4["fault"]) == ("issue", False, "stuck"), r4
            assert r4["code"] != r1["code"]
            assert kiosk.stop() == 0
            print(f"\nkiosk process, job_timeout_s={DEFAULT_DEADLINE_S}: press -> answer (not printed) "
                  f"{t_fault - t1:.2f} s; /healthz stuck at {t_health - t1:.2f} s; presses 2 and 3 answered "
                  f"(no ticket, why) at {t_answers - t1:.2f} s; next press -> number {t_next - t4:.3f} s; "
                  f"STATUS= at {at_status - t1:.2f} s")
        finally:
            pool.shutdown(wait=False)
            kiosk.stop()
            notify.close()
