/**
 * The `Received:` trace field (RFC 5321 §4.4) that a server which takes a message on must put on
 * top of it, and the hop count that stops mail loops: the message's own `Received:` fields are
 * counted as its header streams past, and a message that has been through more than `maxReceived`
 * servers is refused with `554 5.4.6` (Postfix's `hopcount_limit`, 50).
 *
 * The field reads `Received: from HELO ([IP]) by HOSTNAME with PROTO id ID for <rcpt>; DATE`,
 * PROTO being RFC 3848's name for the session (`SMTP` after HELO, `ESMTP`, `ESMTPS` over TLS,
 * `ESMTPA` when authenticated, `ESMTPSA`, and `LMTP` with the same suffixes), `for` only when
 * there is exactly one recipient (naming one of several would tell each the others' addresses),
 * folded so that no line passes 78 characters where the parts allow it.
 *
 * A `Router` in front of other handlers adds the field once for the hop and marks the messages it
 * hands its routes (`traced`), so that a Maildir or Relay route does not add a second one.
 *
 * @since 0.2.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Stream from "effect/Stream"
import type * as Message from "../handler/Message.js"
import type { SessionInfo } from "../handler/SessionInfo.js"
import * as MailDate from "../protocol/MailDate.js"
import * as SmtpError from "../protocol/SmtpError.js"

/**
 * Postfix's `hopcount_limit`.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultMaxReceived = 50

/**
 * RFC 3848's name for the protocol the session speaks: `SMTP` after HELO; after EHLO `ESMTP`,
 * with `S` when encrypted and `A` when authenticated; `LMTP` the same way on an LMTP server.
 *
 * @since 0.2.0
 * @category getters
 */
export const protocolOf = (session: SessionInfo): string => {
  const lmtp = session.protocol === "lmtp"
  if (!lmtp && session.greeting?.esmtp !== true) return "SMTP"
  return `${lmtp ? "LMTP" : "ESMTP"}${session.secure ? "S" : ""}${session.auth !== undefined ? "A" : ""}`
}

/**
 * An RFC 5322 §3.3 date-time in UTC: `Sun, 06 Dec 2026 23:40:00 +0000` (`MailDate.format`).
 *
 * @since 0.2.0
 * @category utils
 */
export const formatDate = MailDate.format

// what a client says (its HELO name) or what we name goes into a header: nothing that could end
// the field, open a comment or stand for something else (RFC 5322 atext and "[", "]", ":", ".")
// the field's length stays bounded (`maxLength`): names past a domain's 255 octets are cut
const clean = (text: string, max = 255) => text.slice(0, max).replace(/[^\x21-\x7e]|[()<>;\\"]/g, "?")

const encoder = new TextEncoder()

const ipv4 = /^\d{1,3}(?:\.\d{1,3}){3}$/
const ipv6 = /^[0-9a-f:.]+$/i

/**
 * The address literal of an IP address (RFC 5321 §4.1.3): `[192.0.2.1]`, `[IPv6:2001:db8::1]`,
 * an IPv4-mapped IPv6 address as IPv4; undefined for anything else (a Unix socket's peer).
 *
 * @since 0.2.0
 * @category utils
 */
export const addressLiteral = (address: string): string | undefined => {
  const bare = address.replace(/%.*$/, "")
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(bare)
  if (mapped !== null) return `[${mapped[1]}]`
  if (ipv4.test(bare)) return `[${bare}]`
  if (bare.includes(":") && ipv6.test(bare)) return `[IPv6:${bare}]`
  return undefined
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Fields {
  readonly session: SessionInfo
  /** The recipients this copy goes to: named in `for` only when there is exactly one. */
  readonly recipients: ReadonlyArray<string>
  /** Unique for the transaction (`id` gives one). */
  readonly id: string
  /** Clock millis. */
  readonly date: number
}

/**
 * The most octets a field can take (CRLF included): names are cut to 255 octets and the id to
 * 64, so a relay knows how much it adds to a message (`Relay.headroom`).
 *
 * @since 0.2.0
 * @category constants
 */
export const maxLength = 1024

// folds between the parts (RFC 5322 §2.2.3: CRLF + TAB before a part that would pass 78)
const fold = (parts: ReadonlyArray<string>): string => {
  const lines: Array<string> = []
  let line = "Received:"
  for (const part of parts) {
    if (line.length + 1 + part.length > 78 && line.trim() !== "Received:") {
      lines.push(line)
      line = `\t${part}`
    } else {
      line += ` ${part}`
    }
  }
  lines.push(line)
  return `${lines.join("\r\n")}\r\n`
}

/**
 * The whole field, CRLF-terminated and folded.
 *
 * @since 0.2.0
 * @category constructors
 */
export const format = ({ date, id, recipients, session }: Fields): string => {
  const literal = addressLiteral(session.peer.address)
  const from = session.greeting === undefined ? "unknown" : clean(session.greeting.name)
  const parts = [`from ${from}`]
  if (literal !== undefined) parts.push(`(${literal})`)
  parts.push(`by ${clean(session.hostname)}`, `with ${protocolOf(session)}`, `id ${clean(id, 64)}`)
  const [only] = recipients
  // a path longer than RFC 5321 §4.5.3.1.3's 256 octets is left out rather than cut
  if (recipients.length === 1 && only !== undefined && encoder.encode(only).length <= 256) {
    parts.push(`for <${only.replace(/[\r\n]/g, "")}>`)
  }
  parts[parts.length - 1] += ";"
  parts.push(formatDate(date))
  return fold(parts)
}

// transactions of this process: with the session's id, unique per message
let transactions = 0

/**
 * A new id for a transaction of this session: the session's id and a count.
 *
 * @since 0.2.0
 * @category constructors
 */
export const id = (session: SessionInfo): string => `${session.id}.${(transactions += 1).toString(36)}`

/**
 * The field for a message to `recipients`, dated by the Clock.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  session: SessionInfo,
  recipients: ReadonlyArray<string>,
  transaction: string = id(session)
): Effect.Effect<string> =>
  Effect.map(Clock.currentTimeMillis, (date) => format({ session, recipients, id: transaction, date }))

/**
 * The body with `lines` (whole header lines, CRLF included) on top; the body itself streams on,
 * its header block is never held.
 *
 * @since 0.2.0
 * @category combinators
 */
export const prepend: {
  (lines: string | Uint8Array): <E, R>(body: Stream.Stream<Uint8Array, E, R>) => Stream.Stream<Uint8Array, E, R>
  <E, R>(body: Stream.Stream<Uint8Array, E, R>, lines: string | Uint8Array): Stream.Stream<Uint8Array, E, R>
} = dual(
  2,
  <E, R>(body: Stream.Stream<Uint8Array, E, R>, lines: string | Uint8Array): Stream.Stream<Uint8Array, E, R> => {
    const head: readonly [Uint8Array] = [typeof lines === "string" ? encoder.encode(lines) : lines]
    // the lines as the first pull's answer, then the body's own pulls (a concatenation of two
    // streams costs three times as much: a relay prepends on every message)
    return Stream.transformPull(body, (pull) =>
      Effect.sync(() => {
        let first = true
        return Effect.suspend(() => {
          if (!first) return pull
          first = false
          return Effect.succeed(head)
        })
      })
    )
  }
)

/**
 * A message that already carries this hop's field: the field, and the body under it.
 *
 * @since 0.2.0
 * @category models
 */
export interface Traced {
  readonly field: Uint8Array
  readonly body: Message.Message["body"]
}

const marks = new WeakMap<Message.Message, Traced>()

/**
 * The field of this hop, if `message` was handed on with one already (by a `Router`).
 *
 * @since 0.2.0
 * @category getters
 */
export const traced = (message: Message.Message): Traced | undefined => marks.get(message)

/**
 * The message with this hop's field on top of its body, marked so that the handlers it goes to
 * add no second one. `id` lets the copies of one transaction (a Router's routes) share theirs.
 *
 * @since 0.2.0
 * @category combinators
 */
export const trace = (
  session: SessionInfo,
  message: Message.Message,
  transaction?: string
): Effect.Effect<Message.Message> =>
  Effect.map(
    make(
      session,
      message.envelope.recipients.map((r) => r.address),
      transaction
    ),
    (text) => withField(message, encoder.encode(text))
  )

/**
 * The message with `field` (this hop's, made already) on top of its body, marked as `trace`
 * marks it: how a Router behind another Router passes the outer one's field on.
 *
 * @since 0.2.0
 * @category combinators
 */
export const withField = (message: Message.Message, field: Uint8Array): Message.Message => {
  const marked: Message.Message = { ...message, body: prepend(message.body, field) }
  marks.set(marked, { field, body: message.body })
  return marked
}

/**
 * The refusal of a message that has been through too many servers (RFC 3463: 5.4.6 routing loop).
 *
 * @since 0.2.0
 * @category errors
 */
export const tooManyHops = (count: number): SmtpError.Custom =>
  new SmtpError.Custom({
    code: 554,
    enhanced: "5.4.6",
    text: `Too many hops (${count} Received: fields): mail loop suspected`
  })

const CR = 13
const LF = 10
const name = Array.from("received:", (c) => c.charCodeAt(0))

// Counts the `Received:` fields of a header section given in chunks. Only the first bytes of
// each header line are looked at one by one; the rest of a line is skipped with indexOf. Done
// at the first empty line (the body is never scanned).
const counter = () => {
  let count = 0
  let done = false
  let matched = 0 // bytes of "received:" matched at the start of the current line
  let decided = false // the current line is known to be (or not be) a Received: field
  const scan = (chunk: Uint8Array) => {
    let i = 0
    while (i < chunk.length && !done) {
      if (decided) {
        const lf = chunk.indexOf(LF, i)
        if (lf < 0) return
        i = lf + 1
        decided = false
        matched = 0
        continue
      }
      const byte = chunk[i]!
      // an empty line (CRLF, or a bare LF) ends the header section
      if (matched === 0 && (byte === CR || byte === LF)) {
        done = true
        return
      }
      const lower = byte >= 65 && byte <= 90 ? byte | 0x20 : byte
      if (lower === name[matched]) {
        matched += 1
        if (matched === name.length) {
          count += 1
          decided = true
        }
      } else {
        decided = true
        continue
      }
      i += 1
    }
  }
  return {
    scan,
    get count() {
      return count
    },
    get done() {
      return done
    }
  }
}

/**
 * The body, failing with `tooManyHops` (554 5.4.6) as soon as its header section shows more
 * than `max` `Received:` fields. Chunks pass as they come: a handler that sent some on (a relay)
 * must abort what it started when the stream fails.
 *
 * @since 0.2.0
 * @category combinators
 */
export const limitHops: {
  (max: number): <E, R>(body: Stream.Stream<Uint8Array, E, R>) => Stream.Stream<Uint8Array, E | SmtpError.Custom, R>
  <E, R>(body: Stream.Stream<Uint8Array, E, R>, max: number): Stream.Stream<Uint8Array, E | SmtpError.Custom, R>
} = dual(
  2,
  <E, R>(body: Stream.Stream<Uint8Array, E, R>, max: number): Stream.Stream<Uint8Array, E | SmtpError.Custom, R> =>
    Stream.transformPull(body, (pull) =>
      Effect.sync(() => {
        const hops = counter()
        return Effect.flatMap(pull, (chunks) => {
          if (hops.done) return Effect.succeed(chunks)
          for (const chunk of chunks) {
            hops.scan(chunk)
            if (hops.count > max) return Effect.fail(tooManyHops(hops.count))
            if (hops.done) break
          }
          return Effect.succeed(chunks)
        })
      })
    )
)
