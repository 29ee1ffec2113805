"""Who may act on a ticket: the counter rule of docs/queue-rules.md, as one pure function.

A clerk acts only from the counter they are signed in at: on the ticket that counter holds
(called, serving or parked there) or on a ticket no counter holds (waiting, no-show) of a
service that counter serves at its own site, or one transferred to it. A clerk signed in at no
counter acts on no ticket. Directors and admins may act anywhere; the engine records who did
it (the event's ``actor``, and ``role`` in its data). A counter device (``counter-5``) acts
exactly as the clerk of its own counter would.
"""
from __future__ import annotations

from typing import Any

from qms_common.errors import Forbidden

MANAGERS = frozenset({"director", "admin"})
#: roles checked against a counter; ``None`` (the engine's own calls, the simulator) is trusted
COUNTER_BOUND = frozenset({"clerk", "counter"})


def check_ticket_action(*, action: str, role: str | None, actor: str | None, home: int | None,
                        number: int | None, ticket: dict, held_by: int | None, config: Any,
                        serves: Any = ()) -> None:
    """Raise :class:`Forbidden` if ``actor`` (of ``role``, signed in at counter ``home``) may
    not ``action`` the ``ticket`` from counter ``number`` (``None``: from wherever they are)."""
    if role is None or role in MANAGERS:
        return
    if role not in COUNTER_BOUND:
        raise Forbidden(f"Vai trò '{role}' không được thao tác trên vé; role {role!r} may not {action} a ticket")
    code = ticket["code"]
    if home is None:
        raise Forbidden(f"{actor} chưa đăng nhập quầy nào: hãy đăng nhập quầy trước; "
                        f"{actor} is not signed in at any counter: sign in at your counter first",
                        actor=actor, action=action)
    if number is not None and number != home:
        raise Forbidden(f"{actor} chỉ được làm việc tại quầy mình (quầy {home}), không phải quầy {number}; "
                        f"{actor} acts only at their own counter {home}, not counter {number}",
                        counter=number, home=home)
    if held_by is not None:
        if held_by != home:
            raise Forbidden(f"Vé {code} đang ở quầy {held_by}, không phải quầy {home} của {actor}; "
                            f"{code} is at counter {held_by}, not at {actor}'s counter {home}",
                            ticket=code, counter=held_by)
        return
    target = ticket.get("target_counter")
    if target == home:
        return
    if target is not None:
        raise Forbidden(f"Vé {code} đã được chuyển tới quầy {target}; {code} was transferred to counter {target}",
                        ticket=code, counter=target)
    conf = config.counter(home)
    if conf is None or ticket["service"] not in {*conf.services, *serves} or ticket["site"] != conf.site:
        raise Forbidden(f"Quầy {home} không phục vụ vé {code} ({ticket['service']}, điểm {ticket['site']}); "
                        f"counter {home} does not serve {code}", ticket=code, counter=home)
