/**
 * The sessions of one server: runs a session per accepted transport, in the fiber the platform
 * forked for it (or refuses it with 421 when full), counts them, and shuts them down gracefully when its scope closes — idle
 * sessions get 421 4.3.2 at once, a message in progress may finish within the grace period,
 * then whatever is left is interrupted.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as HashMap from "effect/HashMap"
import type * as Scope from "effect/Scope"
import { formatEndpoint } from "../handler/SessionInfo.js"
import type * as MessageHandler from "../handler/MessageHandler.js"
import * as SmtpError from "./SmtpError.js"
import * as Authenticator from "../auth/Authenticator.js"
import * as Connection from "./Connection.js"
import * as Networks from "./Networks.js"
import * as ProxiedTransport from "./ProxiedTransport.js"
import * as Metrics from "./Metrics.js"
import * as Reply from "../protocol/Reply.js"
import type { ServerConfig } from "./ServerConfig.js"
import type * as Transport from "./Transport.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Sessions {
  /**
   * Runs a session on the transport until it ends, in the calling fiber (one fiber per
   * connection: the platform forks it), or refuses it with 421 when the server is full.
   */
  readonly serve: (transport: Transport.Transport) => Effect.Effect<void>
  /** Sessions running now. */
  readonly active: Effect.Effect<number>
}

interface Running {
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
  isIdle: () => boolean
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  config: ServerConfig,
  handler: MessageHandler.Handler
): Effect.Effect<Sessions, never, Scope.Scope> =>
  Effect.gen(function* () {
    const running = new Map<number, Running>()
    // connections per client (an IPv4 address, an IPv6 /64)
    const perClient = new Map<string, number>()
    let shuttingDown = false
    let next = 0
    const prefix = Math.random().toString(36).slice(2, 8)
    const greeting = Reply.greeting(config.protocol.hostname)
    // with an Authenticator the server offers AUTH, with the mechanisms it can check
    const authenticator = Option.getOrUndefined(yield* Effect.serviceOption(Authenticator.Authenticator))
    const sessionConfig: ServerConfig =
      authenticator === undefined
        ? config
        : { ...config, protocol: { ...config.protocol, authMechanisms: authenticator.mechanisms } }

    const refuse = (transport: Transport.Transport) =>
      transport
        .write(Reply.encode(SmtpError.reply(new SmtpError.ServerBusy()), false))
        .pipe(Effect.ignore, Effect.zipRight(transport.close))

    const serve = (connection: Transport.Transport): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (shuttingDown || (config.maxConnections > 0 && running.size >= config.maxConnections)) {
          return refuse(connection)
        }
        // a trusted proxy's connections start with the real client's address
        const proxied =
          config.proxyProtocolFrom.length > 0 && Networks.contains(config.proxyProtocolFrom, connection.remote.address)
        if (!proxied) return admit(connection)
        return Effect.matchEffect(ProxiedTransport.accept(connection, config.proxyTimeout), {
          onFailure: (error) =>
            Effect.zipRight(
              Effect.logInfo(`PROXY header refused: ${error.reason}`).pipe(
                Effect.annotateLogs({ peer: formatEndpoint(connection.remote) })
              ),
              connection.close
            ),
          onSuccess: admit
        })
      })

    // what an address means for the limits, remembered: a busy client connects again and again
    const clients = new Map<string, { readonly key: string; readonly limited: boolean }>()
    const clientOf = (address: string) => {
      let client = clients.get(address)
      if (client === undefined) {
        if (clients.size >= 10_000) clients.clear()
        client = {
          key: Networks.clientKey(address),
          limited: config.maxConnectionsPerClient > 0 && !Networks.contains(config.trustedNetworks, address)
        }
        clients.set(address, client)
      }
      return client
    }

    const isShuttingDown = () => shuttingDown

    // the bookkeeping of a session is plain code around it: it runs for every connection
    const admit = (transport: Transport.Transport): Effect.Effect<void> =>
      Effect.withFiberRuntime<void>((fiber) => {
        const { key: client, limited } = clientOf(transport.remote.address)
        const count = perClient.get(client) ?? 0
        if (limited && count >= config.maxConnectionsPerClient) return refuse(transport)
        perClient.set(client, count + 1)
        const key = next++
        const id = `${prefix}-${key}`
        const entry: Running = { fiber, isIdle: () => false }
        running.set(key, entry)
        Metrics.connectionsTotal.unsafeUpdate(1, [])
        Metrics.connectionsActive.unsafeModify(1, [])
        // the session's log annotations, set on its own fiber (the platform forks one per
        // connection) and put back at the end: Effect.annotateLogs would hold a frame and a copy
        // of the fiber's refs for as long as the session is open
        const annotations = fiber.getFiberRef(FiberRef.currentLogAnnotations)
        const annotated = HashMap.set(HashMap.set(annotations, "session", id), "peer", formatEndpoint(transport.remote))
        const release = Effect.zipRight(
          Effect.sync(() => {
            running.delete(key)
            Metrics.connectionsActive.unsafeModify(-1, [])
            const left = (perClient.get(client) ?? 1) - 1
            if (left === 0) perClient.delete(client)
            else perClient.set(client, left)
          }),
          FiberRef.set(FiberRef.currentLogAnnotations, annotations)
        )
        const session = Connection.run(transport, {
          id,
          config: sessionConfig,
          handler,
          greeting,
          authenticator,
          isShuttingDown,
          onIdleProbe: (probe) => (entry.isIdle = probe),
          onEnd: release
        })
        return Effect.zipRight(FiberRef.set(FiberRef.currentLogAnnotations, annotated), session)
      })

    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        shuttingDown = true
        const idle = [...running.values()].filter((entry) => entry.isIdle())
        yield* Effect.forEach(idle, (entry) => Fiber.interrupt(entry.fiber), {
          discard: true,
          concurrency: "unbounded"
        })
        const busy = [...running.values()].map((entry) => entry.fiber)
        if (busy.length === 0) return
        yield* Effect.logInfo(`waiting for ${busy.length} session(s) to finish`)
        yield* Fiber.joinAll(busy).pipe(Effect.interruptible, Effect.timeout(config.shutdownGrace), Effect.ignore)
        yield* Effect.forEach([...running.values()], (entry) => Fiber.interrupt(entry.fiber), {
          discard: true,
          concurrency: "unbounded"
        })
      })
    )

    return { serve, active: Effect.sync(() => running.size) }
  })
