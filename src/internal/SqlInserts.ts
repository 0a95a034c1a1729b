/**
 * New rows as multi-row INSERTs on the transaction's own connection: the queue's group commits
 * and the inbox's messages. Their texts are made once for each table, columns and row count,
 * and the statements go to the connection as they are: through the SQL client's statement
 * compiler, every INSERT was compiled again (the client's largest allocation per queued
 * message, ~15 µs of an inbox message's store).
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"

/**
 * A row: its columns' values by name.
 *
 * @since 0.2.0
 * @category models
 */
export type Row = Record<string, unknown>

// rows in one INSERT: counts are powers of two up to this, so that few statement texts (each
// prepared once) serve every batch, and parameters stay far below the dialects' limits
const maxRowsPerInsert = 64

// PostgreSQL numbers its parameters, SQLite takes `?`
type Placeholders = "numbered" | "marks"

// the texts made so far, by table, row count and columns (one table's rows share their columns)
const texts = new Map<string, string>()

const quoted = (name: string) => `"${name.replaceAll('"', '""')}"`

const textOf = (placeholders: Placeholders, table: string, columns: ReadonlyArray<string>, rows: number): string => {
  const key = `${placeholders} ${table} ${rows} ${columns.join(" ")}`
  let text = texts.get(key)
  if (text === undefined) {
    let n = 0
    const row = () => `(${columns.map(() => (placeholders === "numbered" ? `$${++n}` : "?")).join(", ")})`
    const values = Array.from({ length: rows }, row).join(", ")
    text = `INSERT INTO ${quoted(table)} (${columns.map(quoted).join(", ")}) VALUES ${values}`
    texts.set(key, text)
  }
  return text
}

// 13 rows -> 8, 4, 1
const sliceSizes = (count: number): Array<number> => {
  const sizes: Array<number> = []
  for (let left = count; left > 0;) {
    let n = maxRowsPerInsert
    while (n > left) n >>= 1
    sizes.push(n)
    left -= n
  }
  return sizes
}

/**
 * Inserts `rows` (by table) in the transaction that `sql.withTransaction` has open around this
 * effect; dies outside one.
 *
 * @since 0.2.0
 * @category constructors
 */
export const insertAll = (
  sql: SqlClient.SqlClient,
  tables: ReadonlyMap<string, ReadonlyArray<Row>>
): Effect.Effect<void, SqlError> =>
  Effect.flatMap(Effect.serviceOption(sql.transactionService), (transaction) => {
    if (transaction._tag === "None") return Effect.die(new Error("SqlInserts.insertAll needs a transaction"))
    const connection = transaction.value[0]
    const placeholders: Placeholders = sql.onDialectOrElse({ pg: () => "numbered", orElse: () => "marks" })
    const statements: Array<readonly [string, Array<unknown>]> = []
    for (const [table, rows] of tables) {
      if (rows.length === 0) continue
      const columns = Object.keys(rows[0]!)
      let next = 0
      for (const size of sliceSizes(rows.length)) {
        const params: Array<unknown> = []
        for (const row of rows.slice(next, next + size)) for (const column of columns) params.push(row[column])
        statements.push([textOf(placeholders, table, columns, size), params])
        next += size
      }
    }
    return Effect.forEach(statements, ([text, params]) => connection.executeRaw(text, params), { discard: true })
  })
