// The CommonJS view of the same typings (import = require).
import rsws = require('rsws')

const app: rsws.TemplatedApp = rsws.App()
app.ws('/*', { message: (ws: rsws.WebSocket<unknown>, message: ArrayBuffer) => void ws.send(message, true) })
// @ts-expect-error message handlers are functions
rsws.App().ws('/*', { message: 42 })
