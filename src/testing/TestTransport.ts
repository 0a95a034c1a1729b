/**
 * An in-memory `Transport` and the client end that drives it: the whole protocol runs without
 * sockets, under `TestClock` if you like (idle timeouts then take no real time).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Latch from "effect/Latch"
import * as Queue from "effect/Queue"
import * as Duration from "effect/Duration"
import * as Reply from "../protocol/Reply.js"
import type { Endpoint } from "../handler/SessionInfo.js"
import { ParkedSession } from "../internal/ParkedSession.js"
import * as Transport from "../internal/Transport.js"

/**
 * The client's side of an in-memory connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface TestClient {
  /** Sends bytes exactly as given (write `\r\n` yourself). */
  readonly send: (data: string | Uint8Array) => Effect.Effect<void>
  /** Closes the client's side (the server reads end of input). */
  readonly end: Effect.Effect<void>
  /** The next complete reply from the server; waits for it, and dies if the server closes first. */
  readonly reply: Effect.Effect<Reply.Reply>
  /** The next `n` replies. */
  readonly replies: (n: number) => Effect.Effect<ReadonlyArray<Reply.Reply>>
  /** Has the server closed the connection? */
  readonly isClosed: Effect.Effect<boolean>
  /** Waits until the server has closed the connection. */
  readonly awaitClose: Effect.Effect<void>
  /** Everything the server has written so far. */
  readonly output: Effect.Effect<string>
  /** How many separate writes the server made (replies are batched per read). */
  readonly writes: Effect.Effect<number>
  /**
   * The server's next write as it was made, not cut into replies; `undefined` once the server
   * has closed. For a client of your own over the connection (`TestDialer`); do not mix with
   * `reply`.
   */
  readonly read: Effect.Effect<Uint8Array | undefined>
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
// what the outbound queue holds once the server has closed (no reply is ever empty)
const closedMark = ""
const simulatedTls: Transport.TlsInfo = { protocol: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384 (simulated)" }

/**
 * The client of an in-memory connection unless told otherwise: on the loopback address, so that
 * the server treats it as a local client (a relay's `relayNetworks`, the per-client limits'
 * trusted networks). Give `remote` for a client from elsewhere (`192.0.2.1`, say, TEST-NET-1).
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultRemote: Endpoint = { address: "127.0.0.1", port: 40000 }

/**
 * The server's end of an in-memory connection unless told otherwise.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultLocal: Endpoint = { address: "127.0.0.1", port: 25 }

/**
 * What the transport of `make` is like.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The client's address: `defaultRemote` (a local client, 127.0.0.1:40000) unless given. */
  readonly remote?: Endpoint
  /** The server's address: `defaultLocal` (127.0.0.1:25) unless given. */
  readonly local?: Endpoint
  /** Offer STARTTLS: the handshake is simulated (the session becomes secure, bytes stay plain). */
  readonly startTls?: boolean
  /** Encrypted from the start (implicit TLS). */
  readonly secure?: boolean
}

/**
 * A connected pair: the server's transport and the client that drives it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<{ readonly transport: Transport.Transport; readonly client: TestClient }> =>
  Effect.gen(function* () {
    const wire = new Wire(
      yield* Queue.unbounded<Uint8Array | undefined>(),
      yield* Queue.unbounded<string>(),
      yield* Latch.make(false),
      Effect.runForkWith(yield* Effect.context<never>())
    )
    return { transport: wire.transport(options), client: wire.client() }
  })

// The connection in between: the client's chunks on their way in (handed to a parked session's
// inline handling as they come, as over a socket: docs/sessions.md), the server's replies on
// their way out. A timer fiber on the test's clock stands for the socket's idle timer.
class Wire {
  private output = ""
  private writes = 0
  private isClosed = false
  private eof = false
  private unread = ""
  private timer: Fiber.Fiber<void> | undefined = undefined
  private readonly parked = new ParkedSession(() => this.disarm())

  constructor(
    private readonly inbound: Queue.Queue<Uint8Array | undefined>,
    private readonly outbound: Queue.Queue<string>,
    private readonly closed: Latch.Latch,
    private readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>
  ) {}

  transport(options: Options): Transport.Transport {
    const plain: Transport.Transport = {
      read: (idleTimeout) => this.take(idleTimeout),
      readInline: (idleTimeout, inline) => this.readInline(idleTimeout, inline),
      write: (data) => Effect.sync(() => this.record(data)),
      writeNow: (data) => {
        this.record(data)
        return true
      },
      close: this.close,
      park: this.park,
      remote: options.remote ?? defaultRemote,
      local: options.local ?? defaultLocal,
      secure: options.secure === true,
      tls: options.secure === true ? simulatedTls : undefined,
      hasInput: () => Queue.sizeUnsafe(this.inbound) > 0
    }
    return options.startTls === true && options.secure !== true
      ? { ...plain, acceptTls: () => Effect.succeed({ ...plain, secure: true, tls: simulatedTls }) }
      : plain
  }

  client(): TestClient {
    return {
      send: (data) => Effect.sync(() => this.deliver(typeof data === "string" ? encoder.encode(data) : data)),
      end: Effect.sync(() => this.deliver(undefined)),
      reply: this.reply,
      replies: (n) => Effect.replicateEffect(this.reply, n),
      isClosed: Effect.sync(() => this.isClosed),
      awaitClose: this.closed.await,
      output: Effect.sync(() => this.output),
      writes: Effect.sync(() => this.writes),
      read: this.read
    }
  }

  private readonly read: Effect.Effect<Uint8Array | undefined> = Effect.suspend(() => {
    if (this.unread !== "") {
      const text = this.unread
      this.unread = ""
      return Effect.succeed(encoder.encode(text))
    }
    return Effect.map(Queue.take(this.outbound), (text) => {
      if (text !== closedMark) return encoder.encode(text)
      // every later read sees the close too
      Queue.offerUnsafe(this.outbound, closedMark)
      return undefined
    })
  })

  private readonly park: Transport.Parking = {
    start: (session, idleMs) => {
      if (this.eof || this.isClosed || Queue.sizeUnsafe(this.inbound) > 0) return false
      this.parked.start(session, session)
      this.arm(idleMs)
      return true
    },
    stop: () => this.parked.stop(),
    end: (done) => {
      this.parked.stop()
      Effect.runFork(this.close).addObserver(done)
    }
  }

  private readonly close: Effect.Effect<void> = Effect.suspend(() => {
    this.isClosed = true
    // wakes a client waiting for a reply that will never come
    return Effect.andThen(Queue.offer(this.outbound, closedMark), this.closed.open)
  })

  // a reply is complete at the line whose code is followed by a space
  private readonly reply: Effect.Effect<Reply.Reply> = Effect.suspend(() => this.nextReply())

  private nextReply(): Effect.Effect<Reply.Reply> {
    const match = /^(?:\d{3}-[^\r\n]*\r\n)*\d{3}(?: [^\r\n]*)?\r\n/.exec(this.unread)
    if (match !== null) {
      this.unread = this.unread.slice(match[0].length)
      return Effect.succeed(Reply.decode(match[0]))
    }
    return Effect.flatMap(Queue.take(this.outbound), (text) => {
      if (text === closedMark) {
        return Effect.die(new Error(`the server closed the connection; unread: ${JSON.stringify(this.unread)}`))
      }
      this.unread += text
      return this.nextReply()
    })
  }

  private deliver(chunk: Uint8Array | undefined): void {
    if (!this.parked.isParked() || chunk === undefined) {
      Queue.offerUnsafe(this.inbound, chunk)
      return this.parked.wake()
    }
    if (this.parked.hand(chunk)) this.arm(this.parked.waitMs())
  }

  private take(idleTimeout: Duration.Input): Effect.Effect<Uint8Array | undefined, Transport.ReadTimeout> {
    return Effect.suspend(
      () => this.parked.firstRead() ?? (this.eof ? Effect.succeed(undefined) : Queue.take(this.inbound))
    ).pipe(
      Effect.tap((chunk) => Effect.sync(() => (this.eof = chunk === undefined))),
      // Effect's clock here, so that tests can move time with TestClock
      Effect.timeoutOrElse({ duration: idleTimeout, orElse: () => Effect.fail(new Transport.ReadTimeout()) })
    )
  }

  // as over a socket: each chunk goes to the session's inline handling, until it has work for its fiber
  private readInline(
    idleTimeout: Duration.Input,
    inline: Transport.Inline
  ): Effect.Effect<Uint8Array | Transport.TakenInline | undefined, Transport.ReadTimeout> {
    return Effect.flatMap(this.take(idleTimeout), (chunk) => {
      if (chunk === undefined) return Effect.succeed(undefined)
      if (inline.take(chunk) === "NeedsFiber") return Effect.succeed(Transport.takenInline)
      return this.readInline(Duration.millis(inline.waitMs()), inline)
    })
  }

  private record(data: string | Uint8Array): void {
    const text = typeof data === "string" ? data : decoder.decode(data)
    this.output += text
    this.writes++
    Queue.offerUnsafe(this.outbound, text)
  }

  private arm(ms: number): void {
    this.disarm()
    this.timer = this.runFork(
      Effect.sleep(Duration.millis(ms)).pipe(
        Effect.andThen(
          Effect.sync(() => {
            this.timer = undefined
            this.parked.timeout()
          })
        )
      )
    )
  }

  private disarm(): void {
    if (this.timer !== undefined) Effect.runFork(Fiber.interrupt(this.timer))
    this.timer = undefined
  }
}
