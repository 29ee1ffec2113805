"""The database's schema: the migrations (named SQL scripts, each applied once, in one
transaction) and :func:`migrate`, which applies those not applied yet.

The tables of tickets, counters, devices, users and sessions; the ``events`` and ``audit`` logs,
made append-only by triggers (an UPDATE or DELETE aborts); the indexes the queue and the estimate
read by. A new schema change is a new entry at the end of :data:`MIGRATIONS`, never an edit of one
already applied. The connections that run them: ``server/store.py``.
"""
from __future__ import annotations

import sqlite3

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


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply, on ``conn`` (autocommit), every migration not applied yet; the names applied."""
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
