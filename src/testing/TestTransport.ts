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
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
// what the outbound queue holds once the server has closed (no reply is ever empty)
const closedMark = ""
const simulatedTls: Transport.TlsInfo = { protocol: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384 (simulated)" }

/**
 * A connected pair: the server's transport and the client that drives it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: {
    readonly remote?: Endpoint
    readonly local?: Endpoint
    /** Offer STARTTLS: the handshake is simulated (the session becomes secure, bytes stay plain). */
    readonly startTls?: boolean
    /** Encrypted from the start (implicit TLS). */
    readonly secure?: boolean
  } = {}
): Effect.Effect<{ readonly transport: Transport.Transport; readonly client: TestClient }> =>
  Effect.gen(function* () {
    const inbound = yield* Queue.unbounded<Uint8Array | undefined>()
    const outbound = yield* Queue.unbounded<string>()
    let output = ""
    let writes = 0
    const closed = yield* Latch.make(false)
    let isClosed = false
    let eof = false
    let unread = ""

    // a parked session (Transport.Parking): chunks go to its inline handling as the client sends
    // them, and a timer fiber on the test's clock stands for the socket's idle timer
    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    let timer: Fiber.Fiber<void> | undefined
    const disarm = () => {
      if (timer !== undefined) Effect.runFork(Fiber.interrupt(timer))
      timer = undefined
    }
    const parked = new ParkedSession(disarm)
    const arm = (ms: number) => {
      disarm()
      timer = runFork(
        Effect.sleep(Duration.millis(ms)).pipe(
          Effect.andThen(
            Effect.sync(() => {
              timer = undefined
              parked.timeout()
            })
          )
        )
      )
    }
    const deliver = (chunk: Uint8Array | undefined) => {
      if (!parked.isParked() || chunk === undefined) {
        Queue.offerUnsafe(inbound, chunk)
        return parked.wake()
      }
      const next = parked.hand(chunk)
      if (next !== undefined) arm(next)
    }
    const park: Transport.Parking = {
      start: (inline, idleMs, wake) => {
        if (eof || isClosed || Queue.sizeUnsafe(inbound) > 0) return false
        parked.start(inline, wake)
        arm(idleMs)
        return true
      },
      stop: () => parked.stop(),
      end: (done) => {
        parked.stop()
        Effect.runFork(close).addObserver(done)
      }
    }

    const take = (idleTimeout: Duration.Input) =>
      Effect.suspend(() => {
        return parked.firstRead() ?? (eof ? Effect.succeed(undefined) : Queue.take(inbound))
      }).pipe(
        Effect.tap((chunk) => Effect.sync(() => (eof = chunk === undefined))),
        // Effect's clock here, so that tests can move time with TestClock
        Effect.timeoutOrElse({ duration: idleTimeout, orElse: () => Effect.fail(new Transport.ReadTimeout()) })
      )
    // as over a socket: each chunk goes to the session's inline handling, until it has work for its fiber
    const readInline = (
      idleTimeout: Duration.Input,
      inline: Transport.Inline
    ): Effect.Effect<Uint8Array | undefined, Transport.ReadTimeout> =>
      Effect.flatMap(take(idleTimeout), (chunk) => {
        if (chunk === undefined) return Effect.succeed(undefined)
        const next = inline(chunk)
        return next === undefined ? Effect.succeed(Transport.takenInline) : readInline(Duration.millis(next), inline)
      })
    const record = (data: string | Uint8Array) => {
      const text = typeof data === "string" ? data : decoder.decode(data)
      output += text
      writes++
      Queue.offerUnsafe(outbound, text)
    }

    const close = Effect.suspend(() => {
      isClosed = true
      // wakes a client waiting for a reply that will never come
      return Effect.andThen(Queue.offer(outbound, closedMark), closed.open)
    })
    const plain: Transport.Transport = {
      read: (idleTimeout, inline) => (inline === undefined ? take(idleTimeout) : readInline(idleTimeout, inline)),
      write: (data) => Effect.sync(() => record(data)),
      writeNow: (data) => {
        record(data)
        return true
      },
      close,
      park,
      remote: options.remote ?? { address: "192.0.2.1", port: 40000 },
      local: options.local ?? { address: "192.0.2.25", port: 25 },
      secure: options.secure === true,
      tls: options.secure === true ? simulatedTls : undefined,
      hasInput: () => Queue.sizeUnsafe(inbound) > 0
    }
    const transport: Transport.Transport =
      options.startTls === true && options.secure !== true
        ? { ...plain, acceptTls: () => Effect.succeed({ ...plain, secure: true, tls: simulatedTls }) }
        : plain

    // a reply is complete at the line whose code is followed by a space
    const reply: Effect.Effect<Reply.Reply> = Effect.suspend(function next(): Effect.Effect<Reply.Reply> {
      const match = /^(?:\d{3}-[^\r\n]*\r\n)*\d{3}(?: [^\r\n]*)?\r\n/.exec(unread)
      if (match !== null) {
        unread = unread.slice(match[0].length)
        return Effect.succeed(Reply.decode(match[0]))
      }
      return Effect.flatMap(Queue.take(outbound), (text) => {
        if (text === closedMark) {
          return Effect.die(new Error(`the server closed the connection; unread: ${JSON.stringify(unread)}`))
        }
        unread += text
        return next()
      })
    })

    const client: TestClient = {
      send: (data) => Effect.sync(() => deliver(typeof data === "string" ? encoder.encode(data) : data)),
      end: Effect.sync(() => deliver(undefined)),
      reply,
      replies: (n) => Effect.replicateEffect(reply, n),
      isClosed: Effect.sync(() => isClosed),
      awaitClose: closed.await,
      output: Effect.sync(() => output),
      writes: Effect.sync(() => writes)
    }
    return { transport, client }
  })
