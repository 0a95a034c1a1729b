/**
 * The delivery status notifications the queue sends (RFC 3464): a failure notice for
 * recipients bounced (refused for good, or given up at the end of the lifetime) and a delay
 * warning for recipients still deferred, each only where the recipient's `NOTIFY` asks for it,
 * never to the null sender, never about a notice. A notice goes through the same queue, from
 * `<>` to the original sender, by the same route.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as Dsn from "../protocol/Dsn.js"
import * as Framer from "../protocol/Framer.js"
import type * as Reply from "../protocol/Reply.js"
import * as Bounce from "./Bounce.js"
import * as MailQueue from "./MailQueue.js"

/**
 * Largest original returned whole in a failure notice; a larger one is returned as its header
 * section (Postfix's `bounce_size_limit`).
 *
 * @since 0.2.0
 * @category constants
 */
export const originalLimit = 50_000

/**
 * A recipient to report on, and what happened to it.
 *
 * @since 0.2.0
 * @category models
 */
export interface Entry {
  readonly recipient: MailQueue.QueuedRecipient
  readonly action: Bounce.Action
  readonly reply: Reply.Reply
  /** The upstream that gave the reply (Remote-MTA). */
  readonly remoteMta?: string | undefined
  /** RFC 3463 status to report instead of the reply's (the lifetime's end: 4.4.7). */
  readonly status?: string | undefined
}

const mailDsn = (message: MailQueue.QueuedMessage) => {
  const checked = Dsn.mail(message.mailParameters)
  return Result.isSuccess(checked) ? checked.success : { ret: undefined, envid: undefined }
}

const rcptDsn = (recipient: MailQueue.Recipient) => {
  const checked = Dsn.rcpt(recipient.parameters)
  return Result.isSuccess(checked) ? checked.success : { notify: undefined, orcpt: undefined }
}

// the original to return: whole when small and wanted, else its header section (read no further)
const original = (queue: MailQueue.Service, message: MailQueue.QueuedMessage, whole: boolean) => {
  const body = queue.body(message.id)
  if (whole) return Effect.map(Stream.runCollect(body), (pieces) => new Uint8Array(Framer.concat(pieces)))
  // (Bounce.make keeps the header section of what it is given: the blank line is not needed)
  return Effect.map(MailQueue.header(queue, message.id, 65536), (header) => new Uint8Array(header.bytes))
}

// one notice for each of these: failures, delays, successes
const notices: ReadonlyArray<ReadonlyArray<Bounce.Action>> = [["failed"], ["delayed"], ["delivered", "relayed"]]

/**
 * Sends the notices `entries` call for, if any: one for failures, one for delays, one for
 * successes. Succeeds without sending when nobody wants one.
 *
 * @since 0.2.0
 * @category constructors
 */
export const send = (
  queue: MailQueue.Service,
  options: { readonly hostname: string; readonly now: number; readonly willRetryUntil?: number | undefined },
  message: MailQueue.QueuedMessage,
  entries: ReadonlyArray<Entry>
): Effect.Effect<void, MailQueue.QueueError> => Effect.gen(() => sendSteps(queue, options, message, entries))

// a generator function of the module's, not one made per call: V8 keeps those in the old
// generation with all they capture (docs/performance/gc.md)
function* sendSteps(
  queue: MailQueue.Service,
  options: Parameters<typeof send>[1],
  message: MailQueue.QueuedMessage,
  entries: ReadonlyArray<Entry>
) {
  if (!Bounce.mayBounce({ mailFrom: message.mailFrom, isBounce: message.bounce })) return
  const wanted = entries.filter((e) => Bounce.shouldReport(e.action, rcptDsn(e.recipient).notify))
  for (const actions of notices) {
    const these = wanted.filter((e) => actions.includes(e.action))
    if (these.length === 0) continue
    const dsn = mailDsn(message)
    const whole = actions.includes("failed") && dsn.ret !== "HDRS" && message.size <= originalLimit
    const input: Bounce.Input = {
      reportingMta: options.hostname,
      arrivalDate: message.createdAt,
      now: options.now,
      originalEnvelope: { mailFrom: message.mailFrom, envid: dsn.envid, ret: whole ? "FULL" : "HDRS" },
      recipients: these.map((e) => ({
        address: e.recipient.address,
        orcpt: rcptDsn(e.recipient).orcpt,
        action: e.action,
        status: e.status,
        diagnostic: e.reply,
        remoteMta: e.remoteMta
      })),
      original: yield* original(queue, message, whole),
      willRetryUntil: options.willRetryUntil
    }
    yield* enqueueNotice(queue, message.route, input)
  }
}

const enqueueNotice = (queue: MailQueue.Service, route: string, input: Bounce.Input) => {
  const envelope = Bounce.envelopeOf(input)
  return queue.enqueue(
    {
      route,
      mailFrom: "",
      mailParameters: [
        ...(envelope.body === "8BITMIME" ? [{ keyword: "BODY", value: "8BITMIME" }] : []),
        ...(envelope.smtpUtf8 ? [{ keyword: "SMTPUTF8" }] : [])
      ],
      recipients: envelope.rcptTo.map((address) => ({ address, parameters: [] })),
      bounce: true
    },
    Stream.make(Bounce.make(input))
  )
}
