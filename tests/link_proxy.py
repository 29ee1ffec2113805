"""The link between a satellite point and the main center, as a TCP proxy the test controls.

Modes:

- ``up``: bytes pass both ways;
- ``down``: the port is closed (connection refused), every open connection is cut: the cable
  or the 4G modem is gone;
- ``hang``: connections are accepted and read, and never answered: a half-dead link
  (a captive portal, a stalled VPN);
- ``lose_answers``: a POST reaches the main center, its answer is dropped and the
  connection closed (other requests pass): the sender must send again what was already applied (a duplicate).

It counts what it did (``accepted``, ``hung``, ``answers_lost``, ``forwarded`` connections,
``posts`` requests passed in ``up`` mode) under a
condition variable, so a test waits on a count instead of sleeping.
"""
from __future__ import annotations

import socket
import threading


class LinkProxy:
    def __init__(self, target_port: int, port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = port
        self.mode = "down"
        self.counts = {"accepted": 0, "hung": 0, "answers_lost": 0, "forwarded": 0, "posts": 0}
        self._cond = threading.Condition()
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []

    # --- control ---------------------------------------------------------------------------
    def set(self, mode: str) -> None:
        assert mode in ("up", "down", "hang", "lose_answers"), mode
        with self._cond:
            self.mode = mode
            if mode == "down":
                self._close_all()
            elif self._listener is None:
                self._listen()
            else:
                for s in self._open:  # connections of the mode before go
                    self._shut(s)
                self._open.clear()
            self._cond.notify_all()

    def close(self) -> None:
        self.set("down")

    def wait_for(self, what: str, at_least: int, timeout: float = 30) -> int:
        with self._cond:
            if not self._cond.wait_for(lambda: self.counts[what] >= at_least, timeout):
                raise TimeoutError(f"link proxy: {what} = {self.counts[what]} < {at_least} after {timeout} s")
            return self.counts[what]

    def _count(self, what: str) -> None:
        with self._cond:
            self.counts[what] += 1
            self._cond.notify_all()

    # --- plumbing --------------------------------------------------------------------------
    def _listen(self) -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        self._listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    @staticmethod
    def _shut(s: socket.socket) -> None:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    def _close_all(self) -> None:
        if self._listener is not None:
            self._shut(self._listener)
            self._listener = None
        for s in self._open:
            self._shut(s)
        self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._cond:
                mode = self.mode
                self._open.append(client)
            self._count("accepted")
            threading.Thread(target=self._serve, args=(client, mode), daemon=True).start()

    def _serve(self, client: socket.socket, mode: str) -> None:
        if mode == "hang":
            self._count("hung")
            try:
                while client.recv(65536):  # read everything, answer nothing
                    pass
            except OSError:
                pass
            return
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            self._shut(client)
            return
        with self._cond:
            self._open.append(upstream)
        if mode == "lose_answers":
            try:
                head = client.recv(65536)
                upstream.sendall(head)
            except OSError:
                head = b""
            if not head.startswith(b"POST"):  # only what carries events loses its answer:
                self._count("forwarded")        # this one gets its answer, then the connection closes
                try:
                    client.sendall(self._one_response(upstream))
                except OSError:
                    pass
                self._shut(client)
                self._shut(upstream)
                return
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            try:
                if upstream.recv(65536):  # the main center answered (it has applied the batch)
                    self._count("answers_lost")
            except OSError:
                pass
            self._shut(client)
            self._shut(upstream)
            return
        self._count("forwarded")
        threading.Thread(target=self._pipe, args=(client, upstream, self._posts), daemon=True).start()
        self._pipe(upstream, client)

    def _posts(self, chunk: bytes) -> None:
        if chunk.startswith(b"POST "):  # a request (kept-alive connections carry many)
            self._count("posts")

    @staticmethod
    def _one_response(upstream: socket.socket) -> bytes:
        """One whole HTTP response (headers and a Content-Length body)."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = upstream.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        while len(body) < length:
            chunk = upstream.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, seen=None) -> None:
        try:
            while data := src.recv(65536):
                if seen is not None:
                    seen(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
