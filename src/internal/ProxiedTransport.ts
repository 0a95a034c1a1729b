/**
 * A connection from a trusted proxy (HAProxy's PROXY protocol, v1 or v2): the header is read
 * first, within a timeout, and the transport then reports the real client's address, which is
 * what handlers, logs, limits and `X-Peer` see. Bytes after the header belong to SMTP.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { Endpoint } from "../handler/SessionInfo.js"
import * as Framer from "../protocol/Framer.js"
import * as ProxyHeader from "../protocol/ProxyHeader.js"
import type * as Transport from "./Transport.js"

/**
 * A trusted proxy's connection without a valid PROXY header: closed with no reply (the bytes
 * came from the proxy, not from an SMTP client).
 *
 * @since 0.1.0
 * @category errors
 */
export class ProxyHeaderError extends Data.TaggedError("ProxyHeaderError")<{ readonly reason: string }> {}

// The transport, with the client's endpoints and, first of all, the bytes read past the header.
// A class rather than a spread literal: behind a load balancer every connection is one of these
// (pretenuring: docs/performance/gc.md).
class Reframed implements Transport.Transport {
  private pending: Uint8Array | undefined
  readonly write: Transport.Transport["write"]
  readonly writeNow: Transport.Transport["writeNow"]
  readonly close: Effect.Effect<void>
  readonly secure: boolean
  readonly tls: Transport.TlsInfo | undefined
  readonly park: Transport.Parking | undefined
  readonly acceptTls: Transport.Transport["acceptTls"]

  constructor(
    private readonly inner: Transport.Transport,
    readonly remote: Endpoint,
    readonly local: Endpoint,
    rest: Uint8Array
  ) {
    this.pending = rest.length > 0 ? rest : undefined
    this.write = inner.write
    this.writeNow = inner.writeNow
    this.close = inner.close
    this.secure = inner.secure
    this.tls = inner.tls
    this.park = inner.park === undefined ? undefined : new PendingFirst(this, inner.park)
    const acceptTls = inner.acceptTls
    this.acceptTls =
      acceptTls === undefined
        ? undefined
        : () => Effect.map(acceptTls(), (secured) => new Reframed(secured, remote, local, new Uint8Array(0)))
  }

  read: Transport.Transport["read"] = (timeout) => {
    const chunk = this.pending
    if (chunk === undefined) return this.inner.read(timeout)
    this.pending = undefined
    return Effect.succeed(chunk)
  }

  readInline: Transport.Transport["readInline"] = (timeout, inline) => {
    const chunk = this.pending
    if (chunk === undefined) return this.inner.readInline?.(timeout, inline) ?? this.inner.read(timeout)
    this.pending = undefined
    return Effect.succeed(chunk)
  }

  hasInput = (): boolean => this.pending !== undefined || this.inner.hasInput?.() === true

  isPending(): boolean {
    return this.pending !== undefined
  }
}

// the bytes past the header are read first, by the session's fiber: no park while they wait
class PendingFirst implements Transport.Parking {
  constructor(
    private readonly transport: Reframed,
    private readonly inner: Transport.Parking
  ) {}

  start: Transport.Parking["start"] = (session, idleMs) =>
    !this.transport.isPending() && this.inner.start(session, idleMs)
  stop = (): void => this.inner.stop()
  end = (done: () => void): void => this.inner.end(done)
}

/**
 * Reads the PROXY header from the transport; fails when it is malformed, late or cut short.
 *
 * @since 0.1.0
 * @category constructors
 */
export const accept = (
  transport: Transport.Transport,
  timeout: Duration.Input
): Effect.Effect<Transport.Transport, ProxyHeaderError> => Effect.gen(() => headerSteps(transport, timeout))

// a generator function of the module's, not one made per call: V8 keeps those in the old
// generation with all they capture (docs/performance/gc.md)
function* headerSteps(transport: Transport.Transport, timeout: Duration.Input) {
  const deadline = Date.now() + Duration.toMillis(Duration.fromInputUnsafe(timeout))
  let buffer: Uint8Array = new Uint8Array(0)
  while (true) {
    const parsed = ProxyHeader.parse(buffer)
    if (parsed._tag === "Malformed") return yield* new ProxyHeaderError({ reason: parsed.reason })
    if (parsed._tag === "Complete") {
      const rest = buffer.subarray(parsed.length)
      const header = parsed.header
      return header._tag === "Local"
        ? new Reframed(transport, transport.remote, transport.local, rest)
        : new Reframed(transport, header.source, header.destination, rest)
    }
    const left = deadline - Date.now()
    if (left <= 0) return yield* new ProxyHeaderError({ reason: "no header in time" })
    const chunk = yield* transport
      .read(Duration.millis(left))
      .pipe(
        Effect.mapError(
          (error) =>
            new ProxyHeaderError({ reason: error._tag === "ReadTimeout" ? "no header in time" : "read failed" })
        )
      )
    if (chunk === undefined) return yield* new ProxyHeaderError({ reason: "closed before the header" })
    buffer = Framer.concat([buffer, chunk])
  }
}
