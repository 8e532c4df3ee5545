'use strict'
// The echo route's open and close handlers for a benchmark mode, the same for every
// server: echo-open has an empty open handler, as most applications have one;
// echo-track keeps each socket, stamped with its opening time, in a Set until it
// closes, as a chat server does; plain echo has none.
function openHandlers(mode) {
  if (mode === 'echo-open') return { open: () => {} }
  if (mode !== 'echo-track') return {}
  const sockets = new Set()
  return {
    open: (ws) => {
      ws.since = Date.now()
      sockets.add(ws)
    },
    close: (ws) => {
      sockets.delete(ws)
    },
  }
}

module.exports = { openHandlers }
