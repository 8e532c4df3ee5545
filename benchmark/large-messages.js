'use strict'
// Large-message echo and the garbage collector: per server, messages/s, server CPU per
// message, peak RSS, and the collections V8 ran (from --trace-gc) while 10 connections
// echo messages of each size. Runs alternate servers; medians of --runs.
//
//   node benchmark/large-messages.js [--sizes 65536,204800,1048576] [--runs 3] [--secs 3]
//                                    [--servers rsws,uws,ws] [--compare NAME=DIR] [--node PATH]
//
// --compare NAME=DIR adds the rsws build in checkout DIR as server NAME (A/B runs).
// --node PATH runs the servers with that Node (as in run.js; uWS.js is skipped, with the
// reason, on a Node uws-pack has no binary for).
// Needs `npm run build` and the load generator (`npm run bench` builds it).
const { spawn } = require('node:child_process')
const path = require('node:path')
const readline = require('node:readline')
const { procCpuUs, procRssKiB, median } = require('./proc')
const { nodeInfo, uwsUnavailable } = require('./node-check')

const ROOT = path.join(__dirname, '..')
const LOADGEN = path.join(__dirname, 'loadgen', 'target', 'release', 'rsws-loadgen')

const o = { sizes: [65536, 204800, 1048576], runs: 3, secs: 3, servers: ['rsws', 'uws', 'ws'], compare: {}, node: process.execPath }
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i]
  const v = process.argv[++i]
  if (a === '--sizes') o.sizes = v.split(',').map(Number)
  else if (a === '--runs') o.runs = Number(v)
  else if (a === '--secs') o.secs = Number(v)
  else if (a === '--servers') o.servers = v.split(',')
  else if (a === '--node') o.node = path.resolve(v)
  else if (a === '--compare') {
    const [name, dir] = v.split('=')
    o.compare[name] = path.resolve(dir)
    if (!o.servers.includes(name)) o.servers.push(name)
  } else throw new Error(`unknown option ${a}`)
}

function serverFile(name) {
  if (o.compare[name]) return path.join(o.compare[name], 'benchmark', 'servers', 'rsws.js')
  return path.join(__dirname, 'servers', { rsws: 'rsws.js', uws: 'uws.mjs', ws: 'ws.js' }[name])
}

async function runOnce(name, size) {
  const proc = spawn(o.node, ['--trace-gc', serverFile(name), '0', 'echo'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
  const gc = { scavenge: 0, markCompact: 0 }
  let counting = false
  const port = await new Promise((resolve, reject) => {
    readline.createInterface({ input: proc.stdout }).on('line', (line) => {
      if (line.startsWith('READY ')) resolve(Number(line.split(' ')[1]))
      else if (counting && / Scavenge /.test(line)) gc.scavenge++
      else if (counting && / Mark-Compact /.test(line) && !/Minor Mark-Compact/.test(line)) gc.markCompact++
    })
    proc.on('exit', () => reject(new Error(`${name} exited before READY`)))
  })
  const warmup = 0.5
  const lg = spawn(LOADGEN, ['echo', '--url', `ws://127.0.0.1:${port}/`, '--conns', '10', '--size', String(size), '--secs', String(o.secs), '--warmup', String(warmup)], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  lg.stdout.on('data', (d) => (out += d))
  await new Promise((r) => setTimeout(r, warmup * 1000))
  counting = true
  const cpu0 = procCpuUs(proc.pid)
  let peak = 0
  const sampler = setInterval(() => (peak = Math.max(peak, procRssKiB(proc.pid))), 100)
  await new Promise((r) => lg.on('close', r))
  clearInterval(sampler)
  const cpu = procCpuUs(proc.pid) - cpu0
  counting = false
  proc.kill('SIGTERM')
  await new Promise((r) => proc.on('exit', r))
  const rate = JSON.parse(out.trim().split('\n').pop()).rate
  return { rate, cpuPerMsg: cpu / (rate * o.secs), peakMiB: peak / 1024, ...gc }
}

async function main() {
  const node = nodeInfo(o.node)
  if (o.servers.includes('uws')) {
    const why = uwsUnavailable(o.node, node)
    if (why) {
      console.log(`uWS.js skipped: ${why}`)
      o.servers = o.servers.filter((s) => s !== 'uws')
    }
  }
  console.log(`servers on Node ${node.version}`)
  const rows = []
  for (const size of o.sizes) {
    const results = Object.fromEntries(o.servers.map((s) => [s, []]))
    for (let run = 0; run < o.runs; run++) for (const s of o.servers) results[s].push(await runOnce(s, size))
    const m = {}
    for (const s of o.servers) {
      m[s] = {}
      for (const k of Object.keys(results[s][0])) m[s][k] = median(results[s].map((r) => r[k]))
    }
    for (const s of o.servers) {
      const r = m[s]
      const ratio = (k) => (m.uws ? `${(r[k] / m.uws[k]).toFixed(2)}×` : '-')
      rows.push([`${size / 1024} KiB`, s, `${r.rate.toFixed(0)}`, r.cpuPerMsg.toFixed(1), ratio('cpuPerMsg'), r.peakMiB.toFixed(0), r.scavenge, r.markCompact])
    }
  }
  const header = ['echo 10 conns', 'server', 'msg/s', 'CPU µs/msg', 'CPU /uWS', 'peak RSS MiB', 'scavenges', 'mark-compacts']
  console.log(`| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`)
  for (const r of rows) console.log(`| ${r.join(' | ')} |`)
  console.log(`medians of ${o.runs} run(s) of ${o.secs} s; collections counted over the measured window`)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
