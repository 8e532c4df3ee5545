#!/usr/bin/env bash
# Where a fan-out server's CPU goes, per delivery and per thread: runs one server
# (rsws|uws) in fan-out mode under the Rust load generator (1 publisher, SUBS subscribers)
# and counts with `perf stat` (task clock, context switches, syscalls, user and kernel
# instructions) for 3 s of a 5 s run; with `record` as 4th argument it runs
# `perf record -g` instead (report: perf report -i /tmp/perf-fanout-SERVER.data).
# Usage: benchmark/profile-fanout.sh rsws|uws SUBS SIZE [record]
set -euo pipefail
cd "$(dirname "$0")/.."
srv=$1 subs=$2 size=$3 rec=${4:-}
port=$((9600 + RANDOM % 300))
tmp=$(mktemp -d)
trap 'kill $spid 2>/dev/null || true; rm -rf "$tmp"' EXIT
case $srv in
  rsws) node benchmark/servers/rsws.js "$port" fanout >"$tmp/srv" 2>&1 & ;;
  uws) node benchmark/servers/uws.mjs "$port" fanout >"$tmp/srv" 2>&1 & ;;
  *) echo "unknown server $srv" >&2; exit 2 ;;
esac
spid=$!
for _ in $(seq 50); do grep -q READY "$tmp/srv" 2>/dev/null && break; sleep 0.1; done
benchmark/loadgen/target/release/rsws-loadgen fanout --url "ws://127.0.0.1:$port/" \
  --subs "$subs" --size "$size" --secs 5 --warmup 0.5 >"$tmp/lg" 2>&1 &
lpid=$!
sleep 1.5
if [ -n "$rec" ]; then
  perf record -F 4000 -g -p "$spid" -o "/tmp/perf-fanout-$srv.data" -- sleep 3 >/dev/null 2>&1
else
  perf stat -e task-clock,context-switches,instructions:u,instructions:k,raw_syscalls:sys_enter \
    --per-thread -p "$spid" -o "$tmp/stat" -- sleep 3 >/dev/null 2>&1
fi
wait $lpid
python3 - "$srv" "$subs" "$size" "$tmp/lg" "$tmp/stat" <<'PY'
import collections, json, os, re, sys
srv, subs, size, lg, stat = sys.argv[1:]
rate = json.loads(open(lg).read().strip().splitlines()[-1])["rate"]
print(f"{srv} fan-out 1 -> {subs} x {size} B: {rate:.0f} deliveries/s")
if not os.path.exists(stat):
    sys.exit(0)
n = rate * 3
threads = collections.defaultdict(dict)
for line in open(stat):
    m = re.match(r"\s*(\S+)-(\d+)\s+([\d,.]+)\s+(?:msec\s+)?(\S+)", line)
    if m:
        name, _, val, ev = m.groups()
        threads[name][ev] = threads[name].get(ev, 0) + float(val.replace(",", ""))
for name, d in sorted(threads.items()):
    if d.get("task-clock", 0) < 30:
        continue
    print(f"  {name:10s} CPU {d['task-clock'] * 1e6 / n:7.1f} ns/delivery"
          f"  ctx switches {d.get('context-switches', 0) * 1000 / n:5.2f}/1k"
          f"  syscalls {d.get('raw_syscalls:sys_enter', 0) * 1000 / n:5.2f}/1k"
          f"  instructions user {d.get('instructions:u', 0) / n:5.0f} kernel {d.get('instructions:k', 0) / n:5.0f}")
PY
