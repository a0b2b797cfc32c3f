#!/usr/bin/env bash
# Quick start from a checkout on Debian: install what is missing, build, and run the appliance in the
# foreground on its embedded defaults. Prints the console URL and how to log in the first time.
# Extra arguments go to `nexus up` (e.g. --port 9090, --data-dir DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v node >/dev/null || { echo "Node.js >= 20.19 is required (not found)" >&2; exit 1; }
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || { echo "Node.js >= 20.19 is required (found $(node --version))" >&2; exit 1; }

bash installer/system-deps.sh
[ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund
npm run build --silent
node bin/nexus.js doctor || echo "(doctor found problems; starting anyway)"
exec node bin/nexus.js up "$@"
