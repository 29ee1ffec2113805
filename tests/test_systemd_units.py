"""The systemd units in ``systemd/`` checked by the real ``systemd-analyze verify``, plus the
hardening lines that matter, and ``firmware_config/install.sh`` with ``bash -n`` and
shellcheck.

How verify is made to work on a test machine: ``systemd-analyze verify`` fails when an
``Exec*=`` binary does not exist ("Command /opt/qms/.venv/bin/qms-kiosk is not executable"),
and /opt/qms is not installed here. Rewriting ExecStart would verify something other than
what ships, so the units are verified UNCHANGED with ``--root=DIR``: a throw-away root
holding a copy of the machine's own unit directory (sysinit.target & co. must be found
there), the QMS units in ``DIR/etc/systemd/system`` (and the mosquitto drop-in in
``DIR/etc/systemd/system/mosquitto.service.d``), and an empty executable stub at every path
named by an ``Exec*=`` line. With ``--root`` the executable check is made inside DIR.
verify exits 0 on "Unknown key" and similar warnings, so the test asserts that it prints
nothing about our files at all. Skipped only when systemd-analyze is absent.
"""
from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
UNIT_DIR = REPO / "systemd"
ROLE_UNITS = ["qms-server", "qms-kiosk", "qms-display-agent", "qms-announcer", "qms-robot", "qms-counter"]
HARDWARE_UNITS = {"qms-kiosk", "qms-counter", "qms-robot", "qms-announcer", "qms-display-agent"}
INSTALL = REPO / "firmware_config" / "install.sh"
SHELL_SCRIPTS = [INSTALL, REPO / "firmware_config" / "mosquitto" / "make-certs", REPO / ".ci" / "run",
                 *(REPO / "scripts" / name for name in ("bootstrap", "test", "demo", "fresh-debian-check"))]


def parse(path: Path) -> dict[str, dict[str, list[str]]]:
    """Unit file -> section -> key -> every value (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(unit: dict, section: str, key: str) -> str | None:
    values = unit.get(section, {}).get(key)
    return values[-1] if values else None


@pytest.fixture(scope="module")
def verify_root(tmp_path_factory) -> Path:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not found (apt-get install systemd)")
    root = tmp_path_factory.mktemp("root")
    for system_dir in ("/usr/lib/systemd/system", "/lib/systemd/system"):
        if Path(system_dir).is_dir() and not Path(system_dir).is_symlink():
            shutil.copytree(system_dir, root / system_dir.lstrip("/"), symlinks=True, dirs_exist_ok=True)
            break
    etc = root / "etc/systemd/system"
    etc.mkdir(parents=True, exist_ok=True)
    for unit in [*UNIT_DIR.glob("*.service"), *UNIT_DIR.glob("*.timer")]:
        shutil.copy(unit, etc / unit.name)
    dropins = UNIT_DIR / "mosquitto.service.d"
    shutil.copytree(dropins, etc / "mosquitto.service.d")
    if not (root / "usr/lib/systemd/system/mosquitto.service").exists():
        # No Debian mosquitto on this machine: a stand-in with the same Exec lines.
        (etc / "mosquitto.service").write_text(
            "[Unit]\nDescription=Mosquitto MQTT Broker\n[Service]\nType=notify\nNotifyAccess=main\n"
            "ExecStart=/usr/sbin/mosquitto -c /etc/mosquitto/mosquitto.conf\nExecReload=/bin/kill -HUP $MAINPID\n"
            "[Install]\nWantedBy=multi-user.target\n")
    # An executable stub for every Exec*= command of the units verify will load.
    sources = [*etc.glob("*.service"), *(etc / "mosquitto.service.d").glob("*.conf"),
               *(root / "usr/lib/systemd/system").glob("mosquitto.service")]
    for source in sources:
        for key_values in parse(source).get("Service", {}).items():
            key, values = key_values
            if not key.startswith("Exec"):
                continue
            for value in values:
                command = value.lstrip("-@:+!").split()
                if command and command[0].startswith("/"):
                    stub = root / command[0].lstrip("/")
                    stub.parent.mkdir(parents=True, exist_ok=True)
                    stub.write_text("#!/bin/sh\nexit 0\n")
                    stub.chmod(0o755)
    return root


def verify(root: Path, unit: str) -> subprocess.CompletedProcess:
    name = unit if unit.endswith((".service", ".timer")) else f"{unit}.service"
    return subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={root}", name],
                          capture_output=True, text=True, timeout=30,
                          env={**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": ""})


@pytest.mark.parametrize("unit", [*ROLE_UNITS, "mosquitto", "qms-replicator", "qms-privacy-purge",
                                  "qms-privacy-purge.timer"])
def test_systemd_analyze_verify(verify_root, unit):
    result = verify(verify_root, unit)
    ours = [line for line in (result.stdout + result.stderr).splitlines()
            if re.search(r"qms|mosquitto", line)]
    assert result.returncode == 0, result.stdout + result.stderr
    assert ours == [], "\n".join(ours)


def test_verify_would_catch_a_typo(verify_root, tmp_path):
    """The check above is not vacuous: an unknown key is reported (and exit code stays 0)."""
    unit = verify_root / "etc/systemd/system/qms-robot.service"
    original = unit.read_text()
    try:
        unit.write_text(original.replace("WatchdogSec=30", "WatchdogSecs=30"))
        result = verify(verify_root, "qms-robot")
        assert "Unknown key" in result.stdout + result.stderr
    finally:
        unit.write_text(original)


@pytest.mark.parametrize("name", ROLE_UNITS)
def test_role_unit_settings(name):
    unit = parse(UNIT_DIR / f"{name}.service")
    service = unit["Service"]
    assert one(unit, "Service", "Type") == "notify"
    assert int(one(unit, "Service", "WatchdogSec")) > 0
    expected_access = "all" if name == "qms-server" else "main"  # gunicorn's worker notifies
    assert one(unit, "Service", "NotifyAccess") == expected_access
    assert one(unit, "Service", "Restart") == "on-failure"
    assert int(one(unit, "Unit", "StartLimitBurst")) > 0 and one(unit, "Unit", "StartLimitIntervalSec")
    assert one(unit, "Service", "User") == "qms"
    state = one(unit, "Service", "StateDirectory").split()
    role = name.removeprefix("qms-").removesuffix("-agent")
    assert "qms" in state and f"qms/{role}" in state
    exec_start = one(unit, "Service", "ExecStart")
    assert exec_start.startswith("/opt/qms/.venv/bin/")
    if name == "qms-server":
        assert "--settings /etc/qms/server.toml" in exec_start and exec_start.endswith(" serve")
        # a stop reaches the plan page's child too (docs/planning.md), not only gunicorn's master
        assert one(unit, "Service", "KillMode") in (None, "control-group")
    else:
        assert exec_start == f"/opt/qms/.venv/bin/{name} --config /etc/qms/{role}.toml"
    for key, value in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                       ("PrivateTmp", "yes")]:
        assert one(unit, "Service", key) == value, f"{name}: {key}"
    assert any(f"/var/lib/qms/{role}" in v for v in service["ReadWritePaths"])
    if name in HARDWARE_UNITS:
        assert one(unit, "Service", "PrivateDevices") in (None, "no"), f"{name} must see its hardware"
    else:
        assert one(unit, "Service", "PrivateDevices") == "yes"
    assert one(unit, "Install", "WantedBy") == "multi-user.target"


def test_satellite_and_privacy_units():
    """The satellite's replicator shares the server's database and settings; the purge runs nightly."""
    rep = parse(UNIT_DIR / "qms-replicator.service")
    assert one(rep, "Service", "ExecStart").endswith("--state-dir /var/lib/qms/server replicate")
    assert one(rep, "Service", "Type") == "notify" and int(one(rep, "Service", "WatchdogSec")) > 0
    assert one(rep, "Service", "Restart") == "on-failure" and one(rep, "Service", "User") == "qms"
    purge = parse(UNIT_DIR / "qms-privacy-purge.service")
    assert one(purge, "Service", "ExecStart").endswith(" privacy purge")
    assert one(purge, "Service", "Type") == "oneshot" and one(purge, "Service", "PrivateNetwork") == "yes"
    timer = parse(UNIT_DIR / "qms-privacy-purge.timer")
    assert one(timer, "Timer", "OnCalendar") and one(timer, "Timer", "Persistent") == "true"


def test_hardware_access_per_role():
    allowed = {name: " ".join(parse(UNIT_DIR / f"{name}.service")["Service"].get("DeviceAllow", []))
               for name in ROLE_UNITS}
    groups = {name: (one(parse(UNIT_DIR / f"{name}.service"), "Service", "SupplementaryGroups") or "").split()
              for name in ROLE_UNITS}
    kiosk = parse(UNIT_DIR / "qms-kiosk.service")["Service"]["DeviceAllow"]
    for need in ("char-gpiochip rw", "char-usb_device rw", "char-usb rw", "char-ttyUSB rw", "char-ttyACM rw"):
        assert need in kiosk, need  # GPIO, libusb printers, usblp, USB-serial printers
    assert one(parse(UNIT_DIR / "qms-kiosk.service"), "Service", "DevicePolicy") == "closed"
    assert {"gpio", "lp", "dialout"} <= set(groups["qms-kiosk"])
    assert "char-alsa rw" in allowed["qms-announcer"] and "audio" in groups["qms-announcer"]
    assert "char-gpiochip rw" in allowed["qms-counter"] and "gpio" in groups["qms-counter"]
    assert {"video", "render", "input"} <= set(groups["qms-display-agent"])
    display = parse(UNIT_DIR / "qms-display-agent.service")["Service"]
    assert display["PAMName"] == ["login"] and display["TTYPath"] == ["/dev/tty7"]  # a seat for cage
    assert "MemoryDenyWriteExecute" not in display  # V8's JIT


def test_mosquitto_dropin_runs_the_qms_broker_conf():
    config = configparser.ConfigParser(strict=False, interpolation=None)
    text = (UNIT_DIR / "mosquitto.service.d" / "qms.conf").read_text()
    starts = re.findall(r"^ExecStart=(.*)$", text, re.M)
    assert starts == ["", "/usr/sbin/mosquitto -c /etc/mosquitto/qms/broker.conf"]
    config.read_string(text.replace("ExecStart=\n", ""))
    assert "qms-server.service" in config["Unit"]["Before"]


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shell_scripts_parse(script):
    assert os.access(script, os.X_OK), f"{script} is not executable"
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shellcheck(script):
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed (apt-get install shellcheck)")
    result = subprocess.run(["shellcheck", "--severity=style", str(script)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_install_script_refuses_bad_usage():
    """The argument checks run before anything is installed (no root needed for these)."""
    for args, message in [(["toaster"], "unknown role"), (["kiosk", "display"], "one role at a time"),
                          (["kiosk", "--bogus"], "unknown option")]:
        result = subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True, timeout=30)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
    result = subprocess.run(["bash", str(INSTALL), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "server | kiosk | display" in result.stdout
    for role, unit in [("server", "qms-server"), ("kiosk", "qms-kiosk"), ("display", "qms-display-agent"),
                       ("announcer", "qms-announcer"), ("counter", "qms-counter"), ("robot", "qms-robot")]:
        assert (UNIT_DIR / f"{unit}.service").exists()
        assert re.search(rf"^\s+{role}\)\s+unit={unit};", INSTALL.read_text(), re.M), role


def test_kiosk_doc_states_the_units_restart_policy():
    """docs/kiosk.md once said Restart=always while the unit said on-failure."""
    unit = parse(UNIT_DIR / "qms-kiosk.service")
    policy = one(unit, "Service", "Restart")
    for doc in ("kiosk.md", "deploy.md"):
        text = (REPO / "docs" / doc).read_text(encoding="utf-8")
        assert set(re.findall(r"Restart=([a-z-]+)", text)) == {policy}, doc
