/**
 * The `MailQueue` of the `effect-smtpd` command, from its `--queue` value: a SQLite file
 * (`@effect/sql-sqlite-node`, Node's own `node:sqlite`: one process), or a `postgres://` /
 * `postgresql://` URL (`@effect/sql-pg`: any number of processes on any hosts share it).
 *
 * ```ts
 * // the database is opened, and its tables migrated, when the layer is built
 * const queue = NodeMailQueue.layer("/var/spool/effect-smtpd/queue.db")
 * const shared = NodeMailQueue.layer("postgres://smtpd@db.internal/mail")
 * ```
 *
 * @since 0.2.0
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as ErrorText from "../internal/ErrorText.js"
import * as MailQueue from "../queue/MailQueue.js"
import * as SqlMailQueue from "../queue/SqlMailQueue.js"
import * as QueueSpec from "../queue/QueueSpec.js"

/**
 * The queue could not be opened: the file or the server cannot be reached, or its tables
 * cannot be migrated. `message` is one line, without the URL's password.
 *
 * @since 0.2.0
 * @category errors
 */
export class QueueOpenError extends Data.TaggedError("QueueOpenError")<{
  readonly spec: string
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * Is `spec` a PostgreSQL URL (else a SQLite file)?
 *
 * @since 0.2.0
 * @category predicates
 */
export const isPostgres = QueueSpec.isPostgres

/**
 * `spec` fit to print: a URL's password masked.
 *
 * @since 0.2.0
 * @category utils
 */
export const display = (spec: string): string => spec.replace(/^(postgres(?:ql)?:\/\/[^:/@]*:)[^@]*@/i, "$1***@")

// `fd`'s data on the disk (fdatasync, as SQLite syncs its log on Linux), off the event loop
const syncFd = (fd: number): Effect.Effect<void, Error> =>
  Effect.callback<void, Error>((resume) => {
    Fs.fdatasync(fd, (error) => resume(error === null ? Effect.void : Effect.fail(error)))
  })

const openFd = (path: string, flags: string): Effect.Effect<number, Error> =>
  Effect.callback<number, Error>((resume) => {
    Fs.open(path, flags, (error, fd) => resume(error === null ? Effect.succeed(fd) : Effect.fail(error)))
  })

// SQLite's write-ahead log synced after each group commit (what `synchronous = FULL` does inside
// every commit). Opened at the first sync, once SQLite has made it, and kept open: SQLite keeps
// the same file until its last connection closes. Its directory is synced once, as SQLite syncs
// it when it creates the log (not on Windows, where a directory cannot be opened).
const walSync = (filename: string): Effect.Effect<Effect.Effect<void, Error>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const path = Path.resolve(filename)
    let log: number | undefined
    yield* Effect.addFinalizer(() => Effect.sync(() => log !== undefined && Fs.closeSync(log)))
    const first = Effect.gen(function* () {
      const fd = yield* openFd(`${path}-wal`, "r+")
      log = fd
      yield* syncFd(fd)
      if (process.platform === "win32") return
      const directory = yield* openFd(Path.dirname(path), "r")
      yield* Effect.ensuring(
        syncFd(directory),
        Effect.sync(() => Fs.closeSync(directory))
      )
    })
    return Effect.suspend(() => (log === undefined ? first : syncFd(log)))
  })

const sqliteQueue = (filename: string) =>
  (filename === ":memory:" || filename === ""
    ? SqlMailQueue.layer
    : Layer.unwrap(Effect.map(walSync(filename), (sync) => SqlMailQueue.layerWith({ sync })))
  ).pipe(Layer.provide(SqliteClient.layer({ filename })))

/**
 * The queue at `spec`: a SQLite file (created if missing, its directory must exist) or a
 * PostgreSQL URL. Building the layer opens the database and migrates its tables; the writer
 * runs, and the connections stay open, for as long as the layer's scope.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (spec: string): Layer.Layer<MailQueue.MailQueue, QueueOpenError> => {
  const queue = isPostgres(spec)
    ? SqlMailQueue.layer.pipe(
        Layer.provide(PgClient.layer({ url: Redacted.make(spec.trim()), connectTimeout: "10 seconds" }))
      )
    : sqliteQueue(spec)
  return queue.pipe(
    Layer.catchCause((cause) =>
      Layer.effect(
        MailQueue.MailQueue,
        Effect.fail(
          new QueueOpenError({
            spec,
            message: `cannot open the queue ${display(spec)}: ${ErrorText.oneLine(cause)}`,
            cause: Cause.squash(cause)
          })
        )
      )
    )
  )
}
