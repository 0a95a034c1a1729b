// The server's message metrics as a test sees them: process-global, so compared as deltas.
import { Effect, Metric } from "effect"
import * as Metrics from "../../src/server/Metrics.js"

/** Messages accepted and rejected, and bytes accepted, so far. */
export const counts = Effect.all({
  accepted: Effect.map(Metric.value(Metrics.messagesAccepted), (s) => s.count),
  rejected: Effect.map(Metric.value(Metrics.messagesRejected), (s) => s.count),
  bytes: Effect.map(Metric.value(Metrics.messageSize), (s) => s.sum)
})

/** What each count grew by between two readings. */
export const delta = <A extends Record<string, number>>(before: A, after: A) =>
  Object.fromEntries(Object.keys(before).map((k) => [k, after[k]! - before[k]!]))
