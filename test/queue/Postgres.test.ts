// The PostgreSQL harness (test/utils/postgres.ts) and what the SQL mail queue relies on from a real
// server through @effect/sql-pg: transactions, `FOR UPDATE SKIP LOCKED` handing each worker its own
// rows, and a client that fails with a SqlError while the server is down and works once it is back.
import { assert, describe, expect, it, layer } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Layer } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import * as Postgres from "../utils/postgres.js"
import { skipWithout } from "../utils/tools.js"

interface Job {
  readonly id: number
}

const ids = (rows: ReadonlyArray<Job>) => rows.map((row) => Number(row.id))

// the first `limit` unlocked rows, locked until the surrounding transaction ends
const claim = (sql: SqlClient, limit: number) =>
  sql<Job>`SELECT id FROM jobs ORDER BY id LIMIT ${limit} FOR UPDATE SKIP LOCKED`.pipe(Effect.map(ids))

describe.skipIf(skipWithout("postgres"))("a throw-away PostgreSQL", () => {
  layer(Postgres.layer({ client: { maxConnections: 4 } }), { excludeTestServices: true })(
    "through @effect/sql-pg",
    (it) => {
      it.effect("commits a transaction and rolls back a failed one", () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient
          yield* sql`CREATE TABLE notes (id serial PRIMARY KEY, text text NOT NULL)`
          const inside = yield* sql.withTransaction(
            Effect.gen(function* () {
              yield* sql`INSERT INTO notes ${sql.insert([{ text: "one" }, { text: "two" }])}`
              return yield* sql<{ text: string }>`SELECT text FROM notes ORDER BY id`
            })
          )
          assert.deepStrictEqual(
            inside.map((row) => row.text),
            ["one", "two"]
          )
          const failed = yield* sql
            .withTransaction(Effect.andThen(sql`INSERT INTO notes (text) VALUES ('three')`, Effect.fail("boom")))
            .pipe(Effect.exit)
          assert.isTrue(Exit.isFailure(failed))
          const after = yield* sql<{ text: string }>`SELECT text FROM notes ORDER BY id`
          assert.deepStrictEqual(
            after.map((row) => row.text),
            ["one", "two"]
          )
          const pg = yield* Postgres.TestPostgres
          const [database] = yield* sql<{ name: string }>`SELECT current_database() AS name`
          expect(database?.name).toBe(pg.database)
        })
      )

      it.effect("SELECT ... FOR UPDATE SKIP LOCKED gives two transactions disjoint rows", () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient
          yield* sql`CREATE TABLE jobs (id integer PRIMARY KEY)`
          yield* sql`INSERT INTO jobs SELECT generate_series(1, 6)`
          const firstClaimed = yield* Deferred.make<void>()
          const secondDone = yield* Deferred.make<void>()
          // the first holds its rows locked until the second has claimed
          const first = sql.withTransaction(
            Effect.gen(function* () {
              const rows = yield* claim(sql, 2)
              yield* Deferred.succeed(firstClaimed, undefined)
              yield* Deferred.await(secondDone)
              return rows
            })
          )
          const second = Effect.gen(function* () {
            yield* Deferred.await(firstClaimed)
            const rows = yield* sql.withTransaction(claim(sql, 3))
            yield* Deferred.succeed(secondDone, undefined)
            return rows
          })
          // without SKIP LOCKED the second would wait for the first, which waits for it
          const [a, b] = yield* Effect.all([first, second], { concurrency: 2 }).pipe(Effect.timeout("10 seconds"))
          assert.deepStrictEqual(a, [1, 2])
          assert.deepStrictEqual(b, [3, 4, 5])
          // both committed: every lock released
          assert.deepStrictEqual(yield* sql.withTransaction(claim(sql, 6)), [1, 2, 3, 4, 5, 6])
        })
      )
    }
  )

  it.live("a query fails with a SqlError while the server is down, and works again once it is back", () =>
    Effect.gen(function* () {
      const pg = yield* Postgres.postgres()
      const context = yield* Layer.build(Postgres.clientLayer(pg, { maxConnections: 2, connectTimeout: "2 seconds" }))
      const sql = Context.get(context, SqlClient)
      yield* sql`CREATE TABLE mail (id integer PRIMARY KEY)`
      yield* sql.withTransaction(sql`INSERT INTO mail VALUES (1)`)
      const [before] = yield* sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`

      yield* pg.stop
      const down = yield* sql`SELECT 1`.pipe(Effect.flip)
      expect(down._tag).toBe("SqlError")
      expect(down.reason._tag).toBe("ConnectionError")

      yield* pg.start
      const rows = yield* sql<{ id: number }>`SELECT id FROM mail`
      assert.deepStrictEqual(ids(rows), [1])
      const [after] = yield* sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`
      expect(after?.pid).not.toBe(before?.pid)
    }).pipe(Effect.scoped)
  )
})
