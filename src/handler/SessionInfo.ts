/**
 * What a handler can see of the session it serves: who is connected, what they said in
 * HELO/EHLO, and the transaction so far — smtpd's `SMTPChannel` state as a value.
 *
 * @since 0.1.0
 */
import type * as Session from "../protocol/Session.js"
import type { Endpoint, TlsInfo } from "../protocol/Endpoint.js"

export { type Endpoint, formatEndpoint } from "../protocol/Endpoint.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface SessionInfo {
  /** Unique per connection, for logs. */
  readonly id: string
  /** The client (smtpd's `peer`). */
  readonly peer: Endpoint
  /** The address the client connected to. */
  readonly local: Endpoint
  /** The server's name (smtpd's `fqdn`). */
  readonly hostname: string
  /** The HELO/EHLO name and whether it was EHLO. */
  readonly greeting: Session.Greeting | undefined
  /** The transaction in progress. */
  readonly envelope: Session.Envelope | undefined
  /** Whether the connection is encrypted. */
  readonly secure: boolean
  /** The TLS session (protocol, cipher, client certificate), once encrypted. */
  readonly tls?: TlsInfo | undefined
  /** The identity the client authenticated as (AUTH), if it did. */
  readonly auth?: string | undefined
  /** `lmtp` on an LMTP server (RFC 2033); `smtp` (or absent) otherwise. */
  readonly protocol?: "smtp" | "lmtp" | undefined
}
