/**
 * A `data` hook's answer per recipient. Over LMTP (RFC 2033 §4.2) the server replies once for
 * every accepted recipient after the end of the data, in RCPT order; a handler that delivers
 * to each separately (mailboxes, routes, an LMTP upstream) says how each went. Over SMTP the
 * message gets one reply: the verdicts are folded into it (`combined`).
 *
 * @since 0.2.0
 */
import * as Reply from "../protocol/Reply.js"
import * as SmtpError from "../protocol/SmtpError.js"

/**
 * One recipient's outcome: accepted (`undefined`, or a 2xx Reply of its own), or refused (an
 * SMTP error, or a 4xx/5xx Reply).
 *
 * @since 0.2.0
 * @category models
 */
export type Verdict = void | undefined | Reply.Reply | SmtpError.SmtpError

/**
 * @since 0.2.0
 * @category models
 */
export class PerRecipient {
  readonly _tag = "PerRecipient"
  /** In RCPT order, one for each recipient of the envelope. */
  constructor(readonly verdicts: ReadonlyArray<Verdict>) {}
}

/**
 * What a `data` hook returns to answer each recipient on its own.
 *
 * @since 0.2.0
 * @category constructors
 */
export const perRecipient = (verdicts: ReadonlyArray<Verdict>): PerRecipient => new PerRecipient(verdicts)

/**
 * Is this a `PerRecipient` (a hook written in plain JS may return anything)?
 *
 * @since 0.2.0
 * @category guards
 */
export const isPerRecipient = (u: unknown): u is PerRecipient => u instanceof PerRecipient

/**
 * The reply one verdict stands for.
 *
 * @since 0.2.0
 * @category getters
 */
export const replyOf = (verdict: Verdict): Reply.Reply => {
  if (verdict === undefined) return Reply.accepted
  if (verdict instanceof Reply.Reply) return verdict
  return SmtpError.reply(verdict)
}

/**
 * The replies of `count` recipients, in order: a recipient without a verdict gets `451 4.3.0`
 * (the handler did not say, so nothing is promised).
 *
 * @since 0.2.0
 * @category getters
 */
export const replies = (verdicts: PerRecipient, count: number): ReadonlyArray<Reply.Reply> =>
  Array.from({ length: count }, (_, i) =>
    i < verdicts.verdicts.length ? replyOf(verdicts.verdicts[i]) : Reply.localError
  )

/**
 * The one reply of an SMTP transaction: accepted only when every recipient was. Otherwise the
 * first refusal, a temporary one first, so that the client retries rather than a recipient
 * being lost (some recipients may then get the message twice: better than never).
 *
 * @since 0.2.0
 * @category getters
 */
export const combined = (verdicts: PerRecipient, count: number): Reply.Reply => {
  const all = replies(verdicts, count)
  const refused = all.filter((reply) => reply.code >= 400)
  if (refused.length === 0) return all[0] ?? Reply.accepted
  return refused.find((reply) => reply.code < 500) ?? refused[0]!
}
