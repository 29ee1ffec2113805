"""One exception hierarchy for the project. Every error a user can cause says what was
wrong in words a clerk or an installer can act on."""
from __future__ import annotations


class QmsError(Exception):
    """Base class of every error this project raises on purpose."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict:
        out: dict = {"error": self.code, "message": self.message}
        if self.details:
            out["details"] = self.details
        return out


class ConfigError(QmsError, ValueError):
    code = "config_invalid"


class InvalidPeriod(QmsError):
    """Days a report cannot cover: "from" after "to", over its longest range, a week that is not one
    (a rule between fields the request schema cannot state)."""

    code = "invalid_period"


class NotFound(QmsError, LookupError):
    code = "not_found"
    http_status = 404


class InvalidTransition(QmsError):
    """A ticket asked to move to a state its current state does not allow."""

    code = "invalid_transition"
    http_status = 409


class Conflict(QmsError):
    code = "conflict"
    http_status = 409


class Forbidden(QmsError, PermissionError):
    code = "forbidden"
    http_status = 403


class Unauthorized(QmsError, PermissionError):
    code = "unauthorized"
    http_status = 401


class LimitReached(QmsError):
    """A daily cap or a rate limit stops the request; it is not a fault."""

    code = "limit_reached"
    http_status = 429
