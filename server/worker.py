"""gunicorn's gevent worker with the two guards a public LAN needs (``[connections]``).

gunicorn's gevent worker (``gunicorn.workers.ggevent.GeventWorker``) serves every connection
in a greenlet, so 2,000 idle phones cost memory, not threads. It already closes a
connection whose request headers do not arrive within ``keepalive`` seconds (the first
request too) and an idle keep-alive connection after the same time. What it lacks:

* **a share per source address**: at most ``per_address`` connections from one address at
  once; one more is answered ``503`` with a Vietnamese and English message and closed, so
  one phone, script or broken device cannot take the ``max`` connections everyone shares;
* **stalled reads and writes**: every socket gets a timeout of ``io_timeout_s`` seconds,
  so a body that stops arriving, or a client that stops reading its answer, is cut
  (the app answers 408 for the body: ``server/app.py``). Websockets are exempt
  (``exempt_websockets``): Socket.IO pings them every 25 s and drops the silent ones.

On stop (SIGTERM), connections waiting for their next request and open websockets are
closed at once (screens reconnect to the next server); requests in progress finish. Without
this every restart with a screen connected ended in gunicorn's SIGKILL after
``graceful_timeout``. The plan page's child process is stopped at once too (SIGTERM, SIGINT or
SIGQUIT, and again when the worker's loop ends, also on "parent changed"): ``stop_children``.

The limits come from the server settings (``worker.app.settings``: ``server/master.py``).
"""
from __future__ import annotations

import logging
import os
import socket
import sys
from collections import Counter

import gevent
from gevent.server import StreamServer
from gunicorn.http.errors import NoMoreData
from gunicorn.workers.ggevent import GeventWorker

from .collector import Collector

log = logging.getLogger(__name__)

ACCEPT_PER_TURN = 10
SWITCH_INTERVAL_S = 0.0005  # sys.setswitchinterval in the worker (the default: 0.005)

TOO_MANY = (
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Retry-After: 10\r\n"
    "Connection: close\r\n"
    "Content-Length: {length}\r\n\r\n{body}"
)
TOO_MANY_BODY = ("Quá nhiều kết nối từ một địa chỉ, vui lòng thử lại sau; "
                 "too many connections from one address, try again later\n")


def _response(body: str) -> bytes:
    data = body.encode()
    return TOO_MANY.format(length=len(data), body=body).encode()


class QmsGeventWorker(GeventWorker):
    """One greenlet per connection, at most ``per_address`` connections per address."""

    def init_process(self) -> None:
        limits = self.app.settings.connections
        self.per_address = limits.per_address
        self.io_timeout = limits.io_timeout_s
        self.open_by_address: Counter[str] = Counter()
        self.refused_by_address: Counter[str] = Counter()
        self._connections: set = set()  # connection greenlets
        self._in_request: set = set()  # ... of those, serving a plain HTTP request now
        self._closing = False
        _raise_open_files(limits.max + 256)
        untrack_greenlet_tree()
        # gevent accepts up to 100 connections per turn of the loop and runs all of them before
        # anyone else: a burst of reconnecting clients then holds a kiosk's request ~100 ms.
        # Ten per turn interleaves them with the requests already in. One per turn (tried first)
        # accepted fewer than the ~100 reconnections a second of bench/connections.py once turns
        # took 10 ms: 450-675 connections waited in the listen backlog, and a kiosk or /healthz
        # that had to reconnect waited seconds (docs/performance.md, section 8). The attribute is
        # gevent's documented knob, set in this process only.
        StreamServer.max_accept = ACCEPT_PER_TURN
        # A pool thread's SQLite commit needs the GIL to start, between its statements and to
        # hand its result back; while the loop runs pure Python (a forecast, the advice) each of
        # those waited up to the interpreter's 5-ms switch interval, and a kiosk's issue waited
        # 20-55 ms for its commit (docs/performance.md, section 8). A shorter interval only
        # matters when a thread asks for the GIL: the loop alone runs as before.
        shorten_switch_interval()
        super().init_process()

    def load_wsgi(self) -> None:
        """Load the app, then keep the collector off what stays for the worker's whole life:
        everything loaded so far is frozen out of the cyclic collections, and again every few
        seconds while it serves, with one full collection every few minutes
        (``server/collector.py``; docs/performance.md, section 8)."""
        super().load_wsgi()
        limits = self.app.settings.connections
        self.collector = Collector(freeze_every_s=limits.freeze_every_s, thaw_every_s=limits.full_collection_every_s)
        self.collector.start()

    def handle_exit(self, sig, frame) -> None:
        """SIGTERM (systemd, or the master passing its own stop on): the loop ends, and the plan
        job's child is stopped now, in a greenlet (not in the signal handler), while the
        requests in progress finish."""
        super().handle_exit(sig, frame)
        gevent.spawn(self.stop_children)

    def handle_quit(self, sig, frame) -> None:
        """SIGINT (Ctrl-C) and SIGQUIT: the same, quickly (gunicorn's own handler is a greenlet)."""
        super().handle_quit(sig, frame)
        gevent.spawn(self.stop_children)

    def run(self) -> None:
        try:
            super().run()
        finally:  # however the loop ended (a signal, the master gone): no child outlives the worker
            self.stop_children()

    def stop_children(self) -> None:
        """The app's child processes (the plan job): terminated, killed after a short grace
        (``server.app.stop_children``). A worker killed hard takes them along by itself
        (``server/insight/plan_child.py``)."""
        from .app import stop_children
        try:
            stop_children(self.wsgi)
        except Exception:  # noqa: BLE001 - the worker goes on stopping
            log.exception("stopping the plan job failed")

    def notify(self) -> None:
        super().notify()  # called about once a second, also while stopping
        if self.alive:
            self.collector.tick()
        if not self.alive and not self._closing:
            self._closing = True
            idle = [g for g in self._connections if g not in self._in_request]
            # NoMoreData: what gunicorn's handler takes as "the client went away", quietly
            gevent.killall(idle, exception=NoMoreData, block=False)

    def handle_request(self, listener_name, req, sock, addr) -> None:
        websocket = any(name == "UPGRADE" and value.lower() == "websocket" for name, value in req.headers)
        me = gevent.getcurrent()
        if not websocket:
            self._in_request.add(me)
        try:
            super().handle_request(listener_name, req, sock, addr)
        finally:
            self._in_request.discard(me)

    def handle(self, listener, client, addr) -> None:
        address = addr[0] if isinstance(addr, tuple) else "local"
        if self.open_by_address[address] >= self.per_address:
            self._refuse(client, address)
            return
        self.open_by_address[address] += 1
        me = gevent.getcurrent()
        self._connections.add(me)
        try:
            client.settimeout(self.io_timeout)  # gunicorn's own handle() would make it blocking forever
            super(GeventWorker, self).handle(listener, client, addr)  # AsyncWorker.handle: skip setblocking(1)
        finally:
            self._connections.discard(me)
            self.open_by_address[address] -= 1
            if not self.open_by_address[address]:
                del self.open_by_address[address]

    def _refuse(self, client, address: str) -> None:
        if len(self.refused_by_address) > 10000:  # bounded memory, whatever the addresses
            self.refused_by_address.clear()
        self.refused_by_address[address] += 1
        n = self.refused_by_address[address]
        if n == 1 or n % 1000 == 0:
            log.warning("connection from %s refused: it already holds %d (per_address); %d refused so far",
                        address, self.per_address, n)
        try:
            client.settimeout(1.0)
            client.sendall(_response(TOO_MANY_BODY))
            client.shutdown(socket.SHUT_WR)
            # read what the client already sent (up to a moment), so closing sends FIN, not RST,
            # and the client gets to read the 503
            for _ in range(16):
                if not client.recv(4096):
                    break
        except OSError:
            pass
        finally:
            client.close()


def shorten_switch_interval() -> float:
    """The worker's GIL switch interval: ``SWITCH_INTERVAL_S``, or ``QMS_SWITCH_S`` (seconds) for
    the A/B of docs/performance.md section 8. Returns what was set."""
    interval = float(os.environ.get("QMS_SWITCH_S", SWITCH_INTERVAL_S))
    sys.setswitchinterval(interval)
    return interval


def untrack_greenlet_tree() -> None:
    """gevent records, for every greenlet, the stack that spawned it (``spawning_stack``: a chain
    of frame records kept as long as the greenlet lives). With 2,000 connections that was ~45,000
    of the objects every young and full collection of the garbage collector walks (a census of
    the worker's heap in bench/connections.py), and nothing here reads it. gevent's documented
    switch (``GEVENT_TRACK_GREENLET_TREE``), set before any connection's greenlet exists."""
    gevent.config.track_greenlet_tree = False


def _raise_open_files(want: int) -> None:
    """A connection is a file descriptor: lift the soft limit (often 1,024) towards ``want``."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < want:
        log.warning("open files limited to %d by the system: fewer than the %d connections configured", target, want)


def exempt_websockets(wsgi_app):
    """WSGI middleware: a websocket upgrade gets no socket timeout (see the module doc)."""

    def app(environ, start_response):
        if environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            sock = environ.get("gunicorn.socket")
            if sock is not None:
                sock.settimeout(None)
        return wsgi_app(environ, start_response)

    return app
