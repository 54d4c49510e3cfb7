#!/usr/bin/env bash
# Runs Microsoft's Python SDK (msgraph-sdk + azure-identity), installed from PyPI into a
# temporary virtualenv, against the emulator in TLS mode. Usage: run.sh [USERS] [GROUPS]
# Needs python3 (3.9+) with venv and network access to PyPI; cargo builds the emulator. The SDK
# versions are pinned (those last checked), so a new release cannot break CI unnoticed.
set -euo pipefail
users=${1:-120}
groups=${2:-12}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
work=$(mktemp -d)
trap 'kill "${emulator:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check msgraph-sdk==1.65.0 azure-identity==1.27.0
"$work/venv/bin/pip" list --disable-pip-version-check 2>/dev/null \
  | grep -Ei '^(msgraph-sdk|msgraph-core|azure-identity|msal|httpx) '

(cd "$root" && cargo build --quiet -p graph-emulator --bin graph-emulator)
bin="${CARGO_TARGET_DIR:-$root/target}/debug/graph-emulator"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" --tls --listen "127.0.0.1:$port" --users "$users" --groups "$groups" \
  --data-dir "$work/data" --output json > "$work/banner" 2> "$work/emulator.log" &
emulator=$!
for _ in $(seq 100); do [ -s "$work/banner" ] && break; sleep 0.1; done
banner=$(head -n1 "$work/banner")

# The real credential flow refuses http authorities; these make Python trust the local CA.
export SSL_CERT_FILE="$work/data/ca.pem" REQUESTS_CA_BUNDLE="$work/data/ca.pem"
"$work/venv/bin/python" "$here/flows.py" "$banner" "$users"
