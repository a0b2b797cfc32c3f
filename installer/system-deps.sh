#!/usr/bin/env bash
# Installs the Debian packages Nexus Edge needs (and only what is missing). Used by the quick start and CI.
#   nats-server            the box's message bus (JetStream)
#   build-essential python3 to compile better-sqlite3 when no prebuilt binary can be fetched (offline)
#   ffmpeg                 media processing (thumbnails, HLS); `nexus doctor` warns without it
#   chromium               the web console's end-to-end tests drive it (playwright-core, /usr/bin/chromium)
#   postgresql             the hub's production database; the hub tests run on PGlite and on a real server
#   faketime               the sync tests run a box whose clock is skewed
#   openssl                the hub makes its leafnode TLS certificates with it
#   prometheus             for its promtool: the tests run `promtool check metrics` on the gateway's /metrics
#   ansible ansible-lint yamllint  the Ansible collection (ansible/) is linted and converged for real by the tests
#   shellcheck             the bundle tests lint install.sh and the launcher as POSIX sh
#   systemd                for systemd-analyze: the bundle tests verify nexus.service (Debian images have it)
#   imagemagick fonts-dejavu-core espeak-ng  the AI tests draw known words for OCR and speak phrases for VAD
#   poppler-utils          pdftoppm: the AI service renders PDF pages for OCR
set -euo pipefail
PKGS=(nats-server build-essential python3 ffmpeg ca-certificates openssl chromium postgresql faketime prometheus
  shellcheck systemd ansible ansible-lint yamllint imagemagick fonts-dejavu-core espeak-ng poppler-utils)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "all present: ${PKGS[*]}"
fi
for bin in nats-server chromium faketime openssl promtool shellcheck systemd-analyze ansible-playbook ansible-lint \
  yamllint pdftoppm; do
  command -v "$bin" >/dev/null || { echo "FAILED: $bin is missing after installing the packages" >&2; exit 1; }
done
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "FAILED: PostgreSQL's initdb is missing" >&2; exit 1; }
# Debian's package starts a system-wide PostgreSQL cluster; the hub tests start their own servers.
if command -v systemctl >/dev/null && systemctl is-enabled postgresql >/dev/null 2>&1; then
  $SUDO systemctl disable --now postgresql >/dev/null 2>&1 || true
fi
# Debian's package enables a system-wide nats-server unit; the appliance runs its own, so leave that one off.
if command -v systemctl >/dev/null && systemctl is-enabled nats-server >/dev/null 2>&1; then
  $SUDO systemctl disable --now nats-server >/dev/null 2>&1 || true
fi
# Debian's prometheus package starts a system-wide Prometheus; only its promtool is wanted here.
if command -v systemctl >/dev/null && systemctl is-enabled prometheus >/dev/null 2>&1; then
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
