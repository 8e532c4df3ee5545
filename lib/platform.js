'use strict'
// Which native binary rsws needs on a platform, and the error when none is there. Pure
// functions of (platform, arch, libc) so they can be tested with any platform; the loader
// (lib/native.js) passes in the real values.

const PACKAGE = 'rsws'

/** Targets with a prebuilt package on npm (`rsws-<name>`), from package.json `napi.targets`. */
const PREBUILT = [
  'linux-x64-gnu',
  'linux-arm64-gnu',
  'linux-x64-musl',
  'linux-arm64-musl',
  'darwin-x64',
  'darwin-arm64',
  'win32-x64-msvc',
  'win32-arm64-msvc',
  'freebsd-x64',
]

/**
 * The napi-rs name of a platform (`napi build --platform` names the binary
 * `rsws.<name>.node`; the prebuilt package is `rsws-<name>`). Defined for every platform,
 * also those without a prebuilt package, so a binary built from source there is found too.
 * `libc` ('glibc' or 'musl') only matters on Linux.
 */
function targetName({ platform, arch, libc }) {
  if (platform === 'linux') {
    if (arch === 'arm') return `linux-arm-${libc === 'musl' ? 'musleabihf' : 'gnueabihf'}`
    return `linux-${arch}-${libc === 'musl' ? 'musl' : 'gnu'}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

/**
 * Where to look for the binary, in order: an explicit path from RSWS_NATIVE_PATH, a
 * local build in the package root, then the prebuilt package.
 */
function candidates({ platform, arch, libc, packageRoot, nativePath }) {
  const name = targetName({ platform, arch, libc })
  const sep = platform === 'win32' ? '\\' : '/'
  const list = []
  if (nativePath) list.push({ kind: 'path', id: nativePath })
  list.push({ kind: 'path', id: `${packageRoot}${sep}${PACKAGE}.${name}.node` })
  list.push({ kind: 'package', id: `${PACKAGE}-${name}` })
  return { name, prebuilt: PREBUILT.includes(name), list }
}

/** The error thrown when no candidate could be loaded. */
function loadError({ platform, arch, libc, nodeVersion, packageRoot, nativePath }) {
  const { name, prebuilt, list } = candidates({ platform, arch, libc, packageRoot, nativePath })
  const where = `${platform} ${arch}${platform === 'linux' ? ` (${libc})` : ''}`
  const looked = list.map((c) => (c.kind === 'package' ? `package ${c.id}` : `file ${c.id}`))
  const why = prebuilt
    ? `The prebuilt package ${PACKAGE}-${name} is not installed. It is an optional dependency of ` +
      `${PACKAGE}, so it is missing after installing with --omit=optional, after copying ` +
      'node_modules from another OS or libc, or with a lockfile written on another platform ' +
      '(https://github.com/npm/cli/issues/4828): remove node_modules and package-lock.json and ' +
      'run npm install on the machine that runs the code.'
    : `There is no prebuilt binary for ${name}; prebuilt packages exist for: ${PREBUILT.join(', ')}.`
  return new Error(
    `rsws: no native binary for ${where}, Node ${nodeVersion}.\n` +
      `Looked for:\n  ${looked.join('\n  ')}\n` +
      `${why}\n` +
      'To build from source (Rust toolchain needed, https://rustup.rs): clone the rsws repository, ' +
      'run `npm install` there (it builds rsws.<platform>.node), then install that checkout ' +
      '(`npm install /path/to/rsws`) or point RSWS_NATIVE_PATH at the built .node file.'
  )
}

module.exports = { PACKAGE, PREBUILT, targetName, candidates, loadError }
