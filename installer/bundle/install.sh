#!/bin/sh
# Nexus Edge installer, shipped at the top of every bundle. Run as root from the unpacked bundle:
#   sh install.sh [--trust-key FILE] [--root DIR] [--no-systemd] [--port N] [--allow-downgrade]
#   sh install.sh --uninstall [--purge] [--root DIR]
#   sh install.sh --hub [--trust-key FILE] [--root DIR] [--no-systemd]   (the hub: files and unit, starts nothing)
# It verifies the bundle (ed25519 signature with openssl, every file's sha256) before touching anything.
# The first install needs --trust-key (the release public key, from a channel you trust); later installs and
# upgrades trust the keys the installed version ships. Over an existing install it upgrades (health-gated,
# rolled back by itself on failure). Running it again with the same bundle changes nothing.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=/
SYSTEMD=1
TRUST_KEY=""
PORT=""
MODE=install
PURGE=0
EXTRA=""

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "==> $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
    --no-systemd) SYSTEMD=0; shift ;;
    --trust-key) TRUST_KEY=${2:?--trust-key needs a file}; shift 2 ;;
    --port) PORT=${2:?--port needs a number}; shift 2 ;;
    --allow-downgrade) EXTRA="$EXTRA --allow-downgrade"; shift ;;
    --uninstall) MODE=uninstall; shift ;;
    --hub) MODE=hub; shift ;;
    --purge) PURGE=1; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

if [ "$ROOT" = / ] && [ "$(id -u)" -ne 0 ]; then die "run as root (or --root DIR for a tree)"; fi
mkdir -p "$ROOT" 2>/dev/null || true
ROOT=$(cd "$ROOT" && pwd)
OPT="$ROOT/opt/nexus"
ETC="$ROOT/etc/nexus"
DATA="$ROOT/var/lib/nexus"
LOGS="$ROOT/var/log/nexus"
UNITS="$ROOT/etc/systemd/system"
live_systemd() { [ "$ROOT" = / ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

uninstall() {
  if live_systemd; then systemctl disable --now nexus.service 2>/dev/null || true; fi
  if [ -x "$OPT/current/nexus" ]; then NEXUS_ENV_FILE="$ETC/nexus.env" "$OPT/current/nexus" stop >/dev/null 2>&1 || true; fi
  rm -f "$UNITS/nexus.service" "$ROOT/usr/local/bin/nexus"
  rm -rf "$OPT"
  if [ "$PURGE" = 1 ]; then
    rm -rf "$ETC" "$DATA" "$DATA.upgrade-snapshots" "$LOGS"
    if [ "$ROOT" = / ] && id nexus >/dev/null 2>&1; then userdel nexus 2>/dev/null || true; fi
    say "Nexus Edge removed with its data (--purge)."
  else
    say "Nexus Edge removed; data kept in $DATA and settings in $ETC (--purge removes them)."
  fi
}

verify() {
  if [ ! -f "$HERE/manifest" ] || [ ! -f "$HERE/manifest.sig" ]; then die "refused: unsigned bundle (no manifest or manifest.sig)"; fi
  if [ -d "$OPT/current/app/trusted-keys" ]; then
    keys=$(ls "$OPT"/current/app/trusted-keys/*.pem 2>/dev/null || true)
    [ -z "$TRUST_KEY" ] || say "installed version found: its trusted keys are used, --trust-key is ignored"
  else
    [ -n "$TRUST_KEY" ] || die "first install: give the release public key with --trust-key FILE"
    keys=$TRUST_KEY
  fi
  ok=0
  for k in $keys; do
    if openssl pkeyutl -verify -pubin -inkey "$k" -rawin -in "$HERE/manifest" -sigfile "$HERE/manifest.sig" >/dev/null 2>&1; then
      ok=1
      break
    fi
  done
  [ "$ok" = 1 ] || die "refused: the signature does not verify with a trusted key (tampered or unknown signer)"
  (cd "$HERE" && grep -E '^[0-9a-f]{64}  ' manifest | sha256sum --check --quiet --strict -) >/dev/null 2>&1 \
    || die "refused: a file does not match its checksum in the manifest (tampered or damaged bundle)"
  listed=$(grep -cE '^[0-9a-f]{64}  ' "$HERE/manifest")
  present=$(cd "$HERE" && find . \( -type f -o -type l \) ! -path ./manifest ! -path ./manifest.sig | wc -l)
  [ "$listed" -eq "$present" ] || die "refused: the bundle holds files the manifest does not list"
  say "signature and $listed checksums verified"
}

prepare() {
  if [ "$ROOT" = / ]; then
    id nexus >/dev/null 2>&1 || useradd --system --home-dir "$DATA" --no-create-home --shell /usr/sbin/nologin nexus
  fi
  mkdir -p "$OPT" "$ETC" "$DATA" "$LOGS" "$ROOT/usr/local/bin"
  chmod 0750 "$DATA" "$LOGS"
  if [ "$ROOT" = / ]; then chown nexus:nexus "$DATA" "$LOGS"; fi
  if [ ! -f "$ETC/nexus.env" ]; then
    profile=$("$HERE/nexus" profile detect --json | sed -n 's/.*"profile":"\([^"]*\)".*/\1/p')
    "$HERE/nexus" profile detect | sed 's/^/    /'
    {
      echo "# Nexus Edge settings (systemd EnvironmentFile; NEXUS_* as in docs/operations.md)"
      echo "NEXUS_DATA_DIR=$DATA"
      echo "NEXUS_PROFILE=${profile:-generic-x86_64}"
      echo "NEXUS_HOST=0.0.0.0"
      echo "NEXUS_PORT=${PORT:-8080}"
    } > "$ETC/nexus.env"
    say "wrote $ETC/nexus.env (profile ${profile:-generic-x86_64})"
  fi
  if [ "$SYSTEMD" = 1 ]; then
    mkdir -p "$UNITS"
    cp "$HERE/systemd/nexus.service" "$UNITS/nexus.service"
    if live_systemd; then systemctl daemon-reload && systemctl enable nexus.service >/dev/null; fi
  fi
  ln -sf "$OPT/current/nexus" "$ROOT/usr/local/bin/nexus"
  if [ ! -e "$HERE/bin/ffmpeg" ] && ! command -v ffmpeg >/dev/null 2>&1; then
    say "warning: this profile uses the box's own ffmpeg and there is none (apt-get install ffmpeg): media processing fails until it is installed"
  fi
}

# The hub (`nexus hub start`, nexus-hub.service) from the same bundle: the verified files under
# /opt/nexus/<version> and the unit; nothing starts here (the Ansible role `hub` writes hub.env and starts it).
install_hub() {
  version=$(sed -n 's/^version //p' "$HERE/manifest" | head -n 1)
  echo "$version" | grep -Eq '^[0-9]+[.][0-9]+[.][0-9]+([-+][0-9A-Za-z.-]+)?$' || die "manifest: bad version"
  if [ "$ROOT" = / ] && ! id nexus >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/nexus-hub --no-create-home --shell /usr/sbin/nologin nexus
  fi
  mkdir -p "$OPT" "$ETC" "$ROOT/var/lib/nexus-hub" "$LOGS" "$ROOT/usr/local/bin"
  chmod 0750 "$ROOT/var/lib/nexus-hub" "$LOGS"
  if [ "$ROOT" = / ]; then chown nexus:nexus "$ROOT/var/lib/nexus-hub" "$LOGS"; fi
  if [ ! -d "$OPT/$version" ]; then
    rm -rf "$OPT/$version.partial"
    cp -a "$HERE" "$OPT/$version.partial"
    mv "$OPT/$version.partial" "$OPT/$version"
  fi
  ln -sfn "$version" "$OPT/current.new"
  mv -f "$OPT/current.new" "$OPT/current"
  [ -f "$ETC/hub.env" ] || echo "NEXUS_HUB_DATA_DIR=$ROOT/var/lib/nexus-hub" > "$ETC/hub.env"
  if [ "$SYSTEMD" = 1 ]; then
    mkdir -p "$UNITS"
    cp "$HERE/systemd/nexus-hub.service" "$UNITS/nexus-hub.service"
    if live_systemd; then systemctl daemon-reload && systemctl enable nexus-hub.service >/dev/null; fi
  fi
  ln -sf "$OPT/current/nexus" "$ROOT/usr/local/bin/nexus"
  say "Nexus Edge hub $version installed under $OPT; settings in $ETC/hub.env (start: nexus-hub.service)"
}

if [ "$MODE" = uninstall ]; then uninstall; exit 0; fi
command -v openssl >/dev/null || die "openssl is needed to verify the bundle"
verify
# The bundle's own code is authentic now: it checks the validity period and the version before any change
# (every file was hashed just above; the upgrade itself verifies them all again before it installs).
# shellcheck disable=SC2086
"$HERE/nexus" upgrade "$HERE" --root "$ROOT" --check-only --signature-only ${TRUST_KEY:+--trust-key "$TRUST_KEY"} $EXTRA
if [ "$MODE" = hub ]; then install_hub; exit 0; fi
prepare
control=--systemd
if [ "$SYSTEMD" = 0 ] || ! live_systemd; then control=--no-systemd; fi
# shellcheck disable=SC2086
exec "$HERE/nexus" upgrade "$HERE" --root "$ROOT" $control ${TRUST_KEY:+--trust-key "$TRUST_KEY"} $EXTRA
