"""``qms replicate``: a standalone site ships its event log to the main center.

The satellite's own database is the queue: nothing is kept anywhere else, so nothing can
overflow or be lost while the link is down for hours, and a satellite killed at any moment
resumes from the truth. The replicator asks the main center how far it has this site's
events (``GET /api/v1/sites/<site>/events/cursor``), then sends the events after that, in
order, in batches of ``batch`` events and at most 48 KiB (``POST /api/v1/sites/<site>/events``);
the main center applies each once (server/satellite/mirror.py) and answers where to go on
from. Every request has a connect and a read timeout (a link that accepts the connection but
never answers is given up after ``read_timeout_s``); failures are retried by tenacity with
waits doubling up to ``retry_max_s``. A refusal that retrying cannot cure (a wrong token,
a site the main center does not know as standalone) stops the program with the main center's
message (systemd restarts it later, the unit's ``RestartSec``).
"""
from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_never, wait_exponential

from qms_common.errors import QmsError

from ..settings import SatelliteSettings
from ..store import Store

log = logging.getLogger(__name__)
MAX_BATCH_BYTES = 48 * 1024  # under the main server's 64 KiB body limit (server/api/guard.py)


class LinkDown(QmsError):
    """The main center cannot be reached now, or answered with a server error: retry."""

    code = "link_down"
    http_status = 503


class Refused(QmsError):
    """The main center refused the satellite (token, site): retrying will not help."""

    code = "replication_refused"


class Replicator:
    def __init__(self, store: Store, settings: SatelliteSettings, token: str, *,
                 session: requests.Session | None = None) -> None:
        self.store = store
        self.settings = settings
        self.base = settings.main_url.rstrip("/") + f"/api/v1/sites/{settings.site}/events"
        self.session = session or requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.timeout = (settings.connect_timeout_s, settings.read_timeout_s)
        self.stopping = threading.Event()
        self.through: int | None = None  # the main center's cursor, as last heard
        self.shipped = 0
        self.last_error: str | None = None

    # --- one request each ------------------------------------------------------------------
    def _request(self, method: str, url: str, **kw) -> dict:
        try:
            r = self.session.request(method, url, timeout=self.timeout, **kw)
        except requests.RequestException as exc:
            raise LinkDown(f"Không liên lạc được trung tâm chính; the main center cannot be reached "
                           f"({type(exc).__name__}: {exc})") from exc
        if r.status_code >= 500 or r.status_code in (408, 429):
            raise LinkDown(f"Trung tâm chính chưa nhận (HTTP {r.status_code}); the main center answered "
                           f"{r.status_code}: {r.text[:200]}")
        if r.status_code != 200:
            try:
                message = r.json().get("message", r.text[:300])
            except ValueError:
                message = r.text[:300]
            raise Refused(f"Trung tâm chính từ chối ({r.status_code}): {message}", status=r.status_code)
        return r.json()

    def cursor(self) -> int:
        return int(self._request("GET", self.base + "/cursor")["through"])

    def pending(self, after: int) -> list[dict]:
        """The next batch after seq ``after``: at most ``batch`` events and MAX_BATCH_BYTES."""
        rows = self.store.conn().execute(
            "SELECT seq, at, type, ticket_id, counter, actor, device, data FROM events WHERE seq > ? "
            "ORDER BY seq LIMIT ?", (after, self.settings.batch)).fetchall()
        out, size = [], 0
        for r in rows:
            event = {**dict(r), "data": json.loads(r["data"])}
            size += len(json.dumps(event, ensure_ascii=False).encode("utf-8")) + 2
            if out and size > MAX_BATCH_BYTES:
                break
            out.append(event)
        return out

    def ship(self, events: list[dict]) -> dict:
        return self._request("POST", self.base, json={"events": events})

    # --- catching up -----------------------------------------------------------------------
    def sync(self) -> int:
        """Send everything not yet at the main center; answer how many events were applied.
        Raises LinkDown when the link fails on the way (what was acknowledged stays so)."""
        if self.through is None:
            self.through = self.cursor()
        applied = 0
        while not self.stopping.is_set():
            batch = self.pending(self.through)
            if not batch:
                break
            answer = self.ship(batch)
            applied += answer["applied"]
            if answer["through"] < self.through:  # the main center's database was replaced
                log.warning("main center is at %d, behind %d: sending again from there", answer["through"],
                            self.through)
            self.through = answer["through"]
            if answer["applied"] == 0 and answer.get("gap_at") is None and answer["through"] < batch[-1]["seq"]:
                raise LinkDown("main center applied nothing")  # cannot happen; never spin on it
        self.shipped += applied
        self.last_error = None
        return applied

    def _on_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        self.last_error = str(exc)
        self.through = None  # ask the main center again after a failure
        log.warning("link to the main center down (%s); retry %d in %.1f s", exc, state.attempt_number,
                    state.next_action.sleep if state.next_action else 0)

    def run(self) -> None:
        """Until ``stopping`` is set: catch up, then look for new events every ``poll_s``."""
        retrying = Retrying(retry=retry_if_exception_type(LinkDown), stop=stop_never, reraise=True,
                            wait=wait_exponential(multiplier=0.5, min=0.5, max=self.settings.retry_max_s),
                            sleep=self.stopping.wait, before_sleep=self._on_retry)
        while not self.stopping.is_set():
            n = retrying(self.sync)
            if n:
                log.info("%d events applied at the main center (through seq %s)", n, self.through)
            self.stopping.wait(self.settings.poll_s)

    # the Service protocol of qms_common.service_cli ------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._guarded, name="replicator", daemon=True)
        self._thread.start()

    def _guarded(self) -> None:
        try:
            self.run()
        except Refused as exc:
            self.fatal = exc
            log.error("%s", exc.message)
            self.stopping.set()

    def healthy(self) -> bool:
        return getattr(self, "fatal", None) is None

    def stop(self) -> None:
        self.stopping.set()
        thread = getattr(self, "_thread", None)
        if thread is not None:
            thread.join(self.settings.read_timeout_s + self.settings.connect_timeout_s + 5)


def read_token(path: str | Path) -> str:
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise QmsError(f"Không đọc được tệp mã thiết bị {path}: {exc.strerror}; cannot read the satellite's token "
                       f"file {path}") from exc
    if not token:
        raise QmsError(f"Tệp mã thiết bị {path} trống; the token file {path} is empty")
    return token
