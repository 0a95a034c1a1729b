/**
 * What a session over a byte stream runs with (see `SmtpSession`): the options, checked and
 * completed into the server's configuration, the services from the context, and what handlers
 * are told of the connection.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Authenticator from "../auth/Authenticator.js"
import * as MessageHandler from "../handler/MessageHandler.js"
import type { Endpoint, TlsInfo } from "../protocol/Endpoint.js"
import * as ServerConfig from "../server/ServerConfig.js"

/**
 * The server's options, but for those of a listener (connection limits, PROXY, shutdown) and
 * STARTTLS, with what `SessionInfo` tells handlers of the connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Omit<
  ServerConfig.Options,
  | "startTls"
  | "maxConnections"
  | "maxConnectionsPerClient"
  | "trustedNetworks"
  | "proxyProtocolFrom"
  | "proxyTimeout"
  | "shutdownGrace"
> {
  /** The session's id in `SessionInfo` and in logs (default: a random one). */
  readonly id?: string | undefined
  /** The client (default `unknown:0`, which no network contains). */
  readonly peer?: Endpoint | undefined
  /** Our end (default `unknown:0`). */
  readonly local?: Endpoint | undefined
  /** Is the stream encrypted already (a WebSocket over TLS)? AUTH is then offered without `authInsecure`. */
  readonly secure?: boolean | undefined
  /** What handlers see of that encryption. */
  readonly tls?: TlsInfo | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Environment {
  readonly config: ServerConfig.ServerConfig
  readonly handler: MessageHandler.Handler
  /** With one, AUTH is offered with the mechanisms it can check. */
  readonly authenticator: Authenticator.Service | undefined
  readonly id: string
  readonly peer: Endpoint
  readonly local: Endpoint
  readonly secure: boolean
  readonly tls: TlsInfo | undefined
}

const unknown: Endpoint = { address: "unknown", port: 0 }

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<Environment, ServerConfig.ConfigError, MessageHandler.MessageHandler> =>
  Effect.gen(function* () {
    // STARTTLS needs a socket to upgrade: over a byte stream it is not offered
    const config = yield* ServerConfig.make({ ...options, startTls: false })
    const authenticator = Option.getOrUndefined(yield* Effect.serviceOption(Authenticator.Authenticator))
    return {
      config:
        authenticator === undefined
          ? config
          : { ...config, protocol: { ...config.protocol, authMechanisms: authenticator.mechanisms } },
      handler: yield* MessageHandler.MessageHandler,
      authenticator,
      id: options.id ?? Math.random().toString(36).slice(2, 10),
      peer: options.peer ?? unknown,
      local: options.local ?? unknown,
      secure: options.secure === true,
      tls: options.tls
    }
  })
