"""The director's hands on the counters: change what a counter serves, ask it to take one
service first, call its clerk back from a break; and take any of it back.

Each change is one ``counter_control_applied`` event with ``{change_id, counter, action, before,
after, by}`` (``before``/``after``: ``{"state", "services"}`` of the counter), and an undo is one
``counter_control_undone`` event with the same fields the other way round. The counter's
``services`` column holds the effective list, the one ``call_next``, the wait estimator, the
alerts, ``counters_view()`` and the snapshot already read, so a change takes effect at that
counter's next call (the citizen in hand is not touched) and survives a restart; the replay
(``engine/replay.py``) rebuilds it from the events. A change lasts until the clerk signs out
(the next clerk signs in with their own services).

Only what is possible: a counter with its clerk present (open, or paused for ``call_back``),
only services that clerk is trained for (``[[clerks]]`` of the configuration; a clerk not listed
may serve what the counter serves). Director role only; every change names who made it.
"""
from __future__ import annotations

import json
import secrets
import sqlite3
from typing import Any

from qms_common.clock import local_timestamp
from qms_common.errors import Conflict, Forbidden, NotFound, QmsError

ACTIONS = ("set_services", "take_first", "call_back")
APPLIED, UNDONE = "counter_control_applied", "counter_control_undone"
CONTROLLERS = frozenset({"director"})


def _names(config, codes: list[str]) -> str:
    return ", ".join((config.service(c).name if config.service(c) else c) for c in codes)


def control_message(config, action: str, before: dict, after: dict) -> str:
    """What the clerk's console says about a change, Vietnamese first."""
    if action == "call_back" or before.get("state") != after.get("state"):
        if after.get("state") == "open":
            return "Lãnh đạo trung tâm đề nghị quầy này trở lại làm việc ngay; the director calls this counter back"
        return "Quầy này trở lại trạng thái tạm nghỉ; this counter is back on its break"
    old, new = before.get("services") or [], after.get("services") or []
    parts_vi, parts_en = [], []
    added = [s for s in new if s not in old]
    removed = [s for s in old if s not in new]
    if added:
        parts_vi.append(f"Quầy này nay phục vụ thêm: {_names(config, added)}")
        parts_en.append(f"this counter now also serves {', '.join(added)}")
    if removed:
        parts_vi.append(f"Quầy này thôi phục vụ: {_names(config, removed)}")
        parts_en.append(f"this counter no longer serves {', '.join(removed)}")
    if new and (not old or new[0] != old[0]):
        parts_vi.append(f"Ưu tiên gọi trước: {_names(config, new[:1])}")
        parts_en.append(f"{new[0]} is called first")
    if not parts_vi:
        parts_vi.append(f"Thứ tự phục vụ nay là: {_names(config, new)}")
        parts_en.append(f"order of services now {', '.join(new)}")
    return ". ".join(parts_vi) + "; " + ". ".join(parts_en)


class CounterControls:
    """Mixed into :class:`~server.engine.core.Engine`."""

    def _control_target(self, action: str, counter: dict, service: str | None,
                        services: list[str] | None) -> tuple[dict, dict]:
        number = counter["number"]
        clerk = counter["clerk"]
        current = self.active_services(counter)
        before = {"state": counter["state"], "services": list(current)}
        if action == "call_back":
            if counter["state"] != "paused":
                raise Conflict(f"Quầy {number} không tạm nghỉ (đang '{counter['state']}'): không có gì để gọi lại; "
                               f"counter {number} is {counter['state']}, not on a break",
                               counter=number, state=counter["state"])
            return before, {"state": "open", "services": list(current)}
        if counter["state"] == "closed" or not clerk:
            raise Conflict(f"Quầy {number} đang đóng, không có cán bộ: không thể đổi lĩnh vực; counter {number} "
                           f"is closed, nobody is there to serve", counter=number, state=counter["state"])
        trained = self.config.trained(clerk, number)
        if action == "take_first":
            if not service:
                raise QmsError("Cần chọn lĩnh vực để ưu tiên; give the service to take first")
            wanted = [service] + [s for s in current if s != service]
        else:
            wanted = list(services or [])
            if not wanted:
                raise QmsError("Quầy phải phục vụ ít nhất một lĩnh vực; a counter serves at least one service")
            if len(set(wanted)) != len(wanted):
                raise QmsError("Một lĩnh vực được ghi hai lần; a service is listed twice")
        unknown = [s for s in wanted if self.config.service(s) is None]
        if unknown:
            raise NotFound(f"Không có lĩnh vực {', '.join(unknown)}; unknown service {', '.join(unknown)}",
                           service=unknown[0])
        untrained = [s for s in wanted if s not in trained]
        if untrained:
            raise Conflict(f"Cán bộ {clerk} ở quầy {number} chưa được đào tạo {_names(self.config, untrained)} "
                           f"(được phục vụ: {', '.join(trained)}); {clerk} is not trained for "
                           f"{', '.join(untrained)}", counter=number, not_trained=untrained, trained=trained)
        if wanted == current:
            raise Conflict(f"Quầy {number} đã phục vụ đúng như vậy: không có gì thay đổi; counter {number} "
                           f"already serves {', '.join(current)}", counter=number, services=current)
        return before, {"state": counter["state"], "services": wanted}

    def _check_controller(self, role: str | None) -> None:
        if role is not None and role not in CONTROLLERS:
            raise Forbidden(f"Chỉ lãnh đạo trung tâm được điều phối quầy; only the director may change a "
                            f"counter (role {role!r})", role=role)

    def _write_counter(self, conn: sqlite3.Connection, number: int, target: dict) -> None:
        conn.execute("UPDATE counters SET state = ?, services = ?, since = CASE WHEN state != ? THEN ? ELSE since "
                     "END WHERE number = ?", (target["state"], json.dumps(target["services"]), target["state"],
                                               self.clock.now(), number))

    def apply_control(self, number: int, action: str, *, service: str | None = None,
                      services: list[str] | None = None, by: str | None = None, role: str | None = None,
                      proposal: str | None = None) -> dict:
        """Apply one change to counter ``number``; answer the change (``change_id`` to undo it)."""
        self._check_controller(role)
        if action not in ACTIONS:
            raise QmsError(f"Không có thao tác '{action}'; unknown action {action!r} ({', '.join(ACTIONS)})")
        events: list[dict] = []
        with self.store.write() as conn:
            counter = self._counter(conn, number)
            before, after = self._control_target(action, counter, service, services)
            self._write_counter(conn, number, after)
            change_id = secrets.token_hex(6)
            extra = {"proposal": proposal} if proposal else {}
            event = self._control_event(conn, events, APPLIED, number, by, dict(
                change_id=change_id, counter=number, action=action, before=before, after=after, by=by, **extra))
        self._emit(events)
        return self._change_view(event, undone=None)

    def undo_control(self, change_id: str, *, by: str | None = None, role: str | None = None) -> dict:
        """Take a change back, if the counter is still as the change left it."""
        self._check_controller(role)
        events: list[dict] = []
        with self.store.write() as conn:
            applied, undone = self._find_change(conn, change_id)
            if applied is None:
                raise NotFound(f"Không có thay đổi '{change_id}' hôm nay; no change {change_id!r} today",
                               change_id=change_id)
            if undone is not None:
                raise Conflict(f"Thay đổi {change_id} đã được hoàn tác; change {change_id} was already undone",
                               change_id=change_id)
            data = applied["data"]
            number = data["counter"]
            counter = self._counter(conn, number)
            now = {"state": counter["state"], "services": list(self.active_services(counter))}
            if now != data["after"] or counter["clerk"] is None:
                raise Conflict(f"Quầy {number} đã thay đổi sau đó (nay: {now['state']}, "
                               f"{', '.join(now['services'])}): không hoàn tác được; counter {number} changed since, "
                               f"this change can no longer be undone", counter=number, now=now)
            self._write_counter(conn, number, data["before"])
            self._control_event(conn, events, UNDONE, number, by, dict(
                change_id=change_id, counter=number, action=data["action"], before=data["after"],
                after=data["before"], by=by))
        self._emit(events)
        return self._change_view(applied, undone=events[-1])

    def _control_event(self, conn: sqlite3.Connection, out: list[dict], type_: str, number: int, by: str | None,
                       data: dict) -> dict:
        """Like ``Engine._event``, with ``counter`` in the data too (the MQTT side publishes the data)."""
        at = self.clock.now()
        seq = conn.execute("INSERT INTO events (at, type, ticket_id, counter, actor, device, data) "
                           "VALUES (?,?,?,?,?,?,?) RETURNING seq",
                           (at, type_, None, number, by, None,
                            json.dumps(data, ensure_ascii=False, sort_keys=True))).fetchone()[0]
        event = {"seq": seq, "at": at, "type": type_, "ticket_id": None, "counter": number, "actor": by,
                 "device": None, "data": data}
        out.append(event)
        return event

    def _find_change(self, conn: sqlite3.Connection, change_id: str) -> tuple[dict | None, dict | None]:
        applied = undone = None
        for e in self._control_events(conn):
            if e["data"].get("change_id") == change_id:
                if e["type"] == APPLIED:
                    applied = e
                else:
                    undone = e
        return applied, undone

    def _control_events(self, conn: sqlite3.Connection) -> list[dict]:
        start = local_timestamp(self.today(), "00:00", self.config.tz)
        rows = conn.execute("SELECT * FROM events WHERE type IN (?, ?) AND at >= ? ORDER BY seq",
                            (APPLIED, UNDONE, start)).fetchall()
        return [{**dict(r), "data": json.loads(r["data"])} for r in rows]

    def _change_view(self, applied: dict, undone: dict | None) -> dict:
        d = applied["data"]
        return {"change_id": d["change_id"], "counter": d["counter"], "action": d["action"],
                "before": d["before"], "after": d["after"], "by": d["by"], "at": applied["at"],
                "seq": applied["seq"], "proposal": d.get("proposal"),
                "message": control_message(self.config, d["action"], d["before"], d["after"]),
                "undone_at": undone["at"] if undone else None, "undone_by": undone["data"]["by"] if undone else None}

    def control_log(self) -> list[dict]:
        """Today's changes, the newest first, each with whether (and by whom) it was undone."""
        events = self._control_events(self.store.conn())
        undone = {e["data"]["change_id"]: e for e in events if e["type"] == UNDONE}
        out = [self._change_view(e, undone.get(e["data"]["change_id"])) for e in events if e["type"] == APPLIED]
        return out[::-1]

    def counter_notices(self) -> dict[int, dict[str, Any]]:
        """Per counter, the last change still in force today (for the clerk's console)."""
        out: dict[int, dict[str, Any]] = {}
        signed_in = {r[0]: r[1] for r in self.store.conn().execute(  # each counter's last sign-in, in log order
            "SELECT counter, max(seq) FROM events WHERE type = 'counter_signed_in' GROUP BY counter").fetchall()}
        for change in self.control_log()[::-1]:
            if change["seq"] < signed_in.get(change["counter"], 0):
                continue  # the clerk who got it has signed out since
            if change["undone_at"] is None:
                out[change["counter"]] = {"change_id": change["change_id"], "message": change["message"],
                                          "at": change["at"], "by": change["by"]}
            else:
                out.pop(change["counter"], None)
        return out
