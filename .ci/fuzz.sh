#!/usr/bin/env bash
# Fuzzes each target in fuzz/ for FUZZ_SECS seconds (default 30) on nightly, starting
# from a copy of the committed seed corpus, and fails on the first crash. The
# committed corpus is never written to; crashes land in fuzz/artifacts/<target>/.
# Usage: .ci/fuzz.sh [target...] (default: every target).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${FUZZ_SECS:-30}
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: the nightly toolchain is required (rustup toolchain install nightly)" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

echo "== cargo fuzz build"
cargo +nightly fuzz build

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in "${targets[@]}"; do
  echo "== fuzz $t (${secs}s)"
  mkdir -p "$work/$t"
  if [ -d "fuzz/corpus/$t" ]; then
    cp -r "fuzz/corpus/$t/." "$work/$t/"
  fi
  extra=()
  # Requests up to the 16 KiB header (and trailer) limit and a little beyond.
  case "$t" in
    handshake | http1_request) extra=(-max_len=17000) ;;
  esac
  cargo +nightly fuzz run "$t" "$work/$t" -- \
    -max_total_time="$secs" -print_final_stats=1 "${extra[@]}"
done
echo "== fuzz: no crashes in ${#targets[@]} targets"
