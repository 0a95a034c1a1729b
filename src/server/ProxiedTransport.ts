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
 * @since 0.1.0
 * @category errors
 */
export class ProxyHeaderError extends Data.TaggedError("ProxyHeaderError")<{ readonly reason: string }> {}

// the transport, with another remote address and, first of all, the bytes read past the header
const reframe = (
  transport: Transport.Transport,
  remote: Endpoint,
  local: Endpoint,
  rest: Uint8Array
): Transport.Transport => {
  let pending: Uint8Array | undefined = rest.length > 0 ? rest : undefined
  const acceptTls = transport.acceptTls
  const park = transport.park
  return {
    ...transport,
    remote,
    local,
    read: (timeout, inline) => {
      if (pending === undefined) return transport.read(timeout, inline)
      const chunk = pending
      pending = undefined
      return Effect.succeed(chunk)
    },
    // the bytes past the header are read first, by the session's fiber
    park:
      park === undefined
        ? undefined
        : { ...park, start: (inline, idleMs, wake) => pending === undefined && park.start(inline, idleMs, wake) },
    hasInput: () => pending !== undefined || transport.hasInput?.() === true,
    acceptTls:
      acceptTls === undefined
        ? undefined
        : () => Effect.map(acceptTls(), (secured) => reframe(secured, remote, local, new Uint8Array(0)))
  }
}

/**
 * Reads the PROXY header from the transport; fails when it is malformed, late or cut short.
 *
 * @since 0.1.0
 * @category constructors
 */
export const accept = (
  transport: Transport.Transport,
  timeout: Duration.DurationInput
): Effect.Effect<Transport.Transport, ProxyHeaderError> =>
  Effect.gen(function* () {
    const deadline = Date.now() + Duration.toMillis(Duration.decode(timeout))
    let buffer: Uint8Array = new Uint8Array(0)
    while (true) {
      const parsed = ProxyHeader.parse(buffer)
      if (parsed._tag === "Malformed") return yield* new ProxyHeaderError({ reason: parsed.reason })
      if (parsed._tag === "Complete") {
        const rest = buffer.subarray(parsed.length)
        const header = parsed.header
        return header._tag === "Local"
          ? reframe(transport, transport.remote, transport.local, rest)
          : reframe(transport, header.source, header.destination, rest)
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
  })
