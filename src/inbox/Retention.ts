/**
 * The inbox's retention limit: how many messages it holds, and which are the oldest, known here
 * (the inbox is one process's) so that a transaction that takes it past the limit deletes them
 * without looking them up. Each new message gets its seq here, and this keeps the seqs of the
 * messages stored, oldest first; after a failed transaction or a user's deletion it reads them
 * from the table again.
 *
 * @since 0.3.0
 */
import * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as InboxRows from "./InboxRows.js"

/**
 * What the limit needs of a new message's row.
 *
 * @since 0.3.0
 * @category models
 */
export interface Kept {
  readonly seq: number
  /** Has it rows in inbox_parts? */
  readonly parts: boolean
}

/**
 * @since 0.3.0
 * @category models
 */
export class Retention {
  constructor(
    private readonly sql: SqlClient.SqlClient,
    private readonly max: number
  ) {}

  // the messages stored as of the last transaction, oldest first: `kept[first]` is the oldest
  private kept: Array<Kept> = []
  private first = 0
  // the next seq to give (seqs only grow, as AUTOINCREMENT's do: a deleted one is not reused)
  private nextSeq = 1
  // pruned by transactions that no writer has reported yet
  private unreported = 0
  // `kept` may be wrong (a failed transaction's changes were undone, a user deleted messages):
  // the next transaction reads it again
  private stale = true

  /** At the start: the next seq after any the table has had. */
  get start(): Effect.Effect<void, SqlError> {
    return Effect.map(
      this.sql<{ readonly last: number }>`SELECT MAX(last) AS last FROM (
        SELECT COALESCE(MAX(seq), 0) AS last FROM inbox_messages
        UNION ALL SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'inbox_messages')`,
      (rows) => {
        this.nextSeq = Number(rows[0]?.last ?? 0) + 1
      }
    )
  }

  /** The seq of a new message's row. */
  seq(): number {
    return this.nextSeq++
  }

  /** A transaction failed: its changes were undone. */
  failed(): void {
    this.stale = true
  }

  /** A user deleted messages. */
  removed(): void {
    this.stale = true
  }

  /**
   * In the transaction that added `added` (in seq order): the oldest past the limit deleted.
   */
  prune(added: ReadonlyArray<Kept>): Effect.Effect<void, SqlError> {
    return Effect.suspend(() => {
      if (!this.stale) {
        this.kept.push(...added)
        return this.pruneKept()
      }
      // read after this transaction's inserts: they are in it
      return Effect.flatMap(InboxRows.keptRows(this.sql), (rows) => {
        this.kept = rows.map((row) => ({ seq: Number(row.seq), parts: Number(row.parts) > 0 }))
        this.first = 0
        this.stale = false
        return this.pruneKept()
      })
    })
  }

  private pruneKept(): Effect.Effect<void, SqlError> {
    const excess = this.kept.length - this.first - this.max
    if (excess <= 0) return Effect.void
    const oldest = this.kept.slice(this.first, this.first + excess)
    this.first += excess
    // dropped from the front now and then, not on every prune
    if (this.first > this.max) {
      this.kept = this.kept.slice(this.first)
      this.first = 0
    }
    this.unreported += excess
    return InboxRows.deleteThrough(
      this.sql,
      oldest[oldest.length - 1]!.seq,
      oldest.some((kept) => kept.parts)
    )
  }

  /** How many were pruned since the last call: the first writer answered after a commit reports them. */
  takePruned(): number {
    const pruned = this.unreported
    this.unreported = 0
    return pruned
  }
}
