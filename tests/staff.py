"""Staff accounts signed in through the REST API, for the tests that call it as people do."""
from __future__ import annotations

PASSWORD = "matkhau-123"


def signed_in_tokens(app, users) -> dict[str, str]:
    """Each (user name, role) made an account (its full name the user name, title-cased) and signed
    in with ``POST /api/v1/auth/login``, each from a fresh client (one browser per person): their
    bearer tokens by user name."""
    auth = app.extensions["qms"].auth
    out = {}
    for user, role in users:
        auth.add_user(user, user.title(), role, PASSWORD)
        out[user] = app.test_client().post("/api/v1/auth/login",
                                           json={"username": user, "password": PASSWORD}).json["token"]
    return out


def h(token: str) -> dict[str, str]:
    """The header a bearer token goes in."""
    return {"Authorization": f"Bearer {token}"}
