#!/usr/bin/env bash
# Where a server's CPU goes, per message and per thread: runs one server (rsws|uws|ws)
# under the Rust load generator and counts with `perf stat` (task clock, context switches,
# syscalls, user and kernel instructions) for 3 s of a 5 s run. Instruction and syscall
# counts are far steadier than times on a noisy machine. With `record` as 4th argument it
# runs `perf record -g` instead (then: perf report -i /tmp/perf-MODE-SERVER.data); with
# `syscalls` it counts each system call of the server's threads per message instead.
# Usage: benchmark/profile-echo.sh rsws|uws|ws CONNS SIZE [record|syscalls]   (echo)
#        MODE=fanout benchmark/profile-echo.sh rsws|uws SUBS SIZE [record|syscalls]
#        (benchmark/profile-fanout.sh does the latter; N is then the subscriber count and
#        the figures are per delivery). Needs perf; `npm run build` and the loadgen built by
#        `npm run bench` or `cargo build --release` in benchmark/loadgen.
#        NODE=PATH runs the server on that node binary (default: `node` on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
srv=$1 n=$2 size=$3 what=${4:-}
node=${NODE:-node}
case $what in
  ''|record|syscalls) ;;
  *) echo "unknown 4th argument $what (record or syscalls)" >&2; exit 2 ;;
esac
mode=${MODE:-echo}
port=$((9600 + RANDOM % 300))
tmp=$(mktemp -d)
trap 'kill $spid 2>/dev/null || true; rm -rf "$tmp"' EXIT
case $srv in
  rsws) "$node" benchmark/servers/rsws.js "$port" "$mode" >"$tmp/srv" 2>&1 & ;;
  uws) "$node" benchmark/servers/uws.mjs "$port" "$mode" >"$tmp/srv" 2>&1 & ;;
  ws) "$node" benchmark/servers/ws.js "$port" "$mode" >"$tmp/srv" 2>&1 & ;;
  *) echo "unknown server $srv" >&2; exit 2 ;;
esac
spid=$!
for _ in $(seq 50); do grep -q READY "$tmp/srv" 2>/dev/null && break; sleep 0.1; done
case $mode in
  echo) count=(--conns "$n") ;;
  fanout) count=(--subs "$n") ;;
  *) echo "unknown MODE $mode" >&2; exit 2 ;;
esac
benchmark/loadgen/target/release/rsws-loadgen "$mode" --url "ws://127.0.0.1:$port/" \
  "${count[@]}" --size "$size" --secs 5 --warmup 0.5 >"$tmp/lg" 2>&1 &
lpid=$!
sleep 1.5
if [ "$what" = record ]; then
  perf record -F 4000 -g -p "$spid" -o "/tmp/perf-$mode-$srv.data" -- sleep 3 >/dev/null 2>&1
elif [ "$what" = syscalls ]; then
  perf stat -e 'syscalls:sys_enter_*' -p "$spid" -o "$tmp/calls" -- sleep 3 >/dev/null 2>&1
else
  perf stat -e task-clock,context-switches,instructions:u,instructions:k,raw_syscalls:sys_enter \
    --per-thread -p "$spid" -o "$tmp/stat" -- sleep 3 >/dev/null 2>&1
fi
wait $lpid
python3 - "$srv" "$mode" "$n" "$size" "$tmp/lg" "$tmp/stat" "$tmp/calls" <<'PY'
import collections, json, os, re, sys
srv, mode, n, size, lg, stat, calls = sys.argv[1:]
rate = json.loads(open(lg).read().strip().splitlines()[-1])["rate"]
unit = "msg" if mode == "echo" else "delivery"
print(f"{srv} {mode} {n} x {size} B: {rate:.0f} {unit}/s")
msgs = rate * 3
if os.path.exists(calls):
    for line in open(calls):
        m = re.match(r"\s*([\d,]+)\s+syscalls:sys_enter_(\w+)", line)
        per = int(m.group(1).replace(",", "")) / msgs if m else 0
        if per >= 0.005:
            print(f"  {m.group(2):16s} {per:6.3f} per {unit}")
if not os.path.exists(stat):
    sys.exit(0)
threads = collections.defaultdict(dict)
for line in open(stat):
    m = re.match(r"\s*(\S+)-(\d+)\s+([\d,.]+)\s+(?:msec\s+)?(\S+)", line)
    if m:
        name, _, val, ev = m.groups()
        threads[name][ev] = threads[name].get(ev, 0) + float(val.replace(",", ""))
for name, d in sorted(threads.items()):
    if d.get("task-clock", 0) < 30:
        continue
    print(f"  {name:10s} CPU {d['task-clock'] * 1000 / msgs:6.3f} us/{unit}"
          f"  ctx switches {d.get('context-switches', 0) / msgs:6.3f}"
          f"  syscalls {d.get('raw_syscalls:sys_enter', 0) / msgs:6.3f}"
          f"  instructions user {d.get('instructions:u', 0) / msgs / 1000:6.2f}k"
          f" kernel {d.get('instructions:k', 0) / msgs / 1000:6.2f}k")
PY
