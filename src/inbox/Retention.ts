/**
 * The inbox's retention limit: how many messages it holds, counted here so that new messages
 * prune without a counting scan (the inbox is one process's), and the oldest deleted in the
 * transaction that takes it past the limit.
 *
 * @since 0.3.0
 */
import * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as InboxRows from "./InboxRows.js"

/**
 * @since 0.3.0
 * @category models
 */
export class Retention {
  constructor(
    private readonly sql: SqlClient.SqlClient,
    private readonly max: number
  ) {}

  // messages in the inbox as of the last transaction
  private stored = 0
  // pruned by transactions that no writer has reported yet
  private unreported = 0
  // a transaction failed since the last count: its pruning was undone
  private stale = false

  private get count(): Effect.Effect<number, SqlError> {
    return Effect.map(this.sql<{ readonly n: number }>`SELECT COUNT(*) AS n FROM inbox_messages`, (rows) =>
      Number(rows[0]?.n ?? 0)
    )
  }

  // the count, less the messages that the transaction added before it counted
  private counted(n: number, added: number): void {
    this.stored = n - added
    this.unreported = 0
    this.stale = false
  }

  /** Counts the messages: at the start. */
  get recount(): Effect.Effect<void, SqlError> {
    return Effect.map(this.count, (n) => this.counted(n, 0))
  }

  /** A transaction failed (each of its writers says so): its pruning was undone, the next one counts again. */
  failed(): void {
    this.stale = true
  }

  /**
   * In the transaction that added `added` messages: the oldest past the limit deleted, found
   * from the start of the index (not counted past max).
   */
  prune(added: number): Effect.Effect<void, SqlError> {
    return Effect.suspend(() =>
      this.stale
        ? Effect.flatMap(this.count, (n) => {
            this.counted(n, added)
            return this.pruneCounted(added)
          })
        : this.pruneCounted(added)
    )
  }

  // (called where the count is current: in `prune`'s suspension, or after the recount)
  private pruneCounted(added: number): Effect.Effect<void, SqlError> {
    const excess = this.stored + added - this.max
    const deleted = excess > 0 ? InboxRows.deleteOldest(this.sql, excess) : Effect.succeed(0)
    return Effect.map(deleted, (n) => {
      this.stored += added - n
      this.unreported += n
    })
  }

  /** How many were pruned since the last call: the first writer answered after a commit reports them. */
  takePruned(): number {
    const pruned = this.unreported
    this.unreported = 0
    return pruned
  }

  /** `n` messages deleted by a user. */
  removed(n: number): void {
    this.stored -= n
  }
}
