/**
 * The queue's tables, created and upgraded by Effect's SQL migrator (the applied migrations are
 * recorded in `effect_smtpd_migrations`). The same schema on SQLite and PostgreSQL, but for the
 * type of the body's bytes; times are milliseconds since the epoch.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Migrator from "effect/sql/Migrator"
import * as SqlClient from "effect/sql/SqlClient"

const createQueue = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const bytes = sql.onDialectOrElse({ pg: () => "BYTEA", orElse: () => "BLOB" })
  // one row per message, written once its body is whole: a row here is a message accepted
  yield* sql.unsafe(`CREATE TABLE smtpd_queue (
    id TEXT PRIMARY KEY,
    route TEXT NOT NULL,
    mail_from TEXT NOT NULL,
    mail_parameters TEXT NOT NULL,
    size BIGINT NOT NULL,
    chunks INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt BIGINT NOT NULL,
    bounce INTEGER NOT NULL,
    warned INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT
  )`)
  yield* sql.unsafe(`CREATE INDEX smtpd_queue_due ON smtpd_queue (next_attempt)`)
  yield* sql.unsafe(`CREATE TABLE smtpd_queue_recipients (
    message_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    address TEXT NOT NULL,
    parameters TEXT NOT NULL,
    state TEXT NOT NULL,
    last_reply TEXT,
    PRIMARY KEY (message_id, idx)
  )`)
  // the body in pieces of at most a chunk each, written while it streams in
  yield* sql.unsafe(`CREATE TABLE smtpd_queue_chunks (
    message_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data ${bytes} NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (message_id, seq)
  )`)
})

// the sweep looks for pieces of bodies by age
const indexChunkAge = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(`CREATE INDEX smtpd_queue_chunks_age ON smtpd_queue_chunks (created_at)`)
})

// what the processes of one queue tell each other: `flushed`, when `retry` last made messages due
const createControl = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(`CREATE TABLE smtpd_queue_control (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
  )`)
})

/**
 * Runs the migrations not yet applied.
 *
 * @since 0.2.0
 * @category constructors
 */
export const run = Migrator.make({})({
  loader: Migrator.fromRecord({
    "1_create_queue": createQueue,
    "2_index_chunk_age": indexChunkAge,
    "3_create_control": createControl
  }),
  table: "effect_smtpd_migrations"
})
