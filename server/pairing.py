"""Pairing a new wall display (or a counter's rating tablet, ``/rate``) from the director's
dashboard, without typing a token.

1. A screen that has no device token opens ``/display``: it asks for a pairing code
   (``POST /api/v1/pairing``) and shows it in large digits ("Mã ghép nối 482 913").
2. The director opens the dashboard, enters the code, a name and the site
   (``POST /api/v1/pairing/approve``): the server registers a display device.
3. The screen, which asks every few seconds (``POST /api/v1/pairing/<id>/poll`` with its own
   secret), receives its device token once, keeps it and connects.

Codes live ten minutes, in memory (a server restart only means the screen shows a new code);
one address holds at most a few at a time. Only the screen that asked for a code can collect
its token: the code alone, read off the screen, is not enough.
"""
from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass

from qms_common.clock import Clock
from qms_common.errors import LimitReached, NotFound

CODE_TTL_S = 600
PER_ADDRESS = 3
MAX_ACTIVE = 50


@dataclass
class _Request:
    id: str
    code: str
    secret: str
    address: str
    expires_at: float
    token: str | None = None
    device: str | None = None


class Pairing:
    def __init__(self, auth, clock: Clock) -> None:
        self.auth = auth
        self.clock = clock
        self._lock = threading.Lock()
        self._requests: dict[str, _Request] = {}

    def _expire(self) -> None:
        now = self.clock.now()
        for rid in [r.id for r in self._requests.values() if r.expires_at <= now]:
            del self._requests[rid]

    def start(self, address: str) -> dict:
        """A screen asks for a code to show."""
        with self._lock:
            self._expire()
            mine = [r for r in self._requests.values() if r.address == address and r.token is None]
            if len(mine) >= PER_ADDRESS or len(self._requests) >= MAX_ACTIVE:
                raise LimitReached("Có quá nhiều mã ghép nối đang chờ; xin thử lại sau vài phút; too many pairing "
                                   "codes waiting: try again in a few minutes")
            codes = {r.code for r in self._requests.values()}
            code = f"{secrets.randbelow(10**6):06d}"
            while code in codes:
                code = f"{secrets.randbelow(10**6):06d}"
            req = _Request(secrets.token_urlsafe(12), code, secrets.token_urlsafe(24), address,
                           self.clock.now() + CODE_TTL_S)
            self._requests[req.id] = req
            return {"id": req.id, "code": code, "secret": req.secret, "expires_at": req.expires_at}

    def poll(self, request_id: str, secret: str) -> dict:
        """The screen asks whether its code was approved; the token is handed over once."""
        with self._lock:
            self._expire()
            req = self._requests.get(request_id)
            if req is None or not hmac.compare_digest(req.secret, secret):
                raise NotFound("Mã ghép nối đã hết hạn hoặc không có; xin lấy mã mới; pairing code expired or unknown: "
                               "ask for a new one")
            if req.token is None:
                return {"state": "waiting", "code": req.code, "expires_at": req.expires_at}
            del self._requests[request_id]
            return {"state": "paired", "token": req.token, "device": req.device}

    def approve(self, code: str, *, name: str, site: str | None, by: str, counter: int | None = None) -> dict:
        """The director enters the code shown on the screen: the screen becomes a display device,
        or, with ``counter``, that counter's rating tablet (device ``rate-<counter>``, kind counter)."""
        code = "".join(ch for ch in code if ch.isdigit())
        with self._lock:
            self._expire()
            req = next((r for r in self._requests.values() if r.code == code and r.token is None), None)
            if req is None:
                raise NotFound(f"Không có màn hình nào đang hiện mã {code or '(trống)'}: kiểm tra lại mã trên màn "
                               f"hình (mã đổi sau 10 phút); no screen shows this code", code=code)
            if counter is None:
                device, kind = f"display-{secrets.token_hex(3)}", "display"
            else:
                device, kind = f"rate-{counter}", "counter"  # a new tablet at a counter replaces the old one
            req.token = self.auth.add_device(device, kind, name=name, site=site)
            req.device = device
            return {"device": device, "name": name, "site": site, "approved_by": by}
