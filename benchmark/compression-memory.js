'use strict'
// Server memory per connection for each permessage-deflate mode, after every connection
// exchanged one compressed message each way (zlib state is allocated on first use).
// Each mode runs in a fresh server process; the clients live in another process.
// Usage: node benchmark/compression-memory.js [connections=1000]
const { spawn, execFileSync } = require('node:child_process')
const path = require('node:path')

const N = Number(process.argv[2]) || 1000
const MODES = {
  DISABLED: 'DISABLED',
  'SHARED_COMPRESSOR | SHARED_DECOMPRESSOR': 'SHARED_COMPRESSOR|SHARED_DECOMPRESSOR',
  'DEDICATED_COMPRESSOR_3KB | SHARED_DECOMPRESSOR': 'DEDICATED_COMPRESSOR_3KB|SHARED_DECOMPRESSOR',
  'SHARED_COMPRESSOR | DEDICATED_DECOMPRESSOR_512B': 'SHARED_COMPRESSOR|DEDICATED_DECOMPRESSOR_512B',
  'DEDICATED_COMPRESSOR | DEDICATED_DECOMPRESSOR': 'DEDICATED_COMPRESSOR|DEDICATED_DECOMPRESSOR',
}

function server(modeExpr, n) {
  const rsws = require('..')
  const compression = modeExpr.split('|').reduce((a, k) => a | rsws[k], 0)
  let token
  let echoed = 0
  rsws
    .App()
    .ws('/*', {
      compression,
      idleTimeout: 0,
      message: (ws, m) => {
        ws.send(m, false, true)
        echoed++
      },
    })
    .listen('127.0.0.1', 0, (t) => (token = t))
  const port = rsws.us_socket_local_port(token)
  global.gc()
  const before = process.memoryUsage().rss
  const child = spawn(process.execPath, [__filename, 'clients', port, n], { stdio: ['ignore', 'pipe', 'inherit'] })
  child.stdout.on('data', () => {})
  const iv = setInterval(() => {
    if (echoed < n) return
    clearInterval(iv)
    setTimeout(() => {
      global.gc()
      const perConn = (process.memoryUsage().rss - before) / n
      process.stdout.write(JSON.stringify({ perConnKiB: perConn / 1024 }) + '\n')
      child.kill()
      process.exit(0)
    }, 1000)
  }, 50)
}

async function clients(port, n) {
  const WS = require('ws')
  const text = JSON.stringify({ hello: 'world', list: Array.from({ length: 50 }, (_, i) => `item ${i}`) })
  const all = []
  for (let i = 0; i < n; i++) {
    const c = new WS(`ws://127.0.0.1:${port}`, { perMessageDeflate: true })
    all.push(c)
    await new Promise((r) => c.once('open', r))
    c.send(text)
  }
  process.stdout.write('ready\n')
  setInterval(() => {}, 1 << 30)
}

if (process.argv[2] === 'server') server(process.argv[3], Number(process.argv[4]))
else if (process.argv[2] === 'clients') clients(Number(process.argv[3]), Number(process.argv[4]))
else {
  console.log(`| mode (${N} connections, one message each way) | server RSS per connection |`)
  console.log('|---|---|')
  for (const [name, expr] of Object.entries(MODES)) {
    const out = execFileSync(process.execPath, ['--expose-gc', __filename, 'server', expr, N], {
      cwd: path.join(__dirname, '..'),
      encoding: 'utf8',
    })
    const { perConnKiB } = JSON.parse(out.trim().split('\n').pop())
    console.log(`| ${name.replaceAll(' | ', ' + ')} | ${perConnKiB.toFixed(1)} KiB |`)
  }
}
