"""Per-request access to the app's services and the role check every route uses."""
from __future__ import annotations

from dataclasses import dataclass
from functools import wraps
from typing import Callable

from flask import current_app, g, request

from qms_common.errors import Forbidden, NotFound, Unauthorized

from ..auth import Auth, Principal
from ..engine import Engine

TOKEN_COOKIE = "qms_token"


@dataclass
class Services:
    engine: Engine
    auth: Auth
    settings: object


def services() -> Services:
    return current_app.extensions["qms"]


def request_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip() or None
    return request.cookies.get(TOKEN_COOKIE)


def principal() -> Principal | None:
    if "principal" not in g:
        g.principal = services().auth.authenticate(request_token())
    return g.principal


#: the roles and device kinds as a Vietnamese refusal names them
ROLE_VI = {"clerk": "cán bộ", "director": "lãnh đạo", "admin": "quản trị viên", "kiosk": "ki-ốt",
           "display": "màn hình", "robot": "robot", "counter": "thiết bị quầy", "announcer": "loa gọi số",
           "satellite": "điểm tiếp nhận"}


def require(*roles: str) -> Callable:
    """Allow only these roles (user roles or device kinds)."""

    def decorate(fn: Callable) -> Callable:
        @wraps(fn)
        def wrapper(*args, **kwargs):
            who = principal()
            if who is None:
                raise Unauthorized("Cần đăng nhập; sign in or send a device token (Authorization: Bearer ...)")
            if who.role not in roles:
                allowed = ", ".join(ROLE_VI.get(r, r) for r in roles)
                raise Forbidden(f"Tài khoản {ROLE_VI.get(who.role, who.role)} không được làm việc này (chỉ {allowed}); "
                                f"role {who.role!r} may not do this (allowed: {', '.join(roles)})")
            return fn(*args, **kwargs)

        return wrapper

    return decorate


def device_site(requested: str | None) -> str | None:
    """The site a request acts for: a device registered to a site acts only there."""
    who = principal()
    if who.kind == "device" and who.site:
        if requested and requested != who.site:
            raise Forbidden(f"Thiết bị {who.id} thuộc điểm {who.site}, không phải {requested}; {who.id} belongs "
                            f"to site {who.site!r}, not {requested!r}", device=who.id, site=who.site)
        return who.site
    return requested


def known_site(site: str | None) -> str | None:
    """``site`` if the center has it (``None``: the main one), else a 404 naming the sites: a screen
    asking for a site that is not there must be told so, not shown an empty center."""
    if site is None:
        return None
    sites = [s.id for s in services().engine.config.sites]
    if site not in sites:
        raise NotFound(f"Không có điểm tiếp nhận '{site}' (các điểm: {', '.join(sites)}); unknown site {site!r} "
                       f"(sites: {', '.join(sites)})", site=site)
    return site


STAFF = ("clerk", "director", "admin")
MANAGERS = ("director", "admin")
SCREENS = ("clerk", "director", "admin", "display", "kiosk", "robot", "counter", "announcer")
