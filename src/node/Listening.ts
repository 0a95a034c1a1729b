/**
 * A Node server bound to an address for as long as a scope is open: what the SMTP listeners
 * and the metrics endpoint share.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Net from "node:net"
import type { Endpoint } from "../handler/SessionInfo.js"
import { ListenError } from "../server/SmtpServer.js"

/**
 * Binds `server` to `host`:`port` (an IPv6 address only to IPv6) and gives the address it got.
 * Closing the scope stops it accepting; connections already open go on.
 *
 * @since 0.1.0
 * @category constructors
 */
export const listen = (
  server: Net.Server,
  host: string,
  port: number
): Effect.Effect<Endpoint, ListenError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<Net.Server, ListenError>((resume) => {
      const label = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`
      server.once("error", (cause) => resume(Effect.fail(new ListenError({ address: label, message: cause.message }))))
      server.listen({ host, port, ipv6Only: host.includes(":") }, () => {
        server.removeAllListeners("error")
        server.on("error", () => {})
        resume(Effect.succeed(server))
      })
    }),
    (server) => Effect.sync(() => server.close())
  ).pipe(
    Effect.map((server) => {
      const address = server.address() as Net.AddressInfo
      return { address: address.address, port: address.port }
    })
  )
