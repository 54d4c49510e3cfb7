#!/usr/bin/env bash
# Runs schemathesis (from the Python registry, into a virtual environment of its own) against a
# daemon serving the Graph emulator, with an admin key, and checks that no answer is a server
# error and every answer matches the OpenAPI description at /api/openapi.json.
#
#   tests/schemathesis/run.sh [extra schemathesis arguments, e.g. --max-examples 200]
#
# Everything runs on loopback in a temporary directory: the emulator on port 4591, the daemon's
# admin listener on 8191, a fresh SQLite database. Not a CI step (it takes minutes); its output
# for the last change is in the issue note.
set -euo pipefail
cd "$(dirname "$0")/../.."

VERSION=4.32.5
VENV=${SCHEMATHESIS_VENV:-target/schemathesis-venv}
if [[ ! -x $VENV/bin/schemathesis ]]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "schemathesis==$VERSION"
fi

cargo build --quiet --bin entra-sync
BIN=target/debug/entra-sync
WORK=$(mktemp -d)
cleanup() {
    kill "${DAEMON:-}" "${EMULATOR:-}" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" emulator --users 50 --listen 127.0.0.1:4591 >"$WORK/emulator.log" 2>&1 &
EMULATOR=$!
export EMULATOR_SECRET='jHu8Q~rPCT6MFhUYpHoKbBYB681f3gwZjav4_guT'
export ENTRA_SYNC__CONNECTION__EMULATOR__AUTHORITY_URL=http://127.0.0.1:4591
export ENTRA_SYNC__CONNECTION__EMULATOR__GRAPH_URL=http://127.0.0.1:4591/v1.0
export ENTRA_SYNC__ADMIN__LISTEN=127.0.0.1:8191
DB="sqlite://$WORK/entra-sync.db"
run() { "$BIN" --config config/compose.toml --database-url "$DB" "$@"; }

for _ in $(seq 100); do
    curl -sf http://127.0.0.1:4591/_emulator/tenants >/dev/null && break
    sleep 0.1
done
"$BIN" --config config/compose.toml --database-url "$DB" run >"$WORK/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 300); do
    curl -sf http://127.0.0.1:8191/healthz >/dev/null && break
    sleep 0.1
done
KEY=$(run keys create --admin)

status=0
# From the temporary directory: schemathesis keeps its cache (.schemathesis/) where it runs.
CONFIG=$PWD/tests/schemathesis/schemathesis.toml
SCHEMATHESIS=$(cd "$VENV" && pwd)/bin/schemathesis
(cd "$WORK" && "$SCHEMATHESIS" --config-file "$CONFIG" \
    run http://127.0.0.1:8191/api/openapi.json \
    --header "Authorization: Bearer $KEY" \
    --checks not_a_server_error,response_schema_conformance \
    --no-color "$@") || status=$?
if grep -q '"level":"ERROR"\|ERROR' "$WORK/daemon.log"; then
    echo "--- daemon errors:"
    grep 'ERROR' "$WORK/daemon.log" | head -20
fi
exit $status
