/**
 * The errors a message handler fails with, each knowing its SMTP reply (RFC 5321 §4.2,
 * enhanced codes per RFC 3463). `reply` maps them; its match is exhaustive at compile time.
 * Any other failure or defect of a handler becomes `451 4.3.0` and is logged, never shown.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Match from "effect/Match"
import * as Schema from "effect/Schema"
import * as Reply from "./Reply.js"

const text = { text: Schema.optional(Schema.String) }

/**
 * A sender the handler refuses: `501 5.1.7` ("Bad sender address", or `text`).
 *
 * @since 0.1.0
 * @category errors
 */
export class BadSender extends Schema.TaggedError<BadSender>()("BadSender", text) {}
/**
 * A recipient address the handler refuses: `501 5.1.3` ("Bad recipient address", or `text`).
 *
 * @since 0.1.0
 * @category errors
 */
export class BadRecipient extends Schema.TaggedError<BadRecipient>()("BadRecipient", text) {}
/**
 * No such mailbox here: `550 5.1.1`.
 *
 * @since 0.1.0
 * @category errors
 */
export class MailboxNotFound extends Schema.TaggedError<MailboxNotFound>()("MailboxNotFound", text) {}
/**
 * A mailbox that cannot take mail now (`transient`: `450 4.2.1`) or at all (`550 5.2.1`).
 *
 * @since 0.1.0
 * @category errors
 */
export class MailboxUnavailable extends Schema.TaggedError<MailboxUnavailable>()("MailboxUnavailable", {
  ...text,
  transient: Schema.Boolean.pipe(Schema.withConstructorDefault(Effect.succeed(false)))
}) {}
/**
 * A recipient this server will not relay to: `550 5.7.1`.
 *
 * @since 0.1.0
 * @category errors
 */
export class RelayDenied extends Schema.TaggedError<RelayDenied>()("RelayDenied", text) {}
/**
 * One recipient too many for this message: `452 4.5.3` (the client may send the rest in another).
 *
 * @since 0.1.0
 * @category errors
 */
export class TooManyRecipients extends Schema.TaggedError<TooManyRecipients>()("TooManyRecipients", text) {}
/**
 * The message is over the size limit: `552 5.3.4`.
 *
 * @since 0.1.0
 * @category errors
 */
export class MessageTooBig extends Schema.TaggedError<MessageTooBig>()("MessageTooBig", text) {}
/**
 * The message had a bare CR or LF and the server's policy is `reject`: `550 5.6.11`.
 *
 * @since 0.1.0
 * @category errors
 */
export class BareLineEnding extends Schema.TaggedError<BareLineEnding>()("BareLineEnding", text) {}
/**
 * The message could not be stored (a full disk, a failed write): `452 4.3.1`; `cause` is logged, never sent.
 *
 * @since 0.1.0
 * @category errors
 */
export class StorageError extends Schema.TaggedError<StorageError>()("StorageError", {
  ...text,
  cause: Schema.optional(Schema.Defect())
}) {}
/**
 * Too busy to serve now: `421 4.3.2`, and the connection closes.
 *
 * @since 0.1.0
 * @category errors
 */
export class ServerBusy extends Schema.TaggedError<ServerBusy>()("ServerBusy", text) {}

/**
 * Any other reply, checked: a 4xx or 5xx code, and an enhanced code of the same class; the
 * reply is `code enhanced text` as given.
 *
 * @since 0.1.0
 * @category errors
 */
export class Custom extends Schema.TaggedError<Custom>()(
  "Custom",
  Schema.Struct({
    code: Schema.Int.check(Schema.isBetween({ minimum: 400, maximum: 599 })),
    enhanced: Schema.optional(Schema.String),
    text: Schema.String
  }).check(
    Schema.makeFilter(
      ({ code, enhanced }) =>
        enhanced === undefined ||
        (Reply.isEnhancedStatus(enhanced) && enhanced[0] === String(code)[0]) ||
        "enhanced status code must be class.subject.detail of the reply's class"
    )
  )
) {}

/**
 * @since 0.1.0
 * @category models
 */
/**
 * A reply another server gave, passed on as it was (the relay's upstream refusing a recipient):
 * `code enhanced lines`.
 *
 * @since 0.1.0
 * @category errors
 */
export class Upstream extends Schema.TaggedError<Upstream>()("Upstream", {
  code: Schema.Int.check(Schema.isBetween({ minimum: 400, maximum: 599 })),
  enhanced: Schema.optional(Schema.String),
  lines: Schema.Array(Schema.String)
}) {}

export type SmtpError =
  | BadSender
  | BadRecipient
  | MailboxNotFound
  | MailboxUnavailable
  | RelayDenied
  | TooManyRecipients
  | MessageTooBig
  | BareLineEnding
  | StorageError
  | ServerBusy
  | Custom
  | Upstream

const withText = (base: Reply.Reply, custom: string | undefined) =>
  custom === undefined ? base : Reply.withText(base, custom)

const toReply = Match.type<SmtpError>().pipe(
  Match.tagsExhaustive({
    BadSender: (e) => Reply.badSender(e.text ?? "Bad sender address"),
    BadRecipient: (e) => Reply.badRecipient(e.text ?? "Bad recipient address"),
    MailboxNotFound: (e) => Reply.make(550, "5.1.1", e.text ?? "Mailbox not found"),
    MailboxUnavailable: (e) =>
      e.transient
        ? Reply.make(450, "4.2.1", e.text ?? "Mailbox temporarily unavailable")
        : Reply.make(550, "5.2.1", e.text ?? "Mailbox unavailable"),
    RelayDenied: (e) => Reply.make(550, "5.7.1", e.text ?? "Relay access denied"),
    TooManyRecipients: (e) => withText(Reply.tooManyRecipients, e.text),
    MessageTooBig: (e) => withText(Reply.messageTooBig, e.text),
    BareLineEnding: (e) => withText(Reply.bareLineEnding, e.text),
    StorageError: (e) => Reply.make(452, "4.3.1", e.text ?? "Insufficient system storage"),
    ServerBusy: (e) => Reply.make(421, "4.3.2", e.text ?? "Too many connections, try again later"),
    Custom: (e) => Reply.make(e.code, e.enhanced, e.text),
    Upstream: (e) => Reply.make(e.code, e.enhanced, e.lines)
  })
)

/**
 * The reply an error stands for.
 *
 * @since 0.1.0
 * @category conversions
 */
export const reply = (error: SmtpError): Reply.Reply => toReply(error)

const tags = new Set<string>([
  "BadSender",
  "BadRecipient",
  "MailboxNotFound",
  "MailboxUnavailable",
  "RelayDenied",
  "TooManyRecipients",
  "MessageTooBig",
  "BareLineEnding",
  "StorageError",
  "ServerBusy",
  "Custom",
  "Upstream"
])

/**
 * Is `u` one of the SMTP errors?
 *
 * @since 0.1.0
 * @category guards
 */
export const isSmtpError = (u: unknown): u is SmtpError =>
  typeof u === "object" && u !== null && "_tag" in u && tags.has((u as { _tag: string })._tag)
