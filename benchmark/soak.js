'use strict'
// Churn soak (issue #8): opens and closes waves of connections (10 000 per wave by
// default) against an rsws server in a child process, while other ("steady") connections
// exchange sequence-numbered messages, for a set duration. Then checks:
//
//   - no file-descriptor leak: the server's /proc/<pid>/fd count once everything closed
//     is what it was at the warm baseline (after a warm-up wave, everything closed);
//   - RSS (after a GC) returns within 10% of that warm baseline;
//   - every `open` had exactly one `close` (server-side counters; on odd waves' route,
//     which has no `open` handler, every client connection exactly one `close`), and
//     every client that opened saw exactly one close, with the code its way of closing
//     implies;
//   - no message that `send` accepted is lost before a clean close: on a steady socket
//     the server ends cleanly with reason "n=<count accepted>" and the client must have
//     received exactly messages 0 .. n-1, in order, before the close frame. When the
//     client closes first, what the server accepted until its `close` handler ran is
//     still written before its close frame, so what arrived must be 0 .. k-1 with no
//     gap, and in total the clients must have received every message the server
//     accepted; client-to-server messages are checked for order and gaps on the server.
//
// RSS is measured after a full GC, with two kinds of slack that are not leaks taken out
// of the server process: V8's young generation is capped (--max-semi-space-size=2; left
// alone it grows to 32 MiB under connection churn and stays committed while the heap in
// use is flat at ~4 MiB), and mimalloc returns freed pages at once
// (MIMALLOC_PURGE_DELAY=0 instead of its 10 ms delay). With the defaults the settled RSS
// wandered by -5..+70% between quiet points of one run with the same heap in use.
//
// Exits non-zero naming every violation; prints a summary table either way.
//
//   npm run soak                      # 60 s
//   SOAK_SECS=600 npm run soak        # or: node benchmark/soak.js --secs 600
//
// Environment: SOAK_SECS (60), SOAK_WAVE (10000 connections per wave), SOAK_STEADY (20
// steady connections), SOAK_CONCURRENCY (256 handshakes in flight), SOAK_TICK_MS,
// SOAK_BURST, SOAK_PAD (server send rate and size, see soak-server.js), SOAK_WARMUP (2
// warm-up waves before the baseline).
const { spawn, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const WS = require('ws')

const argSecs = process.argv.indexOf('--secs')
const SECS = Number(argSecs > 0 ? process.argv[argSecs + 1] : process.env.SOAK_SECS || 60)
/** Warm-up waves before the baseline is taken. */
const WARMUP = Number(process.env.SOAK_WARMUP || 2)
const WAVE = Number(process.env.SOAK_WAVE || 10000)
const STEADY = Number(process.env.SOAK_STEADY || 20)
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY || 256)
const RSS_TOLERANCE = 0.1
/** A wave that has not opened or closed everything by then is a failure, not a wait. */
const WAVE_TIMEOUT_MS = 120000

const violations = []
function violation(text) {
  violations.push(text)
  if (violations.length <= 50) console.error(`VIOLATION: ${text}`)
}

// ---------------------------------------------------------------------------------------
// Descriptor limits: the server holds a wave plus the steady sockets, and so does this
// process (the clients). Raise the soft limit up to the hard one when that is short.

const NEED_FDS = WAVE + STEADY + 512

function limits() {
  const out = execFileSync('sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' }).trim().split('\n')
  const parse = (v) => (v === 'unlimited' ? Infinity : Number(v))
  return { soft: parse(out[0]), hard: parse(out[1]) }
}

const lim = limits()
if (lim.hard < NEED_FDS) {
  console.error(`soak: needs ${NEED_FDS} file descriptors per process (SOAK_WAVE ${WAVE} + steady), but the hard limit (ulimit -Hn) is ${lim.hard}. Lower SOAK_WAVE or raise the limit.`)
  process.exit(2)
}
if (lim.soft < NEED_FDS) {
  if (process.env.SOAK_RAISED) {
    console.error(`soak: could not raise the descriptor limit to ${NEED_FDS}`)
    process.exit(2)
  }
  // Re-run this script with the soft limit raised (Node cannot set rlimits itself).
  const raised = Number.isFinite(lim.hard) ? lim.hard : NEED_FDS
  const r = require('node:child_process').spawnSync(
    'sh',
    ['-c', `ulimit -Sn ${raised} && exec "$0" "$@"`, process.execPath, ...process.execArgv, __filename, ...process.argv.slice(2)],
    { stdio: 'inherit', env: { ...process.env, SOAK_RAISED: '1' } },
  )
  process.exit(r.status === null ? 1 : r.status)
}

// ---------------------------------------------------------------------------------------
// The server process

function startServer() {
  // Through sh so that its soft descriptor limit can be raised as well; `exec` keeps the
  // pid, so /proc/<pid> is the server's.
  const soft = Math.min(lim.hard, Math.max(lim.soft, NEED_FDS))
  const child = spawn(
    'sh',
    ['-c', `ulimit -Sn ${soft} && exec "$0" "$@"`, process.execPath, '--expose-gc', '--max-semi-space-size=2', path.join(__dirname, 'soak-server.js')],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { MIMALLOC_PURGE_DELAY: '0', ...process.env } },
  )
  let nextId = 1
  const waiting = new Map()
  let ready
  const started = new Promise((resolve, reject) => {
    ready = resolve
    child.once('exit', (code, signal) => reject(new Error(`server exited early (${code ?? signal})`)))
  })
  child.on('message', (msg) => {
    if (msg.ready) return ready(msg.port)
    const w = waiting.get(msg.id)
    if (w) {
      waiting.delete(msg.id)
      w(msg)
    }
  })
  const ask = (cmd) =>
    new Promise((resolve) => {
      const id = nextId++
      waiting.set(id, resolve)
      child.send({ id, cmd })
    })
  return { child, started, ask }
}

function fdCount(pid) {
  return fs.readdirSync(`/proc/${pid}/fd`).length
}

function rssOf(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(m[1]) * 1024
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// ---------------------------------------------------------------------------------------
// Clients

/** Source addresses rotate per wave so that TIME_WAIT never exhausts the ephemeral ports. */
let sourceIndex = 0
function nextSource() {
  sourceIndex = (sourceIndex % 200) + 1
  return `127.0.0.${sourceIndex + 1}`
}

const totals = {
  waves: 0,
  churnOpened: 0,
  /** of them, on the route without an `open` handler (odd waves) */
  lazyOpened: 0,
  churnClosed: 0,
  churnOpenFailures: 0,
  churnEchoes: 0,
  closeModes: { client: 0, terminate: 0, 'server-end': 0, 'server-close': 0 },
  steadyOpened: 0,
  steadyClosed: 0,
  steadyServerClean: 0,
  steadyClientClosed: 0,
  steadyReceived: 0,
  steadySent: 0,
}

/** The close code each way of closing must produce at the client. */
const EXPECTED_CODE = { client: 1000, terminate: 1006, 'server-end': 1000, 'server-close': 1006 }
const MODES = ['client', 'client', 'terminate', 'server-end', 'server-close']

function openChurn(url, localAddress) {
  return new Promise((resolve) => {
    const c = new WS(url, { localAddress, perMessageDeflate: false, handshakeTimeout: 30000 })
    let settled = false
    c.once('open', () => {
      settled = true
      resolve(c)
    })
    c.once('error', (err) => {
      if (settled) return
      settled = true
      totals.churnOpenFailures++
      violation(`churn connection from ${localAddress} failed to open: ${err.message}`)
      resolve(null)
    })
  })
}

/** Runs tasks with at most `limit` in flight. */
async function pool(n, limit, task) {
  let next = 0
  const workers = Array.from({ length: Math.min(limit, n) }, async () => {
    while (next < n) await task(next++)
  })
  await Promise.all(workers)
}

async function churnWave(port, waveNo) {
  // Odd waves go to the route without an `open` handler (see soak-server.js).
  const lazy = waveNo % 2 === 1
  const url = `ws://127.0.0.1:${port}/${lazy ? 'lazy' : 'churn'}`
  const localAddress = nextSource()
  const clients = []
  const started = Date.now()
  await pool(WAVE, CONCURRENCY, async (i) => {
    const c = await openChurn(url, localAddress)
    if (!c) return
    totals.churnOpened++
    if (lazy) totals.lazyOpened++
    c.on('error', () => {})
    c._soak = { closed: new Promise((resolve) => c.once('close', (code) => resolve(code))) }
    // Half of them exchange a message first.
    if (i % 2 === 0) {
      const echoed = new Promise((resolve) => c.once('message', (m) => resolve(m.toString())))
      c.send(`w${waveNo}`)
      if ((await echoed) !== `w${waveNo}`) violation(`wave ${waveNo}: wrong echo`)
      totals.churnEchoes++
    }
    clients.push(c)
  })
  if (Date.now() - started > WAVE_TIMEOUT_MS) violation(`wave ${waveNo}: opening took ${Date.now() - started} ms`)
  // Close them, each in one of the ways a connection can end.
  let closed = 0
  const waits = clients.map((c, i) => {
    const mode = MODES[i % MODES.length]
    totals.closeModes[mode]++
    if (mode === 'client') c.close(1000)
    else if (mode === 'terminate') c.terminate()
    else c.send(mode === 'server-end' ? 'end' : 'close')
    return c._soak.closed.then((code) => {
      closed++
      totals.churnClosed++
      if (code !== EXPECTED_CODE[mode]) violation(`wave ${waveNo}: a '${mode}' close ended with code ${code}, expected ${EXPECTED_CODE[mode]}`)
    })
  })
  let timer
  const timeout = new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), WAVE_TIMEOUT_MS)))
  const result = await Promise.race([Promise.all(waits), timeout])
  clearTimeout(timer)
  if (result === 'timeout') {
    violation(`wave ${waveNo}: ${clients.length - closed} of ${clients.length} clients not closed within ${WAVE_TIMEOUT_MS} ms`)
  }
  totals.waves++
}

/** A steady connection: checks the server's sequence and sends its own. */
function steadyConnection(port, { life, clientCloseAfter }) {
  return new Promise((resolve) => {
    const c = new WS(`ws://127.0.0.1:${port}/steady?life=${life}`, { perMessageDeflate: false })
    let expect = 0
    let sent = 0
    let sendTimer = null
    let closeTimer = null
    let clientClosed = false
    c.on('error', () => {})
    c.once('open', () => {
      totals.steadyOpened++
      sendTimer = setInterval(() => {
        if (c.readyState !== WS.OPEN) return
        c.send(`c${sent++}`)
        totals.steadySent++
      }, 20)
      if (clientCloseAfter > 0) {
        closeTimer = setTimeout(() => {
          clientClosed = true
          clearInterval(sendTimer)
          c.close(1000)
        }, clientCloseAfter)
      }
    })
    c.on('message', (data) => {
      const text = data.toString()
      const seq = Number(text.slice(0, text.indexOf(':')))
      if (seq !== expect) violation(`steady: expected message ${expect}, got ${seq}`)
      expect = seq + 1
      totals.steadyReceived++
    })
    c.once('close', (code, reason) => {
      clearInterval(sendTimer)
      clearTimeout(closeTimer)
      totals.steadyClosed++
      const text = reason.toString()
      if (!clientClosed) {
        // The server ended it: everything it accepted must be here.
        const m = /^n=(\d+)$/.exec(text)
        if (code !== 1000 || !m) {
          violation(`steady: server close with code ${code} reason '${text}', expected 1000 'n=<count>'`)
        } else if (Number(m[1]) !== expect) {
          violation(`steady: the server accepted ${m[1]} messages before its clean close, the client received ${expect}`)
        } else {
          totals.steadyServerClean++
        }
      } else {
        if (code !== 1000) violation(`steady: client close answered with ${code}`)
        totals.steadyClientClosed++
      }
      resolve()
    })
  })
}

/** Keeps STEADY steady connections open until `stop()`; each lives 1-4 s. */
function steadyLoop(port) {
  let stopping = false
  const running = new Set()
  const spawnOne = () => {
    if (stopping) return
    const life = 1000 + Math.floor(Math.random() * 3000)
    // One in four is closed by the client, part way through.
    const clientCloseAfter = Math.random() < 0.25 ? Math.floor(life * Math.random()) + 1 : 0
    const p = steadyConnection(port, { life, clientCloseAfter }).then(() => {
      running.delete(p)
      spawnOne()
    })
    running.add(p)
  }
  for (let i = 0; i < STEADY; i++) spawnOne()
  return {
    async stop() {
      stopping = true
      while (running.size > 0) await Promise.all([...running])
    },
  }
}

// ---------------------------------------------------------------------------------------

async function quiescent(server, what) {
  // Every socket closed on the server and every descriptor settled.
  const deadline = Date.now() + 30000
  let s
  for (;;) {
    s = (await server.ask('stats')).stats
    if (s.open === 0) break
    if (Date.now() > deadline) {
      violation(`${what}: ${s.open} sockets still open on the server 30 s after every client closed`)
      break
    }
    await sleep(100)
  }
  let fds = fdCount(server.child.pid)
  for (let i = 0; i < 30; i++) {
    await sleep(100)
    const now = fdCount(server.child.pid)
    if (now === fds && i >= 5) break
    fds = now
  }
  await server.ask('gc')
  await sleep(500)
  const { memory } = await server.ask('gc')
  await sleep(200)
  return { stats: s, fds, rss: rssOf(server.child.pid), heapUsed: memory.heapUsed }
}

function mib(n) {
  return `${(n / 1048576).toFixed(1)} MiB`
}

async function main() {
  const t0 = Date.now()
  const server = startServer()
  const port = await server.started
  const pid = server.child.pid
  const empty = { fds: fdCount(pid), rss: rssOf(pid) }
  let peakRss = empty.rss
  const sampler = setInterval(() => {
    try {
      peakRss = Math.max(peakRss, rssOf(pid))
    } catch {}
  }, 250)
  console.log(`soak: server pid ${pid} on port ${port}; ${SECS} s, waves of ${WAVE}, ${STEADY} steady connections; fd limit ${lim.soft}/${lim.hard}`)
  console.log(`soak: command: ${process.argv.slice(1).join(' ')} (SOAK_SECS=${SECS} SOAK_WAVE=${WAVE} SOAK_STEADY=${STEADY})`)

  // Warm-up: WARMUP waves with steady traffic, then everything closed: the baseline. The
  // RSS retained after a wave varies from wave to wave: measured from a baseline after one
  // wave, three 60 s runs ended 9-13% above it while the 10-minute run ended 3% above.
  let steady = steadyLoop(port)
  // Warm-up waves alternate routes too (wave 0 /churn, 1 /lazy, ...), so both are warm.
  for (let i = 0; i < WARMUP; i++) await churnWave(port, i)
  await steady.stop()
  const warm = await quiescent(server, 'warm-up')
  console.log(`soak: warm baseline: ${warm.fds} fds, RSS ${mib(warm.rss)}`)
  const warmTotals = JSON.parse(JSON.stringify(totals))

  // The soak itself.
  const soakStart = Date.now()
  steady = steadyLoop(port)
  let wave = 1
  while (Date.now() - soakStart < SECS * 1000 && violations.length === 0) {
    await churnWave(port, wave++)
    if (wave % 5 === 0) {
      const s = (await server.ask('stats')).stats
      console.log(
        `soak: ${((Date.now() - soakStart) / 1000).toFixed(0)} s, ${totals.waves} waves, ${totals.churnOpened} churn connections, ${totals.steadyReceived} steady messages; server: ${s.open} open, ${fdCount(pid)} fds, RSS ${mib(rssOf(pid))}`,
      )
    }
  }
  await steady.stop()
  const soakSecs = (Date.now() - soakStart) / 1000
  const end = await quiescent(server, 'end')
  clearInterval(sampler)
  await server.ask('exit')
  await new Promise((resolve) => server.child.once('exit', resolve))

  // Checks.
  const s = end.stats
  if (s.opens !== s.closes) violation(`server: ${s.opens} opens but ${s.closes} closes`)
  if (s.badOpens) violation(`server: ${s.badOpens} opens of a socket already open`)
  if (s.badCloses) violation(`server: ${s.badCloses} closes of a socket not open (double close)`)
  if (s.inboundGaps) violation(`server: ${s.inboundGaps} client-to-server steady messages out of order or missing`)
  if (s.handlerErrors) violation(`server: ${s.handlerErrors} uncaught exceptions in handlers`)
  const clientOpens = totals.churnOpened - totals.lazyOpened + totals.steadyOpened
  if (s.opens !== clientOpens) violation(`server saw ${s.opens} opens, clients opened ${clientOpens}`)
  if (s.lazyCloses !== totals.lazyOpened) violation(`/lazy: the server saw ${s.lazyCloses} closes, clients opened ${totals.lazyOpened}`)
  if (totals.churnOpened !== totals.churnClosed) violation(`clients: ${totals.churnOpened} churn opens, ${totals.churnClosed} closes`)
  if (totals.steadyOpened !== totals.steadyClosed) violation(`clients: ${totals.steadyOpened} steady opens, ${totals.steadyClosed} closes`)
  if (s.steadyAccepted !== totals.steadyReceived) {
    violation(`steady: the server accepted ${s.steadyAccepted} messages, the clients received ${totals.steadyReceived}`)
  }
  if (end.fds > warm.fds) violation(`file descriptors leaked: ${warm.fds} at the warm baseline, ${end.fds} at the end`)
  if (end.rss > warm.rss * (1 + RSS_TOLERANCE)) {
    violation(`RSS did not return within ${RSS_TOLERANCE * 100}% of the warm baseline: ${mib(warm.rss)} -> ${mib(end.rss)}`)
  }

  const soakWaves = totals.waves - warmTotals.waves
  const rows = [
    ['duration (soak phase / total)', `${soakSecs.toFixed(0)} s / ${((Date.now() - t0) / 1000).toFixed(0)} s`],
    ['waves (soak + warm-up)', `${soakWaves} + ${WARMUP} of ${WAVE}`],
    ['churn connections opened / closed', `${totals.churnOpened} / ${totals.churnClosed}`],
    ['  closed by: client / terminate / server end / server close', Object.values(totals.closeModes).join(' / ')],
    ['  echoes', `${totals.churnEchoes}`],
    ['steady connections opened / closed', `${totals.steadyOpened} / ${totals.steadyClosed}`],
    ['  clean server closes with every accepted message received', `${totals.steadyServerClean}`],
    ['  closed by the client', `${totals.steadyClientClosed}`],
    ['steady messages server→client accepted / received / dropped (2)', `${s.steadyAccepted} / ${totals.steadyReceived} / ${s.steadyDropped}`],
    ['steady messages client→server sent / received (in order; late ones after a close are discarded)', `${totals.steadySent} / ${s.inbound - s.inboundGaps}`],
    ['server opens / closes', `${s.opens} / ${s.closes}`],
    ['/lazy (no open handler): clients opened / server closes', `${totals.lazyOpened} / ${s.lazyCloses}`],
    ['server close codes', Object.entries(s.closeCodes).map(([k, v]) => `${k}: ${v}`).join(', ')],
    ['server fds: empty / warm baseline / end', `${empty.fds} / ${warm.fds} / ${end.fds}`],
    ['server V8 heap in use after GC: warm baseline / end', `${mib(warm.heapUsed)} / ${mib(end.heapUsed)}`],
    ['server RSS: empty / warm baseline / peak / end', `${mib(empty.rss)} / ${mib(warm.rss)} / ${mib(peakRss)} / ${mib(end.rss)} (${(((end.rss - warm.rss) / warm.rss) * 100).toFixed(1)}%)`],
    ['violations', `${violations.length}`],
  ]
  const w = Math.max(...rows.map((r) => r[0].length))
  console.log('\n| what | value |\n|---|---|')
  for (const [k, v] of rows) console.log(`| ${k.padEnd(w)} | ${v} |`)
  if (violations.length > 0) {
    console.error(`\nsoak FAILED: ${violations.length} violation(s); first: ${violations[0]}`)
    process.exit(1)
  }
  console.log('\nsoak passed')
}

main().catch((err) => {
  console.error('soak: error', err)
  process.exit(1)
})
