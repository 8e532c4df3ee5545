'use strict'
// Distribution: the ESM entry matches the CommonJS one, the loader resolves every platform
// and fails clearly on the rest, the platform packages agree with package.json, and the
// tarball holds what consumers need and nothing that would make them build.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execSync, spawnSync } = require('node:child_process')
const { pathToFileURL } = require('node:url')

const REPO = path.join(__dirname, '..')
const pkg = require('../package.json')
const platform = require('../lib/platform')

// napi-rs's names for the Rust targets in package.json `napi.targets`.
const NAPI_NAMES = {
  'x86_64-unknown-linux-gnu': 'linux-x64-gnu',
  'aarch64-unknown-linux-gnu': 'linux-arm64-gnu',
  'x86_64-unknown-linux-musl': 'linux-x64-musl',
  'aarch64-unknown-linux-musl': 'linux-arm64-musl',
  'x86_64-apple-darwin': 'darwin-x64',
  'aarch64-apple-darwin': 'darwin-arm64',
  'x86_64-pc-windows-msvc': 'win32-x64-msvc',
  'aarch64-pc-windows-msvc': 'win32-arm64-msvc',
  'x86_64-unknown-freebsd': 'freebsd-x64',
}

// What Node reports on each prebuilt platform, and the package the loader must pick.
const PLATFORMS = [
  [{ platform: 'linux', arch: 'x64', libc: 'glibc' }, 'linux-x64-gnu'],
  [{ platform: 'linux', arch: 'arm64', libc: 'glibc' }, 'linux-arm64-gnu'],
  [{ platform: 'linux', arch: 'x64', libc: 'musl' }, 'linux-x64-musl'],
  [{ platform: 'linux', arch: 'arm64', libc: 'musl' }, 'linux-arm64-musl'],
  [{ platform: 'darwin', arch: 'x64', libc: null }, 'darwin-x64'],
  [{ platform: 'darwin', arch: 'arm64', libc: null }, 'darwin-arm64'],
  [{ platform: 'win32', arch: 'x64', libc: null }, 'win32-x64-msvc'],
  [{ platform: 'win32', arch: 'arm64', libc: null }, 'win32-arm64-msvc'],
  [{ platform: 'freebsd', arch: 'x64', libc: null }, 'freebsd-x64'],
]

test('ESM entry exports exactly the CommonJS names, as the same objects', async () => {
  const cjs = require('..')
  const esm = await import(pathToFileURL(path.join(REPO, 'index.mjs')).href)
  const named = Object.keys(esm).filter((k) => k !== 'default')
  assert.deepEqual(named.sort(), Object.keys(cjs).sort(), 'index.mjs is stale: run node scripts/generate-esm.js')
  for (const name of named) assert.equal(esm[name], cjs[name], name)
  assert.equal(esm.default, cjs)
})

test('index.mjs is what scripts/generate-esm.js generates', () => {
  const { expected } = require('../scripts/generate-esm')
  assert.equal(fs.readFileSync(path.join(REPO, 'index.mjs'), 'utf8'), expected(), 'run node scripts/generate-esm.js')
})

test('package.json exports map both entries with their typings, all of them shipped', () => {
  const root = pkg.exports['.']
  assert.deepEqual(root.import, { types: './index.d.mts', default: './index.mjs' })
  assert.deepEqual(root.require, { types: './index.d.ts', default: './index.js' })
  for (const file of ['index.js', 'index.mjs', 'index.d.ts', 'index.d.mts']) {
    assert.ok(pkg.files.includes(file), `files lacks ${file}`)
    assert.ok(fs.existsSync(path.join(REPO, file)), `${file} missing`)
  }
})

test('loader picks the napi-rs package name on every prebuilt platform', () => {
  for (const [env, name] of PLATFORMS) {
    const { name: got, prebuilt, list } = platform.candidates({ ...env, packageRoot: '/pkg' })
    assert.equal(got, name, JSON.stringify(env))
    assert.equal(prebuilt, true, name)
    const sep = env.platform === 'win32' ? '\\' : '/'
    assert.deepEqual(list, [
      { kind: 'path', id: `/pkg${sep}rsws.${name}.node` },
      { kind: 'package', id: `rsws-${name}` },
    ])
  }
  assert.deepEqual(PLATFORMS.map(([, n]) => n).sort(), [...platform.PREBUILT].sort())
  const explicit = platform.candidates({ platform: 'linux', arch: 'x64', libc: 'glibc', packageRoot: '/p', nativePath: '/x.node' })
  assert.deepEqual(explicit.list[0], { kind: 'path', id: '/x.node' })
})

test('loader error for an unknown platform names it, the places looked in, and how to build', () => {
  const err = platform.loadError({ platform: 'aix', arch: 'ppc64', libc: null, nodeVersion: 'v22.0.0', packageRoot: '/pkg' })
  assert.ok(err instanceof Error)
  for (const part of ['aix ppc64', 'v22.0.0', 'package rsws-aix-ppc64', 'file /pkg/rsws.aix-ppc64.node', 'no prebuilt binary', 'build from source', 'rustup', 'npm install', 'RSWS_NATIVE_PATH']) {
    assert.ok(err.message.includes(part), `message lacks ${JSON.stringify(part)}:\n${err.message}`)
  }
  for (const name of platform.PREBUILT) assert.ok(err.message.includes(name), `message lacks ${name}`)
})

test('loader error for a supported platform without its package says it is an optional dependency', () => {
  const err = platform.loadError({ platform: 'linux', arch: 'arm64', libc: 'musl', nodeVersion: 'v20.0.0', packageRoot: '/pkg' })
  for (const part of ['linux arm64 (musl)', 'package rsws-linux-arm64-musl', 'optional dependency', 'build from source']) {
    assert.ok(err.message.includes(part), `message lacks ${JSON.stringify(part)}:\n${err.message}`)
  }
})

/** A copy of the JS package (no binary, no node_modules) in a temp dir. */
function bareCopy(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsws-dist-test-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  for (const file of ['package.json', 'index.js']) fs.copyFileSync(path.join(REPO, file), path.join(dir, file))
  fs.cpSync(path.join(REPO, 'lib'), path.join(dir, 'lib'), { recursive: true })
  return dir
}

function requireIn(dir, env = {}) {
  return spawnSync(process.execPath, ['-e', `require(${JSON.stringify(dir)}); console.log('loaded')`], {
    encoding: 'utf8',
    env: { ...process.env, RSWS_NATIVE_PATH: '', ...env },
  })
}

test('the real loader, with no binary anywhere, throws the error naming this platform', (t) => {
  const dir = bareCopy(t)
  const r = requireIn(dir)
  assert.notEqual(r.status, 0)
  const name = platform.candidates({ platform: process.platform, arch: process.arch, libc: 'glibc', packageRoot: dir }).name
  const prefix = name.split('-').slice(0, 2).join('-') // the libc part depends on the machine
  assert.match(r.stderr, /rsws: no native binary for /)
  assert.ok(r.stderr.includes(`package rsws-${prefix}`), r.stderr)
  assert.match(r.stderr, /build from source/)
})

const localBinary = fs.readdirSync(REPO).find((f) => /^rsws\..+\.node$/.test(f))

test('RSWS_NATIVE_PATH loads a binary from anywhere', { skip: !localBinary && 'no local build' }, (t) => {
  const dir = bareCopy(t)
  const r = requireIn(dir, { RSWS_NATIVE_PATH: path.join(REPO, localBinary) })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'loaded')
})

test('a platform package of another version is refused with a clear error', { skip: !localBinary && 'no local build' }, (t) => {
  const dir = bareCopy(t)
  const name = localBinary.slice('rsws.'.length, -'.node'.length)
  const sub = path.join(dir, 'node_modules', `rsws-${name}`)
  fs.mkdirSync(sub, { recursive: true })
  fs.writeFileSync(path.join(sub, 'package.json'), JSON.stringify({ name: `rsws-${name}`, version: '0.0.0-old', main: localBinary }))
  fs.copyFileSync(path.join(REPO, localBinary), path.join(sub, localBinary))
  const r = requireIn(dir)
  assert.notEqual(r.status, 0)
  assert.ok(r.stderr.includes(`rsws-${name}@0.0.0-old is installed but rsws is ${pkg.version}`), r.stderr)
  // With the matching version it loads from the package.
  fs.writeFileSync(path.join(sub, 'package.json'), JSON.stringify({ name: `rsws-${name}`, version: pkg.version, main: localBinary }))
  const ok = requireIn(dir)
  assert.equal(ok.status, 0, ok.stderr)
})

test('napi.targets and npm/ packages agree, all at one version; optionalDependencies come at publish', (t) => {
  const names = pkg.napi.targets.map((t) => NAPI_NAMES[t])
  assert.deepEqual([...names].sort(), [...platform.PREBUILT].sort(), 'napi.targets vs lib/platform.js PREBUILT')
  const dirs = fs.readdirSync(path.join(REPO, 'npm')).filter((d) => fs.existsSync(path.join(REPO, 'npm', d, 'package.json')))
  assert.deepEqual(dirs.sort(), [...names].sort(), 'npm/ directories')
  for (const name of names) {
    const sub = require(path.join(REPO, 'npm', name, 'package.json'))
    const [os_, cpu, abi] = name.split('-')
    assert.equal(sub.name, `rsws-${name}`)
    assert.equal(sub.version, pkg.version, `${sub.name} version (run node scripts/sync-versions.js)`)
    assert.deepEqual(sub.os, [os_])
    assert.deepEqual(sub.cpu, [cpu])
    if (os_ === 'linux') assert.deepEqual(sub.libc, [abi === 'musl' ? 'musl' : 'glibc'])
    else assert.equal(sub.libc, undefined)
    assert.equal(sub.main, `rsws.${name}.node`)
    assert.deepEqual(sub.files, [`rsws.${name}.node`])
    assert.equal(sub.license, pkg.license)
    assert.deepEqual(sub.engines, pkg.engines)
  }
  // Not in the checkout (npm ci could not lock versions the registry does not have yet);
  // the publish job writes them into the package.json it publishes.
  assert.equal(pkg.optionalDependencies, undefined, 'package.json optionalDependencies')
  const check = spawnSync(process.execPath, [path.join(REPO, 'scripts/sync-versions.js'), '--check'], { encoding: 'utf8' })
  assert.equal(check.status, 0, check.stderr)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsws-publish-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'package.json')
  fs.copyFileSync(path.join(REPO, 'package.json'), file)
  const add = spawnSync(process.execPath, [path.join(REPO, 'scripts/sync-versions.js'), '--optional', file], { encoding: 'utf8' })
  assert.equal(add.status, 0, add.stderr)
  const published = JSON.parse(fs.readFileSync(file, 'utf8'))
  assert.deepEqual(published.optionalDependencies, Object.fromEntries(names.map((n) => `rsws-${n}`).sort().map((n) => [n, pkg.version])))
  assert.deepEqual({ ...published, optionalDependencies: undefined }, { ...pkg, optionalDependencies: undefined }, 'nothing else changes')
})

test('package-lock.json is what npm ci installs from (every platform, in sync with package.json)', (t) => {
  // A copy, so that nothing can touch this checkout's node_modules; --offline: the lock
  // must hold every entry itself.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsws-lock-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(REPO, f), path.join(dir, f))
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const r = spawnSync(npm, ['ci', '--dry-run', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], {
    cwd: dir,
    encoding: 'utf8',
    shell: process.platform === 'win32',
  })
  assert.equal(r.status, 0, `npm ci refuses the lockfile (run npm install and commit package-lock.json):\n${r.stderr}`)
})

test('the tarball has the JS, typings and docs, and nothing that builds or is built', () => {
  const out = execSync('npm pack --dry-run --json --ignore-scripts', { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  const files = JSON.parse(out)[0].files.map((f) => f.path)
  for (const need of ['index.js', 'index.mjs', 'index.d.ts', 'index.d.mts', 'lib/native.js', 'lib/platform.js', 'lib/app.js', 'README.md', 'LICENSE', 'CHANGELOG.md', 'package.json']) {
    assert.ok(files.includes(need), `tarball lacks ${need}`)
  }
  for (const file of files) {
    assert.doesNotMatch(file, /\.(node|rs|tgz)$|^(src|target|npm|__test__|benchmark|\.ci|scripts)\/|^Cargo\.|^build\.rs$/, `tarball has ${file}`)
  }
  // Consumers never run these; prepare (the from-source build) only runs in a checkout.
  for (const script of ['preinstall', 'install', 'postinstall']) assert.equal(pkg.scripts[script], undefined, script)
  assert.equal(pkg.engines.node, '>= 18')
})
