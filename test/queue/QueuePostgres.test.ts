// The queue's store on a real PostgreSQL (a throw-away server, test/utils/postgres.ts): the checks
// SqlMailQueue.test.ts makes on SQLite, each on a fresh database; two "processes" (two queues on
// two client pools) claiming at once get disjoint messages that cover them all; a 2 MiB body
// comes back byte for byte; and with the server stopped, enqueue fails with QueueError, stores
// nothing, and works again once it is back.
import { describe, expect, it, layer } from "@effect/vitest"
import { Context, Effect, Layer, Stream } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import * as MailQueue from "../../src/queue/MailQueue.js"
import * as SqlMailQueue from "../../src/queue/SqlMailQueue.js"
import { encoder, read, submission } from "../utils/queueStore.js"
import * as Postgres from "../utils/postgres.js"
import { skipWithout } from "../utils/tools.js"

// a queue on `pg`, with its own pool of connections: what one process of many would have
const queueOn = (pg: Postgres.Postgres, client: Parameters<typeof Postgres.clientLayer>[1] = {}) =>
  Effect.map(Layer.build(SqlMailQueue.layer.pipe(Layer.provideMerge(Postgres.clientLayer(pg, client)))), (context) => ({
    queue: Context.get(context, MailQueue.MailQueue),
    sql: Context.get(context, SqlClient)
  }))

let databases = 0

// a database of its own on the shared server, so that each test starts from an empty queue
const freshDatabase = Effect.gen(function* () {
  const pg = yield* Postgres.TestPostgres
  const database = `queue_${++databases}`
  yield* (yield* SqlClient).unsafe(`CREATE DATABASE ${database}`)
  return { ...pg, database, url: `postgres://${pg.user}@${pg.host}:${pg.port}/${database}` }
})

const count = (sql: SqlClient, table: string) =>
  Effect.map(sql.unsafe<{ readonly n: unknown }>(`SELECT COUNT(*) AS n FROM ${table}`), (rows) => Number(rows[0]?.n))

describe.skipIf(skipWithout("postgres"))("SqlMailQueue on PostgreSQL", () => {
  layer(Postgres.layer({ client: { maxConnections: 2 } }), { excludeTestServices: true })("one server", (it) => {
    it.effect("stores a message whole, and a second process on the database sees it", () =>
      Effect.gen(function* () {
        const pg = yield* freshDatabase
        const { queue } = yield* queueOn(pg)
        const id = yield* queue.enqueue(
          submission,
          Stream.make(encoder.encode("Subject: s\r\n\r\n"), encoder.encode("hi\r\n"))
        )
        const other = (yield* queueOn(pg)).queue
        expect(new TextDecoder().decode(yield* read(other, id))).toBe("Subject: s\r\n\r\nhi\r\n")
        expect(yield* other.get(id)).toMatchObject({
          id,
          route: "upstream",
          mailFrom: "a@example.com",
          mailParameters: [{ keyword: "RET", value: "HDRS" }],
          size: 18,
          attempts: 0,
          bounce: false,
          warned: false,
          recipients: [
            { index: 0, address: "b@example.net", state: "queued", parameters: [] },
            { index: 1, address: "c@example.net", state: "queued", parameters: [{ keyword: "NOTIFY", value: "NEVER" }] }
          ]
        })
        const stats = yield* other.stats
        expect(stats).toMatchObject({ queued: 1, deferred: 0 })
        expect(typeof stats.oldestCreatedAt).toBe("number")
      }).pipe(Effect.scoped)
    )

    it.effect("a body of 2 MiB goes in pieces of chunkSize and comes back byte for byte", () =>
      Effect.gen(function* () {
        const { queue, sql } = yield* queueOn(yield* freshDatabase)
        // every byte value, in an order that repeats only every 251 * 256 bytes
        const body = new Uint8Array(2 * 1024 * 1024).map((_, i) => (i * 7 + Math.floor(i / 251)) % 256)
        const slices = Array.from({ length: Math.ceil(body.length / 10000) }, (_, i) =>
          body.subarray(i * 10000, (i + 1) * 10000)
        )
        const id = yield* queue.enqueue(submission, Stream.fromIterable(slices))
        expect((yield* queue.get(id))?.size).toBe(body.length)
        expect(yield* count(sql, "smtpd_queue_chunks")).toBeGreaterThanOrEqual(body.length / SqlMailQueue.chunkSize)
        const back = yield* read(queue, id)
        expect(back.length).toBe(body.length)
        expect(Buffer.compare(Buffer.from(back), Buffer.from(body))).toBe(0)
      }).pipe(Effect.scoped)
    )

    it.effect("a body that fails midway stores no message; its pieces are swept later", () =>
      Effect.gen(function* () {
        const { queue } = yield* queueOn(yield* freshDatabase)
        const big = new Uint8Array(SqlMailQueue.chunkSize * 2)
        const failing = Stream.concat(Stream.make(big), Stream.fail("client gone" as const))
        expect(yield* Effect.flip(queue.enqueue(submission, failing))).toBe("client gone")
        expect(yield* queue.list).toEqual([])
        expect(yield* queue.sweep(Date.now() + 1)).toBe(2)
      }).pipe(Effect.scoped)
    )

    it.effect("claims lease messages; an attempt settles them; the operator retries and removes", () =>
      Effect.gen(function* () {
        const { queue } = yield* queueOn(yield* freshDatabase)
        const first = yield* queue.enqueue(submission, Stream.make(encoder.encode("one\r\n")))
        const second = yield* queue.enqueue(submission, Stream.make(encoder.encode("two\r\n")))
        const now = Date.now() + 10
        const claimed = yield* queue.claim({ owner: "w1", now, limit: 1, leaseMs: 60_000 })
        expect(claimed.map((m) => m.id)).toEqual([first])
        expect((yield* queue.claim({ owner: "w2", now, limit: 10, leaseMs: 60_000 })).map((m) => m.id)).toEqual([
          second
        ])
        expect(yield* queue.claim({ owner: "w3", now, limit: 10, leaseMs: 60_000 })).toEqual([])
        expect((yield* queue.claim({ owner: "w3", now: now + 60_001, limit: 10, leaseMs: 1_000_000 })).length).toBe(2)
        // w1's lease is gone: its attempt does not count
        yield* queue.settle(first, "w1", {
          recipients: [{ index: 0, state: "delivered", reply: "250 ok" }],
          nextAttempt: 1
        })
        expect((yield* queue.get(first))?.recipients[0]?.state).toBe("queued")
        yield* queue.settle(first, "w3", {
          recipients: [
            { index: 0, state: "delivered", reply: "250 2.0.0 ok" },
            { index: 1, state: "deferred", reply: "451 4.3.0 later" }
          ],
          nextAttempt: now + 300_000,
          warned: true
        })
        const after = yield* queue.get(first)
        expect(after?.attempts).toBe(1)
        expect(after?.warned).toBe(true)
        expect(after?.nextAttempt).toBe(now + 300_000)
        expect(after?.recipients.map((r) => [r.state, r.lastReply])).toEqual([
          ["delivered", "250 2.0.0 ok"],
          ["deferred", "451 4.3.0 later"]
        ])
        expect(yield* queue.stats).toMatchObject({ queued: 1, deferred: 1 })
        expect(yield* queue.claim({ owner: "w4", now: now + 70_000, limit: 10, leaseMs: 1 })).toEqual([])
        expect(yield* queue.flushedAt).toBeUndefined()
        expect(yield* queue.retry(first, now + 70_000)).toBe(1)
        // recorded for the delivery of every process (an upsert: the second replaces the first)
        expect(yield* queue.flushedAt).toBe(now + 70_000)
        expect(yield* queue.retry("no such id", now + 80_000)).toBe(0)
        expect(yield* queue.flushedAt).toBe(now + 80_000)
        const due = yield* queue.claim({ owner: "w4", now: now + 70_000, limit: 10, leaseMs: 1000 })
        expect(due.map((m) => m.id)).toEqual([first])
        yield* queue.settle(first, "w4", {
          recipients: [{ index: 1, state: "bounced", reply: "550 5.1.1 no" }],
          nextAttempt: undefined
        })
        expect(yield* queue.get(first)).toBeUndefined()
        expect(yield* queue.remove(undefined)).toBe(1)
        expect(yield* queue.list).toEqual([])
      }).pipe(Effect.scoped)
    )

    it.effect("two processes claiming at once from 200 due messages get disjoint sets that cover them", () =>
      Effect.gen(function* () {
        const pg = yield* freshDatabase
        const one = (yield* queueOn(pg, { maxConnections: 4 })).queue
        const two = (yield* queueOn(pg, { maxConnections: 4 })).queue
        const ids = yield* Effect.forEach(
          Array.from({ length: 200 }, (_, i) => encoder.encode(`message ${i}\r\n`)),
          (body) => one.enqueue(submission, Stream.make(body)),
          { concurrency: 20 }
        )
        const now = Date.now() + 1000
        // each process claims in small batches, two workers each, until nothing is due
        const drain = (queue: MailQueue.Service, owner: string) =>
          Effect.gen(function* () {
            const taken: Array<string> = []
            while (true) {
              const batch = yield* queue.claim({ owner, now, limit: 7, leaseMs: 600_000 })
              if (batch.length === 0) return taken
              taken.push(...batch.map((m) => m.id))
            }
          })
        const claims = yield* Effect.all([drain(one, "p1a"), drain(one, "p1b"), drain(two, "p2a"), drain(two, "p2b")], {
          concurrency: "unbounded"
        })
        const all = claims.flat()
        expect(all.length).toBe(200)
        expect(new Set(all).size).toBe(200)
        expect([...all].sort()).toEqual([...ids].sort())
        expect(claims.filter((taken) => taken.length > 0).length).toBeGreaterThan(1)
        // and the leases are the claimers': nobody else gets them now
        expect(yield* two.claim({ owner: "late", now, limit: 300, leaseMs: 1 })).toEqual([])
      }).pipe(Effect.scoped)
    )
  })

  it.live("enqueue with the server stopped fails with QueueError and stores nothing; it works once back", () =>
    Effect.gen(function* () {
      const pg = yield* Postgres.postgres()
      const { queue, sql } = yield* queueOn(pg, { maxConnections: 2, connectTimeout: "2 seconds" })
      const kept = yield* queue.enqueue(submission, Stream.make(encoder.encode("kept\r\n")))
      yield* pg.stop
      // a body of three pieces: the first written before the last, if anything were written
      const big = Stream.make(new Uint8Array(SqlMailQueue.chunkSize * 2 + 10))
      const error = yield* Effect.flip(queue.enqueue(submission, big)).pipe(Effect.timeout("20 seconds"))
      expect(error).toBeInstanceOf(MailQueue.QueueError)
      yield* pg.start
      expect((yield* queue.list).map((m) => m.id)).toEqual([kept])
      expect(yield* count(sql, "smtpd_queue_chunks")).toBe(1)
      const again = yield* queue.enqueue(submission, Stream.make(encoder.encode("again\r\n")))
      expect((yield* queue.list).map((m) => m.id)).toEqual([kept, again])
      expect(new TextDecoder().decode(yield* read(queue, again))).toBe("again\r\n")
    }).pipe(Effect.scoped)
  )
})
