'use strict'
// require('rsws') from the scratch project: the binary must come from the platform package.
const path = require('node:path')
const rsws = require('rsws')
const WebSocket = require('ws')
const roundtrip = require('./roundtrip.cjs')

const binary = Object.keys(require.cache).find((f) => f.endsWith('.node'))
const expected = path.join('node_modules', `rsws-${process.argv[2]}`, `rsws.${process.argv[2]}.node`)
if (!binary || !binary.endsWith(expected)) {
  console.error(`binary loaded from ${binary}, expected .../${expected}`)
  process.exit(1)
}
roundtrip(rsws, WebSocket).then(
  (port) => {
    console.log(`  require: echo ok on port ${port} (Node ${process.version}, ${path.relative(process.cwd(), binary)})`)
    process.exit(0)
  },
  (err) => {
    console.error(err)
    process.exit(1)
  }
)
