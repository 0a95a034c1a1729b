/**
 * What is known of a connection's two ends and of its TLS session: plain values that the
 * transports fill in and handlers read (`SessionInfo`).
 *
 * @since 0.1.0
 */

/**
 * One end of a connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface Endpoint {
  readonly address: string
  readonly port: number
}

/**
 * `host:port`, with brackets around IPv6 hosts.
 *
 * @since 0.1.0
 * @category utils
 */
export const formatEndpoint = (endpoint: Endpoint): string => {
  // a Unix socket (`unix:/path`) has no port
  if (endpoint.address.startsWith("unix:")) return endpoint.address
  return endpoint.address.includes(":")
    ? `[${endpoint.address}]:${endpoint.port}`
    : `${endpoint.address}:${endpoint.port}`
}

/**
 * What handlers may know of a TLS session.
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsInfo {
  /** `TLSv1.3`, `TLSv1.2`, … */
  readonly protocol: string
  /** The cipher suite's standard name. */
  readonly cipher: string
  /** The name the client asked for (SNI), if any. */
  readonly servername?: string | undefined
  /** The client's certificate, when one was requested and given. */
  readonly clientCertificate?:
    | {
        readonly subject: string
        readonly issuer: string
        readonly fingerprint256: string
        /** Did it verify against the configured CA? */
        readonly authorized: boolean
      }
    | undefined
}
