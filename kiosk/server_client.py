"""The kiosk's calls to the center server's REST API, each with a hard timeout.

Every failure is sorted into one of two kinds, because the kiosk acts on the difference:

- :class:`Unreachable`: no usable answer in time (connection refused, timeout, DNS, a 5xx,
  a body that is not the JSON we expect, a 401/403 after a token mix-up). The kiosk treats
  the server as absent: it issues the ticket itself, or keeps the item in the outbox.
- :class:`Refused`: the server answered and said no for a reason that holds (unknown
  service, center closed, daily cap reached, a number outside our blocks). Issuing offline
  would not help; the kiosk shows the message, or sets the outbox item aside.

One :class:`ServerClient` per thread (a ``requests.Session`` is not shared across threads).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import requests

log = logging.getLogger(__name__)


class ServerError(Exception):
    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class Unreachable(ServerError):
    """No usable answer: behave as if the server were not there."""


class Refused(ServerError):
    """A real answer that says no; ``message`` is the server's (Vietnamese first)."""


@dataclass(frozen=True)
class IssuedOnline:
    ticket_id: str
    code: str
    service: str
    priority: bool
    issued_at: float
    people_ahead: int | None
    estimated_wait_s: float | None
    status_url: str | None
    estimated_wait_range_s: tuple[float, float] | None = None
    # the server's words for it ("khoảng 10–15 phút", or "may not be served today"), Vietnamese and English
    estimated_wait_text: tuple[str, str] | None = None


#: Statuses that mean "this request will never succeed as it is".
_REFUSALS = {400, 404, 409, 410, 413, 422, 429}


def _opt_words(vi: Any, en: Any) -> tuple[str, str] | None:
    """The server's words for the estimate, if it sent sound ones (a short line of text)."""
    if isinstance(vi, str) and 0 < len(vi.strip()) <= 80:
        return vi.strip(), en.strip() if isinstance(en, str) and len(en) <= 80 else ""
    return None


def _opt_range(value: Any) -> tuple[float, float] | None:
    """The estimate's 80% interval, if the server sent a sound one (older servers do not)."""
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in value):
        return float(value[0]), float(value[1])
    return None


class ServerClient:
    def __init__(self, base_url: str, token: str, *, timeout_s: float, user_agent: str = "qms-kiosk") -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._session = requests.Session()
        self._session.headers.update({"Authorization": f"Bearer {token}", "User-Agent": user_agent})

    def close(self) -> None:
        self._session.close()

    def _post(self, path: str, body: dict[str, Any], timeout_s: float | None = None, *,
              forbidden_is_refusal: bool = False) -> dict[str, Any]:
        """POST and return the JSON object; raise :class:`Unreachable` or :class:`Refused`.

        A 401 or 403 is a kiosk whose token is wrong or withdrawn: the citizen still gets a
        number (Unreachable) and the outbox keeps it until an installer fixes the token.
        Only the hand-over's 403 ("not in a block reserved by this kiosk") is final.
        """
        timeout = timeout_s or self.timeout_s
        try:
            # (connect, read): each is bounded; our answers are small, so this bounds the call
            response = self._session.post(self.base_url + path, json=body, timeout=(timeout, timeout))
        except requests.RequestException as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from None
        status = response.status_code
        refusal = status in _REFUSALS or (forbidden_is_refusal and status == 403)
        if not refusal and not 200 <= status < 300:
            raise Unreachable(f"HTTP {status} from {path}", status)
        try:
            data = response.json()
        except ValueError:
            raise Unreachable(f"HTTP {status} from {path}: not JSON", status) from None
        if not isinstance(data, dict):
            raise Unreachable(f"HTTP {status} from {path}: not a JSON object", status)
        if refusal:
            raise Refused(str(data.get("message") or f"HTTP {status}"), status, str(data.get("error") or ""))
        return data

    # --- the calls ----------------------------------------------------------------------------
    def issue(self, service: str, priority: bool, client_ref: str, site: str | None) -> IssuedOnline:
        body: dict[str, Any] = {"service": service, "priority": priority, "client_ref": client_ref}
        if site:
            body["site"] = site
        data = self._post("/api/v1/tickets", body)
        try:
            return IssuedOnline(
                ticket_id=_str(data, "id"), code=_str(data, "code"), service=_str(data, "service"),
                priority=bool(data.get("priority", priority)), issued_at=float(data["issued_at"]),
                people_ahead=_opt_int(data.get("people_ahead")),
                estimated_wait_s=_opt_float(data.get("estimated_wait_s")),
                status_url=data.get("status_url") if isinstance(data.get("status_url"), str) else None,
                estimated_wait_range_s=_opt_range(data.get("estimated_wait_range_s")),
                estimated_wait_text=_opt_words(data.get("estimated_wait_text"), data.get("estimated_wait_text_en")))
        except (KeyError, TypeError, ValueError) as exc:
            raise Unreachable(f"ticket answer is missing or has a bad field: {exc}") from None

    def reserve_block(self, service: str, size: int, timeout_s: float | None = None) -> dict[str, Any]:
        data = self._post("/api/v1/kiosk/blocks", {"service": service, "size": size}, timeout_s)
        try:
            block = {"day": _str(data, "day"), "service": _str(data, "service"), "prefix": _str(data, "prefix"),
                     "first": int(data["first"]), "last": int(data["last"])}
        except (KeyError, TypeError, ValueError) as exc:
            raise Unreachable(f"block answer is missing or has a bad field: {exc}") from None
        tokens = data.get("tokens")
        # one status token per number (a server from before them sends none: the QR then uses the client_ref)
        if (isinstance(tokens, list) and len(tokens) == block["last"] - block["first"] + 1
                and all(isinstance(t, str) and 16 <= len(t) <= 64 for t in tokens)):
            block["tokens"] = tokens
        return block

    def hand_over(self, payload: dict[str, Any], timeout_s: float | None = None) -> dict[str, Any]:
        return self._post("/api/v1/kiosk/offline-tickets", payload, timeout_s, forbidden_is_refusal=True)

    def print_result(self, ticket_id: str, printed: bool, fault: str | None,
                     timeout_s: float | None = None) -> dict[str, Any]:
        return self._post(f"/api/v1/tickets/{ticket_id}/print-result", {"printed": printed, "fault": fault},
                          timeout_s)


def _str(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} is not a string")
    return value


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)
