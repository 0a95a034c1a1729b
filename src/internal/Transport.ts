/**
 * A connection's byte pipe, as the session sees it: pull one chunk at a time (so the socket is
 * read only as fast as the session consumes), write and wait until the bytes are handed to
 * the kernel, close gracefully. `NodeTransport` implements it over `net.Socket`;
 * `TestTransport` (effect-smtpd/testing) in memory.
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
  readonly read: (
    idleTimeout: Duration.Duration,
    inline?: Inline | undefined
  ) => Effect.Effect<Uint8Array | undefined, TransportError | ReadTimeout>
  readonly write: (data: string | Uint8Array) => Effect.Effect<void, TransportError>
  /**
   * Writes at once, if the connection can take the bytes without waiting; false: nothing was
   * written (the buffer is full), use `write`. For answers given inline.
   */
  readonly writeNow?: ((data: string) => boolean) | undefined
  /** Flushes, sends FIN, drains the peer's last bytes briefly, then releases the connection. */
  readonly close: Effect.Effect<void>
  /**
   * Parks a session that has no fiber (see `Parking`). Absent: the session always runs in a fiber.
   */
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
 * A session's way to act on input without a fiber step per chunk: while a `read` waits, each chunk
 * that arrives is handed to `inline` at once, in the transport's own callback. It takes the chunk
 * in any case; it answers with the timeout for the next chunk in milliseconds to keep the read
 * waiting (it handled everything), or `undefined` to complete the read (with an empty chunk: the
 * bytes are already taken) because the session has work to do that needs effects.
 *
 * @since 0.1.0
 * @category models
 */
export type Inline = (chunk: Uint8Array) => number | undefined

/**
 * A session with no fiber: its input goes to `inline` as it arrives, in the transport's callback, so
 * that a session that needs no effect (the Sink's, every command and QUIT) never forks one.
 *
 * @since 0.1.0
 * @category models
 */
export interface Parking {
  /**
   * Hands each chunk to `inline`, with `idleMs` as the first idle timeout (then what `inline`
   * answers). When `inline` answers `undefined` (the chunk is taken), or the connection ends,
   * fails or times out, the park ends and `wake` is called once: the session forks its fiber,
   * whose next read reports the end, the failure or the timeout. False: not parked (input is
   * already queued, or the connection is gone), the session reads in a fiber.
   */
  readonly start: (inline: Inline, idleMs: number, wake: () => void) => boolean
  /** Ends the park without calling `wake` (the session woke on its own). */
  readonly stop: () => void
  /** `close` without an effect, for a session ending while parked; `done` runs once it is released. */
  readonly end: (done: () => void) => void
}

/**
 * What a read that ended inline returns: the chunk was already handed to `Inline`.
 *
 * @since 0.1.0
 */
export const takenInline: Uint8Array = new Uint8Array(0)
