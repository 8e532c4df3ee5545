// import from the scratch project: named exports, the same names and objects as require.
import { createRequire } from 'node:module'
import rsws, { App, us_listen_socket_close, us_socket_local_port } from 'rsws'
import * as namespace from 'rsws'
import WebSocket from 'ws'
import roundtrip from './roundtrip.cjs'

const cjs = createRequire(import.meta.url)('rsws')
const named = Object.keys(namespace).filter((k) => k !== 'default').sort()
if (JSON.stringify(named) !== JSON.stringify(Object.keys(cjs).sort()) || rsws !== cjs) {
  console.error(`ESM exports ${named} differ from CommonJS ${Object.keys(cjs)}`)
  process.exit(1)
}
try {
  const port = await roundtrip({ App, us_listen_socket_close, us_socket_local_port }, WebSocket)
  console.log(`  import:  echo ok on port ${port} (Node ${process.version}, named exports: ${named.join(', ')})`)
  process.exit(0)
} catch (err) {
  console.error(err)
  process.exit(1)
}
