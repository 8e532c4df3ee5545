'use strict'
// Loads the native addon. In order: RSWS_NATIVE_PATH if set, a local build in the package
// root (`rsws.<platform>.node`, made by `npm run build` in a checkout), then the prebuilt
// package for this platform (`rsws-<platform>`, an optional dependency). Which names to
// look for, and the error when none loads, live in ./platform.js.
const { existsSync, readFileSync } = require('node:fs')
const { join, resolve } = require('node:path')
const { candidates, loadError } = require('./platform')

/** 'musl' or 'glibc' on Linux (null elsewhere), as napi-rs detects it. */
function detectLibc() {
  if (process.platform !== 'linux') return null
  // Cheapest first: the ldd script names its libc.
  try {
    const ldd = readFileSync('/usr/bin/ldd', 'latin1')
    if (ldd.includes('musl')) return 'musl'
    if (ldd.includes('GNU C Library') || ldd.includes('GLIBC')) return 'glibc'
  } catch {}
  // Node's diagnostic report has glibcVersionRuntime only when Node runs on glibc.
  try {
    const report = process.report.getReport()
    const header = (typeof report === 'string' ? JSON.parse(report) : report).header
    return header.glibcVersionRuntime ? 'glibc' : 'musl'
  } catch {
    return 'glibc'
  }
}

function load() {
  const platform = process.platform
  const arch = process.arch
  const libc = detectLibc()
  const packageRoot = join(__dirname, '..')
  const nativePath = process.env.RSWS_NATIVE_PATH ? resolve(process.env.RSWS_NATIVE_PATH) : undefined
  for (const c of candidates({ platform, arch, libc, packageRoot, nativePath }).list) {
    if (c.kind === 'path') {
      // An explicit RSWS_NATIVE_PATH must exist; a missing local build is just skipped.
      if (c.id === nativePath || existsSync(c.id)) return require(c.id)
      continue
    }
    let version
    try {
      version = require(`${c.id}/package.json`).version
    } catch (err) {
      if (err && err.code === 'MODULE_NOT_FOUND') continue // not installed: try the next
      throw err
    }
    // The JS half and the binary speak an internal protocol that changes between versions.
    const expected = require('../package.json').version
    if (version !== expected) {
      throw new Error(
        `rsws: ${c.id}@${version} is installed but rsws is ${expected}; the two must match. ` +
          'Reinstall (delete node_modules and the lockfile entry for ' + c.id + ').'
      )
    }
    // Installed but unloadable (wrong libc, corrupt file): that error is the useful one.
    return require(c.id)
  }
  throw loadError({ platform, arch, libc, nodeVersion: process.version, packageRoot, nativePath })
}

module.exports = load()
