"""Local addresses are spelled the one way the listeners are bound: 127.0.0.1, not "localhost".

On a fresh Debian 12 (the debian:bookworm image) /etc/hosts maps localhost to ::1 as well as
127.0.0.1, and ::1 comes first. Our test and demo listeners (Mosquitto, the server, the kiosk's
page) are bound to 127.0.0.1 only, so a client told "localhost" reaches nothing on ::1; Mosquitto
2.0's bridge does not even fall back to 127.0.0.1 ("Error creating bridge: Protocol error").
scripts/fresh-debian-check runs the whole suite on such a machine; this catches the slip here.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Where "localhost" is the point: the certificate's DNS name, checked next to its IP entry; and
# the Flask test client's own host name in the cross-site tests (no connection is made).
ALLOWED = {
    ("tests/test_csrf.py", 'OWN = "http://localhost"'),
    ("tests/test_csrf.py", '{"Origin": "http://localhost:8081"}'),
    ("tests/mosquitto_fixture.py", 'names or ("localhost", "127.0.0.1")'),
    ("tests/mosquitto_fixture.py", "names localhost"),
    ("tests/test_broker_acl.py", 'for host in ("localhost", "127.0.0.1"):'),
}
CHECKED = re.compile(r"\.(py|toml|conf|sh|service|js|html|cfg|ini)$|^scripts/|^\.ci/|make-certs$")
# This file, and the check that writes the fresh machine's hosts file.
SKIPPED = ("server/static/vendor/", "tests/test_addresses.py", "scripts/fresh-debian-check")


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [f for f in out.splitlines() if CHECKED.search(f) and not f.startswith(SKIPPED)]


def test_git_lists_the_code():
    files = tracked_files()
    assert "tests/test_bridge.py" in files and "firmware_config/mosquitto/satellite.conf" in files


def test_no_client_is_told_localhost():
    found = []
    for name in tracked_files():
        path = REPO / name
        if not path.is_file():
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if "localhost" in line.lower() and not any(name == f and snippet in line for f, snippet in ALLOWED):
                found.append(f"{name}:{n}: {line.strip()}")
    assert not found, "say 127.0.0.1 (as the listeners are bound), not localhost:\n" + "\n".join(found)
