/**
 * The mail queue: messages accepted for relay are stored here, durably, before the client gets
 * its 250, and delivered from here on the queue's own schedule (`Delivery`), as Postfix's queue
 * manager does. A service, so that a test can replace it; `SqlMailQueue` keeps it in a SQL
 * database through Effect's SQL module (SQLite in one process, PostgreSQL for many).
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Framer from "../protocol/Framer.js"
import type * as Parameters from "../protocol/Parameters.js"

/**
 * The queue's store failed (the database is unreachable, a write was refused): nothing was
 * stored, or nothing changed.
 *
 * @since 0.2.0
 * @category errors
 */
export class QueueError extends Schema.TaggedError<QueueError>()("QueueError", {
  operation: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

/**
 * A recipient as the queue keeps it: its RCPT parameters (NOTIFY, ORCPT) go with it.
 *
 * @since 0.2.0
 * @category models
 */
export interface Recipient {
  readonly address: string
  readonly parameters: Parameters.Parameters
}

/**
 * What a message is enqueued with: where it goes (`route`, a name the delivery side maps to an
 * upstream) and its envelope.
 *
 * @since 0.2.0
 * @category models
 */
export interface Submission {
  readonly route: string
  readonly mailFrom: string
  readonly mailParameters: Parameters.Parameters
  readonly recipients: ReadonlyArray<Recipient>
  /** A delivery status notification of ours: never bounced itself. */
  readonly bounce?: boolean | undefined
}

/**
 * Where a recipient stands: waiting for its first try, deferred after a temporary failure,
 * delivered, or bounced (failed for good).
 *
 * @since 0.2.0
 * @category models
 */
export type RecipientState = "queued" | "deferred" | "delivered" | "bounced"

/**
 * A recipient of a queued message, with its state and the last reply it got.
 *
 * @since 0.2.0
 * @category models
 */
export interface QueuedRecipient extends Recipient {
  /** Its place in the envelope (RCPT order). */
  readonly index: number
  readonly state: RecipientState
  readonly lastReply: string | undefined
}

/**
 * A message in the queue.
 *
 * @since 0.2.0
 * @category models
 */
export interface QueuedMessage {
  readonly id: string
  readonly route: string
  readonly mailFrom: string
  readonly mailParameters: Parameters.Parameters
  readonly recipients: ReadonlyArray<QueuedRecipient>
  readonly size: number
  /** When it was accepted, in milliseconds since the epoch. */
  readonly createdAt: number
  readonly attempts: number
  readonly nextAttempt: number
  readonly bounce: boolean
  /** A delay warning has gone to its sender. */
  readonly warned: boolean
}

/**
 * What one delivery attempt did: each recipient tried, its new state and reply, and when the
 * message is due again (`undefined`: no recipient is left waiting, the message leaves the queue).
 *
 * @since 0.2.0
 * @category models
 */
export interface Attempt {
  readonly recipients: ReadonlyArray<{
    readonly index: number
    readonly state: RecipientState
    readonly reply: string | undefined
  }>
  readonly nextAttempt: number | undefined
  readonly warned?: boolean | undefined
}

/**
 * Counts for the metrics and `queue list`: messages waiting (`queued`: none of their recipients
 * tried yet; `deferred`: some deferred), and the age of the oldest.
 *
 * @since 0.2.0
 * @category models
 */
export interface Stats {
  readonly queued: number
  readonly deferred: number
  readonly oldestCreatedAt: number | undefined
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Service {
  /**
   * Stores a message. It succeeds only once the envelope and the whole body are durably
   * committed; the body is read as it comes and written in bounded pieces.
   */
  readonly enqueue: <E, R>(
    submission: Submission,
    body: Stream.Stream<Uint8Array, E, R>
  ) => Effect.Effect<string, E | QueueError, R>
  /**
   * Takes up to `limit` messages that are due at `now` and not leased by anyone, leasing them
   * to `owner` until `now + leaseMs`: another claim will not take them before the lease runs
   * out (a worker that crashed loses its messages to the next one after that).
   */
  readonly claim: (options: {
    readonly owner: string
    readonly now: number
    readonly limit: number
    readonly leaseMs: number
    /** Routes not to take messages of (upstreams found unreachable a moment ago). */
    readonly except?: ReadonlyArray<string> | undefined
  }) => Effect.Effect<ReadonlyArray<QueuedMessage>, QueueError>
  /** A message's body, read from the store in pieces. */
  readonly body: (id: string) => Stream.Stream<Uint8Array, QueueError>
  /**
   * Records an attempt by the lease's `owner` and releases the lease: the recipients' new states,
   * and the next attempt, or the message's removal once no recipient waits.
   */
  readonly settle: (id: string, owner: string, attempt: Attempt) => Effect.Effect<void, QueueError>
  /** Every message in the queue, oldest first. */
  readonly list: Effect.Effect<ReadonlyArray<QueuedMessage>, QueueError>
  /** One message, if it is in the queue. */
  readonly get: (id: string) => Effect.Effect<QueuedMessage | undefined, QueueError>
  /**
   * Makes messages due now (one, or all with `undefined`): `postqueue -f`, `postqueue -i`. The
   * time is recorded (`flushedAt`), so that a running delivery tries again at once the upstreams
   * it had found unreachable.
   */
  readonly retry: (id: string | undefined, now: number) => Effect.Effect<number, QueueError>
  /** When messages were last made due by `retry` (any process), if ever. */
  readonly flushedAt: Effect.Effect<number | undefined, QueueError>
  /** Removes messages (one, or all with `undefined`): `postsuper -d`. */
  readonly remove: (id: string | undefined) => Effect.Effect<number, QueueError>
  readonly stats: Effect.Effect<Stats, QueueError>
  /**
   * Releases the leases a process that is gone left behind, when delivery starts: on SQLite every
   * lease (a SQLite queue belongs to one process, so any lease is a dead one's); on PostgreSQL
   * none (other processes' leases are live, and a dead one's expire on their own).
   */
  readonly recover: Effect.Effect<number, QueueError>
  /** Drops the pieces of bodies whose message never completed (a crash mid-DATA) older than `before`. */
  readonly sweep: (before: number) => Effect.Effect<number, QueueError>
}

/**
 * @since 0.2.0
 * @category services
 */
export class MailQueue extends Context.Service<MailQueue, Service>()("effect-smtpd/MailQueue") {}

/**
 * The recipients still waiting for delivery.
 *
 * @since 0.2.0
 * @category getters
 */
export const pending = (message: QueuedMessage): ReadonlyArray<QueuedRecipient> =>
  message.recipients.filter((r) => r.state === "queued" || r.state === "deferred")

// where the blank line (CRLF CRLF) that ends a header section begins, or -1
const blankLine = (bytes: Uint8Array): number => {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i
  }
  return -1
}

/**
 * The header section of a queued message's body, read no further than the blank line that ends
 * it (`complete`: its fields, each with its CRLF, without the blank line) or, when none comes,
 * than the piece that reaches `max` bytes (`complete` false: all that was read).
 *
 * @since 0.2.0
 * @category getters
 */
export const header = (
  queue: Service,
  id: string,
  max: number
): Effect.Effect<{ readonly bytes: Uint8Array; readonly complete: boolean }, QueueError> =>
  Effect.suspend(() => {
    let read: Uint8Array = new Uint8Array(0)
    return Stream.runForEachWhile(queue.body(id), (piece) =>
      Effect.sync(() => {
        read = Framer.concat([read, piece])
        return blankLine(read) < 0 && read.length < max
      })
    ).pipe(
      Effect.map(() => {
        const end = blankLine(read)
        return end < 0 ? { bytes: read, complete: false } : { bytes: read.slice(0, end + 2), complete: true }
      })
    )
  })
