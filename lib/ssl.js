'use strict'
// SSLApp(): the same TemplatedApp whose listeners speak TLS (wss://), plus uWS.js's
// server-name methods (addServerName, removeServerName, missingServerName) and rsws's
// reloadCertificate. On a plain App the server-name methods do nothing, as in uWS.js.
const { TemplatedApp } = require('./app')

/** uWS.js option names that hold a path, and the native (camel-cased) names. */
const PATH_OPTIONS = [
  ['key_file_name', 'keyFileName'],
  ['cert_file_name', 'certFileName'],
  ['ca_file_name', 'caFileName'],
  ['dh_params_file_name', 'dhParamsFileName'],
]
/** In-memory PEM options (rsws additions, as Node's tls options). */
const PEM_OPTIONS = ['key', 'cert', 'ca']

/** Re-throws a callback's exception outside the native call, as an uncaught error. */
function report(err) {
  process.nextTick(() => {
    throw err
  })
}

function absent(v) {
  return v === undefined || v === null || v === ''
}

/** A string option: a string, or bytes (uWS.js takes any RecognizedString) as UTF-8. */
function text(v, name) {
  if (typeof v === 'string') return v
  if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString()
  if (v instanceof ArrayBuffer) return Buffer.from(v).toString()
  throw new TypeError(`${name} must be a string`)
}

function pem(v, name) {
  if (typeof v === 'string') return Buffer.from(v)
  if (Buffer.isBuffer(v)) return v
  if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength)
  if (v instanceof ArrayBuffer) return Buffer.from(v)
  throw new TypeError(`${name} must be PEM text: a string or a Buffer`)
}

/** The TLS part of uWS.js AppOptions, checked and converted for the native layer. */
function sslOptions(options) {
  if (options === undefined || options === null) return {}
  if (typeof options !== 'object') throw new TypeError('options must be an object')
  const out = {}
  for (const [name, native] of PATH_OPTIONS) {
    if (!absent(options[name])) out[native] = text(options[name], name)
  }
  for (const name of PEM_OPTIONS) {
    if (!absent(options[name])) out[name] = pem(options[name], name)
  }
  if (!absent(options.passphrase)) out.passphrase = text(options.passphrase, 'passphrase')
  if (!absent(options.ssl_ciphers)) out.sslCiphers = text(options.ssl_ciphers, 'ssl_ciphers')
  if (options.ssl_prefer_low_memory_usage) out.sslPreferLowMemoryUsage = true
  return out
}

function hostnameOf(hostname) {
  return text(hostname, 'hostname')
}

const methods = {
  /** Serves the certificate of `options` (key_file_name/cert_file_name/passphrase or
   * key/cert) to clients asking for `hostname` (or `*.example.com`); again for the same
   * name replaces it (how uWS.js users renew a certificate). Throws if it cannot load. */
  addServerName(hostname, options) {
    const name = hostnameOf(hostname)
    if (this._tls) this._native.addServerName(name, sslOptions(options))
    return this
  },

  removeServerName(hostname) {
    const name = hostnameOf(hostname)
    if (this._tls) this._native.removeServerName(name)
    return this
  },

  /** `cb(hostname)` runs when a client asks for a name without a certificate; a
   * certificate it adds synchronously (addServerName) is used for that very client. */
  missingServerName(cb) {
    if (typeof cb !== 'function') throw new TypeError('missingServerName needs a callback')
    if (this._tls) {
      // The native side holds the function it is given strongly (a threadsafe function):
      // give it one that reaches the app only weakly, so that a callback referring to its
      // app (the usual case) does not keep the app alive after close().
      const first = this._missingServerName === undefined
      this._missingServerName = cb
      if (first) {
        const app = new WeakRef(this)
        this._native.setMissingServerName((hostname) => {
          const target = app.deref()
          if (target === undefined) return
          try {
            target._missingServerName(hostname)
          } catch (err) {
            report(err)
          }
        })
      }
    }
    return this
  },

  /** rsws: replaces the default certificate (and ciphers, CA) for new connections;
   * open connections keep theirs. Throws, changing nothing, if `options` do not load. */
  reloadCertificate(options) {
    if (!this._tls) throw new Error('reloadCertificate needs an SSLApp')
    this._native.reloadCertificate(sslOptions(options))
    return this
  },
}

for (const [name, fn] of Object.entries(methods)) {
  Object.defineProperty(TemplatedApp.prototype, name, { value: fn, writable: true, configurable: true })
}

/** SSLApp(options): an App whose listeners accept TLS. Throws an Error naming the option,
 * file and reason when the certificate, key or CA cannot be loaded. */
function SSLApp(options = {}) {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object')
  const tls = sslOptions(options)
  const app = new TemplatedApp(options)
  app._native.enableTls(tls)
  app._tls = true
  return app
}

module.exports = { SSLApp }
