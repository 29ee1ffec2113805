"""``client_ref``: one key, one request. A retry of the same request gets the first ticket
back; the same key with a different request is a conflict, never a silent wrong ticket."""
from __future__ import annotations

from qms_common.errors import Conflict

#: what a client's request decides about its ticket, and how the ticket row stores it
_COMPARED = ("service", "priority", "site", "device")


def check_replay(existing: dict, *, service: str, priority: bool, site: str, device: str | None) -> None:
    """Raise :class:`Conflict` naming every field where this request differs from the one
    that created ``existing``; return when it is a true replay."""
    asked = {"service": service, "priority": bool(priority), "site": site, "device": device}
    first = {"service": existing["service"], "priority": bool(existing["priority"]), "site": existing["site"],
             "device": existing["device"]}
    differ = {k: {"first": first[k], "now": asked[k]} for k in _COMPARED if first[k] != asked[k]}
    if not differ:
        return
    fields = ", ".join(differ)
    said = "; ".join(f"{k}: {v['first']!r}, now {v['now']!r}" for k, v in differ.items())
    raise Conflict(
        f"Mã client_ref đã dùng cho vé {existing['code']} với {fields} khác; "
        f"client_ref already used for ticket {existing['code']} with a different {fields} "
        f"({said})",
        ticket=existing["code"], ticket_id=existing["id"], fields=list(differ), differ=differ)
