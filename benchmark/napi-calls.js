'use strict'
// What one call from JS into the addon costs, per kind of binding: a napi-rs class method
// (`connectionsHeld`, which reads one atomic) against the event path's plain N-API
// functions (`takeInto` on an empty queue, `flush` of an empty buffer).
// Usage: node benchmark/napi-calls.js [calls per round, default 3000000]
const { App } = require('..')

const native = App()._native
const inbox = Buffer.alloc(1024)
const empty = Buffer.alloc(0)
const N = Number(process.argv[2]) || 3e6
const calls = {
  'connectionsHeld() (napi-rs method)': () => native.connectionsHeld(),
  'takeInto(inbox), empty queue (plain N-API)': () => native.takeInto(inbox),
  'flush(empty) (plain N-API)': () => native.flush(empty),
}
for (let round = 1; round <= 3; round++) {
  for (const [name, f] of Object.entries(calls)) {
    const t = process.hrtime.bigint()
    for (let i = 0; i < N; i++) f()
    console.log(`round ${round}  ${name}: ${(Number(process.hrtime.bigint() - t) / N).toFixed(1)} ns/call`)
  }
}
