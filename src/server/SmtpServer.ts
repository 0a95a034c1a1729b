/**
 * The running server, as a service: where it listens and how many sessions it serves. It is
 * provided by a platform layer (`NodeSmtpServer.layer`) and lives as long as that layer's scope.
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
export class SmtpServer extends Context.Tag("effect-smtpd/SmtpServer")<
  SmtpServer,
  {
    /** The bound addresses (with the real port when 0 was asked for). */
    readonly addresses: ReadonlyArray<Endpoint>
    /** Sessions running now. */
    readonly activeSessions: Effect.Effect<number>
  }
>() {}

/**
 * An address could not be listened on (in use, not available, malformed).
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
