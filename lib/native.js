'use strict'
// Loads the native addon: a local build (`rsws.<platform>.node` in the package root, made
// by `npm run build`) first, then the prebuilt binary package for this platform.
const { existsSync } = require('node:fs')
const { join } = require('node:path')

function isMusl() {
  if (process.platform !== 'linux') return false
  try {
    const report = process.report && process.report.getReport()
    const header = report && (typeof report === 'string' ? JSON.parse(report) : report).header
    return !(header && header.glibcVersionRuntime)
  } catch {
    return false
  }
}

function platformTriple() {
  const { platform, arch } = process
  if (platform === 'linux') return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

function load() {
  const triple = platformTriple()
  const local = join(__dirname, '..', `rsws.${triple}.node`)
  const tried = [local, `rsws-${triple}`]
  if (existsSync(local)) return require(local)
  try {
    return require(`rsws-${triple}`)
  } catch (err) {
    if (err && err.code !== 'MODULE_NOT_FOUND') throw err
  }
  throw new Error(
    `rsws: no native binary for ${triple} (Node ${process.version}). Looked for:\n  ` +
      tried.join('\n  ') +
      '\nInstall the optional dependency for your platform (npm install --include=optional), ' +
      'or build from source with a Rust toolchain: npm run build'
  )
}

module.exports = load()
