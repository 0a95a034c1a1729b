/**
 * The sessions of one server: starts a session per accepted transport (or refuses it with 421
 * when full), counts them, and shuts them down gracefully when its scope closes — idle sessions
 * get 421 4.3.2 at once, a message in progress may finish within the grace period, then
 * whatever is left is interrupted. A session's fiber, when it needs one, is a root fiber of the
 * runtime the sessions were made in, with the session's log annotations.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Fiber from "effect/Fiber"
import * as References from "effect/References"
import type * as Scope from "effect/Scope"
import { formatEndpoint } from "../handler/SessionInfo.js"
import type * as MessageHandler from "../handler/MessageHandler.js"
import * as SmtpError from "../protocol/SmtpError.js"
import * as Authenticator from "../auth/Authenticator.js"
import * as Connection from "./Connection.js"
import * as Networks from "../server/Networks.js"
import * as ProxiedTransport from "./ProxiedTransport.js"
import * as Metrics from "../server/Metrics.js"
import * as Reply from "../protocol/Reply.js"
import { fromProxy, type ServerConfig } from "../server/ServerConfig.js"
import type * as Transport from "./Transport.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Sessions {
  /**
   * Starts a session on the transport, or refuses it with 421 when the server is full; `onEnd`
   * runs once it is over and the transport closed. Plain code: the platform calls it in its
   * connection callback, and a session that needs no effect never forks a fiber.
   */
  readonly accept: (transport: Transport.Transport, onEnd?: () => void) => void
  /**
   * `accept` for a transport whose PROXY header the platform has read itself (before an
   * implicit-TLS handshake): its endpoints are the client's already, and no header is read.
   */
  readonly acceptProxied: (transport: Transport.Transport, onEnd?: () => void) => void
  /** `accept`, waiting until the session is over. */
  readonly serve: (transport: Transport.Transport) => Effect.Effect<void>
  /** Sessions running now. */
  readonly active: Effect.Effect<number>
}

// a running session, linked into the list of them. This and SessionEnvironment are classes, not
// object literals: see NodeTransport's note on a connection's objects.
class Running {
  /** Set once the session has started; cleared when it leaves the list. */
  handle: Connection.Handle | undefined = undefined
  prev: Running | undefined = undefined
  constructor(public next: Running | undefined) {}
}

class SessionEnvironment implements Connection.Environment {
  constructor(
    readonly id: string,
    readonly config: ServerConfig,
    readonly handler: MessageHandler.Handler,
    readonly isShuttingDown: () => boolean,
    readonly greeting: Reply.Reply,
    readonly authenticator: Authenticator.Service | undefined,
    readonly onEnd: () => void,
    readonly fork: Connection.Environment["fork"],
    readonly clock: Clock.Clock,
    readonly context: Context.Context<never>
  ) {}
}

// The sessions running now, as a list through their entries rather than a Map or a Set. Measured
// under connection churn after a spell of many open sessions: with a Map (or a Set) about 2 MB of
// closed sessions' objects were promoted per scavenge (pauses of 15 ms and more), with this list
// 0.4 MB (2-3 ms). A hash table that connections keep filling and emptying is rebuilt again and
// again, and the copies left in the old generation seem to keep what they held alive until the
// next full GC; an entry taken out of this list points nowhere.
class RunningList {
  size = 0
  private head: Running | undefined = undefined
  add(): Running {
    const entry = new Running(this.head)
    if (this.head !== undefined) this.head.prev = entry
    this.head = entry
    this.size++
    return entry
  }
  remove(entry: Running): void {
    if (entry.prev !== undefined) entry.prev.next = entry.next
    else if (this.head === entry) this.head = entry.next
    else return // not in the list (removed already)
    if (entry.next !== undefined) entry.next.prev = entry.prev
    entry.prev = undefined
    entry.next = undefined
    entry.handle = undefined
    this.size--
  }
  entries(): Array<Running> {
    const all: Array<Running> = []
    for (let entry = this.head; entry !== undefined; entry = entry.next) all.push(entry)
    return all
  }
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
    const context = yield* Effect.context<never>()
    const runFork = Effect.runForkWith(context)
    const clock = Context.get(context, Clock.Clock)
    const annotations = Context.get(context, References.CurrentLogAnnotations)
    const running = new RunningList()
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

    const refuse = (transport: Transport.Transport, onEnd: (() => void) | undefined) =>
      void runFork(
        transport
          .write(Reply.encode(SmtpError.reply(new SmtpError.ServerBusy()), false))
          .pipe(Effect.ignore, Effect.andThen(transport.close), Effect.ensuring(Effect.sync(() => onEnd?.())))
      )

    const isFull = () => shuttingDown || (config.maxConnections > 0 && running.size >= config.maxConnections)
    const acceptProxied = (connection: Transport.Transport, onEnd?: () => void): void =>
      isFull() ? refuse(connection, onEnd) : admit(connection, onEnd)
    const accept = (connection: Transport.Transport, onEnd?: () => void): void => {
      if (isFull()) return refuse(connection, onEnd)
      // a trusted proxy's connections start with the real client's address
      if (!fromProxy(config, connection.remote.address)) return admit(connection, onEnd)
      runFork(
        Effect.matchEffect(ProxiedTransport.accept(connection, config.proxyTimeout), {
          onFailure: (error) =>
            Effect.andThen(
              Effect.logInfo(`PROXY header refused: ${error.reason}`).pipe(
                Effect.annotateLogs({ peer: formatEndpoint(connection.remote) })
              ),
              connection.close
            ).pipe(Effect.ensuring(Effect.sync(() => onEnd?.()))),
          onSuccess: (transport) => Effect.sync(() => admit(transport, onEnd))
        })
      )
    }

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
    const admit = (transport: Transport.Transport, onEnd: (() => void) | undefined): void => {
      const { key: client, limited } = clientOf(transport.remote.address)
      const count = perClient.get(client) ?? 0
      if (limited && count >= config.maxConnectionsPerClient) return refuse(transport, onEnd)
      perClient.set(client, count + 1)
      const key = next++
      const id = `${prefix}-${key}`
      const entry = running.add()
      Metrics.connectionsTotal.updateUnsafe(1, context)
      Metrics.connectionsActive.modifyUnsafe(1, context)
      const release = () => {
        running.remove(entry)
        Metrics.connectionsActive.modifyUnsafe(-1, context)
        const left = (perClient.get(client) ?? 1) - 1
        if (left === 0) perClient.delete(client)
        else perClient.set(client, left)
        onEnd?.()
      }
      // plain code in the platform's callback: a defect must end this session, not the process
      try {
        entry.handle = start(transport, id, release)
      } catch (defect) {
        runFork(
          Effect.logError("session failed to start", defect).pipe(
            Effect.andThen(transport.close),
            Effect.ensuring(Effect.sync(release))
          )
        )
      }
    }

    // the log annotations are the fiber's own from its start (Effect.annotateLogs would hold
    // a frame for as long as the session is open); made only when the session forks its fiber
    const forkAnnotated = (session: Effect.Effect<void>, id: string, peer: string) =>
      Effect.runForkWith(Context.add(context, References.CurrentLogAnnotations, { ...annotations, session: id, peer }))(
        session
      )

    const start = (transport: Transport.Transport, id: string, release: () => void) =>
      Connection.start(
        transport,
        new SessionEnvironment(
          id,
          sessionConfig,
          handler,
          isShuttingDown,
          greeting,
          authenticator,
          release,
          (session) => forkAnnotated(session, id, formatEndpoint(transport.remote)),
          clock,
          context
        )
      )

    const serve = (transport: Transport.Transport): Effect.Effect<void> =>
      Effect.callback<void>((resume) => accept(transport, () => resume(Effect.void)))

    // each session's fiber (a parked one is woken for it); none for one that ended while parked
    const fibers = (entries: ReadonlyArray<Running>) =>
      entries.flatMap((entry) => {
        const fiber = entry.handle?.fiber()
        return fiber === undefined ? [] : [fiber]
      })

    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        shuttingDown = true
        const idle = fibers(running.entries().filter((entry) => entry.handle?.isIdle() === true))
        yield* Effect.forEach(idle, Fiber.interrupt, { discard: true, concurrency: "unbounded" })
        const busy = fibers(running.entries())
        if (busy.length === 0) return
        yield* Effect.logInfo(`waiting for ${busy.length} session(s) to finish`)
        yield* Fiber.joinAll(busy).pipe(Effect.interruptible, Effect.timeout(config.shutdownGrace), Effect.ignore)
        yield* Effect.forEach(fibers(running.entries()), Fiber.interrupt, {
          discard: true,
          concurrency: "unbounded"
        })
      })
    )

    return { accept, acceptProxied, serve, active: Effect.sync(() => running.size) }
  })
