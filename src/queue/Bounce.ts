/**
 * Delivery status notifications (RFC 3464 in an RFC 6522 `multipart/report`): the bounce the
 * queue sends to a message's sender when it gives up on recipients, the delay warning and the
 * success report, built as bytes ready to be queued; and the rules on whom to send them (RFC 3461
 * `NOTIFY`, never to the null sender, never for a bounce).
 *
 * @since 0.2.0
 */
import * as Address from "../protocol/Address.js"
import * as Ascii from "../protocol/Ascii.js"
import type * as Dsn from "../protocol/Dsn.js"
import * as MailDate from "../protocol/MailDate.js"
import * as Reply from "../protocol/Reply.js"

/**
 * What became of a recipient (RFC 3464 §2.3.3, the actions the queue reports): `relayed` is a
 * success handed to an upstream that does not offer DSN, which will not report it in turn.
 *
 * @since 0.2.0
 * @category models
 */
export type Action = "failed" | "delayed" | "delivered" | "relayed"

/**
 * One recipient of the report.
 *
 * @since 0.2.0
 * @category models
 */
export interface Recipient {
  /** The forward-path the queue delivered to. */
  readonly address: string
  /** RCPT's `ORCPT` (decoded), reported as Original-Recipient. */
  readonly orcpt?: Dsn.RcptDsn["orcpt"]
  readonly action: Action
  /** The RFC 3463 status; by default the reply's enhanced code, else `5.0.0` / `4.0.0` / `2.0.0`. */
  readonly status?: string | undefined
  /** The remote reply (`smtp; 550 5.1.1 …`), or a local reason (`X-Effect-Smtpd; …`). */
  readonly diagnostic?: Reply.Reply | string | undefined
  /** The host that gave the reply. */
  readonly remoteMta?: string | undefined
  /** When the last attempt was made; `now` by default. */
  readonly lastAttemptDate?: number | undefined
}

/**
 * What a report is built from. Dates are epoch milliseconds.
 *
 * @since 0.2.0
 * @category models
 */
export interface Input {
  /** Our host name: Reporting-MTA, and the domain of `MAILER-DAEMON`. */
  readonly reportingMta: string
  /** When the message was queued. */
  readonly arrivalDate: number
  /** When the report is made: its Date. */
  readonly now: number
  readonly originalEnvelope: {
    /** The original reverse-path: where the report goes. */
    readonly mailFrom: string
    readonly envid?: string | undefined
    readonly ret?: Dsn.Ret | undefined
  }
  readonly recipients: ReadonlyArray<Recipient>
  /** The original message, header section and body, CRLF line endings. */
  readonly original: Uint8Array
  /** Until when delayed recipients are retried (arrival + lifetime): Will-Retry-Until. */
  readonly willRetryUntil?: number | undefined
  /** The report's Message-ID, with its angle brackets; one derived from the input by default. */
  readonly messageId?: string | undefined
}

/**
 * The envelope a report is sent with: the null reverse-path (RFC 5321 §4.5.5, RFC 3464 §2), so
 * that a report that cannot be delivered is never reported on in turn.
 *
 * @since 0.2.0
 * @category models
 */
export interface Envelope {
  readonly mailFrom: ""
  readonly rcptTo: ReadonlyArray<string>
  /** `8BITMIME` when the report carries 8-bit text (an 8-bit original, a UTF-8 address). */
  readonly body: "7BIT" | "8BITMIME"
  /** The sender's address is not ASCII: the report needs SMTPUTF8 (RFC 6531). */
  readonly smtpUtf8: boolean
}

const notifyKeyword = { failed: "FAILURE", delayed: "DELAY", delivered: "SUCCESS", relayed: "SUCCESS" } as const

/**
 * Does the recipient want a report of this action (RFC 3461 §4.1)? `NEVER`: no report; a
 * `NOTIFY` list: the actions it names; no `NOTIFY`: failures and delays, not successes. Delays
 * are further subject to local policy: `Backoff.delayWarningDue` is false unless the policy
 * enables warnings, as Postfix sends none while `delay_warning_time` is off.
 *
 * @since 0.2.0
 * @category utils
 */
export const shouldReport = (action: Action, notify: Dsn.Notify | undefined): boolean => {
  if (notify === undefined) return action === "failed" || action === "delayed"
  if (notify === "NEVER") return false
  return notify.includes(notifyKeyword[action])
}

/**
 * May a report be sent about this message at all? Never to the null reverse-path `<>` (RFC 5321
 * §4.5.5: it is how a report says "do not report on me"), never about a report (`isBounce`).
 *
 * @since 0.2.0
 * @category utils
 */
export const mayBounce = (message: { readonly mailFrom: string; readonly isBounce: boolean }): boolean =>
  !message.isBounce && message.mailFrom !== "" && message.mailFrom !== "<>"

const encoder = new TextEncoder()

const formatDate = MailDate.format

// header and status fields are 7-bit, one line: a remote's reply text could carry anything
const printable = (text: string): string => text.replace(/[^\x20-\x7e]/g, "?")

// RFC 5322 §2.2.3: lines of at most 78 characters, folded before a space
const field = (name: string, value: string): string => {
  let line = `${name}:`
  let out = ""
  for (const word of printable(value).split(" ")) {
    if (line.length + 1 + word.length > 78 && line.length > name.length + 1) {
      out += `${line}\r\n`
      line = ""
    }
    line += ` ${word}`
  }
  return `${out}${line}\r\n`
}

// RFC 6533 §3 utf-8-addr-xtext: QCHAR as is, anything else as \x{HEX}, so the field stays ASCII
const utf8AddrXtext = (address: string): string => {
  let out = ""
  for (const char of address) {
    const code = char.codePointAt(0)!
    const qchar = code >= 0x21 && code <= 0x7e && code !== 0x2b && code !== 0x3d && code !== 0x5c
    out += qchar ? char : `\\x{${code.toString(16).toUpperCase().padStart(2, "0")}}`
  }
  return out
}

// RFC 3464 §2.3.1-2: "address-type; address", utf-8 (RFC 6533) for what ASCII cannot hold
const typedAddress = (addressType: string, address: string): string =>
  Ascii.upper(addressType) === "UTF-8" || !Address.isAscii(address)
    ? `utf-8; ${utf8AddrXtext(address)}`
    : `${addressType}; ${address}`

const replyText = (reply: Reply.Reply): string =>
  `${reply.code}${reply.enhanced === undefined ? "" : ` ${reply.enhanced}`} ${reply.lines.join(" ")}`

const defaultClass = { failed: "5", delayed: "4", delivered: "2", relayed: "2" } as const

// RFC 3464 §2.3.4: the reply's enhanced code, else its class with "unspecified" detail
const statusOf = (recipient: Recipient): string => {
  const { diagnostic } = recipient
  const status =
    recipient.status ??
    (diagnostic instanceof Reply.Reply
      ? (diagnostic.enhanced ?? `${String(diagnostic.code)[0]}.0.0`)
      : `${defaultClass[recipient.action]}.0.0`)
  if (!Reply.isEnhancedStatus(status)) throw new RangeError(`invalid status ${status} for ${recipient.address}`)
  return status
}

const severity: ReadonlyArray<Action> = ["failed", "delayed", "relayed", "delivered"]

// the gravest action decides the subject and the text: a failure outweighs a delay
const mainAction = (input: Input): Action =>
  severity.find((action) => input.recipients.some((r) => r.action === action)) ?? "delivered"

const subjects = {
  failed: "Undelivered Mail Returned to Sender",
  delayed: "Delayed Mail (still being retried)",
  delivered: "Successful Mail Delivery Report",
  relayed: "Successful Mail Delivery Report"
} as const

const intro = (input: Input, action: Action): ReadonlyArray<string> => {
  switch (action) {
    case "failed":
      return [
        "Your message could not be delivered to one or more of its",
        "recipients, listed below with the reason; it is attached."
      ]
    case "delayed": {
      const until = input.willRetryUntil === undefined ? "" : ` until ${formatDate(input.willRetryUntil)}`
      return [
        "A warning only: there is no need to send your message again.",
        "",
        "It has not reached the recipients below yet; delivery will be",
        `tried again${until}.`
      ]
    }
    case "delivered":
      return ["Your message was delivered to the recipients below."]
    case "relayed":
      return [
        "Your message was handed on to the systems of the recipients below,",
        "which do not send delivery reports: this is the last report you",
        "will get from us about them, though they may still tell you of a failure."
      ]
  }
}

const recipientLine = (recipient: Recipient): string => {
  const { diagnostic, remoteMta } = recipient
  const said =
    diagnostic === undefined ? "" : printable(typeof diagnostic === "string" ? diagnostic : replyText(diagnostic))
  const detail = remoteMta === undefined ? said : `host ${printable(remoteMta)} said: ${said}`
  return `<${recipient.address}>: ${recipient.action}${detail === "" ? "" : `, ${detail}`}`
}

const humanText = (input: Input): string =>
  [
    `A report from the mail server at ${input.reportingMta}.`,
    "",
    ...intro(input, mainAction(input)),
    "",
    "Questions about it may go to postmaster at that host.",
    "",
    ...input.recipients.map(recipientLine),
    ""
  ].join("\r\n")

// RFC 3464 §2.2 (per message) and §2.3 (per recipient), one blank line between the groups
const deliveryStatus = (input: Input): string => {
  const { envid } = input.originalEnvelope
  let out = field("Reporting-MTA", `dns; ${input.reportingMta}`)
  if (envid !== undefined) out += field("Original-Envelope-Id", envid)
  out += field("Arrival-Date", formatDate(input.arrivalDate))
  for (const recipient of input.recipients) {
    const { diagnostic, orcpt, remoteMta } = recipient
    out += "\r\n"
    if (orcpt !== undefined) out += field("Original-Recipient", typedAddress(orcpt.addressType, orcpt.address))
    out += field("Final-Recipient", typedAddress("rfc822", recipient.address))
    out += field("Action", recipient.action)
    out += field("Status", statusOf(recipient))
    if (remoteMta !== undefined) out += field("Remote-MTA", `dns; ${remoteMta}`)
    if (diagnostic !== undefined) {
      out += field(
        "Diagnostic-Code",
        typeof diagnostic === "string" ? `X-Effect-Smtpd; ${diagnostic}` : `smtp; ${replyText(diagnostic)}`
      )
    }
    out += field("Last-Attempt-Date", formatDate(recipient.lastAttemptDate ?? input.now))
    if (recipient.action === "delayed" && input.willRetryUntil !== undefined) {
      out += field("Will-Retry-Until", formatDate(input.willRetryUntil))
    }
  }
  return out
}

// the header section, without the blank line that ends it (the whole message if it has no body)
const headerSection = (message: Uint8Array): Uint8Array => {
  let start = 0
  while (start < message.length) {
    const end = message.indexOf(0x0a, start)
    if (end === -1) break
    if (end === start || (end === start + 1 && message[start] === 0x0d)) return message.subarray(0, start)
    start = end + 1
  }
  return message
}

const isEightBit = (bytes: Uint8Array): boolean => bytes.some((byte) => byte >= 0x80)

// RFC 3461 §4.3: RET chooses what a failure notice returns, FULL when the sender did not say
// (Postfix does too: the sender may have no other copy); delays and successes return headers only
const returned = (input: Input, action: Action) =>
  action === "failed" && input.originalEnvelope.ret !== "HDRS"
    ? { type: "message/rfc822", description: "Undelivered Message", content: input.original }
    : {
        type: "text/rfc822-headers",
        description: action === "failed" ? "Undelivered Message Headers" : "Message Headers",
        content: headerSection(input.original)
      }

const contains = (haystack: Uint8Array, needle: Uint8Array): boolean => {
  for (let at = haystack.indexOf(needle[0]!); at !== -1; at = haystack.indexOf(needle[0]!, at + 1)) {
    let i = 1
    while (i < needle.length && haystack[at + i] === needle[i]) i++
    if (i === needle.length) return true
  }
  return false
}

// FNV-1a: a Message-ID and boundary that depend on the input only, so the module stays pure
const hash = (text: string): string => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return (h >>> 0).toString(36)
}

const fingerprint = (input: Input): string =>
  hash(
    [
      input.originalEnvelope.mailFrom,
      input.originalEnvelope.envid ?? "",
      input.arrivalDate,
      input.now,
      ...input.recipients.map((r) => `${r.action} ${r.address}`),
      String.fromCharCode(...headerSection(input.original).subarray(0, 4096))
    ].join("\n")
  )

// RFC 2046 §5.1.1: a boundary no part contains (bchars only; the host name may be a literal)
const boundaryFor = (input: Input, parts: ReadonlyArray<Uint8Array>): string => {
  const base = `${fingerprint(input)}.${input.now}/${input.reportingMta.replace(/[^A-Za-z0-9.-]/g, "-")}`.slice(0, 60)
  for (let n = 0; ; n++) {
    const boundary = n === 0 ? base : `${base}/${n}`
    const delimiter = encoder.encode(`--${boundary}`)
    if (!parts.some((part) => contains(part, delimiter))) return boundary
  }
}

const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(chunks.reduce((n, chunk) => n + chunk.length, 0))
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}

const transferEncoding = (eightBit: boolean) => `Content-Transfer-Encoding: ${eightBit ? "8bit" : "7bit"}\r\n`

/**
 * The envelope to queue the report `make(input)` builds with: from `<>` to the original sender.
 *
 * @since 0.2.0
 * @category constructors
 */
export const envelopeOf = (input: Input): Envelope => {
  const sender = input.originalEnvelope.mailFrom
  const smtpUtf8 = !Address.isAscii(sender)
  const eightBit =
    smtpUtf8 || isEightBit(returned(input, mainAction(input)).content) || !Address.isAscii(humanText(input))
  return { mailFrom: "", rcptTo: [sender], body: eightBit ? "8BITMIME" : "7BIT", smtpUtf8 }
}

/**
 * Builds the report: a `multipart/report; report-type=delivery-status` message (RFC 6522) with
 * a plain-text explanation, the `message/delivery-status` part (RFC 3464) and the original —
 * whole for a failure unless `RET=HDRS`, else its header section. CRLF line endings; the header
 * fields are ASCII except To for a UTF-8 sender (RFC 6532), and a part with 8-bit content says
 * `8bit`. Queue it with `envelopeOf(input)`. Throws a `RangeError` for the null sender: check
 * `mayBounce` first.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (input: Input): Uint8Array => {
  if (!mayBounce({ mailFrom: input.originalEnvelope.mailFrom, isBounce: false })) {
    throw new RangeError("a report is never sent to the null reverse-path")
  }
  const action = mainAction(input)
  const text = humanText(input)
  const textAscii = Address.isAscii(text)
  const original = returned(input, action)
  const originalEightBit = isEightBit(original.content)
  const bodies = [encoder.encode(text), encoder.encode(deliveryStatus(input)), original.content]
  const boundary = boundaryFor(input, bodies)
  const sender = input.originalEnvelope.mailFrom
  const headers =
    field("From", `Mail Delivery System <MAILER-DAEMON@${input.reportingMta}>`) +
    // the sender may be UTF-8 (RFC 6532 allows it in To); `printable` would mangle it
    `To: <${sender.replace(/[\r\n]/g, "")}>\r\n` +
    field("Subject", subjects[action]) +
    field("Date", formatDate(input.now)) +
    field("Message-ID", input.messageId ?? `<${input.now.toString(36)}.${fingerprint(input)}@${input.reportingMta}>`) +
    "Auto-Submitted: auto-replied\r\n" +
    "MIME-Version: 1.0\r\n" +
    `Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="${boundary}"\r\n` +
    transferEncoding(!textAscii || originalEightBit) +
    "\r\nThis is a MIME-encapsulated message.\r\n"
  const partHeaders = [
    `Content-Description: Notification\r\nContent-Type: text/plain; charset=${textAscii ? "us-ascii" : "utf-8"}\r\n` +
      transferEncoding(!textAscii),
    "Content-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n",
    `Content-Description: ${original.description}\r\nContent-Type: ${original.type}\r\n` +
      transferEncoding(originalEightBit)
  ]
  const chunks: Array<Uint8Array> = [encoder.encode(headers)]
  bodies.forEach((body, i) => {
    // the CRLF before each delimiter belongs to the delimiter (RFC 2046 §5.1.1)
    chunks.push(encoder.encode(`\r\n--${boundary}\r\n${partHeaders[i]}\r\n`), body)
  })
  chunks.push(encoder.encode(`\r\n--${boundary}--\r\n`))
  return concat(chunks)
}
