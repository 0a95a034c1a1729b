/**
 * Writes to the queue's database in group commits: the writes that sessions submit while one
 * transaction commits go together in the next, so that a commit (an fsync with SQLite's full
 * synchronous mode) serves many messages. Each writer waits for the commit of its own writes,
 * so nothing is acknowledged before it is durable; a failed transaction fails every write in it.
 *
 * @since 0.2.0
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { QueueError } from "./MailQueue.js"

interface Write {
  readonly run: Effect.Effect<void, SqlError>
  readonly bytes: number
  readonly done: Deferred.Deferred<void, QueueError>
}

// a transaction takes what is waiting, up to these bounds
const maxWrites = 256
const maxBytes = 8 * 1024 * 1024

/**
 * @since 0.2.0
 * @category models
 */
export interface GroupCommit {
  /** Runs `statements` in the next transaction; succeeds once it has committed. */
  readonly write: (statements: Effect.Effect<void, SqlError>, bytes: number) => Effect.Effect<void, QueueError>
}

// takes the writes of one transaction: all that wait, within the bounds (the rest wait their turn)
// After the first write, the event loop gets one turn (I/O included) before the rest is taken:
// a commit blocks the loop (node:sqlite is synchronous), so the sessions whose data arrived
// meanwhile offer their writes only then, and join this commit instead of each waiting for one.
const gather: Effect.Effect<void> = Effect.callback<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

const takeWaiting = (queue: Queue.Queue<Write>, held: Array<Write>): Effect.Effect<Array<Write>> =>
  held.length > 0
    ? Effect.succeed(held.splice(0))
    : Effect.flatMap(Queue.takeAll(queue), (first) =>
        Effect.andThen(
          gather,
          Effect.map(Queue.clear(queue), (next) => [...first, ...next])
        )
      )

const batch = (queue: Queue.Queue<Write>, held: Array<Write>): Effect.Effect<Array<Write>> =>
  Effect.map(takeWaiting(queue, held), (taken) => {
    const writes: Array<Write> = []
    let bytes = 0
    for (const write of taken) {
      if (writes.length > 0 && (writes.length >= maxWrites || bytes + write.bytes > maxBytes)) held.push(write)
      else {
        writes.push(write)
        bytes += write.bytes
      }
    }
    return writes
  })

/**
 * The writer of one database, running in `scope`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (sql: SqlClient.SqlClient): Effect.Effect<GroupCommit, never, Scope.Scope> =>
  Effect.gen(function* () {
    const queue = yield* Queue.unbounded<Write>()
    const held: Array<Write> = []
    const commit = Effect.flatMap(batch(queue, held), (writes) =>
      sql.withTransaction(Effect.forEach(writes, (write) => write.run, { discard: true })).pipe(
        Effect.exit,
        Effect.flatMap((exit) =>
          Effect.forEach(
            writes,
            (write) =>
              Deferred.done(
                write.done,
                Exit.isSuccess(exit) ? Exit.void : Exit.fail(new QueueError({ operation: "commit", cause: exit.cause }))
              ),
            { discard: true }
          )
        )
      )
    )
    yield* Effect.forkScoped(Effect.forever(commit))
    return {
      write: (run, bytes) =>
        Effect.gen(function* () {
          const done = yield* Deferred.make<void, QueueError>()
          yield* Queue.offer(queue, { run, bytes, done })
          return yield* Deferred.await(done)
        })
    }
  })
