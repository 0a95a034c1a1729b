/**
 * smtpd's `DebuggingServer`: accepts every message and prints it on standard output, through
 * Effect's `Console` (provide your own `Console.Console` to capture the output).
 *
 * The `text` format is smtpd's block: `---------- MESSAGE FOLLOWS ----------`, the MAIL options
 * and RCPT options when there are any (as Python lists), the message lines with
 * `X-Peer: <client address>` inserted at the end of the header block, then
 * `------------ END MESSAGE ------------`. The body is printed as UTF-8 text, invalid sequences
 * replaced by U+FFFD, one line per CRLF (or bare CR/LF) without the line ending.
 *
 * One difference from smtpd, on purpose: a message without an empty line (no body) still gets
 * its `X-Peer`, after the last line; smtpd printed it only at the first empty line, so for such
 * a message it never said who sent it.
 *
 * The `json` format prints exactly one line per message, for scripts: `peer` (`host:port`),
 * `helo`, `mail_from`, `rcpt_to`, `mail_options`, `rcpt_options`, `body` (the BODY= type),
 * the DSN requests (RFC 3461) `ret`, `envid` (decoded) and `rcpt_dsn` (one entry per `rcpt_to`:
 * `null`, or `notify`, a list, and `orcpt`, `{ type, address }` with the address decoded), `size`
 * (body bytes), `received_at` (ISO 8601) and `content_b64` (the exact body bytes in base64);
 * absent values are `null`. The text format shows the DSN parameters as the client wrote them,
 * in the options lines, as smtpd did.
 *
 * Each message is printed with one `Console.log` call, so the output of concurrent sessions
 * never interleaves. The whole body is read into memory first: this is a debugging server.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { Base64 } from "effect/encoding"
import * as Layer from "effect/Layer"
import * as Message from "../handler/Message.js"
import * as MessageHandler from "../handler/MessageHandler.js"
import { formatEndpoint, type SessionInfo } from "../handler/SessionInfo.js"
import type * as Session from "../protocol/Session.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** `text` (default): smtpd's block; `json`: one JSON object per line. */
  readonly format?: "text" | "json" | undefined
}

const begin = "---------- MESSAGE FOLLOWS ----------"
const end = "------------ END MESSAGE ------------"

// Python's str.isprintable() is false for these categories (the space excepted): repr escapes them
const unprintable = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u

const hex = (codePoint: number, digits: number) => codePoint.toString(16).padStart(digits, "0")

// Python's repr() of a str, so the options lines read as smtpd printed them
const pythonRepr = (text: string): string => {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'"
  let out = quote
  for (const char of text) {
    if (char === "\\" || char === quote) out += `\\${char}`
    else if (char === "\t") out += "\\t"
    else if (char === "\n") out += "\\n"
    else if (char === "\r") out += "\\r"
    else if (char !== " " && unprintable.test(char)) {
      const codePoint = char.codePointAt(0)!
      out +=
        codePoint < 0x100
          ? `\\x${hex(codePoint, 2)}`
          : codePoint < 0x10000
            ? `\\u${hex(codePoint, 4)}`
            : `\\U${hex(codePoint, 8)}`
    } else out += char
  }
  return out + quote
}

const pythonList = (items: ReadonlyArray<string>) => `[${items.map(pythonRepr).join(", ")}]`

// bytes.splitlines(): CRLF, CR and LF end a line; a final line ending does not start another
const splitLines = (text: string): Array<string> => {
  const lines = text.split(/\r\n|\r|\n/)
  if (lines[lines.length - 1] === "") lines.pop()
  return lines
}

const formatText = (session: SessionInfo, message: Message.Message, data: Uint8Array): string => {
  const out = [begin]
  const mailOptions = Message.mailOptions(message)
  const rcptOptions = Message.rcptOptions(message)
  if (mailOptions.length > 0) out.push(`mail options: ${pythonList(mailOptions)}`)
  // smtpd printed an empty line after the RCPT options (and only after them)
  if (rcptOptions.length > 0) out.push(`rcpt options: ${pythonList(rcptOptions)}`, "")
  const peer = `X-Peer: ${session.peer.address}`
  let inHeaders = true
  for (const line of splitLines(new TextDecoder().decode(data))) {
    if (inHeaders && line === "") {
      out.push(peer)
      inHeaders = false
    }
    out.push(line)
  }
  if (inHeaders) out.push(peer)
  out.push(end)
  return out.join("\n")
}

// NOTIFY as a list always (NEVER is ["NEVER"]), so scripts read one shape
const rcptDsn = ({ dsn }: Session.Recipient) => {
  if (dsn === undefined) return null
  const { notify, orcpt } = dsn
  return {
    notify: notify === undefined ? null : notify === "NEVER" ? [notify] : notify,
    orcpt: orcpt === undefined ? null : { type: orcpt.addressType, address: orcpt.address }
  }
}

const formatJson = (session: SessionInfo, message: Message.Message, data: Uint8Array, receivedAt: number): string =>
  JSON.stringify({
    peer: formatEndpoint(session.peer),
    helo: session.greeting?.name ?? null,
    mail_from: Message.mailFrom(message),
    rcpt_to: Message.rcptTos(message),
    mail_options: Message.mailOptions(message),
    rcpt_options: Message.rcptOptions(message),
    body: message.envelope.mailOptions.body ?? null,
    ret: message.envelope.mailOptions.ret ?? null,
    envid: message.envelope.mailOptions.envid ?? null,
    rcpt_dsn: message.envelope.recipients.map(rcptDsn),
    size: data.length,
    received_at: new Date(receivedAt).toISOString(),
    content_b64: Base64.encode(data)
  })

/**
 * The handler: prints each message and accepts it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): MessageHandler.Handler =>
  MessageHandler.make({
    data: (session, message) =>
      Effect.flatMap(Message.bytes(message), (data) =>
        options.format === "json"
          ? Effect.flatMap(Clock.currentTimeMillis, (now) => Console.log(formatJson(session, message, data, now)))
          : Console.log(formatText(session, message, data))
      )
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<MessageHandler.MessageHandler> =>
  Layer.succeed(MessageHandler.MessageHandler, make(options))
