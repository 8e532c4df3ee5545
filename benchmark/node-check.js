'use strict'
// Which Node the benchmark servers run on (`--node`), and whether uWS.js loads there.

const { spawnSync } = require('child_process')
const fs = require('fs')
const path = require('path')

const ROOT = path.join(__dirname, '..')

/** Version and module ABI of the Node binary that runs the servers. */
function nodeInfo(node) {
  const r = spawnSync(node, ['-p', "process.version + ' ' + process.versions.modules"], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`--node ${node} does not run: ${r.error?.message ?? r.stderr}`)
  const [version, abi] = r.stdout.trim().split(' ')
  return { version, abi }
}

/**
 * Why uWS.js cannot run on `node` (uws-pack ships one binary per Node ABI), or null when
 * it loads. Checked once, so a Node it has no binary for skips its columns with one line
 * instead of failing every run.
 */
function uwsUnavailable(node, { version, abi }) {
  const r = spawnSync(node, ['--input-type=module', '-e', "await import('uws-pack')"], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 15000,
  })
  if (r.status === 0) return null
  let shipped = []
  try {
    const bin = path.join(ROOT, 'node_modules', 'uws-pack', 'dist', 'bin')
    const prefix = `uws_${process.platform}_${process.arch}_`
    shipped = fs.readdirSync(bin).filter((f) => f.startsWith(prefix)).map((f) => f.slice(prefix.length, -'.node'.length))
  } catch {}
  const why = (r.stderr || r.error?.message || '').split('\n').find((l) => /Error/.test(l)) ?? `exit ${r.status}`
  return shipped.length && !shipped.includes(abi)
    ? `uws-pack has no binary for Node ${version} (ABI ${abi}; it ships ABIs ${shipped.join(', ')}); run with --node and a Node 20 or 22 to compare`
    : `uws-pack does not load on Node ${version}: ${why.trim()}`
}

module.exports = { nodeInfo, uwsUnavailable }
