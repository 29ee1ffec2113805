"""Refuse cross-site writes: a state-changing request that the browser may have sent on its
own (it carries the session cookie, not an ``Authorization`` header) must come from a page of
this center, as its ``Origin`` (or, lacking it, its ``Referer``) says.

The model is Django's ``CsrfViewMiddleware._origin_verified``: compare the request's Origin
with the site's own origin (scheme, host and port of the request) and a list of trusted
origins, and log the reason of every refusal. Requests with a Bearer token (kiosks, displays,
robots, the console's own calls) cannot be forged by another page: a foreign page cannot
set that header without a CORS preflight, which this server never grants.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from flask import Flask, jsonify, request

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def normalize_origin(url: str) -> str | None:
    """``scheme://host[:port]`` in lower case, the default port left out; None if not a URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def refusal(method: str, headers: Mapping[str, str], has_cookie: bool, own: Iterable[str]) -> str | None:
    """Why this request must be refused as cross-site, or None if it may go on."""
    if method.upper() in SAFE_METHODS:
        return None
    if headers.get("Authorization", "").startswith("Bearer "):
        return None
    allowed = {o for o in (normalize_origin(u) for u in own) if o}
    origin = headers.get("Origin")
    if origin is not None:
        if origin.strip() == "null":
            return "Origin is 'null' (a sandboxed or privacy-stripped page)"
        if normalize_origin(origin) in allowed:
            return None
        return f"Origin {origin[:200]!r} is not this center's ({', '.join(sorted(allowed))})"
    referer = headers.get("Referer")
    if referer is not None:
        if normalize_origin(referer) in allowed:
            return None
        return f"Referer {referer[:200]!r} is not a page of this center"
    if has_cookie:
        return "a signed-in request without Origin or Referer"
    return None  # no browser credentials at all: nothing a foreign page could borrow


def own_origins(app: Flask) -> list[str]:
    """This request's own origin, the center's public address and the configured trusted ones."""
    services = app.extensions["qms"]
    out = [f"{request.scheme}://{request.host}", services.engine.config.center.public_url]
    out.extend(getattr(services.settings, "trusted_origins", []) or [])
    return out


def register_csrf(app: Flask, cookie_name: str) -> None:
    @app.before_request
    def _refuse_cross_site():
        reason = refusal(request.method, request.headers, cookie_name in request.cookies, own_origins(app))
        if reason is None:
            return None
        log.warning("cross-site request refused: %s %s from %s: %s", request.method, request.path,
                    request.remote_addr, reason)
        response = jsonify({"error": "cross_site_refused",
                            "message": "Yêu cầu đến từ một trang khác, không phải trang của trung tâm, nên bị từ "
                                       "chối; cross-site request refused: " + reason})
        response.status_code = 403
        return response
