/**
 * The SMTP server on Node sockets: listens on one or more addresses (IPv4 and IPv6; `localhost`
 * means both loopbacks), runs a session per connection with the `MessageHandler` in context,
 * and shuts down gracefully when its scope closes.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"
import * as Os from "node:os"
import { MessageHandler } from "../handler/MessageHandler.js"
import type { Endpoint } from "../handler/SessionInfo.js"
import * as ServerConfig from "../server/ServerConfig.js"
import * as Sessions from "../server/Sessions.js"
import { ListenError, parseAddress, SmtpServer } from "../server/SmtpServer.js"
import * as NodeTransport from "./NodeTransport.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends ServerConfig.Options {
  /** `host:port` addresses (default `localhost:8025`); port 0 picks a free one. */
  readonly listen?: ReadonlyArray<string> | string | undefined
}

const listenOn = (
  host: string,
  port: number,
  onConnection: (socket: Net.Socket) => void
): Effect.Effect<Endpoint, ListenError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Net.Server, ListenError>((resume) => {
      // allowHalfOpen: a client may send QUIT and FIN before it reads our 221
      const server = Net.createServer({ allowHalfOpen: true }, onConnection)
      const label = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`
      server.once("error", (cause) => resume(Effect.fail(new ListenError({ address: label, message: cause.message }))))
      server.listen({ host, port, ipv6Only: host.includes(":") }, () => {
        server.removeAllListeners("error")
        server.on("error", () => {})
        resume(Effect.succeed(server))
      })
    }),
    // stop accepting; the sessions close on their own schedule (see Sessions)
    (server) => Effect.sync(() => server.close())
  ).pipe(
    Effect.map((server) => {
      const address = server.address() as Net.AddressInfo
      return { address: address.address, port: address.port }
    })
  )

/**
 * Starts the server in the current scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<SmtpServer["Type"], ServerConfig.ConfigError | ListenError, MessageHandler | Scope.Scope> =>
  Effect.gen(function* () {
    const config = yield* ServerConfig.make({ ...options, hostname: options.hostname ?? Os.hostname() })
    const handler = yield* MessageHandler
    const sessions = yield* Sessions.make(config, handler)
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const onConnection = (socket: Net.Socket) => {
      runFork(sessions.serve(NodeTransport.make(socket)))
    }
    const listen = typeof options.listen === "string" ? [options.listen] : (options.listen ?? ["localhost:8025"])
    const addresses: Array<Endpoint> = []
    for (const text of listen) {
      const parsed = parseAddress(text)
      if (parsed === undefined) return yield* new ListenError({ address: text, message: "expected host:port" })
      if (parsed.host.toLowerCase() !== "localhost") {
        addresses.push(yield* listenOn(parsed.host, parsed.port, onConnection))
        continue
      }
      // localhost: both loopbacks, on one port; IPv6 may be missing on the machine
      const v4 = yield* listenOn("127.0.0.1", parsed.port, onConnection)
      addresses.push(v4)
      const v6 = yield* listenOn("::1", v4.port, onConnection).pipe(Effect.option)
      if (v6._tag === "Some") addresses.push(v6.value)
    }
    yield* Effect.logDebug("listening", addresses)
    return SmtpServer.of({ addresses, activeSessions: sessions.active })
  })

/**
 * The server as a layer: it listens while the layer is alive.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<SmtpServer, ServerConfig.ConfigError | ListenError, MessageHandler> =>
  Layer.scoped(SmtpServer, make(options))
