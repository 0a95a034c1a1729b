// The group commit's multi-row INSERTs on the transaction's own connection: rows in slices of
// powers of two (13 = 8 + 4 + 1), every value where its column is, texts reused across commits;
// never outside a transaction. On SQLite here; PostgreSQL's numbered parameters are run by
// test/queue/SqlMailQueue.test.ts and test/interop/queuePostgres.test.ts through the queue.
import { describe, expect, it } from "@effect/vitest"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect, Exit } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import * as SqlInserts from "../../src/internal/SqlInserts.js"

const Sqlite = SqliteClient.layer({ filename: ":memory:" })

describe("SqlInserts.insertAll", () => {
  it.effect("13 rows and 2 rows into two tables in one transaction, read back whole, twice", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe(`CREATE TABLE "a table" (n INTEGER, "the text" TEXT, data BLOB)`)
      yield* sql.unsafe(`CREATE TABLE other (k TEXT, v INTEGER)`)
      for (const round of [0, 1]) {
        const rows = Array.from({ length: 13 }, (_, i) => ({
          n: round * 100 + i,
          "the text": `row "${i}"`,
          data: new Uint8Array([i, round])
        }))
        yield* sql.withTransaction(
          SqlInserts.insertAll(
            sql,
            new Map<string, ReadonlyArray<SqlInserts.Row>>([
              ["a table", rows],
              [
                "other",
                [
                  { k: `x${round}`, v: round },
                  { k: `y${round}`, v: null }
                ]
              ],
              ["empty", []]
            ])
          )
        )
      }
      const read = yield* sql<{ n: number; "the text": string; data: Uint8Array }>`SELECT * FROM "a table" ORDER BY n`
      expect(read.map((row) => row.n)).toEqual([
        ...Array.from({ length: 13 }, (_, i) => i),
        ...Array.from({ length: 13 }, (_, i) => 100 + i)
      ])
      expect(read[12]!["the text"]).toBe('row "12"')
      expect([...read[25]!.data]).toEqual([12, 1])
      expect(yield* sql`SELECT k, v FROM other ORDER BY k`).toEqual([
        { k: "x0", v: 0 },
        { k: "x1", v: 1 },
        { k: "y0", v: null },
        { k: "y1", v: null }
      ])
    }).pipe(Effect.provide(Sqlite))
  )

  it.effect("a failed statement fails the transaction: nothing of it stays", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe(`CREATE TABLE t (n INTEGER PRIMARY KEY)`)
      const exit = yield* Effect.exit(
        sql.withTransaction(SqlInserts.insertAll(sql, new Map([["t", [{ n: 1 }, { n: 2 }, { n: 1 }]]])))
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(yield* sql`SELECT COUNT(*) AS c FROM t`).toEqual([{ c: 0 }])
    }).pipe(Effect.provide(Sqlite))
  )

  it.effect("dies outside a transaction", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const exit = yield* Effect.exit(SqlInserts.insertAll(sql, new Map([["t", [{ n: 1 }]]])))
      expect(Exit.isFailure(exit) && !Exit.hasFails(exit)).toBe(true)
    }).pipe(Effect.provide(Sqlite))
  )
})
