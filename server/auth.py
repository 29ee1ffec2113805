"""Who is asking: clerks, directors and admins sign in with a password (Argon2 hashes);
kiosks, displays, robots and counter devices carry a per-device token.

Tokens are random and only their SHA-256 is stored, so a stolen database holds no usable
credential. Sessions expire (``session_hours``)."""
from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import secrets
from dataclasses import dataclass

from qms_common.clock import Clock
from qms_common.errors import Conflict, LimitReached, NotFound, QmsError, Unauthorized

from .login_throttle import LoginThrottle, ThrottlePolicy
from .passwords import Passwords
from .store import Store

log = logging.getLogger(__name__)

USER_ROLES = ("clerk", "director", "admin")
DEVICE_KINDS = ("kiosk", "display", "robot", "counter", "announcer", "satellite")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")


@dataclass(frozen=True)
class Principal:
    kind: str  # "user" or "device"
    id: str
    role: str  # a user role, or the device kind
    name: str
    site: str | None = None

    @property
    def label(self) -> str:
        return f"{self.role}:{self.id}"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LoginThrottled(LimitReached):
    code = "login_throttled"

    def __init__(self, wait_s: float) -> None:
        seconds = max(1, math.ceil(wait_s))
        super().__init__(f"Đăng nhập sai quá nhiều lần: vui lòng thử lại sau {seconds} giây; too many failed "
                         f"sign-ins: try again in {seconds} s", retry_after_s=seconds)


class Auth:
    def __init__(self, store: Store, clock: Clock, session_hours: float = 12, *,
                 password_profile: str = "standard", passwords: Passwords | None = None,
                 throttle: LoginThrottle | None = None) -> None:
        self.store = store
        self.clock = clock
        self.session_s = session_hours * 3600
        # bounded Argon2id (server/passwords.py): 19 MiB per check, at most two at once
        self.passwords = passwords if passwords is not None else Passwords.for_profile(password_profile)
        self.throttle = throttle if throttle is not None else LoginThrottle(clock, ThrottlePolicy())

    # users ----------------------------------------------------------------------------
    def add_user(self, username: str, full_name: str, role: str, password: str) -> None:
        if not _NAME_RE.match(username):
            raise QmsError(f"invalid username {username!r}: 2-40 lower-case letters, digits, '.', '_' or '-'")
        if role not in USER_ROLES:
            raise QmsError(f"invalid role {role!r}: one of {', '.join(USER_ROLES)}")
        if len(password) < 8:
            raise QmsError("password too short: at least 8 characters")
        hashed = self.passwords.hash(password)  # outside the write lock: it takes a while
        with self.store.write() as conn:
            if conn.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
                conn.execute("UPDATE users SET full_name = ?, role = ?, password_hash = ?, active = 1 "
                             "WHERE username = ?", (full_name, role, hashed, username))
            else:
                conn.execute("INSERT INTO users VALUES (?,?,?,?,1,?)",
                             (username, full_name, role, hashed, self.clock.now()))

    def login(self, username: str, password: str, address: str | None = None) -> tuple[str, Principal, float]:
        """Sign in. Wrong passwords are throttled per user name and per source address
        (server/login_throttle.py) and recorded in the audit table; an unknown or inactive user
        name costs the same hash check as a known one."""
        wait = self.throttle.wait_s(username, address)
        if wait > 0:
            raise LoginThrottled(wait)
        row = self.store.conn().execute("SELECT * FROM users WHERE username = ? AND active = 1",
                                        (username,)).fetchone()
        if not self.passwords.verify(row["password_hash"] if row else None, password):
            imposed = self.throttle.failed(username, address)
            self.audit("login_failed", username, address, known=row is not None)
            if imposed > 0:
                self.audit("login_throttled", username, address, wait_s=imposed)
                log.warning("sign-in for %r from %s throttled for %.0f s after repeated failures",
                            username[:40], address, imposed)
            raise Unauthorized("Sai tên đăng nhập hoặc mật khẩu; wrong username or password")
        self.throttle.succeeded(username)
        token = secrets.token_urlsafe(32)
        expires = self.clock.now() + self.session_s
        rehashed = self.passwords.hash(password) if self.passwords.needs_rehash(row["password_hash"]) else None
        with self.store.write() as conn:
            conn.execute("INSERT INTO sessions VALUES (?,?,?,?)", (_digest(token), username, self.clock.now(), expires))
            conn.execute("DELETE FROM sessions WHERE expires_at < ?", (self.clock.now(),))
            if rehashed:  # an old hash (older parameters): brought up to date now that we know the password
                conn.execute("UPDATE users SET password_hash = ? WHERE username = ?", (rehashed, username))
        return token, Principal("user", username, row["role"], row["full_name"]), expires

    def audit(self, type_: str, username: str | None, address: str | None, **data) -> None:
        with self.store.write() as conn:
            conn.execute("INSERT INTO audit (at, type, username, address, data) VALUES (?,?,?,?,?)",
                         (self.clock.now(), type_, (username or "")[:40] or None, address,
                          json.dumps(data, ensure_ascii=False, sort_keys=True)))

    def audit_log(self, limit: int = 100) -> list[dict]:
        rows = self.store.conn().execute("SELECT * FROM audit ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        return [{**dict(r), "data": json.loads(r["data"])} for r in reversed(rows)]

    def logout(self, token: str) -> None:
        with self.store.write() as conn:
            conn.execute("DELETE FROM sessions WHERE token_hash = ?", (_digest(token),))

    # devices ----------------------------------------------------------------------------
    def add_device(self, device_id: str, kind: str, name: str = "", site: str | None = None) -> str:
        """Register a device (or give it a new token); returns the token, shown once."""
        if not _NAME_RE.match(device_id):
            raise QmsError(f"invalid device id {device_id!r}: 2-40 lower-case letters, digits, '.', '_' or '-'")
        if kind not in DEVICE_KINDS:
            raise QmsError(f"invalid device kind {kind!r}: one of {', '.join(DEVICE_KINDS)}")
        token = secrets.token_urlsafe(32)
        with self.store.write() as conn:
            row = conn.execute("SELECT kind FROM devices WHERE id = ?", (device_id,)).fetchone()
            if row and row["kind"] != kind:
                raise Conflict(f"device {device_id} is already registered as a {row['kind']}")
            conn.execute("INSERT INTO devices VALUES (?,?,?,?,?,1,?) ON CONFLICT (id) DO UPDATE SET "
                         "token_hash = excluded.token_hash, name = excluded.name, site = excluded.site, active = 1",
                         (device_id, kind, name or device_id, site, _digest(token), self.clock.now()))
        return token

    def devices(self) -> list[dict]:
        return [dict(r) for r in self.store.conn().execute(
            "SELECT id, kind, name, site, active, created_at FROM devices ORDER BY kind, id").fetchall()]

    def users(self) -> list[dict]:
        return [dict(r) for r in self.store.conn().execute(
            "SELECT username, full_name, role, active FROM users ORDER BY username").fetchall()]

    def deactivate(self, what: str, ident: str) -> None:
        table, key = {"user": ("users", "username"), "device": ("devices", "id")}[what]
        with self.store.write() as conn:
            if conn.execute(f"UPDATE {table} SET active = 0 WHERE {key} = ?", (ident,)).rowcount == 0:
                raise NotFound(f"no {what} {ident!r}")
            if what == "user":
                conn.execute("DELETE FROM sessions WHERE username = ?", (ident,))

    # requests ---------------------------------------------------------------------------
    def authenticate(self, token: str | None) -> Principal | None:
        if not token:
            return None
        digest = _digest(token)
        conn = self.store.conn()
        row = conn.execute("SELECT u.username, u.full_name, u.role, s.expires_at FROM sessions s "
                           "JOIN users u ON u.username = s.username WHERE s.token_hash = ? AND u.active = 1",
                           (digest,)).fetchone()
        if row is not None:
            if row["expires_at"] < self.clock.now():
                return None
            return Principal("user", row["username"], row["role"], row["full_name"])
        row = conn.execute("SELECT id, kind, name, site FROM devices WHERE token_hash = ? AND active = 1",
                           (digest,)).fetchone()
        if row is not None:
            return Principal("device", row["id"], row["kind"], row["name"], row["site"])
        return None
