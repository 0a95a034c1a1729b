/**
 * The PROXY header in front of an implicit-TLS connection. A proxy such as HAProxy (`mode tcp`,
 * `send-proxy`) passes the client's TLS through and sends the header before it, in clear, so it
 * is read from the raw socket before the handshake. The bytes read past it (the start of the
 * client's handshake, often in the same segment) go back to the socket, where the TLS layer
 * reads them first.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Net from "node:net"
import type { Endpoint } from "../handler/SessionInfo.js"
import { concat } from "../protocol/Framer.js"
import * as ProxyHeader from "../protocol/ProxyHeader.js"
import { ProxyHeaderError } from "../internal/ProxiedTransport.js"

/**
 * The connection's endpoints as the header gives them: the client's and the one it connected
 * to (the socket's own for a `LOCAL` header, a proxy's health check).
 *
 * @since 0.1.0
 * @category models
 */
export interface Endpoints {
  readonly remote: Endpoint
  readonly local: Endpoint
}

/**
 * Reads the header from `socket` within `timeout`, and leaves the socket paused at the first
 * byte after it. Fails when the header is malformed, late or cut short (the socket is then
 * left to the caller to close).
 *
 * @since 0.1.0
 * @category constructors
 */
export const read = (socket: Net.Socket, timeout: Duration.Input): Effect.Effect<Endpoints, ProxyHeaderError> =>
  Effect.callback<Endpoints, ProxyHeaderError>((resume) => {
    let buffer: Uint8Array = new Uint8Array(0)
    const stop = () => {
      clearTimeout(timer)
      socket.off("data", onData)
      socket.off("end", onClosed)
      socket.off("close", onClosed)
      socket.off("error", onClosed)
      // until TLS takes the socket over (or it is closed): an error with no listener would
      // crash the process
      socket.on("error", ignore)
    }
    const finish = (result: Effect.Effect<Endpoints, ProxyHeaderError>) => {
      stop()
      resume(result)
    }
    const onData = (chunk: Buffer) => {
      buffer = concat([buffer, chunk])
      const parsed = ProxyHeader.parse(buffer)
      if (parsed._tag === "Incomplete") return
      if (parsed._tag === "Malformed") return finish(Effect.fail(new ProxyHeaderError({ reason: parsed.reason })))
      socket.pause()
      const rest = buffer.subarray(parsed.length)
      if (rest.length > 0) socket.unshift(rest)
      const header = parsed.header
      finish(
        Effect.succeed(
          header._tag === "Local"
            ? {
                remote: { address: socket.remoteAddress ?? "unknown", port: socket.remotePort ?? 0 },
                local: { address: socket.localAddress ?? "unknown", port: socket.localPort ?? 0 }
              }
            : { remote: header.source, local: header.destination }
        )
      )
    }
    const onClosed = () => finish(Effect.fail(new ProxyHeaderError({ reason: "closed before the header" })))
    const timer = setTimeout(
      () => finish(Effect.fail(new ProxyHeaderError({ reason: "no header in time" }))),
      Duration.toMillis(Duration.fromInputUnsafe(timeout))
    )
    socket.on("data", onData)
    socket.on("end", onClosed)
    socket.on("close", onClosed)
    socket.on("error", onClosed)
    return Effect.sync(stop)
  })

const ignore = () => {}
