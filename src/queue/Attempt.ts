/**
 * One delivery attempt of a queued message: MAIL, each waiting recipient's RCPT, and the content
 * to those the upstream took, one command at a time so that every recipient's reply is its own.
 * Each recipient comes out delivered (2xx), deferred (4xx, or no answer) or bounced (5xx).
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { type ClientError, toSmtpError } from "../client/ClientError.js"
import * as SmtpClient from "../client/SmtpClient.js"
import * as Reply from "../protocol/Reply.js"
import * as SmtpError from "../protocol/SmtpError.js"
import * as MailQueue from "./MailQueue.js"

/**
 * What became of one recipient.
 *
 * @since 0.2.0
 * @category models
 */
export interface Outcome {
  readonly index: number
  readonly state: "delivered" | "deferred" | "bounced"
  readonly reply: Reply.Reply
  /**
   * A delivered recipient's success as the queue reports it, when its upstream does not offer
   * DSN (and so cannot report it in turn, RFC 3461 §5.2.2): `relayed` to an SMTP server,
   * `delivered` to an LMTP one (the final delivery). Absent when the upstream took NOTIFY on.
   */
  readonly success?: "relayed" | "delivered" | undefined
}

// no connection to the upstream: the reply each recipient keeps, and how the delivery knows it
const connectFailed = Reply.make(451, "4.4.1", "Upstream unavailable (connect)")

const stateOf = (reply: Reply.Reply): Outcome["state"] =>
  reply.code < 400 ? "delivered" : reply.code < 500 ? "deferred" : "bounced"

// the reply a client error stands for: a refusal as the upstream gave it, a connection that
// failed as a temporary local problem (never the details, which go to the log)
const replyOf = (error: ClientError | MailQueue.QueueError): Reply.Reply => {
  if (error._tag === "QueueError") return Reply.make(451, "4.3.0", "The queue could not read the message")
  if (error._tag === "UpstreamUnavailable") {
    return error.reason === "connect"
      ? connectFailed
      : Reply.make(451, "4.4.1", `Upstream unavailable (${error.reason})`)
  }
  if (error._tag === "UpstreamRefused") return error.reply
  return SmtpError.reply(toSmtpError(error))
}

const all = (recipients: ReadonlyArray<MailQueue.QueuedRecipient>, reply: Reply.Reply): Array<Outcome> =>
  recipients.map((r) => ({ index: r.index, state: stateOf(reply), reply }))

/**
 * Did the attempt find the upstream unreachable (no connection, or none that greeted)?
 *
 * @since 0.2.0
 * @category getters
 */
export const unreachable = (outcomes: ReadonlyArray<Outcome>): boolean =>
  outcomes.length > 0 && outcomes.every((o) => o.reply === connectFailed)

/**
 * Tries `message`'s waiting recipients at `upstream`. Never fails: a failure is each recipient's
 * outcome. A connection lost after the content was sent leaves its recipients deferred: they may
 * get the message twice (delivery is at least once).
 *
 * @since 0.2.0
 * @category constructors
 */
export const run = (
  queue: MailQueue.Service,
  client: SmtpClient.SmtpClient["Service"],
  message: MailQueue.QueuedMessage,
  upstream: SmtpClient.Options
): Effect.Effect<ReadonlyArray<Outcome>> => {
  const waiting = MailQueue.pending(message)
  return Effect.gen(() => attemptSteps(queue, client, message, upstream, waiting)).pipe(
    Effect.scoped,
    Effect.catch((error) => Effect.succeed(all(waiting, replyOf(error)))),
    Effect.map((outcomes) => outcomes.slice().sort((a, b) => a.index - b.index))
  )
}

// a generator function of the module's, not one made per call: V8 keeps those in the old
// generation with all they capture (docs/performance/gc.md)
function* attemptSteps(
  queue: MailQueue.Service,
  client: SmtpClient.SmtpClient["Service"],
  message: MailQueue.QueuedMessage,
  upstream: SmtpClient.Options,
  waiting: ReadonlyArray<MailQueue.QueuedRecipient>
) {
  const connection = yield* client.connect(upstream)
  const mail = yield* Effect.result(connection.mail(message.mailFrom, message.mailParameters))
  if (Result.isFailure(mail)) return all(waiting, replyOf(mail.failure))
  const outcomes: Array<Outcome> = []
  const taken: Array<MailQueue.QueuedRecipient> = []
  for (const [i, recipient] of waiting.entries()) {
    const rcpt = yield* Effect.result(connection.rcpt(recipient.address, recipient.parameters))
    if (Result.isSuccess(rcpt)) taken.push(recipient)
    else if (rcpt.failure._tag === "UpstreamRefused") {
      outcomes.push({ index: recipient.index, state: stateOf(rcpt.failure.reply), reply: rcpt.failure.reply })
    } else return [...outcomes, ...all([...taken, ...waiting.slice(i)], replyOf(rcpt.failure))]
  }
  if (taken.length === 0) {
    yield* Effect.ignore(connection.rset)
    return outcomes
  }
  const replies = yield* Effect.result(connection.dataReplies(queue.body(message.id)))
  if (Result.isFailure(replies)) return [...outcomes, ...all(taken, replyOf(replies.failure))]
  const success = connection.extensions.has("DSN") ? undefined : upstream.lmtp === true ? "delivered" : "relayed"
  for (const [i, recipient] of taken.entries()) {
    const reply = replies.success[i]?.reply ?? Reply.localError
    const state = stateOf(reply)
    outcomes.push({ index: recipient.index, state, reply, ...(state === "delivered" ? { success } : {}) })
  }
  return outcomes
}

/**
 * The text a reply is kept as in the queue (`last_reply`).
 *
 * @since 0.2.0
 * @category utils
 */
export const text = (reply: Reply.Reply): string =>
  [reply.code, reply.enhanced, reply.lines.join(" ")].filter((part) => part !== undefined).join(" ")
