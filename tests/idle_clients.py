"""Light clients for ``bench/connections.py`` and ``tests/test_connections.py``: many idle
connections in one asyncio loop.

Kinds, each from its own loopback source address (``127.0.0.x``: Linux routes all of
127.0.0.0/8 to the loopback, so one machine plays many phones):

* ``screen``: a Socket.IO client with a display token (websocket transport), which notes
  ``time.monotonic()`` when a ``ticket_call`` event arrives;
* ``phone``: a Socket.IO client with a citizen's status token;
* ``keepalive``: one ``GET /healthz`` on a keep-alive connection, then silence;
* ``halfsent``: the first line and one header of a request, then silence (slowloris).

A connection the server closes is opened again (a phone reloads, an attacker retries), so the
population stays at its size; ``reopened`` counts those. The Socket.IO client is written out
here (engine.io 4 over a raw websocket: open packet, ``40`` connect, ``2``/``3`` ping-pong)
because a python-socketio client costs two threads per connection, and 2,000 of them
would measure the bench machine, not the server.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import time
from dataclasses import dataclass, field


@dataclass
class Stats:
    open: dict = field(default_factory=dict)  # kind -> connections open now
    reopened: int = 0
    refused: int = 0  # 503 or a connect error
    arrivals: list = field(default_factory=list)  # (ticket_id, monotonic)


def _mask(payload: bytes) -> bytes:
    key = os.urandom(4)
    n = len(payload)
    head = bytes([0x81])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    if b1 & 0x80:
        key = await reader.readexactly(4)
        data = bytes(b ^ key[i % 4] for i, b in enumerate(await reader.readexactly(n)))
    else:
        data = await reader.readexactly(n)
    return b0 & 0x0F, data


async def _open(host: str, port: int, src: str):
    return await asyncio.open_connection(host, port, local_addr=(src, 0))


async def socketio_client(host: str, port: int, src: str, auth: dict, kind: str, stats: Stats,
                          stop: asyncio.Event) -> None:
    while not stop.is_set():
        writer = None
        try:
            reader, writer = await _open(host, port, src)
            key = base64.b64encode(os.urandom(16)).decode()
            writer.write((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {host}:{port}\r\n"
                          f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                          f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
            head = await reader.readuntil(b"\r\n\r\n")
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                stats.refused += 1
                raise ConnectionError(head[:60])
            opcode, data = await _read_frame(reader)  # engine.io open packet "0{...}"
            writer.write(_mask(b"40" + json.dumps(auth).encode()))
            connected = False
            while not stop.is_set():
                opcode, data = await _read_frame(reader)
                if opcode == 8:
                    break
                if opcode == 9:
                    continue
                if data == b"2":
                    writer.write(_mask(b"3"))
                    continue
                if data.startswith(b"40"):
                    connected = True
                    stats.open[kind] = stats.open.get(kind, 0) + 1
                elif data.startswith(b"44"):
                    stats.refused += 1
                    break
                elif data.startswith(b'42["event"') and b"ticket_call" in data:
                    now = time.monotonic()
                    ev = json.loads(data[2:])[1]
                    if ev.get("type") == "ticket_call":
                        stats.arrivals.append((ev["ticket_id"], now))
            if connected:
                stats.open[kind] -= 1
        except (OSError, asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            if writer is not None:
                writer.close()
        if not stop.is_set():
            stats.reopened += 1
            await asyncio.sleep(0.5)


async def http_idler(host: str, port: int, src: str, kind: str, stats: Stats, stop: asyncio.Event) -> None:
    while not stop.is_set():
        writer = None
        counted = False
        try:
            reader, writer = await _open(host, port, src)
            if kind == "keepalive":
                writer.write(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                if b" 503 " in head.split(b"\r\n", 1)[0]:
                    stats.refused += 1
                    raise ConnectionError("503")
                length = int(next((line.split(b":")[1] for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length:")), b"0"))
                await reader.readexactly(length)
            else:
                writer.write(f"POST /api/v1/tickets HTTP/1.1\r\nHost: {host}\r\n".encode())
            stats.open[kind] = stats.open.get(kind, 0) + 1
            counted = True
            while not stop.is_set():  # silence until the server closes (or answers)
                if not await reader.read(4096):
                    break
        except (OSError, asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            if counted:
                stats.open[kind] -= 1
            if writer is not None:
                writer.close()
        if not stop.is_set():
            stats.reopened += 1
            await asyncio.sleep(0.5)


async def run_clients(host: str, port: int, specs: list[tuple[str, str, dict | None]], stats: Stats,
                      stop: asyncio.Event, ramp_per_s: float = 400) -> None:
    """Open every connection of ``specs`` ((kind, source address, auth)) at ``ramp_per_s``."""
    tasks = []
    for kind, src, auth in specs:
        if kind in ("screen", "phone"):
            tasks.append(asyncio.create_task(socketio_client(host, port, src, auth, kind, stats, stop)))
        else:
            tasks.append(asyncio.create_task(http_idler(host, port, src, kind, stats, stop)))
        await asyncio.sleep(1 / ramp_per_s)
    await stop.wait()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def process_main(host: str, port: int, specs: list, commands, reports) -> None:
    """A client process: hold ``specs`` until told "stop"; answer "report" with the stats."""
    async def main() -> None:
        stats, stop = Stats(), asyncio.Event()
        loop = asyncio.get_running_loop()
        runner = asyncio.create_task(run_clients(host, port, specs, stats, stop))
        while True:
            cmd = await loop.run_in_executor(None, commands.get)
            if cmd == "report":
                reports.put({"open": dict(stats.open), "reopened": stats.reopened, "refused": stats.refused,
                             "arrivals": stats.arrivals})
                stats.arrivals = []
            elif cmd == "stop":
                stop.set()
                await runner
                reports.put("stopped")
                return

    asyncio.run(main())


class Crowd:
    """``specs`` held open by an asyncio loop in a background thread (for the tests)."""

    def __init__(self, host: str, port: int, specs: list) -> None:
        import threading
        self.stats = Stats()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)

            async def main() -> None:
                self._stop = asyncio.Event()
                ready.set()
                await run_clients(host, port, specs, self.stats, self._stop)

            self._loop.run_until_complete(main())

        self._thread = threading.Thread(target=run, name="idle-crowd", daemon=True)
        self._thread.start()
        ready.wait(10)

    def open(self, kind: str) -> int:
        return self.stats.open.get(kind, 0)

    def wait_open(self, want: dict, timeout: float = 60) -> bool:
        """Until every kind has its count open (polling a counter, with a deadline)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.open(k) >= n for k, n in want.items()):
                return True
            time.sleep(0.1)
        return False

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
