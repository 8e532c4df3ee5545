#!/usr/bin/env bash
# Where an echo server's CPU goes, per message and per thread: runs one server
# (rsws|uws|ws) under the Rust load generator and counts with `perf stat` (task clock,
# context switches, syscalls, user and kernel instructions) for 3 s of a 5 s run.
# Instruction and syscall counts are far steadier than times on a noisy machine.
# Usage: benchmark/profile-echo.sh rsws|uws|ws CONNS SIZE   (needs perf; `npm run build`
# and the loadgen built by `npm run bench` or `cargo build --release` in benchmark/loadgen)
set -euo pipefail
cd "$(dirname "$0")/.."
srv=$1 conns=$2 size=$3
port=$((9600 + RANDOM % 300))
tmp=$(mktemp -d)
trap 'kill $spid 2>/dev/null || true; rm -rf "$tmp"' EXIT
case $srv in
  rsws) node benchmark/servers/rsws.js "$port" echo >"$tmp/srv" 2>&1 & ;;
  uws) node benchmark/servers/uws.mjs "$port" echo >"$tmp/srv" 2>&1 & ;;
  ws) node benchmark/servers/ws.js "$port" echo >"$tmp/srv" 2>&1 & ;;
  *) echo "unknown server $srv" >&2; exit 2 ;;
esac
spid=$!
for _ in $(seq 50); do grep -q READY "$tmp/srv" 2>/dev/null && break; sleep 0.1; done
benchmark/loadgen/target/release/rsws-loadgen echo --url "ws://127.0.0.1:$port/" \
  --conns "$conns" --size "$size" --secs 5 --warmup 0.5 >"$tmp/lg" 2>&1 &
lpid=$!
sleep 1.5
perf stat -e task-clock,context-switches,instructions:u,instructions:k,raw_syscalls:sys_enter \
  --per-thread -p "$spid" -o "$tmp/stat" -- sleep 3 >/dev/null 2>&1
wait $lpid
python3 - "$srv" "$conns" "$size" "$tmp/lg" "$tmp/stat" <<'PY'
import collections, json, re, sys
srv, conns, size, lg, stat = sys.argv[1:]
rate = json.loads(open(lg).read().strip().splitlines()[-1])["rate"]
msgs = rate * 3
threads = collections.defaultdict(dict)
for line in open(stat):
    m = re.match(r"\s*(\S+)-(\d+)\s+([\d,.]+)\s+(?:msec\s+)?(\S+)", line)
    if m:
        name, _, val, ev = m.groups()
        threads[name][ev] = threads[name].get(ev, 0) + float(val.replace(",", ""))
print(f"{srv} echo {conns} x {size} B: {rate:.0f} msg/s")
for name, d in sorted(threads.items()):
    if d.get("task-clock", 0) < 30:
        continue
    print(f"  {name:10s} CPU {d['task-clock'] * 1000 / msgs:6.2f} us/msg"
          f"  ctx switches {d.get('context-switches', 0) / msgs:5.2f}"
          f"  syscalls {d.get('raw_syscalls:sys_enter', 0) / msgs:5.2f}"
          f"  instructions user {d.get('instructions:u', 0) / msgs / 1000:5.1f}k"
          f" kernel {d.get('instructions:k', 0) / msgs / 1000:5.1f}k")
PY
