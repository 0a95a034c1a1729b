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
import * as MailQueue from "../queue/MailQueue.js"
import * as SqlMailQueue from "../queue/SqlMailQueue.js"

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
export const isPostgres = (spec: string): boolean => /^postgres(ql)?:\/\//i.test(spec.trim())

/**
 * `spec` fit to print: a URL's password masked.
 *
 * @since 0.2.0
 * @category utils
 */
export const display = (spec: string): string => spec.replace(/^(postgres(?:ql)?:\/\/[^:/@]*:)[^@]*@/i, "$1***@")

// the error's own words and those of its cause, on one line: SqlError's message alone is often
// only "Failed to connect"
const describe = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  const parts: Array<string> = []
  let current: unknown = error
  for (let depth = 0; depth < 3 && current !== undefined; depth++) {
    const text = current instanceof Error ? current.message : String(current)
    if (text !== "" && !parts.includes(text)) parts.push(text)
    current = current instanceof Error ? current.cause : undefined
  }
  return parts.join(": ").replace(/\s+/g, " ")
}

/**
 * The queue at `spec`: a SQLite file (created if missing, its directory must exist) or a
 * PostgreSQL URL. Building the layer opens the database and migrates its tables; the writer
 * runs, and the connections stay open, for as long as the layer's scope.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (spec: string): Layer.Layer<MailQueue.MailQueue, QueueOpenError> => {
  const client = isPostgres(spec)
    ? PgClient.layer({ url: Redacted.make(spec.trim()), connectTimeout: "10 seconds" })
    : SqliteClient.layer({ filename: spec })
  return SqlMailQueue.layer.pipe(
    Layer.provide(client),
    Layer.catchCause((cause) =>
      Layer.effect(
        MailQueue.MailQueue,
        Effect.fail(
          new QueueOpenError({
            spec,
            message: `cannot open the queue ${display(spec)}: ${describe(cause)}`,
            cause: Cause.squash(cause)
          })
        )
      )
    )
  )
}
