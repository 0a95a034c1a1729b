/**
 * The `MailQueue` in a SQL database, through Effect's SQL module: SQLite (one process, in WAL
 * mode with full synchronous commits) or PostgreSQL (any number of processes: claims take rows
 * with `FOR UPDATE SKIP LOCKED`). Bodies are stored as rows of at most `chunkSize` bytes, written
 * while the message streams in, so memory stays bounded and the body lives where the envelope
 * does: a receiver on another host delivers it from the same database. A message's row is
 * written last, with its recipients and the last piece of its body, in one transaction (a group
 * commit): its commit is the moment the message is accepted.
 *
 * @since 0.2.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as GroupCommit from "../internal/GroupCommit.js"
import * as MailQueue from "./MailQueue.js"
import * as Migrations from "./Migrations.js"
import * as Rows from "./QueueRows.js"
import { SyncedLog } from "./SyncedLog.js"

/**
 * The largest piece of a body kept in one row.
 *
 * @since 0.2.0
 * @category constants
 */
export const chunkSize = 256 * 1024

const failed =
  (operation: string) =>
  <A, R>(effect: Effect.Effect<A, SqlError, R>): Effect.Effect<A, MailQueue.QueueError, R> =>
    Effect.mapError(effect, (cause) => new MailQueue.QueueError({ operation, cause }))

/**
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /**
   * SQLite only: makes a commit durable. Given, SQLite commits without syncing its write-ahead
   * log (`synchronous = NORMAL`) and this runs after each group commit, before any writer is
   * answered: the log synced off the event loop, so that sessions go on while the disk works.
   * Without it, every commit syncs inside SQLite (`synchronous = FULL`), blocking the loop.
   * Once it fails, every later commit fails too, until the queue is opened again: what a failed
   * sync did not write cannot be trusted to be on the disk, nor what the log holds after it.
   */
  readonly sync?: Effect.Effect<void, unknown>
}

/**
 * The queue on the `SqlClient` in the context: its tables migrated, its writer running in the
 * scope.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeWith = (options: Options) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const sqlite = yield* sql.onDialectOrElse({
      sqlite: () => Effect.succeed(true),
      orElse: () => Effect.succeed(false)
    })
    // SQLite: a commit reaches the disk before it is answered (WAL is the client's default)
    if (sqlite) yield* sql.unsafe(`PRAGMA synchronous = ${options.sync === undefined ? "FULL" : "NORMAL"}`)
    yield* Migrations.run
    const sync = sqlite ? options.sync : undefined
    // the migrations made durable, and a log that cannot be synced found now rather than at the
    // first message (the queue does not open)
    if (sync !== undefined)
      yield* Effect.mapError(sync, (cause) => new MailQueue.QueueError({ operation: "sync", cause }))
    const log = sync === undefined ? undefined : new SyncedLog(sync)
    const writer = yield* GroupCommit.make(sql, {
      flush: log?.sync,
      failure: (cause) => new MailQueue.QueueError({ operation: "commit", cause })
    })
    const store = new SqlStore(sql, writer)
    return MailQueue.MailQueue.of({
      enqueue: (submission, body) => store.enqueue(submission, body),
      claim: (options) => Effect.andThen(log?.intact ?? Effect.void, store.claim(options).pipe(failed("claim"))),
      body: (id) => store.body(id),
      settle: (id, owner, attempt) => store.settle(id, owner, attempt),
      list: store.select(undefined).pipe(failed("list")),
      get: (id) => Effect.map(store.select(id), (found) => found[0]).pipe(failed("get")),
      retry: (id, now) => store.retry(id, now).pipe(failed("retry")),
      flushedAt: store.flushedAt.pipe(failed("flushedAt")),
      remove: (id) => store.remove(id).pipe(failed("remove")),
      stats: store.stats.pipe(failed("stats")),
      sweep: (before) => store.sweep(before).pipe(failed("sweep")),
      recover: store.recover.pipe(failed("recover"))
    })
  })

/**
 * The queue with every commit synced by the database itself.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = makeWith({})

/**
 * @since 0.2.0
 * @category layers
 */
export const layer: Layer.Layer<MailQueue.MailQueue, SqlError | Error, SqlClient.SqlClient> = Layer.effect(
  MailQueue.MailQueue,
  make
)

/**
 * @since 0.2.0
 * @category layers
 */
export const layerWith = (options: Options): Layer.Layer<MailQueue.MailQueue, SqlError | Error, SqlClient.SqlClient> =>
  Layer.effect(MailQueue.MailQueue, makeWith(options))

// buffers of small messages' pieces whose last write committed, for the next messages (a new
// one, zeroed, for each message cost more than its copy); at most 64 of 16 KiB are kept
const firstSize = 16 * 1024
const spare: Array<Uint8Array> = []
const maxSpare = 64

// the piece of a body being filled: a copy of the slices (views into read buffers), its buffer
// grown as they come (most messages are far smaller than a chunk) up to chunkSize, then reused
class Piece {
  private bytes = spare.pop() ?? new Uint8Array(firstSize)
  private held = 0

  // its buffer to the spares: only once no write that holds a view of it can still run
  release(): void {
    if (spare.length < maxSpare && this.bytes.length === firstSize) spare.push(this.bytes)
    this.bytes = new Uint8Array(0)
  }

  get full(): boolean {
    return this.held === chunkSize
  }

  // copies what fits of `slice`, and says how much
  add(slice: Uint8Array): number {
    const n = Math.min(chunkSize - this.held, slice.length)
    if (this.held + n > this.bytes.length) {
      const grown = new Uint8Array(Math.min(chunkSize, Math.max(this.held + n, this.bytes.length * 2)))
      grown.set(this.bytes.subarray(0, this.held))
      this.bytes = grown
    }
    this.bytes.set(n === slice.length ? slice : slice.subarray(0, n), this.held)
    this.held += n
    return n
  }

  // what it holds, a view valid until the next `add`
  take(): Uint8Array {
    const taken = this.bytes.subarray(0, this.held)
    this.held = 0
    return taken
  }
}

class SqlStore {
  constructor(
    private readonly sql: SqlClient.SqlClient,
    private readonly writer: GroupCommit.GroupCommit<MailQueue.QueueError>
  ) {}

  // the body in pieces of `chunkSize`, each written as it fills; the last with the message
  enqueue<E, R>(submission: MailQueue.Submission, body: Stream.Stream<Uint8Array, E, R>) {
    const { writer } = this
    // steps, not a generator function made per message: V8 keeps those in the old generation
    // with all they capture (docs/performance/gc.md)
    return Effect.flatMap(Clock.currentTimeMillis, (createdAt) => {
      // the server's clock: TestClock moves it in tests
      const id = Rows.newId(createdAt)
      const piece = new Piece()
      let seq = 0
      let size = 0
      const chunk = (data: Uint8Array): GroupCommit.Insert => ({
        table: "smtpd_queue_chunks",
        rows: [{ message_id: id, seq: seq++, data, created_at: createdAt }]
      })
      const fill = (slice: Uint8Array): Effect.Effect<void, MailQueue.QueueError> => {
        const n = piece.add(slice)
        size += n
        if (!piece.full) return Effect.void
        const rest = slice.subarray(n)
        return Effect.andThen(
          // written (and committed) before the next slice is read: the same piece is filled again
          writer.insert([chunk(piece.take())], chunkSize),
          // (suspended: filling the piece again must wait for its write)
          Effect.suspend(() => (rest.length > 0 ? fill(rest) : Effect.void))
        )
      }
      const finish = Effect.suspend(() => {
        const last = piece.take()
        const row = Rows.messageRow(id, submission, { size, chunks: seq + 1, createdAt })
        const recipients = Rows.recipientRows(id, submission.recipients)
        return writer.insert(
          [chunk(last), { table: "smtpd_queue", rows: [row] }, { table: "smtpd_queue_recipients", rows: recipients }],
          last.length
        )
      })
      return Effect.andThen(Stream.runForEach(body, fill), finish).pipe(
        Effect.map(() => {
          // committed: the writer is done with it (an interrupted enqueue keeps its buffer: its
          // write may still be waiting for the next transaction)
          piece.release()
          return id
        })
      )
    })
  }

  claim(options: Parameters<MailQueue.Service["claim"]>[0]) {
    const { sql } = this
    const { limit, now, owner } = options
    const until = now + options.leaseMs
    const except = options.except ?? []
    const routes = except.length === 0 ? sql`` : sql`AND route NOT IN ${sql.in(except)}`
    const due = sql`SELECT id FROM smtpd_queue WHERE next_attempt <= ${now}
      AND (lease_until IS NULL OR lease_until < ${now}) ${routes} ORDER BY next_attempt LIMIT ${limit}`
    // PostgreSQL: rows another process is claiming right now are skipped, not waited for
    const locked = sql.onDialectOrElse({ pg: () => sql`${due} FOR UPDATE SKIP LOCKED`, orElse: () => due })
    return sql.withTransaction(
      Effect.flatMap(
        sql<Rows.MessageRow>`UPDATE smtpd_queue SET lease_owner = ${owner}, lease_until = ${until}
          WHERE id IN (${locked}) RETURNING *`,
        (rows) => this.withRecipients(rows)
      )
    )
  }

  body(id: string): Stream.Stream<Uint8Array, MailQueue.QueueError> {
    const { sql } = this
    return Stream.unwrap(
      Effect.map(
        sql<{ readonly chunks: number }>`SELECT chunks FROM smtpd_queue WHERE id = ${id}`.pipe(failed("body")),
        (rows) =>
          Stream.range(0, Number(rows[0]?.chunks ?? 0) - 1).pipe(
            Stream.mapEffect((seq) =>
              sql<{ readonly data: Uint8Array }>`SELECT data FROM smtpd_queue_chunks
                WHERE message_id = ${id} AND seq = ${seq}`.pipe(
                // the drivers hand out a fresh array for each blob: no copy needed
                Effect.map((found) => found[0]?.data ?? new Uint8Array(0)),
                failed("body")
              )
            ),
            Stream.filter((piece) => piece.length > 0)
          )
      )
    )
  }

  // in the group commit: the attempts of a round share their commits with the messages arriving
  settle(id: string, owner: string, attempt: MailQueue.Attempt) {
    const { sql, writer } = this
    return writer.write(
      Effect.gen(function* () {
        const mine = yield* sql<{ readonly id: string }>`SELECT id FROM smtpd_queue
          WHERE id = ${id} AND lease_owner = ${owner}`
        // the lease ran out and another worker has the message: its attempt counts, not ours
        if (mine.length === 0) return
        for (const r of attempt.recipients) {
          yield* sql`UPDATE smtpd_queue_recipients SET state = ${r.state}, last_reply = ${r.reply ?? null}
            WHERE message_id = ${id} AND idx = ${r.index}`
        }
        if (attempt.nextAttempt === undefined) return yield* Rows.deleteMessages(sql, [id])
        yield* sql`UPDATE smtpd_queue SET attempts = attempts + 1, next_attempt = ${attempt.nextAttempt},
          warned = ${attempt.warned === true ? 1 : 0}, lease_owner = NULL, lease_until = NULL WHERE id = ${id}`
      }),
      0
    )
  }

  get recover() {
    const { sql } = this
    return sql.onDialectOrElse({
      sqlite: () =>
        Effect.map(
          sql<{ readonly id: string }>`UPDATE smtpd_queue SET lease_owner = NULL, lease_until = NULL
            WHERE lease_owner IS NOT NULL RETURNING id`,
          (rows) => rows.length
        ),
      orElse: () => Effect.succeed(0)
    })
  }

  select(id: string | undefined) {
    const { sql } = this
    const rows =
      id === undefined
        ? sql<Rows.MessageRow>`SELECT * FROM smtpd_queue ORDER BY created_at, id`
        : sql<Rows.MessageRow>`SELECT * FROM smtpd_queue WHERE id = ${id}`
    return Effect.flatMap(rows, (found) => this.withRecipients(found))
  }

  retry(id: string | undefined, now: number) {
    const { sql } = this
    const rows =
      id === undefined
        ? sql`UPDATE smtpd_queue SET next_attempt = ${now} RETURNING id`
        : sql`UPDATE smtpd_queue SET next_attempt = ${now} WHERE id = ${id} RETURNING id`
    const mark = sql`INSERT INTO smtpd_queue_control (name, value) VALUES ('flushed', ${now})
      ON CONFLICT (name) DO UPDATE SET value = excluded.value`
    return sql.withTransaction(Effect.flatMap(rows, (changed) => Effect.as(mark, changed.length)))
  }

  get flushedAt() {
    return Effect.map(
      this.sql<{ readonly value: unknown }>`SELECT value FROM smtpd_queue_control WHERE name = 'flushed'`,
      (rows) => (rows[0] === undefined ? undefined : Number(rows[0].value))
    )
  }

  remove(id: string | undefined) {
    const { sql } = this
    return sql.withTransaction(
      Effect.gen(function* () {
        const ids =
          id === undefined
            ? yield* sql<{ readonly id: string }>`SELECT id FROM smtpd_queue`
            : yield* sql<{ readonly id: string }>`SELECT id FROM smtpd_queue WHERE id = ${id}`
        yield* Rows.deleteMessages(
          sql,
          ids.map((row) => row.id)
        )
        return ids.length
      })
    )
  }

  get stats() {
    return Effect.map(
      this.sql<{ readonly total: unknown; readonly deferred: unknown; readonly oldest: unknown }>`SELECT
      (SELECT COUNT(*) FROM smtpd_queue) AS total,
      (SELECT COUNT(DISTINCT message_id) FROM smtpd_queue_recipients WHERE state = 'deferred') AS deferred,
      (SELECT MIN(created_at) FROM smtpd_queue) AS oldest`,
      (rows): MailQueue.Stats => {
        const row = rows[0]
        const deferred = Number(row?.deferred ?? 0)
        return {
          queued: Number(row?.total ?? 0) - deferred,
          deferred,
          oldestCreatedAt: row?.oldest === null || row?.oldest === undefined ? undefined : Number(row.oldest)
        }
      }
    )
  }

  sweep(before: number) {
    const { sql } = this
    return Effect.map(
      sql<{ readonly message_id: string }>`DELETE FROM smtpd_queue_chunks WHERE created_at < ${before}
        AND message_id NOT IN (SELECT id FROM smtpd_queue) RETURNING message_id`,
      (rows) => rows.length
    )
  }

  private withRecipients(rows: ReadonlyArray<Rows.MessageRow>) {
    const { sql } = this
    if (rows.length === 0) return Effect.succeed([])
    return Effect.map(
      sql<Rows.RecipientRow>`SELECT * FROM smtpd_queue_recipients
        WHERE ${sql.in(
          "message_id",
          rows.map((row) => row.id)
        )} ORDER BY message_id, idx`,
      (recipients) => Rows.messages(rows, recipients)
    )
  }
}
