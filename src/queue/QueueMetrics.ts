/**
 * The queue's metrics: what delivery did to recipients (counters), and what waits in the queue
 * (gauges, refreshed by the delivery loop): `smtp_queue_messages{state="queued"|"deferred"}`
 * and the age of the oldest message.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as MailQueue from "./MailQueue.js"

/** @since 0.2.0 @category metrics */
export const delivered = Metric.counter("smtp_queue_delivered_total", {
  description: "Recipients the mail queue delivered.",
  incremental: true
})
/** @since 0.2.0 @category metrics */
export const deferred = Metric.counter("smtp_queue_deferred_total", {
  description: "Delivery attempts that left a recipient deferred, to be tried again.",
  incremental: true
})
/** @since 0.2.0 @category metrics */
export const bounced = Metric.counter("smtp_queue_bounced_total", {
  description: "Recipients the mail queue gave up on (a bounce went to the sender).",
  incremental: true
})
/** @since 0.2.0 @category metrics */
export const messages = Metric.gauge("smtp_queue_messages", { description: "Messages in the mail queue, by state." })
/** @since 0.2.0 @category metrics */
export const oldestAge = Metric.gauge("smtp_queue_oldest_age_seconds", {
  description: "Age of the oldest message in the mail queue, in seconds."
})

/**
 * Counts one attempt's recipients by what became of them.
 *
 * @since 0.2.0
 * @category utils
 */
export const count = (outcomes: ReadonlyArray<{ readonly state: string }>): Effect.Effect<void> => {
  const n = (state: string) => outcomes.filter((o) => o.state === state).length
  return Effect.all(
    [
      Metric.update(delivered, n("delivered")),
      Metric.update(deferred, n("deferred")),
      Metric.update(bounced, n("bounced"))
    ],
    { discard: true }
  )
}

/**
 * Sets the gauges from the queue's stats at `now`.
 *
 * @since 0.2.0
 * @category utils
 */
export const observe = (stats: MailQueue.Stats, now: number): Effect.Effect<void> =>
  Effect.all(
    [
      Metric.update(Metric.withAttributes(messages, { state: "queued" }), stats.queued),
      Metric.update(Metric.withAttributes(messages, { state: "deferred" }), stats.deferred),
      Metric.update(
        oldestAge,
        stats.oldestCreatedAt === undefined ? 0 : Math.max(0, (now - stats.oldestCreatedAt) / 1000)
      )
    ],
    { discard: true }
  )
