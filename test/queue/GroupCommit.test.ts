// The queue's writer: writes that come together share a transaction (their rows in multi-row
// INSERTs) and one sync of SQLite's log; no writer is answered before that sync; a failed sync
// fails the writes of its commit and of every later one until the queue is reopened. Run on
// SQLite with `synchronous = NORMAL` and the sync given, as the command runs it
// (NodeMailQueue), and through NodeMailQueue's own log sync.
import { afterEach, beforeEach, describe, expect, it, vi } from "@effect/vitest"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Cause, Deferred, Effect, Exit, Fiber, Layer, Stream } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as GroupCommit from "../../src/internal/GroupCommit.js"
import * as NodeMailQueue from "../../src/node/NodeMailQueue.js"
import * as MailQueue from "../../src/queue/MailQueue.js"
import * as SqlMailQueue from "../../src/queue/SqlMailQueue.js"
import { read } from "../utils/queueStore.js"

const tempFile = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-commit-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => Path.join(dir, "queue.db")))

const queueWith = (sync: Effect.Effect<void, unknown>) =>
  Layer.unwrap(
    Effect.map(tempFile, (filename) =>
      SqlMailQueue.layerWith({ sync }).pipe(Layer.provide(SqliteClient.layer({ filename })))
    )
  )

// message i: i recipients (1 to 3) and a body of its own size, some past the first buffer
const sizes = [0, 1, 100, 16 * 1024 + 1, 40_000]
const submissionOf = (i: number): MailQueue.Submission => ({
  route: "upstream",
  mailFrom: `sender${i}@example.com`,
  mailParameters: [],
  recipients: Array.from({ length: (i % 3) + 1 }, (_, r) => ({ address: `r${r}.${i}@example.net`, parameters: [] }))
})
const bodyOf = (i: number) => new Uint8Array(sizes[i % sizes.length]!).map((_, j) => (i + j) % 256)
// the body in slices of 1,000 bytes, as a session hands them on
const streamOf = (body: Uint8Array) =>
  Stream.fromIterable(
    Array.from({ length: Math.ceil(body.length / 1000) }, (_, k) => body.subarray(k * 1000, k * 1000 + 1000))
  )

describe("the queue's group commit", () => {
  it.live("100 messages written together: fewer commits than messages, each message whole", () => {
    let syncs = 0
    return Effect.gen(function* () {
      const queue = yield* MailQueue.MailQueue
      const before = syncs
      const ids = yield* Effect.forEach(
        Array.from({ length: 100 }, (_, i) => i),
        (i) => queue.enqueue(submissionOf(i), streamOf(bodyOf(i))),
        { concurrency: "unbounded" }
      )
      expect(syncs - before).toBeGreaterThan(0)
      expect(syncs - before).toBeLessThan(100)
      const listed = new Map((yield* queue.list).map((message) => [message.id, message]))
      expect(listed.size).toBe(100)
      for (const [i, id] of ids.entries()) {
        expect(listed.get(id)?.mailFrom).toBe(`sender${i}@example.com`)
        expect(listed.get(id)?.recipients.map((r) => r.address)).toEqual(
          submissionOf(i).recipients.map((r) => r.address)
        )
        expect(yield* read(queue, id)).toEqual(bodyOf(i))
      }
    }).pipe(Effect.provide(queueWith(Effect.sync(() => void syncs++))), Effect.scoped)
  })

  // a transaction takes at most 256 writes and 8 MiB: the rest wait for the next one (they
  // waited forever once, the writer never looking at what it held back)
  it.live(
    "more than a transaction holds (300 writers; 40 bodies of 300 KiB): every writer answered, each message whole",
    () =>
      Effect.gen(function* () {
        const queue = yield* MailQueue.MailQueue
        const big = (i: number) => new Uint8Array(300 * 1024).fill(i)
        const small = yield* Effect.forEach(
          Array.from({ length: 300 }, (_, i) => i),
          (i) => queue.enqueue(submissionOf(i), streamOf(bodyOf(i % 3))),
          { concurrency: "unbounded" }
        )
        const large = yield* Effect.forEach(
          Array.from({ length: 40 }, (_, i) => i),
          (i) => queue.enqueue(submissionOf(i), Stream.make(big(i))),
          { concurrency: "unbounded" }
        )
        expect((yield* queue.list).length).toBe(340)
        for (const [i, id] of small.entries()) expect(yield* read(queue, id)).toEqual(bodyOf(i % 3))
        for (const [i, id] of large.entries()) expect(yield* read(queue, id)).toEqual(big(i))
      }).pipe(Effect.timeout("20 seconds"), Effect.provide(queueWith(Effect.void)), Effect.scoped),
    30_000
  )

  it.live("a writer is answered only once the log is synced", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      let started = false
      // the first sync (at start-up, after the migrations) passes; the next waits for the gate
      const sync = Effect.suspend(() => (started ? Deferred.await(gate) : Effect.sync(() => void (started = true))))
      yield* Effect.gen(function* () {
        const queue = yield* MailQueue.MailQueue
        const writing = yield* Effect.forkChild(queue.enqueue(submissionOf(0), streamOf(bodyOf(2))))
        yield* Effect.sleep("100 millis")
        expect(writing.pollUnsafe()).toBeUndefined()
        yield* Deferred.succeed(gate, undefined)
        const id = yield* Fiber.join(writing)
        expect(yield* read(queue, id)).toEqual(bodyOf(2))
      }).pipe(Effect.provide(queueWith(sync)))
    }).pipe(Effect.scoped)
  )

  // a failed sync leaves the log untrustworthy (what it did not write may be gone, and recovery
  // stops at the first bad frame): later commits are refused too, until the queue is reopened
  it.live("a sync that fails fails its commit's writes, every later one and every claim; a reopened queue works", () =>
    Effect.gen(function* () {
      const file = yield* tempFile
      let syncs = 0
      // the start-up sync passes, the first commit's fails, any later one would pass
      const failingOnce = Effect.suspend(() => (++syncs === 2 ? Effect.fail(new Error("EIO")) : Effect.void))
      const layerOf = (sync: Effect.Effect<void, unknown>) =>
        SqlMailQueue.layerWith({ sync }).pipe(Layer.provide(SqliteClient.layer({ filename: file })))
      yield* Effect.gen(function* () {
        const queue = yield* MailQueue.MailQueue
        const failed = yield* Effect.flip(queue.enqueue(submissionOf(0), streamOf(bodyOf(1))))
        expect(failed).toBeInstanceOf(MailQueue.QueueError)
        const later = yield* Effect.flip(queue.enqueue(submissionOf(1), streamOf(bodyOf(1))))
        expect(later).toBeInstanceOf(MailQueue.QueueError)
        expect(syncs).toBe(2)
        // nor is anything claimed for delivery: its outcome could not be recorded
        const claim = queue.claim({ owner: "w", now: Date.now() + 60_000, limit: 8, leaseMs: 60_000 })
        expect(yield* Effect.flip(claim)).toBeInstanceOf(MailQueue.QueueError)
      }).pipe(Effect.provide(layerOf(failingOnce)), Effect.scoped)
      yield* Effect.gen(function* () {
        const queue = yield* MailQueue.MailQueue
        const id = yield* queue.enqueue(submissionOf(2), streamOf(bodyOf(1)))
        expect(yield* read(queue, id)).toEqual(bodyOf(1))
        const claimed = yield* queue.claim({ owner: "w", now: Date.now() + 60_000, limit: 8, leaseMs: 60_000 })
        // (the refused may be there too: their rows were committed, only the sync failed; their
        // clients will send them again, a duplicate rather than a loss)
        expect(claimed.map((message) => message.id)).toContain(id)
      }).pipe(Effect.provide(layerOf(Effect.void)), Effect.scoped)
    }).pipe(Effect.scoped)
  )

  it.live("NodeMailQueue syncs the log of its SQLite file: stored, and there after reopening", () =>
    Effect.gen(function* () {
      const file = yield* tempFile
      const ids = yield* Effect.gen(function* () {
        const queue = yield* MailQueue.MailQueue
        return yield* Effect.forEach([0, 1, 2, 3, 4], (i) => queue.enqueue(submissionOf(i), streamOf(bodyOf(i))), {
          concurrency: "unbounded"
        })
      }).pipe(Effect.provide(NodeMailQueue.layer(file)))
      yield* Effect.gen(function* () {
        const queue = yield* MailQueue.MailQueue
        for (const [i, id] of ids.entries()) expect(yield* read(queue, id)).toEqual(bodyOf(i))
      }).pipe(Effect.provide(NodeMailQueue.layer(file)))
    }).pipe(Effect.scoped)
  )

  it.live("a queue whose log cannot be synced does not open", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Layer.build(queueWith(Effect.fail(new Error("EIO")))).pipe(Effect.scoped))
      expect(error).toBeInstanceOf(MailQueue.QueueError)
    })
  )
})

// The gather of writes that come together, on fake timers: it ends when eight wait, when none has
// come for a while, or a while after it began, whichever is first (a millisecond and three in
// the writer; two and six here, as the fake clock moves timers in whole milliseconds).
describe("the group commit's gather", () => {
  const write = { inserts: [], run: Effect.void, bytes: 0, done: () => {} }
  // a gather started on `waiting`, and whether it has ended yet
  const started = (waiting: GroupCommit.Waiting<never>) => {
    let ended = false
    Effect.runFork(Effect.map(waiting.gather, () => void (ended = true)))
    return () => ended
  }
  const advance = (ms: number) => vi.advanceTimersByTime(ms)
  const limits = { groupSize: 8, quietMs: 2, windowMs: 6 }

  beforeEach(() => void vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] }))
  afterEach(() => void vi.useRealTimers())

  it("ends when the eighth write comes, without waiting out a timer", () => {
    const waiting = new GroupCommit.Waiting<never>(limits)
    waiting.add(write)
    const ended = started(waiting)
    for (let i = 2; i <= 7; i++) waiting.add(write)
    expect(ended()).toBe(false)
    waiting.add(write)
    expect(ended()).toBe(true)
    expect(waiting.take()).toHaveLength(8)
  })

  it("ends at once when eight already wait", () => {
    const waiting = new GroupCommit.Waiting<never>(limits)
    for (let i = 1; i <= 8; i++) waiting.add(write)
    expect(started(waiting)()).toBe(true)
  })

  it("ends when no write has come for its quiet time", () => {
    const waiting = new GroupCommit.Waiting<never>(limits)
    waiting.add(write)
    const ended = started(waiting)
    advance(1)
    waiting.add(write)
    advance(1)
    // the second write put the quiet timer back
    expect(ended()).toBe(false)
    advance(1)
    expect(ended()).toBe(true)
    expect(waiting.take()).toHaveLength(2)
  })

  it("ends when its window is over, however the writes keep coming", () => {
    const waiting = new GroupCommit.Waiting<never>(limits)
    waiting.add(write)
    const ended = started(waiting)
    let waited = 0
    while (!ended() && waited < 20) {
      advance(1)
      waited += 1
      // a write each millisecond: never quiet, never eight before the window ends
      if (!ended()) waiting.add(write)
    }
    expect(waited).toBeGreaterThan(4)
    expect(waited).toBeLessThanOrEqual(6)
    expect(waiting.take().length).toBeLessThan(8)
  })

  it("is interrupted cleanly: its timer cleared, later writes end nothing", () => {
    const waiting = new GroupCommit.Waiting<never>(limits)
    waiting.add(write)
    const fiber = Effect.runFork(waiting.gather)
    Effect.runSync(Fiber.interrupt(fiber))
    expect(vi.getTimerCount()).toBe(0)
    for (let i = 2; i <= 9; i++) waiting.add(write)
    expect(waiting.take()).toHaveLength(9)
  })
})

describe("rows made by the writer (insertMade)", () => {
  it.live("each write's rows are made once, in the order submitted; a make that throws fails its write alone", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe("CREATE TABLE t (n INTEGER NOT NULL, made INTEGER NOT NULL)")
      const writer = yield* GroupCommit.make(sql, { failure: (cause) => Cause.squash(cause) })
      let calls = 0
      const makeOf = (n: number) => () => {
        calls += 1
        if (n === 3) throw new Error("no row for 3")
        return [{ table: "t", rows: [{ n, made: calls }] }]
      }
      const exits = yield* Effect.forEach([1, 2, 3, 4, 5], (n) => Effect.exit(writer.insertMade(makeOf(n), 10)), {
        concurrency: "unbounded"
      })
      expect(exits.map((exit) => exit._tag)).toEqual(["Success", "Success", "Failure", "Success", "Success"])
      const failed = exits[2]!
      expect(Exit.isFailure(failed) && Cause.hasDies(failed.cause)).toBe(true)
      expect(calls).toBe(5)
      const rows = yield* sql<{ readonly n: number; readonly made: number }>`SELECT n, made FROM t ORDER BY made`
      expect(rows.map((row) => row.n)).toEqual([1, 2, 4, 5])
    }).pipe(Effect.provide(SqliteClient.layer({ filename: ":memory:" })), Effect.scoped)
  )
})
