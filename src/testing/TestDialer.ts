/**
 * A `Dialer` whose connections go to in-memory servers (`SmtpTest.server`): `SmtpClient`, a
 * `Relay` or a `Router` in a test talks to an upstream that is itself a server in memory, with
 * no sockets and under `TestClock` if you like. STARTTLS is simulated when the server offers it
 * (`startTls: true`): the session becomes secure, the bytes stay plain.
 *
 * ```ts
 * const upstream = yield* SmtpTest.server().pipe(Effect.provide(Recording.layer))
 * const client = yield* SmtpClient.make.pipe(Effect.provide(TestDialer.layer(upstream)))
 * ```
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Dialer from "../client/Dialer.js"
import * as Transport from "../internal/Transport.js"
import type * as SmtpTest from "./SmtpTest.js"
import * as TestTransport from "./TestTransport.js"

const simulatedTls: Transport.TlsInfo = { protocol: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384 (simulated)" }

const clientTransport = (
  client: TestTransport.TestClient,
  target: Dialer.Target,
  tls: Transport.TlsInfo | undefined
): Dialer.ClientTransport => ({
  read: (idleTimeout) =>
    client.read.pipe(
      Effect.timeoutOrElse({ duration: idleTimeout, orElse: () => Effect.fail(new Transport.ReadTimeout()) })
    ),
  write: (data) => client.send(data),
  close: client.end,
  remote: { address: target.host, port: target.port },
  local: TestTransport.defaultRemote,
  secure: tls !== undefined,
  tls,
  startTls: () => Effect.succeed(clientTransport(client, target, simulatedTls))
})

/**
 * The servers to connect to: one for every target, or one per `host:port`.
 *
 * @since 0.2.0
 * @category models
 */
export type Servers = SmtpTest.TestServer | Readonly<Record<string, SmtpTest.TestServer>>

const serverFor = (servers: Servers, target: Dialer.Target): SmtpTest.TestServer | undefined =>
  "connectWith" in servers && typeof servers.connectWith === "function"
    ? (servers as SmtpTest.TestServer)
    : (servers as Readonly<Record<string, SmtpTest.TestServer>>)[`${target.host}:${target.port}`]

/**
 * A dialer to `servers`; a target with no server is refused, as a port nothing listens on.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (servers: Servers): Dialer.Dialer["Service"] => ({
  connect: (target) => {
    const server = serverFor(servers, target)
    if (server === undefined) {
      return Effect.fail(
        new Transport.TransportError({ cause: new Error(`connect ECONNREFUSED ${target.host}:${target.port}`) })
      )
    }
    // implicit TLS (`tls` given) is a connection secure from the start
    const secure = target.tls !== undefined
    return Effect.map(server.connectWith({ secure }), (client) =>
      clientTransport(client, target, secure ? simulatedTls : undefined)
    )
  }
})

/**
 * @since 0.2.0
 * @category layers
 */
export const layer = (servers: Servers): Layer.Layer<Dialer.Dialer> => Layer.succeed(Dialer.Dialer, make(servers))
