'use strict'
// HTTP routes and a WebSocket on one port: `/` serves a page whose script opens a
// WebSocket to `/ws` on the same server, which echoes what the page sends.
// Run: node examples/http-and-ws.js   then open http://localhost:9001/ in a browser.
// Also: `curl -d 'some text' localhost:9001/echo` (POST bodies come back upper-cased).
const { App } = require('..')

const port = Number(process.env.PORT) || 9001

const page = `<!doctype html>
<meta charset="utf-8">
<title>rsws: HTTP and WebSocket</title>
<h1>rsws echo</h1>
<form id="form"><input id="text" value="hello" autofocus> <button>send</button></form>
<pre id="log"></pre>
<script>
  const log = (line) => (document.getElementById('log').textContent += line + '\\n')
  const ws = new WebSocket(\`\${location.protocol === 'https:' ? 'wss' : 'ws'}://\${location.host}/ws\`)
  ws.onopen = () => log('open')
  ws.onmessage = (e) => log('echo: ' + e.data)
  ws.onclose = (e) => log('closed ' + e.code)
  document.getElementById('form').onsubmit = (e) => {
    e.preventDefault()
    ws.send(document.getElementById('text').value)
  }
</script>
`

App()
  .get('/', (res) => {
    res.writeHeader('Content-Type', 'text/html; charset=utf-8').end(page)
  })
  .post('/echo', (res) => {
    // The body arrives in chunks; answer once the last one is in.
    const parts = []
    res.onAborted(() => {})
    res.onData((chunk, isLast) => {
      parts.push(Buffer.from(chunk))
      if (isLast) res.writeHeader('Content-Type', 'text/plain').end(Buffer.concat(parts).toString().toUpperCase())
    })
  })
  .ws('/ws', {
    idleTimeout: 60,
    message: (ws, message, isBinary) => ws.send(message, isBinary),
  })
  .listen(port, (token) => {
    if (token) console.log(`rsws listening on http://localhost:${port}/ (WebSocket at ws://localhost:${port}/ws)`)
    else {
      console.error(`rsws: port ${port} is not available`)
      process.exitCode = 1
    }
  })
