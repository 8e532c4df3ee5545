'use strict'
// Bytes of server memory per subscription: RSS with N connections before and after each
// subscribes to T topics (N x T subscriptions). Clients are raw sockets in a child process
// so they do not count. Usage: node benchmark/subscription-memory.js [conns=1000] [topics=100]
const { spawn } = require('node:child_process')
const path = require('node:path')
const { App, us_socket_local_port, us_listen_socket_close } = require('..')

const conns = Number(process.argv[2]) || 1000
const topics = Number(process.argv[3]) || 100
const sockets = []
let token
App()
  .ws('/*', { idleTimeout: 0, open: (ws) => sockets.push(ws) })
  .listen('127.0.0.1', 0, (t) => (token = t))

const rss = () => {
  global.gc?.()
  return process.memoryUsage().rss
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

;(async () => {
  const child = spawn(process.execPath, [path.join(__dirname, '../__test__/fixtures/raw-subscribers.js'), us_socket_local_port(token), conns], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  await new Promise((r) => child.stdout.on('data', (d) => String(d).includes('READY') && r()))
  while (sockets.length < conns) await sleep(10)
  await sleep(200)
  const before = rss()
  for (const ws of sockets) for (let t = 0; t < topics; t++) ws.subscribe(`topic-${t}`)
  await sleep(200)
  const after = rss()
  const subs = conns * topics
  console.log(JSON.stringify({ conns, topics, subscriptions: subs, rssBeforeMiB: +(before / 2 ** 20).toFixed(1), rssAfterMiB: +(after / 2 ** 20).toFixed(1), bytesPerSubscription: Math.round((after - before) / subs) }))
  child.stdin.write('EXIT\n')
  us_listen_socket_close(token)
  setTimeout(() => process.exit(0), 200)
})()
