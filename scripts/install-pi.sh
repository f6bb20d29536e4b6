#!/usr/bin/env bash
# Install (or upgrade) bodycam on Raspberry Pi OS Bookworm from this checkout:
#
#   sudo scripts/install-pi.sh [--no-start]
#
# What it does, each step safe to repeat:
#   - apt packages: picamera2 (the CSI camera through libcamera), lgpio (gpiozero's pin factory
#     on Bookworm), venv support, ffmpeg and openssl (to check recordings by hand)
#   - a virtual environment in $PREFIX/venv made with --system-site-packages, so it sees apt's
#     python3-picamera2 and python3-lgpio, with bodycam installed into it from requirements.lock
#     (exact versions, every file's hash checked: the same set CI tests)
#   - a system user "bodycam" in the gpio, video (camera) and dialout (serial console) groups
#   - the configuration /etc/bodycam/bodycam.toml (kept if it exists)
#   - the data directory /var/lib/bodycam (footage, the device key, the control socket)
#   - the device key, made once ('bodycam provision' where this version has it; otherwise the
#     daemon makes it on its first start)
#   - the force's public key that segments are encrypted to (encryption is on by default, and a
#     camera without it faults at boot): BODYCAM_FORCE_KEY=/path/force.pub.pem pins it
#   - the systemd unit bodycam.service (Type=notify, watchdog, restart on failure), enabled and
#     started unless --no-start
set -euo pipefail

PREFIX=${BODYCAM_PREFIX:-/opt/bodycam}
CONF_DIR=/etc/bodycam
CONF=$CONF_DIR/bodycam.toml
DATA_DIR=/var/lib/bodycam
SERVICE_USER=bodycam
UNIT=/etc/systemd/system/bodycam.service
# The exact versions to install, with their hashes ('make lock' refreshes it). It keeps NumPy on
# 1.x: apt's simplejpeg (used by picamera2) is built against NumPy 1.x and NumPy 2 breaks it.
LOCK=requirements.lock
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
START=1

die() { echo "install-pi: $*" >&2; exit 1; }
step() { echo "==> $*"; }

for arg in "$@"; do
    case $arg in
        --no-start) START=0 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
                   exit 0 ;;
        *) die "unknown option $arg (expected --no-start or --help)" ;;
    esac
done

[[ $EUID -eq 0 ]] || die "run as root: sudo $0"
[[ -f $SRC/pyproject.toml ]] || die "$SRC is not a bodycam checkout (no pyproject.toml)"
[[ -f $SRC/$LOCK ]] || die "$SRC/$LOCK is missing: the checkout is incomplete"
[[ -z ${BODYCAM_NUMPY_PIN:-} ]] ||
    echo "install-pi: BODYCAM_NUMPY_PIN is ignored: $LOCK pins every version" >&2
command -v apt-get >/dev/null || die "apt-get not found: this script is for Raspberry Pi OS"
command -v systemctl >/dev/null || die "systemctl not found: this script needs systemd"

step "apt packages"
apt-get update
apt-cache show python3-picamera2 >/dev/null 2>&1 ||
    die "python3-picamera2 is not in this system's apt sources: flash Raspberry Pi OS Bookworm"
apt-get install -y --no-install-recommends \
    python3-venv python3-pip python3-picamera2 python3-lgpio ffmpeg openssl

step "virtual environment $PREFIX/venv"
install -d -m 0755 "$PREFIX"
[[ -x $PREFIX/venv/bin/python ]] || python3 -m venv --system-site-packages "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes \
    -r "$SRC/$LOCK"
"$PREFIX/venv/bin/pip" install --quiet --disable-pip-version-check --no-deps "$SRC"
install -m 0644 "$SRC/README.md" "$PREFIX/README.md"
BODYCAM=$PREFIX/venv/bin/bodycam
"$BODYCAM" --help >/dev/null || die "$BODYCAM does not run"

step "service user $SERVICE_USER"
if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
    useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home \
        --shell /usr/sbin/nologin "$SERVICE_USER"
fi
for group in gpio video dialout; do
    if getent group "$group" >/dev/null; then
        usermod -a -G "$group" "$SERVICE_USER"
    else
        echo "    (no group $group on this system; skipped)"
    fi
done

step "data directory $DATA_DIR"
install -d -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0750 "$DATA_DIR"

step "configuration $CONF"
install -d -m 0755 "$CONF_DIR"
if [[ ! -f $CONF ]]; then
    serial=$(tr -d '\0' </sys/firmware/devicetree/base/serial-number 2>/dev/null || true)
    serial=${serial: -8}
    cat >"$CONF" <<TOML
# bodycam configuration. 'bodycam config' prints every key with its default and meaning;
# 'bodycam config --check $CONF' validates this file. The [pins] defaults are the wiring
# table in $PREFIX/README.md; set a key here only where your board differs.

[device]
serial = "PI${serial:-00000000}"

[storage]
data_dir = "$DATA_DIR"
TOML
    chown "root:$SERVICE_USER" "$CONF"
    chmod 0640 "$CONF"
else
    echo "    kept the existing file"
fi
"$BODYCAM" config --check "$CONF"

step "device key"
if [[ -f $DATA_DIR/device.pub.pem ]]; then
    echo "    already provisioned: $DATA_DIR/device.pub.pem"
elif "$BODYCAM" provision --help >/dev/null 2>&1; then
    runuser -u "$SERVICE_USER" -- "$BODYCAM" provision --config "$CONF" --data-dir "$DATA_DIR"
else
    echo "    this version has no 'bodycam provision': the daemon makes the key on first start"
fi

step "force key"
FORCE_KEY=${BODYCAM_FORCE_KEY:-}
if [[ -n $FORCE_KEY ]]; then
    [[ -f $FORCE_KEY ]] || die "BODYCAM_FORCE_KEY=$FORCE_KEY: no such file"
    openssl pkey -pubin -in "$FORCE_KEY" -noout 2>/dev/null ||
        die "BODYCAM_FORCE_KEY=$FORCE_KEY is not a PEM public key"
    install -m 0644 -o "$SERVICE_USER" -g "$SERVICE_USER" "$FORCE_KEY" "$DATA_DIR/force.pub.pem"
    echo "    pinned $DATA_DIR/force.pub.pem"
elif [[ -f $DATA_DIR/force.pub.pem ]]; then
    echo "    already pinned: $DATA_DIR/force.pub.pem"
else
    echo "    NONE: the camera faults at boot (force key missing) until BODYCAM_FORCE_KEY pins" \
         "the force's public key, or encryption.enabled = false (a development setting)" >&2
fi

step "systemd unit $UNIT"
sed "s#/opt/bodycam/venv/bin/bodycam#$BODYCAM#; s#file:/opt/bodycam/#file:$PREFIX/#" \
    "$SRC/scripts/bodycam.service" >"$UNIT"
chmod 0644 "$UNIT"
systemctl daemon-reload
if [[ $START -eq 1 ]]; then
    systemctl enable bodycam.service
    systemctl restart bodycam.service
    systemctl --no-pager --lines=5 status bodycam.service || true
else
    echo "    not started (--no-start): sudo systemctl enable --now bodycam"
fi

cat <<DONE

bodycam is installed.
  status:   sudo -u $SERVICE_USER $BODYCAM status --data-dir $DATA_DIR
  log:      journalctl -u bodycam -f
  footage:  $DATA_DIR/recordings  (check: sudo -u $SERVICE_USER $BODYCAM verify $DATA_DIR)
DONE
