/**
 * The sync of a SQLite queue's write-ahead log (`SqlMailQueue.layerWith({ sync })`), made sticky:
 * after one failure, every later sync fails too, and so does `intact`. After a sync that failed,
 * the log cannot be trusted: the pages it did not write may be dropped from the cache, a later
 * sync can then succeed without them, and SQLite's recovery stops at the first bad frame, taking
 * every later commit with it. So the first failure fails every later commit too (refused with
 * 451, never acknowledged), and no message is claimed for delivery (its outcome could not be
 * recorded: it would go again when its lease ran out), until the queue is opened again, as
 * PostgreSQL stops on a failed fsync.
 *
 * @since 0.3.0
 */
import * as Effect from "effect/Effect"
import * as MailQueue from "./MailQueue.js"

/**
 * @since 0.3.0
 * @category models
 */
export class SyncedLog {
  private broken: { readonly cause: unknown } | undefined = undefined
  constructor(private readonly syncLog: Effect.Effect<void, unknown>) {}

  readonly sync: Effect.Effect<void, unknown> = Effect.suspend(() =>
    this.broken !== undefined
      ? Effect.fail(this.broken.cause)
      : Effect.tapError(this.syncLog, (cause) =>
          Effect.andThen(
            Effect.sync(() => void (this.broken = { cause })),
            Effect.logError(
              "mail queue: its log could not be synced; nothing more is accepted or delivered until it is opened again",
              cause
            )
          )
        )
  )

  readonly intact: Effect.Effect<void, MailQueue.QueueError> = Effect.suspend(() =>
    this.broken === undefined
      ? Effect.void
      : Effect.fail(new MailQueue.QueueError({ operation: "sync", cause: this.broken.cause }))
  )
}
