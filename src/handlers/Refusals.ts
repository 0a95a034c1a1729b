/**
 * Recipients refused after our 250: a relay whose LMTP upstream refused some recipients after
 * the data (to an SMTP client), or a router that delivered to some routes and not others, has
 * already told the client the message was taken. SMTP cannot say more after that, so the
 * refusals go to a hook (a bounce generator, an alert), never nowhere. (A relay in `queue` mode
 * does not use it: the queue's delivery sends the sender a bounce itself.)
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type { SessionInfo } from "../handler/SessionInfo.js"
import * as Reply from "../protocol/Reply.js"
import * as Metrics from "../server/Metrics.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Refusal {
  readonly session: SessionInfo
  readonly mailFrom: string
  readonly recipients: ReadonlyArray<{ readonly address: string; readonly reply: Reply.Reply }>
}

/**
 * @since 0.1.0
 * @category models
 */
export type OnRefused = (refusal: Refusal) => Effect.Effect<void>

/**
 * The default: a warning in the log for each message, and the
 * `smtp_recipients_refused_after_accept_total` counter.
 *
 * @since 0.1.0
 * @category constructors
 */
export const logAndCount: OnRefused = (refusal) =>
  Effect.andThen(
    Metric.update(Metrics.recipientsRefusedLate, refusal.recipients.length),
    Effect.logWarning("recipients refused after the message was accepted").pipe(
      Effect.annotateLogs({
        session: refusal.session.id,
        from: refusal.mailFrom,
        refused: refusal.recipients.map((r) => `${r.address}: ${Reply.encode(r.reply, true).trimEnd()}`).join("; ")
      })
    )
  )
