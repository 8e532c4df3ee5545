// Type-checked (tsc, module nodenext) against the installed package: ESM consumers get
// the same typings as CommonJS ones.
import rsws, { App, us_listen_socket_close, us_socket_local_port } from 'rsws'
import type { TemplatedApp, WebSocket, us_listen_socket } from 'rsws'

const app: TemplatedApp = App()
const same: typeof App = rsws.App
app.ws<{ id: number }>('/*', {
  message: (ws: WebSocket<{ id: number }>, message: ArrayBuffer, isBinary: boolean) => {
    const status: number = ws.send(message, isBinary)
    void [status, ws.getUserData().id]
  },
})
app.listen(0, (token: us_listen_socket | false) => {
  if (token) us_listen_socket_close(token)
  void (token && us_socket_local_port(token))
})
// @ts-expect-error message handlers are functions
App().ws('/*', { message: 42 })
void same
