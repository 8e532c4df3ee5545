'use strict'
// What one call from JS into the addon costs, per kind of binding: a napi-rs class method
// (`connectionsHeld`, which reads one atomic) against the event path's plain N-API
// functions (`takeInto` on an empty queue, `flush` of an empty buffer), then the socket
// calls on one open connection (`ws.subscribe` + `ws.unsubscribe`, `ws.isSubscribed`).
// Usage: node benchmark/napi-calls.js [calls per round, default 3000000]
const { App } = require('..')
const WebSocket = require('ws')

const N = Number(process.argv[2]) || 3e6

function rounds(calls, n) {
  for (let round = 1; round <= 3; round++) {
    for (const [name, f] of Object.entries(calls)) {
      const t = process.hrtime.bigint()
      for (let i = 0; i < n; i++) f()
      console.log(`round ${round}  ${name}: ${(Number(process.hrtime.bigint() - t) / n).toFixed(1)} ns/call`)
    }
  }
}

const native = App()._native
const inbox = Buffer.alloc(1024)
const empty = Buffer.alloc(0)
rounds(
  {
    'connectionsHeld() (napi-rs method)': () => native.connectionsHeld(),
    'takeInto(inbox), empty queue (plain N-API)': () => native.takeInto(inbox),
    'flush(empty) (plain N-API)': () => native.flush(empty),
  },
  N,
)

const app = App().ws('/*', {
  open(ws) {
    rounds(
      {
        "ws.subscribe('topic') + ws.unsubscribe('topic')": () => ws.subscribe('topic') && ws.unsubscribe('topic'),
        "ws.isSubscribed('topic')": () => ws.isSubscribed('topic'),
      },
      Math.ceil(N / 10),
    )
    ws.end()
    app.close()
  },
})
app.listen('127.0.0.1', 0, (token) => {
  const client = new WebSocket(`ws://127.0.0.1:${require('..').us_socket_local_port(token)}/`)
  client.on('error', () => {})
})
