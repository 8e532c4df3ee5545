'use strict'
// The examples the README points to actually run: the TLS echo with its generated
// certificate, and the HTTP page with a WebSocket on the same port.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { REPO, WS, withTimeout, collect, hasOpenssl } = require('./helpers')

const T = { timeout: 30000 }

/** A port free right now (the examples read PORT; 0 would mean their default). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
    server.once('error', reject)
  })
}

/** Starts `examples/<name>` on a free port; resolves once its output matches `ready`. */
async function startExample(name, ready) {
  const port = await freePort()
  const child = spawn(process.execPath, [path.join(REPO, 'examples', name)], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  await withTimeout(
    new Promise((resolve, reject) => {
      const check = (chunk) => {
        output += chunk
        if (ready.test(output)) resolve()
      }
      child.stdout.on('data', check)
      child.stderr.on('data', check)
      child.once('exit', (code) => reject(new Error(`${name} exited (${code}): ${output}`)))
    }),
    15000,
    () => `${name} to start: ${output}`,
  ).catch((err) => {
    child.kill()
    throw err
  })
  return { port, child, exited, output: () => output }
}

async function echoOnce(url, options) {
  const c = new WS(url, options)
  await withTimeout(new Promise((resolve, reject) => c.once('open', resolve).once('error', reject)), 5000, `open ${url}`)
  const got = collect(c, 1)
  c.send('hello example')
  const [message] = await got
  c.terminate()
  return message.data.toString()
}

test('examples/tls-echo.js: wss echo with its generated certificate, removed on SIGTERM', {
  ...T,
  skip: hasOpenssl ? false : 'the openssl CLI is not installed',
}, async () => {
  const ex = await startExample('tls-echo.js', /self-signed certificate: (\S+)/)
  const cert = ex.output().match(/self-signed certificate: (\S+)/)[1]
  try {
    assert.equal(await echoOnce(`wss://localhost:${ex.port}/`, { ca: fs.readFileSync(cert) }), 'hello example')
    ex.child.kill('SIGTERM')
    await withTimeout(ex.exited, 5000, 'exit on SIGTERM')
    assert.equal(fs.existsSync(path.dirname(cert)), false, 'the temporary certificate directory is removed')
  } finally {
    ex.child.kill('SIGKILL')
    fs.rmSync(path.dirname(cert), { recursive: true, force: true })
  }
})

test('examples/http-and-ws.js: the page, a POST echo, 404 and the WebSocket it opens', T, async () => {
  const ex = await startExample('http-and-ws.js', /listening/)
  try {
    const base = `http://127.0.0.1:${ex.port}`
    const page = await fetch(`${base}/`)
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-type'), /^text\/html/)
    const html = await page.text()
    assert.match(html, /new WebSocket\(.*\/ws`\)/)
    const posted = await fetch(`${base}/echo`, { method: 'POST', body: 'some text' })
    assert.equal(await posted.text(), 'SOME TEXT')
    assert.equal((await fetch(`${base}/nope`)).status, 404)
    assert.equal(await echoOnce(`ws://127.0.0.1:${ex.port}/ws`), 'hello example')
  } finally {
    ex.child.kill('SIGKILL')
  }
})
