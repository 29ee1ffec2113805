"""The kiosk's local SQLite: reserved number blocks, the outbox, and the tickets it issued.

Every write is one ``BEGIN IMMEDIATE`` transaction on a WAL database with
``synchronous=FULL``: when :meth:`Outbox.issue_offline` returns, the ticket survives a
power cut or a ``kill -9`` before a single dot is printed. Each thread opens its own
:class:`Outbox` (a ``sqlite3`` connection is not shared between threads); gpiozero
callback threads never touch it.

Tables:

``blocks``
    numbers the server reserved for this kiosk (``POST /api/v1/kiosk/blocks``), per day
    and service; ``next`` is the next unused number; ``tokens`` the status token the server
    gave each number (JSON list, in order), printed in the QR code of an offline ticket.
``outbox``
    what the server has not confirmed yet, oldest first: ``ticket`` (an offline ticket to
    hand over) and ``print_result`` (whether an online ticket printed). A row is deleted
    only after the server confirmed it. An offline ticket is ``ready = 0`` while it prints,
    so it is handed over once, with its print result; after a crash it goes as not printed.
``tickets``
    the kiosk's own log of what it issued (the last number on screen, reprints).
``kv``
    small learnt facts (the public URL seen in the server's status URLs).
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qms_common.private_files import private_sqlite

SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    day TEXT NOT NULL, service TEXT NOT NULL, prefix TEXT NOT NULL,
    first INTEGER NOT NULL, last INTEGER NOT NULL, next INTEGER NOT NULL,
    reserved_at REAL NOT NULL,
    tokens TEXT,
    PRIMARY KEY (day, prefix, first)
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('ticket', 'print_result')),
    key TEXT NOT NULL,
    payload TEXT NOT NULL,
    ready INTEGER NOT NULL DEFAULT 1,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'rejected')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS outbox_ticket ON outbox (key) WHERE kind = 'ticket';
CREATE TABLE IF NOT EXISTS tickets (
    client_ref TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL,
    code TEXT NOT NULL,
    service TEXT NOT NULL,
    priority INTEGER NOT NULL,
    issued_at REAL NOT NULL,
    offline INTEGER NOT NULL,
    day TEXT NOT NULL,
    people_ahead INTEGER,
    estimated_wait_s REAL,
    status_url TEXT,
    printed INTEGER,
    fault TEXT
);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class NoNumbersLeft(RuntimeError):
    """No reserved number for this service today: the kiosk cannot issue offline."""


@dataclass(frozen=True)
class LocalTicket:
    """A ticket as the kiosk knows it (online: from the server; offline: from a block)."""

    client_ref: str
    ticket_id: str
    code: str
    service: str
    priority: bool
    issued_at: float
    offline: bool
    day: str
    people_ahead: int | None = None
    estimated_wait_s: float | None = None
    status_url: str | None = None
    printed: bool | None = None
    fault: str | None = None
    estimated_wait_range_s: tuple[float, float] | None = None  # printed as a range; not kept in the outbox
    estimated_wait_text: tuple[str, str] | None = None  # the server's words for it; not kept either


@dataclass(frozen=True)
class OutboxItem:
    seq: int
    kind: str
    key: str
    payload: dict[str, Any]
    attempts: int


def format_code(prefix: str, number: int) -> str:
    """The printed code, as the server writes it (``HT-042``)."""
    return f"{prefix}-{number:03d}"


def ticket_id_for(day: str, code: str) -> str:
    """The server's id of a ticket (``20251124-HT-042``), known for offline tickets too."""
    return f"{day.replace('-', '')}-{code}"


class Outbox:
    """One connection to the kiosk database; use from one thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            private_sqlite(self.path)  # 0600: it holds the tickets' status tokens
        self._conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=True)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA busy_timeout=10000")
        for statement in SCHEMA.strip().split(";\n"):
            if statement.strip():
                self._conn.execute(statement)
        columns = {r[1] for r in self._conn.execute("PRAGMA table_info(blocks)")}
        if "tokens" not in columns:  # a kiosk database from before status tokens came with blocks
            self._conn.execute("ALTER TABLE blocks ADD COLUMN tokens TEXT")

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")

    # --- blocks ---------------------------------------------------------------------------
    def add_block(self, *, day: str, service: str, prefix: str, first: int, last: int, at: float,
                  tokens: list[str] | None = None) -> None:
        if tokens is not None and len(tokens) != last - first + 1:
            tokens = None  # not one per number: print the client_ref instead
        with self._write() as conn:
            conn.execute("INSERT OR IGNORE INTO blocks (day, service, prefix, first, last, next, reserved_at, tokens) "
                         "VALUES (?,?,?,?,?,?,?,?)",
                         (day, service, prefix, first, last, first, at, json.dumps(tokens) if tokens else None))

    def spare(self, day: str, service: str) -> int:
        row = self._conn.execute("SELECT coalesce(sum(last - next + 1), 0) FROM blocks "
                                 "WHERE day = ? AND service = ? AND next <= last", (day, service)).fetchone()
        return int(row[0])

    def drop_blocks_before(self, day: str) -> int:
        """Blocks of past days are worth nothing: numbers restart every day."""
        with self._write() as conn:
            return conn.execute("DELETE FROM blocks WHERE day < ?", (day,)).rowcount

    # --- issuing offline --------------------------------------------------------------------
    def issue_offline(self, *, client_ref: str, service: str, priority: bool, day: str, issued_at: float,
                      site: str | None, status_base: str | None) -> LocalTicket:
        """Take the next reserved number and record the ticket and its hand-over, durably.

        ``status_base`` is the server's public address: the QR code then opens
        ``<base>/s/<token>`` with the token the server gave this number (the server shows that
        page before the ticket has arrived), or ``<base>/s/<client_ref>`` for an older block."""
        with self._write() as conn:
            row = conn.execute(
                "UPDATE blocks SET next = next + 1 WHERE rowid = (SELECT rowid FROM blocks WHERE day = ? "
                "AND service = ? AND next <= last ORDER BY first LIMIT 1) RETURNING next - 1, prefix, first, tokens",
                (day, service)).fetchone()
            if row is None:
                raise NoNumbersLeft(f"no reserved number left for {service} on {day}")
            number, prefix = int(row[0]), str(row[1])
            tokens = json.loads(row[3]) if row[3] else None
            token = tokens[number - int(row[2])] if tokens else client_ref
            status_url = f"{status_base.rstrip('/')}/s/{token}" if status_base else None
            code = format_code(prefix, number)
            ticket = LocalTicket(client_ref=client_ref, ticket_id=ticket_id_for(day, code), code=code,
                                 service=service, priority=priority, issued_at=issued_at, offline=True,
                                 day=day, status_url=status_url)
            payload = {"client_ref": client_ref, "service": service, "number": number, "day": day,
                       "issued_at": issued_at, "priority": priority, "printed": False}
            if site:
                payload["site"] = site
            conn.execute("INSERT INTO outbox (kind, key, payload, ready, created_at) VALUES ('ticket',?,?,0,?)",
                         (client_ref, json.dumps(payload), issued_at))
            self._insert_ticket(conn, ticket)
        return ticket

    def record_online(self, ticket: LocalTicket) -> None:
        with self._write() as conn:
            self._insert_ticket(conn, ticket)

    @staticmethod
    def _insert_ticket(conn: sqlite3.Connection, t: LocalTicket) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO tickets VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (t.client_ref, t.ticket_id, t.code, t.service, int(t.priority), t.issued_at, int(t.offline), t.day,
             t.people_ahead, t.estimated_wait_s, t.status_url,
             None if t.printed is None else int(t.printed), t.fault))

    def record_print(self, ticket: LocalTicket, printed: bool, fault: str | None, at: float) -> None:
        """The print job ended: release the offline hand-over with its result, or queue the
        print result of an online ticket (or of a reprint)."""
        with self._write() as conn:
            conn.execute("UPDATE tickets SET printed = ?, fault = ? WHERE ticket_id = ?",
                         (int(printed), fault, ticket.ticket_id))
            pending = None
            if ticket.offline:
                pending = conn.execute("SELECT seq, payload FROM outbox WHERE kind = 'ticket' AND key = ? "
                                       "AND ready = 0", (ticket.client_ref,)).fetchone()
            if pending is not None:
                payload = json.loads(pending["payload"])
                payload["printed"] = printed
                conn.execute("UPDATE outbox SET payload = ?, ready = 1 WHERE seq = ?",
                             (json.dumps(payload), pending["seq"]))
            else:
                conn.execute("INSERT INTO outbox (kind, key, payload, created_at) VALUES ('print_result',?,?,?)",
                             (ticket.ticket_id, json.dumps({"printed": printed, "fault": fault}), at))

    def release_interrupted(self) -> int:
        """At start-up: offline tickets whose print was cut short by a crash go as not printed."""
        with self._write() as conn:
            return conn.execute("UPDATE outbox SET ready = 1 WHERE ready = 0").rowcount

    # --- the sender's side ------------------------------------------------------------------
    def next_item(self) -> OutboxItem | None:
        row = self._conn.execute("SELECT * FROM outbox WHERE state = 'pending' AND ready = 1 "
                                 "ORDER BY seq LIMIT 1").fetchone()
        if row is None:
            return None
        return OutboxItem(row["seq"], row["kind"], row["key"], json.loads(row["payload"]), row["attempts"])

    def confirm(self, seq: int) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def failed_attempt(self, seq: int, error: str) -> None:
        with self._write() as conn:
            conn.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?",
                         (error[:500], seq))

    def reject(self, seq: int, error: str) -> None:
        """The server refused this for good (e.g. a number outside our blocks): keep it for the
        operator, but stop it from holding up everything behind it."""
        with self._write() as conn:
            conn.execute("UPDATE outbox SET state = 'rejected', attempts = attempts + 1, last_error = ? "
                         "WHERE seq = ?", (error[:500], seq))

    def depth(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()[0])

    def rejected(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM outbox WHERE state = 'rejected'").fetchone()[0])

    # --- lookups ----------------------------------------------------------------------------
    def last_ticket(self) -> LocalTicket | None:
        row = self._conn.execute("SELECT * FROM tickets ORDER BY issued_at DESC, rowid DESC LIMIT 1").fetchone()
        return _ticket(row) if row else None

    def ticket(self, ticket_id: str) -> LocalTicket | None:
        row = self._conn.execute("SELECT * FROM tickets WHERE ticket_id = ?", (ticket_id,)).fetchone()
        return _ticket(row) if row else None

    def get(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, value: str) -> None:
        with self._write() as conn:
            conn.execute("INSERT INTO kv VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                         (key, value))


def _ticket(row: sqlite3.Row) -> LocalTicket:
    return LocalTicket(client_ref=row["client_ref"], ticket_id=row["ticket_id"], code=row["code"],
                       service=row["service"], priority=bool(row["priority"]), issued_at=row["issued_at"],
                       offline=bool(row["offline"]), day=row["day"], people_ahead=row["people_ahead"],
                       estimated_wait_s=row["estimated_wait_s"], status_url=row["status_url"],
                       printed=None if row["printed"] is None else bool(row["printed"]), fault=row["fault"])
