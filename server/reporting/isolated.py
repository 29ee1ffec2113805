"""Reports built in a child process, so that the server keeps serving while one is made.

A month's PDF takes about 3 s of CPU (WeasyPrint, matplotlib: docs/performance.md §10) and
loads some 40-60 MiB of libraries. In the server's single gevent event loop that would stop
every kiosk, console and screen for those seconds, and the worker would keep the libraries in
memory for good. So the dashboard's download and the weekly schedule hand the job to a child
(``python -m server.reporting.isolated``): the parent sends the job (pickled, on the child's
standard input: parent and child are the same program), the child reads the events from the
same SQLite file (read-only; WAL lets the server write meanwhile), builds the figures and files
exactly as ``qms report`` does, and answers on its standard output. Under gevent the parent's
wait is cooperative (``subprocess`` is patched), so only the director who asked waits.

A database that is not a file (``:memory:``, some tests) cannot be shared with a child: the job
then runs in the process, as before.
"""
from __future__ import annotations

import pickle
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

from qms_common.errors import QmsError

TIMEOUT_S = 300.0  # a year of a busy center takes well under a minute


class ReportFailed(QmsError):
    """The child process could not build the report."""
    http_status = 503


class _ReadOnlyEngine:
    """What ``files.build`` reads of an engine, over a read-only connection."""

    def __init__(self, db_path: str, config, now: float) -> None:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
        conn.row_factory = sqlite3.Row
        self.store = type("ReadOnlyStore", (), {"conn": staticmethod(lambda: conn)})()
        self.config = config
        self.clock = type("StoppedClock", (), {"now": staticmethod(lambda: now)})()

    def events_of_days(self, first: date, last: date) -> list[dict]:
        from ..engine.core import Engine
        return Engine.events_of_days(self, first, last)  # type: ignore[arg-type]  # reads only self.store

    def clerk_names(self) -> dict[str, str]:
        from ..engine.core import Engine
        return Engine.clerk_names(self)  # type: ignore[arg-type]  # reads only self.store and self.config


def _work(job: dict) -> dict:
    from . import files
    engine = job.get("engine") or _ReadOnlyEngine(job["db"], job["config"], job["now"])
    report = files.build(engine, job["period"], site=job.get("site"))
    if job["kind"] == "content":
        fmt = job["format"]
        return {"report": report, "data": None if fmt == "json" else files.content(report, engine.config, fmt)}
    if job.get("skip_empty") and not report["totals"]["issued"]:
        return {"report": report, "paths": []}
    paths = files.write_all(report, engine.config, job["folder"], job["formats"])
    return {"report": report, "paths": [str(p) for p in paths]}


def _run(engine, job: dict) -> dict:
    path = getattr(engine.store, "path", ":memory:")
    if path == ":memory:" or path.startswith("file:"):
        return _work({**job, "engine": engine})
    job = {**job, "db": path, "config": engine.config, "now": engine.clock.now()}
    try:
        out = subprocess.run([sys.executable, "-m", "server.reporting.isolated"], input=pickle.dumps(job),
                             capture_output=True, timeout=TIMEOUT_S, cwd=Path(__file__).resolve().parents[2])
    except subprocess.TimeoutExpired as e:
        raise ReportFailed(f"Tạo báo cáo quá {TIMEOUT_S:.0f} giây; the report took too long") from e
    if out.returncode != 0:
        tail = out.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
        raise ReportFailed(f"Không tạo được báo cáo ({tail[0]}); the report could not be built")
    result = pickle.loads(out.stdout)
    if "error" in result:  # a QmsError in the child (a bad site, a period too long): the same error here
        cls, message, details = result["error"]
        raise cls(message, **details)
    return result


def content(engine, period, fmt: str, *, site: str | None = None) -> tuple[dict, bytes | None]:
    """(figures, file bytes) of one format (``json``: the figures only), of the whole center or
    one ``site``, built in a child."""
    result = _run(engine, {"kind": "content", "period": period, "format": fmt, "site": site})
    return result["report"], result["data"]


def write_all(engine, period, folder: str | Path, formats, *, skip_empty: bool = False) -> tuple[dict, list[Path]]:
    """Write the period's report in ``formats`` into ``folder`` from a child; with ``skip_empty``,
    nothing is written for a period without tickets."""
    result = _run(engine, {"kind": "write_all", "period": period, "folder": str(folder), "formats": list(formats),
                           "skip_empty": skip_empty})
    return result["report"], [Path(p) for p in result["paths"]]


def main() -> int:
    job = pickle.loads(sys.stdin.buffer.read())
    try:
        result = _work(job)
    except QmsError as exc:  # the user's mistake, not the child's failure: the parent raises it again
        result = {"error": (type(exc), exc.message, exc.details)}
    sys.stdout.buffer.write(pickle.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
