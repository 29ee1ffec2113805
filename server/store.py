"""The SQLite store: one file, WAL mode, every commit fsync'd before we answer.

Connections are owned by the :class:`Store` instance, never by the module. Readers get one
connection per OS thread (under gevent all greenlets of the loop share the loop thread's:
a read never yields halfway). Every write transaction runs on one dedicated writer
connection, held under the write lock; while a transaction is open, ``conn()`` in that
thread or greenlet returns the writer connection, so code inside a transaction sees its own
uncommitted rows. Under gevent the ``BEGIN`` and the fsync'd ``COMMIT`` run on a pool thread
(``server/blocking.py``): the event loop keeps serving while the disk works. Writers take the
lock up front with ``BEGIN IMMEDIATE``: a deferred transaction that reads and then writes
fails with "database is locked" under concurrent writers (checked here, see library notes).

A view of several statements that must all be of one committed state (a screen's snapshot and
the event sequence it claims) reads inside :meth:`Store.read`: a deferred ``BEGIN`` whose first
read fixes the WAL snapshot, on a connection of its own (under gevent the loop thread's reader
is shared by every greenlet, so a transaction opened on it would also hold the reads of every
other greenlet that runs while this one yields). Short: a WAL read snapshot held open keeps
checkpoints from getting past it.
"""
from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, TypeVar

if TYPE_CHECKING:  # imported when used: sqlite-utils pulls in numpy (~20 MiB) when installed
    import sqlite_utils

T = TypeVar("T")

from qms_common.private_files import private_sqlite
from .blocking import gevent_active, run_blocking, thread_local_class

BUSY_TIMEOUT_MS = 30000

_M001_CORE = """
        CREATE TABLE daily_sequence (
            day TEXT NOT NULL, prefix TEXT NOT NULL, last INTEGER NOT NULL,
            PRIMARY KEY (day, prefix)
        );
        CREATE TABLE tickets (
            id TEXT PRIMARY KEY,
            day TEXT NOT NULL,
            service TEXT NOT NULL,
            prefix TEXT NOT NULL,
            number INTEGER NOT NULL,
            code TEXT NOT NULL,
            priority INTEGER NOT NULL DEFAULT 0,
            site TEXT NOT NULL,
            state TEXT NOT NULL,
            issued_at REAL NOT NULL,
            queue_key REAL NOT NULL,
            wait_from REAL NOT NULL,
            first_called_at REAL,
            called_at REAL,
            started_at REAL,
            finished_at REAL,
            counter INTEGER,
            clerk TEXT,
            target_counter INTEGER,
            printed INTEGER,
            print_fault TEXT,
            source TEXT NOT NULL,
            device TEXT,
            client_ref TEXT UNIQUE,
            status_token TEXT NOT NULL UNIQUE,
            predicted_wait_s REAL,
            people_ahead INTEGER,
            recalls INTEGER NOT NULL DEFAULT 0,
            transfers INTEGER NOT NULL DEFAULT 0,
            reason TEXT,
            UNIQUE (day, prefix, number)
        );
        CREATE INDEX tickets_waiting ON tickets (state, site, service, queue_key);
        CREATE INDEX tickets_day ON tickets (day, service);
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            type TEXT NOT NULL,
            ticket_id TEXT,
            counter INTEGER,
            actor TEXT,
            device TEXT,
            data TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX events_ticket ON events (ticket_id);
        CREATE TRIGGER events_append_only_u BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
        CREATE TRIGGER events_append_only_d BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
        CREATE TABLE counters (
            number INTEGER PRIMARY KEY,
            site TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'closed',
            clerk TEXT,
            since REAL,
            ticket_id TEXT,
            priority_in_row INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE offline_blocks (
            device TEXT NOT NULL,
            day TEXT NOT NULL,
            prefix TEXT NOT NULL,
            first INTEGER NOT NULL,
            last INTEGER NOT NULL,
            reserved_at REAL NOT NULL,
            PRIMARY KEY (day, prefix, first)
        );
        CREATE TABLE users (
            username TEXT PRIMARY KEY,
            full_name TEXT NOT NULL,
            role TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 1,
            created_at REAL NOT NULL
        );
        CREATE TABLE devices (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            site TEXT,
            token_hash TEXT NOT NULL UNIQUE,
            active INTEGER NOT NULL DEFAULT 1,
            created_at REAL NOT NULL
        );
        CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            username TEXT NOT NULL REFERENCES users (username),
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL
        );
"""

# call-next looks up the oldest ticket per (service, priority class) by index, never a scan
_M002_QUEUE_INDEX = """
        DROP INDEX tickets_waiting;
        CREATE INDEX tickets_queue ON tickets (state, site, service, priority, queue_key, id);
        CREATE INDEX tickets_targeted ON tickets (target_counter) WHERE target_counter IS NOT NULL;
"""

# every reserved offline number has its status token from the start: the QR code printed
# offline opens a page that says the ticket is valid before the kiosk has handed it over
_M003_OFFLINE_TOKENS = """
        CREATE TABLE offline_tokens (
            token TEXT PRIMARY KEY,
            device TEXT NOT NULL,
            day TEXT NOT NULL,
            prefix TEXT NOT NULL,
            number INTEGER NOT NULL,
            service TEXT NOT NULL,
            UNIQUE (day, prefix, number)
        );
"""

# security events (failed and throttled sign-ins): kept apart from the queue's events, which
# screens receive and replay rebuilds the live state from
_M003_AUDIT = """
        CREATE TABLE audit (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            type TEXT NOT NULL,
            username TEXT,
            address TEXT,
            data TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TRIGGER audit_append_only_u BEFORE UPDATE ON audit
            BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
        CREATE TRIGGER audit_append_only_d BEFORE DELETE ON audit
            BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
"""

# events of a standalone site (satellite point) mirrored at the main center keep their origin:
# (origin_site, origin_seq) is unique, so a batch shipped twice is inserted once
# (server/satellite/mirror.py); site_cursors holds, per site, the last origin seq applied
_M004_EVENT_ORIGIN = """
        ALTER TABLE events ADD COLUMN origin_site TEXT;
        ALTER TABLE events ADD COLUMN origin_seq INTEGER;
        CREATE UNIQUE INDEX events_origin ON events (origin_site, origin_seq) WHERE origin_site IS NOT NULL;
        CREATE TABLE site_cursors (
            site TEXT PRIMARY KEY,
            last_seq INTEGER NOT NULL,
            updated_at REAL NOT NULL
        );
"""

# personal data for a call-back, only if the center turns it on ([privacy] callback): kept
# apart from the append-only events (which can never be deleted) and deleted after
# retention_days (server/privacy.py)
_M004_CALLBACKS = """
        CREATE TABLE callbacks (
            ticket_id TEXT PRIMARY KEY,
            phone TEXT,
            name TEXT,
            created_at REAL NOT NULL
        );
        CREATE INDEX callbacks_created ON callbacks (created_at);
"""

# the dashboard's log of alerts raised and cleared (server/insight/alert_log.py): kept on disk so a
# restart or a power cut does not empty the director's log of the day; ``data`` is the entry (JSON)
_M005_ALERT_LOG = """
        CREATE TABLE alert_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            event TEXT NOT NULL CHECK (event IN ('raised', 'cleared')),
            key TEXT NOT NULL,
            data TEXT NOT NULL
        );
        CREATE INDEX alert_log_key ON alert_log (key, id);
"""

# today's arrivals per service and priority class, read for every ticket issued (the estimate's
# arrival rates, server/engine/waits.py ``_arrivals``): from the index alone, not the table's wide
# rows (1,800 tickets of a day: 1.7 -> 0.5 ms; docs/performance.md section 8)
_M006_ARRIVALS_INDEX = """
        CREATE INDEX tickets_arrivals ON tickets (day, site, service, priority, issued_at);
"""

# Migrations are named SQL scripts, each applied once, in one transaction.
MIGRATIONS: list[tuple[str, str]] = [
    ("001_core", _M001_CORE),
    ("002_queue_index", _M002_QUEUE_INDEX),
    ("003_offline_tokens", _M003_OFFLINE_TOKENS),
    ("003_audit", _M003_AUDIT),
    # the services the clerk signed in with (JSON list, in order of preference; NULL: the counter's)
    ("003_counter_services", "ALTER TABLE counters ADD COLUMN services TEXT;"),
    ("004_event_origin", _M004_EVENT_ORIGIN),
    ("004_callbacks", _M004_CALLBACKS),
    ("005_alert_log", _M005_ALERT_LOG),
    ("006_arrivals_index", _M006_ARRIVALS_INDEX),
]


class Store:
    """Owns the database file and hands each thread its own connection."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        self.path = str(path)
        if self.path != ":memory:" and not self.path.startswith("file:"):
            private_sqlite(self.path)  # 0600: sessions, hashes and citizens' tickets live here
        self._synchronous = synchronous
        self._local = thread_local_class()()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        # the connection of the transaction this thread / greenlet is in, if any
        self._in_txn: ContextVar[sqlite3.Connection | None] = ContextVar(f"qms_txn_{id(self)}", default=None)
        # Writers of this process queue here rather than in SQLite's busy handler, which
        # sleeps in steps of up to 100 ms and turns contention into huge tail latencies.
        self._write_lock = threading.Lock()
        self._pending: list[_Job] = []
        self._pending_lock = threading.Lock()
        self._readers: list[sqlite3.Connection] = []  # idle connections for read transactions
        self.migrate()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            self._all.append(conn)
        return conn

    def conn(self) -> sqlite3.Connection:
        """The connection to use here: the open transaction's, else this thread's reader."""
        txn = self._in_txn.get()
        if txn is not None:
            return txn
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def _writer_conn(self) -> sqlite3.Connection:
        """The one connection every write transaction uses; call with the write lock held."""
        if self._writer is None:
            # ":memory:" is one database per connection: there, the writer is the reader
            self._writer = self.conn() if self.path == ":memory:" else self._connect()
        return self._writer

    def _begin(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE: at once when no other process writes (no disk I/O: try it on the
        loop, without waiting), else wait for the lock on a pool thread (busy_timeout)."""
        if not gevent_active():
            conn.execute("BEGIN IMMEDIATE")
            return
        conn.execute("PRAGMA busy_timeout=0")
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError:  # "database is locked": another process is writing
            pass
        finally:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        run_blocking(conn.execute, "BEGIN IMMEDIATE")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every statement inside (``conn()`` in this thread or greenlet
        returns its connection) sees the one committed state of its start, whatever other
        threads, greenlets or processes commit meanwhile. Inside a write or read transaction
        already: that one (a write sees its own rows). Never write inside (``write()`` and
        ``transact()`` use the writer connection, and this one would not see their rows)."""
        txn = self._in_txn.get()
        if txn is not None or self.path == ":memory:":  # ":memory:": one connection, nothing else commits
            yield txn or self.conn()
            return
        conn = self._take_reader()
        mark = self._in_txn.set(conn)
        try:
            conn.execute("BEGIN")  # deferred: the first read below takes the WAL snapshot
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            yield conn
        finally:
            self._in_txn.reset(mark)
            if conn.in_transaction:
                conn.execute("ROLLBACK")  # nothing was written: ends the snapshot, no disk I/O
            self._give_reader(conn)

    READERS_KEPT = 8  # idle read-transaction connections kept open; more at once are closed after

    def _take_reader(self) -> sqlite3.Connection:
        with self._lock:
            if self._readers:
                return self._readers.pop()
        return self._connect()

    def _give_reader(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if conn in self._all and len(self._readers) < self.READERS_KEPT:
                self._readers.append(conn)
                return
            if conn in self._all:
                self._all.remove(conn)
        conn.close()

    @staticmethod
    def _commit(conn: sqlite3.Connection) -> None:
        run_blocking(conn.execute, "COMMIT")  # the fsync

    def db(self) -> "sqlite_utils.Database":
        """sqlite-utils view of this thread's connection (for reports, exports, the CLI).

        Imported here, not at start: the server never needs it, and it would load numpy."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn())

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds the lock from its start (BEGIN IMMEDIATE)."""
        with self._write_lock:
            conn = self._writer_conn()
            self._begin(conn)
            mark = self._in_txn.set(conn)
            try:
                yield conn
                self._commit(conn)
            except BaseException:
                if conn.in_transaction:  # never leave the shared writer inside a transaction
                    conn.execute("ROLLBACK")
                raise
            finally:
                self._in_txn.reset(mark)

    def transact(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in a durable write transaction, committing together with others.

        Group commit: whichever thread gets the write lock runs every job queued so far in
        one transaction, each inside its own SAVEPOINT (a failing job rolls back alone and
        its caller gets its exception), then commits once: one fsync for the whole group.
        Under load this turns N fsyncs into one; alone, a job commits at once. Every caller
        returns only after the commit that contains its job.
        """
        job = _Job(fn)
        with self._pending_lock:
            self._pending.append(job)
        with self._write_lock:
            if not job.finished:
                with self._pending_lock:
                    batch, self._pending = self._pending, []
                self._run_batch(batch)
        if not job.finished:
            raise RuntimeError("write job lost by the group commit")  # cannot happen; never hide it
        return job.outcome()

    def _run_batch(self, batch: list["_Job"]) -> None:
        conn = self._writer_conn()
        mark = self._in_txn.set(conn)
        try:
            self._begin(conn)
            for job in batch:
                conn.execute("SAVEPOINT job")
                try:
                    job.result = job.fn(conn)
                except Exception as exc:  # noqa: BLE001 - handed to the job's own caller
                    conn.execute("ROLLBACK TO job")
                    job.error = exc
                conn.execute("RELEASE job")
            self._commit(conn)
        except BaseException as exc:  # the transaction itself failed: nobody's job is durable
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for job in batch:
                job.fail(exc)
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            self._in_txn.reset(mark)
        for job in batch:
            job.finished = True

    def migrate(self) -> list[str]:
        conn = self.conn()
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
        applied = []
        for name, script in MIGRATIONS:
            if conn.execute("SELECT 1 FROM schema_migrations WHERE name = ?", (name,)).fetchone():
                continue
            try:
                # executescript() commits on its own, so the transaction is part of the script
                conn.executescript(f"BEGIN IMMEDIATE; {script}; INSERT INTO schema_migrations "
                                   f"VALUES ('{name}', datetime('now')); COMMIT;")
            except sqlite3.OperationalError:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                # another process applied it while we waited for the lock
                if not conn.execute("SELECT 1 FROM schema_migrations WHERE name = ?", (name,)).fetchone():
                    raise
                continue
            applied.append(name)
        return applied

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
            self._readers.clear()
        self._writer = None
        self._local = thread_local_class()()

    def __repr__(self) -> str:
        return f"<Store {self.path}>"


class _Job:
    __slots__ = ("fn", "result", "error", "finished")

    def __init__(self, fn: Callable[[sqlite3.Connection], Any]) -> None:
        self.fn = fn
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished = False

    def fail(self, exc: BaseException) -> None:
        self.result, self.error, self.finished = None, exc, True

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result
