"""The center server's REST API, as the robot uses it: issuing a ticket for a citizen.

``POST /api/v1/tickets {service, priority, client_ref}`` with the robot's device token
(``Authorization: Bearer``). The ``client_ref`` is derived from the task id, so a retry
after a lost answer, or a command delivered twice, returns the same ticket, never a
second one.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import requests

log = logging.getLogger(__name__)


class ApiError(RuntimeError):
    """The ticket was not issued; the message is "Vietnamese; English"."""


@dataclass(frozen=True)
class IssuedTicket:
    id: str
    code: str
    service: str
    people_ahead: int | None


def client_ref_for(device: str, task_id: str) -> str:
    ref = f"{device}-{task_id}"
    if 8 <= len(ref) <= 64:
        return ref
    return f"{device[:20]}-{hashlib.sha256(ref.encode()).hexdigest()[:32]}"


class TicketApi:
    def __init__(self, base_url: str, token: str | None, timeout_s: float = 5.0, attempts: int = 2) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self.attempts = attempts

    def issue(self, service: str, priority: bool, client_ref: str) -> IssuedTicket:
        if not self.token:
            raise ApiError("Robot chưa có mã thiết bị (token); no device token configured")
        body = {"service": service, "priority": priority, "client_ref": client_ref}
        headers = {"Authorization": f"Bearer {self.token}"}
        last = ""
        for attempt in range(1, self.attempts + 1):
            try:
                response = requests.post(f"{self.base_url}/api/v1/tickets", json=body, headers=headers,
                                         timeout=self.timeout_s)
            except requests.RequestException as exc:
                last = f"{type(exc).__name__}"
                log.warning("ticket request %d/%d failed: %s", attempt, self.attempts, exc)
                continue
            if response.status_code in (200, 201):
                data = response.json()
                return IssuedTicket(str(data["id"]), str(data["code"]), str(data["service"]),
                                    data.get("people_ahead"))
            raise ApiError(self._refusal(response))
        raise ApiError(f"Không kết nối được máy chủ; server unreachable ({last})")

    @staticmethod
    def _refusal(response: requests.Response) -> str:
        try:
            data = response.json()
            message = str(data.get("message") or data.get("error") or "")
        except ValueError:
            message = ""
        return (message or f"Máy chủ từ chối; HTTP {response.status_code}")[:200]
