"""``qms replicate`` (at a standalone site) and ``qms sites`` (at the main center)."""
from __future__ import annotations

import sys

from qms_common.errors import QmsError


def cmd_replicate(args, settings) -> int:
    from qms_common.service_cli import run_until_signalled

    from ..store import Store
    from .replicator import Replicator, read_token
    sat = settings.satellite
    if sat is None:
        raise QmsError("Máy chủ này không phải điểm vệ tinh: thiếu mục [satellite] trong server.toml; "
                       "this server has no [satellite] section in its settings (docs/deploy.md section 10)")
    replicator = Replicator(Store(settings.database_path), sat, read_token(sat.token_file))
    if args.once:
        n = replicator.sync()
        print(f"{n} sự kiện đã gửi lên trung tâm chính (đến số {replicator.through}); "
              f"{n} events applied at the main center (through seq {replicator.through})")
        return 0
    run_until_signalled(replicator, status=f"replicating site {sat.site} to {sat.main_url}",
                        stop=replicator.stopping)
    fatal = getattr(replicator, "fatal", None)
    if fatal is not None:
        print(f"qms: {fatal.message}", file=sys.stderr)
        return 1
    return 0


def cmd_sites(args, settings) -> int:
    """How far the main center has each standalone site's events."""
    from datetime import datetime

    from qms_common.clock import SystemClock

    from ..config import load_center
    from ..engine import Engine
    from ..store import Store
    from .mirror import Mirror
    engine = Engine(Store(settings.database_path), load_center(settings.center_file), SystemClock())
    rows = Mirror(engine).cursors()
    if not rows:
        print("Không có điểm nào chạy độc lập; no standalone sites in the center file")
    for row in rows:
        when = (datetime.fromtimestamp(row["updated_at"], engine.config.tz).strftime("%d/%m/%Y %H:%M:%S")
                if row["updated_at"] else "chưa bao giờ; never")
        print(f"{row['site']}: đến sự kiện số {row['through']}, nhận lúc {when}")
    return 0


def register(sub, settings_of) -> None:
    rp = sub.add_parser("replicate", help="at a standalone site: ship its event log to the main center "
                                          "(retries until the link is back; docs/deploy.md section 10)")
    rp.add_argument("--once", action="store_true", help="send what is waiting and exit (exit 2 if the link is down)")
    rp.set_defaults(fn=lambda args: cmd_replicate(args, settings_of(args)))
    st = sub.add_parser("sites", help="at the main center: how far each standalone site's events have arrived")
    st.set_defaults(fn=lambda args: cmd_sites(args, settings_of(args)))
