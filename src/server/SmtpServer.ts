/**
 * The running server, as a service: where it listens, how many sessions it serves, and the
 * reload of its TLS certificates. It is provided by a platform layer (`NodeSmtpServer.layer`)
 * and lives as long as that layer's scope.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { Endpoint } from "../handler/SessionInfo.js"

/**
 * @since 0.1.0
 * @category services
 */
export class SmtpServer extends Context.Service<
  SmtpServer,
  {
    /** The bound plain addresses (with the real port when 0 was asked for); STARTTLS is offered there when the server has a certificate. */
    readonly addresses: ReadonlyArray<Endpoint>
    /** The bound implicit-TLS addresses (port 465 style, RFC 8314 §3.3): the handshake comes first. */
    readonly tlsAddresses: ReadonlyArray<Endpoint>
    /** Sessions running now. */
    readonly activeSessions: Effect.Effect<number>
    /**
     * Reads the certificate, key and CA files again and swaps them in at once: new handshakes
     * use the new ones, sessions already encrypted go on undisturbed. If any file is missing or
     * wrong the server keeps the certificates it has and this fails with `TlsConfigError`.
     * Succeeds and does nothing when the server has no TLS.
     *
     * Nothing calls it for you; renewals usually come with a signal or on a schedule:
     *
     * ```ts
     * const server = yield* SmtpServer
     * // on SIGHUP (the classic "reload your configuration" signal)
     * process.on("SIGHUP", () => Effect.runFork(server.reloadTls.pipe(Effect.catch(Effect.logError))))
     * // or every 12 hours, for as long as the scope lives
     * yield* server.reloadTls.pipe(
     *   Effect.catch(Effect.logError),
     *   Effect.repeat(Schedule.spaced("12 hours")),
     *   Effect.forkScoped
     * )
     * ```
     */
    readonly reloadTls: Effect.Effect<void, TlsConfigError>
  }
>()("effect-smtpd/SmtpServer") {}

/**
 * A certificate, key or CA file that cannot be read or used, or TLS options that do not fit
 * together. The message names the file, never its content. A start-up (or `reloadTls`) error:
 * no client sees it.
 *
 * @since 0.1.0
 * @category errors
 */
export class TlsConfigError extends Schema.TaggedError<TlsConfigError>()("TlsConfigError", {
  /** The file at fault, when there is one. */
  file: Schema.optional(Schema.String),
  message: Schema.String
}) {}

/**
 * An address could not be listened on (in use, not available, malformed): a start-up error, no
 * reply.
 *
 * @since 0.1.0
 * @category errors
 */
export class ListenError extends Schema.TaggedError<ListenError>()("ListenError", {
  address: Schema.String,
  message: Schema.String
}) {}

/**
 * Parses `host:port`, `[ipv6]:port` or `:port` (all interfaces). `localhost` stays a name:
 * the platform layer binds it on both loopback addresses.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseAddress = (text: string): { readonly host: string; readonly port: number } | undefined => {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\[\]\s]*)):(\d{1,5})$/.exec(text.trim())
  if (match === null) return undefined
  const port = Number(match[3])
  if (port > 65535) return undefined
  const host = match[1] ?? match[2] ?? ""
  return { host: host === "" ? "0.0.0.0" : host, port }
}
