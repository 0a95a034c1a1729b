/**
 * The SMTP client's connections over `node:net` and `node:tls`.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Net from "node:net"
import * as Tls from "node:tls"
import * as Dialer from "../client/Dialer.js"
import * as Transport from "../internal/Transport.js"
import * as NodeTransport from "./NodeTransport.js"

const tlsOptions = (host: string, options: Dialer.TlsOptions): Tls.ConnectionOptions => ({
  host,
  // SNI carries names only (RFC 6066 §3); the certificate is still checked against `host`
  ...(options.servername !== undefined || Net.isIP(host) === 0 ? { servername: options.servername ?? host } : {}),
  ...(options.ca !== undefined ? { ca: options.ca } : {}),
  rejectUnauthorized: options.rejectUnauthorized ?? true
})

// resumes once the socket is connected (and its TLS handshake done), or fails
const established = (
  socket: Net.Socket,
  event: "connect" | "secureConnect",
  timeout: Duration.Duration
): Effect.Effect<Net.Socket, Transport.TransportError> =>
  Effect.callback((resume) => {
    const fail = (cause: unknown) => {
      clearTimeout(timer)
      socket.destroy()
      resume(Effect.fail(new Transport.TransportError({ cause })))
    }
    const ms = Duration.toMillis(timeout)
    const timer = setTimeout(() => fail(new Error("timed out")), Number.isFinite(ms) ? ms : 2 ** 31 - 1)
    socket.once("error", fail)
    socket.once(event, () => {
      clearTimeout(timer)
      socket.off("error", fail)
      resume(Effect.succeed(socket))
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      socket.destroy()
    })
  })

const wrap = (socket: Net.Socket, secure: boolean, timeout: Duration.Duration): Dialer.ClientTransport => {
  const { detach, transport } = NodeTransport.makeDetachable(socket, { secure })
  return {
    ...transport,
    startTls: (options) =>
      Effect.suspend(() => {
        if (!detach()) {
          socket.destroy()
          return Effect.fail(new Transport.TransportError({ cause: new Error("server sent data before TLS") }))
        }
        const secured = Tls.connect({ socket, ...tlsOptions(options.host, options) })
        return Effect.map(established(secured, "secureConnect", timeout), (s) => wrap(s, true, timeout))
      })
  }
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const connect = (target: Dialer.Target): Effect.Effect<Dialer.ClientTransport, Transport.TransportError> =>
  Effect.suspend(() => {
    // `unix:/path`: a Unix socket (an LMTP server's, as Dovecot's)
    const path = target.host.startsWith("unix:") ? target.host.slice(5) : undefined
    const socket =
      target.tls === undefined
        ? Net.connect(path === undefined ? { host: target.host, port: target.port } : { path })
        : Tls.connect(
            path === undefined
              ? { port: target.port, ...tlsOptions(target.host, target.tls) }
              : { path, ...tlsOptions("localhost", target.tls) }
          )
    // commands and their replies are small writes: Nagle would hold each one for the ACK
    socket.setNoDelay(true)
    return Effect.map(
      established(socket, target.tls === undefined ? "connect" : "secureConnect", target.timeout),
      (s) => wrap(s, target.tls !== undefined, target.timeout)
    )
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Dialer.Dialer> = Layer.succeed(Dialer.Dialer, { connect })
