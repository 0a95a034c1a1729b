/**
 * The SMTP server on Node sockets: listens on one or more addresses (IPv4 and IPv6; `localhost`
 * means both loopbacks; Unix sockets), plain (with STARTTLS when it has a certificate) or implicit TLS (port
 * 465 style), runs a session per connection with the `MessageHandler` in context, and shuts
 * down gracefully when its scope closes.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"
import * as Os from "node:os"
import { MessageHandler } from "../handler/MessageHandler.js"
import { type Endpoint, formatEndpoint } from "../handler/SessionInfo.js"
import * as ServerConfig from "../server/ServerConfig.js"
import * as Sessions from "../internal/Sessions.js"
import { ListenError, parseAddress, SmtpServer } from "../server/SmtpServer.js"
import type * as Transport from "../internal/Transport.js"
import * as Listening from "./Listening.js"
import * as NodeProxyHeader from "./NodeProxyHeader.js"
import * as NodeTls from "./NodeTls.js"
import * as NodeTransport from "./NodeTransport.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends ServerConfig.Options {
  /**
   * `host:port` addresses (default `localhost:8025`, or none when only `tlsListen` is given);
   * port 0 picks a free one. STARTTLS is offered there when `tls` is given.
   *
   * `unix:/path/to/sock` listens on a Unix socket (an LMTP server's usual address), whose file
   * gets mode 0660 unless the address says otherwise (`unix:/path?mode=0600`). A socket file a
   * dead process left is replaced; one a live process answers on, or a file that is no socket,
   * is a ListenError; the file is removed when the server stops. Its sessions' peer and local
   * endpoints are `unix:/path`, port 0. Not in a `node:cluster` worker.
   */
  readonly listen?: ReadonlyArray<string> | string | undefined
  /** The server's certificates: STARTTLS on the `listen` addresses, and what `tlsListen` needs. */
  readonly tls?: NodeTls.Options | undefined
  /**
   * Implicit-TLS addresses (submissions on port 465, RFC 8314 §3.3): the TLS handshake comes
   * first, then a session that is encrypted from its greeting on. Needs `tls`.
   */
  readonly tlsListen?: ReadonlyArray<string> | string | undefined
}

/** A connection's endpoints when they are not the socket's own: a Unix socket's. */
type Endpoints = NodeTransport.Options["endpoints"]

// allowHalfOpen: a client may send QUIT and FIN before it reads our 221. Closing the scope stops
// accepting; the sessions close on their own schedule (see Sessions).
const createServer = (onConnection: (socket: Net.Socket, endpoints: Endpoints) => void, endpoints?: Endpoints) =>
  Net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => onConnection(socket, endpoints))

const listenOn = (host: string, port: number, onConnection: (socket: Net.Socket, endpoints: Endpoints) => void) =>
  Listening.listen(createServer(onConnection), host, port)

// a Unix socket's clients have no address: every connection reports the socket's path
const listenUnix = (
  address: Listening.UnixAddress,
  onConnection: (socket: Net.Socket, endpoints: Endpoints) => void
) => {
  const endpoint = Listening.unixEndpoint(address.path)
  return Listening.listenUnix(createServer(onConnection, { remote: endpoint, local: endpoint }), address)
}

const addressList = (value: ReadonlyArray<string> | string | undefined): ReadonlyArray<string> =>
  typeof value === "string" ? [value] : (value ?? [])

// listens on each address; `localhost` is both loopbacks on one port (IPv6 may be missing)
const listenAll = (listen: ReadonlyArray<string>, onConnection: (socket: Net.Socket, endpoints: Endpoints) => void) =>
  Effect.gen(function* () {
    const addresses: Array<Endpoint> = []
    for (const text of listen) {
      const unix = Listening.parseUnix(text)
      if (unix !== undefined) {
        addresses.push(yield* listenUnix(unix, onConnection))
        continue
      }
      const parsed = parseAddress(text)
      if (parsed === undefined) {
        return yield* new ListenError({ address: text, message: "expected host:port or unix:/path" })
      }
      if (parsed.host.toLowerCase() !== "localhost") {
        addresses.push(yield* listenOn(parsed.host, parsed.port, onConnection))
        continue
      }
      const v4 = yield* listenOn("127.0.0.1", parsed.port, onConnection)
      addresses.push(v4)
      const v6 = yield* listenOn("::1", v4.port, onConnection).pipe(Effect.option)
      if (v6._tag === "Some") addresses.push(v6.value)
    }
    return addresses
  })

// why a handshake failed, in a few words (a failed handshake is the client's business: no stack)
const handshakeFailure = (error: Transport.TransportError): { readonly quiet: boolean; readonly text: string } => {
  const cause = error.cause as { readonly code?: unknown; readonly reason?: unknown; readonly message?: unknown }
  const code = typeof cause?.code === "string" ? cause.code : undefined
  // OpenSSL's errors carry a short reason ("wrong version number") beside a long message
  const text =
    typeof cause?.reason === "string"
      ? cause.reason
      : typeof cause?.message === "string"
        ? cause.message
        : String(error.cause)
  // a client that went away before saying anything (a port check, a scanner) is not news
  const quiet = code === "ECONNRESET" || code === "EPIPE" || text.startsWith("connection closed")
  return { quiet, text }
}

interface TlsAcceptor {
  readonly config: ServerConfig.ServerConfig
  readonly contexts: NodeTls.Contexts | undefined
  readonly sessions: Sessions.Sessions
  /** Sockets still in their handshake: not sessions yet, so shutdown ends them itself. */
  readonly handshaking: Set<Net.Socket>
  readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => unknown
}

// implicit TLS: the handshake first (after a trusted proxy's PROXY header), in the connection's
// fiber; `own` are a Unix socket's endpoints
const tlsAcceptor =
  ({ config, contexts, handshaking, runFork, sessions }: TlsAcceptor) =>
  (socket: Net.Socket, own: Endpoints): void => {
    if (contexts === undefined) return void socket.destroy()
    handshaking.add(socket)
    const remote = own?.remote ?? { address: socket.remoteAddress ?? "unknown", port: socket.remotePort ?? 0 }
    const peer = formatEndpoint(remote)
    const secure = (endpoints: Endpoints, proxied: boolean) =>
      NodeTls.handshake(contexts, socket).pipe(
        Effect.matchEffect({
          onFailure: (error) => {
            const { quiet, text } = handshakeFailure(error)
            const message = `TLS handshake failed: ${text}`
            return (quiet ? Effect.logDebug(message) : Effect.logInfo(message)).pipe(Effect.annotateLogs({ peer }))
          },
          onSuccess: (secured) =>
            Effect.sync(() => {
              const transport = NodeTransport.make(secured, { secure: true, tls: NodeTls.tlsInfo(secured), endpoints })
              return proxied ? sessions.acceptProxied(transport) : sessions.accept(transport)
            })
        })
      )
    // a trusted proxy sends its PROXY header before the client's handshake, in clear
    runFork(
      (ServerConfig.fromProxy(config, remote.address)
        ? NodeProxyHeader.read(socket, config.proxyTimeout).pipe(
            Effect.matchEffect({
              onFailure: (error) =>
                Effect.andThen(
                  Effect.logInfo(`PROXY header refused: ${error.reason}`).pipe(Effect.annotateLogs({ peer })),
                  Effect.sync(() => socket.destroy())
                ),
              onSuccess: (endpoints) => secure(endpoints, true)
            })
          )
        : secure(own, false)
      ).pipe(Effect.ensuring(Effect.sync(() => handshaking.delete(socket))))
    )
  }

/**
 * Starts the server in the current scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<SmtpServer["Service"], ServerConfig.ConfigError | ListenError, MessageHandler | Scope.Scope> =>
  Effect.gen(function* () {
    const tlsListen = addressList(options.tlsListen)
    if (tlsListen.length > 0 && options.tls === undefined) {
      return yield* new ServerConfig.ConfigError({ message: "tlsListen needs tls (a certificate and its key)" })
    }
    const config = yield* ServerConfig.make({
      ...options,
      hostname: options.hostname ?? Os.hostname(),
      startTls: options.tls !== undefined
    })
    // certificates are checked before anything listens: a bad file is a start-up error, never a
    // server that fails its handshakes. (A ConfigError, as every other start-up mistake is;
    // `reloadTls` fails with the TlsConfigError itself.)
    const contexts =
      options.tls === undefined
        ? undefined
        : yield* NodeTls.load(options.tls).pipe(
            Effect.mapError((error) => new ServerConfig.ConfigError({ message: `TLS: ${error.message}` }))
          )
    const handler = yield* MessageHandler
    const sessions = yield* Sessions.make(config, handler)
    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    const transportOptions = contexts === undefined ? {} : { startTls: contexts }
    // a session starts in the socket's callback: it forks a fiber only when it needs one
    const onConnection = (socket: Net.Socket, endpoints: Endpoints) =>
      sessions.accept(
        NodeTransport.make(socket, endpoints === undefined ? transportOptions : { ...transportOptions, endpoints })
      )

    // implicit TLS: sockets still in their handshake are not sessions yet, shutdown ends them itself
    const handshaking = new Set<Net.Socket>()
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const socket of handshaking) socket.destroy()
      })
    )
    const onTlsConnection = tlsAcceptor({ config, contexts, sessions, handshaking, runFork })

    const listen = addressList(options.listen ?? (tlsListen.length > 0 ? [] : ["localhost:8025"]))
    const addresses = yield* listenAll(listen, onConnection)
    const tlsAddresses = yield* listenAll(tlsListen, onTlsConnection)
    yield* Effect.logDebug("listening", addresses, tlsAddresses)
    return SmtpServer.of({
      addresses,
      tlsAddresses,
      activeSessions: sessions.active,
      reloadTls: contexts === undefined ? Effect.void : contexts.reload
    })
  })

/**
 * The server as a layer: it listens while the layer is alive.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<SmtpServer, ServerConfig.ConfigError | ListenError, MessageHandler> =>
  Layer.effect(SmtpServer, make(options))

/**
 * `layer` with its options read through Effect's `Config` when the layer is built: each option a
 * `Config` of its own, or a value (`Config.Wrap`), as Effect's own servers take theirs.
 *
 * ```ts
 * NodeSmtpServer.layerConfig({
 *   listen: Config.String("EFFECT_SMTPD_LISTEN").pipe(Config.withDefault("127.0.0.1:2525")),
 *   maxMessageSize: Config.Int("EFFECT_SMTPD_SIZE").pipe(Config.withDefault(10_000_000))
 * })
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Wrap<Options>
): Layer.Layer<SmtpServer, ServerConfig.ConfigError | ListenError | Config.ConfigError, MessageHandler> =>
  Layer.unwrap(Effect.map(Config.unwrap(options), layer))
