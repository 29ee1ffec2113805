"""Live screens over Socket.IO (Flask-SocketIO: gevent under `qms serve`, threading in-process).

Who may connect (the ``auth`` payload of the socket.io handshake):

* ``{"token": ...}``: a display (or any screen device) token, or a signed-in user's session
  token; without ``token`` the ``qms_token`` session cookie of the handshake is used.
  Optional ``site`` (a site id) and ``counters`` (a list of counter numbers) bind a display;
  a device registered to a site is always bound to that site.
* ``{"status": <status token>}``: a citizen's phone; it joins only its own ticket's room. The
  token of a ticket printed offline and not handed over yet is accepted too: the phone hears
  ``pending`` until the ticket arrives, then its status, without a reload.

Anything else is refused with ``ConnectionRefusedError`` and logged.

Rooms: ``center:<center>`` (every screen: ticket events, ``devices``), ``view:<center>:<site>``
or ``view:<center>:*`` (screen snapshots for a site / all sites), ``display:<device>`` (one
device) and ``ticket:<ticket id>`` (one citizen).

Ordering: every engine event has a database sequence number. Events are broadcast in
sequence order under one lock, filling any gap from the event log, so clients see
``seq`` rise by one; a client that sees a gap (it was offline) asks for a ``resync``.
Every connect sends a full snapshot with its ``seq`` (a screen's: the last one pushed to its view,
then every event since, in order: ``server/realtime_connect.py``); since ``seq`` lives in the
database a server restart resets nothing. Derived figures (waiting counts, estimates, citizens'
places in line) follow each burst of events as a coalesced snapshot push, paced and yielding
(``server/realtime_push.py``); the events themselves are never held back.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, request
from flask_socketio import ConnectionRefusedError, SocketIO, emit, join_room, leave_room

from .api.context import SCREENS, TOKEN_COOKIE
from .auth import Auth, Principal
from .engine import Engine
from .realtime_connect import SnapshotKeeper, snapshot_for_connect
from .realtime_push import FORECAST_EVERY_S, Pusher
from .realtime_views import citizen_status, device_list, pending_status, screen_event, screen_snapshot, status_fingerprint

log = logging.getLogger(__name__)

MANAGERS = ("director", "admin")
ALL_SITES = "*"
MAX_GAP_FILL = 500  # a larger gap (another process wrote a lot) is left to the clients' resync
_AUTH_KEYS = {"token", "status", "site", "counters", "center"}


class Refused(Exception):
    """A socket request that is refused: bad payload, wrong center, not allowed."""


@dataclass
class Client:
    sid: str
    kind: str  # "screen" or "citizen"
    principal: Principal | None = None
    site: str | None = None
    counters: list[int] | None = None
    ticket_id: str | None = None
    pending_token: str | None = None  # a ticket printed offline, not handed over yet

    @property
    def is_manager(self) -> bool:
        return self.principal is not None and self.principal.role in MANAGERS


@dataclass
class _Rooms:
    center: str

    def center_room(self) -> str:
        return f"center:{self.center}"

    def view(self, site: str | None) -> str:
        return f"view:{self.center}:{site or ALL_SITES}"

    @staticmethod
    def display(device_id: str) -> str:
        return f"display:{device_id}"

    @staticmethod
    def ticket(ticket_id: str) -> str:
        return f"ticket:{ticket_id}"


@dataclass
class _Subscriptions:
    """Which views and tickets have someone watching (for the snapshot pushes)."""
    views: dict[str | None, int] = field(default_factory=dict)
    tickets: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def _add(d: dict, key: Any, n: int) -> None:
        d[key] = d.get(key, 0) + n
        if d[key] <= 0:
            del d[key]

    def add(self, client: Client, n: int = 1) -> None:
        if client.kind == "citizen" and client.pending_token:
            self._add(self.pending, client.pending_token, n)
        elif client.kind == "citizen":
            self._add(self.tickets, client.ticket_id, n)
        else:
            self._add(self.views, client.site, n)


class Realtime(Pusher):
    """The center's live hub: authenticates sockets, fans engine events out in order."""

    def __init__(self, app: Flask, socketio: SocketIO) -> None:
        services = app.extensions["qms"]
        self.app = app
        self.socketio = socketio
        self.engine: Engine = services.engine
        self.auth: Auth = services.auth
        self.config = self.engine.config
        self.rooms = _Rooms(self.config.center.id)
        self._clients: dict[str, Client] = {}
        self._subs = _Subscriptions()
        self._lock = threading.Lock()  # clients and subscriptions
        self._send_lock = threading.Lock()  # event order
        self._last_sent = self.engine.last_seq()
        self._dirty = threading.Event()
        self._worker: threading.Thread | None = None
        self._status_sent: dict[str, tuple] = {}
        self._touched: set[str] = set()  # tickets named by events since the last push
        self._stale = False  # an event may have moved someone's place in line
        self._last_full = 0.0  # monotonic time of the last refresh of every watched phone
        self._last_push = 0.0
        self._push_took = 0.0  # seconds the last push took
        self._forecast_at = -FORECAST_EVERY_S  # monotonic time of the last push with the latest state's forecast
        self._reused = False  # the last push showed the estimates of an earlier state (a burst)
        self.refused = 0  # refused requests, for tests and health
        self._sites = {s.id for s in self.config.sites}
        self._counters = {c.number: c.site for c in self.config.counters}
        self.keeper = SnapshotKeeper()  # the last snapshot pushed to each view: what a connect gets
        self._late_after_s = self.config.targets.max_wait_s  # the status page's apology shows minutes

    # --- registration ---------------------------------------------------------------------
    def register(self) -> "Realtime":
        sio = self.socketio
        sio.on_event("connect", self._on_connect)
        sio.on_event("disconnect", self._on_disconnect)
        sio.on_event("resync", self._guard(self._on_resync))
        sio.on_event("subscribe", self._guard(self._on_subscribe))
        sio.on_event("heartbeat", self._guard(self._on_heartbeat))
        sio.on_event("*", self._on_unknown)
        self.engine.add_listener(self.on_engine_event)
        self.app.extensions["qms_realtime"] = self
        return self

    # --- connect / disconnect -------------------------------------------------------------
    def _own_page(self) -> bool:
        """A handshake that borrows the session cookie must come from this center's own pages
        (browsers always send Origin on websockets and cross-origin requests)."""
        from .csrf import normalize_origin, own_origins
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        return normalize_origin(origin) in {normalize_origin(o) for o in own_origins(self.app)}

    def _refuse_connect(self, why: str, message: str) -> None:
        self.refused += 1
        log.warning("socket connect refused (%s) from %s", why, request.remote_addr)
        raise ConnectionRefusedError(message)

    def _on_connect(self, auth: Any = None) -> None:
        if auth is None:
            auth = {}
        if not isinstance(auth, dict) or not set(auth) <= _AUTH_KEYS:
            self._refuse_connect("bad auth payload", "Dữ liệu xác thực không hợp lệ; invalid auth payload")
        center = auth.get("center")
        if center is not None and center != self.config.center.id:
            self._refuse_connect(f"other center {center!r}",
                                 "Sai trung tâm; this server serves another center")
        if "status" in auth:
            self._connect_citizen(auth["status"])
        else:
            self._connect_screen(auth)
        self._start_worker()

    def _connect_citizen(self, token: Any) -> None:
        if not isinstance(token, str) or not 10 <= len(token) <= 64:
            self._refuse_connect("bad status token", "Không tìm thấy vé; no such ticket")
        ticket = self.engine.ticket_by_token(token)
        if ticket is None:
            pending = self.engine.pending_offline(token)
            if pending is None:
                self._refuse_connect("unknown status token", "Không tìm thấy vé; no such ticket")
            self._add_client(Client(request.sid, "citizen", pending_token=token))
            join_room(self._pending_room(token))
            emit("status", pending_status(self.engine, pending))
            return
        client = Client(request.sid, "citizen", ticket_id=ticket["id"])
        self._add_client(client)
        join_room(self.rooms.ticket(ticket["id"]))
        status = citizen_status(self.engine, ticket["id"])
        with self._lock:
            self._status_sent[ticket["id"]] = status_fingerprint(status, self._late_after_s)
        emit("status", status)

    def _connect_screen(self, auth: dict) -> None:
        token = auth.get("token")
        if token is not None and not isinstance(token, str):
            self._refuse_connect("bad token type", "Dữ liệu xác thực không hợp lệ; invalid auth payload")
        if not token and request.cookies.get(TOKEN_COOKIE) and not self._own_page():
            self._refuse_connect("cookie from a foreign page", "Trang khác không được dùng phiên đăng nhập; "
                                 "a page of another site may not use this sign-in")
        who = self.auth.authenticate(token or request.cookies.get(TOKEN_COOKIE))
        if who is None:
            self._refuse_connect("no valid token", "Cần đăng nhập hoặc mã thiết bị; sign in or pair this screen")
        if who.role not in SCREENS:
            self._refuse_connect(f"role {who.role}", "Vai trò không được phép; role not allowed")
        try:
            site = self._check_site(auth.get("site"), who)
            counters = self._check_counters(auth.get("counters"), site)
        except Refused as exc:
            self._refuse_connect(str(exc), str(exc))
        client = Client(request.sid, "screen", principal=who, site=site, counters=counters)
        self._add_client(client)
        # the last pushed snapshot, then every event since: no forecast per connect (realtime_connect.py)
        snap, _ = snapshot_for_connect(self.keeper, site, lambda: self._last_sent,
                                       lambda: screen_snapshot(self.engine, site))
        with self._send_lock:  # no broadcast passes until the snapshot and the events since are sent
            join_room(self.rooms.center_room())
            join_room(self.rooms.view(site))
            if who.kind == "device":
                join_room(self.rooms.display(who.id))
            upto = self._last_sent
            emit("snapshot", self._personal(snap, client))
            for e in self._logged(snap["seq"], upto):
                emit("event", screen_event(e))

    def _on_disconnect(self, *args: Any) -> None:
        with self._lock:
            client = self._clients.pop(request.sid, None)
            if client is not None:
                self._subs.add(client, -1)

    def _add_client(self, client: Client) -> None:
        with self._lock:
            old = self._clients.get(client.sid)
            if old is not None:
                self._subs.add(old, -1)
            self._clients[client.sid] = client
            self._subs.add(client)

    # --- validation -----------------------------------------------------------------------
    def _check_site(self, site: Any, who: Principal) -> str | None:
        if site is not None and (not isinstance(site, str) or site not in self._sites):
            raise Refused(f"Không có điểm tiếp nhận {site!r}; unknown site")
        if who.kind == "device" and who.site:
            if site is not None and site != who.site:
                raise Refused(f"Thiết bị thuộc điểm {who.site}; this device is registered to site {who.site}")
            return who.site
        return site

    def _check_counters(self, counters: Any, site: str | None) -> list[int] | None:
        if counters is None:
            return None
        if (not isinstance(counters, list) or not 1 <= len(counters) <= 100
                or not all(isinstance(n, int) and not isinstance(n, bool) for n in counters)):
            raise Refused("Danh sách quầy không hợp lệ; counters must be a list of numbers")
        for n in counters:
            if n not in self._counters or (site is not None and self._counters[n] != site):
                raise Refused(f"Không có quầy {n} ở điểm này; no counter {n} here")
        return counters

    def _check_center(self, payload: dict) -> None:
        center = payload.get("center")
        if center is not None and center != self.config.center.id:
            raise Refused(f"Sai trung tâm {center!r}; another center")

    # --- client events --------------------------------------------------------------------
    def _guard(self, handler):
        """Run a client event handler; a refused or broken request answers an error ack."""

        def wrapped(*args: Any):
            payload = args[0] if args else None
            client = self._clients.get(request.sid)
            try:
                if client is None:
                    raise Refused("Chưa kết nối; not connected")
                if len(args) > 1 or not isinstance(payload, dict):
                    raise Refused("Dữ liệu không hợp lệ; the payload must be one object")
                self._check_center(payload)
                return handler(client, payload)
            except Refused as exc:
                self.refused += 1
                log.warning("socket %s refused %s: %s", request.sid, handler.__name__, exc)
                return {"ok": False, "error": "refused", "message": str(exc)}
            except Exception:
                log.exception("socket handler %s failed", handler.__name__)
                return {"ok": False, "error": "internal", "message": "Lỗi máy chủ; internal error (logged)"}

        wrapped.__name__ = handler.__name__
        return wrapped

    def _on_resync(self, client: Client, payload: dict) -> dict:
        """The client saw a gap (or wants to be sure): send it a full snapshot."""
        if set(payload) - {"center", "seq"}:
            raise Refused("Dữ liệu không hợp lệ; resync takes only center and seq")
        seq = payload.get("seq")
        if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool) or seq < 0):
            raise Refused("seq phải là số nguyên không âm; seq must be a non-negative integer")
        if client.kind == "citizen":
            pending = self.engine.pending_offline(client.pending_token) if client.pending_token else None
            status = (pending_status(self.engine, pending) if pending
                      else citizen_status(self.engine, client.ticket_id or
                                          self.engine.ticket_by_token(client.pending_token)["id"]))
            emit("status", status)
            return {"ok": True, "seq": status["seq"]}
        snap = self._snapshot_for(client)
        emit("snapshot", snap)
        return {"ok": True, "seq": snap["seq"]}

    def _on_heartbeat(self, client: Client, payload: dict) -> dict:
        """A screen checks the server still answers (a hung server keeps sockets open)."""
        if set(payload) - {"center"}:
            raise Refused("Dữ liệu không hợp lệ; heartbeat takes only center")
        return {"ok": True, "at": self.engine.clock.now()}

    def _on_subscribe(self, client: Client, payload: dict) -> dict:
        """A screen changes the site it watches (the dashboard's site filter)."""
        if client.kind != "screen":
            raise Refused("Không được phép; a status page watches only its ticket")
        if set(payload) - {"center", "site", "counters"}:
            raise Refused("Dữ liệu không hợp lệ; subscribe takes center, site and counters")
        site = self._check_site(payload.get("site"), client.principal)
        counters = self._check_counters(payload.get("counters"), site)
        with self._lock:
            self._subs.add(client, -1)
            leave_room(self.rooms.view(client.site))
            client.site, client.counters = site, counters
            self._subs.add(client)
        join_room(self.rooms.view(site))
        snap = self._snapshot_for(client)
        emit("snapshot", snap)
        return {"ok": True, "seq": snap["seq"]}

    def _on_unknown(self, event: str, *args: Any) -> dict:
        self.refused += 1
        log.warning("socket %s sent unknown event %r: refused", request.sid, str(event)[:40])
        return {"ok": False, "error": "unknown_event", "message": "Sự kiện không hợp lệ; unknown event"}

    # --- snapshots ------------------------------------------------------------------------
    def _snapshot_for(self, client: Client) -> dict:
        snap = screen_snapshot(self.engine, client.site)
        self.keeper.keep(client.site, snap)
        return self._personal(snap, client)

    def _personal(self, shared: dict, client: Client) -> dict:
        """A snapshot (perhaps one kept for every connect) with what this client may see of itself;
        ``sent_at``: the server's clock now (the figures are of ``at``)."""
        snap = dict(shared)
        snap["sent_at"] = self.engine.clock.now()
        who = client.principal
        snap["client"] = {"kind": who.kind, "id": who.id, "role": who.role, "name": who.name,
                          "site": client.site, "counters": client.counters}
        if client.is_manager:
            snap["devices"] = device_list(self.app.extensions.get("qms_devices"))
        return snap

    # --- engine events --------------------------------------------------------------------
    def _logged(self, after: int, upto: int) -> list[dict]:
        """The events after ``after`` up to ``upto``, in order, read from the event log."""
        if upto <= after:
            return []
        return [e for e in self.engine.events_after(after, upto - after) if e["seq"] <= upto]

    def on_engine_event(self, event: dict) -> None:
        """Engine listener (called after commit, in the writer's thread): broadcast in order."""
        with self._send_lock:
            seq = event["seq"]
            if seq <= self._last_sent:
                return  # a later writer already sent it while filling its gap
            if seq == self._last_sent + 1 or seq - self._last_sent > MAX_GAP_FILL:
                batch = [event]
            else:  # an earlier commit whose listener has not run yet: read it from the log
                batch = self._logged(self._last_sent, seq)
                if not batch or batch[-1]["seq"] != seq:
                    batch.append(event)
            room = self.rooms.center_room()
            for e in batch:
                self.socketio.emit("event", screen_event(e), to=room)
            self._last_sent = seq
        with self._lock:
            self._touched.update(e["ticket_id"] for e in batch if e.get("ticket_id"))
            self._stale = True
        self._dirty.set()

    def emit_devices(self, payload: dict) -> None:
        """For the device registry: tell the dashboards that a device changed."""
        self.socketio.emit("devices", payload, to=self.rooms.center_room())


def register_realtime(app: Flask) -> Realtime:
    """Attach the live hub to the app's SocketIO (``app.extensions["qms_socketio"]``)."""
    return Realtime(app, app.extensions["qms_socketio"]).register()
