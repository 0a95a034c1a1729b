/**
 * How the SMTP client reaches a server: a connection, and the TLS upgrade for STARTTLS. The Node
 * implementation is `NodeDialer`; tests may provide in-memory ones.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Transport from "../internal/Transport.js"

/**
 * Certificate checks for a TLS connection to a server.
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsOptions {
  /** The name to verify the certificate against and to send as SNI (default: the host). */
  readonly servername?: string | undefined
  /** Trusted CA certificates (PEM), instead of the system's. */
  readonly ca?: string | undefined
  /** Verify the server's certificate (default true). Turn off only in tests. */
  readonly rejectUnauthorized?: boolean | undefined
}

/**
 * A connection to a server, which may be upgraded to TLS once.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientTransport extends Transport.Transport {
  /** The TLS handshake over this connection (RFC 3207); this transport is not used after it. */
  readonly startTls: (
    options: TlsOptions & { readonly host: string }
  ) => Effect.Effect<ClientTransport, Transport.TransportError>
}

/**
 * Where to connect, and whether TLS starts at once (implicit TLS, port 465).
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  readonly host: string
  readonly port: number
  readonly tls: TlsOptions | undefined
  readonly timeout: Duration.Duration
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Dialer extends Context.Service<
  Dialer,
  { readonly connect: (target: Target) => Effect.Effect<ClientTransport, Transport.TransportError> }
>()("effect-smtpd/Dialer") {}
