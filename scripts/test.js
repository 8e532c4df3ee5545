'use strict'
// `npm test`'s suite: every __test__/*.test.js file in one `node --test` run, one file at
// a time. The files are listed here because `node --test DIR` only searches a directory
// on Node 20 (Node 22 and later read the arguments as file names or globs, and glob
// syntax is not understood by Node 20).
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const dir = path.join(__dirname, '..', '__test__')
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.test.js'))
  .sort()
  .map((f) => path.join(dir, f))
if (files.length === 0) {
  console.error(`no test files in ${dir}`)
  process.exit(1)
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit' })
process.exit(r.status ?? 1)
