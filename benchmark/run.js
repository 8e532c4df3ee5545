'use strict'
// Benchmark runner: rsws vs uWebSockets.js vs ws.   npm run bench [-- options]
//
//   --runs N        runs per server and scenario (default 3)
//   --secs S        measured seconds per echo/fan-out run (default 1.5)
//   --warmup S      warm-up seconds before each measured window (default 0.3)
//   --window N      fan-out: max messages the publisher is ahead of the average subscriber (default 64)
//   --quick         1 run, 2 s, fewer scenarios
//   --only KIND     echo | fanout | memory | connect (comma-separated allowed)
//   --servers LIST  subset of rsws,rsws0,uws,ws (default all; rsws0: rsws with ioThreads 0);
//                   also rswsd, rsws0d: the same with `detachMessages` (not in the default)
//   --mem-warmup N  memory: open and close N connections before the idle sample (default 0),
//                   so first-touched code pages and lazily built state are not counted
//   --mem-traffic S memory: S seconds of echo traffic (10 conns x 1 KiB) before the idle
//                   sample (default 0): every server has then compiled its hot JS, as a
//                   server that has served traffic has
//   --mem-track     memory: also with an open handler that keeps every socket in a Set
//                   (and a close handler that removes it), as a chat server does
//   --compare N=DIR also run the rsws build in checkout DIR as server N (A/B runs; add N
//                   to --servers when that is given)
//   --node PATH     run the servers with this Node binary (default: the one running this
//                   script). uWS.js (uws-pack 20) has binaries for Node 18-22 only: on a
//                   later Node its columns read "skip"; pass a Node 22 here to compare
//   --out FILE      JSON results (default benchmark/results/latest.json)
//
// Each run starts the server as its own process; servers alternate run by run
// (rsws, uWS, ws, rsws, uWS, ws, ...). The load generator is a Rust binary
// (benchmark/loadgen) using a single thread, so it uses at most one core.

const { spawn, spawnSync } = require('child_process')
const fs = require('fs')
const path = require('path')
const readline = require('readline')
const { CLK_TCK, procCpuUs, procRssKiB, median } = require('./proc')
const { nodeInfo, uwsUnavailable } = require('./node-check')

const ROOT = path.join(__dirname, '..')
const LOADGEN_DIR = path.join(__dirname, 'loadgen')
const LOADGEN = path.join(LOADGEN_DIR, 'target', 'release', 'rsws-loadgen')

// ------------------------------------------------------------------ options

function parseArgs(argv) {
  const o = { runs: 3, secs: 1.5, warmup: 0.3, window: 64, memWarmup: 0, memTraffic: 0, memTrack: false, quick: false, only: null, servers: null, out: null, node: process.execPath }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`)
      return argv[++i]
    }
    if (a === '--runs') o.runs = Math.max(1, parseInt(next(), 10))
    else if (a === '--secs') o.secs = Number(next())
    else if (a === '--warmup') o.warmup = Number(next())
    else if (a === '--window') o.window = Math.max(1, parseInt(next(), 10))
    else if (a === '--mem-warmup') o.memWarmup = Math.max(0, parseInt(next(), 10))
    else if (a === '--mem-traffic') o.memTraffic = Math.max(0, Number(next()))
    else if (a === '--mem-track') o.memTrack = true
    else if (a === '--quick') o.quick = true
    else if (a === '--only') o.only = next().split(',')
    else if (a === '--servers') o.servers = next().split(',')
    else if (a === '--out') o.out = next()
    else if (a === '--node') o.node = path.resolve(next())
    else if (a === '--compare') {
      const [name, dir] = next().split('=')
      if (!name || !dir || SERVERS[name]) throw new Error(`--compare needs NEW_NAME=DIR, got ${argv[i]}`)
      SERVERS[name] = { label: name, file: path.resolve(dir, 'benchmark', 'servers', 'rsws.js') }
    }
    else if (a === '--help' || a === '-h') {
      const lines = fs.readFileSync(__filename, 'utf8').split('\n').slice(1)
      console.log(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).join('\n'))
      process.exit(0)
    } else throw new Error(`unknown option ${a}`)
  }
  if (o.quick) {
    if (!argv.includes('--runs')) o.runs = 1
    if (!argv.includes('--secs')) o.secs = 2
  }
  return o
}

const SERVERS = {
  rsws: { label: 'rsws', file: 'rsws.js' },
  // rsws with `ioThreads: 0`: sockets on the JS thread's event loop.
  rsws0: { label: 'rsws io0', file: 'rsws.js', env: { RSWS_IO_THREADS: '0' } },
  // The same with `detachMessages` (handlers' messages detached on return, as uWS.js);
  // only with --servers.
  rswsd: { label: 'rsws detach', file: 'rsws.js', env: { RSWS_DETACH: '1' }, optional: true },
  rsws0d: { label: 'rsws io0 detach', file: 'rsws.js', env: { RSWS_IO_THREADS: '0', RSWS_DETACH: '1' }, optional: true },
  uws: { label: 'uWS.js', file: 'uws.mjs' },
  ws: { label: 'ws', file: 'ws.js' },
}

/** `open` of a memory scenario: the echo route's open handler (and the server's mode). */
const OPEN_MODES = { empty: 'echo-open', track: 'echo-track' }

function scenarios(quick, memTrack) {
  const kib = 1024
  const all = [
    { kind: 'echo', conns: 100, size: 20 },
    { kind: 'echo', conns: 10, size: kib },
    { kind: 'echo', conns: 10, size: 16 * kib },
    { kind: 'echo', conns: 200, size: 16 * kib },
    { kind: 'echo', conns: 500, size: 16 * kib },
    { kind: 'fanout', subs: 100, size: 20 },
    { kind: 'fanout', subs: 100, size: kib },
    { kind: 'fanout', subs: 1000, size: 20 },
    { kind: 'fanout', subs: 1000, size: kib },
    { kind: 'memory', conns: 10000 },
    { kind: 'memory', conns: 10000, open: 'empty' },
    ...(memTrack ? [{ kind: 'memory', conns: 10000, open: 'track' }] : []),
    { kind: 'connect', conns: 2000 },
  ]
  const picked = quick
    ? [
        ...[0, 2, 4, 5, 8].map((i) => all[i]),
        { kind: 'memory', conns: 2000 },
        { kind: 'memory', conns: 2000, open: 'empty' },
        ...(memTrack ? [{ kind: 'memory', conns: 2000, open: 'track' }] : []),
        { kind: 'connect', conns: 1000 },
      ]
    : all
  for (const s of picked) s.name = scenarioName(s)
  return picked
}

function fmtSize(n) {
  return n >= 1024 ? `${n / 1024} KiB` : `${n} B`
}

function scenarioName(s) {
  if (s.kind === 'echo') return `echo ${s.conns} conns × ${fmtSize(s.size)}`
  if (s.kind === 'fanout') return `fanout 1→${s.subs} × ${fmtSize(s.size)}`
  if (s.kind === 'memory') {
    const open = { empty: ', open handler', track: ', open handler keeping sockets' }[s.open] ?? ''
    return `memory ${s.conns} idle conns${open}`
  }
  return `connect ${s.conns} conns`
}

// ------------------------------------------------------------------ /proc

/** CPU µs per thread name (comm), summed over threads of the same name. */
function procThreadCpuUs(pid) {
  const out = {}
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        out[comm] = (out[comm] || 0) + ((Number(f[11]) + Number(f[12])) * 1e6) / CLK_TCK
      } catch {}
    }
  } catch {}
  return out
}

function diffThreads(a, b, count) {
  const out = {}
  for (const [k, v] of Object.entries(b)) {
    const d = v - (a[k] || 0)
    if (d > 0) out[k] = Number((d / count).toFixed(3))
  }
  return out
}


const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// ------------------------------------------------------------------ processes

/** Starts a server; resolves { proc, port } on READY, or { unsupported } / throws. */
function startServer(name, mode, node) {
  const file = path.resolve(__dirname, 'servers', SERVERS[name].file)
  const proc = spawn(node, [file, '0', mode], {
    cwd: ROOT,
    env: { ...process.env, ...SERVERS[name].env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  proc.stderr.on('data', (d) => {
    stderr += d
    if (stderr.length > 4000) stderr = stderr.slice(-4000)
  })
  proc.stderrText = () => stderr
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL')
      reject(new Error(`${name}: no READY within 10 s; stderr: ${stderr}`))
    }, 10000)
    const rl = readline.createInterface({ input: proc.stdout })
    rl.on('line', (line) => {
      if (line.startsWith('READY ')) {
        clearTimeout(timer)
        resolve({ proc, port: Number(line.split(' ')[1]), info: line })
      } else if (line.startsWith('UNSUPPORTED')) {
        clearTimeout(timer)
        resolve({ proc, unsupported: line })
      }
    })
    proc.on('exit', (code, sig) => {
      clearTimeout(timer)
      reject(new Error(`${name} exited (code ${code}, signal ${sig}) before READY; stderr: ${stderr}`))
    })
  })
}

async function stopServer(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return
  const exited = new Promise((r) => proc.once('exit', r))
  proc.kill('SIGTERM')
  const t = setTimeout(() => proc.kill('SIGKILL'), 3000)
  await exited
  clearTimeout(t)
}

/**
 * Runs the loadgen; calls onLine(obj) for every JSON line and resolves with
 * the last one (the result). Kills it after timeoutMs.
 */
function runLoadgen(args, { onLine, timeoutMs, keepStdin = false } = {}) {
  const lg = spawn(LOADGEN, args, { stdio: ['pipe', 'pipe', 'pipe'] })
  let stderr = ''
  lg.stderr.on('data', (d) => {
    stderr += d
  })
  let last = null
  const rl = readline.createInterface({ input: lg.stdout })
  rl.on('line', (line) => {
    let obj
    try {
      obj = JSON.parse(line)
    } catch {
      return
    }
    last = obj
    if (onLine) onLine(obj, lg)
  })
  if (!keepStdin) lg.stdin.end()
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      lg.kill('SIGKILL')
      stderr += `\nloadgen killed after ${timeoutMs} ms`
    }, timeoutMs)
    lg.on('close', (code) => {
      clearTimeout(timer)
      resolve({ result: last, code, stderr: stderr.trim() })
    })
  })
}

// ------------------------------------------------------------------ one run

async function runOnce(sc, name, o) {
  // `open`: the echo route also has an open handler (empty, or keeping its sockets), so
  // every server makes its JS WebSocket when a connection opens (rsws makes it on the
  // first event otherwise).
  const mode = sc.kind === 'fanout' ? 'fanout' : OPEN_MODES[sc.open] ?? 'echo'
  const srv = await startServer(name, mode, o.node)
  if (srv.unsupported) {
    await stopServer(srv.proc)
    return { skipped: srv.unsupported }
  }
  const { proc, port } = srv
  const url = `ws://127.0.0.1:${port}/`
  let out = { server_info: srv.info }
  try {
    if (sc.kind === 'echo' || sc.kind === 'fanout') {
      const args =
        sc.kind === 'echo'
          ? ['echo', '--url', url, '--conns', sc.conns, '--size', sc.size]
          : ['fanout', '--url', url, '--subs', sc.subs, '--size', sc.size, '--window', o.window]
      args.push('--secs', o.secs, '--warmup', o.warmup)
      let cpu0 = NaN
      let cpu1 = NaN
      let thr0 = {}
      let thr1 = {}
      const r = await runLoadgen(args.map(String), {
        timeoutMs: (o.secs + o.warmup + 60) * 1000,
        onLine: (obj) => {
          if (obj.event === 'start') {
            cpu0 = procCpuUs(proc.pid)
            thr0 = procThreadCpuUs(proc.pid)
          } else if (obj.mode) {
            cpu1 = procCpuUs(proc.pid)
            thr1 = procThreadCpuUs(proc.pid)
          }
        },
      })
      const res = r.result || {}
      const count = sc.kind === 'echo' ? res.msgs : res.deliveries
      const serverCpuUs = cpu1 - cpu0
      out = {
        ...out,
        ...res,
        server_cpu_s: serverCpuUs / 1e6,
        server_cpu_cores: serverCpuUs / 1e6 / (res.secs || o.secs),
        server_cpu_us_per_msg: count > 0 ? serverCpuUs / count : NaN,
        // Same, split by thread name (e.g. node main thread vs. I/O threads).
        server_thread_cpu_us_per_msg: count > 0 ? diffThreads(thr0, thr1, count) : {},
        loadgen_exit: r.code,
      }
      if (!res.mode || res.error) out.error = res.error || `loadgen exit ${r.code}: ${r.stderr}`
      else if (res.errors > 0) out.warning = `${res.errors} connection errors: ${res.first_error}`
      if (res.verify_failed > 0) out.warning = `${res.verify_failed} echo payload mismatches`
    } else {
      // memory / connect: open N connections, hold them, sample RSS and CPU.
      await sleep(300)
      if (sc.kind === 'memory' && o.memWarmup > 0) {
        // Connections opened and closed at once (the loadgen exits), then time to settle.
        await runLoadgen(['connect', '--url', url, '--conns', String(o.memWarmup), '--hold', '0'], { timeoutMs: 60000 })
        await sleep(1500)
      }
      if (sc.kind === 'memory' && o.memTraffic > 0) {
        const args = ['echo', '--url', url, '--conns', '10', '--size', '1024', '--secs', String(o.memTraffic), '--warmup', '0']
        await runLoadgen(args, { timeoutMs: 60000 + o.memTraffic * 1000 })
        await sleep(1500)
      }
      const rss0 = procRssKiB(proc.pid)
      const cpu0 = procCpuUs(proc.pid)
      let rss1 = NaN
      let cpu1 = NaN
      const r = await runLoadgen(['connect', '--url', url, '--conns', String(sc.conns), '--hold', '120'], {
        keepStdin: true,
        timeoutMs: 150000,
        onLine: async (obj, lg) => {
          if (obj.mode !== 'connect') return
          cpu1 = procCpuUs(proc.pid)
          if (sc.kind === 'memory') {
            // Let lazy allocations and the JS side settle, keep the peak of 3 samples 200 ms apart.
            rss1 = 0
            for (let i = 0; i < 3; i++) {
              await sleep(200)
              rss1 = Math.max(rss1, procRssKiB(proc.pid))
            }
          }
          lg.stdin.end()
        },
      })
      const res = r.result || {}
      out = {
        ...out,
        ...res,
        server_cpu_us_per_conn: res.conns > 0 ? (cpu1 - cpu0) / res.conns : NaN,
        loadgen_exit: r.code,
      }
      if (sc.kind === 'memory') {
        out.rss_before_kib = rss0
        out.rss_after_kib = rss1
        out.kib_per_conn = res.conns > 0 ? (rss1 - rss0) / res.conns : NaN
      }
      if (!res.mode) out.error = `loadgen exit ${r.code}: ${r.stderr}`
      else if (res.errors > 0) out.warning = `${res.errors} connection errors: ${res.first_error}`
    }
    if (proc.exitCode !== null || proc.signalCode !== null) {
      out.error = `server died (code ${proc.exitCode}, signal ${proc.signalCode}): ${proc.stderrText().slice(-500)}`
    }
  } finally {
    await stopServer(proc)
  }
  const serr = proc.stderrText().trim()
  if (serr) out.server_stderr = serr.slice(-1000)
  return out
}

// ------------------------------------------------------------------ stats & table


function maxFinite(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x))
  return v.length ? Math.max(...v) : NaN
}

function fmtNum(x, digits = 0) {
  if (!Number.isFinite(x)) return 'n/a'
  if (Math.abs(x) >= 1e6) return `${(x / 1e6).toFixed(2)}M`
  if (Math.abs(x) >= 1e4) return `${(x / 1e3).toFixed(1)}k`
  return x.toFixed(digits)
}

const fmtRatio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : 'n/a')

function summarize(results, names) {
  const summary = {}
  for (const [scName, byServer] of Object.entries(results)) {
    summary[scName] = {}
    for (const n of names) {
      const runs = (byServer[n] || []).filter((r) => !r.error && !r.skipped)
      const skipped = (byServer[n] || []).find((r) => r.skipped)
      const pick = (k) => median(runs.map((r) => r[k]))
      summary[scName][n] = skipped
        ? { skipped: skipped.skipped }
        : {
            runs: runs.length,
            failed: (byServer[n] || []).length - runs.length,
            rate: pick('rate'),
            rate_min: Math.min(...runs.map((r) => r.rate)),
            rate_max: Math.max(...runs.map((r) => r.rate)),
            p50_us: pick('p50_us'),
            p99_us: pick('p99_us'),
            cpu_us: pick(byServer[n]?.[0]?.mode === 'connect' ? 'server_cpu_us_per_conn' : 'server_cpu_us_per_msg'),
            server_cores: pick('server_cpu_cores'),
            client_cpu: maxFinite(runs.map((r) => r.client_cpu)),
            kib_per_conn: pick('kib_per_conn'),
            rss_before_kib: pick('rss_before_kib'),
            rss_after_kib: pick('rss_after_kib'),
            errors: runs.reduce((a, r) => a + (r.errors || 0), 0),
          }
    }
  }
  return summary
}

function mdTable(header, rows) {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)))
  const line = (cells) => '| ' + cells.map((c, i) => String(c).padEnd(w[i])).join(' | ') + ' |'
  return [line(header), '|' + w.map((x) => '-'.repeat(x + 2)).join('|') + '|', ...rows.map(line)].join('\n')
}

function renderTables(scs, summary, names) {
  const lbl = (n) => SERVERS[n].label
  const has = (n) => names.includes(n)
  const out = []
  const cell = (s, f) => (s.skipped ? 'skip' : s.runs ? f(s) : 'FAIL')
  // Ratios of each rsws server present (rsws, rsws0) against uWS.js and ws.
  const pairs = ['rsws', 'rsws0', 'rswsd', 'rsws0d']
    .filter(has)
    .flatMap((m) => ['uws', 'ws'].filter(has).map((ref) => [m, ref]))
  const short = (n) => ({ rsws: 'rsws', rsws0: 'io0', rswsd: 'det', rsws0d: 'io0det', uws: 'uWS', ws: 'ws' })[n]
  const ratioCols = (k) => pairs.map(([m, ref]) => `${k ? k + ' ' : ''}${short(m)}/${short(ref)}`)
  const ratios = (S, key) => pairs.map(([m, ref]) => fmtRatio(S[m][key], S[ref][key]))
  for (const kind of ['echo', 'fanout']) {
    const rows = scs.filter((s) => s.kind === kind)
    if (!rows.length) continue
    const unit = kind === 'echo' ? 'msg/s' : 'deliv/s'
    const header = [
      'scenario',
      ...names.map((n) => `${lbl(n)} ${unit}`),
      ...ratioCols('thr'),
      ...(kind === 'echo' ? names.map((n) => `${lbl(n)} p50/p99 µs`) : []),
      ...names.map((n) => `${lbl(n)} CPU µs/${kind === 'echo' ? 'msg' : 'deliv'}`),
      ...ratioCols('CPU'),
      'client CPU (max)',
    ]
    const body = rows.map((sc) => {
      const S = summary[sc.name]
      return [
        sc.name,
        ...names.map((n) => cell(S[n], (s) => fmtNum(s.rate))),
        ...ratios(S, 'rate'),
        ...(kind === 'echo'
          ? names.map((n) => cell(S[n], (s) => `${fmtNum(s.p50_us)}/${fmtNum(s.p99_us)}`))
          : []),
        ...names.map((n) => cell(S[n], (s) => (kind === 'echo' ? s.cpu_us.toFixed(2) : s.cpu_us.toFixed(3)))),
        ...ratios(S, 'cpu_us'),
        fmtNum(maxFinite(names.map((n) => S[n].client_cpu)), 2),
      ]
    })
    out.push(`### ${kind === 'echo' ? 'Echo (closed loop, 1 message in flight per connection)' : 'Fan-out (1 publisher → N subscribers)'}\n`)
    out.push(mdTable(header, body))
    out.push('')
  }
  const rest = scs.filter((s) => s.kind === 'memory' || s.kind === 'connect')
  if (rest.length) {
    const header = [
      'scenario',
      ...names.map((n) => `${lbl(n)}`),
      ...ratioCols(''),
      ...names.map((n) => `${lbl(n)} CPU µs/conn`),
    ]
    const body = []
    for (const sc of rest) {
      const S = summary[sc.name]
      if (sc.kind === 'memory') {
        body.push([
          `${sc.name}: KiB/conn`,
          ...names.map((n) => cell(S[n], (s) => s.kib_per_conn.toFixed(2))),
          ...ratios(S, 'kib_per_conn'),
          ...names.map((n) => cell(S[n], (s) => s.cpu_us.toFixed(0))),
        ])
        body.push([
          `${sc.name}: RSS MiB idle → loaded`,
          ...names.map((n) => cell(S[n], (s) => `${(s.rss_before_kib / 1024).toFixed(0)} → ${(s.rss_after_kib / 1024).toFixed(0)}`)),
          ...ratios(S, 'rss_after_kib'),
          ...names.map(() => ''),
        ])
      } else {
        body.push([
          `${sc.name}: conns/s`,
          ...names.map((n) => cell(S[n], (s) => fmtNum(s.rate))),
          ...ratios(S, 'rate'),
          ...names.map((n) => cell(S[n], (s) => s.cpu_us.toFixed(0))),
        ])
      }
    }
    out.push('### Memory and connection setup\n')
    out.push(mdTable(header, body))
    out.push('')
  }
  return out.join('\n')
}

// ------------------------------------------------------------------ main

function buildLoadgen() {
  const r = spawnSync('cargo', ['build', '--release', '--quiet', '--manifest-path', path.join(LOADGEN_DIR, 'Cargo.toml')], {
    stdio: 'inherit',
  })
  if (r.status !== 0 || !fs.existsSync(LOADGEN)) {
    console.error('failed to build the loadgen (cargo build --release --manifest-path benchmark/loadgen/Cargo.toml)')
    process.exit(1)
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2))
  const names = (o.servers || Object.keys(SERVERS).filter((n) => !SERVERS[n].optional)).filter((n) => SERVERS[n])
  let scs = scenarios(o.quick, o.memTrack)
  if (o.only) scs = scs.filter((s) => o.only.includes(s.kind))
  if (!scs.length) throw new Error('no scenario selected')
  buildLoadgen()
  const node = nodeInfo(o.node)
  const unavailable = {}
  if (names.includes('uws')) {
    const why = uwsUnavailable(o.node, node)
    if (why) unavailable.uws = why
  }

  const meta = {
    date: new Date().toISOString(),
    node: node.version,
    cpus: require('os').cpus().length,
    cpu_model: require('os').cpus()[0]?.model,
    loadavg_start: require('os').loadavg(),
    options: o,
  }
  console.log(`rsws benchmark: ${scs.length} scenarios × ${names.length} servers × ${o.runs} runs, ` +
    `${o.secs} s measured + ${o.warmup} s warm-up per echo/fan-out run; ${meta.cpus} CPUs, node ${meta.node}`)
  for (const [n, why] of Object.entries(unavailable)) console.log(`${SERVERS[n].label} skipped: ${why}`)
  const t0 = Date.now()
  const results = {}
  for (const sc of scs) {
    results[sc.name] = {}
    for (let run = 0; run < o.runs; run++) {
      for (const n of names) {
        const list = (results[sc.name][n] ||= [])
        if (unavailable[n] && !list.length) list.push({ skipped: unavailable[n], run })
        if (list.some((r) => r.skipped)) continue
        let r
        try {
          r = await runOnce(sc, n, o)
        } catch (e) {
          r = { error: e.message }
        }
        r.run = run
        list.push(r)
        const desc = r.skipped
          ? `skipped: ${r.skipped}`
          : r.error
            ? `ERROR: ${r.error}`
            : sc.kind === 'memory'
              ? `${r.conns} conns, ${r.kib_per_conn.toFixed(2)} KiB/conn (RSS ${r.rss_before_kib} → ${r.rss_after_kib} KiB)`
              : sc.kind === 'connect'
                ? `${fmtNum(r.rate)} conns/s, ${r.server_cpu_us_per_conn.toFixed(0)} µs CPU/conn`
                : `${fmtNum(r.rate)}/s` +
                  (sc.kind === 'echo' ? ` p50 ${r.p50_us}µs p99 ${r.p99_us}µs` : ` (pub ${fmtNum(r.pub_rate)}/s)`) +
                  ` server ${r.server_cpu_us_per_msg.toFixed(2)} µs/msg (${r.server_cpu_cores.toFixed(2)} cores)` +
                  ` client ${r.client_cpu.toFixed(2)} cores`
        console.log(`  [${sc.name}] run ${run + 1}/${o.runs} ${SERVERS[n].label.padEnd(6)} ${desc}` +
          (r.warning ? `  WARNING: ${r.warning}` : ''))
        if (r.server_stderr) console.log(`    server stderr: ${r.server_stderr.split('\n').slice(-3).join(' | ')}`)
      }
    }
  }
  const summary = summarize(results, names)
  const table = renderTables(scs, summary, names)
  meta.elapsed_s = (Date.now() - t0) / 1000
  meta.loadavg_end = require('os').loadavg()
  console.log(`\n${table}`)
  if (o.memWarmup > 0 || o.memTraffic > 0) {
    console.log(`memory: sampled after ${o.memWarmup} connections opened and closed and ${o.memTraffic} s of echo traffic`)
  }
  console.log(`medians of ${o.runs} run(s); total ${meta.elapsed_s.toFixed(0)} s; load average at end ${meta.loadavg_end.map((x) => x.toFixed(2)).join(' ')}`)
  const outFile = o.out || path.join(__dirname, 'results', 'latest.json')
  fs.mkdirSync(path.dirname(outFile), { recursive: true })
  fs.writeFileSync(outFile, JSON.stringify({ meta, summary, table, results }, null, 2))
  console.log(`results written to ${path.relative(process.cwd(), outFile)}`)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
