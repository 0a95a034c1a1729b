/**
 * The sessions of one server: starts a session per accepted transport (or refuses it with 421
 * when full), counts them, and shuts them down gracefully when its scope closes — idle sessions
 * get 421 4.3.2 at once, a message in progress may finish within the grace period, then
 * whatever is left is interrupted. A session's fiber, when it needs one, is a root fiber of the
 * runtime the sessions were made in, with the session's log annotations. A session's states
 * (parked, inline, forked, ended) and who holds what: docs/sessions.md.
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
import { type Endpoint, formatEndpoint } from "../handler/SessionInfo.js"
import type * as MessageHandler from "../handler/MessageHandler.js"
import * as SmtpError from "../protocol/SmtpError.js"
import * as Authenticator from "../auth/Authenticator.js"
import * as Connection from "./Connection.js"
import * as Networks from "../server/Networks.js"
import * as ProxiedTransport from "./ProxiedTransport.js"
import * as Metrics from "../server/Metrics.js"
import * as Protocol from "../protocol/Protocol.js"
import * as Reply from "../protocol/Reply.js"
import { fromProxy, type ServerConfig } from "../server/ServerConfig.js"
import type * as Transport from "./Transport.js"
import * as Spans from "./Spans.js"

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

// A running session, linked into the list of them, with what its end must release. This and
// SessionEnvironment are classes, not object literals (pretenuring: docs/performance/gc.md).
class Running {
  /** Set once the session has started; cleared when it leaves the list. */
  handle: Connection.Handle | undefined = undefined
  prev: Running | undefined = undefined
  constructor(
    public next: Running | undefined,
    /** The client's key for the per-client limit. */
    readonly client: string,
    readonly onEnd: (() => void) | undefined
  ) {}
}

// The sessions running now, as a list through their entries rather than a Map or a Set, which
// kept closed sessions alive across scavenges (docs/performance/gc.md): an entry taken out of
// this list points nowhere.
class RunningList {
  size = 0
  private head: Running | undefined = undefined
  add(client: string, onEnd: (() => void) | undefined): Running {
    const entry = new Running(this.head, client, onEnd)
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

// what an address means for the limits, remembered: a busy client connects again and again
class Client {
  constructor(
    readonly key: string,
    readonly limited: boolean
  ) {}
}

// What one session needs from its server (`Connection.Environment`).
class SessionEnvironment implements Connection.Environment {
  readonly config: ServerConfig
  readonly handler: MessageHandler.Handler
  readonly greeting: Reply.Reply
  readonly authenticator: Authenticator.Service | undefined
  readonly clock: Clock.Clock
  readonly context: Context.Context<never>
  readonly spans: Spans.SessionSpans | undefined
  private fibers: ((effect: Effect.Effect<void>) => Fiber.Fiber<void>) | undefined = undefined

  constructor(
    private readonly server: Server,
    readonly id: string,
    private readonly peer: Endpoint,
    private readonly entry: Running,
    local: Endpoint
  ) {
    this.config = server.config
    this.handler = server.handler
    this.greeting = server.greeting
    this.authenticator = server.authenticator
    this.clock = server.clock
    this.context = server.context
    this.spans = Spans.make(server.config.tracing, server.context, id, peer, local)
  }

  isShuttingDown(): boolean {
    return this.server.shuttingDown
  }

  fork(session: Effect.Effect<void>): Fiber.Fiber<void> {
    return this.annotated(session)
  }

  forkHook(hook: Effect.Effect<void>): Fiber.Fiber<void> {
    return this.annotated(hook)
  }

  // a fiber with the session's log annotations: their context made once, when first needed
  private annotated(effect: Effect.Effect<void>): Fiber.Fiber<void> {
    this.fibers ??= this.server.forkWith(this.id, formatEndpoint(this.peer))
    return this.fibers(effect)
  }

  onEnd(): void {
    this.server.release(this.entry)
  }
}

// The sessions of one server, and what they all share. Its bookkeeping is plain code around
// each session: it runs for every connection.
class Server implements Sessions {
  shuttingDown = false
  readonly greeting: Reply.Reply
  readonly clock: Clock.Clock
  private readonly annotations: Record<string, unknown>
  private readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>
  private readonly running = new RunningList()
  /** Connections per client (an IPv4 address, an IPv6 /64). */
  private readonly perClient = new Map<string, number>()
  private readonly clients = new Map<string, Client>()
  private next = 0
  private readonly prefix = Math.random().toString(36).slice(2, 8)

  constructor(
    readonly config: ServerConfig,
    readonly handler: MessageHandler.Handler,
    readonly authenticator: Authenticator.Service | undefined,
    readonly context: Context.Context<never>
  ) {
    this.greeting = Protocol.greeting(config.protocol)
    this.clock = Context.get(context, Clock.Clock)
    this.annotations = Context.get(context, References.CurrentLogAnnotations)
    this.runFork = Effect.runForkWith(context)
  }

  readonly accept = (connection: Transport.Transport, onEnd?: () => void): void => {
    if (this.isFull()) return this.refuse(connection, onEnd)
    // a trusted proxy's connections start with the real client's address
    if (!fromProxy(this.config, connection.remote.address)) return this.admit(connection, onEnd)
    this.runFork(
      Effect.matchEffect(ProxiedTransport.accept(connection, this.config.proxyTimeout), {
        onFailure: (error) =>
          Effect.andThen(
            Effect.logInfo(`PROXY header refused: ${error.reason}`).pipe(
              Effect.annotateLogs({ peer: formatEndpoint(connection.remote) })
            ),
            connection.close
          ).pipe(Effect.ensuring(Effect.sync(() => onEnd?.()))),
        onSuccess: (transport) => Effect.sync(() => this.admit(transport, onEnd))
      })
    )
  }

  readonly acceptProxied = (connection: Transport.Transport, onEnd?: () => void): void =>
    this.isFull() ? this.refuse(connection, onEnd) : this.admit(connection, onEnd)

  readonly serve = (transport: Transport.Transport): Effect.Effect<void> =>
    Effect.callback<void>((resume) => this.accept(transport, () => resume(Effect.void)))

  readonly active: Effect.Effect<number> = Effect.sync(() => this.running.size)

  // the log annotations are the fiber's own from its start (Effect.annotateLogs would hold
  // a frame for as long as the session is open); made only when the session forks a fiber
  forkWith(id: string, peer: string): (effect: Effect.Effect<void>) => Fiber.Fiber<void> {
    const annotations = { ...this.annotations, session: id, peer }
    return Effect.runForkWith(Context.add(this.context, References.CurrentLogAnnotations, annotations))
  }

  /** The session has ended and its transport is closed. */
  release(entry: Running): void {
    this.running.remove(entry)
    Metrics.connectionsActive.modifyUnsafe(-1, this.context)
    const left = (this.perClient.get(entry.client) ?? 1) - 1
    if (left === 0) this.perClient.delete(entry.client)
    else this.perClient.set(entry.client, left)
    entry.onEnd?.()
  }

  /** Shutdown: idle sessions go at once, busy ones get the grace period, then are interrupted. */
  shutdown(): Effect.Effect<void> {
    const running = this.running
    this.shuttingDown = true
    const grace = this.config.shutdownGrace
    return Effect.gen(function* () {
      const idle = fibers(running.entries().filter((entry) => entry.handle?.isIdle() === true))
      yield* Effect.forEach(idle, Fiber.interrupt, { discard: true, concurrency: "unbounded" })
      const busy = fibers(running.entries())
      if (busy.length === 0) return
      yield* Effect.logInfo(`waiting for ${busy.length} session(s) to finish`)
      yield* Fiber.joinAll(busy).pipe(Effect.interruptible, Effect.timeout(grace), Effect.ignore)
      yield* Effect.forEach(fibers(running.entries()), Fiber.interrupt, { discard: true, concurrency: "unbounded" })
    })
  }

  private isFull(): boolean {
    const max = this.config.maxConnections
    return this.shuttingDown || (max > 0 && this.running.size >= max)
  }

  private refuse(transport: Transport.Transport, onEnd: (() => void) | undefined): void {
    this.runFork(
      transport
        .write(Reply.encode(SmtpError.reply(new SmtpError.ServerBusy()), false))
        .pipe(Effect.ignore, Effect.andThen(transport.close), Effect.ensuring(Effect.sync(() => onEnd?.())))
    )
  }

  private admit(transport: Transport.Transport, onEnd: (() => void) | undefined): void {
    const { key: client, limited } = this.clientOf(transport.remote.address)
    const count = this.perClient.get(client) ?? 0
    if (limited && count >= this.config.maxConnectionsPerClient) return this.refuse(transport, onEnd)
    this.perClient.set(client, count + 1)
    const id = `${this.prefix}-${this.next++}`
    const entry = this.running.add(client, onEnd)
    Metrics.connectionsTotal.updateUnsafe(1, this.context)
    Metrics.connectionsActive.modifyUnsafe(1, this.context)
    // plain code in the platform's callback: a defect must end this session, not the process
    try {
      entry.handle = Connection.start(
        transport,
        new SessionEnvironment(this, id, transport.remote, entry, transport.local)
      )
    } catch (defect) {
      this.runFork(
        Effect.logError("session failed to start", defect).pipe(
          Effect.andThen(transport.close),
          Effect.ensuring(Effect.sync(() => this.release(entry)))
        )
      )
    }
  }

  private clientOf(address: string): Client {
    let client = this.clients.get(address)
    if (client === undefined) {
      if (this.clients.size >= 10_000) this.clients.clear()
      const limited =
        this.config.maxConnectionsPerClient > 0 && !Networks.contains(this.config.trustedNetworks, address)
      client = new Client(Networks.clientKey(address), limited)
      this.clients.set(address, client)
    }
    return client
  }
}

// each session's fiber (a parked one is woken for it); none for one that ended while parked
const fibers = (entries: ReadonlyArray<Running>) =>
  entries.flatMap((entry) => {
    const fiber = entry.handle?.fiber()
    return fiber === undefined ? [] : [fiber]
  })

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
    // with an Authenticator the server offers AUTH, with the mechanisms it can check
    const authenticator = Option.getOrUndefined(yield* Effect.serviceOption(Authenticator.Authenticator))
    const sessionConfig: ServerConfig =
      authenticator === undefined
        ? config
        : { ...config, protocol: { ...config.protocol, authMechanisms: authenticator.mechanisms } }
    const server = new Server(sessionConfig, handler, authenticator, context)
    yield* Effect.addFinalizer(() => Effect.suspend(() => server.shutdown()))
    return server
  })
