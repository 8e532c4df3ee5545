#!/usr/bin/env bash
# Runs the Autobahn testsuite (fuzzingclient) against the rsws echo example and fails on
# any FAILED case. Usage: [COMPRESSION=shared|dedicated] .ci/autobahn.sh [cases]
# (default: every section; 12 and 13, permessage-deflate, need COMPRESSION). The cases
# can also come from AUTOBAHN_CASES, cases to skip from AUTOBAHN_EXCLUDE, the report
# directory from AUTOBAHN_OUTDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
default='1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*'
if [ -n "${COMPRESSION:-}" ]; then default='*'; fi
cases=${1:-${AUTOBAHN_CASES:-$default}}
exclude=()
if [ -n "${AUTOBAHN_EXCLUDE:-}" ]; then exclude=(--exclude "$AUTOBAHN_EXCLUDE"); fi
autobahn=${AUTOBAHN_TOOLS:-../shared/tools/autobahn}
if [ ! -x "$autobahn/run-server-suite.sh" ]; then
  echo "autobahn: $autobahn/run-server-suite.sh not found (set AUTOBAHN_TOOLS)" >&2
  exit 2
fi
port=${AUTOBAHN_PORT:-9301}

PORT=$port node examples/echo.js &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
  sleep 0.1
done
"$autobahn/run-server-suite.sh" "ws://127.0.0.1:$port" --cases "$cases" "${exclude[@]}" --agent rsws \
  --outdir "${AUTOBAHN_OUTDIR:-ab-report${COMPRESSION:+-$COMPRESSION}}"
kill -0 $server # the server must have survived the suite
