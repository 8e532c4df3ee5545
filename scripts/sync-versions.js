'use strict'
// Versions of the platform packages (npm/<target>/package.json), and the main package's
// optionalDependencies on them.
//
//   node scripts/sync-versions.js                 give every platform package the main version
//   node scripts/sync-versions.js --check         only report mismatches (exit 1)
//   node scripts/sync-versions.js --optional [F]  write the optionalDependencies into F
//                                                 (default: package.json), for publishing
//
// The first runs as the `version` script, so `npm version <new>` bumps all packages
// together. The checkout's package.json has no optionalDependencies: they name versions
// that are only on the registry once a release is published, and a lockfile cannot record
// a package the registry does not have, so `npm ci` would refuse every checkout (and every
// release build) until then. The publish job adds them with --optional after publishing the
// platform packages, right before publishing the main package (napi-rs's `prepublish` does
// the same); `.ci/install-proof.sh` does it on the copy it packs.
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'))
const writeJson = (file, value) => fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n')

const args = process.argv.slice(2)
const check = args.includes('--check')
const optional = args.includes('--optional')
const [target] = args.filter((a) => !a.startsWith('--'))
const pkg = readJson(path.join(root, 'package.json'))
const { version } = pkg

/** The platform packages under npm/, by name, sorted (npm keeps dependencies sorted). */
const subs = fs
  .readdirSync(path.join(root, 'npm'))
  .sort()
  .map((dir) => path.join(root, 'npm', dir, 'package.json'))
  .filter((file) => fs.existsSync(file))
  .map((file) => ({ file, json: readJson(file) }))

if (optional) {
  const file = path.resolve(target || path.join(root, 'package.json'))
  const out = readJson(file)
  if (out.name !== pkg.name || out.version !== version) {
    console.error(`sync-versions: ${file} is ${out.name}@${out.version}, not ${pkg.name}@${version}`)
    process.exit(1)
  }
  const stale = subs.filter((s) => s.json.version !== version).map((s) => `${s.json.name} is ${s.json.version}`)
  if (stale.length) {
    console.error(`sync-versions: platform packages not at ${version}:\n  ${stale.join('\n  ')}`)
    process.exit(1)
  }
  out.optionalDependencies = Object.fromEntries(subs.map((s) => [s.json.name, version]))
  writeJson(file, out)
  console.log(`${file}: optionalDependencies on ${subs.length} platform packages at ${version}`)
  process.exit(0)
}

if (pkg.optionalDependencies) {
  // Only the published package.json has them (see above); here they would break `npm ci`.
  console.error('sync-versions: package.json has optionalDependencies; they are added at publish time (--optional)')
  process.exit(1)
}
const problems = []
for (const sub of subs) {
  if (sub.json.version !== version) {
    problems.push(`${sub.json.name} is ${sub.json.version}`)
    sub.json.version = version
    if (!check) writeJson(sub.file, sub.json)
  }
}

if (check) {
  if (problems.length) {
    console.error(`versions out of sync with ${version}:\n  ${problems.join('\n  ')}`)
    process.exit(1)
  }
} else {
  console.log(problems.length ? `synced to ${version}:\n  ${problems.join('\n  ')}` : `all at ${version}`)
}
