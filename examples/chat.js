'use strict'
// Chat rooms over pub/sub topics, with presence counts.
// Run: node examples/chat.js   then connect any WebSocket client to ws://localhost:9001/chat
// (for example `npx wscat -c ws://localhost:9001/chat`, or two browser tabs) and send JSON:
//   {"type":"join","room":"lobby","name":"ada"}
//   {"type":"message","room":"lobby","text":"hello"}
//   {"type":"leave","room":"lobby"}
// Everyone in a room receives {"type":"message",...}, and {"type":"presence","room","count"}
// whenever someone joins or leaves (closing the connection leaves every room).
const { App } = require('..')

const port = Number(process.env.PORT) || 9001
const topic = (room) => `room:${room}`
const app = App()

function presence(room) {
  app.publish(topic(room), JSON.stringify({ type: 'presence', room, count: app.numSubscribers(topic(room)) }))
}

app.ws('/chat', {
  idleTimeout: 60,
  open: (ws) => ws.send(JSON.stringify({ type: 'hello', rooms: app.getTopics().map((t) => t.topic.slice(5)) })),
  message: (ws, data) => {
    let msg
    try {
      msg = JSON.parse(Buffer.from(data).toString())
    } catch {
      return void ws.send(JSON.stringify({ type: 'error', error: 'send JSON' }))
    }
    const user = ws.getUserData()
    const room = typeof msg.room === 'string' && msg.room.length <= 64 ? msg.room : null
    if (!room) return void ws.send(JSON.stringify({ type: 'error', error: 'room missing or too long' }))
    if (msg.type === 'join') {
      user.name = String(msg.name || 'anonymous').slice(0, 32)
      ws.subscribe(topic(room))
    } else if (msg.type === 'leave') {
      ws.unsubscribe(topic(room))
      ws.send(JSON.stringify({ type: 'left', room }))
    } else if (msg.type === 'message' && ws.isSubscribed(topic(room))) {
      const text = String(msg.text || '').slice(0, 4096)
      ws.publish(topic(room), JSON.stringify({ type: 'message', room, from: user.name, text }), false)
      ws.send(JSON.stringify({ type: 'sent', room }))
    }
  },
  // Joins and leaves, including the implicit leave when a socket closes.
  subscription: (ws, t) => presence(Buffer.from(t).toString().slice(5)),
}).listen(port, (token) => {
  if (token) console.log(`rsws chat listening on ws://localhost:${port}/chat`)
  else process.exitCode = 1
})
