'use strict'
// Where a server's RSS per idle connection goes, by kind of mapping (Linux).
// Usage: node benchmark/idle-smaps.js benchmark/servers/rsws.js [echo|echo-open|echo-track]   (or uws.mjs, ws.js)
// Starts the benchmark server, sums the Rss change of its /proc/PID/smaps mappings from
// before to 0.7 s after N (env N, default 10 000) raw clients (all at once, as
// idle-memory.js) finished their handshake. "mimalloc arena" is the rsws addon's heap;
// "[heap]" is glibc malloc (uWS.js's sockets); "node binary" pages are code touched for the
// first time (a fixed cost, not per connection).
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const N = Number(process.env.N || 10000)
const srv = spawn(process.execPath, [process.argv[2], '0', process.argv[3] || 'echo'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env } })
function smaps(pid) {
  const out = new Map(); let cur = null
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (m) { cur = { size: (parseInt(m[2], 16) - parseInt(m[1], 16)) / 1024, name: m[3] || '', rss: 0 }; out.set(m[1], cur); continue }
    const r = /^Rss:\s+(\d+)/.exec(line); if (r && cur) cur.rss = Number(r[1])
  }
  return out
}
const cls = (v) => v.name.includes('/node') ? 'node binary' : v.name.endsWith('.node') ? 'addon binary' : v.name.startsWith('[') ? v.name : v.size >= 1048576 ? 'mimalloc arena' : v.size === 256 ? 'V8 heap pages (256K)' : v.name ? 'other file' : 'other anon'
srv.stdout.on('data', (d) => {
  const m = /READY (\d+)/.exec(String(d)); if (!m) return
  setTimeout(() => {
    const a = smaps(srv.pid)
    const child = spawn(process.execPath, [require('node:path').join(__dirname, '../__test__/fixtures/raw-subscribers.js'), m[1], N], { stdio: ['pipe', 'pipe', 'inherit'] })
    child.stdout.once('data', () => setTimeout(() => {
      const b = smaps(srv.pid); const sum = {}
      for (const [k, v] of b) { const d = v.rss - (a.get(k)?.rss ?? 0); sum[cls(v)] = (sum[cls(v)] ?? 0) + d }
      for (const [k, v] of a) if (!b.has(k)) sum[cls(v)] = (sum[cls(v)] ?? 0) - v.rss
      let total = 0
      for (const [k, d] of Object.entries(sum)) { total += d; if (Math.abs(d) > 50) console.log(`${k.padEnd(24)} ${String(d).padStart(7)} KiB  ${(d * 1024 / N).toFixed(0).padStart(5)} B/conn`) }
      console.log(`${'total'.padEnd(24)} ${String(total).padStart(7)} KiB  ${(total * 1024 / N).toFixed(0).padStart(5)} B/conn`)
      child.kill(); srv.kill(); process.exit(0)
    }, 700))
  }, 500)
})
