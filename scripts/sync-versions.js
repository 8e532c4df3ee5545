'use strict'
// Gives every platform package (npm/<target>/package.json) and the optionalDependencies of
// the main package the main package's version. Runs as the `version` script, so
// `npm version <new>` bumps all packages together; `--check` only reports mismatches.
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'))
const writeJson = (file, value) => fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n')

const check = process.argv.includes('--check')
const pkgFile = path.join(root, 'package.json')
const pkg = readJson(pkgFile)
const { version } = pkg
const problems = []

for (const dir of fs.readdirSync(path.join(root, 'npm')).sort()) {
  const file = path.join(root, 'npm', dir, 'package.json')
  if (!fs.existsSync(file)) continue
  const sub = readJson(file)
  if (sub.version !== version) {
    problems.push(`${sub.name} is ${sub.version}`)
    sub.version = version
    if (!check) writeJson(file, sub)
  }
  if (pkg.optionalDependencies[sub.name] !== version) {
    problems.push(`optionalDependencies.${sub.name} is ${pkg.optionalDependencies[sub.name]}`)
    pkg.optionalDependencies[sub.name] = version
  }
}

const lockFile = path.join(root, 'package-lock.json')
const lock = fs.existsSync(lockFile) ? readJson(lockFile) : null
const lockRoot = lock && lock.packages && lock.packages['']
// npm keeps these sorted by name, in package.json and in the lockfile.
const sorted = (deps) => Object.fromEntries(Object.entries(deps || {}).sort(([a], [b]) => (a < b ? -1 : 1)))
pkg.optionalDependencies = sorted(pkg.optionalDependencies)
if (lockRoot && JSON.stringify(sorted(lockRoot.optionalDependencies)) !== JSON.stringify(pkg.optionalDependencies)) {
  problems.push('package-lock.json optionalDependencies differ')
  lockRoot.optionalDependencies = pkg.optionalDependencies
}

if (check) {
  if (problems.length) {
    console.error(`versions out of sync with ${version}:\n  ${problems.join('\n  ')}`)
    process.exit(1)
  }
} else {
  writeJson(pkgFile, pkg)
  if (lockRoot) writeJson(lockFile, lock)
  console.log(problems.length ? `synced to ${version}:\n  ${problems.join('\n  ')}` : `all at ${version}`)
}
