// Type definitions for rsws: the uWebSockets.js v20 WebSocket and HTTP API, plus rsws additions.

/** A message or topic: strings are sent as UTF-8. */
export type RecognizedString = string | ArrayBuffer | Uint8Array | Int8Array | Uint16Array | Int16Array |
  Uint32Array | Int32Array | Float32Array | Float64Array | BigInt64Array | BigUint64Array | DataView | Buffer

/** Returned by `listen` on success; pass it to `us_listen_socket_close` and `us_socket_local_port`. */
export interface us_listen_socket {
  readonly __rsws_listen_socket: true
}

/** A WebSocket connection, valid from `open` until `close`; every method throws after close. */
export interface WebSocket<UserData> {
  /** Sends a message. Returns 1 (sent), 0 (buffered: backpressure) or 2 (dropped: over maxBackpressure). */
  send(message: RecognizedString, isBinary?: boolean, compress?: boolean): number
  /** Starts a fragmented message (FIN clear); finish it with `sendLastFragment`. Publishes
   * to this socket wait until the message is finished. Same return values as `send`. */
  sendFirstFragment(message: RecognizedString, isBinary?: boolean, compress?: boolean): number
  /** A middle fragment; throws if no fragmented message is in progress. */
  sendFragment(message: RecognizedString, compress?: boolean): number
  /** The last fragment (FIN set); throws if no fragmented message is in progress. */
  sendLastFragment(message: RecognizedString, compress?: boolean): number
  /** Sends a ping. Same return values as `send`. */
  ping(message?: RecognizedString): number
  /** Starts the closing handshake; the close handler runs immediately. */
  end(code?: number, shortMessage?: RecognizedString): void
  /** Drops the connection without a closing handshake; the close handler runs immediately. */
  close(): void
  /** Runs `cb` with sends batched into one write. */
  cork(cb: () => void): WebSocket<UserData>
  /** Subscribes to a topic; true, also when already subscribed. */
  subscribe(topic: RecognizedString): boolean
  /** Unsubscribes; true only if the socket was subscribed. */
  unsubscribe(topic: RecognizedString): boolean
  isSubscribed(topic: RecognizedString): boolean
  getTopics(): string[]
  /** Publishes to the topic's subscribers except this socket (unless `publishToSelf`); true if it has any. */
  publish(topic: RecognizedString, message: RecognizedString, isBinary?: boolean, compress?: boolean): boolean
  /** Bytes queued in user space (kernel buffers not counted). */
  getBufferedAmount(): number
  /** 4 bytes for IPv4 peers, 16 for IPv6. */
  getRemoteAddress(): ArrayBuffer
  /** `127.0.0.1` for IPv4 peers, compressed text for IPv6. */
  getRemoteAddressAsText(): ArrayBuffer
  getRemotePort(): number
  /** The socket itself, as in uWS.js: `res.upgrade()` copied the user data's properties
   * onto it (none without an upgrade handler). */
  getUserData(): UserData
}

/** The request of an upgrade handler or an HTTP route handler; unlike uWS.js it stays
 * valid after the handler returns. */
export interface HttpRequest {
  /** A header by lowercase name; '' when absent. */
  getHeader(lowerCaseKey: RecognizedString): string
  /** A route parameter by index or by name (without ':'). */
  getParameter(index: number | string): string | undefined
  getUrl(): string
  /** Lowercase method. */
  getMethod(): string
  getCaseSensitiveMethod(): string
  /** The query string without '?' (undefined when there is none). */
  getQuery(): string | undefined
  /** One decoded query value. */
  getQuery(key: string): string | undefined
  forEach(cb: (key: string, value: string) => void): void
  /** HTTP routes: true passes the request on to the next matching route (or the 404). */
  setYield(yield_: boolean): HttpRequest
}

/** The response of an upgrade handler or an HTTP route handler. Every method throws once
 * the response ended or was aborted. */
export interface HttpResponse {
  /** True once the client went away (after onAborted ran), or after close(). */
  readonly aborted: boolean
  /** Upgrade handlers only (throws in HTTP routes). */
  upgrade<UserData>(userData: UserData, secWebSocketKey: RecognizedString, secWebSocketProtocol: RecognizedString,
    secWebSocketExtensions: RecognizedString, context: us_socket_context_t): void
  /** Once, before any header: '200 OK', '404 Not Found', ... (HTTP routes: 200-599). */
  writeStatus(status: RecognizedString): HttpResponse
  /** HTTP routes refuse Content-Length and Transfer-Encoding: end, endWithoutBody, write
   * and tryEnd set them. */
  writeHeader(key: RecognizedString, value: RecognizedString): HttpResponse
  /** Ends the response with a body (Content-Length, or the last chunk after write()).
   * Upgrade handlers: answers the upgrade request with this response instead (e.g. after
   * writeStatus('401 Unauthorized')). */
  end(body?: RecognizedString, closeConnection?: boolean): HttpResponse
  /** Ends without a body; reportedContentLength is sent as Content-Length (HEAD requests
   * and 304 only; 0 is accepted for any). */
  endWithoutBody(reportedContentLength?: number, closeConnection?: boolean): HttpResponse
  /** Streams part of the body (chunked). False when the queued bytes are over 64 KiB:
   * wait for onWritable. The chunk is always taken. */
  write(chunk: RecognizedString): boolean
  /** Writes part of a body of totalSize bytes (Content-Length): [ok, done]. The chunk is
   * always taken whole (getWriteOffset counts it); ok is false while the queued bytes
   * are over 64 KiB: wait for onWritable. */
  tryEnd(fullBodyOrChunk: RecognizedString, totalSize: number): [boolean, boolean]
  /** Body bytes written so far. */
  getWriteOffset(): number
  /** Runs once the queued bytes were written, after write/tryEnd reported backpressure
   * (once per such report). The return value is not used. */
  onWritable(handler: (offset: number) => boolean): HttpResponse
  onAborted(handler: () => void): HttpResponse
  /** The request body in chunks; register it in the handler itself (synchronously), or
   * the body is discarded. A request without a body gets one empty last chunk. */
  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): HttpResponse
  /** Stops reading the request body (and the socket) until resume(). */
  pause(): void
  resume(): void
  close(): HttpResponse
  cork(cb: () => void): HttpResponse
  getRemoteAddress(): ArrayBuffer
  getRemoteAddressAsText(): ArrayBuffer
  getRemotePort(): number
}

/** Opaque; pass the handler's `context` through to `res.upgrade`. */
export interface us_socket_context_t {}

export interface WebSocketBehavior<UserData> {
  /** Largest message accepted, in bytes (default 16 KiB); larger closes with 1009. */
  maxPayloadLength?: number
  /** Seconds without data before the connection is closed (default 120; 0 disables). */
  idleTimeout?: number
  /** Queued bytes past which sends and publishes are dropped (default 64 KiB; 0 = no limit). */
  maxBackpressure?: number
  /** Close the connection instead of dropping messages at the backpressure limit. */
  closeOnBackpressureLimit?: boolean
  /** Minutes after which the connection is closed (code 1006); 0 (default) disables.
   * Fractions are accepted (uWS.js takes whole minutes 1-239). */
  maxLifetime?: number
  /** Send a ping after idleTimeout / 2 without data (default true). */
  sendPingsAutomatically?: boolean
  /** rsws: `ws.publish` also reaches the sender (default false, as uWS.js). */
  publishToSelf?: boolean
  /** rsws: the `message` handler's ArrayBuffer is detached when the handler returns (or
   * at its first `await`), as in uWS.js, and its memory is reused for later messages:
   * faster; keep a message with `message.transfer()` or `slice()`. Default false: messages stay valid. Needs Node 22 or
   * later (`ArrayBuffer.prototype.transfer`); on older Node messages stay valid. */
  detachMessages?: boolean
  /** permessage-deflate: a CompressOptions value, a compressor and a decompressor
   * combined with `|` (default DISABLED). */
  compression?: CompressOptions
  upgrade?: (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => void | Promise<void>
  open?: (ws: WebSocket<UserData>) => void | Promise<void>
  /** `message` stays valid after the handler returns (unlike uWS.js). */
  message?: (ws: WebSocket<UserData>, message: ArrayBuffer, isBinary: boolean) => void | Promise<void>
  /** A message that send or publish dropped because of backpressure. */
  dropped?: (ws: WebSocket<UserData>, message: ArrayBuffer, isBinary: boolean) => void | Promise<void>
  drain?: (ws: WebSocket<UserData>) => void
  /** Fires exactly once per open; every ws method throws from here on. */
  close?: (ws: WebSocket<UserData>, code: number, message: ArrayBuffer) => void
  ping?: (ws: WebSocket<UserData>, message: ArrayBuffer) => void
  pong?: (ws: WebSocket<UserData>, message: ArrayBuffer) => void
  subscription?: (ws: WebSocket<UserData>, topic: ArrayBuffer, newCount: number, oldCount: number) => void
}

export interface AppOptions {
  /** I/O threads of the process-wide runtime (the first App decides; default: cores - 1,
   * 1 to 8). rsws, Linux: `0` runs this App's sockets on its own JS thread's event loop
   * instead (no thread hop per message, as uWS.js; I/O waits while a handler runs). */
  ioThreads?: number
  /** Join the process-wide topic space of this name (shared with apps in other worker threads). */
  pubsub?: string
  /** rsws: connections held at once, handshakes included; beyond it new ones get a 503
   * and are closed (default 0: no limit). */
  maxConnections?: number
  /** SSLApp: PEM file with the private key (PKCS#8, RSA, EC, or encrypted PKCS#8 with `passphrase`). */
  key_file_name?: RecognizedString
  /** SSLApp: PEM file with the certificate chain, leaf first. */
  cert_file_name?: RecognizedString
  /** SSLApp: passphrase of an encrypted key. */
  passphrase?: RecognizedString
  /** SSLApp: CA certificates (PEM) to check client certificates against; a client certificate is
   * then requested, and checked when given (clients without one are let in, as in uWS.js). */
  ca_file_name?: RecognizedString
  /** SSLApp: accepted and ignored (only ECDHE key exchange is offered). */
  dh_params_file_name?: RecognizedString
  /** SSLApp: OpenSSL-style cipher list, mapped onto the suites rustls offers. */
  ssl_ciphers?: RecognizedString
  /** SSLApp: less memory per connection (smaller TLS send buffer, no session cache). */
  ssl_prefer_low_memory_usage?: boolean
  /** rsws, SSLApp: the private key as PEM text (instead of key_file_name). */
  key?: string | Buffer | Uint8Array
  /** rsws, SSLApp: the certificate chain as PEM text (instead of cert_file_name). */
  cert?: string | Buffer | Uint8Array
  /** rsws, SSLApp: CA certificates as PEM text (instead of ca_file_name). */
  ca?: string | Buffer | Uint8Array
}

export interface ShutdownOptions {
  code?: number
  reason?: string
  timeoutMs?: number
}

export interface ShutdownResult {
  /** Sockets open (or closing) when shutdown began. */
  sockets: number
  /** Those that completed the closing handshake. */
  graceful: number
  /** Those dropped: no answer to the close frame in time, or already aborted. */
  forced: number
}

export interface PublishStats {
  /** Subscribers the message was queued for with nothing else waiting. */
  sent: number
  /** Subscribers that already had data waiting. */
  buffered: number
  /** Subscribers past maxBackpressure: dropped for them. */
  dropped: number
}

/** An HTTP route handler. A handler that returns without answering leaves the request
 * pending until it is answered or the client leaves (onAborted); it never aborts. */
export type HttpHandler = (res: HttpResponse, req: HttpRequest) => void | Promise<void>

export interface TemplatedApp {
  ws<UserData>(pattern: RecognizedString, behavior: WebSocketBehavior<UserData>): TemplatedApp
  /** HTTP routes, with the patterns and precedence of ws(): routes for the method first,
   * then `any` routes; unmatched requests get 404. A WebSocket upgrade to a ws() route
   * goes there, other requests for the same path to these. */
  get(pattern: RecognizedString, handler: HttpHandler): TemplatedApp
  post(pattern: RecognizedString, handler: HttpHandler): TemplatedApp
  put(pattern: RecognizedString, handler: HttpHandler): TemplatedApp
  /** DELETE. */
  del(pattern: RecognizedString, handler: HttpHandler): TemplatedApp
  patch(pattern: RecognizedString, handler: HttpHandler): TemplatedApp
  options(pattern: RecognizedString, handler: HttpHandler): TemplatedApp
  head(pattern: RecognizedString, handler: HttpHandler): TemplatedApp
  connect(pattern: RecognizedString, handler: HttpHandler): TemplatedApp
  trace(pattern: RecognizedString, handler: HttpHandler): TemplatedApp
  /** Every method. */
  any(pattern: RecognizedString, handler: HttpHandler): TemplatedApp
  listen(port: number, cb: (listenSocket: us_listen_socket | false) => void | Promise<void>): TemplatedApp
  listen(host: RecognizedString, port: number, cb: (listenSocket: us_listen_socket | false) => void | Promise<void>): TemplatedApp
  listen(port: number, options: ListenOptions, cb: (listenSocket: us_listen_socket | false) => void | Promise<void>): TemplatedApp
  listen(host: RecognizedString, port: number, options: ListenOptions, cb: (listenSocket: us_listen_socket | false) => void | Promise<void>): TemplatedApp
  /** Listens on a Unix domain socket (callback first, as uWS.js); the path is removed on close. */
  listen_unix(cb: (listenSocket: us_listen_socket | false) => void | Promise<void>, path: RecognizedString): TemplatedApp
  /** Stops listening and force-closes every connection (no close frame); close handlers
   * run, with code 1006, before it returns. */
  close(): TemplatedApp
  /** rsws: graceful shutdown. Stops accepting, ends every socket with `code` (default 1001)
   * and `reason`, and resolves once the closing handshakes finished or after `timeoutMs`
   * (default 10000; the rest are dropped). */
  shutdown(options?: ShutdownOptions): Promise<ShutdownResult>
  /** SSLApp: serves the certificate of `options` (key/cert options and passphrase) to clients asking
   * for `hostname` or matching a `*.example.com` pattern; again for the same name replaces it.
   * Throws if the files cannot be loaded. Does nothing on a plain App. */
  addServerName(hostname: string, options: AppOptions): TemplatedApp
  /** SSLApp: stops serving the certificate added for `hostname`. */
  removeServerName(hostname: string): TemplatedApp
  /** SSLApp: `cb` runs when a client asks for a name without a certificate; a certificate it adds
   * synchronously with `addServerName` is used for that very connection. */
  missingServerName(cb: (hostname: string) => void): TemplatedApp
  /** rsws, SSLApp: replaces the default certificate (and ciphers, CA) for new connections; open
   * connections keep theirs. Throws, changing nothing, if `options` cannot be loaded. */
  reloadCertificate(options: AppOptions): TemplatedApp
  /** Publishes to every subscriber of the topic; true if it has any. */
  publish(topic: RecognizedString, message: RecognizedString, isBinary?: boolean, compress?: boolean): boolean
  /** rsws: publish and report what happened per subscriber. */
  publishWithStats(topic: RecognizedString, message: RecognizedString, isBinary?: boolean, compress?: boolean): PublishStats
  numSubscribers(topic: RecognizedString): number
  /** rsws: every topic with at least one subscriber, with its count. */
  getTopics(): { topic: string; count: number }[]
  /** rsws: this app's sockets subscribed to the topic. */
  getSubscribers<UserData = unknown>(topic: RecognizedString): WebSocket<UserData>[]
}

/** permessage-deflate options; the values are uWS.js v20's. */
export type CompressOptions = number
export const DISABLED: CompressOptions
export const SHARED_COMPRESSOR: CompressOptions
export const SHARED_DECOMPRESSOR: CompressOptions
export const DEDICATED_COMPRESSOR_3KB: CompressOptions
export const DEDICATED_COMPRESSOR_4KB: CompressOptions
export const DEDICATED_COMPRESSOR_8KB: CompressOptions
export const DEDICATED_COMPRESSOR_16KB: CompressOptions
export const DEDICATED_COMPRESSOR_32KB: CompressOptions
export const DEDICATED_COMPRESSOR_64KB: CompressOptions
export const DEDICATED_COMPRESSOR_128KB: CompressOptions
export const DEDICATED_COMPRESSOR_256KB: CompressOptions
export const DEDICATED_COMPRESSOR: CompressOptions
export const DEDICATED_DECOMPRESSOR_512B: CompressOptions
export const DEDICATED_DECOMPRESSOR_1KB: CompressOptions
export const DEDICATED_DECOMPRESSOR_2KB: CompressOptions
export const DEDICATED_DECOMPRESSOR_4KB: CompressOptions
export const DEDICATED_DECOMPRESSOR_8KB: CompressOptions
export const DEDICATED_DECOMPRESSOR_16KB: CompressOptions
export const DEDICATED_DECOMPRESSOR_32KB: CompressOptions
export const DEDICATED_DECOMPRESSOR: CompressOptions

export type ListenOptions = 0 | 1
export const LIBUS_LISTEN_EXCLUSIVE_PORT: 1

export function App(options?: AppOptions): TemplatedApp
/** An App whose listeners speak TLS (wss://). Throws an Error naming the option, file and reason
 * when the certificate, key or CA cannot be loaded. */
export function SSLApp(options: AppOptions): TemplatedApp
export function us_listen_socket_close(listenSocket: us_listen_socket): void
export function us_socket_local_port(listenSocket: us_listen_socket): number
