/**
 * How much TLS the client insists on with an upstream, named as Postfix names its levels
 * (`smtp_tls_security_level`):
 *
 * - `none`: never TLS.
 * - `may` (the default): STARTTLS when the server offers it, its certificate not checked; when the
 *   handshake fails the message goes in plain text over a new connection (logged), as Postfix
 *   does: opportunistic TLS guards against passive listeners, and a broken or self-signed
 *   certificate must not stop the mail.
 * - `encrypt`: TLS or no delivery; the certificate is not checked.
 * - `verify`, `secure`: TLS or no delivery, the certificate checked against the trusted CAs
 *   (`tls.ca`, else the system's) and the upstream's name (`tls.servername`, else `host`). Both
 *   check the name given, as there is no MX lookup here to tell them apart.
 *
 * @since 0.2.0
 */
import type * as Dialer from "./Dialer.js"

/**
 * @since 0.2.0
 * @category models
 */
export type TlsLevel = "none" | "may" | "encrypt" | "verify" | "secure"

/**
 * The levels, weakest first.
 *
 * @since 0.2.0
 * @category constants
 */
export const levels: ReadonlyArray<TlsLevel> = ["none", "may", "encrypt", "verify", "secure"]

/**
 * What decides the level: `security`, else the older `startTls` (`off` is `none`,
 * `opportunistic` is `may`, `required` is `verify`, or `encrypt` with verification turned off).
 *
 * @since 0.2.0
 * @category models
 */
export interface Settings {
  readonly security?: TlsLevel | undefined
  readonly startTls?: "opportunistic" | "required" | "off" | undefined
  readonly implicitTls?: boolean | undefined
  readonly tls?: Dialer.TlsOptions | undefined
}

/**
 * The level of these settings. TLS from the first byte (`implicitTls`) is never `none`: it is
 * then `encrypt`.
 *
 * @since 0.2.0
 * @category getters
 */
export const of = (settings: Settings): TlsLevel => {
  const level =
    settings.security ??
    (settings.startTls === "off"
      ? "none"
      : settings.startTls === "required"
        ? settings.tls?.rejectUnauthorized === false
          ? "encrypt"
          : "verify"
        : "may")
  return settings.implicitTls === true && level === "none" ? "encrypt" : level
}

/**
 * Must the connection be encrypted for mail to go?
 *
 * @since 0.2.0
 * @category getters
 */
export const required = (level: TlsLevel): boolean => level === "encrypt" || level === "verify" || level === "secure"

/**
 * The TLS options for a handshake at `level`: the certificate checked only at `verify` and
 * `secure` (and there unless turned off explicitly).
 *
 * @since 0.2.0
 * @category getters
 */
export const tlsOptions = (level: TlsLevel, host: string, tls: Dialer.TlsOptions | undefined) => ({
  ...tls,
  host,
  rejectUnauthorized: level === "verify" || level === "secure" ? (tls?.rejectUnauthorized ?? true) : false
})
