#!/usr/bin/env bash
# Start the test Payload (`next start`, production build) on 127.0.0.1:PORT with a throw-away in-memory DB,
# register the first user with a known API key, and print the server's PID (stop it with `kill PID`).
# Usage: scripts/start-test-server.sh PORT          (needs `npm ci` and `npm run build` done first)
# Env:   FASTPOLL_PAYLOAD_API_KEY  the key to give the first user (default: a fresh random UUID, printed
#                                  on stderr so that a human can use it; tests pass their own)
#        DATABASE_URI              default ':memory:'; e.g. file:/tmp/payload.db to keep data across restarts
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:?usage: $0 PORT}"
key="${FASTPOLL_PAYLOAD_API_KEY:-}"
if [ -z "$key" ]; then
  key="$(node -e 'console.log(crypto.randomUUID())')"
  echo "start-test-server: API key for the first user: $key" >&2
fi
export NEXT_TELEMETRY_DISABLED=1 DATABASE_URI="${DATABASE_URI:-:memory:}"
export PAYLOAD_SECRET="${PAYLOAD_SECRET:-$(node -e 'console.log(crypto.randomUUID())')}"
log="${PAYLOAD_LOG:-/dev/null}"
node_modules/.bin/next start -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
pid=$!
base="http://127.0.0.1:$port/api"
for _ in $(seq 1 120); do
  if init="$(curl -sf "$base/users/init" 2>/dev/null)"; then break; fi
  kill -0 "$pid" 2>/dev/null || { echo "start-test-server: next start exited" >&2; exit 1; }
  sleep 0.25
done
case "$init" in
  *'"initialized":false'*)
    curl -sf -X POST "$base/users/first-register" -H 'Content-Type: application/json' \
      -d "{\"email\":\"fastpoll@example.test\",\"password\":\"fastpoll-test\",\"enableAPIKey\":true,\"apiKey\":\"$key\"}" \
      >/dev/null ;;
  *'"initialized":true'*) ;;
  *) echo "start-test-server: no answer from $base" >&2; kill "$pid"; exit 1 ;;
esac
echo "$pid"
