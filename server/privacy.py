"""Personal data (Bảo vệ dữ liệu cá nhân, Nghị định 13/2023/NĐ-CP): none by default.

A ticket carries no name, phone number or ID number. A center may turn on a call-back
(``[privacy] callback = true``): the kiosk or the console may then send an optional phone
number (Vietnamese, validated) and name with a ticket. They are kept in their own table,
never in the append-only event log (which cannot be deleted, is shipped from satellites to
the main center and goes into reports), and deleted ``retention_days`` after the ticket was
issued by a scheduled job (``qms privacy purge``, the ``qms-privacy-purge.timer`` unit; the
server also purges when it starts). Reports never contain them; ``qms privacy export``
lists the call-backs of a day with the phone and name only when asked with
``--include-personal``. See docs/deploy.md, "Bảo vệ dữ liệu cá nhân".
"""
from __future__ import annotations

import csv
import sys
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from qms_common.errors import Forbidden

DAY_S = 86400.0
#: a Vietnamese mobile (03x, 05x, 07x, 08x, 09x: 10 digits) or a fixed line (02x: 11 digits),
#: written with 0 or +84 in front, without spaces
PHONE_PATTERN = r"^(?:0|\+84)(?:[35789][0-9]{8}|2[0-9]{9})$"


class CallbackIn(BaseModel):
    """What a citizen may leave for a call-back: a phone number, and a name if they wish."""

    model_config = ConfigDict(extra="forbid", strict=True)
    phone: str = Field(pattern=PHONE_PATTERN, description="Vietnamese phone number, e.g. 0912345678 or +84912345678")
    name: str | None = Field(default=None, min_length=1, max_length=80, description="how to address the citizen")


class Callbacks:
    """The call-back table of one store, under the center's ``[privacy]`` rules."""

    def __init__(self, store, config, clock) -> None:
        self.store, self.policy, self.clock = store, config.privacy, clock

    def save(self, ticket_id: str, callback: CallbackIn) -> None:
        if not self.policy.callback:
            raise Forbidden("Trung tâm không thu thập số điện thoại hay họ tên (tắt trong cấu hình [privacy]); "
                            "this center collects no phone number or name ([privacy] callback is off)",
                            field="callback")

        def work(conn):
            conn.execute("INSERT INTO callbacks (ticket_id, phone, name, created_at) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT (ticket_id) DO NOTHING",
                         (ticket_id, callback.phone, callback.name, self.clock.now()))

        self.store.transact(work)

    def purge(self) -> int:
        """Delete every call-back older than ``retention_days``; answer how many."""
        cutoff = self.clock.now() - self.policy.retention_days * DAY_S
        return self.store.transact(
            lambda conn: conn.execute("DELETE FROM callbacks WHERE created_at < ?", (cutoff,)).rowcount)

    def rows(self, day: date, *, include_personal: bool = False) -> list[dict]:
        """The call-backs of tickets of ``day``; phone and name only with ``include_personal``."""
        got = self.store.conn().execute(
            "SELECT t.code, t.service, t.site, t.issued_at, c.phone, c.name FROM callbacks c JOIN tickets t "
            "ON t.id = c.ticket_id WHERE t.day = ? ORDER BY t.issued_at", (day.isoformat(),)).fetchall()
        out = []
        for r in got:
            row = {"code": r["code"], "service": r["service"], "site": r["site"], "issued_at": r["issued_at"]}
            if include_personal:
                row.update(phone=r["phone"], name=r["name"])
            out.append(row)
        return out


def cmd_purge(args, settings) -> int:
    from qms_common.clock import SystemClock

    from .config import load_center
    from .sites import effective_center
    from .store import Store
    config = effective_center(settings, load_center(settings.center_file))
    n = Callbacks(Store(settings.database_path), config, SystemClock()).purge()
    print(f"đã xóa {n} số gọi lại quá {config.privacy.retention_days} ngày; "
          f"{n} call-backs older than {config.privacy.retention_days} days deleted")
    return 0


def cmd_export(args, settings) -> int:
    from qms_common.clock import SystemClock

    from .config import load_center
    from .sites import effective_center
    from .store import Store
    config = effective_center(settings, load_center(settings.center_file))
    day = date.fromisoformat(args.day)
    rows = Callbacks(Store(settings.database_path), config, SystemClock()).rows(
        day, include_personal=args.include_personal)
    heads = ["code", "service", "site", "issued_at"] + (["phone", "name"] if args.include_personal else [])
    out = open(args.out, "w", newline="", encoding="utf-8") if args.out != "-" else sys.stdout
    try:
        writer = csv.DictWriter(out, fieldnames=heads)
        writer.writeheader()
        writer.writerows(rows)
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def register(sub, settings_of) -> None:
    pv = sub.add_parser("privacy", help="personal data for call-backs (off by default): purge, export").add_subparsers(
        dest="privacy_cmd", required=True)
    pp = pv.add_parser("purge", help="delete call-backs older than [privacy] retention_days (the scheduled job)")
    pp.set_defaults(fn=lambda args: cmd_purge(args, settings_of(args)))
    pe = pv.add_parser("export", help="the call-backs of a day as CSV; phone and name only with --include-personal")
    pe.add_argument("--day", required=True, help="YYYY-MM-DD")
    pe.add_argument("--include-personal", action="store_true",
                    help="include the phone numbers and names (only for calling the citizens back)")
    pe.add_argument("--out", default="-", help="file (default: standard output)")
    pe.set_defaults(fn=lambda args: cmd_export(args, settings_of(args)))
