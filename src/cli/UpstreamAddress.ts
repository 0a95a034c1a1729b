/**
 * Where the command relays to: `host:port`, or a Unix socket `unix:/path`, either of them after
 * `lmtp:` for an upstream that speaks LMTP (as Postfix's `lmtp:unix:/path` names a transport):
 * `lmtp:unix:/run/dovecot/lmtp`, `lmtp:127.0.0.1:24`.
 *
 * @since 0.2.0
 */
import { parseAddress } from "../server/SmtpServer.js"

/**
 * @since 0.2.0
 * @category models
 */
export interface UpstreamAddress {
  /** A host name or address, or `unix:/path` (the client dials the socket). */
  readonly host: string
  /** 0 for a Unix socket. */
  readonly port: number
  readonly lmtp: boolean
}

/**
 * Parses an upstream address; `undefined` when it is none of the forms above.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parse = (text: string): UpstreamAddress | undefined => {
  const trimmed = text.trim()
  const lmtp = trimmed.startsWith("lmtp:")
  const rest = lmtp ? trimmed.slice(5) : trimmed
  if (/^unix:\/\S+$/.test(rest)) return { host: rest, port: 0, lmtp }
  const address = parseAddress(rest)
  return address === undefined ? undefined : { ...address, lmtp }
}

/**
 * What a wrong one is told it should be.
 *
 * @since 0.2.0
 * @category constants
 */
export const expected = "host:port or unix:/path, optionally after lmtp:"
