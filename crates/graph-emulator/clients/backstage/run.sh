#!/usr/bin/env bash
# Runs Backstage's Microsoft Graph org reader (@backstage/plugin-catalog-backend-module-msgraph,
# with the @azure/identity it depends on), installed from the npm registry into a temporary
# directory, against the emulator in TLS mode. Usage: run.sh [USERS] [GROUPS]
# Needs Node 20+ and npm with network access to the npm registry; cargo builds the emulator.
# The reader and its sign-in library are pinned (those last checked), so a new release cannot
# break CI unnoticed.
set -euo pipefail
users=${1:-120}
groups=${2:-12}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
work=$(mktemp -d)
trap 'kill "${emulator:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

mkdir -p "$work/node"
echo '{"private": true}' > "$work/node/package.json"
(cd "$work/node" && npm install --silent --no-audit --no-fund --ignore-scripts --save-exact \
  @backstage/plugin-catalog-backend-module-msgraph@0.10.6 @azure/identity@4.13.1)
(cd "$work/node" && node -e 'for (const p of ["@backstage/plugin-catalog-backend-module-msgraph",
  "@azure/identity", "@azure/msal-node"]) console.log(`${p} ${require(`${p}/package.json`).version}`)')
cp "$here/read.js" "$work/node/read.js"

(cd "$root" && cargo build --quiet -p graph-emulator --bin graph-emulator)
bin="${CARGO_TARGET_DIR:-$root/target}/debug/graph-emulator"
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
"$bin" --tls --listen "127.0.0.1:$port" --users "$users" --groups "$groups" \
  --data-dir "$work/data" --output json > "$work/banner" 2> "$work/emulator.log" &
emulator=$!
for _ in $(seq 100); do [ -s "$work/banner" ] && break; sleep 0.1; done
banner=$(head -n1 "$work/banner")

# @azure/identity refuses http authorities; this makes Node trust the local CA.
export NODE_EXTRA_CA_CERTS="$work/data/ca.pem"
node "$work/node/read.js" "$banner"
