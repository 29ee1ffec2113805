"""Today's arrivals per service, read for every ticket issued (the estimate's arrival rates,
``server/engine/waits.py``), come from an index alone, not from the tickets' wide rows: on a busy
day (1,800 tickets) the read went from 1.7 to 0.5 ms (docs/performance.md section 8)."""
from __future__ import annotations


def test_issuing_reads_today_s_arrivals_from_a_covering_index(engine, store):
    for code in ("HT", "CT", "HT"):
        engine.issue(code)
    conn = store.conn()
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        engine.issue("HT")
    finally:
        conn.set_trace_callback(None)
    grouped = [sql for sql in seen if "GROUP BY service, priority" in sql and "FROM tickets" in sql]
    assert grouped, "the issue no longer reads today's arrivals: update this test"
    for sql in grouped:
        plan = " ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
        assert "USING COVERING INDEX tickets_arrivals" in plan, (sql, plan)
