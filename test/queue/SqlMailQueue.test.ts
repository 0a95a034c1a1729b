// The queue's store on SQLite: what enqueue commits, claims and their leases, the outcome of an
// attempt, the operator's commands, and a body stored and read back in pieces.
import { describe, expect, it } from "@effect/vitest"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect, Layer, Stream } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as MailQueue from "../../src/queue/MailQueue.js"
import * as SqlMailQueue from "../../src/queue/SqlMailQueue.js"
import { encoder, read, submission } from "../utils/queueStore.js"

const tempFile = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-smtpd-queue-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => Path.join(dir, "queue.db")))

const queueAt = (filename: string) => SqlMailQueue.layer.pipe(Layer.provide(SqliteClient.layer({ filename })))

describe("SqlMailQueue on SQLite", () => {
  it.effect("stores a message whole, and a second process opening the file sees it", () =>
    Effect.gen(function* () {
      const file = yield* tempFile
      const id = yield* Effect.gen(function* () {
        const queue = yield* MailQueue.MailQueue
        return yield* queue.enqueue(
          submission,
          Stream.make(encoder.encode("Subject: s\r\n\r\n"), encoder.encode("hi\r\n"))
        )
      }).pipe(Effect.provide(queueAt(file)))
      const again = yield* Effect.gen(function* () {
        const queue = yield* MailQueue.MailQueue
        const message = yield* queue.get(id)
        return { message, body: new TextDecoder().decode(yield* read(queue, id)), stats: yield* queue.stats }
      }).pipe(Effect.provide(queueAt(file)))
      expect(again.body).toBe("Subject: s\r\n\r\nhi\r\n")
      expect(again.message).toMatchObject({
        id,
        route: "upstream",
        mailFrom: "a@example.com",
        mailParameters: [{ keyword: "RET", value: "HDRS" }],
        size: 18,
        attempts: 0,
        bounce: false,
        recipients: [
          { index: 0, address: "b@example.net", state: "queued", parameters: [] },
          { index: 1, address: "c@example.net", state: "queued", parameters: [{ keyword: "NOTIFY", value: "NEVER" }] }
        ]
      })
      expect(again.stats).toMatchObject({ queued: 1, deferred: 0 })
    }).pipe(Effect.scoped)
  )

  it.effect("a body of 1 MiB and a bit goes in pieces of chunkSize and comes back byte for byte", () =>
    Effect.gen(function* () {
      const file = yield* tempFile
      const queue = yield* MailQueue.MailQueue
      const body = new Uint8Array(SqlMailQueue.chunkSize * 4 + 1234).map((_, i) => i % 251)
      const slices = Array.from({ length: Math.ceil(body.length / 10000) }, (_, i) =>
        body.subarray(i * 10000, (i + 1) * 10000)
      )
      const id = yield* queue.enqueue(submission, Stream.fromIterable(slices))
      expect(yield* read(queue, id)).toEqual(body)
      return file
    }).pipe(Effect.provide(Layer.unwrap(Effect.map(tempFile, queueAt))), Effect.scoped)
  )

  it.effect("a body that fails midway stores no message; its pieces are swept later", () =>
    Effect.gen(function* () {
      const queue = yield* MailQueue.MailQueue
      const big = new Uint8Array(SqlMailQueue.chunkSize * 2)
      const failing = Stream.concat(Stream.make(big), Stream.fail("client gone" as const))
      expect(yield* Effect.flip(queue.enqueue(submission, failing))).toBe("client gone")
      expect(yield* queue.list).toEqual([])
      expect(yield* queue.sweep(Date.now() + 1)).toBe(2)
    }).pipe(Effect.provide(Layer.unwrap(Effect.map(tempFile, queueAt))), Effect.scoped)
  )

  it.effect("claims lease messages; an attempt settles them; the operator retries and removes", () =>
    Effect.gen(function* () {
      const queue = yield* MailQueue.MailQueue
      const first = yield* queue.enqueue(submission, Stream.make(encoder.encode("one\r\n")))
      const second = yield* queue.enqueue(submission, Stream.make(encoder.encode("two\r\n")))
      const now = Date.now() + 10
      const claimed = yield* queue.claim({ owner: "w1", now, limit: 1, leaseMs: 60_000 })
      expect(claimed.map((m) => m.id)).toEqual([first])
      // leased: another worker takes the other one only, until the lease runs out
      expect((yield* queue.claim({ owner: "w2", now, limit: 10, leaseMs: 60_000 })).map((m) => m.id)).toEqual([second])
      expect(yield* queue.claim({ owner: "w3", now, limit: 10, leaseMs: 60_000 })).toEqual([])
      expect((yield* queue.claim({ owner: "w3", now: now + 60_001, limit: 10, leaseMs: 1_000_000 })).length).toBe(2)
      // w1's lease is gone: its attempt does not count
      yield* queue.settle(first, "w1", {
        recipients: [{ index: 0, state: "delivered", reply: "250 ok" }],
        nextAttempt: 1
      })
      expect((yield* queue.get(first))?.recipients[0]?.state).toBe("queued")
      // the owner's does: one delivered, one deferred until later
      yield* queue.settle(first, "w3", {
        recipients: [
          { index: 0, state: "delivered", reply: "250 2.0.0 ok" },
          { index: 1, state: "deferred", reply: "451 4.3.0 later" }
        ],
        nextAttempt: now + 300_000
      })
      const after = yield* queue.get(first)
      expect(after?.attempts).toBe(1)
      expect(after?.recipients.map((r) => [r.state, r.lastReply])).toEqual([
        ["delivered", "250 2.0.0 ok"],
        ["deferred", "451 4.3.0 later"]
      ])
      expect(MailQueue.pending(after!).map((r) => r.address)).toEqual(["c@example.net"])
      expect(yield* queue.stats).toMatchObject({ queued: 1, deferred: 1 })
      // not due before its time, unless the operator says so
      expect(yield* queue.claim({ owner: "w4", now: now + 70_000, limit: 10, leaseMs: 1 })).toEqual([])
      expect(yield* queue.retry(first, now + 70_000)).toBe(1)
      const due = yield* queue.claim({ owner: "w4", now: now + 70_000, limit: 10, leaseMs: 1000 })
      expect(due.map((m) => m.id)).toEqual([first])
      // the last recipient done: the message leaves the queue
      yield* queue.settle(first, "w4", {
        recipients: [{ index: 1, state: "bounced", reply: "550 5.1.1 no" }],
        nextAttempt: undefined
      })
      expect(yield* queue.get(first)).toBeUndefined()
      expect(yield* queue.remove(undefined)).toBe(1)
      expect(yield* queue.list).toEqual([])
    }).pipe(Effect.provide(Layer.unwrap(Effect.map(tempFile, queueAt))), Effect.scoped)
  )
})
