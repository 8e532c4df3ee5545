#!/usr/bin/env bash
# The whole Autobahn suite twice, in parallel to fit CI's time budget: without compression
# (sections 1-10; 12 and 13 need permessage-deflate) and with the dedicated compressor
# (every section, split in two runs so the slow section 12 does not run alone); then
# section 13 (the negotiation parameters) with the shared compressor. Each run has its own
# echo server, port and report; fails if any run fails.
set -euo pipefail
cd "$(dirname "$0")/.."
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

run() { # name, then VAR=value settings for .ci/autobahn.sh
  local name=$1; shift
  env "$@" bash .ci/autobahn.sh >"$logs/$name.log" 2>&1 &
  pids+=("$!:$name")
}
autobahn=${AUTOBAHN_TOOLS:-../shared/tools/autobahn}
# Install wstest once (a no-op when installed) rather than three times at once.
"$autobahn/install.sh"
pids=()
run plain AUTOBAHN_PORT=9301
run deflate-12 COMPRESSION=dedicated AUTOBAHN_PORT=9302 AUTOBAHN_CASES='12.*' AUTOBAHN_OUTDIR=ab-report-deflate-12
run deflate-rest COMPRESSION=dedicated AUTOBAHN_PORT=9303 AUTOBAHN_EXCLUDE='12.*' AUTOBAHN_OUTDIR=ab-report-deflate-rest

status=0
report() { # pid:name entries
  local entry pid name result
  for entry in "$@"; do
    pid=${entry%%:*} name=${entry#*:}
    if wait "$pid"; then result=PASS; else result=FAIL; status=1; fi
    echo "== Autobahn $name: $result"
    # The summary table (and any failed case list) from the run's output.
    sed -n '/^Autobahn fuzzingclient summary/,$p' "$logs/$name.log"
    if [ "$result" = FAIL ]; then tail -40 "$logs/$name.log"; fi
  done
}
report "${pids[@]}"
# The shared compressor on the parameter section, after the others (a fourth run beside
# them would load the machine enough to time out slow cases).
pids=()
run shared-13 COMPRESSION=shared AUTOBAHN_PORT=9304 AUTOBAHN_CASES='13.*' AUTOBAHN_OUTDIR=ab-report-shared-13
report "${pids[@]}"
exit $status
