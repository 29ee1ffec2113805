#!/usr/bin/env bash
# Install one QMS role on this machine (Raspberry Pi OS / Debian 12), as root:
#
#   firmware_config/install.sh ROLE [options]
#
#   ROLE: server | kiosk | display | announcer | counter | robot
#
#   --repo PATH         the qms source tree (default: the folder above this script)
#   --satellite-broker  also run a Mosquitto bridged to the center (a satellite point's
#                       kiosk host); edit /etc/mosquitto/qms/broker.conf afterwards
#   --satellite-server  server role at a standalone satellite point: also enable
#                       qms-replicator (ships its events to the main center; needs
#                       [satellite] in /etc/qms/server.toml: docs/deploy.md section 10)
#   --broker-names N..  comma-separated names/addresses for the TLS certificate of the
#                       center broker (server role; default: hostname, hostname.local and
#                       this machine's addresses)
#   --now               (re)start the service now; default: only enable it, since a fresh
#                       /etc/qms/ROLE.toml must be edited first
#   --no-apt            do not install Debian packages (they are already there)
#
# Safe to run again (updating): packages already installed are skipped, the user and groups
# are kept, the venv is upgraded with the current source, the unit is replaced, and the
# files under /etc (configuration, credentials, certificates) are never overwritten.
# Walk-through: docs/deploy.md.
set -euo pipefail

usage() {
    sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'
}

die() {
    echo "install.sh: $*" >&2
    exit 2
}

say() {
    echo "==> $*"
}

role=""
repo=""
satellite_broker=0
satellite_server=0
broker_names=""
start_now=0
use_apt=1

while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --repo) repo="${2:?--repo needs a path}"; shift 2 ;;
        --satellite-broker) satellite_broker=1; shift ;;
        --satellite-server) satellite_server=1; shift ;;
        --broker-names) broker_names="${2:?--broker-names needs a value}"; shift 2 ;;
        --now) start_now=1; shift ;;
        --no-apt) use_apt=0; shift ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) [ -z "$role" ] || die "one role at a time (got '$role' and '$1')"; role="$1"; shift ;;
    esac
done

case "$role" in
    server)    unit=qms-server;        extra=server;  groups="" ;;
    kiosk)     unit=qms-kiosk;         extra=kiosk;   groups="gpio lp dialout audio" ;;
    display)   unit=qms-display-agent; extra=display; groups="video render input audio gpio" ;;
    announcer) unit=qms-announcer;     extra=display; groups="audio" ;;
    counter)   unit=qms-counter;       extra=display; groups="gpio dialout input" ;;
    robot)     unit=qms-robot;         extra=display; groups="dialout audio" ;;
    "") usage >&2; exit 2 ;;
    *) die "unknown role '$role': use server, kiosk, display, announcer, counter or robot" ;;
esac

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="${repo:-$(dirname "$here")}"
repo="$(cd "$repo" && pwd)"
[ -f "$repo/pyproject.toml" ] || die "$repo is not the qms source tree (no pyproject.toml)"
[ -f "$repo/systemd/$unit.service" ] || die "missing $repo/systemd/$unit.service"
# A role of its own in pyproject's extras wins over the shared one above.
if grep -Eq "^${role} = \[" "$repo/pyproject.toml"; then
    extra="$role"
fi
[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 $role)"

have_systemd=0
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    have_systemd=1
fi

# --- Debian packages --------------------------------------------------------------------
packages="python3 python3-venv python3-pip ca-certificates"
case "$role" in
    server)    packages="$packages mosquitto mosquitto-clients openssl" ;;
    kiosk)     packages="$packages libusb-1.0-0 espeak-ng alsa-utils fonts-dejavu-core" ;;
    display)   packages="$packages cage chromium fonts-dejavu-core fonts-noto-core alsa-utils" ;;
    announcer) packages="$packages espeak-ng alsa-utils" ;;
    counter)   ;;
    robot)     packages="$packages espeak-ng alsa-utils" ;;
esac
if [ "$satellite_broker" -eq 1 ]; then
    packages="$packages mosquitto mosquitto-clients"
fi

pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

pkg_available() {
    apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: *//p' | grep -vq '(none)\|^$'

}

if [ "$use_apt" -eq 1 ]; then
    # On a Raspberry Pi the GPIO library of gpiozero comes from Raspberry Pi OS.
    case "$role" in
        kiosk|counter|display) packages="$packages python3-lgpio" ;;
    esac
    missing=""
    for pkg in $packages; do
        pkg_installed "$pkg" || missing="$missing $pkg"
    done
    if [ -n "$missing" ]; then
        say "apt-get install$missing"
        apt-get update -qq
        wanted=""
        for pkg in $missing; do
            if pkg_available "$pkg"; then
                wanted="$wanted $pkg"
            elif [ "$pkg" = "python3-lgpio" ]; then
                echo "    (python3-lgpio not in the archive: not a Raspberry Pi OS system; GPIO stays off)"
            else
                die "package $pkg is not available from apt; check /etc/apt/sources.list"
            fi
        done
        if [ -n "$wanted" ]; then
            # shellcheck disable=SC2086  # word splitting of the package list is intended
            DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $wanted
        fi
    else
        say "Debian packages already installed"
    fi
fi

# --- user and groups --------------------------------------------------------------------
for group in qms $groups; do
    if ! getent group "$group" >/dev/null; then
        say "creating group $group"
        groupadd --system "$group"
    fi
done
if ! id qms >/dev/null 2>&1; then
    say "creating user qms"
    useradd --system --gid qms --home-dir /var/lib/qms --no-create-home \
        --shell /usr/sbin/nologin --comment "QMS services" qms
fi

# --- /opt/qms: virtualenv with the role's extras, docs ---------------------------------
# --system-site-packages: python3-lgpio (gpiozero's pin factory on a Pi) comes from apt.
if [ ! -x /opt/qms/.venv/bin/python ]; then
    say "creating /opt/qms/.venv"
    mkdir -p /opt/qms
    python3 -m venv --system-site-packages /opt/qms/.venv
fi
say "pip install ${repo}[${extra}] into /opt/qms/.venv"
/opt/qms/.venv/bin/pip install --quiet --upgrade pip
/opt/qms/.venv/bin/pip install --quiet --upgrade "${repo}[${extra}]"
mkdir -p /opt/qms/docs
if [ -d "$repo/docs" ]; then
    cp -r "$repo/docs/." /opt/qms/docs/
fi
if [ -f "$repo/firmware_config/display/kiosk-browser.md" ]; then
    cp "$repo/firmware_config/display/kiosk-browser.md" /opt/qms/docs/
fi

# --- /etc/qms/ROLE.toml from the example, never overwritten ----------------------------
install -d -m 0750 -o root -g qms /etc/qms
config="/etc/qms/$role.toml"
example=""
for candidate in "$repo/firmware_config/$role.example.toml" "$repo/firmware_config/$role/$role.toml.example"; do
    if [ -f "$candidate" ]; then
        example="$candidate"
        break
    fi
done
if [ -f "$config" ]; then
    say "$config exists: kept"
elif [ -n "$example" ]; then
    say "creating $config from $(basename "$example"): edit it before starting"
    install -m 0640 -o root -g qms "$example" "$config"
else
    echo "WARNING: no example for $config in $repo/firmware_config; write it by hand" >&2
fi
if [ "$role" = server ] && [ ! -f /etc/qms/center.toml ]; then
    say "creating /etc/qms/center.toml from server/default_center.toml: edit it"
    install -m 0640 -o root -g qms "$repo/server/default_center.toml" /etc/qms/center.toml
fi
if [ "$role" = kiosk ] && [ ! -f /etc/qms/gpio.toml ] && [ -f "$repo/firmware_config/kiosk/gpio.toml.example" ]; then
    install -m 0640 -o root -g qms "$repo/firmware_config/kiosk/gpio.toml.example" /etc/qms/gpio.toml
fi

# --- udev: a stable /dev/qms-printer for the kiosk's USB printer ------------------------
if [ "$role" = kiosk ]; then
    install -m 0644 "$repo/firmware_config/kiosk/99-qms-printer.rules" /etc/udev/rules.d/99-qms-printer.rules
    if command -v udevadm >/dev/null 2>&1 && [ -d /run/udev ]; then
        udevadm control --reload
        udevadm trigger --subsystem-match=usb --action=add || true
    fi
fi

# --- the broker: the center's (server) or a satellite point's ---------------------------
install_broker() {
    local conf="$1"
    local mq="$repo/firmware_config/mosquitto"
    install -d -m 0750 -o root -g mosquitto /etc/mosquitto/qms /etc/mosquitto/qms/conf.d
    if [ ! -f /etc/mosquitto/qms/broker.conf ]; then
        say "creating /etc/mosquitto/qms/broker.conf from $conf"
        install -m 0640 -o root -g mosquitto "$mq/$conf" /etc/mosquitto/qms/broker.conf
    else
        say "/etc/mosquitto/qms/broker.conf exists: kept (compare with $mq/$conf)"
    fi
    if [ ! -f /etc/mosquitto/qms/acl ]; then
        install -m 0640 -o root -g mosquitto "$mq/acl" /etc/mosquitto/qms/acl
    fi
    if [ ! -f /etc/mosquitto/qms/passwd ]; then
        install -m 0640 -o root -g mosquitto /dev/null /etc/mosquitto/qms/passwd
    fi
    install -m 0755 "$mq/make-device-credentials" /usr/local/sbin/qms-make-device-credentials
    install -m 0755 "$mq/make-certs" /usr/local/sbin/qms-make-certs
    install -d -m 0755 /etc/systemd/system/mosquitto.service.d
    install -m 0644 "$repo/systemd/mosquitto.service.d/qms.conf" /etc/systemd/system/mosquitto.service.d/qms.conf
}

if [ "$role" = server ]; then
    install_broker center.conf
    if [ ! -f /etc/mosquitto/certs/server.crt ]; then
        if [ -z "$broker_names" ]; then
            broker_names="$(hostname),$(hostname).local"
            for address in $(hostname -I 2>/dev/null || true); do
                broker_names="$broker_names,$address"
            done
        fi
        say "TLS certificate for: $broker_names"
        IFS=, read -r -a names <<<"$broker_names"
        "$repo/firmware_config/mosquitto/make-certs" --dir /etc/mosquitto/certs "${names[@]}"
    fi
    secret=/etc/qms/mqtt-server.password
    if ! grep -q '^server:' /etc/mosquitto/qms/passwd; then
        say "creating the MQTT user 'server' (password in $secret)"
        umask 027
        /usr/local/sbin/qms-make-device-credentials server server >"$secret.new"
        mv "$secret.new" "$secret"
        chown root:qms "$secret"
        chmod 0640 "$secret"
        umask 022
    fi
fi
if [ "$satellite_broker" -eq 1 ]; then
    install_broker satellite.conf
    echo "    edit /etc/mosquitto/qms/broker.conf: center id, address, remote_password, bridge_cafile"
fi

# --- the systemd unit -------------------------------------------------------------------
install -m 0644 "$repo/systemd/$unit.service" "/etc/systemd/system/$unit.service"
if [ "$role" = server ]; then
    # every server: the nightly purge of expired personal data; a satellite's: the replicator
    for extra_unit in qms-privacy-purge.service qms-privacy-purge.timer qms-replicator.service; do
        install -m 0644 "$repo/systemd/$extra_unit" "/etc/systemd/system/$extra_unit"
    done
fi
[ "$satellite_server" -eq 0 ] || [ "$role" = server ] || die "--satellite-server goes with the server role"
if [ "$have_systemd" -eq 1 ]; then
    systemctl daemon-reload
    if [ "$role" = server ]; then
        systemctl enable qms-privacy-purge.timer
        [ "$satellite_server" -eq 0 ] || systemctl enable qms-replicator.service
    fi
    if [ "$role" = server ] || [ "$satellite_broker" -eq 1 ]; then
        systemctl enable mosquitto.service
        systemctl restart mosquitto.service
    fi
    systemctl enable "$unit.service"
    if [ "$start_now" -eq 1 ]; then
        systemctl restart "$unit.service"
        systemctl --no-pager --lines=5 status "$unit.service" || true
    fi
else
    echo "WARNING: systemd is not running here; enable later with: systemctl enable --now $unit" >&2
fi

say "done: $role installed."
echo "    next: edit /etc/qms/$role.toml, then: systemctl restart $unit && journalctl -u $unit -f"
if [ "$role" != server ]; then
    echo "    MQTT credential: on the CENTER run"
    echo "      qms-make-device-credentials --center <center id> --reload $role <device id>"
    echo "    and put the printed password into /etc/qms/$role.toml"
fi
