/**
 * Writes to a database in group commits (the mail queue's and the inbox's): the writes that
 * sessions submit while one transaction commits go together in the next, so that a commit (an
 * fsync with SQLite's full synchronous mode) serves many messages. Each writer waits for the
 * commit of its own writes, so nothing is acknowledged before it is durable; a failed
 * transaction fails every write in it. New rows are handed over as data, not statements: the
 * rows of one table from all the writes of a transaction go in a few multi-row INSERTs, so a
 * statement's cost is shared too.
 *
 * @since 0.2.0
 */
import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as SqlInserts from "./SqlInserts.js"
import * as WallClock from "./WallClock.js"

/**
 * @since 0.3.0
 * @category models
 */
export type Row = SqlInserts.Row

/**
 * Rows for one table, all with the same columns.
 *
 * @since 0.2.0
 * @category models
 */
export interface Insert {
  readonly table: string
  readonly rows: ReadonlyArray<Row>
}

// a write's rows, or what makes them when its transaction is built (`insertMade`)
type Inserts = ReadonlyArray<Insert> | (() => ReadonlyArray<Insert>)

interface Write<E> {
  readonly inserts: Inserts
  readonly run: Effect.Effect<void, SqlError>
  readonly bytes: number
  /** Answers the writer, once its transaction committed (or failed). */
  readonly done: (exit: Exit.Exit<void, E>) => void
}

// a write taken into a transaction: its rows made
interface Ready<E> extends Write<E> {
  readonly inserts: ReadonlyArray<Insert>
}

// the writes submitted and not yet taken, and the writer while it waits for the first of them
// (plain callbacks: a Deferred and a Queue for each message cost more than its rows); exported
// for its tests
export class Waiting<E> {
  constructor(private readonly limits: GatherLimits = gatherLimits) {}

  writes: Array<Write<E>> = []
  private wake: (() => void) | undefined = undefined
  private gathering: Gathering | undefined = undefined

  add(write: Write<E>): void {
    this.writes.push(write)
    const gathering = this.gathering
    if (gathering !== undefined) {
      if (this.writes.length >= this.limits.groupSize) gathering.done()
      else if (performance.now() + this.limits.quietMs < gathering.until) gathering.timer.refresh()
    }
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }

  readonly first: Effect.Effect<void> = Effect.callback<void>((resume) => {
    if (this.writes.length > 0) return resume(Effect.void)
    this.wake = () => resume(Effect.void)
  })

  // until `groupSize` writes wait, none has come for `quietMs`, or `windowMs` have passed (each
  // write puts the quiet timer back, while that ends within the window)
  readonly gather: Effect.Effect<void> = Effect.callback<void>((resume) => {
    const { groupSize, quietMs, windowMs } = this.limits
    if (this.writes.length >= groupSize) return resume(Effect.void)
    const done = () => {
      clearTimeout(timer)
      this.gathering = undefined
      resume(Effect.void)
    }
    const timer = setTimeout(done, quietMs)
    this.gathering = { done, timer, until: performance.now() + windowMs }
    return Effect.sync(() => {
      clearTimeout(timer)
      this.gathering = undefined
    })
  })

  take(): Array<Write<E>> {
    const taken = this.writes
    this.writes = []
    return taken
  }
}

interface Gathering {
  readonly done: () => void
  readonly timer: ReturnType<typeof setTimeout>
  readonly until: number
}

/**
 * When the gather of writes that come together ends (see `gather` below).
 *
 * @since 0.3.0
 * @category models
 */
export interface GatherLimits {
  readonly groupSize: number
  readonly quietMs: number
  readonly windowMs: number
}

const gatherLimits: GatherLimits = { groupSize: 8, quietMs: 1, windowMs: 3 }

// a transaction takes what is waiting, up to these bounds
const maxWrites = 256
const maxBytes = 8 * 1024 * 1024

/**
 * @since 0.2.0
 * @category models
 */
export interface GroupCommit<E> {
  /** Runs `statements` in the next transaction; succeeds once it has committed. */
  readonly write: (statements: Effect.Effect<void, SqlError>, bytes: number) => Effect.Effect<void, E>
  /** Adds `inserts` to the next transaction; succeeds once it has committed. */
  readonly insert: (inserts: ReadonlyArray<Insert>, bytes: number) => Effect.Effect<void, E>
  /**
   * Adds the rows that `make` returns to the next transaction, made when the writer builds it:
   * the rows of a transaction are then made one after another, which costs less than each in
   * its session among other work. `make` runs once; if it throws, the write dies of it alone.
   */
  readonly insertMade: (make: () => ReadonlyArray<Insert>, bytes: number) => Effect.Effect<void, E>
}

/**
 * @since 0.3.0
 * @category models
 */
export interface Options<E> {
  /** The error of each write of a transaction that failed. */
  readonly failure: (cause: Cause.Cause<unknown>) => E
  /**
   * Runs after each commit and before its writers are answered: it makes the commit durable
   * when the database's own commit does not (SQLite with `synchronous = NORMAL`, whose log is
   * then synced off the loop).
   */
  readonly flush?: Effect.Effect<void, unknown> | undefined
  /**
   * Runs in each transaction after its writes, given the rows it inserted by table, in the
   * order they were submitted (the inbox prunes).
   */
  readonly finish?: ((rows: ReadonlyMap<string, ReadonlyArray<Row>>) => Effect.Effect<void, SqlError>) | undefined
}

// the rows of every write, table by table
const rowsOf = <E>(writes: ReadonlyArray<Ready<E>>): Map<string, Array<Row>> => {
  const tables = new Map<string, Array<Row>>()
  for (const write of writes) {
    for (const { rows, table } of write.inserts) {
      const all = tables.get(table)
      if (all === undefined) tables.set(table, [...rows])
      else all.push(...rows)
    }
  }
  return tables
}

// the rows, then the writes' own statements, then `finish`
const statements = <E>(
  sql: SqlClient.SqlClient,
  writes: ReadonlyArray<Ready<E>>,
  finish: Options<E>["finish"]
): Effect.Effect<void, SqlError> => {
  const tables = rowsOf(writes)
  const written = Effect.andThen(
    SqlInserts.insertAll(sql, tables),
    Effect.forEach(writes, (write) => write.run, { discard: true })
  )
  return finish === undefined ? written : Effect.andThen(written, finish(tables))
}

// what the writer carries from one transaction to the next
interface Pending<E> {
  // writes taken beyond the last transaction's bounds: the next one's first
  readonly held: Array<Write<E>>
  // did the last transaction hold more than one message's rows (sessions writing together)?
  together: boolean
}

// How long the writer gathers after the first write of a transaction, before it takes the rest:
// one turn of the event loop (I/O included) while messages come one at a time, so that a lone
// client waits no longer. When they came together, until eight writes wait (a commit's own cost,
// its sync above all, is then shared enough that waiting longer costs more than it saves), or
// no write has come for a millisecond (the sessions that write are all waiting, as a few
// sessions soon are), or three milliseconds have passed. Node's timers count from the loop's
// clock, which lags by up to a turn, so the waits are often shorter. Writes without rows (a
// delivery's outcome) do not make a transaction one of writes together: the worker that waits
// for them gains nothing by waiting longer. Real time, not the Clock: a TestClock must not hold it.
const gather = <E>(pending: Pending<E>, waiting: Waiting<E>): Effect.Effect<void> =>
  pending.together ? waiting.gather : WallClock.turn

// takes the writes of one transaction: all that wait, within the bounds (the rest wait their
// turn); suspended, as it is built once for every transaction and decides afresh each time
const takeWaiting = <E>(waiting: Waiting<E>, pending: Pending<E>): Effect.Effect<Array<Write<E>>> =>
  Effect.suspend(() =>
    pending.held.length > 0
      ? Effect.succeed(pending.held.splice(0))
      : Effect.andThen(
          waiting.first,
          Effect.andThen(
            gather(pending, waiting),
            Effect.sync(() => waiting.take())
          )
        )
  )

// a write with its rows made (undefined: `make` threw, and the write was answered with it)
const made = <E>(write: Write<E>): Ready<E> | undefined => {
  if (typeof write.inserts !== "function") return write as Ready<E>
  try {
    return { ...write, inserts: write.inserts() }
  } catch (defect) {
    write.done(Exit.die(defect))
    return undefined
  }
}

const batch = <E>(waiting: Waiting<E>, pending: Pending<E>): Effect.Effect<Array<Ready<E>>> =>
  Effect.map(takeWaiting(waiting, pending), (taken) => {
    const writes: Array<Ready<E>> = []
    let bytes = 0
    for (const write of taken) {
      if (writes.length > 0 && (writes.length >= maxWrites || bytes + write.bytes > maxBytes)) pending.held.push(write)
      else {
        const ready = made(write)
        if (ready === undefined) continue
        writes.push(ready)
        bytes += ready.bytes
      }
    }
    pending.together = writes.filter((write) => write.inserts.length > 0).length > 1
    return writes
  })

/**
 * The writer of one database, running in `scope`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = <E>(
  sql: SqlClient.SqlClient,
  options: Options<E>
): Effect.Effect<GroupCommit<E>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const waiting = new Waiting<E>()
    const pending: Pending<E> = { held: [], together: false }
    const { finish } = options
    const flush = options.flush ?? Effect.void
    const commit = Effect.flatMap(batch(waiting, pending), (writes) =>
      sql.withTransaction(statements(sql, writes, finish)).pipe(
        Effect.andThen(flush),
        Effect.exit,
        Effect.map((exit) => {
          const answer = Exit.isSuccess(exit) ? Exit.void : Exit.fail(options.failure(exit.cause))
          for (const write of writes) write.done(answer)
        })
      )
    )
    yield* Effect.forkScoped(Effect.forever(commit).pipe(Effect.withTracerEnabled(false)))
    // no canceler: a writer interrupted while it waits leaves its rows to the transaction they
    // are in (as a client that hangs up after DATA leaves its message)
    const submit = (inserts: Inserts, run: Effect.Effect<void, SqlError>, bytes: number) =>
      Effect.callback<void, E>((resume) => waiting.add({ inserts, run, bytes, done: resume }))
    return {
      write: (run, bytes) => submit([], run, bytes),
      insert: (inserts, bytes) => submit(inserts, Effect.void, bytes),
      insertMade: (make, bytes) => submit(make, Effect.void, bytes)
    }
  })
