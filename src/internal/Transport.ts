/**
 * A connection's byte pipe, as the session sees it: pull one chunk at a time (so the socket is
 * read only as fast as the session consumes), write and wait until the bytes are handed to
 * the kernel, close gracefully. `NodeTransport` implements it over `net.Socket`;
 * `TestTransport` (effect-smtpd/testing) in memory. The inline and parking protocol below, and
 * the session states it serves: docs/sessions.md.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type { Endpoint, TlsInfo } from "../protocol/Endpoint.js"

export type { TlsInfo } from "../protocol/Endpoint.js"

/**
 * The connection failed (reset, broken pipe): no reply can reach the client, the session ends.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Data.TaggedError("TransportError")<{ readonly cause: unknown }> {}

/**
 * Nothing arrived within the idle timeout: the session answers `421 4.4.2` and closes.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReadTimeout extends Data.TaggedError("ReadTimeout")<{}> {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Transport {
  /**
   * The next chunk of input; `undefined` once the peer has closed its side; `ReadTimeout` when
   * nothing arrives within `idleTimeout`. (The timeout belongs to the transport so that a
   * socket read costs one timer, not a race of two fibers: it runs on every read.)
   */
  readonly read: (idleTimeout: Duration.Duration) => Effect.Effect<Uint8Array | undefined, TransportError | ReadTimeout>
  /**
   * `read` for a session that acts on input in the transport's callback: while it waits, each
   * chunk that arrives goes to `inline` (see `Inline`), and the read completes only when
   * `inline` needs the session's fiber (with `takenInline`: the chunk is taken), at the end of
   * input, on a failure or a timeout. A chunk that came before the read is returned as it is.
   * Absent: the session reads with `read`. Part of the protocol in docs/sessions.md.
   */
  readonly readInline?:
    | ((
        idleTimeout: Duration.Duration,
        inline: Inline
      ) => Effect.Effect<Uint8Array | TakenInline | undefined, TransportError | ReadTimeout>)
    | undefined
  readonly write: (data: string | Uint8Array) => Effect.Effect<void, TransportError>
  /**
   * Writes at once, if the connection can take the bytes without waiting; false: nothing was
   * written (the buffer is full), use `write`. For answers given inline.
   */
  readonly writeNow?: ((data: string) => boolean) | undefined
  /** Flushes, sends FIN, drains the peer's last bytes briefly, then releases the connection. */
  readonly close: Effect.Effect<void>
  /** Parks a session that has no fiber (see `Parking`). Absent: the session always runs in a fiber. */
  readonly park?: Parking | undefined
  readonly remote: Endpoint
  readonly local: Endpoint
  readonly secure: boolean
  /** The TLS session, once the connection is encrypted. */
  readonly tls?: TlsInfo | undefined
  /**
   * The server's side of STARTTLS (RFC 3207): the handshake over this connection, which is not
   * used after it. Absent when the server has no certificate. Input that came before the
   * handshake is dropped, never read as TLS or as commands.
   */
  readonly acceptTls?: (() => Effect.Effect<Transport, TransportError>) | undefined
  /** Is input already waiting to be read? (A client that talks before the greeting.) */
  readonly hasInput?: (() => boolean) | undefined
}

/**
 * What a session did with a chunk handed to it inline (`Inline.take`): `Handled`, all of it was
 * acted on and its replies written, so the transport keeps waiting (`Inline.waitMs` for the
 * next chunk); `NeedsFiber`, the chunk is taken but the session has work that needs effects, so
 * the waiting read completes (with `takenInline`) or the park ends (`Parked.wake`).
 *
 * @since 0.1.0
 * @category models
 */
export type Taken = "Handled" | "NeedsFiber"

/**
 * A session's way to act on input without a fiber step per chunk: each chunk that arrives
 * while it waits is handed to `take` at once, in the transport's own callback. The session's
 * states and who calls what: docs/sessions.md.
 *
 * @since 0.1.0
 * @category models
 */
export interface Inline {
  /** Takes a chunk (in any case) and says whether the transport may keep waiting. */
  readonly take: (chunk: Uint8Array) => Taken
  /** After `Handled`: how long to wait for the next chunk, in milliseconds. */
  readonly waitMs: () => number
}

/**
 * A session with no fiber, parked on its transport (`Parking.start`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Parked extends Inline {
  /**
   * The park ended: `take` answered `NeedsFiber`, or the connection ended, failed or timed out.
   * Called once; the session forks its fiber, whose next read reports the end, the failure or
   * the timeout.
   */
  readonly wake: () => void
}

/**
 * A transport's side of a session with no fiber: its input goes to the session's `take` as it
 * arrives, in the transport's callback, so that a session that needs no effect (the Sink's,
 * every command and QUIT) never forks one.
 *
 * @since 0.1.0
 * @category models
 */
export interface Parking {
  /**
   * Hands each chunk to `session.take`, with `idleMs` as the first idle timeout (then what
   * `session.waitMs` answers), until the park ends and `session.wake` is called. False: not
   * parked (input is already queued, or the connection is gone), the session reads in a fiber.
   */
  readonly start: (session: Parked, idleMs: number) => boolean
  /** Ends the park without calling `wake` (the session woke on its own). */
  readonly stop: () => void
  /** `close` without an effect, for a session ending while parked; `done` runs once it is released. */
  readonly end: (done: () => void) => void
}

/**
 * What `readInline` gives when `Inline.take` answered `NeedsFiber`: no bytes, the chunk is
 * with the session already.
 *
 * @since 0.1.0
 * @category models
 */
export class TakenInline {
  readonly _tag = "TakenInline"
}

/**
 * The one `TakenInline`.
 *
 * @since 0.1.0
 */
export const takenInline: TakenInline = new TakenInline()
