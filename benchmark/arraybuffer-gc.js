'use strict'
// Which collections V8 runs for ArrayBuffers made and dropped, as a server that gives
// each message its own ArrayBuffer makes them: 640 MiB in buffers of each size, counted
// from --trace-gc in a child process on the given Node.
//
//   node benchmark/arraybuffer-gc.js [--sizes 16384,65536,131072] [--node PATH]
const { spawnSync } = require('node:child_process')
const path = require('node:path')

const TOTAL = 640 * 1024 * 1024

if (process.argv[2] === 'child') {
  const size = Number(process.argv[3])
  let kept
  for (let i = 0; i < TOTAL / size; i++) kept = Buffer.allocUnsafeSlow(size)
  if (kept.length !== size) throw new Error('unreachable')
} else {
  const o = { sizes: [16384, 65536, 131072], node: process.execPath }
  for (let i = 2; i < process.argv.length; i += 2) {
    const [a, v] = [process.argv[i], process.argv[i + 1]]
    if (a === '--sizes') o.sizes = v.split(',').map(Number)
    else if (a === '--node') o.node = path.resolve(v)
    else throw new Error(`unknown option ${a}`)
  }
  const version = spawnSync(o.node, ['-p', 'process.version'], { encoding: 'utf8' }).stdout.trim()
  console.log(`| Node ${version}: buffer size | scavenges | mark-compacts |\n|---|---|---|`)
  for (const size of o.sizes) {
    const r = spawnSync(o.node, ['--trace-gc', __filename, 'child', String(size)], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(r.stderr)
    const lines = r.stdout.split('\n')
    const scavenges = lines.filter((l) => / Scavenge /.test(l)).length
    const markCompacts = lines.filter((l) => / Mark-Compact /.test(l) && !/Minor Mark-Compact/.test(l)).length
    console.log(`| ${size / 1024} KiB | ${scavenges} | ${markCompacts} |`)
  }
}
