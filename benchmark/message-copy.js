'use strict'
// What making each message's own ArrayBuffer costs, by way of making it: the handler's
// message is a copy of a slice of the batch buffer (lib/app.js, copyOut). Prints ns per
// copy for each way, in the third of 3 rounds.
// Usage: node benchmark/message-copy.js [message length, default 20] [copies, default 3000000]
const src = new Uint8Array(1 << 16)
for (let i = 0; i < src.length; i++) src[i] = i & 255
const ab = src.buffer
const ways = {
  'new Uint8Array(len), set, .buffer (copyOut)': (at, len) => {
    const c = new Uint8Array(len)
    c.set(new Uint8Array(ab, at, len))
    return c.buffer
  },
  'new ArrayBuffer(len), set': (at, len) => {
    const c = new ArrayBuffer(len)
    new Uint8Array(c).set(new Uint8Array(ab, at, len))
    return c
  },
  'ArrayBuffer.prototype.slice': (at, len) => ab.slice(at, at + len),
  'TypedArray.prototype.slice, .buffer': (at, len) => src.slice(at, at + len).buffer,
}
const len = Number(process.argv[2]) || 20
const n = Number(process.argv[3]) || 3e6
let sink = 0
for (let round = 1; round <= 3; round++) {
  for (const [name, make] of Object.entries(ways)) {
    const t = process.hrtime.bigint()
    for (let i = 0; i < n; i++) sink += make((i * 64) & 0x7fff, len).byteLength
    const ns = Number(process.hrtime.bigint() - t) / n
    if (round === 3) console.log(`${len} B  ${name}: ${ns.toFixed(0)} ns`)
  }
}
if (sink === 0) console.log('nothing copied')
