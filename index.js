'use strict'
// rsws: a WebSocket server for Node.js written in Rust, with the uWebSockets.js API.
const app = require('./lib/app')
const { SSLApp } = require('./lib/ssl')
const { compression } = require('./lib/compression')

module.exports = {
  App: app.App,
  SSLApp,
  us_listen_socket_close: app.us_listen_socket_close,
  us_socket_local_port: app.us_socket_local_port,
  LIBUS_LISTEN_EXCLUSIVE_PORT: app.LIBUS_LISTEN_EXCLUSIVE_PORT,
  ...compression,
}
