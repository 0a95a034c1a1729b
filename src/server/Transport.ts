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
import type { Endpoint } from "../handler/SessionInfo.js"

/**
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Data.TaggedError("TransportError")<{ readonly cause: unknown }> {}

/**
 * Nothing arrived within the idle timeout.
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
  readonly write: (data: string | Uint8Array) => Effect.Effect<void, TransportError>
  /** Flushes, sends FIN, drains the peer's last bytes briefly, then releases the connection. */
  readonly close: Effect.Effect<void>
  readonly remote: Endpoint
  readonly local: Endpoint
  readonly secure: boolean
}
