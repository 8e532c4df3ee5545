'use strict'
// Per idle connection: RSS, V8 heap and external memory with 10 000 raw client sockets held
// by a child process. Usage: node --expose-gc benchmark/idle-memory.js
const { spawn } = require('node:child_process')
const { App, us_socket_local_port } = require('..')
let token, n = 0
App().ws('/*', { idleTimeout: 0, open: () => n++ }).listen('127.0.0.1', 0, (t) => (token = t))
const N = 10000
const m = () => { global.gc(); const u = process.memoryUsage(); return u }
setTimeout(() => {
  const a = m()
  const child = spawn(process.execPath, [require('node:path').join(__dirname, '../__test__/fixtures/raw-subscribers.js'), us_socket_local_port(token), N], { stdio: ['pipe', 'pipe', 'inherit'] })
  child.stdout.on('data', () => {})
  const iv = setInterval(() => { if (n < N) return; clearInterval(iv); setTimeout(() => { const b = m()
    const per = (k) => ((b[k] - a[k]) / N).toFixed(0)
    console.log({ rss: per('rss'), heapUsed: per('heapUsed'), external: per('external'), arrayBuffers: per('arrayBuffers') })
    child.kill(); process.exit(0) }, 500) }, 50)
}, 300)
