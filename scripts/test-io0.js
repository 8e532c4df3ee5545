'use strict'
// The suite's socket tests again with RSWS_IO_THREADS=0: every App then runs its sockets
// on its JS thread's event loop (`ioThreads: 0`) instead of on I/O threads. Linux only
// (elsewhere the mode falls back to I/O threads, which the main run already covers).
const { spawnSync } = require('node:child_process')
const path = require('node:path')

if (process.platform !== 'linux') {
  console.log('test-io0: ioThreads 0 is Linux only; skipped')
  process.exit(0)
}
const files = [
  'browser', 'close', 'compression', 'connections', 'deferred-open', 'detach-messages', 'echo', 'fragments', 'handshake', 'hostile',
  'http', 'idle', 'lifecycle', 'node-websocket', 'pubsub', 'reliability', 'tls', 'upgrade',
].map((f) => path.join(__dirname, '..', '__test__', `${f}.test.js`))
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], {
  stdio: 'inherit',
  env: { ...process.env, RSWS_IO_THREADS: '0' },
})
process.exit(r.status ?? 1)
