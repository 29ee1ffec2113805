"""``qms``: the center server's command line.

Every error a person can make here ends with a one-line message and exit status 2, never
a traceback.
"""
from __future__ import annotations

import argparse
import csv
import getpass
import json
import logging
import os
import sys
from datetime import date
from pathlib import Path

from qms_common.errors import QmsError
from qms_common.private_files import write_private

from .settings import ServerSettings, load_settings


def _settings(args) -> ServerSettings:
    path = args.settings or os.environ.get("QMS_SETTINGS")
    settings = load_settings(path)
    overrides = {}
    if getattr(args, "center", None):
        overrides["center_file"] = args.center
    if getattr(args, "state_dir", None):
        overrides["state_dir"] = args.state_dir
    if overrides:
        settings = settings.model_copy(update=overrides)
    return settings


def _store(settings: ServerSettings):
    from .store import Store
    return Store(settings.database_path)


def cmd_init(args) -> int:
    from .config import load_center
    from .sites import effective_center
    settings = _settings(args)
    center = effective_center(settings, load_center(settings.center_file))  # a satellite: its site only
    store = _store(settings)
    applied = store.migrate()
    from .engine import Engine
    from qms_common.clock import SystemClock
    Engine(store, center, SystemClock())
    print(f"database {settings.database_path} ready ({len(applied)} migrations applied now) "
          f"for {center.center.name}")
    return 0


def cmd_config_check(args) -> int:
    from .config import load_center
    settings = _settings(args)
    center = load_center(settings.center_file)
    print(f"OK: {center.center.name} ({center.center.id}), timezone {center.center.timezone}")
    print(f"  {len(center.sites)} sites, {len(center.services)} services, {len(center.counters)} counters, "
          f"calling rule {center.calling.rule}")
    for c in center.counters:
        print(f"  quầy {c.number:>3} @ {c.site}: {', '.join(c.services)}")
    return 0


def cmd_user_add(args) -> int:
    from .auth import Auth
    from qms_common.clock import SystemClock
    settings = _settings(args)
    password = os.environ.get("QMS_PASSWORD") if args.password_env else None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    if password is None:
        password = getpass.getpass(f"password for {args.username}: ")
    Auth(_store(settings), SystemClock()).add_user(args.username, args.name or args.username, args.role, password)
    print(f"user {args.username} ({args.role}) saved")
    return 0


def cmd_device_add(args) -> int:
    from .auth import Auth
    from qms_common.clock import SystemClock
    from .config import load_center
    settings = _settings(args)
    if args.site is not None:
        sites = [s.id for s in load_center(settings.center_file).sites]
        if args.site not in sites:
            raise QmsError(f"unknown site {args.site!r} (sites: {', '.join(sites)})")
    token = Auth(_store(settings), SystemClock()).add_device(args.device_id, args.kind, args.name or "", args.site)
    if args.token_file:
        path = write_private(args.token_file, token + "\n")
        print(f"device {args.device_id} ({args.kind}) saved; token written to {path}")
    else:
        print(f"device {args.device_id} ({args.kind}) saved; its token (shown once):\n{token}")
    return 0


def cmd_list(args) -> int:
    from .auth import Auth
    from qms_common.clock import SystemClock
    auth = Auth(_store(_settings(args)), SystemClock())
    rows = auth.users() if args.what == "users" else auth.devices()
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    return 0


def cmd_export_events(args) -> int:
    settings = _settings(args)
    store = _store(settings)
    sql = "SELECT seq, at, type, ticket_id, counter, actor, device, data FROM events"
    params: list = []
    if args.day:
        date.fromisoformat(args.day)
        sql += " WHERE ticket_id LIKE ? OR (type LIKE 'counter_%' AND date(at, 'unixepoch') = ?)"
        params = [args.day.replace("-", "") + "-%", args.day]
    sql += " ORDER BY seq"
    out = open(args.out, "w", newline="", encoding="utf-8") if args.out != "-" else sys.stdout
    try:
        writer = csv.writer(out)
        writer.writerow(["seq", "at", "type", "ticket_id", "counter", "actor", "device", "data"])
        n = 0
        for row in store.db().query(sql, params):
            writer.writerow([row[k] for k in ("seq", "at", "type", "ticket_id", "counter", "actor", "device", "data")])
            n += 1
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"{n} events exported to {args.out}", file=sys.stderr)
    return 0


def cmd_report(args) -> int:
    from qms_common.clock import SystemClock

    from .config import load_center
    from .engine import Engine
    from .reporting import files, period as periods
    from .reports import format_table, report_for
    from .reporting import sites
    from .sites import effective_center
    settings = _settings(args)
    engine = Engine(_store(settings), effective_center(settings, load_center(settings.center_file)), SystemClock())
    sites.check_site(engine.config, args.site)
    if args.week and (args.since or args.to):
        raise QmsError("Chọn --week hoặc --from/--to; give --week or --from/--to, not both")
    if args.week:
        period = periods.week(args.week)
    else:
        last = date.fromisoformat(args.to) if args.to else engine.today()
        period = periods.days(date.fromisoformat(args.since) if args.since else last, last)
    if args.format == "table":
        first, last, rows = report_for(engine, period.first, period.last, site=args.site)
        text = format_table(rows) if rows else f"Không có vé nào từ {first:%d/%m/%Y} đến {last:%d/%m/%Y}; no tickets"
        _write_text(args.out, text + "\n")
        return 0
    report = files.build(engine, period, site=args.site)
    if args.format == "all":
        folder = args.out if args.out != "-" else "."
        for path in files.write_all(report, engine.config, folder):
            print(path)
        return 0
    data = files.content(report, engine.config, args.format)
    if args.out == "-":
        if args.format in ("pdf", "xlsx"):
            raise QmsError(f"{args.format.upper()} cần --out tệp; give --out FILE for {args.format}")
        sys.stdout.write(data.decode("utf-8"))
    else:
        Path(args.out).write_bytes(data)
        print(args.out, file=sys.stderr)
    return 0


def cmd_replay(args) -> int:
    """Rebuild the live state from the events; with --check compare it with the live tables
    (exit 1 when they differ)."""
    from .config import load_center
    from .engine.replay_check import check
    settings = _settings(args)
    if not settings.database_path.exists():
        raise QmsError(f"Không có cơ sở dữ liệu {settings.database_path}; no database at {settings.database_path}")
    from .sites import effective_center
    center = effective_center(settings, load_center(settings.center_file))
    store = _store(settings)
    try:
        result = check(store.conn(), [c.number for c in center.counters])
    finally:
        store.close()
    if not args.check:
        print(f"{result.events} sự kiện, {result.tickets} vé, {result.counters} quầy; "
              f"{result.events} events, {result.tickets} tickets, {result.counters} counters (use --check to compare)")
        return 0
    for diff in result.differences[:args.max_shown]:
        print(diff.message())
    if len(result.differences) > args.max_shown:
        print(f"... và {len(result.differences) - args.max_shown} khác biệt nữa; "
              f"and {len(result.differences) - args.max_shown} more")
    print(result.summary())
    return 0 if result.ok else 1


def cmd_audit(args) -> int:
    from .auth import Auth
    from qms_common.clock import SystemClock
    for row in Auth(_store(_settings(args)), SystemClock()).audit_log(args.limit):
        print(json.dumps(row, ensure_ascii=False))
    return 0


def _write_text(out: str, text: str) -> None:
    if out == "-":
        sys.stdout.write(text)
    else:
        Path(out).write_text(text, encoding="utf-8")


def cmd_serve(args) -> int:
    from .config import load_center
    from .serve import serve
    settings = _settings(args)
    # checked here, before any worker starts: a broken file is the same one-line message as
    # `qms config check`, not a worker's traceback and "Worker failed to boot"
    center = load_center(settings.center_file)
    clock = None
    if args.bench_clock_start:  # benches and demos only: server/bench_clock.py
        from .bench_clock import bench_clock
        clock = bench_clock(args.bench_clock_start, center.center.timezone, settings.database_path)
    if args.host:
        settings = settings.model_copy(update={"host": args.host})
    if args.port:
        settings = settings.model_copy(update={"port": args.port})
    return serve(settings, dev=args.dev, clock=clock)


def cmd_demo(args) -> int:
    from .demo import run_demo
    return run_demo(port=args.port, speed=args.speed, state_dir=args.state_dir, scenario=args.scenario,
                    duration_s=args.duration, kiosk_port=args.kiosk_port, broker_port=args.broker_port)


def cmd_simulate(args) -> int:
    from .simulator import run_scenario_file
    return run_scenario_file(args.scenario, out=args.out, center_file=args.center, rule=args.rule,
                             history=args.history or (), db_path=args.db, ratings=args.ratings,
                             follow_advice=args.follow_advice, reaction_s=args.reaction_s, trained=args.trained)


def cmd_plan(args) -> int:
    from .planning.command import run_plan
    return run_plan(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qms", description="Queue management for a public administrative service center")
    p.add_argument("--settings", help="server settings TOML (default: $QMS_SETTINGS or built-in defaults)")
    p.add_argument("--center", help="center configuration TOML (overrides the settings' center_file)")
    p.add_argument("--state-dir", help="where the database and secret key live (overrides the settings)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("init", help="create or upgrade the database").set_defaults(fn=cmd_init)

    cfg = sub.add_parser("config", help="configuration").add_subparsers(dest="config_cmd", required=True)
    cfg.add_parser("check", help="validate the center configuration and print a summary").set_defaults(
        fn=cmd_config_check)

    user = sub.add_parser("user", help="clerks, directors, admins").add_subparsers(dest="user_cmd", required=True)
    ua = user.add_parser("add", help="add a user or reset a password")
    ua.add_argument("username")
    ua.add_argument("--role", required=True, choices=["clerk", "director", "admin"])
    ua.add_argument("--name", help="full name, e.g. 'Nguyễn Thị Lan'")
    ua.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    ua.add_argument("--password-env", action="store_true", help="read the password from $QMS_PASSWORD")
    ua.set_defaults(fn=cmd_user_add)
    user.add_parser("list").set_defaults(fn=cmd_list, what="users")

    dev = sub.add_parser("device", help="kiosks, displays, robots, counter devices").add_subparsers(
        dest="device_cmd", required=True)
    da = dev.add_parser("add", help="register a device and print its token")
    da.add_argument("device_id")
    da.add_argument("--kind", required=True, choices=["kiosk", "display", "robot", "counter", "announcer", "satellite"])
    da.add_argument("--name")
    da.add_argument("--site")
    da.add_argument("--token-file", help="write the token to this file (0600) instead of printing it")
    da.set_defaults(fn=cmd_device_add)
    dev.add_parser("list").set_defaults(fn=cmd_list, what="devices")

    ex = sub.add_parser("export-events", help="export the event log as CSV")
    ex.add_argument("--out", default="-", help="file (default: standard output)")
    ex.add_argument("--day", help="only this day (YYYY-MM-DD, center time)")
    ex.set_defaults(fn=cmd_export_events)

    rp = sub.add_parser("report", help="the report for the province: waits, the 15/30-minute promise, "
                                       "satisfaction, counters and clerks, busy hours (docs/reports.md)")
    rp.add_argument("--week", help="an ISO week, e.g. 2026-W48 (Monday to Sunday)")
    rp.add_argument("--from", dest="since", help="first day, YYYY-MM-DD (default: the --to day)")
    rp.add_argument("--to", help="last day, YYYY-MM-DD (default: today, center time)")
    rp.add_argument("--format", choices=["table", "pdf", "html", "xlsx", "csv", "all"], default="table",
                    help="table: the terminal; pdf/html: the printable report; xlsx/csv: for the province; "
                         "all: every file into the folder --out")
    rp.add_argument("--out", default="-", help="file, or folder for --format all (default: standard output)")
    rp.add_argument("--site", help="one site only (default: the whole center, with a line per site)")
    rp.set_defaults(fn=cmd_report)

    rl = sub.add_parser("replay", help="rebuild the live state from the event log (--check: compare, exit 1 "
                                       "on any difference)")
    rl.add_argument("--check", action="store_true", help="compare with the live tables and list every difference")
    rl.add_argument("--max-shown", type=int, default=200, help="list at most this many differences")
    rl.set_defaults(fn=cmd_replay)

    au = sub.add_parser("audit", help="failed and throttled sign-ins (the audit log), oldest first")
    au.add_argument("--limit", type=int, default=100, help="the last N entries")
    au.set_defaults(fn=cmd_audit)

    sv = sub.add_parser("serve", help="run the server (gunicorn, one gevent worker)")
    sv.add_argument("--host")
    sv.add_argument("--port", type=int)
    sv.add_argument("--dev", action="store_true", help="Flask's development server, for debugging only")
    sv.add_argument("--bench-clock-start", metavar="YYYY-MM-DDTHH:MM",
                    help="benches and demos only: run as if it were this local time of the center (the clock "
                         "then runs at real speed); refused unless the database holds no event yet")
    sv.set_defaults(fn=cmd_serve)

    dm = sub.add_parser("demo", help="the whole center on loopback with simulated citizens")
    dm.add_argument("--port", type=int, default=8000,
                    help="the server's port; the kiosk's page takes the next one and the broker the one after")
    dm.add_argument("--kiosk-port", type=int, help="the kiosk's page (default: --port + 1)")
    dm.add_argument("--broker-port", type=int, help="the demo's MQTT broker (default: --port + 2)")
    dm.add_argument("--speed", type=float, default=20.0,
                    help="how much faster than real time the simulated citizens arrive and are served")
    dm.add_argument("--scenario", help="scenario folder (default: the bundled ward-weekday)")
    dm.add_argument("--duration", type=float, default=None, help="stop after this many real seconds")
    dm.set_defaults(fn=cmd_demo)

    sm = sub.add_parser("simulate", help="replay a scenario day in virtual time and report every ticket")
    sm.add_argument("scenario", help="scenario folder (center.json, staff.csv, arrivals.csv)")
    sm.add_argument("--out", default="-", help="CSV report (default: standard output)")
    sm.add_argument("--rule", choices=["longest_wait", "strict_preference"])
    sm.add_argument("--history", nargs="+", metavar="DIR",
                    help="earlier days of the same center (day folders, or folders of them) lived first, "
                         "so that the estimate learns from them; without it the day starts cold")
    sm.add_argument("--db", help="keep the day's events in this SQLite database (added to what is there)")
    sm.add_argument("--ratings", action="store_true", help="simulated citizens rate six services in ten")
    sm.add_argument("--follow-advice", action="store_true",
                    help="a director applies the live advice's first proposal (docs/advice.md)")
    sm.add_argument("--reaction-s", type=float, default=120.0, metavar="S",
                    help="with --follow-advice: seconds from seeing a proposal to applying it (default 120)")
    sm.add_argument("--trained", metavar="all|FILE",
                    help="clerks trained beyond their shift rows' skills, which the advice may then give their "
                         "counter: 'all' (every service) or a CSV of clerk,services (services separated by ';'); "
                         "signing in keeps to the rows' skills")
    sm.set_defaults(fn=cmd_simulate)

    pl = sub.add_parser("plan", help="the day ahead: forecast arrivals, clerks needed, the roster's shortfall and fixes")
    pl.add_argument("--date", required=True, help="the day to plan, YYYY-MM-DD")
    pl.add_argument("--history", nargs="+", required=True, metavar="DIR",
                    help="earlier days of the center (day folders, or folders of them, as generate.py writes)")
    pl.add_argument("--staff", help="the roster of the day (staff.csv; default: the latest history day's)")
    pl.add_argument("--absent", default="", help="clerks absent that day, comma-separated (e.g. c3,c7)")
    pl.add_argument("--format", choices=["table", "json"], default="table")
    pl.add_argument("--no-check", action="store_true", help="the queueing formula only, no simulated check")
    pl.add_argument("--out", default="-", help="file (default: standard output)")
    pl.set_defaults(fn=cmd_plan)

    from .satellite.command import register as register_satellite
    register_satellite(sub, _settings)
    from .privacy import register as register_privacy
    register_privacy(sub, _settings)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.fn(args) or 0
    except QmsError as exc:
        print(f"qms: {exc.message}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"qms: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
