// The mail queue shared on PostgreSQL (issue 15): two receivers of the built command on one
// throw-away database, each accepting and delivering, and the database killed in the middle of
// a load. The upstream is in this process and counts what reaches it by each message's subject.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { builtCommand } from "../utils/command.js"
import { postgres } from "../utils/postgres.js"
import * as QP from "../utils/queueProcess.js"
import { skipWithout } from "../utils/tools.js"

const main = builtCommand()

const queued = /^250 2\.0\.0 Ok: queued as \S+$/

const proxy = (queue: string, upstream: number) =>
  QP.relay(main, [
    "-c",
    "PureProxy",
    "--relay-mode",
    "queue",
    "--queue",
    queue,
    "--retry-min",
    "1",
    "--retry-max",
    "2",
    "127.0.0.1:0",
    `127.0.0.1:${upstream}`
  ])

describe.skipIf(skipWithout("postgres"))("the queue shared on PostgreSQL (the built command)", () => {
  it.live(
    "delivers 2,000 messages taken by two receivers each exactly once",
    () =>
      Effect.gen(function* () {
        const pg = yield* postgres()
        const upstream = yield* QP.upstream()
        // one after the other: both would migrate the new database at once
        const one = yield* proxy(pg.url, upstream.port)
        const two = yield* proxy(pg.url, upstream.port)
        const messages = Array.from({ length: 2000 }, (_, n) => QP.numbered("shared", n))
        const [first, second] = yield* Effect.all(
          [QP.send(one.port, messages.slice(0, 1000), 8), QP.send(two.port, messages.slice(1000), 8)],
          { concurrency: 2 }
        )
        expect([...first!, ...second!].filter((r) => !queued.test(r))).toEqual([])

        yield* QP.eventually(() => upstream.took().length >= 2000, 90_000)
        // a moment more: a message delivered twice would arrive now
        yield* Effect.sleep("2 seconds")
        const counts = QP.countBySubject(upstream.took())
        const missing = messages.filter((_, n) => !counts.has(`shared-${n}`)).length
        const twice = [...counts.values()].filter((c) => c > 1).length
        expect({ delivered: upstream.took().length, distinct: counts.size, missing, twice }).toEqual({
          delivered: 2000,
          distinct: 2000,
          missing: 0,
          twice: 0
        })
        expect(yield* QP.queueList(main, pg.url)).toEqual([])
      }).pipe(Effect.scoped),
    240_000
  )

  it.live(
    "--workers 2 on a new database: both workers open it, and 400 messages are each delivered once",
    () =>
      Effect.gen(function* () {
        const pg = yield* postgres()
        const upstream = yield* QP.upstream()
        const relay = yield* QP.relay(main, [
          "-c",
          "PureProxy",
          "--relay-mode",
          "queue",
          "--queue",
          pg.url,
          "--workers",
          "2",
          "127.0.0.1:0",
          `127.0.0.1:${upstream.port}`
        ])
        const messages = Array.from({ length: 400 }, (_, n) => QP.numbered("workers", n))
        const replies = yield* QP.send(relay.port, messages, 8)
        expect(replies.filter((r) => !queued.test(r))).toEqual([])
        yield* QP.eventually(() => upstream.took().length >= 400, 60_000)
        yield* Effect.sleep("2 seconds")
        const counts = QP.countBySubject(upstream.took())
        expect({ delivered: upstream.took().length, distinct: counts.size }).toEqual({ delivered: 400, distinct: 400 })
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "answers 451 4.3.0 while the database is gone, acknowledges only what it stored, and recovers",
    () =>
      Effect.gen(function* () {
        const pg = yield* postgres()
        const upstream = yield* QP.upstream()
        const relay = yield* proxy(pg.url, upstream.port)
        let stop = false
        const load = yield* Effect.forkChild(QP.sendUntil(relay.port, "load", 4, () => stop))
        yield* Effect.sleep("1 second")
        yield* pg.stop
        yield* Effect.sleep("2 seconds")
        yield* pg.start
        stop = true
        const sent = yield* Fiber.join(load)
        const stored = sent.filter((s) => queued.test(s.reply))
        const refused = sent.filter((s) => /^451 4\.3\.0 /.test(s.reply))
        console.log(`database gone mid-load: ${stored.length} stored (250), ${refused.length} refused (451 4.3.0)`)
        expect(sent.filter((s) => !queued.test(s.reply) && !/^451 4\.3\.0 /.test(s.reply))).toEqual([])
        expect(stored.length).toBeGreaterThan(0)
        expect(refused.length).toBeGreaterThan(0)

        // the database back: new messages are stored again
        const after = yield* QP.send(
          relay.port,
          Array.from({ length: 20 }, (_, n) => QP.numbered("after", n)),
          4
        )
        expect(after.filter((r) => !queued.test(r))).toEqual([])

        yield* QP.eventually(() => upstream.took().length >= stored.length + 20, 60_000)
        yield* Effect.sleep("2 seconds")
        const counts = QP.countBySubject(upstream.took())
        expect(stored.filter((s) => !counts.has(s.subject)).map((s) => s.subject)).toEqual([])
        expect(refused.filter((s) => counts.has(s.subject)).map((s) => s.subject)).toEqual([])
        expect(Array.from({ length: 20 }, (_, n) => counts.get(`after-${n}`) ?? 0)).toEqual(Array(20).fill(1))
      }).pipe(Effect.scoped),
    180_000
  )
})
