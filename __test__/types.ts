// Compiled with `tsc --noEmit` by `npm test`: the typings must accept uWS.js-style code
// and reject misuse (the @ts-expect-error lines fail the build if they stop being errors).
import { App, SSLApp, us_listen_socket_close, us_socket_local_port, LIBUS_LISTEN_EXCLUSIVE_PORT, SHARED_COMPRESSOR, DEDICATED_DECOMPRESSOR_4KB } from '..'
import type { WebSocket, us_listen_socket, TemplatedApp, PublishStats, HttpRequest, HttpResponse, ShutdownResult, HttpHandler } from '..'

interface User {
  name: string
}

const app: TemplatedApp = App({ ioThreads: 1, pubsub: 'types' })
app.ws<User>('/chat/:room', {
  upgrade: async (res: HttpResponse, req: HttpRequest, context) => {
    res.onAborted(() => {})
    const key = req.getHeader('sec-websocket-key')
    const room: string | undefined = req.getParameter('room') ?? req.getParameter(0)
    const token: string | undefined = req.getQuery('token')
    req.forEach((k: string, v: string) => void [k, v])
    await Promise.resolve()
    if (res.aborted) return
    if (!token) return void res.writeStatus('401 Unauthorized').end('no token')
    res.cork(() => {
      res.writeStatus('101 Switching Protocols').writeHeader('x-room', room ?? '')
      res.upgrade<User>({ name: token }, key, req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context)
    })
  },
  maxPayloadLength: 1 << 20,
  idleTimeout: 30,
  maxBackpressure: 1 << 16,
  closeOnBackpressureLimit: false,
  sendPingsAutomatically: true,
  maxLifetime: 10,
  compression: SHARED_COMPRESSOR | DEDICATED_DECOMPRESSOR_4KB,
  publishToSelf: false,
  detachMessages: false,
  open: (ws) => {
    const name: string = ws.getUserData().name
    ws.subscribe('room')
    const topics: string[] = ws.getTopics()
    void name, topics
  },
  message: (ws: WebSocket<User>, message: ArrayBuffer, isBinary: boolean) => {
    const status: number = ws.send(message, isBinary, false)
    ws.send('text')
    ws.send(new Uint8Array(2))
    ws.send(Buffer.from('x'), true)
    ws.cork(() => ws.publish('room', message, isBinary))
    const f: number = ws.sendFirstFragment('a', false, false) + ws.sendFragment('b') + ws.sendLastFragment(message, false)
    void f
    const amount: number = ws.getBufferedAmount()
    const port: number = ws.getRemotePort()
    const addr: ArrayBuffer = ws.getRemoteAddressAsText()
    void status, amount, port, addr
    // @ts-expect-error the message is an ArrayBuffer, not a string
    const s: string = message
    void s
  },
  drain: (ws) => void ws.getBufferedAmount(),
  dropped: (ws, message, isBinary) => void [ws, message.byteLength, isBinary],
  close: (ws, code: number, message: ArrayBuffer) => void [ws, code, message],
  subscription: (ws, topic: ArrayBuffer, newCount: number, oldCount: number) => void [ws, topic, newCount, oldCount],
  ping: (ws, message) => void [ws, message],
  pong: (ws, message) => void [ws, message],
})

app.listen(0, (token: us_listen_socket | false) => {
  if (!token) return
  const port: number = us_socket_local_port(token)
  void port
  us_listen_socket_close(token)
})
app.listen('127.0.0.1', 0, LIBUS_LISTEN_EXCLUSIVE_PORT, () => {})
const ok: boolean = app.publish('room', 'hello')
const stats: PublishStats = app.publishWithStats('room', new Uint8Array(1), true)
const n: number = app.numSubscribers('room') + stats.sent + stats.buffered + stats.dropped
const subs: WebSocket<User>[] = app.getSubscribers<User>('room')
void ok, n, subs, app.getTopics()[0]?.count
// @ts-expect-error listen needs a callback
app.listen(9001)
app.listen_unix((token) => void token, '/tmp/rsws-types.sock')
const closed: TemplatedApp = app.close()
void closed
app.shutdown({ code: 1001, reason: 'bye', timeoutMs: 1000 }).then((r: ShutdownResult) => void [r.sockets, r.graceful, r.forced])
// @ts-expect-error listen_unix takes the callback first
app.listen_unix('/tmp/x.sock', () => {})

// HTTP routes
const page: HttpHandler = (res, req) => {
  const q: string | undefined = req.getQuery()
  res.writeStatus('200 OK').writeHeader('Content-Type', 'text/html').end(`<p>${q ?? ''}</p>`)
}
app
  .get('/', page)
  .post('/upload/:name', (res: HttpResponse, req: HttpRequest) => {
    const name: string | undefined = req.getParameter('name')
    res.onAborted(() => void res.aborted)
    const parts: Buffer[] = []
    res.onData((chunk: ArrayBuffer, isLast: boolean) => {
      parts.push(Buffer.from(chunk))
      if (isLast) res.cork(() => res.writeStatus('201 Created').end(name ?? '', false))
    })
  })
  .put('/p', (res) => void res.endWithoutBody())
  .del('/d', (res, req) => void req.setYield(true))
  .patch('/x', (res) => void res.end())
  .options('/*', (res) => void res.writeHeader('Allow', 'GET').endWithoutBody(0, true))
  .head('/h', (res) => void res.endWithoutBody(10))
  .connect('/c', (res) => void res.close())
  .trace('/t', (res) => void res.end(new Uint8Array(1)))
  .any('/stream', async (res) => {
    const ok: boolean = res.write('chunk')
    const [tried, done]: [boolean, boolean] = res.tryEnd(Buffer.alloc(1), 2)
    const offset: number = res.getWriteOffset()
    res.onWritable((at: number) => at >= offset)
    res.pause()
    res.resume()
    void [ok, tried, done]
  })
// @ts-expect-error a route handler is required
app.get('/missing')
// @ts-expect-error onData chunks are ArrayBuffers
app.post('/bad', (res) => res.onData((chunk: string) => void chunk))
const sslApp: TemplatedApp = SSLApp({
  key_file_name: 'key.pem',
  cert_file_name: 'cert.pem',
  passphrase: 'secret',
  ca_file_name: 'ca.pem',
  dh_params_file_name: 'dh.pem',
  ssl_ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  ssl_prefer_low_memory_usage: true,
  ioThreads: 1,
})
SSLApp({ key: '-----BEGIN PRIVATE KEY-----', cert: Buffer.from('') })
  .ws('/*', { message: (ws, message, isBinary) => void ws.send(message, isBinary) })
  .addServerName('*.example.com', { key_file_name: 'k.pem', cert_file_name: 'c.pem' })
  .removeServerName('old.example.com')
  .missingServerName((hostname: string) => void sslApp.addServerName(hostname, { key: '', cert: '' }))
  .reloadCertificate({ key_file_name: 'new-key.pem', cert_file_name: 'new-cert.pem' })
  .listen(9443, (token) => void token)
// @ts-expect-error SSLApp needs its options
SSLApp()
// @ts-expect-error ssl_prefer_low_memory_usage is a boolean
SSLApp({ ssl_prefer_low_memory_usage: 'yes' })
