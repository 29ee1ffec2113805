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

The schema and its migrations: ``server/store_schema.py``.
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
from .store_schema import migrate

BUSY_TIMEOUT_MS = 30000


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

    def in_transaction(self) -> bool:
        """Whether this thread or greenlet is inside ``read()``, ``write()`` or ``transact()``."""
        return self._in_txn.get() is not None

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
        """Apply the schema's migrations not applied yet (``server/store_schema.py``)."""
        return migrate(self.conn())

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
