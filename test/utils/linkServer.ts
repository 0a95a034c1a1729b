// A web server for the link checks, on loopback: its address, closed with the scope.
import { Effect } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

// /ok 200, /moved 301 to /ok, /get-only 405 to HEAD and 200 to GET, anything else 404
export const webServer = Effect.acquireRelease(
  Effect.callback<Http.Server>((resume) => {
    const server = Http.createServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://x").pathname
      if (path === "/ok") return res.writeHead(200).end("ok")
      if (path === "/moved") return res.writeHead(301, { location: "/ok" }).end()
      if (path === "/get-only") return res.writeHead(req.method === "HEAD" ? 405 : 200).end()
      res.writeHead(404).end()
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
  }),
  (server) => Effect.callback<void>((resume) => void server.close(() => resume(Effect.void)))
).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`))
