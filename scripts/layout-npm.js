'use strict'
// Puts built binaries into their platform packages, ready for `npm pack` / `npm publish`.
//
//   node scripts/layout-npm.js <binaries-dir> [<out-dir>] [--all]
//
// Finds every rsws.<target>.node under <binaries-dir> (any depth: CI artifacts arrive as
// one folder per target) and copies it into <out-dir>/<target>/, next to a copy of
// npm/<target>/package.json and README.md. <out-dir> defaults to npm/ itself. With --all
// every target in package.json napi.targets must have a binary (the publish job); without
// it, targets without one are left out of <out-dir> (a local proof on one platform).
// Prints one line per laid-out package.
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const args = process.argv.slice(2)
const all = args.includes('--all')
const [binariesDir, outArg] = args.filter((a) => !a.startsWith('--'))
if (!binariesDir) {
  console.error('usage: node scripts/layout-npm.js <binaries-dir> [<out-dir>] [--all]')
  process.exit(2)
}
const outDir = path.resolve(outArg || path.join(root, 'npm'))
const fail = (message) => {
  console.error(`layout-npm: ${message}`)
  process.exit(1)
}
const inPlace = outDir === path.join(root, 'npm')

/** rsws.<target>.node files under dir, by target; two of one target is an error. */
function findBinaries(dir, found = new Map()) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') findBinaries(full, found)
      continue
    }
    const m = /^rsws\.(.+)\.node$/.exec(entry.name)
    if (!m) continue
    if (found.has(m[1])) fail(`two binaries for ${m[1]}: ${found.get(m[1])} and ${full}`)
    found.set(m[1], full)
  }
  return found
}

const packages = fs
  .readdirSync(path.join(root, 'npm'))
  .filter((d) => fs.existsSync(path.join(root, 'npm', d, 'package.json')))
  .sort()
const binaries = findBinaries(path.resolve(binariesDir))

const unknown = [...binaries.keys()].filter((t) => !packages.includes(t))
if (unknown.length) fail(`binaries for targets without an npm/ package: ${unknown.join(', ')}`)
const missing = packages.filter((t) => !binaries.has(t))
if (all && missing.length) fail(`no binary for: ${missing.join(', ')}`)
if (binaries.size === 0) fail(`no rsws.*.node under ${binariesDir}`)

for (const target of packages) {
  const binary = binaries.get(target)
  if (!binary) continue
  const dest = path.join(outDir, target)
  fs.mkdirSync(dest, { recursive: true })
  if (!inPlace) {
    for (const file of ['package.json', 'README.md']) {
      const src = path.join(root, 'npm', target, file)
      if (fs.existsSync(src)) fs.copyFileSync(src, path.join(dest, file))
    }
  }
  const { main } = JSON.parse(fs.readFileSync(path.join(dest, 'package.json'), 'utf8'))
  if (main !== `rsws.${target}.node`) fail(`npm/${target}/package.json main is ${main}`)
  fs.copyFileSync(binary, path.join(dest, main))
  fs.chmodSync(path.join(dest, main), 0o755)
  const kib = (fs.statSync(binary).size / 1024).toFixed(1)
  console.log(`${target}: ${path.join(dest, main)} (${kib} KiB)`)
}
