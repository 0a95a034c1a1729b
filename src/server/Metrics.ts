/**
 * The server's metrics (process-global, as all Effect metrics: compare them as deltas).
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"
import * as Context from "effect/Context"

/** @since 0.1.0 @category metrics */
export const connectionsTotal = Metric.counter("smtp_connections_total", {
  description: "Connections accepted since the server started.",
  incremental: true
})
/** @since 0.1.0 @category metrics */
export const connectionsActive = Metric.gauge("smtp_connections_active", { description: "Connections open now." })
/** @since 0.1.0 @category metrics */
export const messagesAccepted = Metric.counter("smtp_messages_accepted_total", {
  description: "Messages accepted (250 at the end of DATA or BDAT LAST).",
  incremental: true
})
/** @since 0.1.0 @category metrics */
export const messagesRejected = Metric.counter("smtp_messages_rejected_total", {
  description: "Messages refused at the end of their content (4xx or 5xx).",
  incremental: true
})
/** @since 0.1.0 @category metrics */
export const messageSize = Metric.histogram("smtp_message_size_bytes", {
  description: "Size of the messages accepted, in bytes.",
  boundaries: Metric.exponentialBoundaries({ start: 1024, factor: 4, count: 10 })
})

/**
 * AUTH commands refused for a client's failed attempts across its connections (454 4.7.0).
 *
 * @since 0.1.0
 * @category metrics
 */
export const authRateLimited = Metric.counter("smtp_auth_rate_limited_total", {
  description: "AUTH attempts refused with 454 4.7.0 because the client failed too often.",
  incremental: true
})

/**
 * Recipients that a relay or router accepted from the client and then could not deliver.
 *
 * @since 0.1.0
 * @category metrics
 */
export const recipientsRefusedLate = Metric.counter("smtp_recipients_refused_after_accept_total", {
  description: "Recipients an upstream refused after the message was accepted here (handed to onRefused).",
  incremental: true
})

/**
 * Registers every metric above, so that a reading shows each of them (at 0) before its first
 * use, in the registry of `context` (the process's global one by default).
 *
 * @since 0.1.0
 * @category metrics
 */
export const register = (context: Context.Context<never> = Context.empty()): void => {
  for (const metric of [
    connectionsTotal,
    connectionsActive,
    messagesAccepted,
    messagesRejected,
    recipientsRefusedLate,
    authRateLimited
  ]) {
    metric.valueUnsafe(context)
  }
  messageSize.valueUnsafe(context)
}
