"""Sign-in: wrong passwords are throttled per user name and per address with a growing delay,
recorded in the audit table and answered with a clear Vietnamese message; password checks are
bounded in memory (parameters and concurrency); unknown user names cost the same as known ones."""
from __future__ import annotations

import threading

import pytest
from argon2 import PasswordHasher, profiles

from qms_common.errors import Unauthorized
from server.app import create_app
from server.auth import Auth, LoginThrottled
from server.login_throttle import LoginThrottle, ThrottlePolicy
from server.passwords import STANDARD, Passwords, ServerBusy
from server.settings import ServerSettings

GOOD = "matkhau-123"


@pytest.fixture
def app(tmp_path, clock, center):
    app = create_app(ServerSettings(state_dir=str(tmp_path), password_profile="cheapest-for-tests"), center=center,
                     clock=clock)
    app.extensions["qms"].auth.add_user("lan", "Lan", "clerk", GOOD)
    return app


def _login(app, username, password, address="192.168.1.21"):
    return app.test_client().post("/api/v1/auth/login", json={"username": username, "password": password},
                                  environ_base={"REMOTE_ADDR": address})


def test_wrong_passwords_for_one_user_bring_a_growing_delay(app, clock):
    for _ in range(5):  # five free mistakes
        assert _login(app, "lan", "sai-mat-khau").status_code == 401
    assert _login(app, "lan", "sai-mat-khau").status_code == 401  # the sixth imposes 1 s
    r = _login(app, "lan", GOOD)  # even the right password waits
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert r.json["error"] == "login_throttled"
    assert r.json["message"].startswith("Đăng nhập sai quá nhiều lần: vui lòng thử lại sau 1 giây")
    delays = []
    for _ in range(4):
        clock.advance(delays[-1] if delays else 1)
        assert _login(app, "lan", "sai-mat-khau").status_code == 401
        delays.append(int(_login(app, "lan", "sai-mat-khau").headers["Retry-After"]))
    assert delays == [2, 4, 8, 16]
    # from another office PC the user name is just as locked
    assert _login(app, "lan", GOOD, address="192.168.1.99").status_code == 429
    clock.advance(16)
    assert _login(app, "lan", GOOD).status_code == 200
    assert _login(app, "lan", "sai-mat-khau").status_code == 401  # the count started again


def test_many_user_names_from_one_address_are_throttled_too(app, clock):
    for i in range(20):
        assert _login(app, f"nguoi-{i}", "x", address="10.0.0.66").status_code == 401
    assert _login(app, "nguoi-20", "x", address="10.0.0.66").status_code == 401  # the 21st imposes the delay
    assert _login(app, "lan", GOOD, address="10.0.0.66").status_code == 429
    assert _login(app, "lan", GOOD, address="10.0.0.12").status_code == 200  # another desk is not blocked


def test_failures_and_throttling_are_in_the_audit_log(app, clock):
    for _ in range(6):
        _login(app, "lan", "sai-mat-khau")
    _login(app, "ai-do", "x")
    log = app.extensions["qms"].auth.audit_log()
    assert [e["type"] for e in log] == ["login_failed"] * 6 + ["login_throttled", "login_failed"]
    assert log[0]["username"] == "lan" and log[0]["address"] == "192.168.1.21" and log[0]["data"]["known"] is True
    assert log[6]["data"]["wait_s"] == 1
    assert log[-1]["username"] == "ai-do" and log[-1]["data"]["known"] is False
    events = app.extensions["qms"].engine.events_after(0)
    assert not [e for e in events if "login" in e["type"]]  # not in the queue's events (screens, replay)


class CountingHasher(PasswordHasher):
    """The real (cheapest) Argon2, counting and optionally holding each verification."""

    def __init__(self) -> None:
        p = profiles.CHEAPEST
        super().__init__(time_cost=p.time_cost, memory_cost=p.memory_cost, parallelism=p.parallelism,
                         hash_len=p.hash_len, salt_len=p.salt_len)
        self.verified = 0
        self.threads: set[str] = set()
        self.inside = 0
        self.max_inside = 0
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()

    def verify(self, hash, password):  # noqa: A002 - the library's parameter name
        with self._lock:
            self.verified += 1
            self.threads.add(threading.current_thread().name)
            self.inside += 1
            self.max_inside = max(self.max_inside, self.inside)
        try:
            assert self.gate.wait(30), "the test never opened the gate"
            return super().verify(hash, password)
        finally:
            with self._lock:
                self.inside -= 1


@pytest.fixture
def counted(store, clock):
    hasher = CountingHasher()
    auth = Auth(store, clock, passwords=Passwords(hasher, concurrency=2, wait_s=30))
    auth.add_user("lan", "Lan", "clerk", GOOD)
    return auth, hasher


def test_an_unknown_user_name_costs_the_same_check_as_a_known_one(counted):
    auth, hasher = counted
    with pytest.raises(Unauthorized) as unknown:
        auth.login("khong-co-ai", GOOD)
    assert hasher.verified == 1
    with pytest.raises(Unauthorized) as known:
        auth.login("lan", "sai-mat-khau")
    assert hasher.verified == 2
    assert unknown.value.message == known.value.message
    auth.deactivate("user", "lan")
    with pytest.raises(Unauthorized):
        auth.login("lan", GOOD)
    assert hasher.verified == 3


def test_at_most_two_password_checks_run_at_once(counted):
    auth, hasher = counted
    hasher.gate.clear()
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(auth.login("lan", GOOD)[1].id)) for _ in range(16)]
    for t in threads:
        t.start()
    slots = auth.passwords.slots
    assert slots.wait_until(lambda s: s.inside == 2 and s.waiting == 14, 30), (slots.inside, slots.waiting)
    assert hasher.inside == 2
    hasher.gate.set()
    for t in threads:
        t.join(30)
    assert results == ["lan"] * 16 and hasher.max_inside == 2
    # computed on two dedicated threads, never on the 16 request threads: at most two malloc
    # arenas ever hold Argon2's memory (server/passwords.py)
    assert len(hasher.threads) == 2 and all(n.startswith("qms-argon2") for n in hasher.threads)


def test_a_sign_in_that_finds_no_free_check_gets_a_clear_busy_answer(store, clock):
    hasher = CountingHasher()
    auth = Auth(store, clock, passwords=Passwords(hasher, concurrency=1, wait_s=0.2))
    auth.add_user("lan", "Lan", "clerk", GOOD)
    hasher.gate.clear()
    first = threading.Thread(target=lambda: auth.login("lan", GOOD))
    first.start()
    assert auth.passwords.slots.wait_until(lambda s: s.inside == 1, 10)
    with pytest.raises(ServerBusy) as busy:
        auth.login("lan", GOOD)
    assert busy.value.http_status == 503 and busy.value.message.startswith("Máy chủ đang bận")
    hasher.gate.set()
    first.join(10)


def test_new_hashes_fit_a_small_pi_and_old_hashes_still_verify_and_are_upgraded(store, clock):
    auth = Auth(store, clock)
    h = auth.passwords.hasher
    assert (h.memory_cost, h.time_cost, h.parallelism) == (STANDARD["memory_cost"], 2, 1)
    assert h.memory_cost <= 19 * 1024  # KiB: two at once stay under 40 MiB
    old = PasswordHasher()  # argon2-cffi's default, the parameters of earlier versions: 64 MiB
    auth.add_user("lan", "Lan", "clerk", GOOD)
    with store.write() as conn:
        conn.execute("UPDATE users SET password_hash = ? WHERE username = 'lan'", (old.hash(GOOD),))
    auth.login("lan", GOOD)
    stored = store.conn().execute("SELECT password_hash FROM users WHERE username = 'lan'").fetchone()[0]
    assert "m=19456,t=2,p=1" in stored
    auth.login("lan", GOOD)  # and the new hash works


# --- the throttle's rule on its own -------------------------------------------------------------

def test_throttle_delays_double_up_to_the_cap_and_are_forgotten(clock):
    throttle = LoginThrottle(clock, ThrottlePolicy(free_per_user=2, first_delay_s=1, max_delay_s=5,
                                                   forget_after_s=600))
    imposed = [throttle.failed("lan", None) for _ in range(7)]
    assert imposed == [0, 0, 1, 2, 4, 5, 5]
    assert throttle.wait_s("LAN ", None) == 5  # user names compare as typed by people
    clock.jump(-3600)  # the wall clock steps back: the lock is on monotonic time, unchanged
    assert throttle.wait_s("lan", None) == 5
    clock.advance(601)
    assert throttle.wait_s("lan", None) == 0 and throttle.failed("lan", None) == 0


def test_throttle_memory_is_bounded(clock):
    throttle = LoginThrottle(clock, ThrottlePolicy(max_keys=100))
    for i in range(1000):
        throttle.failed(f"random-{i}", f"10.0.{i // 250}.{i % 250}")
    assert len(throttle) == 100


def test_login_throttled_message(clock):
    exc = LoginThrottled(2.2)
    assert exc.http_status == 429 and exc.details["retry_after_s"] == 3 and "3 giây" in exc.message


def test_the_login_settings_apply(tmp_path, clock, center):
    from server.settings import LoginSettings
    app = create_app(ServerSettings(state_dir=str(tmp_path), password_profile="cheapest-for-tests",
                                    login=LoginSettings(free_failures_per_user=2, first_delay_s=30,
                                                        hash_concurrency=3)), center=center, clock=clock)
    app.extensions["qms"].auth.add_user("lan", "Lan", "clerk", GOOD)
    assert [_login(app, "lan", "x").status_code for _ in range(3)] == [401, 401, 401]
    r = _login(app, "lan", GOOD)
    assert r.status_code == 429 and r.headers["Retry-After"] == "30"
    assert app.extensions["qms"].auth.passwords.slots.size == 3
