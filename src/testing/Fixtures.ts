/**
 * What a handler's hooks are called with, made for a unit test without a server: a
 * `SessionInfo`, a recipient, an envelope and a `Message` whose body streams the bytes you give.
 * Values are as the server makes them (parameters checked, the client on the loopback address),
 * so a hook tested with them sees what it will see in a session.
 *
 * ```ts
 * const message = Fixtures.message("Subject: hi\r\n\r\nhello\r\n", { from: "a@example.com", to: ["b@example.net"] })
 * const reply = yield* handler.data!(Fixtures.sessionInfo({ envelope: message.envelope }), message)
 * ```
 *
 * @since 0.2.0
 */
import * as Stream from "effect/Stream"
import * as Result from "effect/Result"
import type * as Message from "../handler/Message.js"
import type { SessionInfo } from "../handler/SessionInfo.js"
import * as Parameters from "../protocol/Parameters.js"
import type * as Session from "../protocol/Session.js"
import * as TestTransport from "./TestTransport.js"

// every MAIL parameter the server can offer, offered: the fixture checks what is given
const offered: Parameters.Offered = {
  eightBitMime: true,
  smtpUtf8: true,
  maxMessageSize: 0,
  chunking: true,
  dsn: true,
  auth: true
}

const parametersOf = (text: string): Parameters.Parameters => {
  const parsed = Parameters.parse(text)
  if (parsed === undefined) throw new Error(`Fixtures: malformed parameters ${JSON.stringify(text)}`)
  return parsed
}

/**
 * A recipient as RCPT TO gives it: its address and parameters (`"NOTIFY=NEVER"`, say).
 *
 * @since 0.2.0
 * @category constructors
 */
export const recipient = (address: string, parameters = ""): Session.Recipient => ({
  address,
  parameters: parametersOf(parameters)
})

/**
 * @since 0.2.0
 * @category models
 */
export interface EnvelopeOptions {
  /** The reverse-path (default `sender@example.com`; `""` for `<>`). */
  readonly from?: string | undefined
  /** MAIL's parameters as the client sends them (`"SIZE=100 BODY=8BITMIME"`); checked as a server offering everything would. */
  readonly mailParameters?: string | undefined
  /** The recipients: addresses, or `recipient(...)` for ones with parameters (default `recipient@example.com`). */
  readonly to?: ReadonlyArray<string | Session.Recipient> | undefined
}

/**
 * An envelope as MAIL and RCPT leave it; throws on parameters a server would refuse.
 *
 * @since 0.2.0
 * @category constructors
 */
export const envelope = (options: EnvelopeOptions = {}): Session.Envelope => {
  const mailParameters = parametersOf(options.mailParameters ?? "")
  const mailOptions = Parameters.checkMail(mailParameters, offered)
  if (Result.isFailure(mailOptions)) {
    throw new Error(`Fixtures: MAIL parameters refused: ${mailOptions.failure.lines.join(" ")}`)
  }
  return {
    mailFrom: options.from ?? "sender@example.com",
    mailParameters,
    mailOptions: mailOptions.success,
    recipients: (options.to ?? ["recipient@example.com"]).map((to) => (typeof to === "string" ? recipient(to) : to))
  }
}

/**
 * A session as a hook sees it: a client on the loopback address that said EHLO, unless
 * `overrides` say otherwise (`{ envelope: envelope(...) }` for one in a transaction, `{ auth:
 * "alice" }`, `{ peer: { address: "192.0.2.1", port: 40000 } }` for a client from elsewhere).
 *
 * @since 0.2.0
 * @category constructors
 */
export const sessionInfo = (overrides: Partial<SessionInfo> = {}): SessionInfo => ({
  id: "test-session",
  peer: TestTransport.defaultRemote,
  local: TestTransport.defaultLocal,
  hostname: "test.invalid",
  greeting: { name: "client.example.com", esmtp: true },
  envelope: undefined,
  secure: false,
  protocol: "smtp",
  ...overrides
})

/**
 * @since 0.2.0
 * @category models
 */
export interface MessageOptions extends EnvelopeOptions {
  /** The whole envelope, instead of `from`, `to` and `mailParameters`. */
  readonly envelope?: Session.Envelope | undefined
  /** The body in slices of at most this many bytes, as a socket would hand it on (default: one slice). */
  readonly sliceSize?: number | undefined
  /** As on a `decodeData` server. */
  readonly decodeData?: boolean | undefined
}

const encoder = new TextEncoder()

/**
 * A message whose body streams `content` (a string is encoded as UTF-8): what the `data` hook
 * gets once the client has sent DATA. Its body can be read more than once, unlike a session's.
 *
 * @since 0.2.0
 * @category constructors
 */
export const message = (content: string | Uint8Array, options: MessageOptions = {}): Message.Message => {
  const bytes = typeof content === "string" ? encoder.encode(content) : content
  const size = options.sliceSize ?? Math.max(bytes.length, 1)
  if (!(size >= 1)) throw new Error("Fixtures: sliceSize must be at least 1")
  const slices: Array<Uint8Array> = []
  for (let at = 0; at < bytes.length; at += size) slices.push(bytes.subarray(at, at + size))
  return {
    envelope: options.envelope ?? envelope(options),
    body: Stream.fromIterable(slices),
    decodeData: options.decodeData ?? false
  }
}
